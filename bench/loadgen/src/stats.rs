//! What a subscriber counts: latency histogram, per-publisher sequences (loss, duplicates,
//! reordering).

use crate::header::Header;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::HashMap;

/// Highest latency the histogram tells apart, in microseconds (one hour); above it, values
/// count as this.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Sequence numbers above this are counted as foreign, not tracked: a bitset that large would
/// be a memory hazard, and a run never publishes that many messages per client.
const MAX_TRACKED_SEQ: u64 = 1 << 32;

/// A latency histogram in microseconds, three significant digits (HDR).
#[derive(Debug, Clone)]
pub struct LatencyHistogram(
    /// Creation fails only for out-of-range bounds; ours are constants in range (a test
    /// checks), so this is always `Some`.
    Option<Histogram<u64>>,
);

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram(Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).ok())
    }
}

impl LatencyHistogram {
    /// Records one latency.
    pub fn record_us(&mut self, us: u64) {
        if let Some(h) = &mut self.0 {
            h.saturating_record(us.clamp(1, MAX_LATENCY_US));
        }
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        if let (Some(h), Some(o)) = (&mut self.0, &other.0) {
            // Same bounds on both sides, so adding cannot fail.
            let _ = h.add(o);
        }
    }

    /// How many latencies were recorded.
    pub fn len(&self) -> u64 {
        self.0.as_ref().map_or(0, Histogram::len)
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `quantile` (0.0 to 1.0), 0 when empty.
    pub fn quantile_us(&self, quantile: f64) -> u64 {
        match &self.0 {
            Some(h) if !h.is_empty() => h.value_at_quantile(quantile),
            _ => 0,
        }
    }

    /// The summary a report prints.
    pub fn summary(&self) -> Latency {
        match &self.0 {
            Some(h) if !h.is_empty() => Latency {
                p50_us: h.value_at_quantile(0.5),
                p90_us: h.value_at_quantile(0.9),
                p99_us: h.value_at_quantile(0.99),
                p999_us: h.value_at_quantile(0.999),
                max_us: h.max(),
                mean_us: (h.mean() * 10.0).round() / 10.0,
            },
            _ => Latency::default(),
        }
    }
}

/// End-to-end latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Highest.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
}

/// The sequence numbers seen from one publisher, as a bitset.
#[derive(Debug, Clone, Default)]
struct Sequence {
    seen: Vec<u64>,
    distinct: u64,
    highest: Option<u64>,
}

/// What a message was, relative to those before it from the same publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next new sequence number, or a later one (a gap is loss only if never filled).
    InOrder,
    /// A new sequence number below one already seen.
    Reordered,
    /// A sequence number already seen.
    Duplicate,
    /// Not a benchmark payload, or a sequence number out of the tracked range.
    Foreign,
}

impl Sequence {
    fn record(&mut self, seq: u64) -> Arrival {
        if seq >= MAX_TRACKED_SEQ {
            return Arrival::Foreign;
        }
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & (1 << bit) != 0 {
            return Arrival::Duplicate;
        }
        self.seen[word] |= 1 << bit;
        self.distinct += 1;
        match self.highest {
            Some(h) if seq < h => Arrival::Reordered,
            _ => {
                self.highest = Some(seq);
                Arrival::InOrder
            }
        }
    }

    /// Sequence numbers below the highest seen that never arrived.
    fn gaps(&self) -> u64 {
        self.highest.map_or(0, |h| h + 1 - self.distinct)
    }
}

/// What one or more subscribers received.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// Messages received, duplicates included.
    pub messages: u64,
    /// Messages seen before (same publisher and sequence number, same subscriber).
    pub duplicates: u64,
    /// New messages that arrived after a later one from the same publisher.
    pub reordered: u64,
    /// Messages without a benchmark header (not counted in latency or loss).
    pub foreign: u64,
    /// Sequence numbers missing below the highest one, summed over publishers, once merged.
    gaps: u64,
    latency: LatencyHistogram,
    /// foldhash: looked up once per received message, and SipHash showed in the loader's
    /// profile (the loader's own cost is taken from the broker's share of the machine).
    sequences: HashMap<u32, Sequence, foldhash::fast::RandomState>,
}

impl Received {
    /// Counts one payload received at `now_ns` (nanoseconds since the UNIX epoch).
    pub fn record(&mut self, payload: &[u8], now_ns: u64) -> Arrival {
        self.messages += 1;
        let Some(h) = Header::read(payload) else {
            self.foreign += 1;
            return Arrival::Foreign;
        };
        let arrival = self.sequences.entry(h.publisher).or_default().record(h.seq);
        match arrival {
            Arrival::Duplicate => self.duplicates += 1,
            Arrival::Reordered => self.reordered += 1,
            Arrival::Foreign => self.foreign += 1,
            Arrival::InOrder => {}
        }
        if arrival != Arrival::Foreign {
            self.latency
                .record_us(now_ns.saturating_sub(h.sent_ns) / 1000);
        }
        arrival
    }

    /// Messages received once (duplicates and foreign payloads left out).
    pub fn unique(&self) -> u64 {
        self.messages - self.duplicates - self.foreign
    }

    /// Messages missing in the per-publisher sequences (below the highest number seen from
    /// each publisher): loss that the subscriber can see by itself. Messages lost after the
    /// last one received show only against the publishers' counts.
    pub fn gaps(&self) -> u64 {
        self.gaps + self.sequences.values().map(Sequence::gaps).sum::<u64>()
    }

    /// The latency histogram.
    pub fn latency(&self) -> &LatencyHistogram {
        &self.latency
    }

    /// Adds another subscriber's counts. Sequences are per subscriber (each gets its own copy
    /// of a message), so only their gap counts are kept.
    pub fn merge(&mut self, other: Received) {
        self.messages += other.messages;
        self.duplicates += other.duplicates;
        self.reordered += other.reordered;
        self.foreign += other.foreign;
        self.gaps += other.gaps();
        self.latency.merge(&other.latency);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn payload(publisher: u32, seq: u64, sent_ns: u64) -> BytesMut {
        let mut b = BytesMut::new();
        Header {
            sent_ns,
            publisher,
            seq,
        }
        .write(&mut b, 64);
        b
    }

    #[test]
    fn percentiles_of_one_to_ten_thousand() {
        let mut h = LatencyHistogram::default();
        assert!(h.0.is_some(), "histogram bounds out of range");
        for us in 1..=10_000 {
            h.record_us(us);
        }
        let s = h.summary();
        // HDR keeps three significant digits: each value is within 0.1 %.
        let near = |got: u64, want: u64| got.abs_diff(want) <= want / 1000 + 1;
        assert!(near(s.p50_us, 5_000), "{s:?}");
        assert!(near(s.p90_us, 9_000), "{s:?}");
        assert!(near(s.p99_us, 9_900), "{s:?}");
        assert!(near(s.p999_us, 9_990), "{s:?}");
        assert!(near(s.max_us, 10_000), "{s:?}");
        assert!((s.mean_us - 5_000.5).abs() < 10.0, "{s:?}");
        assert_eq!(h.len(), 10_000);
    }

    #[test]
    fn percentiles_of_a_skewed_distribution_and_of_nothing() {
        let mut h = LatencyHistogram::default();
        for _ in 0..990 {
            h.record_us(100);
        }
        for _ in 0..10 {
            h.record_us(50_000);
        }
        let s = h.summary();
        assert_eq!((s.p50_us, s.p90_us, s.p99_us), (100, 100, 100));
        assert!(s.p999_us.abs_diff(50_000) <= 50, "{s:?}");
        assert_eq!(LatencyHistogram::default().summary(), Latency::default());
    }

    #[test]
    fn merged_histograms_add_up() {
        let (mut a, mut b) = (LatencyHistogram::default(), LatencyHistogram::default());
        for _ in 0..50 {
            a.record_us(10);
            b.record_us(1000);
        }
        a.merge(&b);
        assert_eq!(a.len(), 100);
        assert_eq!(a.quantile_us(0.25), 10);
        assert!(a.quantile_us(0.75).abs_diff(1000) <= 1);
    }

    #[test]
    fn sequences_count_gaps_duplicates_and_reordering() {
        let mut r = Received::default();
        let now = 2_000_000;
        for seq in [0, 1, 3, 2, 3, 6] {
            r.record(&payload(1, seq, 1_000_000), now);
        }
        for seq in 0..5 {
            r.record(&payload(2, seq, 1_000_000), now);
        }
        r.record(b"not a benchmark payload", now);
        assert_eq!(r.messages, 12);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.reordered, 1);
        assert_eq!(r.foreign, 1);
        assert_eq!(r.unique(), 10);
        // Publisher 1: 4 and 5 never came.
        assert_eq!(r.gaps(), 2);
        assert_eq!(r.latency().len(), 11);
        assert_eq!(r.latency().quantile_us(0.5), 1000);
    }

    #[test]
    fn merge_keeps_each_subscribers_gaps() {
        let mut a = Received::default();
        let mut b = Received::default();
        a.record(&payload(0, 0, 0), 1000);
        a.record(&payload(0, 2, 0), 1000);
        // The same publisher seen by another subscriber is another stream.
        b.record(&payload(0, 0, 0), 1000);
        b.record(&payload(0, 1, 0), 1000);
        a.merge(b);
        assert_eq!((a.messages, a.duplicates, a.gaps()), (4, 0, 1));
    }
}
