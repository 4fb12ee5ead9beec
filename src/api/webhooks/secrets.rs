//! Rotating a webhook's signing secret: a new one signs at once, the previous one keeps
//! signing for a grace period.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{generate_secret, get};
use crate::api::{
    error::{found, ApiError},
    ApiState,
};
use crate::store::webhooks::{self, NewSecret, Redacted};

/// Default grace period of a secret rotation, during which the previous secret still signs.
pub const DEFAULT_ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);
/// Longest grace period accepted.
pub const MAX_ROTATION_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    #[serde(default)]
    pub grace_seconds: Option<u64>,
}

/// A rotated secret (an hmac secret shown this once, or an ed25519 public key) and when the
/// previous one stops signing.
#[derive(Debug, Serialize)]
pub struct Rotated {
    pub id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

pub async fn rotate_secret(
    state: &ApiState,
    user_id: Uuid,
    id: Uuid,
    req: RotateSecret,
) -> Result<Rotated, ApiError> {
    let grace = req
        .grace_seconds
        .map_or(DEFAULT_ROTATION_GRACE, Duration::from_secs);
    if grace > MAX_ROTATION_GRACE {
        return Err(ApiError::bad_request(
            "grace_seconds",
            format!("at most {} seconds (30 days)", MAX_ROTATION_GRACE.as_secs()),
        ));
    }
    let scheme = get(state, user_id, id).await?.signature_scheme;
    let generated = generate_secret(&scheme)?;
    let new = NewSecret {
        secret: Redacted(&generated.secret),
        signature_scheme: &scheme,
        public_key: generated.public_key.as_deref(),
    };
    let rotated =
        webhooks::rotate_secret_opt(&state.pool, &state.secret_keys, user_id, id, &new, grace)
            .await;
    let expires = found(rotated, "rotating a secret", "webhook")?;
    Ok(Rotated {
        id,
        secret: generated.public_key.is_none().then_some(generated.secret),
        public_key: generated.public_key,
        previous_secret_expires_at: Some(expires),
    })
}
