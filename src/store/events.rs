//! The event side of the store: the event-type registry, the platform-manager role, and
//! emitting an event (`herald.emit`, whose fan-out trigger validates it: SQLSTATE HR001
//! unknown type, HR002 `own` event without user, HR003 oversize, 23514 data not an object).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Pool, StoreError};
use crate::domain::scope::Scope;

const LIST_TYPES: &str = include_str!("queries/events_list_types.sql");
const SCOPES_OF: &str = include_str!("queries/events_scopes_of.sql");
const REGISTER_TYPE: &str = include_str!("queries/events_register_type.sql");
const GRANT_MANAGER: &str = include_str!("queries/events_grant_manager.sql");
const REVOKE_MANAGER: &str = include_str!("queries/events_revoke_manager.sql");
const IS_MANAGER: &str = include_str!("queries/events_is_manager.sql");
const EMIT: &str = include_str!("queries/events_emit.sql");

#[derive(Debug, Clone, Serialize)]
pub struct EventType {
    pub name: String,
    pub scope: Scope,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What registering an event type did.
#[derive(Debug)]
pub enum Registered {
    Created(EventType),
    /// It existed with the same scope; the description was updated.
    Updated(EventType),
    /// It exists with another scope; nothing changed.
    ScopeConflict,
}

pub async fn list_types(pool: &Pool) -> Result<Vec<EventType>, StoreError> {
    let client = pool.get().await?;
    let rows = client.query(LIST_TYPES, &[]).await?;
    rows.iter()
        .map(|r| {
            Ok(EventType {
                name: r.try_get("name")?,
                scope: r.try_get("scope")?,
                description: r.try_get("description")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// The scope of each of `names` that is registered; unknown names are absent from the map.
pub async fn scopes_of(
    pool: &Pool,
    names: &[String],
) -> Result<HashMap<String, Scope>, StoreError> {
    let client = pool.get().await?;
    let rows = client.query(SCOPES_OF, &[&names]).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("scope")?)))
        .collect()
}

pub async fn register_type(
    pool: &Pool,
    name: &str,
    scope: Scope,
    description: Option<&str>,
) -> Result<Registered, StoreError> {
    let client = pool.get().await?;
    let Some(r) = client
        .query_opt(REGISTER_TYPE, &[&name, &scope, &description])
        .await?
    else {
        return Ok(Registered::ScopeConflict);
    };
    let event_type = EventType {
        name: r.try_get("name")?,
        scope: r.try_get("scope")?,
        description: r.try_get("description")?,
        created_at: r.try_get("created_at")?,
    };
    Ok(if r.try_get("created")? {
        Registered::Created(event_type)
    } else {
        Registered::Updated(event_type)
    })
}

/// Grants `PLATFORMMANAGER`; granting it twice changes nothing.
pub async fn grant_manager(pool: &Pool, user_id: Uuid) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client.execute(GRANT_MANAGER, &[&user_id]).await?;
    Ok(())
}

/// Revokes `PLATFORMMANAGER`; the user's platform webhooks stop receiving at once.
pub async fn revoke_manager(pool: &Pool, user_id: Uuid) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client.execute(REVOKE_MANAGER, &[&user_id]).await?;
    Ok(())
}

pub async fn is_manager(pool: &Pool, user_id: Uuid) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    Ok(client
        .query_one(IS_MANAGER, &[&user_id])
        .await?
        .try_get(0)?)
}

/// An event to record, as `herald.emit` takes it.
#[derive(Debug)]
pub struct NewEvent<'a> {
    pub event_type: &'a str,
    pub user_id: Option<Uuid>,
    pub resource_id: Option<Uuid>,
    pub data: &'a serde_json::Value,
}

/// Records one event; its deliveries are written by the fan-out trigger in the same
/// statement. Returns the event id.
pub async fn emit(pool: &Pool, event: &NewEvent<'_>) -> Result<Uuid, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            EMIT,
            &[
                &event.event_type,
                &event.user_id,
                &event.resource_id,
                &event.data,
            ],
        )
        .await?;
    Ok(row.try_get(0)?)
}
