//! The `starling` command line. Thin: every piece of logic lives in the library crates.
// Doc comments of the argument structs are the `--help` text, written for a terminal
// (`[user[:password]@]`, `<packet>`), not for rustdoc.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod bench;
mod broker;
mod clients;
mod passwd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Starling: an MQTT toolkit.
#[derive(Debug, Parser)]
#[command(
    name = "starling",
    version,
    disable_help_flag = true,
    disable_version_flag = true,
    after_help = "Examples:\n  starling broker                       # 127.0.0.1:1883, anonymous clients\n  starling broker --listen 0.0.0.0:1883 --allow-anonymous\n  starling broker --config broker.toml\n  starling broker --print-config\n  starling sub -t 'sensors/#' -v\n  starling pub -t sensors/1 -m 21.5 -q 1\n  starling rr -t svc/echo -m ping\n  starling passwd -c -b passwd alice secret   # Mosquitto-compatible password file\n  starling bench sub -c 10 -t 'bench/#' -q 1\n  starling bench pub -c 10 -I 10 -L 10000 -q 1 -t 'bench/%i'\n  starling bench scenario fanin --pubs 8 -L 100000"
)]
struct Cli {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help, global = true)]
    help: Option<bool>,
    /// Print version.
    #[arg(long, action = clap::ArgAction::Version)]
    version: Option<bool>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the MQTT broker.
    Broker(broker::BrokerArgs),
    /// Publish a message (like mosquitto_pub).
    Pub(clients::PubArgs),
    /// Subscribe and print messages (like mosquitto_sub).
    Sub(clients::SubArgs),
    /// Send an MQTT 5 request and print the response (like mosquitto_rr).
    Rr(clients::RrArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Load generator: publishers, subscribers, connections, comparison scenarios.
    #[command(
        subcommand,
        after_help = "Examples:\n  starling bench sub -c 10 -q 1 -t 'bench/#'           # prints latency, loss, duplicates\n  starling bench pub -c 10 -q 1 -I 10 -L 10000 -t 'bench/%i'\n  starling bench conn -c 10000 -R 2000 --broker-pid PID\n  starling bench scenario fanin --pubs 8 -L 100000 -q 1 --json"
    )]
    Bench(bench::BenchCommand),
    /// Manage a Mosquitto-format password file (like mosquitto_passwd).
    Passwd(passwd::PasswdArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pub(args) => return clients::run_pub(args),
        Command::Sub(args) => return clients::run_sub(args),
        Command::Rr(args) => return clients::run_rr(args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "starling", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Broker(args) => broker::run(args),
        Command::Bench(command) => bench::run(command),
        Command::Passwd(args) => passwd::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starling: {e:#}");
            ExitCode::FAILURE
        }
    }
}
