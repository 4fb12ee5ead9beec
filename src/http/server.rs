//! The server side, shared by the admin API and the receivers of `herald demo`, `herald bench`
//! and the tests: one accept loop and one way to serve an HTTP/1.1 connection.

use std::{
    error::Error as StdError,
    future::Future,
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use hyper::{
    body::{Body, Incoming},
    server::conn::http1,
    service::HttpService,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;

/// Connections a loopback receiver lets wait to be accepted (the kernel caps it at
/// `net.core.somaxconn`). `TcpListener::bind` listens with 128, as the standard library does:
/// a worker that starts 1,024 requests at once (4,096 with four replicas) overflowed it, and
/// every connection the kernel dropped stalled for its client's retransmission back-off,
/// seconds at a time, at the end of the bench's drains (`TcpExtListenOverflows`).
pub const LOOPBACK_BACKLOG: u32 = 4096;

/// A listener on `127.0.0.1` at a free port, for the loopback receivers of demo, bench and
/// tests, with an accept queue of [`LOOPBACK_BACKLOG`].
pub fn listen_loopback() -> std::io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    socket.listen(LOOPBACK_BACKLOG)
}

/// Accepts connections on `listener` and runs `connection` on each in its own task, until
/// `stop` is cancelled; then waits for the connections in progress and returns. Dropping (or
/// aborting) the future instead aborts every connection at once. A failed accept (out of
/// file descriptors and the like) is logged under `name` and retried after 100 ms instead of
/// spinning.
pub async fn accept_loop<F, Fut>(
    name: &'static str,
    listener: TcpListener,
    stop: CancellationToken,
    mut connection: F,
) where
    F: FnMut(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(connection(stream));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "{name}: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    while connections.join_next().await.is_some() {}
}

/// Serves one HTTP/1.1 connection with `service`. When `stop` is cancelled the request in
/// progress finishes and the connection closes (an idle keep-alive connection at once).
/// `header_read_timeout`: how long a client may take to send its request head (`None`: no
/// limit). The error is the connection's (a client that hung up mid-request, a bad request).
pub async fn serve_http1<I, S, B>(
    io: I,
    service: S,
    stop: CancellationToken,
    header_read_timeout: Option<Duration>,
) -> Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let mut builder = http1::Builder::new();
    if let Some(timeout) = header_read_timeout {
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(timeout);
    }
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => result,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}

/// Serves HTTP/1.1 on `listener` with the service `service` makes for each connection (no
/// delay on the sockets, no header timeout), until the future is dropped or aborted, which
/// drops every connection: for the loopback receivers of demo, bench and tests. A connection
/// that fails (a client that hangs up mid-request) just ends.
pub async fn serve_http1_until_dropped<F, S, B>(
    name: &'static str,
    listener: TcpListener,
    mut service: F,
) where
    F: FnMut() -> S,
    S: HttpService<Incoming, ResBody = B> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    accept_loop(name, listener, CancellationToken::new(), move |stream| {
        let _ = stream.set_nodelay(true);
        let service = service();
        async move {
            let io = TokioIo::new(stream);
            let _ = serve_http1(io, service, CancellationToken::new(), None).await;
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More connections than the standard backlog of 128 arrive while nothing accepts: each
    /// must still be established at once. With 128, the kernel drops the SYNs past the full
    /// queue and those connects wait for retransmissions (1 s, 3 s, 7 s, ...) that find the
    /// queue still full.
    #[tokio::test]
    async fn a_loopback_listener_queues_hundreds_of_connections_before_accepting() {
        // The kernel caps the queue at net.core.somaxconn (4,096 by default since Linux 5.4).
        let cap = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(4096);
        let wanted = cap.min(600);
        let listener = listen_loopback().expect("listen");
        let addr = listener.local_addr().expect("address");
        let connects: Vec<_> = (0..wanted)
            .map(|_| tokio::spawn(tokio::net::TcpStream::connect(addr)))
            .collect();
        let all = async {
            let mut streams = Vec::new();
            for c in connects {
                streams.push(c.await.expect("task").expect("connect"));
            }
            streams
        };
        let streams = tokio::time::timeout(Duration::from_secs(30), all)
            .await
            .expect("every connection queued within 30 s");
        assert_eq!(streams.len(), wanted);
        drop(listener);
    }
}
