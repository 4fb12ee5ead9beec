//! A webhook's deliveries: the listing with attempts (keyset cursor, newest first, filtered by
//! status, event type and creation time, each page scanning a bounded number of rows),
//! retrying one delivery now, and recovering failed and exhausted ones since a time.

use std::collections::HashMap;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{error::ApiError, request, validate::validate_event_type_name, webhooks, ApiState};
use crate::{
    domain::status::{DeliveryStatus, UnknownStatus},
    store::admin::{self, DeliveryPage, DeliveryView, Requeued, Retried},
};

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;
/// Deliveries examined per page: a page of a rare status in a long history answers quickly
/// with fewer rows and a cursor to go on from.
pub const SCAN_LIMIT: i64 = 5_000;
/// The query parameters of the listing.
pub const LIST_PARAMS: [&str; 6] = ["status", "event_type", "since", "until", "limit", "cursor"];

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
    webhooks::get(state, user_id, id).await.map(|_| ())
}

/// An RFC 3339 time; 400 naming `field` otherwise.
pub fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::bad_request(
                field,
                format!("{field} must be an RFC 3339 time like 2026-01-01T00:00:00Z: {e}"),
            )
        })
}

/// A listing's filters and page, as parsed from its query parameters.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    pub cursor: Option<(DateTime<Utc>, Uuid)>,
}

impl ListQuery {
    /// Parses the query string of the listing (empty values count as absent).
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let q = request::query(raw, &LIST_PARAMS)?;
        Self::from_params(&q)
    }

    pub fn from_params(q: &HashMap<String, String>) -> Result<Self, ApiError> {
        let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let status = get("status")
            .map(|s| {
                s.parse()
                    .map_err(|e: UnknownStatus| ApiError::bad_request("status", e.to_string()))
            })
            .transpose()?;
        let event_type = get("event_type")
            .map(|t| validate_event_type_name("event_type", t).map(|()| t.to_owned()))
            .transpose()?;
        let limit = get("limit")
            .map(|l| match l.parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                )),
            })
            .transpose()?;
        let cursor = get("cursor")
            .map(|c| {
                decode_cursor(c).ok_or_else(|| {
                    ApiError::bad_request("cursor", "not a cursor returned by this API")
                })
            })
            .transpose()?;
        Ok(Self {
            status,
            event_type,
            since: get("since").map(|t| parse_time("since", t)).transpose()?,
            until: get("until").map(|t| parse_time("until", t)).transpose()?,
            limit,
            cursor,
        })
    }
}

/// One page of deliveries. `next_cursor` is set while older deliveries remain unexamined,
/// also when this page holds fewer than `limit` (its scan reached [`SCAN_LIMIT`]).
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub data: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

pub async fn list(
    state: &ApiState,
    user_id: Uuid,
    webhook_id: Uuid,
    q: &ListQuery,
) -> Result<Page, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    ensure_webhook(state, user_id, webhook_id).await?;
    let page = DeliveryPage {
        status: q.status,
        event_type: q.event_type.as_deref(),
        created_from: q.since,
        created_until: q.until,
        before: q.cursor,
        limit: limit + 1,
        scan_limit: SCAN_LIMIT,
    };
    let mut listed = admin::list_deliveries(&state.pool, user_id, webhook_id, page)
        .await
        .map_err(|e| ApiError::internal("listing deliveries", &e))?;
    let next_cursor = if listed.rows.len() as i64 > limit {
        listed.rows.truncate(limit as usize);
        listed.rows.last().map(|d| encode_cursor(d.position()))
    } else if listed.scanned >= SCAN_LIMIT {
        listed.scanned_to.map(encode_cursor)
    } else {
        None
    };
    Ok(Page {
        data: listed.rows,
        next_cursor,
    })
}

pub async fn retry(state: &ApiState, id: Uuid) -> Result<Requeued, ApiError> {
    match admin::retry_delivery(&state.pool, id)
        .await
        .map_err(|e| ApiError::internal("retrying a delivery", &e))?
    {
        Retried::Requeued(d) => Ok(d),
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

/// How many deliveries a recover re-queued.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Recovered {
    pub requeued: i64,
}

pub async fn recover(
    state: &ApiState,
    user_id: Uuid,
    webhook_id: Uuid,
    req: Recover,
) -> Result<Recovered, ApiError> {
    let since = parse_time("since", &req.since)?;
    ensure_webhook(state, user_id, webhook_id).await?;
    let requeued = admin::recover_deliveries(&state.pool, user_id, webhook_id, since)
        .await
        .map_err(|e| ApiError::internal("recovering deliveries", &e))?;
    Ok(Recovered { requeued })
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
