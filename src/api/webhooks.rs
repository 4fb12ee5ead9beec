//! `/v1/users/{user_id}/webhooks[/{webhook_id}[/rotate-secret]]`: a user's webhooks. The
//! secret is shown only by create and rotate.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    error::{found, ApiError},
    request::double_option,
    validate::{
        validate_description, validate_event_type_name, validate_ordering, validate_rate_limit,
        validate_scope, validate_url,
    },
    ApiState,
};
use crate::domain::{
    scope::Scope,
    secret::{Ed25519Secret, WebhookSecret},
};
use crate::store::{
    events,
    webhooks::{self, NewWebhook, Redacted, Webhook, WebhookChanges, SCHEMES},
    StoreError,
};

mod secrets;
pub use secrets::{
    rotate_secret, RotateSecret, Rotated, DEFAULT_ROTATION_GRACE, MAX_ROTATION_GRACE,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    pub url: String,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "own")]
    pub scope: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `hmac` (default) or `ed25519`.
    #[serde(default = "hmac")]
    pub signature_scheme: String,
    /// Static headers added to every request: `{"name": "value"}`.
    #[serde(default)]
    pub headers: Option<serde_json::Value>,
    /// `none` (default) or `fifo`: one delivery at a time, in the order of the events.
    #[serde(default = "no_ordering")]
    pub ordering: String,
    /// Deliveries per second at most, across every replica (none by default).
    #[serde(default)]
    pub rate_limit_per_s: Option<f64>,
    /// How many may start at once after a quiet spell (default: one second's worth).
    #[serde(default)]
    pub rate_limit_burst: Option<i64>,
}

fn no_ordering() -> String {
    "none".to_owned()
}

fn own() -> String {
    Scope::Own.to_string()
}

fn hmac() -> String {
    "hmac".to_owned()
}

fn yes() -> bool {
    true
}

/// Absent fields are kept; `null` clears `description` and `event_types` (every type).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchWebhook {
    #[serde(default, deserialize_with = "double_option")]
    pub url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub event_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    pub enabled: Option<Option<bool>>,
    /// Replaces every custom header; `null` or `{}` removes them.
    #[serde(default, deserialize_with = "double_option")]
    pub headers: Option<Option<serde_json::Value>>,
    /// `none` or `fifo`.
    #[serde(default, deserialize_with = "double_option")]
    pub ordering: Option<Option<String>>,
    /// `null` removes the rate limit (and its burst).
    #[serde(default, deserialize_with = "double_option")]
    pub rate_limit_per_s: Option<Option<f64>>,
    /// `null`: back to the default burst.
    #[serde(default, deserialize_with = "double_option")]
    pub rate_limit_burst: Option<Option<i64>>,
}

/// Custom headers must be an object of at most 16 string values (1 KiB each) whose names are
/// not Herald's own or hop-by-hop headers; the error names the header.
fn check_headers(headers: &serde_json::Value) -> Result<(), ApiError> {
    crate::domain::headers::parse(headers)
        .map(|_| ())
        .map_err(|e| ApiError::bad_request("headers", e.to_string()))
}

/// A created webhook and, for hmac, its secret (shown this once). An ed25519 webhook's
/// signing key never leaves Herald; its public key is part of the webhook.
#[derive(Debug, Serialize)]
pub struct Created {
    #[serde(flatten)]
    pub webhook: Webhook,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A fresh signing secret of `scheme`: its text (to store), and for ed25519 the public key.
pub(super) struct Generated {
    pub(super) secret: String,
    pub(super) public_key: Option<String>,
}

/// `whsec_` + base64 of 32 random bytes, or an ed25519 key pair (`whsk_`, `whpk_`).
pub(super) fn generate_secret(scheme: &str) -> Result<Generated, ApiError> {
    let generated = if scheme == "ed25519" {
        Ed25519Secret::generate().map(|k| Generated {
            secret: k.expose(),
            public_key: Some(k.public_key()),
        })
    } else {
        WebhookSecret::generate().map(|s| Generated {
            secret: s.expose(),
            public_key: None,
        })
    };
    generated.map_err(|_| {
        tracing::error!("the system random generator failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    })
}

/// Event types must be well-formed, registered, and of the webhook's scope.
async fn check_event_types(
    state: &ApiState,
    types: &[String],
    scope: Scope,
) -> Result<(), ApiError> {
    for name in types {
        validate_event_type_name("event_types", name)?;
    }
    if types.is_empty() {
        return Ok(());
    }
    let scopes = events::scopes_of(&state.pool, types)
        .await
        .map_err(|e| ApiError::internal("looking up event types", &e))?;
    for name in types {
        match scopes.get(name) {
            None => {
                return Err(ApiError::unprocessable(
                    "event_types",
                    format!("unknown event type {name:?}; register it first"),
                ))
            }
            Some(s) if *s != scope => {
                return Err(ApiError::unprocessable(
                    "event_types",
                    format!("event type {name:?} has scope {s}; this webhook has scope {scope}"),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn platform_refused(user_id: Uuid) -> ApiError {
    ApiError::forbidden(format!(
        "user {user_id} is not a platform manager and cannot own a platform webhook"
    ))
}

fn is_scope_guard(e: &StoreError) -> bool {
    e.sqlstate().is_some_and(|c| c.code() == "HR010")
}

pub async fn list(state: &ApiState, user_id: Uuid) -> Result<Vec<Webhook>, ApiError> {
    webhooks::list(&state.pool, user_id)
        .await
        .map_err(|e| ApiError::internal("listing webhooks", &e))
}

/// The owner of webhook `id`, for callers that know only the webhook (the console, the
/// command line); 404 when there is none.
pub async fn owner(state: &ApiState, id: Uuid) -> Result<Uuid, ApiError> {
    let owner = webhooks::owner_opt(&state.pool, id).await;
    found(owner, "reading a webhook", "webhook")
}

pub async fn create(
    state: &ApiState,
    user_id: Uuid,
    req: CreateWebhook,
) -> Result<Created, ApiError> {
    let url = validate_url(&req.url, state.allow_http)?;
    let scope = validate_scope("scope", &req.scope)?;
    if !SCHEMES.contains(&req.signature_scheme.as_str()) {
        return Err(ApiError::bad_request(
            "signature_scheme",
            format!(
                "signature_scheme must be \"hmac\" or \"ed25519\", not {:?}",
                req.signature_scheme
            ),
        ));
    }
    validate_description(req.description.as_deref())?;
    validate_ordering(&req.ordering)?;
    if let Some(headers) = &req.headers {
        check_headers(headers)?;
    }
    let rate_limit = validate_rate_limit(req.rate_limit_per_s, req.rate_limit_burst)?;
    if let Some(types) = &req.event_types {
        check_event_types(state, types, scope).await?;
    }
    if scope == Scope::Platform {
        let manager = events::is_manager(&state.pool, user_id)
            .await
            .map_err(|e| ApiError::internal("checking the role", &e))?;
        if !manager {
            return Err(platform_refused(user_id));
        }
    }
    let generated = generate_secret(&req.signature_scheme)?;
    let new = NewWebhook {
        user_id,
        url: &url,
        secret: Redacted(&generated.secret),
        signature_scheme: &req.signature_scheme,
        public_key: generated.public_key.as_deref(),
        event_types: req.event_types.as_deref(),
        description: req.description.as_deref(),
        scope,
        enabled: req.enabled,
        headers: req.headers.as_ref(),
        ordering: &req.ordering,
        rate_limit,
    };
    match webhooks::create(&state.pool, &state.secret_keys, &new).await {
        Ok(webhook) => Ok(Created {
            webhook,
            secret: generated.public_key.is_none().then_some(generated.secret),
        }),
        // The role was revoked between the check and the insert.
        Err(e) if is_scope_guard(&e) => Err(platform_refused(user_id)),
        Err(e) => Err(ApiError::internal("creating a webhook", &e)),
    }
}

pub async fn get(state: &ApiState, user_id: Uuid, id: Uuid) -> Result<Webhook, ApiError> {
    let webhook = webhooks::get_opt(&state.pool, user_id, id).await;
    found(webhook, "reading a webhook", "webhook")
}

pub async fn update(
    state: &ApiState,
    user_id: Uuid,
    id: Uuid,
    req: PatchWebhook,
) -> Result<Webhook, ApiError> {
    let mut changes = WebhookChanges::default();
    match req.url {
        None => {}
        Some(None) => return Err(ApiError::bad_request("url", "url cannot be null")),
        Some(Some(url)) => changes.url = Some(validate_url(&url, state.allow_http)?),
    }
    match req.enabled {
        None => {}
        Some(None) => return Err(ApiError::bad_request("enabled", "enabled cannot be null")),
        Some(Some(enabled)) => changes.enabled = Some(enabled),
    }
    match req.ordering {
        None => {}
        Some(None) => return Err(ApiError::bad_request("ordering", "ordering cannot be null")),
        Some(Some(ordering)) => {
            validate_ordering(&ordering)?;
            changes.ordering = Some(ordering);
        }
    }
    if let Some(description) = &req.description {
        validate_description(description.as_deref())?;
    }
    if let Some(headers) = req.headers {
        let headers = headers.unwrap_or_else(|| serde_json::json!({}));
        check_headers(&headers)?;
        changes.headers = Some(headers);
    }
    changes.description = req.description;
    let (per_s, burst) = (req.rate_limit_per_s, req.rate_limit_burst);
    rate_limit_changes(state, user_id, id, per_s, burst, &mut changes).await?;
    if let Some(Some(types)) = &req.event_types {
        // The scope never changes after creation, so checking against the current one holds.
        let current = get(state, user_id, id).await?;
        check_event_types(state, types, current.scope).await?;
    }
    changes.event_types = req.event_types;
    let updated = webhooks::update_opt(&state.pool, user_id, id, &changes).await;
    if let Err(e) = &updated {
        // Switching to fifo waits at most 5 s for transactions inserting events.
        if e.sqlstate().is_some_and(|c| c.code() == "HR030") {
            return Err(ApiError::conflict(
                e.db_message().unwrap_or("busy; try again"),
            ));
        }
    }
    found(updated, "updating a webhook", "webhook")
}

/// The rate limit's part of an update: a new rate is checked with the burst it will have (the
/// one sent, else the current one); a burst alone needs a rate already set.
async fn rate_limit_changes(
    state: &ApiState,
    user_id: Uuid,
    id: Uuid,
    per_s: Option<Option<f64>>,
    burst: Option<Option<i64>>,
    changes: &mut WebhookChanges,
) -> Result<(), ApiError> {
    let new_burst = burst.flatten();
    match per_s {
        Some(rate) => {
            validate_rate_limit(rate, new_burst.filter(|_| rate.is_some()))?;
            if rate.is_none() && new_burst.is_some() {
                return Err(ApiError::bad_request(
                    "rate_limit_burst",
                    "rate_limit_burst needs rate_limit_per_s, which this update removes",
                ));
            }
        }
        None if new_burst.is_some() => {
            let current = get(state, user_id, id).await?.rate_limit_per_s;
            validate_rate_limit(current, new_burst)?;
        }
        None => {}
    }
    changes.rate_limit_per_s = per_s;
    changes.rate_limit_burst = burst.map(|b| b.map(|b| b as i32));
    Ok(())
}

pub async fn delete(state: &ApiState, user_id: Uuid, id: Uuid) -> Result<(), ApiError> {
    let deleted = webhooks::delete(&state.pool, user_id, id)
        .await
        .map_err(|e| ApiError::internal("deleting a webhook", &e))?;
    if deleted {
        Ok(())
    } else {
        Err(ApiError::not_found("webhook"))
    }
}
