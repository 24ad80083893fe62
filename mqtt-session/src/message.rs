//! Application messages as the session hands them over and takes them in.

use bytes::Bytes;
use starling_codec::{PacketId, Publish, PublishParts, PublishProperties, QoS, QosPid, TopicName};
use std::{
    num::NonZeroU32,
    time::{Duration, Instant},
};

/// An application message, independent of any connection: no packet id, no topic alias, no
/// subscription identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Message {
    /// The topic.
    pub topic: TopicName,
    /// The payload (shared, never copied during fan-out).
    pub payload: Bytes,
    /// The QoS it was published with.
    pub qos: QoS,
    /// The RETAIN flag it was published with.
    pub retain: bool,
    /// MQTT 5 properties passed through unchanged to subscribers (payload format, content type,
    /// response topic, correlation data, user properties). `message_expiry_interval` is
    /// recomputed from `expires_at` on every delivery; `topic_alias` and
    /// `subscription_identifiers` are per connection and ignored here. Read and write them as
    /// a [`PublishProperties`] (see [`MessageProperties`]).
    pub properties: MessageProperties,
    /// When the message expires (from its Message Expiry Interval at receipt). With the `serde`
    /// feature it is stored as wall-clock UNIX milliseconds, converted when (de)serializing.
    #[cfg_attr(feature = "serde", serde(default, with = "crate::serde_time"))]
    pub expires_at: Option<Instant>,
}

impl Message {
    /// A message with no properties and no expiry.
    pub fn new(topic: TopicName, payload: Bytes, qos: QoS, retain: bool) -> Message {
        Message {
            topic,
            payload,
            qos,
            retain,
            properties: MessageProperties::default(),
            expires_at: None,
        }
    }

    /// The message carried by a received PUBLISH whose topic is resolved (alias applied).
    pub fn from_publish(now: Instant, publish: Publish) -> Message {
        let PublishParts {
            qos_pid,
            retain,
            topic,
            payload,
            mut properties,
            ..
        } = publish.into();
        let expires_at = properties
            .message_expiry_interval
            .map(|secs| now + Duration::from_secs(u64::from(secs)));
        properties.topic_alias = None;
        properties.subscription_identifiers = Vec::new();
        Message {
            topic,
            payload,
            qos: qos_pid.qos(),
            retain,
            properties: properties.into(),
            expires_at,
        }
    }

    /// What the message counts against a queue's byte budget: payload and topic.
    pub fn queued_size(&self) -> usize {
        self.payload.len() + self.topic.len()
    }

    /// Whether the message has expired at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The remaining expiry interval in whole seconds, rounded up (v5 [MQTT-3.3.2-6]: the
    /// interval sent is the received value minus the time spent waiting).
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        self.expires_at.map(|at| {
            let left = at.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            u32::try_from(secs).unwrap_or(u32::MAX)
        })
    }

    /// The PUBLISH that carries this message, without alias, DUP false. Consumes the
    /// message: topic, payload and properties move into the packet (no reference count
    /// traffic on the shared payload per delivery).
    pub(crate) fn into_publish(
        self,
        now: Instant,
        qos: QoS,
        packet_id: PacketId,
        retain: bool,
        subscription_identifiers: &[NonZeroU32],
    ) -> Publish {
        let message_expiry_interval = self.remaining_expiry(now);
        let mut properties = self.properties.into_inner();
        properties.topic_alias = None;
        properties.message_expiry_interval = message_expiry_interval;
        properties.subscription_identifiers.clear();
        properties
            .subscription_identifiers
            .extend_from_slice(subscription_identifiers);
        Publish::new(self.topic, QosPid::new(qos, packet_id), self.payload)
            .with_retain(retain)
            .with_properties(properties)
    }
}

/// A message's MQTT 5 properties, boxed only when there are any: most messages carry none, and
/// a message is moved several times between receipt and delivery (an inline
/// [`PublishProperties`] would make each move, and each queued message, 150 bytes bigger).
///
/// It dereferences to a [`PublishProperties`] (an empty one when there are none); writing
/// through it boxes them on first use.
#[derive(Debug, Clone, Default)]
pub struct MessageProperties(Option<Box<PublishProperties>>);

impl MessageProperties {
    /// The properties, unboxed (empty when there are none).
    pub fn into_inner(self) -> PublishProperties {
        self.0.map(|b| *b).unwrap_or_default()
    }
}

fn no_properties() -> &'static PublishProperties {
    static EMPTY: std::sync::OnceLock<PublishProperties> = std::sync::OnceLock::new();
    EMPTY.get_or_init(PublishProperties::default)
}

impl std::ops::Deref for MessageProperties {
    type Target = PublishProperties;

    fn deref(&self) -> &PublishProperties {
        self.0.as_deref().unwrap_or_else(|| no_properties())
    }
}

impl std::ops::DerefMut for MessageProperties {
    fn deref_mut(&mut self) -> &mut PublishProperties {
        self.0.get_or_insert_with(Box::default)
    }
}

impl From<PublishProperties> for MessageProperties {
    fn from(properties: PublishProperties) -> MessageProperties {
        if properties.is_empty() {
            MessageProperties(None)
        } else {
            MessageProperties(Some(Box::new(properties)))
        }
    }
}

impl PartialEq for MessageProperties {
    fn eq(&self, other: &MessageProperties) -> bool {
        **self == **other
    }
}

impl Eq for MessageProperties {}

#[cfg(feature = "serde")]
impl serde::Serialize for MessageProperties {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PublishProperties::serialize(self, serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for MessageProperties {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        PublishProperties::deserialize(deserializer).map(MessageProperties::from)
    }
}

/// How one message is to be delivered to one subscriber (computed by the broker from the
/// matching subscriptions).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DeliveryOptions {
    /// The maximum QoS granted by the matching subscriptions; the message is downgraded to it.
    pub qos: QoS,
    /// Retain As Published: keep the message's RETAIN flag (otherwise it is cleared,
    /// v3.1.1 [MQTT-3.3.1-9], v5 [MQTT-3.3.1-12]).
    pub retain_as_published: bool,
    /// The message is a retained message sent because of a new subscription: RETAIN stays set
    /// (v3.1.1 [MQTT-3.3.1-8], v5 [MQTT-3.3.1-9]).
    pub from_retained: bool,
    /// Subscription identifiers of all matching subscriptions (v5 [MQTT-3.3.4-3]).
    pub subscription_identifiers: Vec<NonZeroU32>,
    /// The shared subscription group this delivery was chosen for: an opaque tag the session
    /// keeps with the message (in its queue and inflight), so the broker can hand
    /// unacknowledged shared messages to another member when this one goes away.
    pub shared_group: Option<std::sync::Arc<str>>,
}

impl DeliveryOptions {
    /// The RETAIN flag of this delivery of `message`: set for a retained message sent because
    /// of a subscription, else the message's own flag only with Retain As Published
    /// (v3.1.1 [MQTT-3.3.1-8], v3.1.1 [MQTT-3.3.1-9]; v5 [MQTT-3.3.1-12], v5 [MQTT-3.3.1-13]).
    pub fn retain_flag(&self, message: &Message) -> bool {
        self.from_retained || (self.retain_as_published && message.retain)
    }
}
