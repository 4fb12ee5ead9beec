//! `/v1/event-types`, `/v1/events` and `/v1/users/{user_id}/roles/platform-manager`: the
//! event-type registry, emitting over HTTP (validated by the same trigger as `herald.emit`),
//! and the platform-manager role.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{
    error::ApiError,
    request,
    validate::{validate_description, validate_event_type_name, validate_scope},
    ApiState,
};
use crate::store::events::{self, EventType, NewEvent, Registered};

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

pub async fn list_types(state: &ApiState) -> Result<Vec<EventType>, ApiError> {
    events::list_types(&state.pool)
        .await
        .map_err(|e| ApiError::internal("listing event types", &e))
}

/// A registered event type, and whether this call created it (or updated its description).
#[derive(Debug)]
pub struct RegisteredType {
    pub event_type: EventType,
    pub created: bool,
}

/// The id of an emitted event.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Emitted {
    pub id: Uuid,
}

pub async fn register_type(
    state: &ApiState,
    req: RegisterEventType,
) -> Result<RegisteredType, ApiError> {
    validate_event_type_name("name", &req.name)?;
    let scope = validate_scope("scope", &req.scope)?;
    validate_description(req.description.as_deref())?;
    match events::register_type(&state.pool, &req.name, scope, req.description.as_deref())
        .await
        .map_err(|e| ApiError::internal("registering an event type", &e))?
    {
        Registered::Created(event_type) => Ok(RegisteredType {
            event_type,
            created: true,
        }),
        Registered::Updated(event_type) => Ok(RegisteredType {
            event_type,
            created: false,
        }),
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

pub async fn emit(state: &ApiState, req: EmitEvent) -> Result<Emitted, ApiError> {
    validate_event_type_name("event_type", &req.event_type)?;
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
        Ok(id) => Ok(Emitted { id }),
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

pub async fn grant_manager(state: &ApiState, user_id: Uuid) -> Result<(), ApiError> {
    events::grant_manager(&state.pool, user_id)
        .await
        .map_err(|e| ApiError::internal("granting a role", &e))
}

pub async fn revoke_manager(state: &ApiState, user_id: Uuid) -> Result<(), ApiError> {
    events::revoke_manager(&state.pool, user_id)
        .await
        .map_err(|e| ApiError::internal("revoking a role", &e))
}
