//! The retry schedule and the pure function that decides a delivery's next state.

use std::{fmt, str::FromStr, time::Duration};

use chrono::{DateTime, Utc};

use crate::domain::{duration::parse_duration, status::DeliveryStatus};

/// Delays before each attempt. The list length is the maximum number of attempts;
/// `delays[0]` is the delay of the first attempt (normally 0, immediate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("the retry schedule is empty; give at least one delay, e.g. \"0,5,300\"")]
    Empty,
    #[error("bad delay {entry:?} in the retry schedule: {reason}")]
    BadEntry { entry: String, reason: String },
}

impl RetrySchedule {
    /// The default schedule: `0, 5, 300, 1800, 7200, 28800, 86400` seconds.
    pub fn standard() -> Self {
        Self::from_secs(&[0, 5, 300, 1800, 7200, 28800, 86400])
    }

    pub fn from_secs(secs: &[u64]) -> Self {
        Self {
            delays: secs.iter().map(|s| Duration::from_secs(*s)).collect(),
        }
    }

    pub fn new(delays: Vec<Duration>) -> Result<Self, ScheduleError> {
        if delays.is_empty() {
            return Err(ScheduleError::Empty);
        }
        Ok(Self { delays })
    }

    pub fn max_attempts(&self) -> u32 {
        self.delays.len() as u32
    }

    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::standard()
    }
}

impl FromStr for RetrySchedule {
    type Err = ScheduleError;

    /// Comma-separated durations; a bare number means seconds: `0,5s,5m,1h`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let delays = s
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                parse_duration(e).map_err(|reason| ScheduleError::BadEntry {
                    entry: e.to_owned(),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(delays)
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .delays
            .iter()
            .map(|d| humantime::format_duration(*d).to_string())
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextState {
    Delivered,
    /// Failed; may be claimed again at this time.
    Retry {
        at: DateTime<Utc>,
    },
    /// Failed and no attempts are left.
    Exhausted,
}

impl NextState {
    pub fn status(&self) -> DeliveryStatus {
        match self {
            NextState::Delivered => DeliveryStatus::Delivered,
            NextState::Retry { .. } => DeliveryStatus::Failed,
            NextState::Exhausted => DeliveryStatus::Exhausted,
        }
    }
}

/// Longest a receiver's `Retry-After` may push the next attempt beyond the schedule.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Decides the next state after attempt number `attempts_before` (0-based: the number of
/// attempts made before this one).
///
/// `retry_after` is the receiver's hint (429/503); it may delay the next attempt, bounded by
/// [`MAX_RETRY_AFTER`], but never bring it earlier than the schedule.
pub fn next_state(
    schedule: &RetrySchedule,
    attempts_before: u32,
    success: bool,
    retry_after: Option<Duration>,
    now: DateTime<Utc>,
) -> NextState {
    if success {
        return NextState::Delivered;
    }
    let next = attempts_before as usize + 1;
    let Some(delay) = schedule.delays.get(next) else {
        return NextState::Exhausted;
    };
    let delay = match retry_after {
        Some(hint) => (*delay).max(hint.min(MAX_RETRY_AFTER)),
        None => *delay,
    };
    let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
    NextState::Retry {
        at: now
            .checked_add_signed(delay)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn secs(s: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::seconds(s)
    }

    #[test]
    fn next_state_follows_the_standard_schedule_to_exhaustion() {
        let s = RetrySchedule::standard();
        assert_eq!(s.max_attempts(), 7);
        let expected = [5, 300, 1800, 7200, 28800, 86400];
        for (n, delay) in expected.iter().enumerate() {
            assert_eq!(
                next_state(&s, n as u32, false, None, t0()),
                NextState::Retry { at: secs(*delay) },
                "after attempt {n}"
            );
        }
        assert_eq!(next_state(&s, 6, false, None, t0()), NextState::Exhausted);
        assert_eq!(next_state(&s, 7, false, None, t0()), NextState::Exhausted);
    }

    #[test]
    fn next_state_with_custom_three_entry_schedule() {
        let s: RetrySchedule = "0,1,2".parse().unwrap();
        assert_eq!(s.max_attempts(), 3);
        assert_eq!(
            next_state(&s, 0, false, None, t0()),
            NextState::Retry { at: secs(1) }
        );
        assert_eq!(
            next_state(&s, 1, false, None, t0()),
            NextState::Retry { at: secs(2) }
        );
        assert_eq!(next_state(&s, 2, false, None, t0()), NextState::Exhausted);
    }

    #[test]
    fn next_state_is_delivered_on_success_at_any_attempt() {
        let s = RetrySchedule::standard();
        for n in 0..10 {
            assert_eq!(next_state(&s, n, true, None, t0()), NextState::Delivered);
        }
    }

    #[test]
    fn next_state_single_entry_schedule_exhausts_after_first_failure() {
        let s: RetrySchedule = "0".parse().unwrap();
        assert_eq!(next_state(&s, 0, false, None, t0()), NextState::Exhausted);
    }

    #[test]
    fn retry_after_delays_but_never_hastens() {
        let s: RetrySchedule = "0,10,20".parse().unwrap();
        let later = next_state(&s, 0, false, Some(Duration::from_secs(60)), t0());
        assert_eq!(later, NextState::Retry { at: secs(60) });
        let sooner = next_state(&s, 0, false, Some(Duration::from_secs(1)), t0());
        assert_eq!(sooner, NextState::Retry { at: secs(10) });
        let huge = next_state(&s, 0, false, Some(Duration::from_secs(10_000_000)), t0());
        assert_eq!(huge, NextState::Retry { at: secs(86400) });
    }

    #[test]
    fn retry_after_does_not_extend_an_exhausted_schedule() {
        let s: RetrySchedule = "0".parse().unwrap();
        let n = next_state(&s, 0, false, Some(Duration::from_secs(5)), t0());
        assert_eq!(n, NextState::Exhausted);
    }

    #[test]
    fn schedule_parses_humane_durations_and_bare_seconds() {
        let s: RetrySchedule = "0, 5s, 5m,1h, 30".parse().unwrap();
        assert_eq!(
            s.delays(),
            &[0, 5, 300, 3600, 30].map(Duration::from_secs)[..]
        );
    }

    #[test]
    fn schedule_rejects_empty_and_garbage() {
        assert_eq!("".parse::<RetrySchedule>(), Err(ScheduleError::Empty));
        assert!(matches!(
            "0,soon".parse::<RetrySchedule>(),
            Err(ScheduleError::BadEntry { entry, .. }) if entry == "soon"
        ));
        assert!("0,-5".parse::<RetrySchedule>().is_err());
    }
}
