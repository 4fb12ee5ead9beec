//! `herald secrets reencrypt`: moves every stored webhook secret (current and previous, HMAC
//! secrets and ed25519 signing keys) to the current key of `HERALD_SECRET_KEYS`, online.
//!
//! It reads the webhooks in pages by id and writes each page back in one statement that only
//! touches rows still holding what was read, so a rotation at the same moment wins and that
//! row is read again on the next pass. Workers keep delivering throughout: an old key stays in
//! the list until the command reports that nothing uses it.

use uuid::Uuid;

use crate::{
    config::{env_var, ConfigError},
    domain::keyring::{KeyRing, OpenError},
    store::{
        self,
        webhooks::{self, StoredSecrets},
        Pool, StoreError,
    },
};

#[derive(Debug, clap::Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    command: SecretsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SecretsCommand {
    /// Re-encrypt every webhook secret with the first key of HERALD_SECRET_KEYS (plaintext
    /// secrets included), in batches, while Herald keeps running. Keep the older keys in the
    /// list until this reports success.
    Reencrypt {
        /// Webhooks read and written per statement.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..))]
        batch_size: u16,
    },
}

/// What a re-encryption did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReencryptReport {
    /// Webhooks whose stored secrets were rewritten.
    pub reencrypted: usize,
    /// Webhooks already sealed with the current key.
    pub current: usize,
    /// Webhooks whose secret could not be opened, and why (never secret material).
    pub failed: Vec<(Uuid, String)>,
}

/// Passes over the table before giving up on rows that keep changing under us.
const MAX_PASSES: usize = 3;

/// Re-seals every webhook's secrets with `keys`' current key.
pub async fn reencrypt(
    pool: &Pool,
    keys: &KeyRing,
    batch_size: usize,
) -> Result<ReencryptReport, StoreError> {
    let mut report = ReencryptReport::default();
    for pass in 0..MAX_PASSES {
        let mut conflicts = 0;
        report.failed.clear();
        let mut after = None;
        loop {
            let page = webhooks::secrets_page(pool, after, batch_size).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            let mut changes = Vec::new();
            for stored in page {
                match resealed(keys, &stored) {
                    Ok(Some(new)) => changes.push((stored, new)),
                    // Later passes see what the earlier ones wrote as current.
                    Ok(None) if pass == 0 => report.current += 1,
                    Ok(None) => {}
                    Err(e) => report
                        .failed
                        .push((stored.id, format!("its signing secret {e}"))),
                }
            }
            let written = webhooks::replace_secrets_many(pool, &changes).await?;
            report.reencrypted += written.len();
            conflicts += changes.len() - written.len();
        }
        if conflicts == 0 {
            break;
        }
    }
    Ok(report)
}

fn resealed(keys: &KeyRing, stored: &StoredSecrets) -> Result<Option<StoredSecrets>, OpenError> {
    let secret = keys.reseal(&stored.secret, stored.id)?;
    let previous = match &stored.previous_secret {
        Some(p) => keys.reseal(p, stored.id)?,
        None => None,
    };
    if secret.is_none() && previous.is_none() {
        return Ok(None);
    }
    Ok(Some(StoredSecrets {
        id: stored.id,
        secret: secret.unwrap_or_else(|| stored.secret.clone()),
        previous_secret: previous.or_else(|| stored.previous_secret.clone()),
    }))
}

pub fn run(args: SecretsArgs) -> anyhow::Result<()> {
    let SecretsCommand::Reencrypt { batch_size } = args.command;
    let url = crate::config::database_url()?;
    let keys = match env_var("HERALD_SECRET_KEYS")? {
        Some(v) => KeyRing::parse(&v).map_err(|e| ConfigError {
            var: "HERALD_SECRET_KEYS",
            reason: e.to_string(),
        })?,
        None => anyhow::bail!(
            "HERALD_SECRET_KEYS: not set; give the keys, the new current one first and every key \
             still in use after it"
        ),
    };
    crate::runtime::init_tracing(crate::config::LogFormat::Text, "info");
    let rt = crate::runtime::new()?;
    rt.block_on(async move {
        let pool = store::connect_pool(&url, 2)?;
        let report = reencrypt(&pool, &keys, usize::from(batch_size)).await?;
        let current = keys.current_id().map(|k| k.to_string()).unwrap_or_default();
        println!(
            "herald secrets reencrypt: {} webhooks re-encrypted with key {current}, {} already were",
            report.reencrypted, report.current
        );
        for (id, reason) in &report.failed {
            eprintln!("webhook {id}: {reason}");
        }
        anyhow::ensure!(
            report.failed.is_empty(),
            "{} webhooks could not be re-encrypted (see above); add the missing keys to \
             HERALD_SECRET_KEYS or rotate their secrets",
            report.failed.len()
        );
        Ok(())
    })
}
