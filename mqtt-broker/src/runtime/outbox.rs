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
        resume: Option<SessionState>,
    },
    Deliver {
        message: Message,
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

    /// Queues a message; deliveries over the limits are dropped (and counted), control
    /// messages never are.
    pub(crate) fn push(&self, msg: ConnMsg) -> bool {
        {
            // A poisoned lock only means another thread panicked mid-push; the queue is intact.
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if let ConnMsg::Deliver { message, options } = &msg {
                let qos0 = message.qos.min(options.qos) == QoS::AtMostOnce;
                if q.len() >= self.hard_limit || (qos0 && q.len() >= self.qos0_limit) {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
            }
            q.push_back(msg);
        }
        self.notify.notify_one();
        true
    }

    /// Takes everything queued.
    pub(crate) fn drain(&self) -> VecDeque<ConnMsg> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) async fn notified(&self) {
        self.notify.notified().await
    }
}
