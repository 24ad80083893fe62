//! The bounded per-connection outbox the router writes into. A slow subscriber fills only its
//! own outbox: QoS 0 beyond the soft limit is dropped, anything beyond the hard limit too, and
//! both are counted; the router never waits on a connection.

use crate::core::ClientId;
use starling_codec::{PacketId, QoS, ReasonCode};
use starling_session::{DeliveryOptions, Message, SessionState};
use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};
use tokio::sync::Notify;

/// What the router tells a connection.
#[derive(Debug)]
pub(crate) enum ConnMsg {
    Accept {
        client_id: ClientId,
        assigned: bool,
        /// Boxed: deliveries, the common message, are half the size.
        resume: Option<Box<SessionState>>,
    },
    Deliver {
        message: std::sync::Arc<Message>,
        options: DeliveryOptions,
    },
    SubAck {
        packet_id: PacketId,
        reason_codes: Vec<ReasonCode>,
    },
    UnsubAck {
        packet_id: PacketId,
        reason_codes: Vec<ReasonCode>,
    },
    Disconnect(ReasonCode),
}

#[derive(Debug)]
pub(crate) struct Outbox {
    queue: Mutex<VecDeque<ConnMsg>>,
    notify: Notify,
    qos0_limit: usize,
    hard_limit: usize,
    pub(crate) dropped: AtomicU64,
}

impl Outbox {
    pub(crate) fn new(qos0_limit: usize, hard_limit: usize) -> Outbox {
        Outbox {
            queue: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            qos0_limit,
            hard_limit,
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues a batch under one lock and one wake-up; returns how many deliveries were
    /// dropped by the limits. `msgs` is left empty with its capacity.
    pub(crate) fn push_many(&self, msgs: &mut Vec<ConnMsg>) -> u64 {
        let mut dropped = 0;
        {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.capacity() == 0 {
                // Room for this batch only: most idle connections only ever get their CONNACK
                // decision here, and the default first growth is four messages.
                q.reserve_exact(msgs.len());
            }
            for msg in msgs.drain(..) {
                if let ConnMsg::Deliver { message, options } = &msg {
                    let qos0 = message.qos.min(options.qos) == QoS::AtMostOnce;
                    if q.len() >= self.hard_limit || (qos0 && q.len() >= self.qos0_limit) {
                        dropped += 1;
                        continue;
                    }
                }
                q.push_back(msg);
            }
        }
        if dropped > 0 {
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        self.notify.notify_one();
        dropped
    }

    /// Swaps everything queued into `into` (which must be empty): both sides keep their
    /// buffers, so a busy connection does not reallocate its queue on every batch.
    pub(crate) fn swap_out(&self, into: &mut VecDeque<ConnMsg>) {
        std::mem::swap(
            &mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()),
            into,
        );
    }

    /// Gives back the queue's buffer if it is empty (an idle connection).
    pub(crate) fn release_idle_memory(&self) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.is_empty() && q.capacity() > 0 {
            *q = VecDeque::new();
        }
    }

    pub(crate) async fn notified(&self) {
        self.notify.notified().await
    }
}
