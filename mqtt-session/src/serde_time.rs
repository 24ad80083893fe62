//! `#[serde(with = "crate::serde_time")]` for [`Message::expires_at`](crate::Message::expires_at):
//! an `Option<Instant>` stored as `Option<u64>` wall-clock UNIX milliseconds.
//!
//! An [`Instant`] means nothing outside the process that took it, so a persisted expiry has to
//! be wall-clock time. The conversion is made relative to `Instant::now()` and
//! `SystemTime::now()`, read together at the serialization boundary. **This is the one clock
//! read of the crate**, and it happens only when a session state is serialized or deserialized,
//! never in the state machines, which keep taking `now` from their caller.
//!
//! The result is exact to the millisecond plus the skew between the two clock reads, and it
//! follows wall-clock changes made while the state was stored (the expiry stays an absolute
//! date). An expiry before the earliest representable `Instant` comes back as "now", that is
//! already expired.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) fn serialize<S: Serializer>(
    expires_at: &Option<Instant>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    expires_at
        .map(|at| to_unix_millis(at, Instant::now(), SystemTime::now()))
        .serialize(serializer)
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Instant>, D::Error> {
    match Option::<u64>::deserialize(deserializer)? {
        None => Ok(None),
        Some(millis) => from_unix_millis(millis, Instant::now(), SystemTime::now())
            .map(Some)
            .ok_or_else(|| de::Error::custom("message expiry out of range")),
    }
}

/// `at` as UNIX milliseconds, given that `now` and `wall_now` are the same moment.
fn to_unix_millis(at: Instant, now: Instant, wall_now: SystemTime) -> u64 {
    let millis = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    };
    match at.checked_duration_since(now) {
        Some(ahead) => wall_now.checked_add(ahead).map_or(u64::MAX, millis),
        None => wall_now
            .checked_sub(now.duration_since(at))
            .map_or(0, millis),
    }
}

/// UNIX milliseconds as an `Instant`, given that `now` and `wall_now` are the same moment;
/// `None` only if the date is too far in the future for an `Instant`.
fn from_unix_millis(millis: u64, now: Instant, wall_now: SystemTime) -> Option<Instant> {
    let wall = UNIX_EPOCH.checked_add(Duration::from_millis(millis))?;
    match wall.duration_since(wall_now) {
        Ok(ahead) => now.checked_add(ahead),
        // In the past: already expired; as far back as an `Instant` goes.
        Err(behind) => Some(now.checked_sub(behind.duration()).unwrap_or(now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways_at_one_moment() {
        let now = Instant::now();
        let wall_now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let later = now + Duration::from_millis(1500);
        assert_eq!(to_unix_millis(later, now, wall_now), 1_700_000_001_623);
        assert_eq!(
            from_unix_millis(1_700_000_001_623, now, wall_now),
            Some(later)
        );
        let earlier = now.checked_sub(Duration::from_millis(20));
        if let Some(earlier) = earlier {
            assert_eq!(to_unix_millis(earlier, now, wall_now), 1_700_000_000_103);
            assert_eq!(
                from_unix_millis(1_700_000_000_103, now, wall_now),
                Some(earlier)
            );
        }
        // Long before the process started: expired, never a panic.
        let ancient = from_unix_millis(0, now, wall_now).unwrap();
        assert!(ancient <= now);
    }
}
