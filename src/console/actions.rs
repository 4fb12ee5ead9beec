//! The console's actions: retry a delivery, recover a webhook's deliveries since a time,
//! enable or disable a webhook, rotate its secret. Each is a POST that first answers a
//! confirmation page (the same form again with `confirmed=yes`), then does the API's
//! operation and shows its result. The router has checked the session and CSRF token.

use std::collections::HashMap;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use super::{
    html::{esc, hidden, notice, page, respond},
    Ctx,
};
use crate::api::{
    deliveries::{self, Recover},
    error::ApiError,
    request,
    webhooks::{self, PatchWebhook, RotateSecret},
};

type Res = Result<Response<Full<Bytes>>, ApiError>;

pub async fn perform(ctx: &Ctx<'_>, segments: &[&str], form: &HashMap<String, String>) -> Res {
    let confirmed = form.get("confirmed").is_some_and(|v| v == "yes");
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("").trim();
    match segments {
        ["deliveries", id, "retry"] => {
            let id = request::uuid("delivery_id", id)?;
            let back = back_to(field("webhook"));
            if !confirmed {
                return Ok(confirm(
                    ctx,
                    &format!("Retry delivery {id} now?"),
                    form,
                    &back,
                ));
            }
            let r = deliveries::retry(ctx.state, id).await?;
            Ok(done(
                ctx,
                &format!(
                    "Delivery {} is due now (status {}, {} attempts so far).",
                    r.id, r.status, r.attempt_count
                ),
                &back_to(&r.webhook_id.to_string()),
            ))
        }
        ["webhooks", id, action] => {
            let id = request::uuid("webhook_id", id)?;
            let user = webhooks::owner(ctx.state, id).await?;
            let back = back_to(&id.to_string());
            match *action {
                "recover" => {
                    let since = deliveries::parse_time("since", field("since"))?;
                    if !confirmed {
                        let q = format!("Re-queue the failed and exhausted deliveries of webhook {id} created since {since}?");
                        return Ok(confirm(ctx, &q, form, &back));
                    }
                    let req = Recover {
                        since: field("since").to_owned(),
                    };
                    let r = deliveries::recover(ctx.state, user, id, req).await?;
                    Ok(done(
                        ctx,
                        &format!("Re-queued {} deliveries.", r.requeued),
                        &back,
                    ))
                }
                "enable" | "disable" => {
                    let enable = *action == "enable";
                    if !confirmed {
                        let q = if enable {
                            format!("Enable webhook {id} (and reset its breaker)?")
                        } else {
                            format!(
                                "Disable webhook {id}? It gets no new deliveries while disabled."
                            )
                        };
                        return Ok(confirm(ctx, &q, form, &back));
                    }
                    let patch = PatchWebhook {
                        url: None,
                        description: None,
                        event_types: None,
                        enabled: Some(Some(enable)),
                        headers: None,
                        ordering: None,
                        rate_limit_per_s: None,
                        rate_limit_burst: None,
                    };
                    let w = webhooks::update(ctx.state, user, id, patch).await?;
                    let state = if w.enabled { "enabled" } else { "disabled" };
                    Ok(done(ctx, &format!("Webhook {id} is {state}."), &back))
                }
                "rotate-secret" => {
                    let grace = crate::domain::duration::parse_duration(field("grace"))
                        .map_err(|e| ApiError::bad_request("grace", format!("grace: {e}")))?;
                    if !confirmed {
                        let q = format!("Rotate the secret of webhook {id}? The current one keeps signing for {}.", humantime::format_duration(grace));
                        return Ok(confirm(ctx, &q, form, &back));
                    }
                    let req = RotateSecret {
                        grace_seconds: Some(grace.as_secs()),
                    };
                    let r = webhooks::rotate_secret(ctx.state, user, id, req).await?;
                    let until = r
                        .previous_secret_expires_at
                        .map_or_else(|| "-".to_owned(), |t| t.to_string());
                    let shown = match (&r.secret, &r.public_key) {
                        (Some(s), _) => format!("<p>New signing secret (shown this once; copy it now):</p><p class=\"secret\" id=\"secret\"><code>{}</code></p>", esc(s)),
                        (None, Some(k)) => format!("<p>New ed25519 public key (receivers verify with it):</p><p class=\"secret\" id=\"secret\"><code>{}</code></p>", esc(k)),
                        (None, None) => String::new(),
                    };
                    let body = format!(
                        "{}{}<p>The previous secret keeps signing until {}.</p><p><a href=\"{}\">Back</a></p>",
                        notice("The secret was rotated.", false),
                        shown,
                        esc(&until),
                        esc(&back)
                    );
                    Ok(respond(
                        StatusCode::OK,
                        page("Secret rotated", Some(&ctx.csrf), &body),
                    ))
                }
                _ => Err(ApiError::not_found("console action")),
            }
        }
        _ => Err(ApiError::not_found("console action")),
    }
}

fn back_to(webhook_id: &str) -> String {
    match webhook_id.parse::<uuid::Uuid>() {
        Ok(id) => format!("/console/webhooks/{id}/deliveries"),
        Err(_) => "/console/webhooks".to_owned(),
    }
}

/// The confirmation page: the same form, posted again with `confirmed=yes`.
fn confirm(
    ctx: &Ctx<'_>,
    question: &str,
    form: &HashMap<String, String>,
    back: &str,
) -> Response<Full<Bytes>> {
    let mut fields: String = form
        .iter()
        .filter(|(k, _)| k.as_str() != "confirmed" && k.as_str() != "csrf")
        .map(|(k, v)| hidden(k, v))
        .collect();
    fields += &hidden("csrf", &ctx.csrf);
    fields += &hidden("confirmed", "yes");
    let body = format!(
        "<p id=\"question\">{}</p><form method=\"post\">{fields}<button type=\"submit\" id=\"confirm\">Confirm</button> \
         <a href=\"{}\" id=\"cancel\">Cancel</a></form>",
        esc(question),
        esc(back)
    );
    respond(StatusCode::OK, page("Confirm", Some(&ctx.csrf), &body))
}

fn done(ctx: &Ctx<'_>, message: &str, back: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "{}<p><a href=\"{}\" id=\"back\">Back to the deliveries</a></p>",
        notice(message, false),
        esc(back)
    );
    respond(StatusCode::OK, page("Done", Some(&ctx.csrf), &body))
}
