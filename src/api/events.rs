//! `/v1/event-types`, `/v1/events` and `/v1/users/{user_id}/roles/platform-manager`: the
//! event-type registry, emitting over HTTP (validated by the same trigger as `herald.emit`),
//! and the platform-manager role.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{
    error::{json_response, no_content, ApiError},
    request,
    validate::{validate_description, validate_event_type_name, validate_scope},
    ApiState,
};
use crate::store::events::{self, NewEvent, Registered};

type Res = Result<Response<Full<Bytes>>, ApiError>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterEventType {
    pub name: String,
    pub scope: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmitEvent {
    pub event_type: String,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

pub async fn list_types(state: &ApiState) -> Res {
    let types = events::list_types(&state.pool)
        .await
        .map_err(|e| ApiError::internal("listing event types", &e))?;
    Ok(json_response(StatusCode::OK, &json!({ "data": types })))
}

pub async fn register_type(state: &ApiState, req: RegisterEventType) -> Res {
    validate_event_type_name("name", &req.name)?;
    validate_scope("scope", &req.scope)?;
    validate_description(req.description.as_deref())?;
    match events::register_type(
        &state.pool,
        &req.name,
        &req.scope,
        req.description.as_deref(),
    )
    .await
    .map_err(|e| ApiError::internal("registering an event type", &e))?
    {
        Registered::Created(t) => Ok(json_response(StatusCode::CREATED, &t)),
        Registered::Updated(t) => Ok(json_response(StatusCode::OK, &t)),
        Registered::ScopeConflict => Err(ApiError::conflict(format!(
            "event type {:?} exists with another scope; scopes cannot change",
            req.name
        ))
        .with_field("scope")),
    }
}

fn optional_uuid(field: &str, raw: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    raw.map(|r| request::uuid(field, r)).transpose()
}

pub async fn emit(state: &ApiState, req: EmitEvent) -> Res {
    let user_id = optional_uuid("user_id", req.user_id.as_deref())?;
    let resource_id = optional_uuid("resource_id", req.resource_id.as_deref())?;
    let data = req.data.unwrap_or_else(|| json!({}));
    if !data.is_object() {
        return Err(ApiError::bad_request("data", "data must be a JSON object"));
    }
    let event = NewEvent {
        event_type: &req.event_type,
        user_id,
        resource_id,
        data: &data,
    };
    match events::emit(&state.pool, &event).await {
        Ok(id) => Ok(json_response(StatusCode::CREATED, &json!({ "id": id }))),
        Err(e) => {
            let message = e.db_message().unwrap_or_default().to_owned();
            Err(match e.sqlstate().map(|c| c.code()) {
                Some("HR001") => ApiError::unprocessable("event_type", message),
                Some("HR002") => ApiError::unprocessable("user_id", message),
                Some("HR003") => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
                        .with_field("data")
                }
                Some("23514") => ApiError::bad_request("data", "data must be a JSON object"),
                _ => ApiError::internal("emitting an event", &e),
            })
        }
    }
}

pub async fn grant_manager(state: &ApiState, user_id: Uuid) -> Res {
    events::grant_manager(&state.pool, user_id)
        .await
        .map_err(|e| ApiError::internal("granting a role", &e))?;
    Ok(no_content())
}

pub async fn revoke_manager(state: &ApiState, user_id: Uuid) -> Res {
    events::revoke_manager(&state.pool, user_id)
        .await
        .map_err(|e| ApiError::internal("revoking a role", &e))?;
    Ok(no_content())
}
