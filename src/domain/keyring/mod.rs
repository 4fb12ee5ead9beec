//! Encryption of webhook secrets at rest (`HERALD_SECRET_KEYS`).
//!
//! The key ring is a list of 32-byte keys, the first one current. A stored secret is either
//! plaintext (`whsec_...`, `whsk_...`: no keys configured, or written before they were) or an
//! envelope in the same text column:
//!
//! ```text
//! herald-aead:v1:<key id>:<base64 of nonce (12 bytes) || AES-256-GCM ciphertext || tag>
//! ```
//!
//! The key id is the first 4 bytes of a SHA-256 of the key, in hex: stable however the list is
//! reordered, and it says nothing about the key. The additional authenticated data binds the
//! ciphertext to its webhook's id, so an envelope copied to another webhook's row does not
//! decrypt. Sealing uses a fresh random nonce each time.

use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine};
use ring::{
    aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN},
    digest,
    rand::{SecureRandom, SystemRandom},
};
use uuid::Uuid;

/// Length of each key, in bytes.
pub const KEY_LEN: usize = 32;

/// How every envelope starts; a stored secret that does not is plaintext.
pub const ENVELOPE_PREFIX: &str = "herald-aead:v1:";

const AAD_CONTEXT: &[u8] = b"herald webhook secret v1\0";
const KEY_ID_CONTEXT: &[u8] = b"herald secret key id\0";

/// Names a key without revealing it: 8 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 4]);

impl KeyId {
    fn of(key: &[u8; KEY_LEN]) -> KeyId {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(KEY_ID_CONTEXT);
        ctx.update(key);
        let d = ctx.finish();
        let mut id = [0u8; 4];
        id.copy_from_slice(&d.as_ref()[..4]);
        KeyId(id)
    }

    fn parse(s: &str) -> Option<KeyId> {
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut id = [0u8; 4];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(KeyId(id))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The configured keys, current first. Empty: secrets are stored as plaintext.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    keys: Vec<(KeyId, [u8; KEY_LEN])>,
}

/// Why `HERALD_SECRET_KEYS` was refused. Never shows key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("key {position} is empty (give comma-separated base64 keys, no empty entries)")]
    Empty { position: usize },
    #[error("key {position} is not valid base64")]
    NotBase64 { position: usize },
    #[error("key {position} is {len} bytes; each key must be {KEY_LEN} bytes (e.g. `openssl rand -base64 32`)")]
    BadLength { position: usize, len: usize },
    #[error("key {position} is listed twice (key id {id})")]
    Duplicate { position: usize, id: String },
}

/// Why a stored secret could not be turned back into plaintext. Never shows secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("is encrypted (key {key_id}) but HERALD_SECRET_KEYS is not set")]
    NoKeys { key_id: String },
    #[error("is encrypted with key {key_id}, which is not in HERALD_SECRET_KEYS")]
    UnknownKey { key_id: String },
    #[error(
        "does not decrypt with key {key_id}: the ciphertext was altered or belongs to another webhook"
    )]
    Undecryptable { key_id: String },
    #[error("is not a well-formed encrypted secret")]
    Malformed,
    #[error("could not be encrypted again: the system random number generator failed")]
    Random,
}

/// Why a secret could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct SealError;

impl KeyRing {
    /// No keys: plaintext storage.
    pub fn none() -> KeyRing {
        KeyRing::default()
    }

    /// Parses `HERALD_SECRET_KEYS`: comma-separated standard base64 of 32-byte keys, the first
    /// one current. Positions in errors count from 1.
    pub fn parse(s: &str) -> Result<KeyRing, KeyRingError> {
        let mut keys: Vec<(KeyId, [u8; KEY_LEN])> = Vec::new();
        for (i, item) in s.split(',').enumerate() {
            let position = i + 1;
            let item = item.trim();
            if item.is_empty() {
                return Err(KeyRingError::Empty { position });
            }
            let bytes = STANDARD
                .decode(item)
                .map_err(|_| KeyRingError::NotBase64 { position })?;
            let key: [u8; KEY_LEN] =
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| KeyRingError::BadLength {
                        position,
                        len: bytes.len(),
                    })?;
            let id = KeyId::of(&key);
            if keys.iter().any(|(k, _)| *k == id) {
                return Err(KeyRingError::Duplicate {
                    position,
                    id: id.to_string(),
                });
            }
            keys.push((id, key));
        }
        Ok(KeyRing { keys })
    }

    /// Builds a ring from raw keys, current first (for tests and tools).
    pub fn from_keys(keys: &[[u8; KEY_LEN]]) -> KeyRing {
        KeyRing {
            keys: keys.iter().map(|k| (KeyId::of(k), *k)).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key new secrets are sealed with.
    pub fn current_id(&self) -> Option<KeyId> {
        self.keys.first().map(|(id, _)| *id)
    }

    /// Every key id, current first.
    pub fn ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|(id, _)| *id).collect()
    }

    /// The text to store for `plaintext`, the secret of webhook `webhook_id`: an envelope
    /// sealed with the current key, or the plaintext itself when there are no keys.
    pub fn seal(&self, plaintext: &str, webhook_id: Uuid) -> Result<String, SealError> {
        let Some((id, key)) = self.keys.first() else {
            return Ok(plaintext.to_owned());
        };
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError)?;
        let mut buf = plaintext.as_bytes().to_vec();
        aead_key(key)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(webhook_id)),
                &mut buf,
            )
            .map_err(|_| SealError)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + buf.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&buf);
        Ok(format!("{ENVELOPE_PREFIX}{id}:{}", STANDARD.encode(sealed)))
    }

    /// The plaintext of a stored secret of webhook `webhook_id`. Plaintext comes back as it is.
    pub fn open(&self, stored: &str, webhook_id: Uuid) -> Result<String, OpenError> {
        let Some((key_id, sealed)) = parse_envelope(stored)? else {
            return Ok(stored.to_owned());
        };
        if self.keys.is_empty() {
            return Err(OpenError::NoKeys {
                key_id: key_id.to_string(),
            });
        }
        let Some((_, key)) = self.keys.iter().find(|(id, _)| *id == key_id) else {
            return Err(OpenError::UnknownKey {
                key_id: key_id.to_string(),
            });
        };
        if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(OpenError::Malformed);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Malformed)?;
        let mut buf = ciphertext.to_vec();
        let plain = aead_key(key)
            .open_in_place(nonce, Aad::from(aad(webhook_id)), &mut buf)
            .map_err(|_| OpenError::Undecryptable {
                key_id: key_id.to_string(),
            })?;
        String::from_utf8(plain.to_vec()).map_err(|_| OpenError::Malformed)
    }

    /// What `stored` (a secret of webhook `webhook_id`) should become so that it is sealed
    /// with the current key: `None` when it already is.
    pub fn reseal(&self, stored: &str, webhook_id: Uuid) -> Result<Option<String>, OpenError> {
        if self.is_current(stored) {
            return Ok(None);
        }
        let plain = self.open(stored, webhook_id)?;
        self.seal(&plain, webhook_id)
            .map(Some)
            .map_err(|_| OpenError::Random)
    }

    /// True when `stored` is already sealed with the current key (or, without keys, is
    /// plaintext): `herald secrets reencrypt` leaves it alone.
    pub fn is_current(&self, stored: &str) -> bool {
        match (envelope_key_id(stored), self.current_id()) {
            (None, None) => true,
            (Some(id), Some(current)) => id == current,
            _ => false,
        }
    }
}

/// The key id of an envelope; `None` for plaintext or a malformed envelope.
pub fn envelope_key_id(stored: &str) -> Option<KeyId> {
    parse_envelope(stored).ok().flatten().map(|(id, _)| id)
}

/// True when `stored` is an envelope rather than plaintext.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(ENVELOPE_PREFIX)
}

fn parse_envelope(stored: &str) -> Result<Option<(KeyId, Vec<u8>)>, OpenError> {
    let Some(rest) = stored.strip_prefix(ENVELOPE_PREFIX) else {
        return Ok(None);
    };
    let (id, body) = rest.split_once(':').ok_or(OpenError::Malformed)?;
    let id = KeyId::parse(id).ok_or(OpenError::Malformed)?;
    let sealed = STANDARD.decode(body).map_err(|_| OpenError::Malformed)?;
    Ok(Some((id, sealed)))
}

fn aead_key(key: &[u8; KEY_LEN]) -> LessSafeKey {
    // A 32-byte key is always accepted by AES-256-GCM.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("AES-256-GCM takes 32-byte keys"))
}

fn aad(webhook_id: Uuid) -> [u8; AAD_CONTEXT.len() + 16] {
    let mut aad = [0u8; AAD_CONTEXT.len() + 16];
    aad[..AAD_CONTEXT.len()].copy_from_slice(AAD_CONTEXT);
    aad[AAD_CONTEXT.len()..].copy_from_slice(webhook_id.as_bytes());
    aad
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing").field("ids", &self.ids()).finish()
    }
}

#[cfg(test)]
mod tests;
