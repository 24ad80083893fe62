//! `bench conn`: opens many connections at a ramp rate, holds them, and reports the connect
//! rate, handshake times and the broker's memory.

use super::{Ramp, RunLimits, Target};
use crate::{
    procfs::{rss_kib, CpuMeter},
    progress::{Counters, Progress},
    report::{round_to, ConnReport},
    stats::LatencyHistogram,
    BenchError, Client,
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// What `bench conn` does.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnOptions {
    /// Connections to open.
    pub clients: u64,
    /// Index of the first client (in client ids).
    pub start_index: u64,
    /// How long to keep every connection open once all are up (keep alive answered).
    pub hold: Duration,
    /// The broker's process id: its resident memory is read at the end of the hold.
    pub broker_pid: Option<u32>,
}

impl ConnOptions {
    /// `clients` connections, held 1 s, no broker memory reading.
    pub fn new(clients: u64) -> ConnOptions {
        ConnOptions {
            clients,
            start_index: 0,
            hold: Duration::from_secs(1),
            broker_pid: None,
        }
    }
}

/// Opens the connections, holds them, reads the broker's memory, closes them.
pub async fn run_conn(
    target: &Target,
    options: &ConnOptions,
    limits: &RunLimits,
) -> Result<ConnReport, BenchError> {
    let cpu = CpuMeter::start();
    let counters = Arc::new(Counters::default());
    let progress = Progress::start(limits.progress, counters.clone(), options.clients);
    let start = Instant::now();
    let deadline = start + limits.duration;
    let ramp = Ramp::new(target.connect_rate);
    let mut pending = tokio::task::JoinSet::new();
    for n in 0..options.clients {
        let index = options.start_index + n;
        let (target, ramp, counters) = (target.clone(), ramp.clone(), counters.clone());
        pending.spawn(async move {
            let id = target.client_id("conn", index);
            let result = ramp.connect_timed(&target, id, deadline).await;
            if result.is_ok() {
                Counters::add(&counters.connected, 1);
            }
            result
        });
    }
    let mut clients = Vec::with_capacity(usize::try_from(options.clients).unwrap_or(0));
    let mut handshake = LatencyHistogram::default();
    let mut failed = 0;
    let mut first_error = None;
    let mut last_connect = start;
    while let Some(joined) = pending.join_next().await {
        match joined {
            Ok(Ok((client, took))) => {
                handshake.record_us(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
                last_connect = Instant::now();
                clients.push(client);
            }
            Ok(Err(e)) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
        if limits.stop.is_triggered() {
            pending.abort_all();
        }
    }
    let seconds = last_connect.duration_since(start).as_secs_f64();
    let connections = clients.len() as u64;
    let hold_until = (Instant::now() + options.hold).min(deadline);
    let clients = hold(clients, hold_until, &limits.stop).await;
    let broker_rss_kib = options.broker_pid.and_then(rss_kib);
    progress.finish();
    for c in clients {
        c.disconnect().await;
    }
    Ok(ConnReport {
        connections,
        failed,
        first_error,
        seconds: round_to(seconds, 3),
        connects_per_sec: round_to(connections as f64 / seconds.max(1e-9), 0),
        handshake: handshake.summary(),
        broker_rss_kib,
        loader_cpu_percent: cpu.percent_of_one_core(),
    })
}

/// Keeps every client served (keep alive) until `until` or a stop; returns those still up.
async fn hold(clients: Vec<Client>, until: Instant, stop: &super::Stop) -> Vec<Client> {
    let mut set = tokio::task::JoinSet::new();
    for mut c in clients {
        let stop = stop.clone();
        set.spawn(async move {
            while !stop.is_triggered() && Instant::now() < until {
                // Long slices: thousands of idle clients must not wake the loader often.
                let slice = (Instant::now() + Duration::from_secs(1)).min(until);
                if c.flush_and_read(Some(slice)).await.is_err() {
                    return None;
                }
                c.take_messages();
            }
            Some(c)
        });
    }
    let mut up = Vec::with_capacity(set.len());
    while let Some(joined) = set.join_next().await {
        if let Ok(Some(c)) = joined {
            up.push(c);
        }
    }
    up
}
