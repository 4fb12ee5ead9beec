//! `herald status`: the replicas seen, the leader, the queue depth by status, the oldest due
//! delivery and the fleet's deliveries/s over the last minute (the console's fleet screen, as
//! text).

use chrono::Utc;

use super::{
    context::{state, OpError, Output},
    table::{fields, opt, Table},
};
use crate::{domain::status::DeliveryStatus, store::fleet};

pub async fn run(out: Output) -> Result<(), OpError> {
    let state = state()?;
    let o = fleet::overview(&state.pool, 2, 100)
        .await
        .map_err(|e| OpError(format!("cannot read the fleet: {e}")))?;
    out.print(&o, || {
        let now = Utc::now();
        let mut t = Table::new(&[
            "WORKER ID",
            "HOST",
            "VERSION",
            "STARTED",
            "LAST SEEN",
            "LEADER",
        ]);
        for r in &o.replicas {
            let leads = o
                .leader
                .as_ref()
                .is_some_and(|l| l.worker_id == r.worker_id.to_string());
            t.row(vec![
                r.worker_id.to_string(),
                r.host.clone(),
                r.version.clone(),
                r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                format!("{}s ago", (now - r.last_seen_at).num_seconds().max(0)),
                if leads { "yes".into() } else { String::new() },
            ]);
        }
        let depth = DeliveryStatus::UNFINISHED_FIRST
            .map(|s| {
                format!(
                    "{s} {}",
                    o.queue.by_status.get(s.as_str()).copied().unwrap_or(0)
                )
            })
            .join(", ");
        let mut text = format!("replicas (seen in the last 24 h)\n{}\n", t.render());
        text += &fields(&[
            ("leader", opt(o.leader.as_ref().map(|l| &l.worker_id))),
            (
                "queue",
                match o.queue.counted_at {
                    Some(at) => format!("{depth} (counted {at})"),
                    None => "not counted yet (the leader of herald run counts it)".to_owned(),
                },
            ),
            ("oldest due", opt(o.queue.oldest_due)),
            (
                "last minute",
                format!(
                    "{:.1} deliveries/s, {:.1} failures/s",
                    o.deliveries_per_s, o.failures_per_s
                ),
            ),
        ]);
        text
    })
}
