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

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use herald::domain::{secret::WebhookSecret, signature};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::{JoinHandle, JoinSet},
    time::Instant,
};
use tokio_rustls::TlsAcceptor;

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

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Wait this long (after recording the request) before answering.
    pub delay: Duration,
    /// Never answer (the connection stays open until the client gives up).
    pub hang: bool,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
            hang: false,
        }
    }

    /// `204 No Content`, the default.
    pub fn ok() -> Self {
        Self::status(204)
    }

    pub fn hang() -> Self {
        Self {
            hang: true,
            ..Self::ok()
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// How a route answers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Every request gets this reply.
    Always(Reply),
    /// The k-th request on the route gets `replies[k]`; the last reply repeats.
    Sequence(Vec<Reply>),
    /// The k-th request carrying the same `webhook-id` gets `replies[k]`; the last repeats.
    PerWebhookId(Vec<Reply>),
}

impl Behaviour {
    pub fn status(status: u16) -> Self {
        Self::Always(Reply::status(status))
    }

    pub fn reply(reply: Reply) -> Self {
        Self::Always(reply)
    }

    pub fn hang() -> Self {
        Self::Always(Reply::hang())
    }

    /// Each message fails `n` times with `status`, then gets 204.
    pub fn fail_first_per_id(n: usize, status: u16) -> Self {
        let mut replies = vec![Reply::status(status); n];
        replies.push(Reply::ok());
        Self::PerWebhookId(replies)
    }
}

/// Where a behaviour applies: every path, or one path (query ignored). A path's own
/// behaviour wins over `All`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    All,
    Path(String),
}

impl From<&str> for Route {
    fn from(path: &str) -> Self {
        Route::Path(path.to_owned())
    }
}

#[derive(Default)]
struct Script {
    behaviours: HashMap<Route, Behaviour>,
    seen_by_route: HashMap<Route, usize>,
    seen_by_id: HashMap<(Route, String), usize>,
}

impl Script {
    fn next_reply(&mut self, path: &str, webhook_id: Option<&str>) -> Reply {
        let route = Route::Path(path.to_owned());
        let route = if self.behaviours.contains_key(&route) {
            route
        } else {
            Route::All
        };
        let Some(behaviour) = self.behaviours.get(&route) else {
            return Reply::ok();
        };
        let pick = |replies: &[Reply], k: usize| {
            replies
                .get(k)
                .or_else(|| replies.last())
                .cloned()
                .unwrap_or_else(Reply::ok)
        };
        match behaviour {
            Behaviour::Always(reply) => reply.clone(),
            Behaviour::Sequence(replies) => {
                let seen = self.seen_by_route.entry(route).or_default();
                *seen += 1;
                pick(replies, *seen - 1)
            }
            Behaviour::PerWebhookId(replies) => {
                let key = (route, webhook_id.unwrap_or_default().to_owned());
                let seen = self.seen_by_id.entry(key).or_default();
                *seen += 1;
                pick(replies, *seen - 1)
            }
        }
    }
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
}

/// A scripted, recording HTTP(S) receiver on `127.0.0.1:0`.
pub struct TestReceiver {
    addr: SocketAddr,
    scheme: &'static str,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestReceiver {
    /// Plain HTTP.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// HTTPS with a certificate for `localhost` and `127.0.0.1` signed by `ca`.
    pub async fn start_tls(ca: &TestCa) -> Self {
        Self::start_with(Some(TlsAcceptor::from(ca.server_config.clone()))).await
    }

    async fn start_with(tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test receiver");
        let addr = listener.local_addr().expect("receiver address");
        let (count_tx, _) = watch::channel(0);
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            recording: AtomicBool::new(true),
            by_id: Mutex::new(HashMap::new()),
            count_tx,
            script: Mutex::new(Script::default()),
            connections: AtomicUsize::new(0),
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = tokio::spawn(accept_loop(listener, tls, state.clone()));
        Self {
            addr,
            scheme,
            state,
            task,
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

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, state: Arc<State>) {
    // Owned here so that aborting this task drops (aborts) every connection task.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                state.connections.fetch_add(1, Ordering::SeqCst);
                let state = state.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    match tls {
                        None => serve(TokioIo::new(stream), state).await,
                        Some(acceptor) => {
                            // A failed handshake (e.g. the client distrusts us) just ends it.
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(TokioIo::new(stream), state).await;
                            }
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve<I>(io: I, state: Arc<State>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(req, state.clone()));
    // Connection errors (client hung up mid-request) are normal in hostile tests.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
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

fn plain(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// A throwaway certificate authority and a server certificate it signed for `localhost` and
/// `127.0.0.1`. `ca_file()` is the CA in PEM, for `SenderConfig::ca_file`.
pub struct TestCa {
    ca_file: PathBuf,
    server_config: Arc<rustls::ServerConfig>,
}

impl TestCa {
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Herald test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-signed CA");

        let server_key = KeyPair::generate().expect("server key");
        let server_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        let server_cert = server_params
            .signed_by(&server_key, &ca_cert, &ca_key)
            .expect("server certificate");

        let ca_file =
            std::env::temp_dir().join(format!("herald-test-ca-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&ca_file, ca_cert.pem()).expect("write the CA file");

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(server_cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
            )
            .expect("server TLS config");
        server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            ca_file,
            server_config: Arc::new(server_config),
        }
    }

    pub fn ca_file(&self) -> PathBuf {
        self.ca_file.clone()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

/// How a [`HostileServer`] misbehaves on every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostility {
    /// Accepts and reads, never answers.
    Silent,
    /// Answers 200 with a chunked body that never ends.
    EndlessBody,
    /// Reads the request, then resets the connection (RST).
    Reset,
    /// Answers with bytes that are not HTTP, then closes.
    Garbage,
}

/// A raw TCP server on `127.0.0.1:0` that misbehaves below HTTP.
pub struct HostileServer {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostileServer {
    pub async fn start(hostility: Hostility) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the hostile server");
        let addr = listener.local_addr().expect("hostile server address");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            let mut tasks = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        counter.fetch_add(1, Ordering::SeqCst);
                        tasks.spawn(misbehave(stream, hostility));
                    }
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
            }
        });
        Self {
            addr,
            connections,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Reads until the end of the request head (or EOF).
async fn read_head(stream: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

async fn misbehave(mut stream: TcpStream, hostility: Hostility) {
    match hostility {
        Hostility::Silent => {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        }
        Hostility::EndlessBody => {
            read_head(&mut stream).await;
            let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
            if stream.write_all(head).await.is_err() {
                return;
            }
            let mut chunk = b"1000\r\n".to_vec();
            chunk.extend(std::iter::repeat(b'x').take(0x1000));
            chunk.extend_from_slice(b"\r\n");
            while stream.write_all(&chunk).await.is_ok() {}
        }
        Hostility::Reset => {
            read_head(&mut stream).await;
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        Hostility::Garbage => {
            read_head(&mut stream).await;
            let _ = stream
                .write_all(b"this is not HTTP at all\r\n\r\nreally not\r\n")
                .await;
            let _ = stream.shutdown().await;
        }
    }
}
