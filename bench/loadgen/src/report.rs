//! Final reports, serialisable as one JSON object each (`--json`) or printed as text.

use crate::stats::Latency;
use serde::Serialize;

/// What `bench pub` did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PubReport {
    /// Publishing clients asked for.
    pub clients: u64,
    /// Clients that connected.
    pub connected: u64,
    /// QoS used.
    pub qos: u8,
    /// Payload size in bytes.
    pub payload: usize,
    /// Messages written.
    pub sent: u64,
    /// QoS 1/2 messages acknowledged (0 at QoS 0).
    pub acked: u64,
    /// From the first connection to the last message (or acknowledgement).
    pub seconds: f64,
    /// `sent / seconds`.
    pub msgs_per_sec: f64,
    /// The loader's CPU time over wall time, percent of one core.
    pub loader_cpu_percent: Option<f64>,
}

/// What `bench sub` received.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SubReport {
    /// Subscribing clients asked for.
    pub clients: u64,
    /// Clients that connected and subscribed.
    pub connected: u64,
    /// QoS subscribed with.
    pub qos: u8,
    /// Messages received, duplicates included.
    pub received: u64,
    /// Messages received once.
    pub unique: u64,
    /// Missing messages: gaps in the per-publisher sequences, or, with a limit, what is
    /// missing from it, whichever is larger.
    pub lost: u64,
    /// Messages received again.
    pub duplicates: u64,
    /// Messages that arrived after a later one from the same publisher.
    pub reordered: u64,
    /// Messages without a benchmark header.
    pub foreign: u64,
    /// From the first message received to the last.
    pub seconds: f64,
    /// `received / seconds`.
    pub msgs_per_sec: f64,
    /// End-to-end latency.
    #[serde(flatten)]
    pub latency: Latency,
    /// The loader's CPU time over wall time, percent of one core.
    pub loader_cpu_percent: Option<f64>,
}

/// What publishers and subscribers of one run did together.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TrafficReport {
    /// QoS of publications and subscriptions.
    pub qos: u8,
    /// Payload size in bytes.
    pub payload: usize,
    /// Publishing clients.
    pub publishers: u64,
    /// Subscribing clients.
    pub subscribers: u64,
    /// Messages published.
    pub sent: u64,
    /// Deliveries expected (each published message times the subscribers it reaches).
    pub expected: u64,
    /// Deliveries received, duplicates included.
    pub received: u64,
    /// `expected` minus deliveries received once (never below the sequence gaps).
    pub lost: u64,
    /// Deliveries received again.
    pub duplicates: u64,
    /// Deliveries that arrived after a later one from the same publisher.
    pub reordered: u64,
    /// From the first publication to the last delivery.
    pub seconds: f64,
    /// `received / seconds`.
    pub msgs_per_sec: f64,
    /// End-to-end latency.
    #[serde(flatten)]
    pub latency: Latency,
    /// The loader's CPU time over wall time, percent of one core.
    pub loader_cpu_percent: Option<f64>,
}

/// What `bench conn` did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ConnReport {
    /// Connections that succeeded.
    pub connections: u64,
    /// Connections that failed.
    pub failed: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// From the first connection attempt to the last CONNACK.
    pub seconds: f64,
    /// `connections / seconds`.
    pub connects_per_sec: f64,
    /// Time from TCP connect to CONNACK.
    pub handshake: Latency,
    /// Broker resident memory with every connection open (with a broker pid).
    pub broker_rss_kib: Option<u64>,
    /// The loader's CPU time over wall time, percent of one core.
    pub loader_cpu_percent: Option<f64>,
}

/// `x` rounded to `decimals` places: reports show milliseconds and whole rates, not float
/// noise.
pub(crate) fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// `value` as one JSON line (`--json`).
pub(crate) fn json_line(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// `value` as aligned `name: value` lines, nested objects flattened with dots.
pub(crate) fn text(value: &impl Serialize) -> String {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&name, v, out);
                }
            }
            serde_json::Value::Null => out.push((prefix.to_owned(), "-".to_owned())),
            serde_json::Value::String(s) => out.push((prefix.to_owned(), s.clone())),
            other => out.push((prefix.to_owned(), other.to_string())),
        }
    }
    let mut rows = Vec::new();
    if let Ok(v) = serde_json::to_value(value) {
        walk("", &v, &mut rows);
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

macro_rules! outputs {
    ($($t:ty),*) => {$(
        impl $t {
            /// The report as one JSON object on one line.
            pub fn to_json(&self) -> String {
                json_line(self)
            }

            /// The report as aligned `name  value` lines.
            pub fn to_text(&self) -> String {
                text(self)
            }
        }
    )*};
}

outputs!(PubReport, SubReport, TrafficReport, ConnReport);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_flat_latency_fields_and_text_aligns_nested_ones() {
        let r = ConnReport {
            connections: 3,
            failed: 0,
            first_error: None,
            seconds: 0.5,
            connects_per_sec: 6.0,
            handshake: Latency {
                p50_us: 10,
                ..Latency::default()
            },
            broker_rss_kib: Some(1024),
            loader_cpu_percent: Some(12.5),
        };
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap_or_default();
        assert_eq!(json["connections"], 3);
        assert_eq!(json["handshake"]["p50_us"], 10);
        let text = r.to_text();
        assert!(text.contains("handshake.p50_us"), "{text}");
        assert!(text.contains("first_error"), "{text}");
    }
}
