//! A webhook's signing secrets: rotation, and the pages `herald secrets reencrypt` reads and
//! writes back.

use std::{fmt, time::Duration};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{seal, Redacted};
use crate::domain::keyring::KeyRing;
use crate::store::{Pool, StoreError};

const ROTATE_SECRET: &str = include_str!("../queries/webhooks_rotate_secret.sql");
const SECRETS_PAGE: &str = include_str!("../queries/webhooks_secrets_page.sql");
const REPLACE_SECRETS: &str = include_str!("../queries/webhooks_replace_secrets.sql");

/// A new signing secret for [`rotate_secret_opt`].
#[derive(Debug)]
pub struct NewSecret<'a> {
    /// Plaintext (`whsec_...` or `whsk_...`); sealed here.
    pub secret: Redacted<&'a str>,
    /// The scheme it is for: a webhook of another scheme is not rotated.
    pub signature_scheme: &'a str,
    /// Its `whpk_...` for ed25519.
    pub public_key: Option<&'a str>,
}

/// Makes `new.secret` the signing secret; the old one keeps signing for `grace`. Returns when
/// the previous secret expires, or `None` when the user has no such webhook of that scheme.
pub async fn rotate_secret_opt(
    pool: &Pool,
    keys: &KeyRing,
    user_id: Uuid,
    id: Uuid,
    new: &NewSecret<'_>,
    grace: Duration,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let stored = seal(keys, new.secret.0, id)?;
    let client = pool.get().await?;
    let row = client
        .query_opt(
            ROTATE_SECRET,
            &[
                &user_id,
                &id,
                &Redacted(stored.as_str()),
                &grace.as_secs_f64(),
                &new.public_key,
                &new.signature_scheme,
            ],
        )
        .await?;
    row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
}

/// The stored secrets of one webhook, as [`secrets_page`] reads them for re-encryption.
pub struct StoredSecrets {
    pub id: Uuid,
    pub secret: String,
    pub previous_secret: Option<String>,
}

impl fmt::Debug for StoredSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecrets")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Up to `limit` webhooks' stored secrets after `after` (by id), for `herald secrets reencrypt`.
pub async fn secrets_page(
    pool: &Pool,
    after: Option<Uuid>,
    limit: usize,
) -> Result<Vec<StoredSecrets>, StoreError> {
    let client = pool.get().await?;
    client
        .query(SECRETS_PAGE, &[&after, &(limit as i64)])
        .await?
        .iter()
        .map(|r| {
            Ok(StoredSecrets {
                id: r.try_get("id")?,
                secret: r.try_get("secret")?,
                previous_secret: r.try_get("previous_secret")?,
            })
        })
        .collect()
}

/// Writes re-sealed secrets: each pair is (as read, as it should now be stored). A row whose
/// secrets changed since they were read (a rotation) is left alone; returns the ids written.
pub async fn replace_secrets_many(
    pool: &Pool,
    changes: &[(StoredSecrets, StoredSecrets)],
) -> Result<Vec<Uuid>, StoreError> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = changes.iter().map(|(old, _)| old.id).collect();
    let old_secrets: Vec<&str> = changes.iter().map(|(old, _)| old.secret.as_str()).collect();
    let secrets: Vec<&str> = changes.iter().map(|(_, new)| new.secret.as_str()).collect();
    let old_previous: Vec<Option<&str>> = changes
        .iter()
        .map(|(old, _)| old.previous_secret.as_deref())
        .collect();
    let previous: Vec<Option<&str>> = changes
        .iter()
        .map(|(_, new)| new.previous_secret.as_deref())
        .collect();
    let client = pool.get().await?;
    Ok(client
        .query(
            REPLACE_SECRETS,
            &[
                &ids,
                &Redacted(old_secrets),
                &Redacted(secrets),
                &Redacted(old_previous),
                &Redacted(previous),
            ],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}
