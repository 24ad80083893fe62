//! `starling bench`: flags in the manner of emqtt-bench, over the `starling-bench` library.

use anyhow::Context;
use clap::{Args, Subcommand};
use starling_bench::{
    run_conn, run_pub, run_scenario, run_sub, ConnOptions, ProgressMode, PubOptions, QoS,
    RunLimits, Scenario, ScenarioOptions, SubOptions, Target,
};
use std::time::Duration;

/// `starling bench` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Publish stamped messages from many clients.
    Pub(PubArgs),
    /// Subscribe with many clients; report latency, loss, duplicates and reordering.
    Sub(SubArgs),
    /// Open many connections at a ramp rate; report connect rate and broker memory.
    Conn(ConnArgs),
    /// A preset of the broker comparison (bench/compare.sh): fanin, fanout, pairs, latency
    /// or idle, publishers and subscribers in one process.
    Scenario(ScenarioArgs),
}

/// Where to connect, for every subcommand.
#[derive(Debug, Args)]
struct TargetArgs {
    /// Broker host.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    host: String,
    /// Broker port.
    #[arg(short = 'p', long, default_value_t = 1883)]
    port: u16,
    /// Speak MQTT 5 (default 3.1.1).
    #[arg(short = 'S', long = "mqtt5")]
    v5: bool,
    /// User name.
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Password.
    #[arg(short = 'P', long)]
    password: Option<String>,
    /// Connection ramp-up: new connections per second (0: as fast as they complete, at most
    /// 200 handshakes at once).
    #[arg(
        short = 'R',
        long = "rate",
        default_value_t = 0.0,
        value_name = "CONN/S"
    )]
    connect_rate: f64,
    /// Client id prefix (ids are PREFIX-pub-N, PREFIX-sub-N, PREFIX-conn-N).
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
}

/// How long and how to report, for every subcommand.
#[derive(Debug, Args)]
struct OutputArgs {
    /// Stop after this many seconds, finished or not.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    duration: u64,
    /// Print the final report as one JSON object.
    #[arg(long)]
    json: bool,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
}

/// `starling bench pub`.
#[derive(Debug, Args)]
pub(crate) struct PubArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Publishing clients.
    #[arg(short = 'c', long, default_value_t = 1)]
    clients: u64,
    /// Milliseconds between two messages of one client (0: as fast as the window allows;
    /// fractions allowed).
    #[arg(short = 'I', long, default_value_t = 0.0, value_name = "MS")]
    interval: f64,
    /// Messages in all, shared among the clients (default: until --duration).
    #[arg(short = 'L', long, value_name = "N")]
    limit: Option<u64>,
    /// Payload size in bytes (at least 28, the header).
    #[arg(short = 's', long, default_value_t = 64, value_name = "BYTES")]
    size: usize,
    /// QoS.
    #[arg(short = 'q', long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    qos: u8,
    /// Topic; %i is the client index, %c the client id.
    #[arg(short = 't', long, default_value = "bench/%i")]
    topic: String,
    /// Index of the first client (give each loader feeding one subscriber its own range).
    #[arg(short = 'n', long, default_value_t = 0, value_name = "N")]
    start_index: u64,
}

/// `starling bench sub`.
#[derive(Debug, Args)]
pub(crate) struct SubArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Subscribing clients.
    #[arg(short = 'c', long, default_value_t = 1)]
    clients: u64,
    /// QoS.
    #[arg(short = 'q', long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    qos: u8,
    /// Topic filter; %i is the client index, %c the client id.
    #[arg(short = 't', long, default_value = "bench/#")]
    topic: String,
    /// Stop once this many messages arrived in all, duplicates left out.
    #[arg(short = 'L', long, value_name = "N")]
    limit: Option<u64>,
    /// Index of the first client.
    #[arg(short = 'n', long, default_value_t = 0, value_name = "N")]
    start_index: u64,
}

/// `starling bench conn`.
#[derive(Debug, Args)]
pub(crate) struct ConnArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Connections.
    #[arg(short = 'c', long, default_value_t = 100)]
    clients: u64,
    /// Seconds to hold every connection open once all are up.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    hold: f64,
    /// The broker's process id: report its resident memory with every connection open.
    #[arg(long, value_name = "PID")]
    broker_pid: Option<u32>,
    /// Index of the first client.
    #[arg(short = 'n', long, default_value_t = 0, value_name = "N")]
    start_index: u64,
}

/// `starling bench scenario`.
#[derive(Debug, Args)]
pub(crate) struct ScenarioArgs {
    /// fanin, fanout, pairs, latency or idle.
    scenario: Scenario,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Publishers (fanin) or pairs (pairs).
    #[arg(long, default_value_t = 8)]
    pubs: u64,
    /// Subscribers (fanout).
    #[arg(long, default_value_t = 50)]
    subs: u64,
    /// Messages published in all.
    #[arg(
        short = 'L',
        long = "count",
        default_value_t = 100_000,
        value_name = "N"
    )]
    count: u64,
    /// QoS.
    #[arg(short = 'q', long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    qos: u8,
    /// Payload size in bytes.
    #[arg(short = 's', long, default_value_t = 64, value_name = "BYTES")]
    size: usize,
    /// Messages per second in all (latency: default 5000; others: as fast as possible).
    #[arg(long = "msg-rate", value_name = "MSG/S")]
    msg_rate: Option<f64>,
    /// Connections (idle).
    #[arg(long, default_value_t = 10_000)]
    conns: u64,
    /// The broker's process id: report its resident memory (idle).
    #[arg(long, value_name = "PID")]
    broker_pid: Option<u32>,
}

impl TargetArgs {
    fn target(&self) -> Target {
        let mut t = Target::new(self.host.clone(), self.port);
        t.v5 = self.v5;
        t.username.clone_from(&self.username);
        t.password.clone_from(&self.password);
        t.connect_rate = self.connect_rate.max(0.0);
        if let Some(p) = &self.prefix {
            t.client_id_prefix.clone_from(p);
        }
        t
    }
}

impl OutputArgs {
    fn limits(&self) -> RunLimits {
        let mut l = RunLimits::new(Duration::from_secs(self.duration));
        if self.quiet {
            l.progress = ProgressMode::Quiet;
        }
        l
    }

    fn print(&self, json: String, text: String) {
        if self.json {
            println!("{json}");
        } else {
            print!("{text}");
        }
    }
}

fn qos(q: u8) -> anyhow::Result<QoS> {
    QoS::from_u8(q).context("QoS must be 0, 1 or 2")
}

pub(crate) fn run(command: BenchCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let limits = match &command {
            BenchCommand::Pub(a) => a.output.limits(),
            BenchCommand::Sub(a) => a.output.limits(),
            BenchCommand::Conn(a) => a.output.limits(),
            BenchCommand::Scenario(a) => a.output.limits(),
        };
        // Ctrl-C ends the run early with a report of what was done.
        let stop = limits.stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.trigger();
            }
        });
        match command {
            BenchCommand::Pub(a) => {
                let mut o = PubOptions::new(a.topic.clone());
                o.clients = a.clients;
                o.start_index = a.start_index;
                o.interval = Duration::from_secs_f64(a.interval.max(0.0) / 1000.0);
                o.limit = a.limit;
                o.size = a.size;
                o.qos = qos(a.qos)?;
                let r = run_pub(&a.target.target(), &o, &limits).await?;
                a.output.print(r.to_json(), r.to_text());
            }
            BenchCommand::Sub(a) => {
                let mut o = SubOptions::new(a.topic.clone());
                o.clients = a.clients;
                o.start_index = a.start_index;
                o.qos = qos(a.qos)?;
                o.limit = a.limit;
                let r = run_sub(&a.target.target(), &o, &limits).await?;
                a.output.print(r.to_json(), r.to_text());
            }
            BenchCommand::Conn(a) => {
                let mut o = ConnOptions::new(a.clients);
                o.start_index = a.start_index;
                o.hold = Duration::from_secs_f64(a.hold.max(0.0));
                o.broker_pid = a.broker_pid;
                let r = run_conn(&a.target.target(), &o, &limits).await?;
                a.output.print(r.to_json(), r.to_text());
                if r.failed > 0 {
                    anyhow::bail!(
                        "{} of {} connections failed; first: {}",
                        r.failed,
                        a.clients,
                        r.first_error.as_deref().unwrap_or("?")
                    );
                }
            }
            BenchCommand::Scenario(a) => {
                let mut o = ScenarioOptions::default();
                o.pubs = a.pubs;
                o.subs = a.subs;
                o.count = a.count;
                o.qos = qos(a.qos)?;
                o.payload = a.size;
                o.rate = a.msg_rate;
                o.conns = a.conns;
                o.broker_pid = a.broker_pid;
                let r = run_scenario(&a.target.target(), a.scenario, &o, &limits).await?;
                a.output.print(r.to_json(), r.to_text());
            }
        }
        Ok(())
    })
}
