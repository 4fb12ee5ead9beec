//! A webhook's deliveries: its row from the webhooks screen, the actions on it, a filter by
//! status, event type and time range, and one page of deliveries (the API's listing: at most
//! 200 rows found among at most 5,000 scanned), each opening its attempts and its payload.

use std::fmt::Write;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use super::{
    html::{esc, hidden, opt_esc, page, respond, url_part},
    webhooks::table,
    Ctx,
};
use crate::{
    api::{
        deliveries::{self, ListQuery},
        error::ApiError,
        request, webhooks,
    },
    domain::status::DeliveryStatus,
    store::admin::DeliveryView,
};

pub async fn screen(
    ctx: &Ctx<'_>,
    raw_id: &str,
    query: Option<&str>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let id = request::uuid("webhook_id", raw_id)?;
    let params = request::query(query, &deliveries::LIST_PARAMS)?;
    let q = ListQuery::from_params(&params)?;
    let user = webhooks::owner(ctx.state, id).await?;
    let webhook = webhooks::get(ctx.state, user, id).await?;
    let listed = deliveries::list(ctx.state, user, id, &q).await?;

    let mut body = table(ctx, std::slice::from_ref(&webhook)).await?;
    body += &actions(ctx, &webhook);
    body += &filters(&id.to_string(), &params);
    let _ = write!(body, "<h2>Deliveries</h2><div id=\"deliveries\">");
    if listed.data.is_empty() {
        body += "<p class=\"muted\" id=\"no-deliveries\">No deliveries match on this page.</p>";
    }
    for d in &listed.data {
        body += &row(ctx, &id.to_string(), d);
    }
    body += "</div>";
    let base: Vec<(String, String)> = params
        .iter()
        .filter(|(k, v)| k.as_str() != "cursor" && !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let link = |cursor: Option<&str>| {
        let mut parts: Vec<String> = base
            .iter()
            .map(|(k, v)| format!("{k}={}", url_part(v)))
            .collect();
        if let Some(c) = cursor {
            parts.push(format!("cursor={}", url_part(c)));
        }
        format!("/console/webhooks/{id}/deliveries?{}", parts.join("&"))
    };
    body += "<p>";
    if q.cursor.is_some() {
        let _ = write!(
            body,
            "<a href=\"{}\" id=\"first-page\">First page</a> ",
            esc(&link(None))
        );
    }
    if let Some(c) = &listed.next_cursor {
        let _ = write!(
            body,
            "<a href=\"{}\" id=\"next-page\">Older deliveries →</a>",
            esc(&link(Some(c)))
        );
    }
    body += "</p>";
    let title = format!("Deliveries of {}", webhook.url);
    Ok(respond(
        StatusCode::OK,
        page(&title, Some(&ctx.csrf), &body),
    ))
}

fn actions(ctx: &Ctx<'_>, w: &crate::store::webhooks::Webhook) -> String {
    let base = format!("/console/webhooks/{}", w.id);
    let csrf = hidden("csrf", &ctx.csrf);
    let toggle = if w.enabled {
        format!("<form class=\"inline\" method=\"post\" action=\"{base}/disable\">{csrf}<button type=\"submit\" id=\"disable\">Disable</button></form>")
    } else {
        format!("<form class=\"inline\" method=\"post\" action=\"{base}/enable\">{csrf}<button type=\"submit\" id=\"enable\">Enable (resets the breaker)</button></form>")
    };
    format!(
        "<h2>Actions</h2><div id=\"actions\">{toggle}\
         <form class=\"inline\" method=\"post\" action=\"{base}/recover\">{csrf}\
         <label>Re-queue failed and exhausted since <input name=\"since\" placeholder=\"2026-01-01T00:00:00Z\" required></label>\
         <button type=\"submit\" id=\"recover\">Recover</button></form>\
         <form class=\"inline\" method=\"post\" action=\"{base}/rotate-secret\">{csrf}\
         <label>Grace <input name=\"grace\" value=\"24h\" size=\"5\"></label>\
         <button type=\"submit\" id=\"rotate\">Rotate secret</button></form></div>"
    )
}

fn filters(id: &str, params: &std::collections::HashMap<String, String>) -> String {
    let get = |k: &str| esc(params.get(k).map(String::as_str).unwrap_or(""));
    let current = params.get("status").map(String::as_str).unwrap_or("");
    let mut options = String::from("<option value=\"\">any</option>");
    for s in DeliveryStatus::ALL {
        let selected = if s.as_str() == current {
            " selected"
        } else {
            ""
        };
        let _ = write!(options, "<option value=\"{s}\"{selected}>{s}</option>");
    }
    format!(
        "<h2>Filter</h2><form method=\"get\" action=\"/console/webhooks/{id}/deliveries\" id=\"filter\">\
         <label>Status <select name=\"status\" id=\"status\">{options}</select></label> \
         <label>Event type <input name=\"event_type\" value=\"{}\" size=\"20\"></label> \
         <label>Created from <input name=\"since\" value=\"{}\" placeholder=\"RFC 3339\" size=\"22\"></label> \
         <label>until <input name=\"until\" value=\"{}\" placeholder=\"RFC 3339\" size=\"22\"></label> \
         <button type=\"submit\" id=\"apply-filter\">Apply</button></form>",
        get("event_type"),
        get("since"),
        get("until")
    )
}

fn row(ctx: &Ctx<'_>, webhook_id: &str, d: &DeliveryView) -> String {
    let mut attempts = String::from(
        "<table class=\"attempts\"><thead><tr><th>#</th><th>Started</th><th>Duration</th><th>Status code</th><th>Error</th><th>Response excerpt</th></tr></thead><tbody>",
    );
    for a in &d.attempts {
        let _ = write!(
            attempts,
            "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{:.1} ms</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            a.attempt,
            a.started_at.format("%Y-%m-%d %H:%M:%S%.3f"),
            a.duration_ms,
            a.status_code.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            opt_esc(a.error.as_deref()),
            opt_esc(a.response_excerpt.as_deref()),
        );
    }
    if d.attempts.is_empty() {
        attempts += "<tr><td colspan=\"6\" class=\"muted\">no attempts yet</td></tr>";
    }
    attempts += "</tbody></table>";
    let payload = serde_json::to_string_pretty(&d.payload).unwrap_or_default();
    let retry = if d.status == DeliveryStatus::Delivered {
        String::new()
    } else {
        format!(
            "<form class=\"inline\" method=\"post\" action=\"/console/deliveries/{}/retry\">{}{}<button type=\"submit\" class=\"retry\">Retry now</button></form>",
            d.id,
            hidden("csrf", &ctx.csrf),
            hidden("webhook", webhook_id)
        )
    };
    format!(
        "<details class=\"delivery\" data-delivery-id=\"{id}\" data-status=\"{status}\"><summary>\
         <span>{created}</span><span class=\"status-{status}\">{status}</span><span>{event_type}</span>\
         <span>{count} attempts</span><span>{code}</span><span>{error}</span></summary>\
         <div><p><code>{id}</code> · event <code>{event_id}</code> · next attempt {next}</p>{retry}\
         <h2>Attempts</h2>{attempts}<h2>Payload</h2><pre class=\"payload\">{payload}</pre></div></details>",
        id = d.id,
        status = d.status,
        created = d.created_at.format("%Y-%m-%d %H:%M:%S"),
        event_type = esc(&d.event_type),
        count = d.attempt_count,
        code = d.last_status_code.map_or_else(|| "-".to_owned(), |c| c.to_string()),
        error = opt_esc(d.last_error.as_deref()),
        event_id = d.event_id,
        next = d.next_attempt_at.format("%Y-%m-%d %H:%M:%S UTC"),
        payload = esc(&payload),
    )
}
