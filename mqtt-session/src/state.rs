//! The persistable part of a session: what survives a reconnect, a takeover or a restart.

use crate::{message::DeliveryOptions, outbound::InflightPublish, Message};
use starling_codec::{PacketId, SubscriptionOptions, TopicFilter};
use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    num::NonZeroU32,
};

/// One subscription of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Subscription {
    /// The filter, `$share/…` prefix included.
    pub filter: TopicFilter,
    /// Its options.
    pub options: SubscriptionOptions,
    /// Its Subscription Identifier (v5).
    pub identifier: Option<NonZeroU32>,
}

/// A message waiting to be sent (no quota, or the client was offline).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QueuedMessage {
    /// The message.
    pub message: Message,
    /// How it is to be delivered.
    pub options: DeliveryOptions,
}

/// The session state of v5 §4.1: subscriptions, unacknowledged outbound messages, inbound QoS 2
/// identifiers awaiting PUBREL, the next packet identifier and messages queued for delivery.
///
/// A [`ServerSession`](crate::ServerSession) or [`ClientSession`](crate::ClientSession) gives
/// it up with `into_state` and takes it back with `resume`, so a reconnect, a takeover and a
/// broker restart are the same code path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SessionState {
    /// Subscriptions by full filter string.
    pub subscriptions: BTreeMap<String, Subscription>,
    /// Unacknowledged outbound QoS 1/2 messages, in send order.
    pub inflight: Vec<InflightPublish>,
    /// Inbound QoS 2 packet identifiers whose PUBREC was sent and PUBREL not yet received.
    pub inbound_qos2: BTreeSet<u16>,
    /// Where packet identifier allocation resumes.
    pub next_packet_id: PacketId,
    /// Messages waiting for send quota or for the client to come back.
    pub queued: VecDeque<QueuedMessage>,
}

impl Default for SessionState {
    fn default() -> Self {
        SessionState {
            subscriptions: BTreeMap::new(),
            inflight: Vec::new(),
            inbound_qos2: BTreeSet::new(),
            next_packet_id: PacketId::from(std::num::NonZeroU16::MIN),
            queued: VecDeque::new(),
        }
    }
}

impl SessionState {
    /// Whether there is nothing worth keeping.
    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
            && self.inflight.is_empty()
            && self.inbound_qos2.is_empty()
            && self.queued.is_empty()
    }
}
