//! `starling broker`.

use anyhow::{bail, Context};
use clap::Args;
use starling_broker::config::{FileConfig, FileListener, LogFormat};
use std::{net::SocketAddr, path::PathBuf};

/// Options of `starling broker`; flags override the configuration file.
#[derive(Debug, Args)]
pub(crate) struct BrokerArgs {
    /// TOML configuration file (every option is documented in docs/broker.toml).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Listen for MQTT over TCP on ADDR (repeatable). Default: 127.0.0.1:1883.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Listen for MQTT over WebSocket (path /mqtt) on ADDR (repeatable).
    #[arg(long, value_name = "ADDR")]
    ws_listen: Vec<SocketAddr>,
    /// Admit clients without a user name on the configured listeners.
    #[arg(long)]
    allow_anonymous: bool,
    /// Mosquitto-format password file.
    #[arg(long, value_name = "PATH")]
    password_file: Option<PathBuf>,
    /// Mosquitto-format ACL file.
    #[arg(long, value_name = "PATH")]
    acl_file: Option<PathBuf>,
    /// Log format: human or json.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Log filter (RUST_LOG syntax), default "info".
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

/// The effective configuration: file, then flags.
fn effective(args: &BrokerArgs) -> anyhow::Result<FileConfig> {
    let mut config = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    for addr in &args.listen {
        config.listeners.push(FileListener {
            addr: *addr,
            kind: "tcp".into(),
        });
    }
    for addr in &args.ws_listen {
        config.listeners.push(FileListener {
            addr: *addr,
            kind: "ws".into(),
        });
    }
    if args.allow_anonymous {
        config.allow_anonymous = true;
    }
    if args.password_file.is_some() {
        config.password_file.clone_from(&args.password_file);
    }
    if args.acl_file.is_some() {
        config.acl_file.clone_from(&args.acl_file);
    }
    match args.log_format.as_deref() {
        None => {}
        Some("human") => config.log_format = LogFormat::Human,
        Some("json") => config.log_format = LogFormat::Json,
        Some(other) => bail!("unknown log format {other:?} (human or json)"),
    }
    Ok(config)
}

pub(crate) fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let config = effective(&args)?;
    config.to_broker_config()?;
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    let (broker_builder, auth_files) = config.to_builder_with_files()?;
    let filter = tracing_subscriber::EnvFilter::try_new(
        args.log_level
            .clone()
            .or_else(|| std::env::var("RUST_LOG").ok())
            .unwrap_or_else(|| "info".into()),
    )
    .context("invalid log filter")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let broker = broker_builder.build()?.spawn().await.context("cannot start listeners")?;
        tracing::info!(addrs = ?broker.local_addrs(), version = env!("CARGO_PKG_VERSION"), "starling broker running");
        wait_for_signal(&auth_files).await?;
        tracing::info!("shutting down");
        broker.shutdown().await;
        Ok(())
    })
}

/// Waits for SIGINT or SIGTERM; SIGHUP reloads the password and ACL files in place (as
/// Mosquitto does), keeping the old contents if the new ones do not parse.
async fn wait_for_signal(auth_files: &starling_broker::config::AuthFiles) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = hup.recv() => match auth_files.reload() {
                Ok(()) => tracing::info!("SIGHUP: password and ACL files reloaded"),
                Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed; the previous files stay in force"),
            },
        }
    }
}
