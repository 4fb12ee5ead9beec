//! Webhook signing secrets: `whsec_` + base64 (standard alphabet) of the key bytes.
//!
//! A [`WebhookSecret`] never prints itself: `Debug` and `Display` are redacted, so a secret
//! that ends up in a log line or an error message shows as `whsec_[redacted]`. The only way to
//! get the text back is [`WebhookSecret::expose`], which the store (to save it) and the admin
//! API (on create and rotate) call on purpose.

use std::{fmt, str::FromStr};

use base64::{engine::general_purpose::STANDARD, Engine};
use ring::rand::{SecureRandom, SystemRandom};

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
}
