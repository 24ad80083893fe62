//! The storage seam: what the broker must keep for persistent sessions and retained messages.
//!
//! The core stays deterministic and I/O-free: it emits [`StoreOp`]s in its outputs, and the
//! runtime applies them to a [`Store`] in order. The contract is built for "acked means
//! durable": [`Store::sync`] returns only once every operation applied before it is durable,
//! and the runtime calls it before acknowledging what depends on those operations (a durable
//! implementation groups many operations into one fsync). [`MemoryStore`] is the in-memory
//! implementation: it survives a broker restart inside one process (hand the same store to
//! the next broker), not a process restart.

use crate::{core::ClientId, hash::HashMap};
use starling_codec::TopicName;
use starling_session::{Message, QueuedMessage, SessionState, Subscription};
use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

/// One change to persist.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StoreOp {
    /// Set a topic's retained message.
    SetRetained(Message),
    /// Clear a topic's retained message.
    RemoveRetained(TopicName),
    /// Save an offline session (subscriptions, inflight, queued, inbound QoS 2 ids).
    SaveSession {
        /// Client identifier.
        client_id: ClientId,
        /// The state.
        state: SessionState,
        /// When it expires (`None`: never).
        expires_at: Option<Instant>,
    },
    /// Forget a session.
    RemoveSession(ClientId),
    /// Append a message to an offline session's queue.
    Enqueue {
        /// Client identifier.
        client_id: ClientId,
        /// The queued message.
        message: QueuedMessage,
    },
    /// Add or replace a subscription of a session (persistent sessions only).
    Subscribe {
        /// Client identifier.
        client_id: ClientId,
        /// The subscription.
        subscription: Subscription,
    },
    /// Remove a subscription of a session.
    Unsubscribe {
        /// Client identifier.
        client_id: ClientId,
        /// The full filter.
        filter: String,
    },
}

/// What a store holds, loaded at start-up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Retained messages.
    pub retained: Vec<Message>,
    /// Offline sessions with their expiry.
    pub sessions: Vec<(ClientId, SessionState, Option<Instant>)>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[error("store error: {0}")]
pub struct StoreError(pub String);

/// Persistent storage for the broker. Calls are made from the router task, in order.
pub trait Store: Send + 'static {
    /// Applies one operation (it need not be durable before [`sync`](Store::sync)).
    fn apply(&mut self, op: StoreOp) -> Result<(), StoreError>;

    /// Makes every applied operation durable.
    fn sync(&mut self) -> Result<(), StoreError>;

    /// Everything stored, for recovery at start-up.
    fn load(&mut self) -> Result<Snapshot, StoreError>;
}

/// An in-memory [`Store`], cheap to clone (clones share the data).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    retained: HashMap<String, Message>,
    sessions: HashMap<ClientId, (SessionState, Option<Instant>)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for MemoryStore {
    fn apply(&mut self, op: StoreOp) -> Result<(), StoreError> {
        let mut inner = self.inner();
        match op {
            StoreOp::SetRetained(m) => {
                inner.retained.insert(m.topic.to_string(), m);
            }
            StoreOp::RemoveRetained(topic) => {
                inner.retained.remove(topic.as_str());
            }
            StoreOp::SaveSession {
                client_id,
                state,
                expires_at,
            } => {
                inner.sessions.insert(client_id, (state, expires_at));
            }
            StoreOp::RemoveSession(client_id) => {
                inner.sessions.remove(&client_id);
            }
            StoreOp::Enqueue { client_id, message } => {
                if let Some((state, _)) = inner.sessions.get_mut(&client_id) {
                    state.queued.push_back(message);
                }
            }
            StoreOp::Subscribe {
                client_id,
                subscription,
            } => {
                let (state, _) = inner.sessions.entry(client_id).or_default();
                state
                    .subscriptions
                    .insert(subscription.filter.as_str().to_owned(), subscription);
            }
            StoreOp::Unsubscribe { client_id, filter } => {
                if let Some((state, _)) = inner.sessions.get_mut(&client_id) {
                    state.subscriptions.remove(&filter);
                }
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn load(&mut self) -> Result<Snapshot, StoreError> {
        let inner = self.inner();
        Ok(Snapshot {
            retained: inner.retained.values().cloned().collect(),
            sessions: inner
                .sessions
                .iter()
                .map(|(c, (s, e))| (c.clone(), s.clone(), *e))
                .collect(),
        })
    }
}
