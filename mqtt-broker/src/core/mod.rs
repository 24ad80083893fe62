//! The deterministic broker core: no tokio, no I/O, no clock.
//!
//! It owns the subscription trie, the retained store, the session registry (online and offline
//! sessions, takeover), shared subscription groups, pending wills and session expiry. The
//! runtime feeds it [`Input`]s with `now`, executes the [`Output`]s it produces and calls
//! [`Core::handle_timeout`] at [`Core::poll_timeout`]. Being synchronous and deterministic,
//! multi-client behaviour (takeover races, will delay against reconnect, queue overflow) is
//! testable in a simulated world and fuzzable.

mod config;
pub mod retained;
pub mod trie;

pub use config::CoreConfig;

use crate::hash::HashMap;
use retained::RetainedStore;
use starling_codec::{PacketId, QoS, ReasonCode, RetainHandling, TopicFilter, Will};
use starling_session::{DeliveryOptions, Message, SessionState, Subscription};
use std::{
    cmp::Reverse,
    collections::{BinaryHeap, VecDeque},
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};
use trie::TopicTrie;

/// Identifies one network connection, chosen by the runtime.
pub type ConnId = u64;

/// A client identifier, cheaply shared.
pub type ClientId = Arc<str>;

/// What a CONNECT asks of the core (after authentication).
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// Client identifier; empty when the server must assign one.
    pub client_id: String,
    /// Clean Start.
    pub clean_start: bool,
    /// The will of this connection.
    pub will: Option<Will>,
    /// Session Expiry Interval asked for (0: the session ends with the connection).
    pub session_expiry_interval: u32,
}

/// An input to the core.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Input {
    /// A connection's CONNECT was authenticated; answered by [`Output::Accept`] (possibly after
    /// a takeover round trip).
    Connect {
        /// The connection.
        conn: ConnId,
        /// The request (boxed: inputs are moved through the router's channel, and publishes,
        /// the common input, are much smaller).
        request: Box<ConnectRequest>,
    },
    /// An application message to route. `from` is the publishing connection (for No Local),
    /// `None` for messages the broker itself publishes.
    Publish {
        /// Publishing connection.
        from: Option<ConnId>,
        /// The message.
        message: Message,
    },
    /// A SUBSCRIBE; `denied[i]` holds the refusal of an authorization hook for filter `i`.
    Subscribe {
        /// The connection.
        conn: ConnId,
        /// SUBSCRIBE packet id.
        packet_id: PacketId,
        /// Requested subscriptions.
        subscriptions: Vec<Subscription>,
        /// Per-filter refusal decided before the core (authorization), if any.
        denied: Vec<Option<ReasonCode>>,
    },
    /// An UNSUBSCRIBE.
    Unsubscribe {
        /// The connection.
        conn: ConnId,
        /// UNSUBSCRIBE packet id.
        packet_id: PacketId,
        /// Filters.
        filters: Vec<TopicFilter>,
    },
    /// A connection ended; its session state comes back to the core.
    Closed {
        /// The connection.
        conn: ConnId,
        /// The session state from `ServerSession::into_state` (empty if never accepted; boxed,
        /// as the will, to keep inputs small).
        state: Box<SessionState>,
        /// The will to publish, if the close calls for it.
        will: Option<Box<Will>>,
        /// Session Expiry Interval at the close, seconds (`u32::MAX`: never).
        session_expiry_interval: u32,
    },
}

/// An action for the runtime.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Accept the connection's CONNECT.
    Accept {
        /// The connection.
        conn: ConnId,
        /// The client id (the assigned one when the client sent none).
        client_id: ClientId,
        /// Whether the client sent an empty id and this one was assigned.
        assigned: bool,
        /// The session to resume (`None`: new session). Boxed, as `Store`: every output is
        /// as big as its largest variant, and deliveries are nearly all of them.
        resume: Option<Box<SessionState>>,
    },
    /// Deliver a message to a connection's session.
    Deliver {
        /// The connection.
        conn: ConnId,
        /// The message, shared by every subscriber it goes to (one allocation per publish,
        /// a pointer per delivery).
        message: Arc<Message>,
        /// Per-subscriber options.
        options: DeliveryOptions,
    },
    /// Answer a SUBSCRIBE.
    SubAck {
        /// The connection.
        conn: ConnId,
        /// Packet id.
        packet_id: PacketId,
        /// Reason codes per filter.
        reason_codes: Vec<ReasonCode>,
    },
    /// Answer an UNSUBSCRIBE.
    UnsubAck {
        /// The connection.
        conn: ConnId,
        /// Packet id.
        packet_id: PacketId,
        /// Reason codes per filter.
        reason_codes: Vec<ReasonCode>,
    },
    /// Persist a change (see [`crate::store`]).
    Store(Box<crate::store::StoreOp>),
    /// Close a connection with this reason (session takeover: 0x8E). Its `Closed` input is
    /// awaited before the new connection is accepted.
    Disconnect {
        /// The connection.
        conn: ConnId,
        /// Reason.
        reason: ReasonCode,
    },
}

impl Output {
    /// An [`Output::Store`].
    pub(crate) fn store(op: crate::store::StoreOp) -> Output {
        Output::Store(Box::new(op))
    }
}

/// Counters the core keeps (exposed under `$SYS` by the runtime).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Messages routed.
    pub messages_routed: u64,
    /// Deliveries produced (one per subscriber session).
    pub deliveries: u64,
    /// Messages dropped because an offline session's queue was full.
    pub dropped_queue_full: u64,
    /// QoS 0 messages not queued for offline sessions.
    pub dropped_offline_qos0: u64,
    /// Wills published.
    pub wills_published: u64,
    /// Sessions expired.
    pub sessions_expired: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SubKey {
    Client(ClientId),
    Shared(Arc<str>),
}

#[derive(Debug, Clone)]
struct SubEntry {
    options: starling_codec::SubscriptionOptions,
    identifier: Option<NonZeroU32>,
}

#[derive(Debug, Default)]
struct SharedGroup {
    /// Members in join order with their subscription.
    members: Vec<(ClientId, SubEntry)>,
    next: usize,
}

#[derive(Debug)]
struct SessionRecord {
    conn: Option<ConnId>,
    /// Stored state while offline (boxed: most records are online, and every record pays
    /// for the inline size).
    offline: Option<Box<SessionState>>,
    /// When an offline session expires (`None`: never, or online).
    expires_at: Option<Instant>,
    /// Subscriptions (full filter strings) for cleanup.
    filters: Vec<String>,
    /// Whether the session outlives its connection (persisted).
    persistent: bool,
}

#[derive(Debug)]
struct PendingWill {
    will: Will,
    due: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Will,
    Expiry,
}

/// The broker core. See the module docs.
#[derive(Debug)]
pub struct Core {
    config: CoreConfig,
    subs: TopicTrie<SubKey, SubEntry>,
    shared: HashMap<Arc<str>, SharedGroup>,
    retained: RetainedStore,
    sessions: HashMap<ClientId, SessionRecord>,
    conns: HashMap<ConnId, ClientId>,
    /// New connections waiting for the old one of the same client to close (takeover).
    takeovers: HashMap<ClientId, (ConnId, ConnectRequest)>,
    wills: HashMap<ClientId, PendingWill>,
    timers: BinaryHeap<Reverse<(Instant, TimerKind, ClientId)>>,
    outputs: VecDeque<Output>,
    /// Reused per publish: the aggregated delivery per session.
    scratch: HashMap<ClientId, DeliveryOptions>,
    shared_scratch: Vec<Arc<str>>,
    /// The sum of every session's `filters.len()`.
    subscription_total: usize,
    assigned: u64,
    stats: CoreStats,
}

impl Core {
    /// A core with `config`.
    pub fn new(config: CoreConfig) -> Core {
        Core {
            config,
            subs: TopicTrie::new(),
            shared: HashMap::default(),
            retained: RetainedStore::new(),
            sessions: HashMap::default(),
            conns: HashMap::default(),
            takeovers: HashMap::default(),
            wills: HashMap::default(),
            timers: BinaryHeap::new(),
            outputs: VecDeque::new(),
            scratch: HashMap::default(),
            shared_scratch: Vec::new(),
            subscription_total: 0,
            assigned: 0,
            stats: CoreStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &CoreStats {
        &self.stats
    }

    /// Number of sessions (online and offline).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of online sessions.
    pub fn connected_count(&self) -> usize {
        self.conns.len()
    }

    /// Number of subscriptions.
    pub fn subscription_count(&self) -> usize {
        // Kept as a count: the runtime reads it after every batch, and summing over the
        // sessions made 10k connecting clients quadratic.
        self.subscription_total
    }

    /// The retained store.
    pub fn retained(&self) -> &RetainedStore {
        &self.retained
    }

    /// Restores retained messages and offline sessions from a store snapshot (at start-up).
    pub fn restore(&mut self, snapshot: crate::store::Snapshot) {
        for message in snapshot.retained {
            self.retained.set(message);
        }
        for (client, state, expires_at) in snapshot.sessions {
            let subs: Vec<Subscription> = state.subscriptions.values().cloned().collect();
            self.sessions.insert(
                client.clone(),
                SessionRecord {
                    conn: None,
                    offline: Some(Box::new(state)),
                    expires_at,
                    filters: Vec::new(),
                    persistent: true,
                },
            );
            for sub in &subs {
                self.add_subscription(&client, sub);
            }
            if let Some(at) = expires_at {
                self.timers.push(Reverse((at, TimerKind::Expiry, client)));
            }
        }
    }

    /// The next action for the runtime.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Handles one input.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Connect { conn, request } => self.connect(now, conn, *request),
            Input::Publish { from, message } => self.publish(now, from, message),
            Input::Subscribe {
                conn,
                packet_id,
                subscriptions,
                denied,
            } => self.subscribe(now, conn, packet_id, subscriptions, denied),
            Input::Unsubscribe {
                conn,
                packet_id,
                filters,
            } => self.unsubscribe(conn, packet_id, filters),
            Input::Closed {
                conn,
                state,
                will,
                session_expiry_interval,
            } => self.closed(now, conn, *state, will.map(|w| *w), session_expiry_interval),
        }
    }

    /// Publishes due wills and expires sessions whose interval passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, kind, client))) = self.timers.peek().cloned() {
            if at > now {
                break;
            }
            self.timers.pop();
            match kind {
                TimerKind::Will => {
                    if self.wills.get(&client).is_some_and(|w| w.due <= now) {
                        self.publish_will(now, &client);
                    }
                }
                TimerKind::Expiry => {
                    let due = self
                        .sessions
                        .get(&client)
                        .and_then(|s| s.expires_at)
                        .is_some_and(|e| e <= now);
                    if due {
                        // v5 [MQTT-4.1.0-2]: discard the state once the interval passed.
                        self.stats.sessions_expired += 1;
                        self.end_session(now, &client);
                    }
                }
            }
        }
        self.retained.remove_expired(now);
    }
}

mod ops;
#[cfg(test)]
mod tests;
