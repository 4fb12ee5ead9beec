//! Raw TCP servers that misbehave below HTTP.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use herald::http::server::accept_loop;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_util::{sync::CancellationToken, task::AbortOnDropHandle};

/// How a [`HostileServer`] misbehaves on every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostility {
    /// Accepts and reads, never answers.
    Silent,
    /// Answers 200 with a chunked body that never ends.
    EndlessBody,
    /// Answers 503 with a chunked body that never ends.
    EndlessErrorBody,
    /// Reads the request, then resets the connection (RST).
    Reset,
    /// Answers with bytes that are not HTTP, then closes.
    Garbage,
}

/// A raw TCP server on `127.0.0.1:0` that misbehaves below HTTP.
pub struct HostileServer {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    _task: AbortOnDropHandle<()>,
}

impl HostileServer {
    pub async fn start(hostility: Hostility) -> Self {
        crate::harness::raise_open_files_limit();
        let listener = herald::http::server::listen_loopback().expect("bind the hostile server");
        let addr = listener.local_addr().expect("hostile server address");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(
            "hostile server",
            listener,
            stop,
            move |stream| {
                counter.fetch_add(1, Ordering::SeqCst);
                misbehave(stream, hostility)
            },
        ));
        Self {
            addr,
            connections,
            _task: AbortOnDropHandle::new(task),
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
        Hostility::EndlessBody | Hostility::EndlessErrorBody => {
            read_head(&mut stream).await;
            let head: &[u8] = if hostility == Hostility::EndlessBody {
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
            } else {
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
            };
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
