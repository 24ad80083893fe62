//! Reconnection delays: exponential growth, a cap and seeded jitter.

use crate::Reconnect;
use std::time::Duration;

/// SplitMix64: a tiny, well-mixed generator; enough for jitter and ids, not for secrets.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The delays of consecutive reconnection attempts.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    policy: Reconnect,
    state: u64,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(policy: Reconnect) -> Backoff {
        let state = policy.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x5EED, |d| d.as_nanos() as u64)
        });
        Backoff {
            policy,
            state,
            attempt: 0,
        }
    }

    /// Consecutive failures so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempt
    }

    /// A connection succeeded: start again from the initial delay.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Whether another attempt is allowed.
    pub(crate) fn may_retry(&self) -> bool {
        self.policy.enabled
            && self
                .policy
                .max_attempts
                .is_none_or(|max| self.attempt < max)
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let exp = self
            .policy
            .multiplier
            .max(1.0)
            .powi(i32::try_from(self.attempt).unwrap_or(i32::MAX).min(64));
        self.attempt = self.attempt.saturating_add(1);
        let base = self.policy.initial_delay.as_secs_f64() * exp;
        let capped = base.min(self.policy.max_delay.as_secs_f64());
        self.state = splitmix64(self.state);
        // 53 random bits as a fraction in [0, 1).
        let unit = (self.state >> 11) as f64 / (1u64 << 53) as f64;
        let jitter = self.policy.jitter.clamp(0.0, 1.0);
        Duration::from_secs_f64((capped * (1.0 - jitter * unit)).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_to_the_cap_without_jitter() {
        let policy =
            Reconnect::backoff(Duration::from_millis(100), Duration::from_secs(1)).jitter(0.0);
        let mut b = Backoff::new(policy);
        let delays: Vec<u128> = (0..6).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_within_its_fraction_and_is_reproducible_with_a_seed() {
        let policy = Reconnect::backoff(Duration::from_secs(1), Duration::from_secs(1))
            .jitter(0.5)
            .seed(42);
        let run = |p: &Reconnect| {
            let mut b = Backoff::new(p.clone());
            (0..50).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        let a = run(&policy);
        assert_eq!(a, run(&policy));
        assert!(a
            .iter()
            .all(|d| *d >= Duration::from_millis(500) && *d <= Duration::from_secs(1)));
        // Not all equal: the jitter does something.
        assert!(a.windows(2).any(|w| w[0] != w[1]));
        let other = run(&policy.clone().seed(43));
        assert_ne!(a, other);
    }

    #[test]
    fn max_attempts_and_disabled() {
        let mut b = Backoff::new(Reconnect::default().max_attempts(2));
        assert!(b.may_retry());
        b.next_delay();
        b.next_delay();
        assert!(!b.may_retry());
        assert!(!Backoff::new(Reconnect::disabled()).may_retry());
    }
}
