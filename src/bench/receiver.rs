//! The bench's receiver: a hyper HTTP/1 server on 127.0.0.1 (real sockets, keep-alive), in the
//! bench process. It reads each request whole, records the instant it had it under the
//! request's `webhook-id`, and answers 204 at once. Signatures are not checked here (the demo
//! does that); the receiver's own cost should stay small.

use std::{
    collections::{HashMap, HashSet},
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::watch, task::JoinSet};
use uuid::Uuid;

#[derive(Default)]
struct Arrivals {
    /// First arrival of each event id (at any webhook).
    first: HashMap<Uuid, Instant>,
    /// Every (path, event id) seen: an event goes once to each of its webhooks.
    seen: HashSet<(String, Uuid)>,
    duplicates: u64,
    unnamed: u64,
}

pub struct Receiver {
    addr: SocketAddr,
    arrivals: Arc<Mutex<Arrivals>>,
    total: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let arrivals = Arc::new(Mutex::new(Arrivals::default()));
        let (total_tx, total) = watch::channel(0u64);
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&arrivals), total_tx));
        Ok(Receiver {
            addr,
            arrivals,
            total,
            task,
        })
    }

    /// `http://127.0.0.1:<port>`: webhooks point at paths below it.
    pub fn url_base(&self) -> String {
        format!("http://{}", self.addr)
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

async fn accept_loop(
    listener: TcpListener,
    arrivals: Arc<Mutex<Arrivals>>,
    total: watch::Sender<u64>,
) {
    let total = Arc::new(total);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let arrivals = Arc::clone(&arrivals);
                let total = Arc::clone(&total);
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        handle(req, Arc::clone(&arrivals), Arc::clone(&total))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    arrivals: Arc<Mutex<Arrivals>>,
    total: Arc<watch::Sender<u64>>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    if body.collect().await.is_err() {
        return Ok(status(StatusCode::BAD_REQUEST));
    }
    let at = Instant::now();
    let id = parts
        .headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v).ok());
    {
        let mut a = arrivals.lock().unwrap_or_else(|p| p.into_inner());
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
    Ok(status(StatusCode::NO_CONTENT))
}

fn status(code: StatusCode) -> Response<Empty<Bytes>> {
    let mut r = Response::new(Empty::new());
    *r.status_mut() = code;
    r
}
