//! The broker comparison's scenarios (`bench/compare.sh`), each a preset of publishers,
//! subscribers and topics over [`run_pubsub`] or [`run_conn`].

use crate::{
    report::{json_line, text, ConnReport, TrafficReport},
    run::{run_conn, run_pubsub, ConnOptions, PubOptions, RunLimits, SubOptions, Target},
    BenchError,
};
use serde::Serialize;
use starling_codec::QoS;
use std::{fmt, str::FromStr, time::Duration};

/// A preset load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scenario {
    /// `pubs` publishers to one subscriber, one topic.
    FanIn,
    /// One publisher to `subs` subscribers, one topic.
    FanOut,
    /// `pubs` publisher/subscriber pairs, a topic each.
    Pairs,
    /// One publisher to one subscriber at a fixed rate: latency under a steady load.
    Latency,
    /// `conns` connections that only stay connected: connect rate and broker memory.
    Idle,
}

impl Scenario {
    /// Every scenario, in the comparison's order.
    pub const ALL: [Scenario; 5] = [
        Scenario::FanIn,
        Scenario::FanOut,
        Scenario::Pairs,
        Scenario::Latency,
        Scenario::Idle,
    ];

    /// Its name in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::FanIn => "fanin",
            Scenario::FanOut => "fanout",
            Scenario::Pairs => "pairs",
            Scenario::Latency => "latency",
            Scenario::Idle => "idle",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Scenario, String> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| format!("unknown scenario {s:?} (fanin, fanout, pairs, latency, idle)"))
    }
}

/// The sizes of a scenario.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScenarioOptions {
    /// Publishers (fan-in) or pairs.
    pub pubs: u64,
    /// Subscribers (fan-out).
    pub subs: u64,
    /// Messages published in all.
    pub count: u64,
    /// QoS of publications and subscriptions.
    pub qos: QoS,
    /// Payload size in bytes.
    pub payload: usize,
    /// Messages per second in all (latency; others publish as fast as they can unless set).
    pub rate: Option<f64>,
    /// Connections (idle).
    pub conns: u64,
    /// The broker's process id, for its memory (idle).
    pub broker_pid: Option<u32>,
}

impl Default for ScenarioOptions {
    /// The full comparison's sizes: fan-in 8 publishers, fan-out 50 subscribers, 50 pairs,
    /// 100,000 messages of 64 bytes at QoS 0, latency at 5,000 msg/s, 10,000 idle connections.
    fn default() -> Self {
        ScenarioOptions {
            pubs: 8,
            subs: 50,
            count: 100_000,
            qos: QoS::AtMostOnce,
            payload: 64,
            rate: None,
            conns: 10_000,
            broker_pid: None,
        }
    }
}

/// A scenario's report: traffic or connections, with the scenario's name.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ScenarioReport {
    /// Which scenario.
    pub scenario: &'static str,
    /// What happened.
    #[serde(flatten)]
    pub body: ScenarioBody,
}

/// The report of a traffic scenario or of the idle one.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ScenarioBody {
    /// Fan-in, fan-out, pairs, latency.
    Traffic(TrafficReport),
    /// Idle connections.
    Connections(ConnReport),
}

impl ScenarioReport {
    /// The report as one JSON object on one line.
    pub fn to_json(&self) -> String {
        json_line(self)
    }

    /// The report as aligned `name  value` lines.
    pub fn to_text(&self) -> String {
        text(self)
    }

    /// Lost deliveries or failed connections: whether the run fell short.
    pub fn shortfall(&self) -> u64 {
        match &self.body {
            ScenarioBody::Traffic(t) => t.lost,
            ScenarioBody::Connections(c) => c.failed,
        }
    }
}

/// Runs `scenario` against `target`.
pub async fn run_scenario(
    target: &Target,
    scenario: Scenario,
    options: &ScenarioOptions,
    limits: &RunLimits,
) -> Result<ScenarioReport, BenchError> {
    let pubs = options.pubs.max(1);
    let subs = options.subs.max(1);
    let (pub_clients, sub_clients, pub_topic, sub_topic, copies) = match scenario {
        Scenario::FanIn => (pubs, 1, "bench/fanin", "bench/fanin", 1),
        Scenario::FanOut => (1, subs, "bench/fanout", "bench/fanout", subs),
        Scenario::Pairs => (pubs, pubs, "bench/pair/%i", "bench/pair/%i", 1),
        Scenario::Latency => (1, 1, "bench/latency", "bench/latency", 1),
        Scenario::Idle => {
            let mut conn = ConnOptions::new(options.conns);
            // Let the broker settle before its memory is read.
            conn.hold = Duration::from_millis(500);
            conn.broker_pid = options.broker_pid;
            let report = run_conn(target, &conn, limits).await?;
            return Ok(ScenarioReport {
                scenario: scenario.name(),
                body: ScenarioBody::Connections(report),
            });
        }
    };
    let rate = match scenario {
        Scenario::Latency => Some(options.rate.unwrap_or(5000.0)),
        _ => options.rate,
    };
    let mut publishers = PubOptions::new(pub_topic);
    publishers.clients = pub_clients;
    publishers.limit = Some(options.count);
    publishers.size = options.payload;
    publishers.qos = options.qos;
    if let Some(rate) = rate.filter(|r| *r > 0.0) {
        publishers.interval = Duration::from_secs_f64(pub_clients as f64 / rate);
    }
    let mut subscribers = SubOptions::new(sub_topic);
    subscribers.clients = sub_clients;
    subscribers.qos = options.qos;
    let report = run_pubsub(target, &publishers, &subscribers, copies, limits).await?;
    Ok(ScenarioReport {
        scenario: scenario.name(),
        body: ScenarioBody::Traffic(report),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>(), Ok(s));
        }
        assert!("fan-in".parse::<Scenario>().is_err());
    }
}
