//! The `starling` command line.
//!
//! Only `--version` and `--help` exist so far; the subcommands (`broker`, `pub`, `sub`, `rr`, `bench`,
//! `passwd`) arrive with their issues.

use std::process::ExitCode;

const USAGE: &str = "starling - MQTT toolkit

Usage: starling [--help | --version]

No subcommands are implemented yet; `broker`, `pub`, `sub`, `rr`, `bench` and `passwd` are planned.";

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("--version") => {
            println!("starling {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        None | Some("--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("starling: unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
