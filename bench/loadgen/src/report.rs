//! Counting and reporting.

use starling_codec::QoS;
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// Bytes of the payload header: send time (ns since the run started), sequence, publisher.
pub(crate) const HEADER: usize = 20;

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) received: u64,
    duplicates: u64,
    reordered: u64,
    latencies_us: Vec<u64>,
    last_seq: HashMap<u32, u64>,
    pub(crate) last_receive: Option<Instant>,
}

impl Stats {
    pub(crate) fn record(&mut self, payload: &[u8], now_ns: u64) {
        if payload.len() < HEADER {
            return;
        }
        let ts = u64::from_be_bytes(payload[0..8].try_into().unwrap_or_default());
        let seq = u64::from_be_bytes(payload[8..16].try_into().unwrap_or_default());
        let publisher = u32::from_be_bytes(payload[16..20].try_into().unwrap_or_default());
        match self.last_seq.get(&publisher) {
            Some(&last) if seq == last => self.duplicates += 1,
            Some(&last) if seq < last => self.reordered += 1,
            _ => {}
        }
        self.last_seq.insert(
            publisher,
            seq.max(self.last_seq.get(&publisher).copied().unwrap_or(0)),
        );
        self.received += 1;
        self.latencies_us.push(now_ns.saturating_sub(ts) / 1000);
    }

    pub(crate) fn merge(&mut self, other: Stats) {
        self.received += other.received;
        self.duplicates += other.duplicates;
        self.reordered += other.reordered;
        self.latencies_us.extend(other.latencies_us);
        self.last_receive = self.last_receive.max(other.last_receive);
    }

    pub(crate) fn report_json(
        &mut self,
        scenario: &str,
        qos: QoS,
        payload: usize,
        sent: u64,
        expected: u64,
        elapsed: Duration,
    ) -> String {
        self.latencies_us.sort_unstable();
        let pct = |p: f64| -> u64 {
            if self.latencies_us.is_empty() {
                return 0;
            }
            let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
            self.latencies_us[i]
        };
        let secs = elapsed.as_secs_f64().max(1e-9);
        format!(
            "{{\"scenario\":\"{scenario}\",\"qos\":{},\"payload\":{payload},\"sent\":{sent},\"expected\":{expected},\"received\":{},\"lost\":{},\"duplicates\":{},\"reordered\":{},\"seconds\":{secs:.3},\"msgs_per_sec\":{:.0},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}}",
            qos.as_u8(),
            self.received,
            expected.saturating_sub(self.received.saturating_sub(self.duplicates)),
            self.duplicates,
            self.reordered,
            self.received as f64 / secs,
            pct(0.5),
            pct(0.9),
            pct(0.99),
            pct(0.999),
            self.latencies_us.last().copied().unwrap_or(0)
        )
    }
}

/// Resident memory of a process, from /proc.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
