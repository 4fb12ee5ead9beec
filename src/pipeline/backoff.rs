//! Capped, jittered exponential backoff for reconnects and retries.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempt: 0,
        }
    }

    /// The next delay: base * 2^n, capped, with ±25% jitter.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(16));
        self.attempt = self.attempt.saturating_add(1);
        jitter(exp.min(self.max), 0.25)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn failures(&self) -> u32 {
        self.attempt
    }
}

/// `d` scaled by a random factor in [1 - spread, 1 + spread].
pub fn jitter(d: Duration, spread: f64) -> Duration {
    let mut b = [0u8; 4];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    let unit = f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX); // 0..=1
    d.mul_f64(1.0 - spread + 2.0 * spread * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(75) && first <= Duration::from_millis(125));
        for _ in 0..20 {
            assert!(b.next_delay() <= Duration::from_millis(2500));
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(125));
    }

    #[test]
    fn jitter_stays_in_bounds() {
        for _ in 0..1000 {
            let j = jitter(Duration::from_secs(1), 0.2);
            assert!(j >= Duration::from_millis(800) && j <= Duration::from_millis(1200));
        }
    }
}
