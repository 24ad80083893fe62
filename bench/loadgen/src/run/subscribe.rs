//! `bench sub`, and publishers with subscribers in one run (the scenarios).

use super::{
    expand_topic, join_all,
    publish::{publish_all, PubOptions},
    Ramp, RunLimits, Stop, Target,
};
use crate::{
    header::unix_nanos,
    procfs::CpuMeter,
    progress::{Counters, Progress},
    report::{round_to, SubReport, TrafficReport},
    stats::{Arrival, Received},
    BenchError,
};
use starling_codec::QoS;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

/// How often the coordinator and waiting subscribers look at the counters and flags.
const POLL: Duration = Duration::from_millis(50);

/// What the subscribers of a run do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SubOptions {
    /// Subscribing clients.
    pub clients: u64,
    /// Index of the first client (in client ids and topics).
    pub start_index: u64,
    /// QoS of the subscriptions.
    pub qos: QoS,
    /// Topic filter; `%i` is replaced by the client index and `%c` by the client id.
    pub topic: String,
    /// Stop once this many messages arrived in all, duplicates left out (none: at the end of
    /// the run's duration).
    pub limit: Option<u64>,
}

impl SubOptions {
    /// One client subscribed to `topic` at QoS 0, until the run's duration.
    pub fn new(topic: impl Into<String>) -> SubOptions {
        SubOptions {
            clients: 1,
            start_index: 0,
            qos: QoS::AtMostOnce,
            topic: topic.into(),
            limit: None,
        }
    }
}

/// What one subscriber received, with the times of its first and last message.
struct Subscribed {
    received: Received,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// Subscribers running in the background.
struct Subscribers {
    tasks: tokio::task::JoinSet<(u64, Result<Subscribed, BenchError>)>,
    /// Told to stop receiving (not the user's stop: the coordinator decides).
    done: Stop,
}

/// Connects and subscribes every client, returning once all are subscribed.
async fn subscribe_all(
    target: &Target,
    options: &SubOptions,
    ramp: &Arc<Ramp>,
    counters: &Arc<Counters>,
    deadline: Instant,
) -> Result<Subscribers, BenchError> {
    let done = Stop::default();
    let (ready_tx, mut ready_rx) = mpsc::channel::<()>(1024);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..options.clients {
        let index = options.start_index + n;
        let (target, options, ramp, counters, done, ready) = (
            target.clone(),
            options.clone(),
            ramp.clone(),
            counters.clone(),
            done.clone(),
            ready_tx.clone(),
        );
        tasks.spawn(async move {
            let result = subscriber(
                &target, &options, index, &ramp, &counters, &done, ready, deadline,
            )
            .await;
            (index, result)
        });
    }
    drop(ready_tx);
    let mut ready = 0;
    while ready < options.clients {
        tokio::select! {
            got = ready_rx.recv() => match got {
                Some(()) => ready += 1,
                None => break,
            },
            // A subscriber failed before it was ready: report it.
            Some(joined) = tasks.join_next() => {
                return Err(match joined {
                    Ok((index, Err(e))) => BenchError::Client {
                        role: "subscriber",
                        index,
                        source: Box::new(e),
                    },
                    _ => BenchError::Protocol("a subscriber ended before subscribing".into()),
                });
            }
        }
    }
    Ok(Subscribers { tasks, done })
}

#[allow(clippy::too_many_arguments)]
async fn subscriber(
    target: &Target,
    options: &SubOptions,
    index: u64,
    ramp: &Ramp,
    counters: &Counters,
    done: &Stop,
    ready: mpsc::Sender<()>,
    deadline: Instant,
) -> Result<Subscribed, BenchError> {
    let client_id = target.client_id("sub", index);
    let filter = expand_topic(&options.topic, index, &client_id);
    let mut client = ramp.connect(target, client_id, deadline).await?;
    Counters::add(&counters.connected, 1);
    client.subscribe(&filter, options.qos).await?;
    let _ = ready.send(()).await;
    drop(ready);
    let mut out = Subscribed {
        received: Received::default(),
        first: None,
        last: None,
    };
    // Messages that came with the SUBACK (retained ones, or traffic already flowing).
    let mut pending = Vec::new();
    client.swap_messages(&mut pending);
    loop {
        if !pending.is_empty() {
            let now = Instant::now();
            let now_ns = unix_nanos();
            let (mut n, mut dup) = (0, 0);
            for m in &pending {
                n += 1;
                if out.received.record(m.payload(), now_ns) == Arrival::Duplicate {
                    dup += 1;
                }
            }
            out.first.get_or_insert(now);
            out.last = Some(now);
            Counters::add(&counters.received, n);
            Counters::add(&counters.duplicates, dup);
        }
        if done.is_triggered() || Instant::now() >= deadline {
            break;
        }
        client
            .flush_and_read(Some((Instant::now() + POLL).min(deadline)))
            .await?;
        client.swap_messages(&mut pending);
    }
    client.disconnect().await;
    Ok(out)
}

impl Subscribers {
    /// Stops the subscribers and adds up what they received.
    async fn finish(self) -> Result<Subscribed, BenchError> {
        self.done.trigger();
        let all = join_all(self.tasks, "subscriber").await?;
        let mut total = Subscribed {
            received: Received::default(),
            first: None,
            last: None,
        };
        for s in all {
            total.received.merge(s.received);
            total.first = match (total.first, s.first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            total.last = total.last.max(s.last);
        }
        Ok(total)
    }
}

/// Deliveries received once so far.
fn unique(counters: &Counters) -> u64 {
    Counters::get(&counters.received) - Counters::get(&counters.duplicates)
}

/// Runs the subscribers alone: they stop at the limit, at the end of the duration, or on
/// the stop signal. Prints `subscribed N` on standard error once every client is
/// subscribed (the cue to start publishers, also for tests).
pub async fn run_sub(
    target: &Target,
    options: &SubOptions,
    limits: &RunLimits,
) -> Result<SubReport, BenchError> {
    let cpu = CpuMeter::start();
    let counters = Arc::new(Counters::default());
    let deadline = Instant::now() + limits.duration;
    let ramp = Ramp::new(target.connect_rate);
    let subs = subscribe_all(target, options, &ramp, &counters, deadline).await?;
    eprintln!("subscribed {}", options.clients);
    let progress = Progress::start(limits.progress, counters.clone(), options.clients);
    while !limits.stop.is_triggered()
        && Instant::now() < deadline
        && options.limit.is_none_or(|l| unique(&counters) < l)
    {
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    progress.finish();
    let total = subs.finish().await?;
    let r = &total.received;
    let seconds = match (total.first, total.last) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let missing = options.limit.map_or(0, |l| l.saturating_sub(r.unique()));
    Ok(SubReport {
        clients: options.clients,
        connected: Counters::get(&counters.connected),
        qos: options.qos.as_u8(),
        received: r.messages,
        unique: r.unique(),
        lost: r.gaps().max(missing),
        duplicates: r.duplicates,
        reordered: r.reordered,
        foreign: r.foreign,
        seconds: round_to(seconds, 3),
        msgs_per_sec: round_to(r.messages as f64 / seconds.max(1e-9), 0),
        latency: r.latency().summary(),
        loader_cpu_percent: cpu.percent_of_one_core(),
    })
}

/// Subscribers first, then publishers, in one process and one report. `copies` is how many
/// subscribers each published message reaches (1 for fan-in and pairs, the number of
/// subscribers for fan-out). The subscribers stop once every expected delivery arrived, or
/// when nothing arrived for the drain time after the publishers finished, or at the end of
/// the duration.
pub async fn run_pubsub(
    target: &Target,
    publishers: &PubOptions,
    subscribers: &SubOptions,
    copies: u64,
    limits: &RunLimits,
) -> Result<TrafficReport, BenchError> {
    let cpu = CpuMeter::start();
    let counters = Arc::new(Counters::default());
    let deadline = Instant::now() + limits.duration;
    let ramp = Ramp::new(target.connect_rate);
    let progress = Progress::start(
        limits.progress,
        counters.clone(),
        publishers.clients + subscribers.clients,
    );
    let subs = subscribe_all(target, subscribers, &ramp, &counters, deadline).await?;
    let start = Instant::now();
    let published =
        publish_all(target, publishers, &ramp, &counters, &limits.stop, deadline).await?;
    let sent: u64 = published.iter().map(|p| p.sent).sum();
    let expected = sent * copies;
    let mut last_count = (Instant::now(), unique(&counters));
    while !limits.stop.is_triggered() && Instant::now() < deadline && unique(&counters) < expected {
        let now = Instant::now();
        let got = unique(&counters);
        if got != last_count.1 {
            last_count = (now, got);
        } else if now.duration_since(last_count.0) >= limits.drain {
            break;
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(now))).await;
    }
    progress.finish();
    let total = subs.finish().await?;
    let r = &total.received;
    let seconds = total
        .last
        .map_or(start.elapsed(), |l| l.saturating_duration_since(start))
        .as_secs_f64();
    Ok(TrafficReport {
        qos: publishers.qos.as_u8(),
        payload: publishers.size.max(crate::HEADER_LEN),
        publishers: publishers.clients,
        subscribers: subscribers.clients,
        sent,
        expected,
        received: r.messages,
        lost: expected.saturating_sub(r.unique()).max(r.gaps()),
        duplicates: r.duplicates,
        reordered: r.reordered,
        seconds: round_to(seconds, 3),
        msgs_per_sec: round_to(r.messages as f64 / seconds.max(1e-9), 0),
        latency: r.latency().summary(),
        loader_cpu_percent: cpu.percent_of_one_core(),
    })
}
