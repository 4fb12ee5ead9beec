//! Webhook signing secrets: `whsec_` + base64 (standard alphabet) of the key bytes for the
//! HMAC scheme, and `whsk_` + base64 of a 32-byte ed25519 seed for the asymmetric one (whose
//! public key is shown as `whpk_` + base64 of its 32 bytes).
//!
//! A [`WebhookSecret`] or an [`Ed25519Secret`] never prints itself: `Debug` and `Display` are redacted, so a secret
//! that ends up in a log line or an error message shows as `whsec_[redacted]`. The only way to
//! get the text back is [`WebhookSecret::expose`], which the store (to save it) and the admin
//! API (on create and rotate) call on purpose.

use std::{fmt, str::FromStr};

use std::sync::Arc;

use base64::{engine::general_purpose::STANDARD, Engine};
use ring::{
    rand::{SecureRandom, SystemRandom},
    signature::{Ed25519KeyPair, KeyPair},
};

/// The prefix of every secret Herald writes. Parsing accepts secrets with or without it, like
/// the Standard Webhooks libraries do.
pub const SECRET_PREFIX: &str = "whsec_";

/// Key length of generated secrets, in bytes.
pub const GENERATED_KEY_LEN: usize = 32;

/// Accepted key lengths when parsing (Standard Webhooks libraries accept 24 to 64 bytes; the
/// reference test vector's key is 24 bytes).
pub const MIN_KEY_LEN: usize = 24;
pub const MAX_KEY_LEN: usize = 64;

#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the secret is empty")]
    Empty,
    #[error("the secret is not valid base64 (expected \"whsec_\" followed by standard base64)")]
    NotBase64,
    #[error("the secret's key is {len} bytes; it must be {MIN_KEY_LEN} to {MAX_KEY_LEN} bytes")]
    BadLength { len: usize },
    #[error("the system random number generator failed")]
    Random,
    #[error("the ed25519 signing key is not valid (expected \"whsk_\" followed by base64 of 32 or 64 bytes)")]
    BadSigningKey,
}

impl WebhookSecret {
    /// A fresh secret: 32 bytes from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, SecretError> {
        let mut key = vec![0u8; GENERATED_KEY_LEN];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| SecretError::Random)?;
        Ok(Self { key })
    }

    /// Parses `whsec_<base64>` or bare `<base64>` (surrounding whitespace is ignored).
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let s = s.trim();
        let encoded = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        Self::from_key_bytes(key)
    }

    /// Wraps raw key bytes (for tests and callers that keep keys in binary form).
    pub fn from_key_bytes(key: Vec<u8>) -> Result<Self, SecretError> {
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&key.len()) {
            return Err(SecretError::BadLength { len: key.len() });
        }
        Ok(Self { key })
    }

    /// The HMAC key.
    pub fn key_bytes(&self) -> &[u8] {
        &self.key
    }

    /// The secret's text, `whsec_` + base64. Only for storing it and for showing it once to
    /// its owner; never log it.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }
}

impl FromStr for WebhookSecret {
    type Err = SecretError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(whsec_[redacted])")
    }
}

impl fmt::Display for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("whsec_[redacted]")
    }
}

/// The prefix of an ed25519 signing (private) key.
pub const SIGNING_KEY_PREFIX: &str = "whsk_";
/// The prefix of an ed25519 public key, as shown to receivers.
pub const PUBLIC_KEY_PREFIX: &str = "whpk_";

/// An ed25519 signing key (`whsk_` + base64 of the 32-byte seed). Parsing also accepts the
/// 64-byte form (seed followed by the public key) that libsodium writes, if both halves agree.
pub struct Ed25519Secret {
    seed: [u8; 32],
    pair: Ed25519KeyPair,
}

impl Ed25519Secret {
    /// A fresh key pair from the operating system's CSPRNG (ring's Ed25519).
    pub fn generate() -> Result<Self, SecretError> {
        let mut seed = [0u8; 32];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| SecretError::Random)?;
        Self::from_seed(seed)
    }

    fn from_seed(seed: [u8; 32]) -> Result<Self, SecretError> {
        let pair =
            Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| SecretError::BadSigningKey)?;
        Ok(Self { seed, pair })
    }

    /// Parses `whsk_<base64>`.
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let encoded = s
            .trim()
            .strip_prefix(SIGNING_KEY_PREFIX)
            .ok_or(SecretError::BadSigningKey)?;
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        match bytes.len() {
            32 | 64 => {
                let mut seed = [0u8; 32];
                seed.copy_from_slice(&bytes[..32]);
                let key = Self::from_seed(seed)?;
                if bytes.len() == 64 && bytes[32..] != *key.public_key_bytes() {
                    return Err(SecretError::BadSigningKey);
                }
                Ok(key)
            }
            _ => Err(SecretError::BadSigningKey),
        }
    }

    /// The key pair that signs.
    pub fn key_pair(&self) -> &Ed25519KeyPair {
        &self.pair
    }

    pub fn public_key_bytes(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// `whpk_` + base64 of the public key: what receivers verify with. Not secret.
    pub fn public_key(&self) -> String {
        format!(
            "{PUBLIC_KEY_PREFIX}{}",
            STANDARD.encode(self.public_key_bytes())
        )
    }

    /// The signing key's text, `whsk_` + base64 of the seed. Only for storing it; never log it.
    pub fn expose(&self) -> String {
        format!("{SIGNING_KEY_PREFIX}{}", STANDARD.encode(self.seed))
    }
}

impl fmt::Debug for Ed25519Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519Secret(whsk_[redacted], {})", self.public_key())
    }
}

/// A stored signing secret of either scheme, told apart by its prefix: `whsk_` is ed25519,
/// anything else (`whsec_` or bare base64) HMAC. Cheap to clone.
#[derive(Clone)]
pub enum SigningSecret {
    Hmac(WebhookSecret),
    Ed25519(Arc<Ed25519Secret>),
}

impl SigningSecret {
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        if s.trim_start().starts_with(SIGNING_KEY_PREFIX) {
            Ed25519Secret::parse(s).map(|k| Self::Ed25519(Arc::new(k)))
        } else {
            WebhookSecret::parse(s).map(Self::Hmac)
        }
    }
}

impl From<WebhookSecret> for SigningSecret {
    fn from(s: WebhookSecret) -> Self {
        Self::Hmac(s)
    }
}

impl From<Ed25519Secret> for SigningSecret {
    fn from(s: Ed25519Secret) -> Self {
        Self::Ed25519(Arc::new(s))
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hmac(s) => fmt::Debug::fmt(s, f),
            Self::Ed25519(k) => fmt::Debug::fmt(k, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn generate_gives_prefixed_base64_of_32_bytes() {
        let secret = WebhookSecret::generate().expect("rng works");
        let text = secret.expose();
        let encoded = text.strip_prefix("whsec_").expect("prefixed");
        assert_eq!(STANDARD.decode(encoded).expect("base64").len(), 32);
        assert_eq!(secret.key_bytes().len(), 32);
    }

    #[test]
    fn generate_gives_different_secrets_each_time() {
        let a = WebhookSecret::generate().expect("rng works");
        let b = WebhookSecret::generate().expect("rng works");
        assert_ne!(a, b);
    }

    #[test]
    fn parse_round_trips_through_expose() {
        let secret = WebhookSecret::generate().expect("rng works");
        assert_eq!(WebhookSecret::parse(&secret.expose()), Ok(secret));
    }

    #[test]
    fn parse_accepts_the_standard_vector_with_and_without_prefix() {
        let with = WebhookSecret::parse(VECTOR).expect("vector parses");
        let without = WebhookSecret::parse(&VECTOR["whsec_".len()..]).expect("bare parses");
        assert_eq!(with, without);
        assert_eq!(with.key_bytes().len(), 24);
        assert_eq!(with.expose(), VECTOR);
    }

    #[test]
    fn parse_refuses_empty_bad_base64_and_bad_lengths() {
        assert_eq!(WebhookSecret::parse(""), Err(SecretError::Empty));
        assert_eq!(WebhookSecret::parse("whsec_"), Err(SecretError::Empty));
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!"),
            Err(SecretError::NotBase64)
        );
        assert_eq!(
            WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([7u8; 8]))),
            Err(SecretError::BadLength { len: 8 })
        );
        assert_eq!(
            WebhookSecret::parse(&STANDARD.encode([7u8; 65])),
            Err(SecretError::BadLength { len: 65 })
        );
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let secret = WebhookSecret::parse(VECTOR).expect("vector parses");
        for shown in [format!("{secret}"), format!("{secret:?}")] {
            assert!(!shown.contains("MfKQ9r8"), "{shown} leaks the secret");
            assert!(shown.contains("redacted"));
        }
    }

    #[test]
    fn parse_errors_never_echo_the_input() {
        let err = WebhookSecret::parse("whsec_secret-material!").expect_err("bad base64");
        assert!(!err.to_string().contains("secret-material"));
    }

    #[test]
    fn ed25519_secret_round_trips_and_shows_only_the_public_key() {
        let key = Ed25519Secret::generate().expect("rng");
        let text = key.expose();
        assert!(text.starts_with("whsk_"));
        let parsed = Ed25519Secret::parse(&text).expect("parses");
        assert_eq!(parsed.public_key(), key.public_key());
        assert!(key.public_key().starts_with("whpk_"));
        assert_eq!(
            STANDARD.decode(&key.public_key()[5..]).expect("b64").len(),
            32
        );
        let shown = format!("{key:?}");
        assert!(!shown.contains(&text[5..]), "{shown}");
    }

    #[test]
    fn ed25519_secret_accepts_the_64_byte_form_only_when_halves_agree() {
        let key = Ed25519Secret::generate().expect("rng");
        let seed = STANDARD.decode(&key.expose()[5..]).expect("b64");
        let mut long = seed.clone();
        long.extend_from_slice(key.public_key_bytes());
        let parsed = Ed25519Secret::parse(&format!("whsk_{}", STANDARD.encode(&long)))
            .expect("64-byte form");
        assert_eq!(parsed.public_key(), key.public_key());
        long[40] ^= 1;
        assert!(Ed25519Secret::parse(&format!("whsk_{}", STANDARD.encode(&long))).is_err());
        assert!(Ed25519Secret::parse("whsk_AAAA").is_err());
        assert!(Ed25519Secret::parse("whsec_AAAA").is_err());
    }

    #[test]
    fn signing_secret_tells_the_schemes_apart_by_prefix() {
        let ed = Ed25519Secret::generate().expect("rng");
        assert!(matches!(
            SigningSecret::parse(&ed.expose()),
            Ok(SigningSecret::Ed25519(_))
        ));
        assert!(matches!(
            SigningSecret::parse(VECTOR),
            Ok(SigningSecret::Hmac(_))
        ));
        assert!(SigningSecret::parse("whsk_nope!").is_err());
    }
}
