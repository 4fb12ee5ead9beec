//! The webhooks screen: find by user id or webhook id; each webhook with its URL, scope,
//! filter, enabled, breaker state, consecutive failures, success rate and p50/p99 attempt
//! duration over the last hour and day, and its last error. Reads `api::webhooks` (the API's
//! functions) and `store::stats` (the rollup: at most a day of per-minute rows per webhook).

use std::fmt::Write;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use uuid::Uuid;

use super::{
    html::{esc, notice, page, respond, url_part},
    Ctx,
};
use crate::{
    api::{error::ApiError, request, webhooks},
    store::{
        stats::{self, WebhookStats, WindowStats},
        webhooks::Webhook,
    },
};

/// Most webhooks shown for one user (each with its stats); others are found by their id.
pub const MAX_SHOWN: usize = 25;

/// A column of the webhooks table: its header and its cell (HTML, escaped). Fields that
/// webhooks gain later (breaker states, policies, signature scheme) are one more entry.
type Column = (&'static str, fn(&Webhook, &WebhookStats) -> String);

pub const COLUMNS: &[Column] = &[
    ("Webhook", |w, _| {
        format!(
            "<a href=\"/console/webhooks/{id}/deliveries\" class=\"webhook-link\">{url}</a><br><code class=\"muted\">{id}</code>",
            id = w.id,
            url = esc(&w.url)
        )
    }),
    ("Scope", |w, _| esc(w.scope.as_str())),
    ("Filter", |w, _| match &w.event_types {
        None => "<span class=\"muted\">every type</span>".to_owned(),
        Some(t) if t.is_empty() => "<span class=\"muted\">none</span>".to_owned(),
        Some(t) => esc(&t.join(", ")),
    }),
    ("Enabled", |w, _| {
        if w.enabled { "yes" } else { "no" }.to_owned()
    }),
    ("Breaker", |w, _| breaker(w)),
    ("Failures", |w, _| w.consecutive_failures.to_string()),
    ("Rate limit", |w, _| {
        match (w.rate_limit_per_s, w.rate_limit_burst) {
            (None, _) => "<span class=\"muted\">none</span>".to_owned(),
            (Some(r), Some(b)) => format!("{r}/s, burst {b}"),
            (Some(r), None) => format!("{r}/s"),
        }
    }),
    ("Last hour", |_, s| window(&s.last_hour)),
    ("Last day", |_, s| window(&s.last_day)),
    ("Last error", |_, s| match &s.last_failure {
        None => "<span class=\"muted\">-</span>".to_owned(),
        Some(f) => format!(
            "{}<br><span class=\"muted\">{}</span>",
            match (&f.error, f.status_code) {
                (Some(e), _) => esc(e),
                (None, Some(c)) => format!("HTTP {c}"),
                (None, None) => "failed".to_owned(),
            },
            f.at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
    }),
];

/// The breaker: closed, open or half-open (until when), or the time it disabled the webhook.
pub fn breaker(w: &Webhook) -> String {
    match (w.disabled_at, w.breaker_until) {
        (Some(at), _) => format!("disabled {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
        (None, Some(until)) if w.breaker_state != "closed" => format!(
            "{} until {}",
            w.breaker_state.replace('_', "-"),
            until.format("%H:%M:%S UTC")
        ),
        _ => w.breaker_state.replace('_', "-"),
    }
}

fn window(s: &WindowStats) -> String {
    match s.success_rate {
        None => "<span class=\"muted\">no attempts</span>".to_owned(),
        Some(rate) => format!(
            "{:.1}% of {}<br>p50 {} · p99 {}",
            rate * 100.0,
            s.attempts,
            esc(s.p50.as_deref().unwrap_or("-")),
            esc(s.p99.as_deref().unwrap_or("-"))
        ),
    }
}

/// The table of `hooks` with their stats.
pub async fn table(ctx: &Ctx<'_>, hooks: &[Webhook]) -> Result<String, ApiError> {
    let ids: Vec<Uuid> = hooks.iter().map(|w| w.id).collect();
    let stats = stats::webhooks(&ctx.state.pool, &ids)
        .await
        .map_err(|e| ApiError::internal("reading webhook stats", &e))?;
    let mut out = String::from("<table id=\"webhooks\"><thead><tr>");
    for (h, _) in COLUMNS {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    let empty = WebhookStats::default();
    for w in hooks {
        let s = stats.get(&w.id).unwrap_or(&empty);
        let _ = write!(out, "<tr data-webhook-id=\"{}\">", w.id);
        for (_, cell) in COLUMNS {
            let _ = write!(out, "<td>{}</td>", cell(w, s));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    Ok(out)
}

pub async fn screen(ctx: &Ctx<'_>, query: Option<&str>) -> Result<Response<Full<Bytes>>, ApiError> {
    let q = request::query(query, &["q"])?;
    let raw = q.get("q").map(|s| s.trim()).unwrap_or("");
    let mut body = format!(
        "<form method=\"get\" action=\"/console/webhooks\" id=\"find\">\
         <label>User id or webhook id <input name=\"q\" id=\"q\" size=\"40\" value=\"{}\"></label> \
         <button type=\"submit\" id=\"find-button\">Find</button></form>",
        esc(raw)
    );
    if raw.is_empty() {
        body += "<p class=\"muted\">Give a user id to list its webhooks, or a webhook id.</p>";
        return Ok(respond(
            StatusCode::OK,
            page("Webhooks", Some(&ctx.csrf), &body),
        ));
    }
    let id = request::uuid("q", raw)?;
    let (title, hooks) = match webhooks::owner(ctx.state, id).await {
        Ok(user) => (
            format!("Webhook {id} of user {user}"),
            vec![webhooks::get(ctx.state, user, id).await?],
        ),
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            let mut list = webhooks::list(ctx.state, id).await?;
            let total = list.len();
            list.truncate(MAX_SHOWN);
            let shown = if total > MAX_SHOWN {
                format!(" (the first {MAX_SHOWN} of {total})")
            } else {
                String::new()
            };
            (format!("Webhooks of user {id}{shown}"), list)
        }
        Err(e) => return Err(e),
    };
    let _ = write!(body, "<h2>{}</h2>", esc(&title));
    if hooks.is_empty() {
        body += &notice(
            "No webhook has this id, and no user with this id has webhooks.",
            false,
        );
    } else {
        body += &table(ctx, &hooks).await?;
    }
    let _ = write!(
        body,
        "<p class=\"muted\">Rates and durations are rolled up each few seconds; durations are bucket bounds. <a href=\"/console/webhooks?q={}\">Refresh</a></p>",
        url_part(raw)
    );
    Ok(respond(
        StatusCode::OK,
        page("Webhooks", Some(&ctx.csrf), &body),
    ))
}
