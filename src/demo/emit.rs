//! Emitting the demo's events the three ways an application can: `herald.emit` in its own
//! transactions, a bulk INSERT into `herald.events`, and `herald.watch` on its own table
//! (batches moving to `completed`), plus one platform event.
//!
//! Every event's commit instant (taken right after its transaction commits) is kept by event
//! id, which is also the `webhook-id` the receiver sees: receipt minus commit is the
//! end-to-end latency.

use std::{collections::HashMap, time::Instant};

use anyhow::Context;
use serde_json::json;
use uuid::Uuid;

use super::cast::{Cast, Role};
use crate::store::Pool;

const EMIT: &str = include_str!("sql/emit.sql");
const BULK_INSERT: &str = include_str!("sql/bulk_insert.sql");
const BATCHES_INSERT: &str = include_str!("sql/batches_insert.sql");
const BATCHES_COMPLETE: &str = include_str!("sql/batches_complete.sql");
const EVENTS_OF_BATCHES: &str = include_str!("sql/events_of_batches.sql");

/// Events per `herald.emit` transaction.
const EMITS_PER_TRANSACTION: usize = 5;

/// How many events of the healthy user go each way, for `total` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub emitted: usize,
    pub bulk: usize,
    pub watched: usize,
}

impl Plan {
    /// Half through `herald.emit`, a quarter in one bulk insert, the rest through the watch.
    pub fn for_total(total: usize) -> Plan {
        let emitted = total / 2;
        let bulk = total / 4;
        Plan {
            emitted,
            bulk,
            watched: total - emitted - bulk,
        }
    }
}

/// The events emitted, by id, with the instant their transaction committed.
#[derive(Debug, Default)]
pub struct Emitted {
    pub committed_at: HashMap<Uuid, Instant>,
}

impl Emitted {
    fn committed(&mut self, ids: impl IntoIterator<Item = Uuid>) {
        let now = Instant::now();
        self.committed_at
            .extend(ids.into_iter().map(|id| (id, now)));
    }
}

/// Emits the healthy user's events by `plan`, plus, for the flaky user one `herald.emit` and
/// one watched batch, for the dead user one of each kind, and one platform event if the cast
/// has a platform webhook. The flaky
/// user gets only two events: its endpoint fails each message twice, and more messages at
/// once would add up to the breaker threshold.
pub async fn emit_all(pool: &Pool, cast: &Cast, plan: Plan) -> anyhow::Result<Emitted> {
    let mut emitted = Emitted::default();
    let (healthy, flaky, dead) = (
        cast.user(Role::Healthy),
        cast.user(Role::Flaky),
        cast.user(Role::Dead),
    );

    // 1. herald.emit inside the application's transactions.
    let mut owners: Vec<Uuid> = vec![healthy; plan.emitted];
    owners.extend([flaky, dead]);
    for chunk in owners.chunks(EMITS_PER_TRANSACTION) {
        let mut client = pool.get().await?;
        let tx = client.transaction().await?;
        let emit = tx.prepare_cached(EMIT).await?;
        let mut ids = Vec::with_capacity(chunk.len());
        for (n, owner) in chunk.iter().enumerate() {
            let order_id = Uuid::new_v4();
            let data = json!({
                "order_id": order_id,
                "amount_cents": 1250 + 100 * n,
                "currency": "EUR",
                "via": "herald.emit",
            });
            let row = tx
                .query_one(&emit, &[&"order.created", owner, &Some(order_id), &data])
                .await
                .context("herald.emit('order.created', ...)")?;
            ids.push(row.try_get::<_, Uuid>(0)?);
        }
        tx.commit().await?;
        emitted.committed(ids);
    }

    // 2. One bulk insert: a plain INSERT INTO herald.events fans out as a set.
    let mut owners: Vec<Uuid> = vec![healthy; plan.bulk];
    owners.push(dead);
    let rows = pool
        .get()
        .await?
        .query(BULK_INSERT, &[&owners])
        .await
        .context("bulk insert into herald.events")?;
    emitted.committed(
        rows.iter()
            .map(|r| r.try_get::<_, Uuid>(0))
            .collect::<Result<Vec<_>, _>>()?,
    );

    // 3. herald.watch: batches are created running, then completed in one UPDATE.
    let mut owners: Vec<Uuid> = vec![healthy; plan.watched];
    owners.extend([flaky, dead]);
    let client = pool.get().await?;
    let batch_ids: Vec<Uuid> = client
        .query(BATCHES_INSERT, &[&owners])
        .await
        .context("insert into herald_demo.batches")?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    client
        .execute(BATCHES_COMPLETE, &[&batch_ids])
        .await
        .context("update herald_demo.batches set status = 'completed'")?;
    let committed = Instant::now();
    let event_ids = client.query(EVENTS_OF_BATCHES, &[&batch_ids]).await?;
    for row in event_ids {
        emitted.committed_at.insert(row.try_get(0)?, committed);
    }

    // 4. One platform event: it goes to the platform manager's webhook.
    if !cast.has(Role::Platform) {
        return Ok(emitted);
    }
    let row = client
        .query_one(
            EMIT,
            &[
                &"platform.maintenance",
                &None::<Uuid>,
                &None::<Uuid>,
                &json!({ "window": "Sunday 02:00-03:00 UTC", "via": "herald.emit" }),
            ],
        )
        .await
        .context("herald.emit('platform.maintenance', ...)")?;
    emitted.committed([row.try_get::<_, Uuid>(0)?]);
    Ok(emitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_splits_every_event() {
        for total in [0, 1, 7, 10, 120] {
            let p = Plan::for_total(total);
            assert_eq!(p.emitted + p.bulk + p.watched, total);
        }
        assert_eq!(
            Plan::for_total(120),
            Plan {
                emitted: 60,
                bulk: 30,
                watched: 30
            }
        );
    }
}
