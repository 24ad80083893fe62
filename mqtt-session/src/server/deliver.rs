//! Outbound delivery of application messages to the client.

use super::{QueuePolicy, ServerError, ServerEvent, ServerPhase, ServerSession};
use crate::{alias::AliasUse, message::DeliveryOptions, Message, QueuedMessage};
use starling_codec::{PacketId, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, TopicName};
use std::{sync::Arc, time::Instant};

/// What [`ServerSession::deliver`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Encoded for sending (QoS 1/2 under this packet id).
    Sent(Option<PacketId>),
    /// Waiting in the session queue for send quota (or for the connection).
    Queued,
    /// Too large for the client's Maximum Packet Size: discarded and treated as sent
    /// (v5 [MQTT-3.1.2-25]).
    Discarded,
    /// Expired before it could be sent.
    Expired,
    /// QoS 0 message while not connected: dropped.
    Dropped,
}

impl ServerSession {
    /// [`deliver`](Self::deliver) for a message shared with other subscribers: the same
    /// outcome and the same bytes, but a copy that needs nothing per delivery (MQTT 3.x, or
    /// MQTT 5 without properties, expiry, subscription identifiers or topic aliases; at QoS 1/2
    /// also without properties or expiry in 3.x, and sent at once) is encoded straight from the
    /// shared message, and a QoS 1/2 flow keeps the `Arc` itself: no clone of its topic and
    /// payload, whose reference counts every subscriber's copy would otherwise contend on.
    /// Anything else takes the message (the last holder without a copy) and goes through
    /// `deliver`.
    pub fn deliver_shared(
        &mut self,
        now: Instant,
        message: Arc<Message>,
        options: DeliveryOptions,
    ) -> Result<Delivery, ServerError> {
        match self.send_plain(now, message, &options) {
            Ok(delivery) => Ok(delivery),
            Err(message) => self.deliver(now, Arc::unwrap_or_clone(message), options),
        }
    }

    /// The borrowed path of `deliver_shared`; the message back when it does not apply.
    fn send_plain(
        &mut self,
        now: Instant,
        message: Arc<Message>,
        options: &DeliveryOptions,
    ) -> Result<Delivery, Arc<Message>> {
        let v5 = self.version.is_v5();
        let qos = message.qos.min(options.qos);
        let bare = message.expires_at.is_none() && message.properties.is_empty();
        let plain = self.phase == ServerPhase::Connected
            && !message.is_expired(now)
            && (!v5
                || (bare
                    && options.subscription_identifiers.is_empty()
                    && self.outbound_aliases.is_none()))
            && (qos == QoS::AtMostOnce
                || (bare && self.outbound.has_quota() && self.queued.is_empty()));
        if !plain {
            return Err(message);
        }
        let qos_pid = match qos {
            QoS::AtMostOnce => QosPid::AtMostOnce,
            _ => match self.outbound.allocate_id(|_| false) {
                Some(id) => QosPid::new(qos, id),
                // Identifiers exhausted: `deliver` queues it.
                None => return Err(message),
            },
        };
        let retain = options.retain_flag(&message);
        let start = self.transmit.len();
        let encoded = Publish::encode_plain_header(
            self.version,
            qos_pid,
            retain,
            &message.topic,
            message.payload.len(),
            &mut self.transmit,
        );
        let len = self.transmit.len() - start + message.payload.len();
        // v5 [MQTT-3.1.2-24], v5 [MQTT-3.1.2-25]: too large for the client: discard, behave as sent.
        if encoded.is_err() || len > self.peer_max_packet_size as usize {
            self.transmit.truncate(start);
            return Ok(Delivery::Discarded);
        }
        self.put_payload(&message.payload, || message.payload.clone());
        let packet_id = qos_pid.packet_id();
        if let Some(id) = packet_id {
            let group = options.shared_group.clone();
            self.outbound.insert_shared(id, qos, retain, message, group);
        }
        Ok(Delivery::Sent(packet_id))
    }

    /// Delivers `message` to this client with `options` computed from its matching
    /// subscriptions: QoS downgraded to the subscription's, RETAIN per retain-as-published,
    /// subscription identifiers attached, topic alias applied, the client's Receive Maximum
    /// respected (over quota, QoS 1/2 messages wait in the session queue), the message expiry
    /// counted down, oversize messages discarded.
    pub fn deliver(
        &mut self,
        now: Instant,
        message: Message,
        options: DeliveryOptions,
    ) -> Result<Delivery, ServerError> {
        if message.is_expired(now) {
            return Ok(Delivery::Expired);
        }
        // v5 [MQTT-3.3.4-2]: never above the subscription's QoS.
        let qos = message.qos.min(options.qos);
        let connected = self.phase == ServerPhase::Connected;
        if qos == QoS::AtMostOnce {
            if !connected {
                return Ok(Delivery::Dropped);
            }
            return Ok(self
                .send_publish(now, message, &options, QoS::AtMostOnce)
                .unwrap_or(Delivery::Sent(None)));
        }
        if !connected || !self.outbound.has_quota() || !self.queued.is_empty() {
            let size = message.queued_size();
            let full = |s: &ServerSession| {
                s.queued.len() >= s.config.max_queued_messages
                    || s.queued_bytes + size > s.config.max_queued_bytes
            };
            if full(self) {
                match self.config.queue_policy {
                    QueuePolicy::DropNewest => {
                        self.dropped += 1;
                        return Err(ServerError::QueueFull);
                    }
                    QueuePolicy::DropOldest => {
                        while full(self) {
                            let Some(old) = self.queued.pop_front() else {
                                break;
                            };
                            self.queued_bytes -= old.message.queued_size();
                            self.dropped += 1;
                        }
                        if full(self) {
                            // Larger than the whole byte budget on its own.
                            return Err(ServerError::QueueFull);
                        }
                    }
                }
            }
            self.queued_bytes += size;
            self.queued.push_back(QueuedMessage { message, options });
            return Ok(Delivery::Queued);
        }
        match self.send_publish(now, message, &options, qos) {
            Ok(d) => Ok(d),
            // Identifiers exhausted (65,535 unacknowledged): keep it for later.
            Err(message) => {
                self.queued_bytes += message.queued_size();
                self.queued.push_back(QueuedMessage { message, options });
                Ok(Delivery::Queued)
            }
        }
    }

    /// Sends waiting resends, then queued messages, while there is quota (v5 [MQTT-4.9.0-2]); expired ones are dropped.
    pub(super) fn drain_queue(&mut self, now: Instant) {
        if self.phase == ServerPhase::Connected {
            // Resends of a resumed session go first, as the client's Receive Maximum allows.
            let (version, max) = (self.version, self.peer_max_packet_size as usize);
            let resends = self
                .outbound
                .take_resends(|p| p.encoded_len(version).is_ok_and(|n| n <= max));
            for packet in resends.packets {
                self.send(packet);
            }
            // v5 [MQTT-3.1.2-25]: too large for this connection's client: discarded, and
            // behave as if it had been delivered.
            for packet_id in resends.too_large {
                if !self.config.report_deliveries {
                    continue;
                }
                self.emit(ServerEvent::Delivered {
                    packet_id,
                    reason: ReasonCode::PacketTooLarge,
                });
            }
        }
        while self.phase == ServerPhase::Connected && self.outbound.has_quota() {
            let Some(q) = self.queued.pop_front() else {
                break;
            };
            self.queued_bytes -= q.message.queued_size();
            if q.message.is_expired(now) {
                continue;
            }
            let qos = q.message.qos.min(q.options.qos);
            let QueuedMessage { message, options } = q;
            if let Err(message) = self.send_publish(now, message, &options, qos) {
                // Identifiers exhausted: keep it for later.
                self.queued_bytes += message.queued_size();
                self.queued.push_front(QueuedMessage { message, options });
                break;
            }
        }
    }

    /// Encodes `message` as a PUBLISH; gives it back when no packet identifier is free.
    // The message is handed back by value on the rare exhausted-identifiers path; boxing it
    // would cost an allocation on every delivery.
    #[allow(clippy::result_large_err)]
    fn send_publish(
        &mut self,
        now: Instant,
        message: Message,
        options: &DeliveryOptions,
        qos: QoS,
    ) -> Result<Delivery, Message> {
        let packet_id = if qos == QoS::AtMostOnce {
            PacketId::from(std::num::NonZeroU16::MIN)
        } else {
            match self.outbound.allocate_id(|_| false) {
                Some(id) => id,
                None => return Err(message),
            }
        };
        let retain = options.retain_flag(&message);
        let ids: &[std::num::NonZeroU32] = if self.version.is_v5() {
            &options.subscription_identifiers
        } else {
            &[]
        };
        let mut publish = message.into_publish(now, qos, packet_id, retain, ids);
        // v5 [MQTT-3.1.2-24], v5 [MQTT-3.1.2-25]: too large for the client: discard, behave as sent.
        let max = self.peer_max_packet_size as usize;
        let Some(len) = publish.encoded_len(self.version).ok().filter(|n| *n <= max) else {
            return Ok(Delivery::Discarded);
        };
        // An alias adds a 3-byte property (and perhaps a byte of remaining length); a reused
        // one may still be longer than a short topic. Use one only if the PUBLISH with the full
        // topic and an alias fits, else the client would never see the alias established.
        let mut full_topic = None;
        if let (true, Some(aliases)) = (
            self.version == ProtocolVersion::V5 && len + 4 <= max,
            self.outbound_aliases.as_mut(),
        ) {
            match aliases.assign(&publish.topic_name()) {
                AliasUse::None => {}
                AliasUse::Establish(a) => publish.properties.topic_alias = Some(a),
                AliasUse::Reuse(a) => {
                    publish.properties.topic_alias = Some(a);
                    full_topic = Some(publish.replace_topic(TopicName::empty()));
                }
            }
        }
        // Encoded in place (its size is already checked; PUBLISH carries no problem
        // information to strip), then kept for resending with its full topic and no alias.
        if self.phase != ServerPhase::Closed
            && publish
                .encode_header(self.version, &mut self.transmit)
                .is_ok()
        {
            self.put_payload(publish.payload(), || publish.payload_bytes());
        }
        if qos != QoS::AtMostOnce {
            publish.properties.topic_alias = None;
            if let Some(topic) = full_topic {
                publish.set_topic(topic);
            }
            self.outbound.insert(publish, options.shared_group.clone());
        }
        Ok(Delivery::Sent(
            (qos != QoS::AtMostOnce).then_some(packet_id),
        ))
    }
}
