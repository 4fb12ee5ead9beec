//! Webhook endpoints (`herald.user_webhooks`): create, read, update, delete, rotate the secret.
//! Every operation is scoped by owner: another user's webhook is simply not found. The
//! secret is written here but never read back: [`Webhook`] has no secret field.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::{types::Json, Row};
use uuid::Uuid;

use super::{Pool, StoreError};

const INSERT: &str = include_str!("queries/webhooks_insert.sql");
const GET: &str = include_str!("queries/webhooks_get.sql");
const LIST: &str = include_str!("queries/webhooks_list.sql");
const UPDATE: &str = include_str!("queries/webhooks_update.sql");
const DELETE: &str = include_str!("queries/webhooks_delete.sql");
const ROTATE_SECRET: &str = include_str!("queries/webhooks_rotate_secret.sql");
const OWNER: &str = include_str!("queries/webhooks_owner.sql");

/// Runtime queries of this module, by name; `tests/it/queries.rs` prepares every one.
pub const QUERIES: &[(&str, &str)] = &[
    ("webhooks_insert", INSERT),
    ("webhooks_get", GET),
    ("webhooks_list", LIST),
    ("webhooks_update", UPDATE),
    ("webhooks_delete", DELETE),
    ("webhooks_rotate_secret", ROTATE_SECRET),
    ("webhooks_owner", OWNER),
];

/// A webhook as shown to its owner: everything but the secrets.
#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    pub id: Uuid,
    pub user_id: Uuid,
    pub url: String,
    pub enabled: bool,
    /// `None`: every event type of the webhook's scope.
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub scope: String,
    pub consecutive_failures: i32,
    pub disabled_at: Option<DateTime<Utc>>,
    /// While in the future, the previous secret still signs too.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    fn from_row(row: &Row) -> Result<Self, StoreError> {
        let event_types: Option<Json<Vec<String>>> = row.try_get("event_types")?;
        Ok(Self {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            url: row.try_get("url")?,
            enabled: row.try_get("enabled")?,
            event_types: event_types.map(|Json(v)| v),
            description: row.try_get("description")?,
            scope: row.try_get("scope")?,
            consecutive_failures: row.try_get("consecutive_failures")?,
            disabled_at: row.try_get("disabled_at")?,
            previous_secret_expires_at: row.try_get("previous_secret_expires_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// A webhook to create. Validation (URL, scope, event types, role) is the caller's.
#[derive(Debug)]
pub struct NewWebhook<'a> {
    pub user_id: Uuid,
    pub url: &'a str,
    pub secret: &'a str,
    pub event_types: Option<&'a [String]>,
    pub description: Option<&'a str>,
    pub scope: &'a str,
    pub enabled: bool,
}

/// A partial update: `None` keeps a field; `Some(None)` clears a nullable one.
#[derive(Debug, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Option<Vec<String>>>,
    /// `Some(true)` also resets the circuit breaker.
    pub enabled: Option<bool>,
}

fn event_types_json(types: Option<&[String]>) -> Option<serde_json::Value> {
    types.map(|t| serde_json::Value::from(t.to_vec()))
}

/// Inserts a webhook. The scope guard trigger refuses a platform webhook of a non-manager
/// with SQLSTATE HR010.
pub async fn create(pool: &Pool, new: &NewWebhook<'_>) -> Result<Webhook, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            INSERT,
            &[
                &new.user_id,
                &new.url,
                &new.secret,
                &event_types_json(new.event_types),
                &new.description,
                &new.scope,
                &new.enabled,
            ],
        )
        .await?;
    Webhook::from_row(&row)
}

pub async fn get_opt(pool: &Pool, user_id: Uuid, id: Uuid) -> Result<Option<Webhook>, StoreError> {
    let client = pool.get().await?;
    client
        .query_opt(GET, &[&user_id, &id])
        .await?
        .as_ref()
        .map(Webhook::from_row)
        .transpose()
}

pub async fn list(pool: &Pool, user_id: Uuid) -> Result<Vec<Webhook>, StoreError> {
    let client = pool.get().await?;
    client
        .query(LIST, &[&user_id])
        .await?
        .iter()
        .map(Webhook::from_row)
        .collect()
}

/// Applies `changes` in one statement; `None` when the user has no such webhook.
pub async fn update_opt(
    pool: &Pool,
    user_id: Uuid,
    id: Uuid,
    changes: &WebhookChanges,
) -> Result<Option<Webhook>, StoreError> {
    let client = pool.get().await?;
    let description = changes.description.clone().flatten();
    let event_types = changes
        .event_types
        .as_ref()
        .and_then(|t| event_types_json(t.as_deref()));
    client
        .query_opt(
            UPDATE,
            &[
                &user_id,
                &id,
                &changes.url,
                &changes.description.is_some(),
                &description,
                &changes.event_types.is_some(),
                &event_types,
                &changes.enabled,
            ],
        )
        .await?
        .as_ref()
        .map(Webhook::from_row)
        .transpose()
}

/// True when a webhook was deleted (its deliveries and attempts go with it).
pub async fn delete(pool: &Pool, user_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    Ok(client.execute(DELETE, &[&user_id, &id]).await? > 0)
}

/// Makes `new_secret` the signing secret; the old one keeps signing for `grace`. Returns when
/// the previous secret expires, or `None` when the user has no such webhook.
pub async fn rotate_secret_opt(
    pool: &Pool,
    user_id: Uuid,
    id: Uuid,
    new_secret: &str,
    grace: Duration,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            ROTATE_SECRET,
            &[&user_id, &id, &new_secret, &grace.as_secs_f64()],
        )
        .await?;
    row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
}

/// The owner of webhook `id`, whoever it is (for operators who know only the webhook).
pub async fn owner_opt(pool: &Pool, id: Uuid) -> Result<Option<Uuid>, StoreError> {
    let client = pool.get().await?;
    let row = client.query_opt(OWNER, &[&id]).await?;
    row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
}
