//! Webhook receivers for tests, all on real loopback sockets.
//!
//! - [`TestReceiver`]: a hyper server on `127.0.0.1:0` that records every request and answers
//!   from a script: 204 by default, or per route a fixed [`Reply`], a sequence of replies, or a
//!   sequence per `webhook-id` (a flaky endpoint that fails each message n times). Replies can
//!   carry headers, a body, a delay, or hang forever. [`TestReceiver::start_tls`] serves HTTPS
//!   with a certificate from a [`TestCa`].
//! - [`HostileServer`]: raw TCP servers that misbehave below HTTP (never answer, endless body,
//!   connection reset, garbage).
//!
//! ```ignore
//! let receiver = TestReceiver::start().await;
//! receiver.set_behaviour("/flaky", Behaviour::fail_first_per_id(2, 503));
//! // ... point a webhook at receiver.url("/flaky") ...
//! let requests = receiver.wait_for_count(3, Duration::from_secs(5)).await;
//! assert!(requests[0].verify(&secret));
//! ```
//!
//! Receivers stop (and drop their connections) when dropped.
#![allow(dead_code)]

mod hostile;
mod script;
mod tls;

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use herald::{
    domain::{secret::WebhookSecret, signature},
    http::server::{accept_loop, serve_http1},
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::watch, time::Instant};
use tokio_rustls::TlsAcceptor;
use tokio_util::{sync::CancellationToken, task::AbortOnDropHandle};

pub use hostile::{HostileServer, Hostility};
use script::Script;
pub use script::{Behaviour, Reply, Route};
pub use tls::TestCa;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: Method,
    /// Path and query, e.g. `/hooks?a=1`.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub received_at: Instant,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn webhook_id(&self) -> Option<&str> {
        self.header("webhook-id")
    }

    pub fn webhook_timestamp(&self) -> Option<i64> {
        self.header("webhook-timestamp")?.parse().ok()
    }

    /// True when `webhook-signature` holds a valid signature by `secret` over this request's
    /// id, timestamp and exact body bytes.
    pub fn verify(&self, secret: &WebhookSecret) -> bool {
        match (
            self.header("webhook-signature"),
            self.webhook_id(),
            self.webhook_timestamp(),
        ) {
            (Some(sig), Some(id), Some(ts)) => signature::verify(sig, secret, id, ts, &self.body),
            _ => false,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// How many of `requests` went to `path`.
pub fn requests_on(requests: &[RecordedRequest], path: &str) -> usize {
    requests.iter().filter(|r| r.path == path).count()
}

struct State {
    requests: Mutex<Vec<RecordedRequest>>,
    /// False: only counts are kept (for load tests), `requests()` stays empty.
    recording: AtomicBool,
    by_id: Mutex<HashMap<String, usize>>,
    /// Total requests received.
    count_tx: watch::Sender<usize>,
    script: Mutex<Script>,
    connections: AtomicUsize,
    /// Per path: requests being answered now, and the most at once so far.
    in_flight: Mutex<HashMap<String, (usize, usize)>>,
}

/// A scripted, recording HTTP(S) receiver on `127.0.0.1:0`.
pub struct TestReceiver {
    addr: SocketAddr,
    scheme: &'static str,
    state: Arc<State>,
    _task: AbortOnDropHandle<()>,
}

impl TestReceiver {
    /// Plain HTTP.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Plain HTTP, for load: keeps only counts (no requests) and answers 204 after `delay`.
    pub async fn counting(delay: Duration) -> Self {
        let receiver = Self::start().await;
        receiver.set_recording(false);
        receiver.set_behaviour(Route::All, Behaviour::reply(Reply::ok().delay(delay)));
        receiver
    }

    /// HTTPS with a certificate for `localhost` and `127.0.0.1` signed by `ca`.
    pub async fn start_tls(ca: &TestCa) -> Self {
        Self::start_with(Some(TlsAcceptor::from(ca.server_config.clone()))).await
    }

    async fn start_with(tls: Option<TlsAcceptor>) -> Self {
        crate::harness::raise_open_files_limit();
        let listener = herald::http::server::listen_loopback().expect("bind the test receiver");
        let addr = listener.local_addr().expect("receiver address");
        let (count_tx, _) = watch::channel(0);
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            recording: AtomicBool::new(true),
            by_id: Mutex::new(HashMap::new()),
            count_tx,
            script: Mutex::new(Script::default()),
            connections: AtomicUsize::new(0),
            in_flight: Mutex::new(HashMap::new()),
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = tokio::spawn(serve(listener, tls, state.clone()));
        Self {
            addr,
            scheme,
            state,
            _task: AbortOnDropHandle::new(task),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>` (or `https://`).
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// Sets how `route` answers from now on (`Route::All` or a path like `"/flaky"`).
    /// Resets that route's counters.
    pub fn set_behaviour(&self, route: impl Into<Route>, behaviour: Behaviour) {
        let route = route.into();
        let mut script = self.state.script.lock().expect("script lock");
        script.seen_by_route.remove(&route);
        script.seen_by_id.retain(|(r, _), _| *r != route);
        script.behaviours.insert(route, behaviour);
    }

    /// Stops (or resumes) keeping whole requests; counts (total and per `webhook-id`) are
    /// always kept. Use `false` for load tests so memory stays flat; `requests()` and
    /// `wait_for` then see only what was recorded before.
    pub fn set_recording(&self, on: bool) {
        self.state.recording.store(on, Ordering::SeqCst);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().expect("requests lock").clone()
    }

    pub fn count(&self) -> usize {
        *self.state.count_tx.borrow()
    }

    /// Requests that carried `webhook-id: id`.
    pub fn count_for_id(&self, id: &str) -> usize {
        let by_id = self.state.by_id.lock().expect("by_id lock");
        by_id.get(id).copied().unwrap_or(0)
    }

    /// Request counts per `webhook-id` (requests without one count under `""`).
    pub fn counts_by_id(&self) -> HashMap<String, usize> {
        self.state.by_id.lock().expect("by_id lock").clone()
    }

    /// `webhook-id`s received more than once, with their counts, sorted.
    pub fn duplicates(&self) -> Vec<(String, usize)> {
        let mut dups: Vec<(String, usize)> = self
            .counts_by_id()
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        dups.sort();
        dups
    }

    /// Waits until at least `n` requests arrived, without needing them recorded; panics
    /// after `timeout`.
    pub async fn wait_for_total(&self, n: usize, timeout: Duration) {
        let mut count_rx = self.state.count_tx.subscribe();
        let waited = tokio::time::timeout(timeout, count_rx.wait_for(|c| *c >= n)).await;
        if !matches!(waited, Ok(Ok(_))) {
            panic!(
                "the receiver got {} requests within {timeout:?}, expected {n}",
                self.count()
            );
        }
    }

    /// The most requests to `path` (query ignored) that were being answered at once.
    pub fn max_in_flight(&self, path: &str) -> usize {
        let in_flight = self.state.in_flight.lock().expect("in_flight lock");
        in_flight.get(path).map_or(0, |(_, max)| *max)
    }

    /// TCP connections accepted so far (to check keep-alive reuse).
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests arrived; panics after `timeout`.
    pub async fn wait_for_count(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        self.wait_for(|reqs| reqs.len() >= n, timeout)
            .await
            .unwrap_or_else(|reqs| {
                panic!(
                    "the receiver got {} requests within {timeout:?}, expected {n}",
                    reqs.len()
                )
            })
    }

    /// Waits until `done(requests)` holds. `Err` carries the requests seen at the deadline.
    pub async fn wait_for(
        &self,
        mut done: impl FnMut(&[RecordedRequest]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<RecordedRequest>, Vec<RecordedRequest>> {
        let deadline = Instant::now() + timeout;
        let mut count_rx = self.state.count_tx.subscribe();
        loop {
            count_rx.borrow_and_update();
            let requests = self.requests();
            if done(&requests) {
                return Ok(requests);
            }
            if tokio::time::timeout_at(deadline, count_rx.changed())
                .await
                .is_err()
            {
                return Err(self.requests());
            }
        }
    }
}

/// Serves until the receiver aborts it, which drops every connection.
async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, state: Arc<State>) {
    accept_loop(
        "test receiver",
        listener,
        CancellationToken::new(),
        move |stream| {
            state.connections.fetch_add(1, Ordering::SeqCst);
            let state = state.clone();
            let tls = tls.clone();
            async move {
                match tls {
                    None => serve_connection(TokioIo::new(stream), state).await,
                    Some(acceptor) => {
                        // A failed handshake (e.g. the client distrusts us) just ends it.
                        if let Ok(stream) = acceptor.accept(stream).await {
                            serve_connection(TokioIo::new(stream), state).await;
                        }
                    }
                }
            }
        },
    )
    .await
}

async fn serve_connection<I>(io: I, state: Arc<State>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(req, state.clone()));
    // Connection errors (client hung up mid-request) are normal in hostile tests.
    let _ = serve_http1(io, service, CancellationToken::new(), None).await;
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(plain(StatusCode::BAD_REQUEST)),
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let webhook_id = parts
        .headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let reply = state
        .script
        .lock()
        .expect("script lock")
        .next_reply(parts.uri.path(), webhook_id.as_deref());
    let received_at = Instant::now();
    let _answering = Answering::new(&state, parts.uri.path());
    *state
        .by_id
        .lock()
        .expect("by_id lock")
        .entry(webhook_id.unwrap_or_default())
        .or_default() += 1;
    if state.recording.load(Ordering::SeqCst) {
        state
            .requests
            .lock()
            .expect("requests lock")
            .push(RecordedRequest {
                method: parts.method,
                path,
                headers: parts.headers,
                body,
                received_at,
            });
    }
    // Counted last, so a waiter woken by the count sees the request recorded.
    state.count_tx.send_modify(|c| *c += 1);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    if reply.hang {
        std::future::pending::<()>().await;
    }
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("scripted status is valid");
    for (name, value) in reply.headers {
        let name = http::HeaderName::from_bytes(name.as_bytes()).expect("scripted header name");
        let value = http::HeaderValue::from_str(&value).expect("scripted header value");
        response.headers_mut().append(name, value);
    }
    Ok(response)
}

/// Counts a request in its path's in-flight number while it is being answered.
struct Answering {
    state: Arc<State>,
    path: String,
}

impl Answering {
    fn new(state: &Arc<State>, path: &str) -> Self {
        let mut in_flight = state.in_flight.lock().expect("in_flight lock");
        let (now, max) = in_flight.entry(path.to_owned()).or_default();
        *now += 1;
        *max = (*max).max(*now);
        Self {
            state: Arc::clone(state),
            path: path.to_owned(),
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        let mut in_flight = self.state.in_flight.lock().expect("in_flight lock");
        if let Some((now, _)) = in_flight.get_mut(&self.path) {
            *now -= 1;
        }
    }
}

fn plain(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
