//! A webhook receiver on a real loopback socket: a hyper 1 server on `127.0.0.1:0` with one
//! endpoint per path, each answering by its [`Behaviour`] and verifying every request's
//! Standard Webhooks signature with the secret registered for it.
//!
//! It counts what it sees (requests, signatures passed and failed, attempts per `webhook-id`)
//! and records, per endpoint and event id, when the first request and the first request it
//! answered with 2xx arrived, so that callers can compute end-to-end latency against the
//! instants at which they committed the events.
//!
//! ```ignore
//! let receiver = Receiver::start().await?;
//! receiver.add_endpoint("/flaky", Behaviour::Flaky { failures: 2, status: 500 });
//! receiver.set_secret("/flaky", secret);
//! // ... point a webhook at receiver.url("/flaky") ...
//! let stats = receiver.stats();
//! ```
//!
//! The server stops (and drops its connections) when the [`Receiver`] is dropped.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, service::service_fn};
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::{
    domain::{secret::WebhookSecret, signature},
    http::server::{listen_loopback, serve_http1_until_dropped},
};

/// How far a `webhook-timestamp` may be from the receiver's clock (the Standard Webhooks
/// libraries' default tolerance).
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// How an endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// `204 No Content` at once.
    Healthy,
    /// `status` for the first `failures` requests of each `webhook-id`, then 204.
    Flaky { failures: u32, status: u16 },
    /// Always `status`.
    Dead { status: u16 },
}

impl Behaviour {
    fn status(self, attempt: u32) -> u16 {
        match self {
            Behaviour::Healthy => 204,
            Behaviour::Flaky { failures, status } if attempt <= failures => status,
            Behaviour::Flaky { .. } => 204,
            Behaviour::Dead { status } => status,
        }
    }
}

/// What one endpoint has seen so far.
#[derive(Debug, Clone, Default)]
pub struct EndpointStats {
    pub requests: u64,
    /// Requests answered with 2xx.
    pub answered_ok: u64,
    pub signatures_passed: u64,
    pub signatures_failed: u64,
    /// Requests per `webhook-id` (the event id): more than one means retries or duplicates.
    pub attempts_by_id: HashMap<String, u32>,
    /// When the first request of each event arrived.
    pub first_receipt: HashMap<Uuid, Instant>,
    /// When the first request of each event that was answered with 2xx arrived.
    pub first_success: HashMap<Uuid, Instant>,
}

/// A snapshot of everything the receiver has seen.
#[derive(Debug, Clone, Default)]
pub struct ReceiverStats {
    pub endpoints: HashMap<String, EndpointStats>,
    /// Requests to paths with no endpoint (answered 404).
    pub unknown_path_requests: u64,
}

impl ReceiverStats {
    pub fn signatures_passed(&self) -> u64 {
        self.endpoints.values().map(|e| e.signatures_passed).sum()
    }

    pub fn signatures_failed(&self) -> u64 {
        self.endpoints.values().map(|e| e.signatures_failed).sum()
    }

    pub fn requests(&self) -> u64 {
        self.endpoints.values().map(|e| e.requests).sum::<u64>() + self.unknown_path_requests
    }
}

struct Endpoint {
    behaviour: Behaviour,
    secret: Option<WebhookSecret>,
    stats: EndpointStats,
}

#[derive(Default)]
struct State {
    endpoints: HashMap<String, Endpoint>,
    unknown_path_requests: u64,
}

impl State {
    /// The endpoint at `path`, added healthy and without a secret if there is none.
    fn endpoint(&mut self, path: &str) -> &mut Endpoint {
        self.endpoints
            .entry(path.to_owned())
            .or_insert_with(|| Endpoint {
                behaviour: Behaviour::Healthy,
                secret: None,
                stats: EndpointStats::default(),
            })
    }
}

/// A running receiver. See the module documentation.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Binds `127.0.0.1:0` and starts serving.
    pub async fn start() -> std::io::Result<Receiver> {
        let listener = listen_loopback()?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let task = tokio::spawn(serve(listener, Arc::clone(&state)));
        Ok(Receiver { addr, state, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Adds (or replaces) the endpoint at `path` (e.g. `/healthy`), keeping its secret.
    pub fn add_endpoint(&self, path: &str, behaviour: Behaviour) {
        lock(&self.state).endpoint(path).behaviour = behaviour;
    }

    /// The secret that signs requests to `path`. Until one is set, every request to the path
    /// fails its signature check. Adds a healthy endpoint if there is none.
    pub fn set_secret(&self, path: &str, secret: WebhookSecret) {
        lock(&self.state).endpoint(path).secret = Some(secret);
    }

    pub fn stats(&self) -> ReceiverStats {
        let state = lock(&self.state);
        ReceiverStats {
            endpoints: state
                .endpoints
                .iter()
                .map(|(path, e)| (path.clone(), e.stats.clone()))
                .collect(),
            unknown_path_requests: state.unknown_path_requests,
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The state is only counters and maps: a panic elsewhere cannot leave it half-updated in a
/// way that matters, so a poisoned lock is used as is.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Serves until the [`Receiver`] aborts it, which drops every connection.
async fn serve(listener: TcpListener, state: Arc<Mutex<State>>) {
    serve_http1_until_dropped("demo receiver", listener, move || {
        let state = Arc::clone(&state);
        service_fn(move |req| handle(req, Arc::clone(&state)))
    })
    .await
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else {
        return Ok(empty(StatusCode::BAD_REQUEST));
    };
    let received_at = Instant::now();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let webhook_id = header("webhook-id").unwrap_or_default().to_owned();
    let timestamp = header("webhook-timestamp").and_then(|t| t.parse::<i64>().ok());
    let signature_header = header("webhook-signature");

    let mut state = lock(&state);
    let Some(endpoint) = state.endpoints.get_mut(parts.uri.path()) else {
        state.unknown_path_requests += 1;
        return Ok(empty(StatusCode::NOT_FOUND));
    };
    let verified = match (&endpoint.secret, signature_header, timestamp) {
        (Some(secret), Some(sig), Some(ts)) => {
            fresh(ts) && signature::verify(sig, secret, &webhook_id, ts, &body)
        }
        _ => false,
    };
    let stats = &mut endpoint.stats;
    stats.requests += 1;
    if verified {
        stats.signatures_passed += 1;
    } else {
        stats.signatures_failed += 1;
    }
    let attempt = stats.attempts_by_id.entry(webhook_id.clone()).or_insert(0);
    *attempt += 1;
    let status = endpoint.behaviour.status(*attempt);
    if let Ok(event_id) = webhook_id.parse::<Uuid>() {
        stats.first_receipt.entry(event_id).or_insert(received_at);
        if (200..300).contains(&status) {
            stats.first_success.entry(event_id).or_insert(received_at);
        }
    }
    if (200..300).contains(&status) {
        stats.answered_ok += 1;
    }
    drop(state);
    Ok(empty(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    ))
}

/// True when `timestamp` (Unix seconds) is within [`TIMESTAMP_TOLERANCE`] of now.
fn fresh(timestamp: i64) -> bool {
    let now = chrono::Utc::now().timestamp();
    now.abs_diff(timestamp) <= TIMESTAMP_TOLERANCE.as_secs()
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_flaky_fails_the_first_attempts_of_each_message() {
        let flaky = Behaviour::Flaky {
            failures: 2,
            status: 500,
        };
        assert_eq!([1, 2, 3, 4].map(|n| flaky.status(n)), [500, 500, 204, 204]);
        assert_eq!(Behaviour::Dead { status: 502 }.status(9), 502);
        assert_eq!(Behaviour::Healthy.status(1), 204);
    }
}
