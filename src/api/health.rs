//! `/healthz` (the process answers), `/readyz` (database reachable, listener connected,
//! leader known, no task failed), `/metrics` (Prometheus text) and `/v1/openapi.json`.

use std::{sync::atomic::Ordering, time::Duration};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::json;

use super::{
    error::{json_response, response},
    ApiState,
};
use crate::store::admin;

/// The OpenAPI 3 document of every route in [`super::routes::ROUTES`].
pub const OPENAPI: &str = include_str!("openapi.json");

/// How long `/readyz` waits for the database.
const DB_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn healthz() -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, &json!({ "status": "ok" }))
}

pub async fn readyz(state: &ApiState) -> Response<Full<Bytes>> {
    let database = match tokio::time::timeout(DB_CHECK_TIMEOUT, admin::ping(&state.pool)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            false
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer in time");
            false
        }
    };
    let checks = [
        ("database", database),
        (
            "listener",
            state.readiness.listener_connected.load(Ordering::Relaxed),
        ),
        (
            "leader",
            state.readiness.leader_known.load(Ordering::Relaxed),
        ),
        ("tasks", state.readiness.failed_task.get().is_none()),
    ];
    let not_ready: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| *name)
        .collect();
    let body = json!({
        "status": if not_ready.is_empty() { "ready" } else { "not ready" },
        "checks": checks.iter().map(|(n, ok)| (n.to_string(), json!(ok))).collect::<serde_json::Map<_, _>>(),
        "not_ready": not_ready,
        "failed_task": state.readiness.failed_task.get(),
    });
    let status = if not_ready.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &body)
}

pub fn metrics(state: &ApiState) -> Response<Full<Bytes>> {
    response(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        state.metrics.render(),
    )
}

/// The document as this server enforces it: without `HERALD_ALLOW_HTTP` the URL pattern
/// admits `https` only.
pub fn openapi(state: &ApiState) -> Response<Full<Bytes>> {
    if state.allow_http {
        response(StatusCode::OK, "application/json", OPENAPI)
    } else {
        let https_only = OPENAPI.replace(HTTP_OR_HTTPS, "^[Hh][Tt][Tt][Pp][Ss]://");
        response(StatusCode::OK, "application/json", https_only)
    }
}

/// The start of the URL pattern in the document (JSON-escaped as it is in the file).
const HTTP_OR_HTTPS: &str = "^[Hh][Tt][Tt][Pp][Ss]?://";
