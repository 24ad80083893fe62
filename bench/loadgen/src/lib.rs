//! `starling-bench`: the MQTT load generator behind `starling bench`.
//!
//! Publishers stamp every payload with a [`Header`] (send time, publisher index, sequence
//! number); subscribers turn those into end-to-end latency percentiles, loss, duplicates and
//! reordering ([`Received`]). Every run is bounded in messages and in time, and every report
//! carries the loader's own CPU share, so a reader can see that the loader was not the
//! bottleneck. Works against any MQTT 3.1.1 or 5 broker.
//!
//! ```no_run
//! use starling_bench::{run_pubsub, PubOptions, RunLimits, SubOptions, Target};
//! use std::time::Duration;
//!
//! # async fn demo() -> Result<(), starling_bench::BenchError> {
//! let target = Target::new("127.0.0.1", 1883);
//! let mut publishers = PubOptions::new("bench/%i");
//! publishers.clients = 4;
//! publishers.limit = Some(10_000);
//! let mut subscribers = SubOptions::new("bench/+");
//! subscribers.clients = 1;
//! let limits = RunLimits::new(Duration::from_secs(30));
//! let report = run_pubsub(&target, &publishers, &subscribers, 1, &limits).await?;
//! println!("{} lost, p99 {} µs", report.lost, report.latency.p99_us);
//! # Ok(())
//! # }
//! ```

mod client;
mod header;
mod procfs;
mod progress;
mod report;
mod run;
mod scenario;
mod stats;

pub use client::{Client, ConnectOptions};
pub use header::{unix_nanos, Header, HEADER_LEN, MAGIC};
pub use procfs::{rss_kib, CpuMeter};
pub use progress::ProgressMode;
pub use report::{ConnReport, PubReport, SubReport, TrafficReport};
pub use run::{
    run_conn, run_pub, run_pubsub, run_sub, ConnOptions, PubOptions, RunLimits, Stop, SubOptions,
    Target,
};
pub use scenario::{run_scenario, Scenario, ScenarioBody, ScenarioOptions, ScenarioReport};
/// The QoS type of the options, from `starling-codec`.
pub use starling_codec::QoS;
pub use stats::{Arrival, Latency, LatencyHistogram, Received};

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A socket error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Something did not happen in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The broker refused the connection or the subscription.
    #[error("refused: {0}")]
    Refused(String),
    /// The broker closed the connection.
    #[error("connection closed by the broker")]
    Closed,
    /// An invalid option or a protocol-level failure.
    #[error("{0}")]
    Protocol(String),
    /// A client of the run failed.
    #[error("{role} {index}: {source}")]
    Client {
        /// "publisher", "subscriber" or "connection".
        role: &'static str,
        /// Its index.
        index: u64,
        /// What went wrong.
        source: Box<BenchError>,
    },
}
