//! A webhook's deliveries: the listing with attempts (keyset cursor, newest first), retrying
//! one delivery now, and recovering failed and exhausted ones since a time.

use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{
    error::{json_response, ApiError},
    request, ApiState,
};
use crate::store::{
    admin::{self, DeliveryPage, Retried},
    webhooks,
};

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;
const STATUSES: [&str; 4] = ["pending", "delivered", "failed", "exhausted"];

type Res = Result<Response<Full<Bytes>>, ApiError>;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The opaque cursor: base64url of `<created_at in µs>:<id>`.
pub fn encode_cursor((at, id): (DateTime<Utc>, Uuid)) -> String {
    B64.encode(format!("{}:{id}", at.timestamp_micros()))
}

pub fn decode_cursor(raw: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let text = String::from_utf8(B64.decode(raw).ok()?).ok()?;
    let (micros, id) = text.split_once(':')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        Uuid::parse_str(id).ok()?,
    ))
}

async fn ensure_webhook(state: &ApiState, user_id: Uuid, id: Uuid) -> Result<(), ApiError> {
    webhooks::get_opt(&state.pool, user_id, id)
        .await
        .map_err(|e| ApiError::internal("reading a webhook", &e))?
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("webhook"))
}

pub async fn list(state: &ApiState, user_id: Uuid, webhook_id: Uuid, query: Option<&str>) -> Res {
    let q = request::query(query, &["status", "limit", "cursor"])?;
    let status = match q.get("status").map(String::as_str) {
        None | Some("") => None,
        Some(s) if STATUSES.contains(&s) => Some(s),
        Some(s) => {
            return Err(ApiError::bad_request(
                "status",
                format!("status {s:?} is not one of {}", STATUSES.join(", ")),
            ))
        }
    };
    let limit = match q.get("limit") {
        None => DEFAULT_PAGE,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                ))
            }
        },
    };
    let before =
        match q.get("cursor").filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                ApiError::bad_request("cursor", "not a cursor returned by this API")
            })?),
        };
    ensure_webhook(state, user_id, webhook_id).await?;
    let page = DeliveryPage {
        status,
        before,
        limit: limit + 1,
    };
    let mut rows = admin::list_deliveries(&state.pool, user_id, webhook_id, page)
        .await
        .map_err(|e| ApiError::internal("listing deliveries", &e))?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|d| encode_cursor(d.position()))
    } else {
        None
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({ "data": rows, "next_cursor": next_cursor }),
    ))
}

pub async fn retry(state: &ApiState, id: Uuid) -> Res {
    match admin::retry_delivery(&state.pool, id)
        .await
        .map_err(|e| ApiError::internal("retrying a delivery", &e))?
    {
        Retried::Requeued(d) => Ok(json_response(StatusCode::OK, &d)),
        Retried::NotFound => Err(ApiError::not_found("delivery")),
        Retried::AlreadyDelivered => Err(ApiError::conflict(
            "the delivery was already delivered; nothing to retry",
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recover {
    /// RFC 3339; deliveries created at or after it are re-queued.
    pub since: String,
}

pub async fn recover(state: &ApiState, user_id: Uuid, webhook_id: Uuid, req: Recover) -> Res {
    let since = DateTime::parse_from_rfc3339(&req.since)
        .map_err(|e| {
            ApiError::bad_request(
                "since",
                format!("since must be an RFC 3339 time like 2026-01-01T00:00:00Z: {e}"),
            )
        })?
        .with_timezone(&Utc);
    ensure_webhook(state, user_id, webhook_id).await?;
    let requeued = admin::recover_deliveries(&state.pool, user_id, webhook_id, since)
        .await
        .map_err(|e| ApiError::internal("recovering deliveries", &e))?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "requeued": requeued }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_refuses_garbage() {
        let at = DateTime::from_timestamp_micros(1_767_225_600_123_456).unwrap();
        let id = Uuid::new_v4();
        assert_eq!(decode_cursor(&encode_cursor((at, id))), Some((at, id)));
        assert_eq!(decode_cursor("not-a-cursor"), None);
        assert_eq!(decode_cursor(&B64.encode("12:nope")), None);
    }
}
