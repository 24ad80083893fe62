//! The `starling` command line. Thin: every piece of logic lives in the library crates.

mod broker;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Starling: an MQTT toolkit.
#[derive(Debug, Parser)]
#[command(
    name = "starling",
    version,
    disable_help_flag = true,
    disable_version_flag = true,
    after_help = "Examples:\n  starling broker                       # 127.0.0.1:1883, anonymous clients\n  starling broker --listen 0.0.0.0:1883 --allow-anonymous\n  starling broker --config broker.toml\n  starling broker --print-config"
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Broker(args) => broker::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starling: {e:#}");
            ExitCode::FAILURE
        }
    }
}
