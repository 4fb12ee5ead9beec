//! The sender: one signed POST per call, over a shared keep-alive pool.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::Utc;
use http::{header, HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::{TokioExecutor, TokioTimer},
};
use tokio::time::Instant;

use crate::{
    domain::{secret::SigningSecret, signature, target::TargetUrl},
    http::{
        guard::{GuardedConnector, GuardedResolver},
        outcome::{describe_error, human, parse_retry_after, Answered, AttemptOutcome},
        signing::Signers,
        tls, SenderConfig, SenderError,
    },
};

const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

type Connector = HttpsConnector<GuardedConnector>;

/// One delivery attempt to make.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub url: TargetUrl,
    /// Sent as `webhook-id`.
    pub event_id: uuid::Uuid,
    /// The exact bytes sent and signed.
    pub body: Bytes,
    /// Current first, then the previous one while a rotation is in grace.
    pub secrets: Vec<SigningSecret>,
    /// The webhook's custom headers (checked when written; Herald's own always win).
    pub headers: Vec<(String, String)>,
}

/// Sends signed webhooks. Cheap to clone: every clone shares one connection pool.
#[derive(Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client<Connector, Full<Bytes>>,
    cfg: SenderConfig,
    signers: Signers,
    /// See [`Sender::engine_only`].
    engine_only: bool,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("cfg", &self.inner.cfg)
            .finish()
    }
}

impl Sender {
    /// Builds the client. Fails only on a bad TLS setup (an unreadable or empty CA file).
    pub fn new(cfg: &SenderConfig) -> Result<Sender, SenderError> {
        Self::build(cfg, false)
    }

    /// A sender that sends nothing: every attempt is answered `204` at once, without
    /// resolving, connecting or signing. For measuring the engine alone (`herald run
    /// --bench-engine-only`, used by `herald bench drain`); never for real deliveries.
    pub fn engine_only(cfg: &SenderConfig) -> Result<Sender, SenderError> {
        Self::build(cfg, true)
    }

    fn build(cfg: &SenderConfig, engine_only: bool) -> Result<Sender, SenderError> {
        let tls = tls::client_config(cfg.ca_file.as_deref())?;
        let mut http =
            HttpConnector::new_with_resolver(GuardedResolver::new(cfg.allow_private_targets));
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(cfg.connect_timeout));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(GuardedConnector::new(http, cfg.allow_private_targets));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(cfg.max_idle_per_host.max(1))
            .build(connector);
        Ok(Sender {
            inner: Arc::new(Inner {
                client,
                signers: Signers::new(cfg.secret_keys.clone()),
                cfg: cfg.clone(),
                engine_only,
            }),
        })
    }

    pub fn config(&self) -> &SenderConfig {
        &self.inner.cfg
    }

    /// The signing secrets of a webhook from the texts a claim returned (current first),
    /// decrypted and parsed once per webhook and text; or why they cannot sign, in words for
    /// the attempt log.
    pub fn signing_secrets(
        &self,
        webhook_id: uuid::Uuid,
        stored: &[&str],
    ) -> Result<Vec<SigningSecret>, String> {
        self.inner.signers.open(webhook_id, stored)
    }

    /// Makes one attempt. Never fails: whatever happens is described by the outcome.
    pub async fn send(&self, req: &Outgoing) -> AttemptOutcome {
        // Decided here, where the request is made: a URL written straight into the table is
        // held to HERALD_ALLOW_HTTP like one saved through the API.
        if !req.url.is_https() && !self.inner.cfg.allow_http {
            return AttemptOutcome::not_sent(
                "not sent: plain http:// targets are not allowed (set HERALD_ALLOW_HTTP=true, \
                 or use an https:// URL)",
            );
        }
        let started_at = Utc::now();
        let start = Instant::now();
        if self.inner.engine_only {
            let answered = Answered {
                status: 204,
                reason: Some("No Content"),
                ..Answered::default()
            };
            return AttemptOutcome::answered(started_at, start.elapsed(), answered);
        }
        let result = self.attempt(req, started_at.timestamp(), start).await;
        let duration = start.elapsed();
        match result {
            Ok(answered) => AttemptOutcome::answered(started_at, duration, answered),
            Err(error) => AttemptOutcome::failed(started_at, duration, error),
        }
    }

    async fn attempt(
        &self,
        req: &Outgoing,
        timestamp: i64,
        start: Instant,
    ) -> Result<Answered, String> {
        let cfg = &self.inner.cfg;
        if req.secrets.is_empty() {
            return Err("no signing secret".to_owned());
        }
        let msg_id = req.event_id.to_string();
        let signature = signature::header(&req.secrets, &msg_id, timestamp, &req.body);
        let mut request = Request::post(req.url.uri().clone());
        for (name, value) in &req.headers {
            if crate::domain::headers::check(name, value).is_ok() {
                request = request.header(name.as_str(), value.as_str());
            }
        }
        let request = request
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, crate::USER_AGENT)
            .header("webhook-id", msg_id.as_str())
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(Full::new(req.body.clone()))
            .map_err(|e| format!("could not build the request: {e}"))?;

        let deadline = start + cfg.http_timeout;
        let response =
            match tokio::time::timeout_at(deadline, self.inner.client.request(request)).await {
                Err(_) => return Err(format!("timed out after {}", human(cfg.http_timeout))),
                Ok(Err(e)) => return Err(describe_error(&e, e.is_connect(), cfg.connect_timeout)),
                Ok(Ok(response)) => response,
            };
        let (parts, body) = response.into_parts();
        let excerpt = read_excerpt(body, cfg.max_response_excerpt, deadline).await;
        Ok(Answered {
            status: parts.status.as_u16(),
            reason: parts.status.canonical_reason(),
            location: header_text(&parts.headers, header::LOCATION),
            retry_after: header_text(&parts.headers, header::RETRY_AFTER)
                .and_then(|v| parse_retry_after(&v, Utc::now())),
            excerpt,
        })
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Reads at most `cap` bytes of the body, until `deadline`, then drops the rest (closing the
/// connection if the body was not finished). A body that ends within the cap leaves the
/// connection reusable.
async fn read_excerpt(mut body: Incoming, cap: usize, deadline: Instant) -> Option<String> {
    let mut buf: Vec<u8> = Vec::new();
    while buf.len() < cap {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    let take = data.len().min(cap - buf.len());
                    buf.extend_from_slice(&data[..take]);
                }
            }
            // End of body, a broken body or the total timeout: keep what arrived.
            Ok(None) | Ok(Some(Err(_))) | Err(_) => break,
        }
    }
    if buf.is_empty() {
        return None;
    }
    // Do not end on half a UTF-8 character cut by the cap.
    if let Err(e) = std::str::from_utf8(&buf) {
        if e.error_len().is_none() {
            buf.truncate(e.valid_up_to());
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}
