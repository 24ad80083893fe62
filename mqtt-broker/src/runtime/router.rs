//! The router task: owns the deterministic core and executes its outputs.

use super::{
    outbox::{ConnMsg, Outbox},
    Metrics,
};
use crate::hash::HashMap;
use crate::{
    core::{ConnId, Core, Input, Output},
    store::Store,
};
use std::sync::Arc;
use tokio::{
    sync::mpsc,
    time::{sleep_until, Instant},
};

/// Messages to the router.
pub(crate) enum RouterMsg {
    Register {
        conn: ConnId,
        outbox: Arc<Outbox>,
    },
    /// Unboxed: a publish is the common message, and an allocation per publish cost more than
    /// moving it through the channel.
    Input(Input),
    /// The broker is shutting down: every connection, and any that registers later, is told
    /// to disconnect (MQTT 5: 0x8B).
    DisconnectAll,
    Shutdown,
}

pub(crate) async fn run(
    mut core: Core,
    mut store: Box<dyn Store>,
    mut rx: mpsc::Receiver<RouterMsg>,
    metrics: Arc<Metrics>,
) {
    let mut outboxes: HashMap<ConnId, Arc<Outbox>> = HashMap::default();
    let mut staged = Staged::default();
    let mut disconnecting = false;
    loop {
        let deadline = core.poll_timeout();
        let msg = tokio::select! {
            msg = rx.recv() => msg,
            _ = async { sleep_until(deadline.map(Instant::from_std).unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                core.handle_timeout(Instant::now().into_std());
                dispatch(&mut core, &mut *store, &mut staged);
                staged.flush(&outboxes, &metrics);
                continue;
            }
        };
        let Some(msg) = msg else { break };
        // Take everything already waiting before dispatching: one pass for a burst.
        let mut batch = vec![msg];
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let now = Instant::now().into_std();
        for msg in batch {
            match msg {
                RouterMsg::Register { conn, outbox } => {
                    if disconnecting {
                        outbox.push_many(&mut vec![shutting_down()]);
                    }
                    outboxes.insert(conn, outbox);
                }
                RouterMsg::DisconnectAll => {
                    disconnecting = true;
                    for outbox in outboxes.values() {
                        outbox.push_many(&mut vec![shutting_down()]);
                    }
                }
                RouterMsg::Input(input) => {
                    let closed = match &input {
                        Input::Closed { conn, .. } => Some(*conn),
                        _ => None,
                    };
                    core.handle(now, input);
                    dispatch(&mut core, &mut *store, &mut staged);
                    if let Some(conn) = closed {
                        // What was staged for it goes out first (the core sends nothing
                        // after the close).
                        staged.flush(&outboxes, &metrics);
                        outboxes.remove(&conn);
                    }
                }
                RouterMsg::Shutdown => return,
            }
        }
        // One sync per batch: many clients' changes share it (group commit).
        if let Err(e) = store.sync() {
            tracing::error!(error = %e, "store sync failed");
        }
        // Then each connection's share of the batch, under one lock and one wake-up.
        staged.flush(&outboxes, &metrics);
        metrics.set_core(&core);
    }
}

fn shutting_down() -> ConnMsg {
    ConnMsg::Disconnect(starling_codec::ReasonCode::ServerShuttingDown)
}

/// Messages for connections, grouped per connection until the end of a batch. Emptied
/// vectors go back to a small pool (never kept per connection: 10k idle connections must
/// not each hold one).
#[derive(Default)]
struct Staged {
    per_conn: HashMap<ConnId, Vec<ConnMsg>>,
    touched: Vec<ConnId>,
    spare: Vec<Vec<ConnMsg>>,
}

/// Pooled vectors kept between batches, and the largest capacity worth keeping.
const SPARE_VECS: usize = 64;
const SPARE_CAPACITY: usize = 1024;

impl Staged {
    fn push(&mut self, conn: ConnId, msg: ConnMsg) {
        let spare = &mut self.spare;
        let touched = &mut self.touched;
        self.per_conn
            .entry(conn)
            .or_insert_with(|| {
                touched.push(conn);
                spare.pop().unwrap_or_default()
            })
            .push(msg);
    }

    fn flush(&mut self, outboxes: &HashMap<ConnId, Arc<Outbox>>, metrics: &Metrics) {
        for conn in self.touched.drain(..) {
            let Some(mut v) = self.per_conn.remove(&conn) else {
                continue;
            };
            match outboxes.get(&conn) {
                Some(outbox) => {
                    let dropped = outbox.push_many(&mut v);
                    if dropped > 0 {
                        metrics
                            .dropped_slow
                            .fetch_add(dropped, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                None => v.clear(),
            }
            if self.spare.len() < SPARE_VECS && v.capacity() <= SPARE_CAPACITY {
                self.spare.push(v);
            }
        }
    }
}

fn dispatch(core: &mut Core, store: &mut dyn Store, staged: &mut Staged) {
    while let Some(out) = core.poll_output() {
        let (conn, msg) = match out {
            Output::Accept {
                conn,
                client_id,
                assigned,
                resume,
            } => (
                conn,
                ConnMsg::Accept {
                    client_id,
                    assigned,
                    resume,
                },
            ),
            Output::Deliver {
                conn,
                message,
                options,
            } => (conn, ConnMsg::Deliver { message, options }),
            Output::SubAck {
                conn,
                packet_id,
                reason_codes,
            } => (
                conn,
                ConnMsg::SubAck {
                    packet_id,
                    reason_codes,
                },
            ),
            Output::UnsubAck {
                conn,
                packet_id,
                reason_codes,
            } => (
                conn,
                ConnMsg::UnsubAck {
                    packet_id,
                    reason_codes,
                },
            ),
            Output::Disconnect { conn, reason } => (conn, ConnMsg::Disconnect(reason)),
            Output::Store(op) => {
                if let Err(e) = store.apply(*op) {
                    tracing::error!(error = %e, "store operation failed");
                }
                continue;
            }
        };
        staged.push(conn, msg);
    }
}
