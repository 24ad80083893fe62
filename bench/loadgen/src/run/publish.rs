//! `bench pub`: clients that publish stamped payloads at a fixed interval or as fast as their
//! window allows.

use super::{expand_topic, join_all, share, Ramp, RunLimits, Stop, Target};
use crate::{
    header::{unix_nanos, Header},
    procfs::CpuMeter,
    progress::{Counters, Progress},
    report::{round_to, PubReport},
    BenchError,
};
use bytes::BytesMut;
use starling_codec::{QoS, TopicName};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Most QoS 1/2 messages a publisher keeps unacknowledged (3.1.1 has no receive maximum;
/// an MQTT 5 broker's receive maximum also applies).
const WINDOW: usize = 1000;

/// Most messages written per wake-up, so one fast publisher cannot starve the others.
const BATCH: u64 = 64;

/// How often a waiting client looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// What the publishers of a run do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PubOptions {
    /// Publishing clients.
    pub clients: u64,
    /// Index of the first client (in client ids, topics and payload headers); give each of
    /// several loaders publishing to one subscriber its own range.
    pub start_index: u64,
    /// Time between two publications of one client (zero: as fast as the window allows).
    pub interval: Duration,
    /// Messages in all, shared out among the clients (none: until the run's duration).
    pub limit: Option<u64>,
    /// Payload size in bytes (at least the 28-byte header).
    pub size: usize,
    /// QoS of every publication.
    pub qos: QoS,
    /// Topic; `%i` is replaced by the client index and `%c` by the client id.
    pub topic: String,
}

impl PubOptions {
    /// One client publishing 64-byte QoS 0 messages to `topic` as fast as it can.
    pub fn new(topic: impl Into<String>) -> PubOptions {
        PubOptions {
            clients: 1,
            start_index: 0,
            interval: Duration::ZERO,
            limit: None,
            size: 64,
            qos: QoS::AtMostOnce,
            topic: topic.into(),
        }
    }
}

/// What one publisher did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Published {
    pub(crate) sent: u64,
    pub(crate) acked: u64,
    /// When its last message was written or acknowledged.
    pub(crate) done: Option<Instant>,
}

/// Runs the publishers alone and reports.
pub async fn run_pub(
    target: &Target,
    options: &PubOptions,
    limits: &RunLimits,
) -> Result<PubReport, BenchError> {
    let cpu = CpuMeter::start();
    let counters = Arc::new(Counters::default());
    let progress = Progress::start(limits.progress, counters.clone(), options.clients);
    let start = Instant::now();
    let deadline = start + limits.duration;
    let ramp = Ramp::new(target.connect_rate);
    let results = publish_all(target, options, &ramp, &counters, &limits.stop, deadline).await;
    progress.finish();
    let results = results?;
    let sent: u64 = results.iter().map(|p| p.sent).sum();
    let last = results.iter().filter_map(|p| p.done).max().unwrap_or(start);
    let seconds = last.duration_since(start).as_secs_f64();
    Ok(PubReport {
        clients: options.clients,
        connected: Counters::get(&counters.connected),
        qos: options.qos.as_u8(),
        payload: options.size.max(crate::HEADER_LEN),
        sent,
        acked: results.iter().map(|p| p.acked).sum(),
        seconds: round_to(seconds, 3),
        msgs_per_sec: round_to(sent as f64 / seconds.max(1e-9), 0),
        loader_cpu_percent: cpu.percent_of_one_core(),
    })
}

/// Spawns every publisher and waits for them all.
pub(crate) async fn publish_all(
    target: &Target,
    options: &PubOptions,
    ramp: &Arc<Ramp>,
    counters: &Arc<Counters>,
    stop: &Stop,
    deadline: Instant,
) -> Result<Vec<Published>, BenchError> {
    let mut set = tokio::task::JoinSet::new();
    for n in 0..options.clients {
        let index = options.start_index + n;
        let count = options
            .limit
            .map_or(u64::MAX, |l| share(l, options.clients, n));
        let (target, options, ramp, counters, stop) = (
            target.clone(),
            options.clone(),
            ramp.clone(),
            counters.clone(),
            stop.clone(),
        );
        set.spawn(async move {
            let result = publisher(
                &target, &options, index, count, &ramp, &counters, &stop, deadline,
            )
            .await;
            (index, result)
        });
    }
    join_all(set, "publisher").await
}

#[allow(clippy::too_many_arguments)]
async fn publisher(
    target: &Target,
    options: &PubOptions,
    index: u64,
    count: u64,
    ramp: &Ramp,
    counters: &Counters,
    stop: &Stop,
    deadline: Instant,
) -> Result<Published, BenchError> {
    let client_id = target.client_id("pub", index);
    let topic = TopicName::try_from(expand_topic(&options.topic, index, &client_id).as_str())
        .map_err(|e| BenchError::Protocol(format!("topic: {e}")))?;
    let mut client = ramp.connect(target, client_id, deadline).await?;
    Counters::add(&counters.connected, 1);
    let publisher =
        u32::try_from(index).map_err(|_| BenchError::Protocol("client index above 2^32".into()))?;
    let qos = options.qos;
    let mut done = Published::default();
    let start = Instant::now();
    let due = |seq: u64| {
        start
            + options
                .interval
                .saturating_mul(seq.min(u32::MAX.into()) as u32)
    };
    let mut payload = BytesMut::new();
    loop {
        let now = Instant::now();
        if stop.is_triggered() || now >= deadline {
            break;
        }
        if done.sent >= count && (qos == QoS::AtMostOnce || done.acked >= done.sent) {
            break;
        }
        let mut batch = 0;
        while done.sent < count
            && batch < BATCH
            && (qos == QoS::AtMostOnce || (client.inflight() < WINDOW && client.has_send_quota()))
            && (options.interval.is_zero() || due(done.sent) <= now)
        {
            Header {
                sent_ns: unix_nanos(),
                publisher,
                seq: done.sent,
            }
            .write(&mut payload, options.size);
            if !client.publish(&topic, payload.split().freeze(), qos)? {
                break;
            }
            done.sent += 1;
            batch += 1;
        }
        Counters::add(&counters.sent, batch);
        // Wait for acknowledgements when the window is full or everything is sent, for the
        // next due message when paced, or not at all at full speed. A read returns as soon
        // as something arrives; POLL only bounds how late a stop is seen.
        let blocked = qos != QoS::AtMostOnce
            && (done.sent >= count || client.inflight() >= WINDOW || !client.has_send_quota());
        let wait = if blocked {
            Some(now + POLL)
        } else if !options.interval.is_zero() && done.sent < count {
            // Never in the past: a zero-length read timeout would spin.
            Some(due(done.sent).clamp(now, now + POLL))
        } else {
            None
        };
        client.flush_and_read(wait.map(|w| w.min(deadline))).await?;
        let acked = client.take_completed();
        done.acked += acked;
        Counters::add(&counters.acked, acked);
        if batch > 0 || acked > 0 {
            done.done = Some(Instant::now());
        }
        if wait.is_none() {
            tokio::task::yield_now().await;
        }
    }
    client.disconnect().await;
    Ok(done)
}
