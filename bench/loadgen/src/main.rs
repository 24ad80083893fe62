//! `starling-loadgen`: drives any MQTT broker with the scenarios of `bench/compare.sh` and
//! prints one JSON line per run. Every run is bounded by a message count and a deadline.
//!
//! ```text
//! starling-loadgen <fanin|fanout|pairs|latency|idle> [--host H] [--port P] [--qos 0|1]
//!     [--count N] [--payload BYTES] [--pubs N] [--subs N] [--rate MSG/S] [--conns N]
//!     [--deadline SECS] [--v5] [--broker-pid PID]
//! ```

mod client;
mod report;

use client::{Client, ClientOptions};
use report::Stats;
use starling_codec::QoS;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::Barrier;

#[derive(Debug, Clone)]
struct Args {
    scenario: String,
    host: String,
    port: u16,
    qos: QoS,
    count: u64,
    payload: usize,
    pubs: usize,
    subs: usize,
    rate: Option<u64>,
    conns: usize,
    deadline: Duration,
    v5: bool,
    broker_pid: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let scenario = it
        .next()
        .ok_or("missing scenario (fanin|fanout|pairs|latency|idle)")?;
    let mut a = Args {
        scenario,
        host: "127.0.0.1".into(),
        port: 1883,
        qos: QoS::AtMostOnce,
        count: 100_000,
        payload: 64,
        pubs: 1,
        subs: 1,
        rate: None,
        conns: 1000,
        deadline: Duration::from_secs(60),
        v5: false,
        broker_pid: None,
    };
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--host" => a.host = val()?,
            "--port" => a.port = num(val()?)? as u16,
            "--qos" => {
                a.qos = QoS::from_u8(num(val()?)? as u8)
                    .filter(|q| *q != QoS::ExactlyOnce)
                    .ok_or("qos must be 0 or 1")?
            }
            "--count" => a.count = num(val()?)?,
            "--payload" => a.payload = num(val()?)? as usize,
            "--pubs" => a.pubs = num(val()?)? as usize,
            "--subs" => a.subs = num(val()?)? as usize,
            "--rate" => a.rate = Some(num(val()?)?),
            "--conns" => a.conns = num(val()?)? as usize,
            "--deadline" => a.deadline = Duration::from_secs(num(val()?)?),
            "--broker-pid" => a.broker_pid = Some(num(val()?)? as u32),
            "--v5" => a.v5 = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.payload < report::HEADER {
        a.payload = report::HEADER;
    }
    Ok(a)
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("starling-loadgen: {e}");
            std::process::exit(2);
        }
    };
    let result = match args.scenario.as_str() {
        "fanin" => pubsub(&args, args.pubs.max(1), 1, false).await,
        "fanout" => pubsub(&args, 1, args.subs.max(1), false).await,
        "pairs" => pubsub(&args, args.pubs.max(1), args.pubs.max(1), true).await,
        "latency" => pubsub(&args, 1, 1, false).await,
        "idle" => idle(&args).await,
        other => Err(format!("unknown scenario {other}")),
    };
    match result {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("starling-loadgen: {e}");
            std::process::exit(1);
        }
    }
}

fn options(args: &Args, id: String) -> ClientOptions {
    ClientOptions {
        host: args.host.clone(),
        port: args.port,
        v5: args.v5,
        client_id: id,
    }
}

/// `pubs` publishers and `subs` subscribers; with `paired`, publisher i talks to subscriber i
/// on its own topic, otherwise everyone uses one topic.
async fn pubsub(args: &Args, pubs: usize, subs: usize, paired: bool) -> Result<String, String> {
    let base = Instant::now();
    let per_pub = (args.count / pubs as u64).max(1);
    let expected_per_sub = if paired {
        per_pub
    } else {
        per_pub * pubs as u64
    };
    let topic = |i: usize| {
        if paired {
            format!("bench/pair/{i}")
        } else {
            "bench/topic".to_owned()
        }
    };
    let ready = Arc::new(Barrier::new(subs + 1));
    let deadline = base + args.deadline;
    let mut sub_tasks = Vec::new();
    for i in 0..subs {
        let opts = options(args, format!("lg-sub-{i}"));
        let (t, qos, ready) = (topic(i), args.qos, ready.clone());
        sub_tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(opts).await?;
            c.subscribe(&t, qos).await?;
            ready.wait().await;
            c.receive(expected_per_sub, base, deadline).await
        }));
    }
    ready.wait().await;
    let start = Instant::now();
    let mut pub_tasks = Vec::new();
    for i in 0..pubs {
        let opts = options(args, format!("lg-pub-{i}"));
        let (t, qos, size, rate) = (
            topic(i),
            args.qos,
            args.payload,
            args.rate.map(|r| r / pubs as u64),
        );
        pub_tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(opts).await?;
            c.publish_many(&t, qos, per_pub, size, rate, base, i as u32, deadline)
                .await
        }));
    }
    let mut sent = 0u64;
    for t in pub_tasks {
        sent += t.await.map_err(|e| e.to_string())??;
    }
    let mut stats = Stats::default();
    for t in sub_tasks {
        stats.merge(t.await.map_err(|e| e.to_string())??);
    }
    let elapsed = stats
        .last_receive
        .map_or(start.elapsed(), |l| l.saturating_duration_since(start));
    Ok(stats.report_json(
        &args.scenario,
        args.qos,
        args.payload,
        sent,
        expected_per_sub * subs as u64,
        elapsed,
    ))
}

async fn idle(args: &Args) -> Result<String, String> {
    let start = Instant::now();
    let mut clients = Vec::with_capacity(args.conns);
    let mut pending = tokio::task::JoinSet::new();
    let mut next = 0usize;
    // At most 200 handshakes in flight: a steady connect rate, not a SYN flood.
    while clients.len() < args.conns {
        while next < args.conns && pending.len() < 200 {
            let opts = options(args, format!("lg-idle-{next}"));
            pending.spawn(async move { Client::connect(opts).await });
            next += 1;
        }
        match pending.join_next().await {
            Some(Ok(Ok(c))) => clients.push(c),
            Some(Ok(Err(e))) => return Err(format!("after {} connections: {e}", clients.len())),
            Some(Err(e)) => return Err(e.to_string()),
            None => break,
        }
        if Instant::now() > start + args.deadline {
            return Err("deadline reached while connecting".into());
        }
    }
    let elapsed = start.elapsed();
    // Let the broker settle before reading its memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = args.broker_pid.and_then(report::rss_kib);
    let json = format!(
        "{{\"scenario\":\"idle\",\"connections\":{},\"seconds\":{:.3},\"connects_per_sec\":{:.0},\"broker_rss_kib\":{}}}",
        clients.len(),
        elapsed.as_secs_f64(),
        clients.len() as f64 / elapsed.as_secs_f64(),
        rss.map_or("null".to_owned(), |r| r.to_string())
    );
    drop(clients);
    Ok(json)
}
