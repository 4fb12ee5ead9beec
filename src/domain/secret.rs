//! TEMPORARY stand-in (replaced by the http branch).

#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid webhook secret")]
pub struct SecretError;

impl WebhookSecret {
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        Ok(Self(s.as_bytes().to_vec()))
    }
}
