//! The bench's receiver: a hyper HTTP/1 server on 127.0.0.1 (real sockets, keep-alive), in the
//! bench process. It reads each request whole, records the instant it had it under the
//! request's `webhook-id`, and answers 204. Signatures are not checked here (the demo does
//! that); the receiver's own cost should stay small.
//!
//! How it answers depends on the path's first segment (see [`Behaviour`]): at once (any other
//! path), after a fixed delay at any concurrency (`/delay/<ms>/...`), or never
//! (`/never/...`: the request is read and left unanswered until the sender gives up, or until
//! [`Receiver::hang_up`] closes such connections without an answer). Unanswered requests are
//! counted apart and are not arrivals.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::{body::Incoming, service::service_fn};
use tokio::{net::TcpListener, sync::watch};
use uuid::Uuid;

use crate::http::server::{listen_loopback, serve_http1_until_dropped};

/// The receiver, for the reports' settings.
pub const AT_ONCE: &str = "in-process hyper HTTP/1 server on 127.0.0.1, 204 at once, keep-alive";
/// What the latency figures measure.
pub const LATENCY: &str = "receiver has the whole request - commit returned to the producer";

/// How the receiver answers the requests of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 204 at once.
    Immediate,
    /// 204 after this long, however many requests are waiting.
    Delay(Duration),
    /// No answer at all: the sender's timeout ends the attempt.
    Never,
}

impl Behaviour {
    /// The path prefix that selects this behaviour.
    fn prefix(self) -> String {
        match self {
            Behaviour::Immediate => String::new(),
            Behaviour::Delay(d) => format!("/delay/{}", d.as_millis()),
            Behaviour::Never => "/never".into(),
        }
    }

    /// The behaviour a request path asks for.
    fn of_path(path: &str) -> Behaviour {
        let mut segments = path.trim_start_matches('/').split('/');
        match segments.next() {
            Some("never") => Behaviour::Never,
            Some("delay") => match segments.next().and_then(|ms| ms.parse::<u64>().ok()) {
                Some(ms) => Behaviour::Delay(Duration::from_millis(ms)),
                None => Behaviour::Immediate,
            },
            _ => Behaviour::Immediate,
        }
    }
}

#[derive(Default)]
struct Arrivals {
    /// First arrival of each event id (at any webhook that answers).
    first: HashMap<Uuid, Instant>,
    /// Every (path, event id) seen: an event goes once to each of its webhooks.
    seen: HashSet<(String, Uuid)>,
    duplicates: u64,
    unnamed: u64,
    /// Requests to `/never/...` paths, left unanswered.
    unanswered: u64,
    /// Delayed requests waiting for their answer now, and the most at once.
    delayed_now: u64,
    delayed_max: u64,
}

pub struct Receiver {
    addr: SocketAddr,
    arrivals: Arc<Mutex<Arrivals>>,
    total: watch::Receiver<u64>,
    hang_up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Receiver> {
        let listener = listen_loopback()?;
        let addr = listener.local_addr()?;
        let arrivals = Arc::new(Mutex::new(Arrivals::default()));
        let (total_tx, total) = watch::channel(0u64);
        let (hang_up, hung) = watch::channel(false);
        let task = tokio::spawn(serve(listener, Arc::clone(&arrivals), total_tx, hung));
        Ok(Receiver {
            addr,
            arrivals,
            total,
            hang_up,
            task,
        })
    }

    /// Closes every connection holding an unanswered `/never/...` request (and any later
    /// one), without answering: the sender sees the connection end.
    pub fn hang_up(&self) {
        self.hang_up.send_replace(true);
    }

    /// `http://127.0.0.1:<port>`: webhooks point at paths below it (answered at once).
    pub fn url_base(&self) -> String {
        self.url_for(Behaviour::Immediate)
    }

    /// The base URL of paths answered with `behaviour`.
    pub fn url_for(&self, behaviour: Behaviour) -> String {
        format!("http://{}{}", self.addr, behaviour.prefix())
    }

    /// Requests received so far (duplicates included).
    pub fn total(&self) -> u64 {
        *self.total.borrow()
    }

    /// When the first request carrying `event_id` arrived.
    pub fn arrival(&self, event_id: &Uuid) -> Option<Instant> {
        self.lock().first.get(event_id).copied()
    }

    /// Every distinct event id received, with its first arrival.
    pub fn arrivals(&self) -> HashMap<Uuid, Instant> {
        self.lock().first.clone()
    }

    /// Requests for a (webhook path, event id) seen before, and requests without a readable
    /// `webhook-id`.
    pub fn duplicates(&self) -> u64 {
        let a = self.lock();
        a.duplicates + a.unnamed
    }

    /// Requests to `/never/...` paths so far.
    pub fn unanswered(&self) -> u64 {
        self.lock().unanswered
    }

    /// The most delayed requests that waited for their answer at the same time.
    pub fn max_concurrent_delayed(&self) -> u64 {
        self.lock().delayed_max
    }

    /// Waits for the request of `event_id`; None after `timeout`.
    pub async fn wait_for_id(&self, event_id: &Uuid, timeout: Duration) -> Option<Instant> {
        let mut total = self.total.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            total.borrow_and_update();
            if let Some(at) = self.arrival(event_id) {
                return Some(at);
            }
            match tokio::time::timeout_at(deadline, total.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.arrival(event_id),
            }
        }
    }

    /// Waits until `n` requests have arrived in all, calling `progress` as they come; false
    /// after `timeout`.
    pub async fn wait_for_total(
        &self,
        n: u64,
        timeout: Duration,
        mut progress: impl FnMut(u64),
    ) -> bool {
        let mut total = self.total.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let seen = *total.borrow_and_update();
            progress(seen);
            if seen >= n {
                return true;
            }
            match tokio::time::timeout_at(deadline, total.changed()).await {
                Ok(Ok(())) => {}
                _ => return false,
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arrivals> {
        self.arrivals.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Serves until the [`Receiver`] aborts it, which drops every connection.
async fn serve(
    listener: TcpListener,
    arrivals: Arc<Mutex<Arrivals>>,
    total: watch::Sender<u64>,
    hung: watch::Receiver<bool>,
) {
    let total = Arc::new(total);
    serve_http1_until_dropped("bench receiver", listener, move || {
        let (arrivals, total, hung) = (Arc::clone(&arrivals), Arc::clone(&total), hung.clone());
        service_fn(move |req| handle(req, Arc::clone(&arrivals), Arc::clone(&total), hung.clone()))
    })
    .await
}

async fn handle(
    req: Request<Incoming>,
    arrivals: Arc<Mutex<Arrivals>>,
    total: Arc<watch::Sender<u64>>,
    mut hung: watch::Receiver<bool>,
) -> Result<Response<Empty<Bytes>>, HungUp> {
    let (parts, body) = req.into_parts();
    if body.collect().await.is_err() {
        return Ok(status(StatusCode::BAD_REQUEST));
    }
    let at = Instant::now();
    let behaviour = Behaviour::of_path(parts.uri.path());
    let lock = || arrivals.lock().unwrap_or_else(|p| p.into_inner());
    if behaviour == Behaviour::Never {
        lock().unanswered += 1;
        // An error from the service makes hyper close the connection without a response.
        let _ = hung.wait_for(|hung| *hung).await;
        return Err(HungUp);
    }
    let id = parts
        .headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v).ok());
    {
        let mut a = lock();
        match id {
            None => a.unnamed += 1,
            Some(id) => {
                a.first.entry(id).or_insert(at);
                if !a.seen.insert((parts.uri.path().to_owned(), id)) {
                    a.duplicates += 1;
                }
            }
        }
    }
    total.send_modify(|n| *n += 1);
    if let Behaviour::Delay(d) = behaviour {
        {
            let mut a = lock();
            a.delayed_now += 1;
            a.delayed_max = a.delayed_max.max(a.delayed_now);
        }
        tokio::time::sleep(d).await;
        lock().delayed_now -= 1;
    }
    Ok(status(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviour_is_chosen_by_the_first_path_segment() {
        for b in [
            Behaviour::Immediate,
            Behaviour::Delay(Duration::from_millis(50)),
            Behaviour::Never,
        ] {
            assert_eq!(Behaviour::of_path(&format!("{}/3/1", b.prefix())), b);
        }
        assert_eq!(Behaviour::of_path("/delay/soon/1"), Behaviour::Immediate);
        assert_eq!(Behaviour::of_path("/"), Behaviour::Immediate);
    }
}

/// The receiver closed a connection without answering (see [`Receiver::hang_up`]).
#[derive(Debug)]
struct HungUp;

impl std::fmt::Display for HungUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hung up without an answer")
    }
}

impl std::error::Error for HungUp {}

fn status(code: StatusCode) -> Response<Empty<Bytes>> {
    let mut r = Response::new(Empty::new());
    *r.status_mut() = code;
    r
}
