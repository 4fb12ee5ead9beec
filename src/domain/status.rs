//! A delivery's status, stored as text in `herald.webhook_deliveries.status`.

use super::named::named;

named! {
    /// Where a delivery stands (see ARCHITECTURE.md, "Delivery states").
    DeliveryStatus, UnknownStatus, "status" {
        /// Not attempted yet.
        Pending = "pending",
        Delivered = "delivered",
        /// Failed; due again at its `next_attempt_at`.
        Failed = "failed",
        /// Failed with no attempts left, or its webhook was disabled.
        Exhausted = "exhausted",
    }
}

impl DeliveryStatus {
    /// The statuses in the order the queue's depth is shown: the unfinished ones first.
    pub const UNFINISHED_FIRST: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Failed,
        DeliveryStatus::Delivered,
        DeliveryStatus::Exhausted,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_texts_round_trip_and_unknown_ones_name_the_set() {
        for s in DeliveryStatus::ALL {
            assert_eq!(s.as_str().parse::<DeliveryStatus>(), Ok(*s));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(
            "done".parse::<DeliveryStatus>().unwrap_err().to_string(),
            "status \"done\" is not one of pending, delivered, failed, exhausted"
        );
        assert_eq!(
            serde_json::to_value(DeliveryStatus::Exhausted).unwrap(),
            serde_json::json!("exhausted")
        );
    }
}
