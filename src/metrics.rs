//! Prometheus metrics. The names are a contract dashboards depend on; one `Metrics` is shared by
//! the pipeline, the leader and the admin API, which renders it at `/metrics`.

use std::sync::{atomic::AtomicU64, Arc};

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: &'static str,
}

pub struct Metrics {
    registry: Registry,
    /// `outcome` = `delivered`, `failed` or `exhausted`.
    pub deliveries: Family<OutcomeLabel, Counter>,
    pub attempt_duration: Histogram,
    pub delivery_latency: Histogram,
    /// The claim statement alone (not the wait for a pooled connection), empty claims included.
    pub claim_duration: Histogram,
    pub in_flight: Gauge,
    pub queue_due: Gauge,
    pub queue_oldest_due_seconds: Gauge<f64, AtomicU64>,
    /// `source` = `notify`, `poll`, `due` or `capacity`.
    pub wakeups: Family<SourceLabel, Counter>,
    pub breaker_trips: Counter,
    /// Reads of the gated webhooks by the claimer (`deliveries_gates.sql`).
    pub gate_reads: Counter,
    /// `state` = `closed`, `open`, `half_open` or `disabled` (measured by the leader).
    pub breaker_states: Family<StateLabel, Gauge>,
    pub leader: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

const LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Fine below 10 ms, where a healthy claim lives, so that a p99 near 1-5 ms is resolved to
/// about 0.5 ms.
const CLAIM_BUCKETS: [f64; 24] = [
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.004, 0.005, 0.006,
    0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let deliveries = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "herald_deliveries",
            "Delivery attempts by outcome: delivered, failed (will retry), exhausted",
            deliveries.clone(),
        );
        let attempt_duration = Histogram::new(LATENCY_BUCKETS.into_iter());
        registry.register(
            "herald_attempt_duration_seconds",
            "Duration of one HTTP attempt",
            attempt_duration.clone(),
        );
        let delivery_latency = Histogram::new(LATENCY_BUCKETS.into_iter());
        registry.register(
            "herald_delivery_latency_seconds",
            "From the event's creation to its successful delivery",
            delivery_latency.clone(),
        );
        let claim_duration = Histogram::new(CLAIM_BUCKETS.into_iter());
        registry.register(
            "herald_claim_duration_seconds",
            "Duration of one claim statement",
            claim_duration.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "herald_in_flight",
            "Deliveries claimed by this replica and not yet recorded",
            in_flight.clone(),
        );
        let queue_due = Gauge::default();
        registry.register(
            "herald_queue_due",
            "Deliveries due now (measured by the leader)",
            queue_due.clone(),
        );
        let queue_oldest_due_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "herald_queue_oldest_due_seconds",
            "Age of the oldest due delivery (measured by the leader)",
            queue_oldest_due_seconds.clone(),
        );
        let wakeups = Family::<SourceLabel, Counter>::default();
        registry.register(
            "herald_wakeups",
            "Claimer wake-ups by source: notify, poll, due, capacity",
            wakeups.clone(),
        );
        let breaker_trips = Counter::default();
        registry.register(
            "herald_breaker_trips",
            "Times a webhook's circuit breaker opened",
            breaker_trips.clone(),
        );
        let gate_reads = Counter::default();
        registry.register(
            "herald_gate_reads",
            "Times the claimer read the gated webhooks (breaker, back-off, rate limit, FIFO)",
            gate_reads.clone(),
        );
        let breaker_states = Family::<StateLabel, Gauge>::default();
        registry.register(
            "herald_webhooks_by_breaker_state",
            "Webhooks by breaker state: closed, open, half_open, disabled (measured by the leader)",
            breaker_states.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "herald_leader",
            "1 while this replica is the leader",
            leader.clone(),
        );
        Arc::new(Self {
            registry,
            deliveries,
            attempt_duration,
            delivery_latency,
            claim_duration,
            in_flight,
            queue_due,
            queue_oldest_due_seconds,
            wakeups,
            breaker_trips,
            gate_reads,
            breaker_states,
            leader,
        })
    }

    pub fn outcome(&self, outcome: &'static str) -> Counter {
        self.deliveries
            .get_or_create(&OutcomeLabel { outcome })
            .clone()
    }

    pub fn breaker_state(&self, state: &str) -> Gauge {
        self.breaker_states
            .get_or_create(&StateLabel {
                state: state.to_owned(),
            })
            .clone()
    }

    pub fn wakeup(&self, source: &'static str) {
        self.wakeups.get_or_create(&SourceLabel { source }).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
