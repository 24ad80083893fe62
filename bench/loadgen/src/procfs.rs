//! What /proc says about the loader and the broker (Linux; elsewhere these report nothing).

use std::time::Instant;

/// Kernel clock ticks per second in /proc/*/stat. `USER_HZ` is 100 on every Linux
/// architecture Rust targets; reading it would need `sysconf` (libc) for no gain.
const TICKS_PER_SEC: f64 = 100.0;

/// CPU time (user + system) this process has used, in seconds.
fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After ")": state is field 3; utime is field 14 and stime field 15.
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// Measures the loader's own CPU use from its creation, so a report can show that the loader
/// was not the bottleneck.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    wall: Instant,
    cpu: Option<f64>,
}

impl CpuMeter {
    /// Starts measuring now.
    pub fn start() -> CpuMeter {
        CpuMeter {
            wall: Instant::now(),
            cpu: own_cpu_seconds(),
        }
    }

    /// CPU time used since the start over wall time, in percent of one core (200 % is two
    /// cores busy); `None` without /proc.
    pub fn percent_of_one_core(&self) -> Option<f64> {
        let used = own_cpu_seconds()? - self.cpu?;
        let wall = self.wall.elapsed().as_secs_f64().max(1e-3);
        Some((used / wall * 1000.0).round() / 10.0)
    }
}

/// Resident memory of process `pid` in KiB, from /proc/PID/status.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_rss_and_cpu_are_readable() {
        assert!(rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
        let meter = CpuMeter::start();
        // Burn a little CPU (bounded) so the share is measurable.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert_ne!(x, 1);
        let share = meter.percent_of_one_core();
        assert!(
            share.is_some_and(|p| (0.0..=10_000.0).contains(&p)),
            "{share:?}"
        );
    }
}
