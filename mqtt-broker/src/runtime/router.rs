//! The router task: owns the deterministic core and executes its outputs.

use super::{
    outbox::{ConnMsg, Outbox},
    Metrics,
};
use crate::{
    core::{ConnId, Core, Input, Output},
    store::Store,
};
use std::{collections::HashMap, sync::Arc};
use tokio::{
    sync::mpsc,
    time::{sleep_until, Instant},
};

/// Messages to the router.
pub(crate) enum RouterMsg {
    Register { conn: ConnId, outbox: Arc<Outbox> },
    Input(Box<Input>),
    Shutdown,
}

pub(crate) async fn run(
    mut core: Core,
    mut store: Box<dyn Store>,
    mut rx: mpsc::Receiver<RouterMsg>,
    metrics: Arc<Metrics>,
) {
    let mut outboxes: HashMap<ConnId, Arc<Outbox>> = HashMap::new();
    loop {
        let deadline = core.poll_timeout();
        let msg = tokio::select! {
            msg = rx.recv() => msg,
            _ = async { sleep_until(deadline.map(Instant::from_std).unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                core.handle_timeout(Instant::now().into_std());
                dispatch(&mut core, &mut *store, &mut outboxes, &metrics);
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
                    outboxes.insert(conn, outbox);
                }
                RouterMsg::Input(input) => {
                    let closed = match &*input {
                        Input::Closed { conn, .. } => Some(*conn),
                        _ => None,
                    };
                    core.handle(now, *input);
                    dispatch(&mut core, &mut *store, &mut outboxes, &metrics);
                    if let Some(conn) = closed {
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
        metrics.set_core(&core);
    }
}

fn dispatch(
    core: &mut Core,
    store: &mut dyn Store,
    outboxes: &mut HashMap<ConnId, Arc<Outbox>>,
    metrics: &Metrics,
) {
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
                if let Err(e) = store.apply(op) {
                    tracing::error!(error = %e, "store operation failed");
                }
                continue;
            }
        };
        if let Some(outbox) = outboxes.get(&conn) {
            if !outbox.push(msg) {
                metrics
                    .dropped_slow
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}
