//! The admin HTTP server: the JSON API and, under `/console`, the web console, on one listener
//! (`HERALD_LISTEN`). It sits above both, so that the console builds on the API's operations
//! while the API knows nothing of the console.

use std::{sync::Arc, time::Duration};

use http::Request;
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    api::{self, ApiState},
    console::{self, Console},
    http::server::{accept_loop, serve_http1},
};

/// How long a client may take to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the API and the console on `listener` until `stop` is cancelled; then stops
/// accepting, lets the requests in progress finish (idle keep-alive connections close at once)
/// and returns.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let console = Console::new(state.admin_token.as_deref()).map_err(|_| {
        std::io::Error::other("cannot key the console: the system random generator failed")
    })?;
    let router = Arc::new(api::Router::new(state)?);
    let console = Arc::new(console);
    accept_loop("admin api", listener, stop.clone(), move |stream| {
        let (router, console, stop) = (router.clone(), console.clone(), stop.clone());
        async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let (router, console) = (router.clone(), console.clone());
                async move {
                    if console::serves(req.uri().path()) {
                        Ok(console::handle(&console, &router.state, req).await)
                    } else {
                        api::handle(router, req).await
                    }
                }
            });
            let io = TokioIo::new(stream);
            if let Err(e) = serve_http1(io, service, stop, Some(HEADER_READ_TIMEOUT)).await {
                tracing::debug!(error = %e, "admin api: connection ended with an error");
            }
        }
    })
    .await;
    Ok(())
}
