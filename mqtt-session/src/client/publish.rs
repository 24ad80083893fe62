//! Client PUBLISH in both directions, acknowledgements, SUBACK and UNSUBACK.

use super::{ClientError, ClientEvent, ClientSession};
use crate::{alias::AliasUse, outbound::AckOutcome};
use bytes::Bytes;
use starling_codec::{
    Packet, PacketId, PubAck, PubComp, PubRec, PubRel, Publish, PublishProperties, QoS, QosPid,
    ReasonCode, SubAck, TopicName, UnsubAck,
};
use std::time::Instant;

/// An application message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRequest {
    /// Topic.
    pub topic: TopicName,
    /// Payload.
    pub payload: Bytes,
    /// QoS.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// MQTT 5 properties (response topic, correlation data, user properties, content type,
    /// message expiry, payload format). A topic alias is chosen by the session.
    pub properties: PublishProperties,
}

impl PublishRequest {
    /// A message without properties.
    pub fn new(topic: TopicName, payload: impl Into<Bytes>, qos: QoS) -> PublishRequest {
        PublishRequest {
            topic,
            payload: payload.into(),
            qos,
            retain: false,
            properties: PublishProperties::default(),
        }
    }
}

impl ClientSession {
    /// Publishes. QoS 1/2 get a packet id and finish with [`ClientEvent::Published`]; QoS 0
    /// returns `None`. Refused locally when the server's limits forbid it (quota, QoS, retain,
    /// size), so the caller can wait or report instead of breaking the protocol.
    pub fn publish(
        &mut self,
        _now: Instant,
        request: PublishRequest,
    ) -> Result<Option<PacketId>, ClientError> {
        self.require_connected()?;
        if request.qos > self.server_max_qos {
            return Err(ClientError::QosNotSupported);
        }
        if request.retain && !self.server_retain_available {
            return Err(ClientError::RetainNotSupported);
        }
        let mut properties = request.properties;
        properties.topic_alias = None;
        // v5 [MQTT-3.3.4-6]: never a subscription identifier from a client.
        properties.subscription_identifiers.clear();
        let packet_id = if request.qos == QoS::AtMostOnce {
            None
        } else {
            // v5 [MQTT-3.3.4-7], v5 [MQTT-4.9.0-2]: no more than the server's Receive Maximum.
            if !self.outbound.has_quota() {
                return Err(ClientError::QuotaExhausted);
            }
            Some(self.allocate_id()?)
        };
        let qos_pid = packet_id.map_or(QosPid::AtMostOnce, |id| QosPid::new(request.qos, id));
        let publish = Publish::new(request.topic, qos_pid, request.payload)
            .with_retain(request.retain)
            .with_properties(properties);
        let size = publish
            .encoded_len(self.config.version)
            .map_err(|_| ClientError::Invalid("cannot be encoded for this protocol version"))?;
        // v5 [MQTT-3.2.2-15]: nothing larger than the server's maximum.
        if size > self.server_max_packet_size as usize {
            return Err(ClientError::TooLarge);
        }
        // With an alias the PUBLISH grows by a property; use one only if that still fits
        // (the alias value does not change the size).
        let mut probe = publish.clone();
        probe.properties.topic_alias = Some(std::num::NonZeroU16::MIN);
        let alias_fits = probe
            .encoded_len(self.config.version)
            .is_ok_and(|n| n <= self.server_max_packet_size as usize);
        let mut wire = publish.clone();
        if self.config.version.is_v5() && alias_fits {
            // v5 [MQTT-3.2.2-17], v5 [MQTT-3.2.2-18]: aliases only up to the server's maximum.
            match self.outbound_aliases.assign(&publish.topic_name()) {
                AliasUse::None => {}
                AliasUse::Establish(a) => wire.properties.topic_alias = Some(a),
                AliasUse::Reuse(a) => {
                    wire.properties.topic_alias = Some(a);
                    wire.set_topic(TopicName::empty());
                }
            }
        }
        if packet_id.is_some() {
            self.outbound.insert(publish, None);
        }
        self.send(Packet::Publish(wire));
        Ok(packet_id)
    }

    pub(super) fn handle_publish(&mut self, _now: Instant, mut publish: Publish) {
        if self.config.version.is_v5() {
            match self
                .inbound_aliases
                .resolve(&publish.topic_name(), publish.properties.topic_alias)
            {
                Ok(topic) => publish.set_topic(topic),
                // v5 [MQTT-3.3.2-10]: only 1..=our maximum.
                Err(crate::alias::AliasError::OutOfRange) => {
                    self.violation(ReasonCode::TopicAliasInvalid, "topic alias above maximum");
                    return;
                }
                Err(crate::alias::AliasError::Unknown) => {
                    self.violation(ReasonCode::ProtocolError, "topic alias not established");
                    return;
                }
            }
        }
        match publish.qos_pid {
            QosPid::AtMostOnce => {}
            QosPid::AtLeastOnce(id) => {
                // v5 [MQTT-4.3.2-4]: PUBACK once we own the message.
                self.send_bare_ack(PubAck::encode_bare, id);
            }
            QosPid::ExactlyOnce(id) => {
                // v5 [MQTT-4.3.3-8]: PUBREC; [MQTT-4.3.3-10]: a duplicate before PUBREL only
                // gets PUBREC again and is not delivered twice.
                let first = self.inbound_qos2.insert(id.get());
                self.send_bare_ack(PubRec::encode_bare, id);
                if !first {
                    return;
                }
            }
        }
        self.events.push_back(ClientEvent::Message { publish });
    }

    pub(super) fn handle_pubrel(&mut self, id: PacketId) {
        // v5 [MQTT-4.3.3-11]; unknown id: 0x92 (v5 §3.7.2.1).
        if !self.inbound_qos2.remove(&id.get()) && self.config.version.is_v5() {
            let mut comp = PubComp::new(id);
            comp.reason_code = ReasonCode::PacketIdentifierNotFound;
            self.send(Packet::PubComp(comp));
        } else {
            self.send_bare_ack(PubComp::encode_bare, id);
        }
    }

    pub(super) fn ack_outcome(&mut self, outcome: AckOutcome) {
        match outcome {
            AckOutcome::Completed { packet_id, reason } => {
                self.events
                    .push_back(ClientEvent::Published { packet_id, reason });
                // Quota freed: resumed flows that did not fit the Receive Maximum go next.
                self.send_resends();
            }
            AckOutcome::SendPubRel(rel) => self.send_bare_ack(PubRel::encode_bare, rel.packet_id),
            AckOutcome::Unknown => {}
        }
    }

    /// Sends the resends of a resumed session that the server's Receive Maximum allows. One
    /// larger than the server's Maximum Packet Size on this connection cannot be sent
    /// (v5 [MQTT-3.2.2-15]): its flow ends with 0x95 Packet too large.
    pub(super) fn send_resends(&mut self) {
        let (version, max) = (self.config.version, self.server_max_packet_size as usize);
        let resends = self
            .outbound
            .take_resends(|p| p.encoded_len(version).is_ok_and(|n| n <= max));
        for packet in resends.packets {
            self.send(packet);
        }
        for packet_id in resends.too_large {
            self.events.push_back(ClientEvent::Published {
                packet_id,
                reason: ReasonCode::PacketTooLarge,
            });
        }
    }

    pub(super) fn handle_suback(&mut self, s: SubAck) {
        let Some(subs) = self.pending_subscribe.remove(&s.packet_id.get()) else {
            self.violation(
                ReasonCode::ProtocolError,
                "SUBACK for an unknown packet identifier",
            );
            return;
        };
        if subs.len() != s.reason_codes.len() {
            self.violation(ReasonCode::ProtocolError, "SUBACK reason count mismatch");
            return;
        }
        for (mut sub, rc) in subs.into_iter().zip(&s.reason_codes) {
            if let Some(granted) = QoS::from_u8(rc.as_u8()).filter(|_| !rc.is_error()) {
                sub.options.qos = granted;
                self.subscriptions
                    .insert(sub.filter.as_str().to_owned(), sub);
            }
        }
        self.events.push_back(ClientEvent::SubAck {
            packet_id: s.packet_id,
            reason_codes: s.reason_codes,
        });
    }

    pub(super) fn handle_unsuback(&mut self, u: UnsubAck) {
        let Some(filters) = self.pending_unsubscribe.remove(&u.packet_id.get()) else {
            self.violation(
                ReasonCode::ProtocolError,
                "UNSUBACK for an unknown packet identifier",
            );
            return;
        };
        for (i, f) in filters.iter().enumerate() {
            if u.reason_codes.get(i).is_none_or(|rc| !rc.is_error()) {
                self.subscriptions.remove(f.as_str());
            }
        }
        self.events.push_back(ClientEvent::UnsubAck {
            packet_id: u.packet_id,
            reason_codes: u.reason_codes,
        });
    }
}
