//! The signing secrets of claimed deliveries, opened once and kept.
//!
//! A claim returns each webhook's stored secret text: plaintext, or an envelope sealed with a
//! key of `HERALD_SECRET_KEYS`. Opening and parsing it costs a decryption and a base64 decode;
//! the result (or the reason it failed) is kept per webhook and stored text, so a delivery of
//! a known webhook only pays a map look-up. A rotation stores a new text, which is simply a
//! new entry; the oldest ones of a webhook are dropped past a few.

use std::{collections::HashMap, sync::Mutex};

use uuid::Uuid;

use crate::domain::{
    keyring::{envelope_key_id, KeyRing},
    secret::SigningSecret,
};

/// Webhooks kept before the map is emptied (then refilled as deliveries come).
const MAX_WEBHOOKS: usize = 16_384;
/// Stored texts kept per webhook (current and previous, plus one being rotated in).
const MAX_PER_WEBHOOK: usize = 3;

type Opened = Result<SigningSecret, String>;
/// Per webhook: each stored text seen, with what it opened to.
type Entries = Vec<(Box<str>, Opened)>;

pub struct Signers {
    keys: KeyRing,
    cache: Mutex<HashMap<Uuid, Entries>>,
}

impl Signers {
    pub fn new(keys: KeyRing) -> Self {
        Self {
            keys,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The signing secrets of webhook `webhook_id` from its stored texts (current first), or
    /// why they cannot sign, in words fit for the attempt log (never secret material).
    pub fn open(&self, webhook_id: Uuid, stored: &[&str]) -> Result<Vec<SigningSecret>, String> {
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cache.len() >= MAX_WEBHOOKS && !cache.contains_key(&webhook_id) {
            cache.clear();
        }
        let entries = cache.entry(webhook_id).or_default();
        let mut secrets = Vec::with_capacity(stored.len());
        for text in stored {
            let opened = match entries.iter().find(|(t, _)| **t == **text) {
                Some((_, opened)) => opened.clone(),
                None => {
                    let opened = self.open_one(webhook_id, text);
                    if entries.len() >= MAX_PER_WEBHOOK {
                        let _oldest = entries.remove(0);
                    }
                    entries.push(((*text).into(), opened.clone()));
                    opened
                }
            };
            secrets.push(opened?);
        }
        Ok(secrets)
    }

    fn open_one(&self, webhook_id: Uuid, stored: &str) -> Opened {
        let result = self
            .keys
            .open(stored, webhook_id)
            .map_err(|e| format!("the webhook's signing secret {e}"))
            .and_then(|plain| {
                SigningSecret::parse(&plain)
                    .map_err(|_| "the webhook's signing secret is malformed; rotate it".to_owned())
            });
        if let Err(reason) = &result {
            // Once per webhook and stored text: the attempts record it for every delivery.
            tracing::warn!(
                %webhook_id,
                key_id = envelope_key_id(stored).map(|k| k.to_string()),
                "cannot sign: {reason}"
            );
        }
        result
    }
}

impl std::fmt::Debug for Signers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signers")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}
