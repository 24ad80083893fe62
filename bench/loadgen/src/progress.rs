//! The live progress display: a spinner line on a terminal, plain lines every second
//! otherwise (logs, CI), nothing when quiet. Always on standard error.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::{
    io::IsTerminal,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// How progress is shown while a run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProgressMode {
    /// A live line on a terminal, one line per second otherwise.
    #[default]
    Auto,
    /// One line per second, even on a terminal.
    Plain,
    /// Nothing.
    Quiet,
}

/// Counters shared by every client of a run.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connected: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) duplicates: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The running display; dropping it (or [`Progress::finish`]) removes the live line.
pub(crate) struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts showing `counters` (for a run of `clients` connections).
    pub(crate) fn start(mode: ProgressMode, counters: Arc<Counters>, clients: u64) -> Progress {
        let live = mode == ProgressMode::Auto && std::io::stderr().is_terminal();
        if mode == ProgressMode::Quiet {
            return Progress {
                task: None,
                bar: None,
            };
        }
        let bar = live.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar
        });
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let period = if shown.is_some() {
                Duration::from_millis(250)
            } else {
                Duration::from_secs(1)
            };
            let mut tick = tokio::time::interval_at((start + period).into(), period);
            let mut last = (start, 0u64, 0u64);
            loop {
                tick.tick().await;
                let now = Instant::now();
                let sent = Counters::get(&counters.sent);
                let received = Counters::get(&counters.received);
                let dt = now.duration_since(last.0).as_secs_f64().max(1e-3);
                let line = format!(
                    "{:6.1}s  conns {}/{clients}  sent {sent} ({:.0}/s)  acked {}  received {received} ({:.0}/s)",
                    now.duration_since(start).as_secs_f64(),
                    Counters::get(&counters.connected),
                    (sent - last.1) as f64 / dt,
                    Counters::get(&counters.acked),
                    (received - last.2) as f64 / dt,
                );
                last = (now, sent, received);
                match &shown {
                    Some(bar) => {
                        bar.set_message(line);
                        bar.tick();
                    }
                    None => eprintln!("{line}"),
                }
            }
        });
        Progress {
            task: Some(task),
            bar,
        }
    }

    /// Stops the display.
    pub(crate) fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}
