//! TEMPORARY stand-in for the sender (replaced by the http branch): same public types.

use std::{path::PathBuf, time::Duration};

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::domain::secret::WebhookSecret;

#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub http_timeout: Duration,
    pub connect_timeout: Duration,
    pub allow_private_targets: bool,
    pub ca_file: Option<PathBuf>,
    pub max_response_excerpt: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("sender: {0}")]
pub struct SenderError(String);

#[derive(Clone, Debug)]
pub struct Sender;

#[derive(Debug, Clone)]
pub struct Outgoing {
    pub url: String,
    pub event_id: uuid::Uuid,
    pub body: Bytes,
    pub secrets: Vec<WebhookSecret>,
}

#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    pub retry_after: Option<Duration>,
    pub gone: bool,
}

impl AttemptOutcome {
    pub fn success(&self) -> bool {
        matches!(self.status_code, Some(200..=299))
    }
}

impl Sender {
    pub fn new(_cfg: &SenderConfig) -> Result<Sender, SenderError> {
        Ok(Sender)
    }

    pub async fn send(&self, _req: &Outgoing) -> AttemptOutcome {
        AttemptOutcome {
            started_at: Utc::now(),
            duration: Duration::ZERO,
            status_code: None,
            error: Some("not implemented".into()),
            response_excerpt: None,
            retry_after: None,
            gone: false,
        }
    }
}

impl AttemptOutcome {
    /// A failed attempt that never reached the network.
    pub fn not_sent(error: impl Into<String>) -> Self {
        Self {
            started_at: Utc::now(),
            duration: Duration::ZERO,
            status_code: None,
            error: Some(error.into()),
            response_excerpt: None,
            retry_after: None,
            gone: false,
        }
    }
}
