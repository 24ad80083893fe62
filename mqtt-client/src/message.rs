//! What the client hands to the application: messages, streams, acknowledgements, events.

use crate::DisconnectReason;
use bytes::Bytes;
use futures::Stream;
use starling_codec::{PacketId, Publish, PublishProperties, QoS, ReasonCode, TopicName};
use std::{
    pin::Pin,
    task::{Context, Poll},
};
use tokio::sync::mpsc;

/// An application message received from the server (topic alias resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic.
    pub topic: TopicName,
    /// Payload.
    pub payload: Bytes,
    /// The QoS it was delivered with.
    pub qos: QoS,
    /// RETAIN: a retained message sent at subscribe time (or forwarded with
    /// retain-as-published).
    pub retain: bool,
    /// DUP: the server may have sent it before.
    pub dup: bool,
    /// Its packet identifier (QoS 1/2), for display; acknowledgements are the client's job.
    pub packet_id: Option<PacketId>,
    /// MQTT 5 properties (subscription identifiers, response topic, correlation data, user
    /// properties, content type, payload format, message expiry).
    pub properties: PublishProperties,
}

impl Message {
    /// The topic as a string.
    pub fn topic(&self) -> &str {
        self.topic.as_str()
    }

    pub(crate) fn from_publish(p: Publish) -> Message {
        let p = starling_codec::PublishParts::from(p);
        Message {
            qos: p.qos_pid.qos(),
            topic: p.topic,
            payload: p.payload,
            retain: p.retain,
            dup: p.dup,
            packet_id: p.qos_pid.packet_id(),
            properties: p.properties,
        }
    }
}

/// A bounded stream of incoming messages ([`Client::messages`](crate::Client::messages)).
///
/// The client stops reading from the socket while a stream is full, so a slow reader slows
/// the server down (TCP backpressure) instead of making the client buffer without bound. A
/// stream that is never read therefore stalls every stream of its client; drop it instead.
/// The stream ends when the client is closed.
#[derive(Debug)]
pub struct Messages {
    pub(crate) rx: mpsc::Receiver<Message>,
}

impl Messages {
    /// The next message; `None` once the client is closed.
    pub async fn recv(&mut self) -> Option<Message> {
        self.rx.recv().await
    }
}

impl Stream for Messages {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.rx.poll_recv(cx)
    }
}

/// The server's answer to a SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Per filter, in order: the granted QoS (0x00..=0x02) or a failure code (0x80…).
    pub reason_codes: Vec<ReasonCode>,
}

impl SubAck {
    /// The granted QoS of the first filter, `None` if it was refused.
    pub fn granted_qos(&self) -> Option<QoS> {
        self.reason_codes
            .first()
            .and_then(|r| QoS::from_u8(r.as_u8()))
    }

    /// Whether every filter was granted.
    pub fn all_granted(&self) -> bool {
        self.reason_codes.iter().all(|r| !r.is_error())
    }
}

/// The server's answer to an UNSUBSCRIBE (3.x servers send no codes: all are Success).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Per filter (v5), empty for 3.x.
    pub reason_codes: Vec<ReasonCode>,
}

/// How a publish finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishOutcome {
    /// Its packet id (QoS 1/2).
    pub packet_id: Option<PacketId>,
    /// The PUBACK/PUBCOMP reason code (0x00 Success or 0x10 No matching subscribers); QoS 0
    /// reports Success once written.
    pub reason: ReasonCode,
}

/// A subscription with its own message stream ([`Client::subscribe_stream`](crate::Client::subscribe_stream)).
///
/// Receives the messages of its own filters: routed by subscription identifier when the
/// server supports them, by topic matching otherwise. Dropping it stops the routing; it does
/// not unsubscribe.
#[derive(Debug)]
pub struct Subscription {
    pub(crate) suback: SubAck,
    pub(crate) messages: Messages,
}

impl Subscription {
    /// The SUBACK.
    pub fn suback(&self) -> &SubAck {
        &self.suback
    }

    /// The next message; `None` once the client is closed.
    pub async fn recv(&mut self) -> Option<Message> {
        self.messages.recv().await
    }
}

impl Stream for Subscription {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        Pin::new(&mut self.messages).poll_next(cx)
    }
}

/// Connection events ([`Client::events`](crate::Client::events)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// CONNACK success.
    Connected {
        /// Whether the server resumed the session.
        session_present: bool,
    },
    /// The connection ended.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// A reconnection attempt is scheduled.
    Reconnecting {
        /// Consecutive attempts so far (1 for the first retry).
        attempt: u32,
        /// The delay before it.
        delay: std::time::Duration,
    },
}
