//! Timers: an enum and a fixed table. `poll_timeout` is the earliest deadline; a spurious
//! `handle_timeout` is a no-op because only expired entries fire.

use std::time::Instant;

/// The timers a session may run. MQTT has no retransmission timers: unacknowledged packets are
/// resent on session resume only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Server: CONNECT must arrive (or authentication finish) before this.
    Connect = 0,
    /// Server: 1.5 × Keep Alive since the last packet received. Client: PINGRESP deadline.
    KeepAliveExpiry = 1,
    /// Client: send PINGREQ when nothing was sent for Keep Alive.
    KeepAliveSend = 2,
}

const COUNT: usize = 3;

#[derive(Debug, Default, Clone)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; COUNT],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize]
    }

    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; COUNT];
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Removes and returns one timer whose deadline is at or before `now`.
    pub(crate) fn expired(&mut self, now: Instant) -> Option<Timer> {
        for (i, t) in [Timer::Connect, Timer::KeepAliveExpiry, Timer::KeepAliveSend]
            .into_iter()
            .enumerate()
        {
            if self.deadlines[i].is_some_and(|d| d <= now) {
                self.deadlines[i] = None;
                return Some(t);
            }
        }
        None
    }
}
