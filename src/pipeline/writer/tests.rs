//! The writer's pure parts: how results become rows, retries and breaker updates.

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use uuid::Uuid;

use super::*;
use crate::{
    domain::target::TargetUrl,
    http::AttemptOutcome,
    pipeline::{claimer::Claimed, sender::Skip},
    store::deliveries::ClaimedDelivery,
};

const MAX_WAIT: Duration = Duration::from_secs(3600);

fn sent(capacity: &Arc<Capacity>, webhook: Uuid, attempts: i32, status: Option<u16>) -> Sent {
    let delivery = ClaimedDelivery {
        id: Uuid::new_v4(),
        webhook_id: webhook,
        event_id: Uuid::new_v4(),
        body: Bytes::from_static(b"{}"),
        attempt_count: attempts,
        lease: Utc::now(),
        created_at: Utc::now(),
        url: TargetUrl::parse("https://example.com/", false),
        secret: None,
        previous_secret: None,
        active: status.is_some(),
        headers: Vec::new(),
    };
    let outcome = status.map_or(Outcome::Skipped(Skip::WebhookDisabled), |code| {
        Outcome::Attempted(AttemptOutcome {
            started_at: Utc::now(),
            duration: Duration::from_millis(3),
            status_code: Some(code),
            error: (!(200..300).contains(&code)).then(|| format!("HTTP {code}")),
            response_excerpt: None,
            retry_after: None,
            gone: code == 410,
            not_sent: false,
        })
    });
    Sent {
        claimed: Claimed {
            delivery,
            slot: capacity.take(webhook).expect("capacity"),
        },
        outcome,
    }
}

#[test]
fn prepare_aggregates_the_breaker_per_webhook_in_completion_order() {
    let capacity = Capacity::new(16, 16, Metrics::new());
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let batch = [
        sent(&capacity, a, 0, Some(500)),
        sent(&capacity, a, 0, Some(204)),
        sent(&capacity, a, 0, Some(500)),
        sent(&capacity, b, 0, Some(500)),
        sent(&capacity, b, 0, Some(503)),
        sent(&capacity, c, 0, Some(410)),
    ];
    let prepared = prepare(&batch, &RetrySchedule::standard(), MAX_WAIT, Utc::now());
    let by_id: HashMap<Uuid, &BreakerUpdate> =
        prepared.breaker.iter().map(|b| (b.webhook_id, b)).collect();
    assert!(
        by_id[&a].reset && by_id[&a].failures == 1,
        "{:?}",
        by_id[&a]
    );
    assert!(!by_id[&b].reset && by_id[&b].failures == 2);
    assert!(by_id[&c].gone);
    assert_eq!(prepared.attempts.len(), 6);
    assert_eq!(prepared.results[1].status, DeliveryStatus::Delivered);
    assert_eq!(prepared.results[0].status, DeliveryStatus::Failed);
}

#[test]
fn prepare_exhausts_unsent_deliveries_of_disabled_webhooks_without_an_attempt() {
    let capacity = Capacity::new(4, 4, Metrics::new());
    let batch = [sent(&capacity, Uuid::new_v4(), 2, None)];
    let prepared = prepare(&batch, &RetrySchedule::standard(), MAX_WAIT, Utc::now());
    let r = &prepared.results[0];
    assert_eq!(r.status, DeliveryStatus::Exhausted);
    assert_eq!(r.error.as_deref(), Some("webhook disabled"));
    assert!(!r.attempted);
    assert!(prepared.attempts.is_empty());
    assert!(prepared.breaker.is_empty());
}

#[test]
fn prepare_exhausts_after_the_last_scheduled_attempt() {
    let capacity = Capacity::new(4, 4, Metrics::new());
    let schedule: RetrySchedule = "0,1,1".parse().unwrap();
    let batch = [
        sent(&capacity, Uuid::new_v4(), 1, Some(500)),
        sent(&capacity, Uuid::new_v4(), 2, Some(500)),
    ];
    let prepared = prepare(&batch, &schedule, MAX_WAIT, Utc::now());
    assert_eq!(prepared.results[0].status, DeliveryStatus::Failed);
    assert!(prepared.results[0].next_attempt_at.is_some());
    assert_eq!(prepared.results[1].status, DeliveryStatus::Exhausted);
    assert_eq!(prepared.attempts[1].attempt.attempt, 3);
}
