//! Webhook endpoints (`herald.user_webhooks`): create, read, update, delete, rotate the secret.
//! Every operation is scoped by owner: another user's webhook is simply not found. The
//! secret is written here but never read back: [`Webhook`] has no secret field.
//!
//! Secrets are sealed here with the key ring (`HERALD_SECRET_KEYS`), bound to the webhook's
//! id, before they reach SQL; without keys they are stored as plaintext. Either way they go to
//! the driver wrapped in [`Redacted`], whose `Debug` the driver's statement log prints instead
//! of the value.

use std::{error::Error, fmt};

use bytes::BytesMut;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::{
    types::{to_sql_checked, IsNull, Json, ToSql, Type},
    Row,
};
use uuid::Uuid;

use super::{Pool, StoreError};
use crate::domain::{keyring::KeyRing, scope::Scope};

const INSERT: &str = include_str!("queries/webhooks_insert.sql");
const GET: &str = include_str!("queries/webhooks_get.sql");
const LIST: &str = include_str!("queries/webhooks_list.sql");
const UPDATE: &str = include_str!("queries/webhooks_update.sql");
const DELETE: &str = include_str!("queries/webhooks_delete.sql");
const OWNER: &str = include_str!("queries/webhooks_owner.sql");

mod secrets;
pub use secrets::{
    replace_secrets_many, rotate_secret_opt, secrets_page, NewSecret, StoredSecrets,
};

/// A query parameter that holds secret material: sent as its value, shown as `<redacted>` by
/// `Debug`, which is what tokio-postgres prints when it logs a statement's parameters.
pub struct Redacted<T>(pub T);

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T: ToSql> ToSql for Redacted<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>>
    where
        Self: Sized,
    {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool
    where
        Self: Sized,
    {
        T::accepts(ty)
    }

    to_sql_checked!();
}

/// The signature schemes a webhook may use.
pub const SCHEMES: &[&str] = &["hmac", "ed25519"];

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
    pub scope: Scope,
    /// `hmac` (`v1,` signatures with the `whsec_` secret) or `ed25519` (`v1a,` signatures).
    pub signature_scheme: String,
    /// The ed25519 public key (`whpk_...`) receivers verify with; `None` for hmac.
    pub public_key: Option<String>,
    pub consecutive_failures: i32,
    pub disabled_at: Option<DateTime<Utc>>,
    /// `closed` (deliveries flow), `open` (they wait until `breaker_until`) or `half_open`
    /// (one probe in flight).
    pub breaker_state: String,
    pub breaker_until: Option<DateTime<Utc>>,
    /// Static headers added to every request.
    pub headers: serde_json::Value,
    /// `none`, or `fifo`: one delivery at a time, cluster-wide, in the order of the events.
    pub ordering: String,
    /// Deliveries start at most at this rate per second, across every replica; `None`: no limit.
    pub rate_limit_per_s: Option<f64>,
    /// How many may start at once after a quiet spell; `None`: one second's worth (at least 1).
    pub rate_limit_burst: Option<i32>,
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
            signature_scheme: row.try_get("signature_scheme")?,
            public_key: row.try_get("public_key")?,
            consecutive_failures: row.try_get("consecutive_failures")?,
            disabled_at: row.try_get("disabled_at")?,
            breaker_state: row.try_get("breaker_state")?,
            breaker_until: row.try_get("breaker_until")?,
            headers: row.try_get::<_, Json<serde_json::Value>>("headers")?.0,
            ordering: row.try_get("ordering")?,
            rate_limit_per_s: row.try_get("rate_limit_per_s")?,
            rate_limit_burst: row.try_get("rate_limit_burst")?,
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
    /// The plaintext signing secret (`whsec_...`, or `whsk_...` for ed25519); sealed here.
    pub secret: Redacted<&'a str>,
    /// `hmac` or `ed25519`; with ed25519, `public_key` is the secret's `whpk_...`.
    pub signature_scheme: &'a str,
    pub public_key: Option<&'a str>,
    pub event_types: Option<&'a [String]>,
    pub description: Option<&'a str>,
    pub scope: Scope,
    pub enabled: bool,
    /// Custom headers, checked by the caller (`None`: none).
    pub headers: Option<&'a serde_json::Value>,
    /// `none` or `fifo`, checked by the caller.
    pub ordering: &'a str,
    /// The rate limit, checked by the caller (`None`: none).
    pub rate_limit: Option<RateLimit>,
}

/// A webhook's rate limit: deliveries per second, and how many may start at once (`None`: one
/// second's worth, at least 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_s: f64,
    pub burst: Option<i32>,
}

/// A partial update: `None` keeps a field; `Some(None)` clears a nullable one.
#[derive(Debug, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Option<Vec<String>>>,
    /// `Some(true)` also resets the circuit breaker.
    pub enabled: Option<bool>,
    /// Replaces every custom header (checked by the caller).
    pub headers: Option<serde_json::Value>,
    /// `none` or `fifo` (checked by the caller).
    pub ordering: Option<String>,
    /// `Some(None)` removes the rate limit (and its burst).
    pub rate_limit_per_s: Option<Option<f64>>,
    /// `Some(None)`: back to the default burst.
    pub rate_limit_burst: Option<Option<i32>>,
}

fn event_types_json(types: Option<&[String]>) -> Option<serde_json::Value> {
    types.map(|t| serde_json::Value::from(t.to_vec()))
}

/// Inserts a webhook, its secret sealed with `keys`. The scope guard trigger refuses a
/// platform webhook of a non-manager with SQLSTATE HR010.
pub async fn create(
    pool: &Pool,
    keys: &KeyRing,
    new: &NewWebhook<'_>,
) -> Result<Webhook, StoreError> {
    let id = Uuid::new_v4();
    let stored = seal(keys, new.secret.0, id)?;
    let client = pool.get().await?;
    let row = client
        .query_one(
            INSERT,
            &[
                &id,
                &new.user_id,
                &new.url,
                &Redacted(stored.as_str()),
                &event_types_json(new.event_types),
                &new.description,
                &new.scope,
                &new.enabled,
                &new.signature_scheme,
                &new.public_key,
                &new.headers,
                &new.ordering,
                &new.rate_limit.map(|r| r.per_s),
                &new.rate_limit.and_then(|r| r.burst),
            ],
        )
        .await?;
    Webhook::from_row(&row)
}

fn seal(keys: &KeyRing, plaintext: &str, webhook_id: Uuid) -> Result<String, StoreError> {
    keys.seal(plaintext, webhook_id)
        .map_err(|e| StoreError::Config(format!("cannot encrypt the secret: {e}")))
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
                &changes.headers,
                &changes.ordering,
                &changes.rate_limit_per_s.is_some(),
                &changes.rate_limit_per_s.flatten(),
                &changes.rate_limit_burst.is_some(),
                &changes.rate_limit_burst.flatten(),
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

/// The owner of webhook `id`, whoever it is (for operators who know only the webhook).
pub async fn owner_opt(pool: &Pool, id: Uuid) -> Result<Option<Uuid>, StoreError> {
    let client = pool.get().await?;
    let row = client.query_opt(OWNER, &[&id]).await?;
    row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
}
