//! What the demo promises, checked against its [`Summary`]: every signature verified, the
//! healthy endpoints got everything at once, the flaky one got everything after retries, the
//! dead one exhausted everything and its breaker tripped.

use super::{cast::Role, summary::Summary};

/// What did not hold, in words; empty when the demo succeeded.
pub fn failures(s: &Summary) -> Vec<String> {
    let mut failed = Vec::new();
    if s.signatures_failed > 0 {
        failed.push(format!(
            "{} requests failed their signature check",
            s.signatures_failed
        ));
    }
    if s.signatures_passed == 0 {
        failed.push("the receiver verified no signature at all".into());
    }
    for role in [Role::Healthy, Role::Platform] {
        if !s.by_role.iter().any(|(r, _)| *r == role) {
            continue;
        }
        let o = s.outcome(role);
        if o.deliveries == 0 || o.delivered != o.deliveries {
            failed.push(format!(
                "the {} webhook got {} of {} deliveries",
                role.name(),
                o.delivered,
                o.deliveries
            ));
        }
    }
    let flaky = s.outcome(Role::Flaky);
    if flaky.deliveries == 0 || flaky.delivered_after_retries != flaky.deliveries {
        failed.push(format!(
            "the flaky webhook got {} of {} deliveries after retries ({} exhausted{})",
            flaky.delivered_after_retries,
            flaky.deliveries,
            flaky.exhausted,
            if flaky.tripped {
                ", and its breaker tripped"
            } else {
                ""
            }
        ));
    }
    let dead = s.outcome(Role::Dead);
    if dead.deliveries == 0 || dead.exhausted != dead.deliveries {
        failed.push(format!(
            "the dead webhook has {} of {} deliveries exhausted",
            dead.exhausted, dead.deliveries
        ));
    }
    if !dead.tripped {
        failed.push(format!(
            "the dead webhook's breaker did not trip after {} failed attempts",
            dead.attempts
        ));
    }
    failed
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::demo::summary::WebhookOutcome;

    fn summary(flaky_retried: i64, dead_tripped: bool, bad_signatures: u64) -> Summary {
        let all = |n| WebhookOutcome {
            deliveries: n,
            delivered: n,
            attempts: n,
            ..Default::default()
        };
        Summary {
            events: 6,
            by_role: vec![
                (Role::Healthy, all(3)),
                (
                    Role::Flaky,
                    WebhookOutcome {
                        retried: flaky_retried,
                        delivered_after_retries: flaky_retried,
                        ..all(2)
                    },
                ),
                (
                    Role::Dead,
                    WebhookOutcome {
                        deliveries: 1,
                        exhausted: 1,
                        retried: 1,
                        attempts: 4,
                        tripped: dead_tripped,
                        ..Default::default()
                    },
                ),
                (Role::Platform, all(1)),
            ],
            breaker_trips_metric: 1,
            signatures_passed: 12,
            signatures_failed: bad_signatures,
            latency_first_attempt: None,
            latency_after_retries: None,
            wall_time: Duration::from_secs(9),
        }
    }

    #[test]
    fn check_passes_when_every_promise_holds() {
        assert_eq!(failures(&summary(2, true, 0)), Vec::<String>::new());
    }

    #[test]
    fn check_names_each_broken_promise() {
        let failed = failures(&summary(1, false, 3));
        assert_eq!(failed.len(), 3, "{failed:?}");
        assert!(failed[0].contains("3 requests failed their signature"));
        assert!(failed[1].contains("flaky webhook got 1 of 2"));
        assert!(failed[2].contains("breaker did not trip"));
    }
}
