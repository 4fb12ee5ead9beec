//! The server side, shared by the admin API and the receivers of `herald demo`, `herald bench`
//! and the tests: one accept loop and one way to serve an HTTP/1.1 connection.

use std::{error::Error as StdError, future::Future, time::Duration};

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
