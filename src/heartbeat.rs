//! The replica registry's writer: every `herald run` upserts its row in `herald.replicas`
//! (worker id, host, version, started, last seen) at start and then every few seconds, so the
//! console and `herald status` can show the fleet. Rows not seen for a week are pruned by the
//! leader.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::{fleet, Pool};

/// How often each replica says it is alive.
pub const EVERY: Duration = Duration::from_secs(5);

/// Beats until `stop`. A failed beat is logged when it starts failing and when it recovers;
/// the next tick tries again.
pub async fn run(pool: Pool, worker_id: Uuid, stop: CancellationToken) {
    let replica = fleet::Replica {
        worker_id,
        host: host_name(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: Utc::now(),
        last_seen_at: Utc::now(),
    };
    let mut failing = false;
    loop {
        match fleet::heartbeat(&pool, &replica).await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("replica heartbeat recorded again");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "replica heartbeat not recorded; will retry");
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// This machine's host name (`unknown` if the system will not say).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_owned();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
