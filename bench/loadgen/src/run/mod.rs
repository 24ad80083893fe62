//! Runs: the options they take and what they share (connection ramp, stop signal, limits).

mod conn;
mod publish;
mod subscribe;

pub use conn::{run_conn, ConnOptions};
pub use publish::{run_pub, PubOptions};
pub use subscribe::{run_pubsub, run_sub, SubOptions};

use crate::{progress::ProgressMode, BenchError, Client, ConnectOptions};
use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use tokio::sync::Semaphore;

/// Most connection handshakes in flight at once, whatever the ramp rate: a steady connect
/// rate, not a SYN flood.
const MAX_HANDSHAKES: usize = 200;

/// The broker under test and how every client of a run connects to it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// MQTT 5 rather than 3.1.1.
    pub v5: bool,
    /// User name for every client.
    pub username: Option<String>,
    /// Password for every client.
    pub password: Option<String>,
    /// Client identifiers are `{prefix}-{pub|sub|conn}-{index}`.
    pub client_id_prefix: String,
    /// New connections per second over the run (0: as fast as handshakes complete, at most
    /// 200 at once).
    pub connect_rate: f64,
    /// Keep alive in seconds.
    pub keep_alive: u16,
}

impl Target {
    /// MQTT 3.1.1 to `host:port`, anonymous, no ramp, keep alive 60 s, client ids prefixed
    /// with `sb` and the process id (unique across loaders running side by side).
    pub fn new(host: impl Into<String>, port: u16) -> Target {
        Target {
            host: host.into(),
            port,
            v5: false,
            username: None,
            password: None,
            client_id_prefix: format!("sb{}", std::process::id()),
            connect_rate: 0.0,
            keep_alive: 60,
        }
    }

    pub(crate) fn client_id(&self, role: &str, index: u64) -> String {
        format!("{}-{role}-{index}", self.client_id_prefix)
    }

    fn options(&self, client_id: String) -> ConnectOptions {
        let mut o = ConnectOptions::new(self.host.clone(), self.port, client_id);
        o.v5 = self.v5;
        o.username.clone_from(&self.username);
        o.password.clone_from(&self.password);
        o.keep_alive = self.keep_alive;
        o
    }
}

/// Bounds and display of a run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunLimits {
    /// The run stops after this long, finished or not.
    pub duration: Duration,
    /// After the publishers finish, subscribers stop once nothing has arrived for this long.
    pub drain: Duration,
    /// Progress display.
    pub progress: ProgressMode,
    /// Stops the run early (Ctrl-C) with a report of what was done.
    pub stop: Stop,
}

impl RunLimits {
    /// Runs of at most `duration`, 2 s drain, automatic progress display.
    pub fn new(duration: Duration) -> RunLimits {
        RunLimits {
            duration,
            drain: Duration::from_secs(2),
            progress: ProgressMode::Auto,
            stop: Stop::default(),
        }
    }
}

/// A flag that ends a run early; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Asks the run to stop and report.
    pub fn trigger(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Paces connection attempts across all the clients of a run.
#[derive(Debug)]
pub(crate) struct Ramp {
    start: Instant,
    rate: f64,
    next: AtomicU64,
    handshakes: Semaphore,
}

impl Ramp {
    pub(crate) fn new(rate: f64) -> Arc<Ramp> {
        Arc::new(Ramp {
            start: Instant::now(),
            rate,
            next: AtomicU64::new(0),
            handshakes: Semaphore::new(MAX_HANDSHAKES),
        })
    }

    /// Connects when this client's turn comes.
    pub(crate) async fn connect(
        &self,
        target: &Target,
        client_id: String,
        deadline: Instant,
    ) -> Result<Client, BenchError> {
        Ok(self.connect_timed(target, client_id, deadline).await?.0)
    }

    /// Connects when this client's turn comes; also returns how long the handshake took
    /// (from its start, ramp wait left out, to the CONNACK).
    pub(crate) async fn connect_timed(
        &self,
        target: &Target,
        client_id: String,
        deadline: Instant,
    ) -> Result<(Client, Duration), BenchError> {
        if self.rate > 0.0 {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let due = self.start + Duration::from_secs_f64(n as f64 / self.rate);
            tokio::time::sleep_until(due.min(deadline).into()).await;
        }
        let _permit = self
            .handshakes
            .acquire()
            .await
            .map_err(|_| BenchError::Protocol("connection ramp closed".into()))?;
        let mut options = target.options(client_id);
        options.connect_timeout = options
            .connect_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let began = Instant::now();
        let client = Client::connect(&options).await?;
        Ok((client, began.elapsed()))
    }
}

/// `template` with `%i` replaced by the client index and `%c` by the client id.
pub(crate) fn expand_topic(template: &str, index: u64, client_id: &str) -> String {
    template
        .replace("%i", &index.to_string())
        .replace("%c", client_id)
}

/// The share of `total` that client `index` of `clients` takes (the first ones take the
/// remainder).
pub(crate) fn share(total: u64, clients: u64, index: u64) -> u64 {
    let clients = clients.max(1);
    total / clients + u64::from(index < total % clients)
}

/// Waits for every task of `set` (each returns its client index with its result); the first
/// failure wins and stops the others.
pub(crate) async fn join_all<T: 'static>(
    mut set: tokio::task::JoinSet<(u64, Result<T, BenchError>)>,
    role: &'static str,
) -> Result<Vec<T>, BenchError> {
    let mut out = Vec::with_capacity(set.len());
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((_, Ok(v))) => out.push(v),
            Ok((index, Err(e))) => {
                set.abort_all();
                return Err(BenchError::Client {
                    role,
                    index,
                    source: Box::new(e),
                });
            }
            Err(e) => {
                set.abort_all();
                return Err(BenchError::Protocol(format!("{role} task failed: {e}")));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_expand_index_and_client_id() {
        assert_eq!(expand_topic("bench/%i/x", 7, "id"), "bench/7/x");
        assert_eq!(expand_topic("t/%c", 7, "sb1-pub-7"), "t/sb1-pub-7");
        assert_eq!(expand_topic("plain", 7, "id"), "plain");
    }

    #[test]
    fn shares_add_up_to_the_total() {
        for (total, clients) in [(10, 3), (2, 5), (0, 4), (100, 1), (7, 0)] {
            let sum: u64 = (0..clients.max(1)).map(|i| share(total, clients, i)).sum();
            assert_eq!(sum, total, "{total}/{clients}");
        }
        assert_eq!(share(10, 3, 0), 4);
        assert_eq!(share(10, 3, 2), 3);
    }
}
