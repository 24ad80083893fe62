//! What the client sends after CONNACK: PUBLISH and its QoS flows, SUBSCRIBE, UNSUBSCRIBE.

use super::{ServerError, ServerEvent, ServerSession};
use crate::{alias::AliasError, outbound::AckOutcome, Message, Subscription};
use starling_codec::{
    AckProperties, Packet, PacketId, PacketType, PubAck, PubComp, PubRec, PubRel, Publish, QoS,
    ReasonCode, SubAck, Subscribe, UnsubAck, Unsubscribe,
};
use std::time::Instant;

impl ServerSession {
    pub(super) fn handle_publish(&mut self, now: Instant, mut publish: Publish) {
        let qos = publish.qos_pid.qos();
        // v5 §3.2.2.3.4: a QoS above the announced maximum gets 0x9B.
        if qos > self.config.maximum_qos {
            self.violation(ReasonCode::QoSNotSupported, "PUBLISH above maximum QoS");
            return;
        }
        // v5 §3.2.2.3.5: RETAIN when retain is not available gets 0x9A.
        if publish.retain && !self.config.retain_available {
            self.violation(
                ReasonCode::RetainNotSupported,
                "retained PUBLISH while retain unavailable",
            );
            return;
        }
        // Only a PUBLISH with an alias needs resolving (an empty topic without one is refused
        // by the decoder): no clone of every topic.
        if let (true, Some(alias)) = (self.version.is_v5(), publish.properties.topic_alias) {
            let max = self.config.topic_alias_maximum;
            match self
                .inbound_aliases
                .get_or_insert_with(|| Box::new(crate::alias::InboundAliases::new(max)))
                .resolve(&publish.topic_name(), Some(alias))
            {
                Ok(topic) => publish.set_topic(topic),
                // v5 [MQTT-3.2.2-17], v5 [MQTT-3.3.2-12]: only 1..=maximum; unknown alias: 0x94 too.
                Err(AliasError::OutOfRange) => {
                    self.violation(ReasonCode::TopicAliasInvalid, "topic alias above maximum");
                    return;
                }
                Err(AliasError::Unknown) => {
                    self.violation(ReasonCode::ProtocolError, "topic alias not established");
                    return;
                }
            }
        }
        let packet_id = publish.qos_pid.packet_id();
        if let Some(id) = packet_id {
            if self.inbound_pending.contains_key(&id.get()) {
                // Already handed to the broker and not yet acknowledged: its answer covers this
                // copy too.
                return;
            }
            if qos == QoS::ExactlyOnce && self.inbound_qos2.contains(&id.get()) {
                // v5 [MQTT-4.3.3-10], v3.1.1 [MQTT-4.3.3-2]: until PUBREL, answer a duplicate
                // with PUBREC and do not deliver it again.
                self.forget_resumed_qos2(id);
                self.send_bare_ack(PubRec::encode_bare, id);
                return;
            }
            // v5 [MQTT-3.3.4-9] from the client side: more than Receive Maximum unacknowledged
            // QoS > 0 PUBLISH is 0x93.
            let unacked =
                self.inbound_pending.len() + self.inbound_qos2.len() - self.resumed_qos2_len();
            if self.version.is_v5() && unacked >= usize::from(self.config.receive_maximum) {
                self.violation(
                    ReasonCode::ReceiveMaximumExceeded,
                    "receive maximum exceeded",
                );
                return;
            }
            self.inbound_pending.insert(id.get(), qos);
        }
        let message = Message::from_publish(now, publish);
        self.events
            .push_back(ServerEvent::Publish { message, packet_id });
    }

    /// Acknowledges an inbound QoS 1/2 message the broker has taken ownership of (v5
    /// [MQTT-4.3.2-4], [MQTT-4.3.3-8]). `reason` below 0x80 accepts; 0x80 and above refuses
    /// (MQTT 5; a 3.x client gets a plain acknowledgement, as it cannot be told).
    pub fn ack_publish(
        &mut self,
        packet_id: PacketId,
        reason: ReasonCode,
    ) -> Result<(), ServerError> {
        self.ack_publish_with(packet_id, reason, AckProperties::default())
    }

    /// [`ack_publish`](Self::ack_publish) with MQTT 5 properties (a reason string, user
    /// properties). They are left out when the client asked for no problem information or
    /// when they would make the packet exceed the client's Maximum Packet Size.
    pub fn ack_publish_with(
        &mut self,
        packet_id: PacketId,
        reason: ReasonCode,
        properties: AckProperties,
    ) -> Result<(), ServerError> {
        let Some(qos) = self.inbound_pending.remove(&packet_id.get()) else {
            return Err(ServerError::UnknownPacketId);
        };
        let reason = if self.version.is_v5() && reason.is_valid_for(PacketType::PubAck) {
            reason
        } else {
            ReasonCode::Success
        };
        match qos {
            QoS::AtLeastOnce if reason == ReasonCode::Success && properties.is_empty() => {
                self.send_bare_ack(PubAck::encode_bare, packet_id);
            }
            QoS::AtLeastOnce => {
                let mut ack = PubAck::new(packet_id);
                ack.reason_code = reason;
                ack.properties = properties;
                self.send(Packet::PubAck(ack));
            }
            _ => {
                // v5 [MQTT-4.3.3-9]: after a refusal the id is free for a new message.
                if !reason.is_error() {
                    self.inbound_qos2.insert(packet_id.get());
                }
                if reason == ReasonCode::Success && properties.is_empty() {
                    self.send_bare_ack(PubRec::encode_bare, packet_id);
                    return Ok(());
                }
                let mut rec = PubRec::new(packet_id);
                rec.reason_code = reason;
                rec.properties = properties;
                self.send(Packet::PubRec(rec));
            }
        }
        Ok(())
    }

    fn forget_resumed_qos2(&mut self, id: PacketId) {
        if let Some(rare) = self.rare.as_mut() {
            rare.resumed_qos2.remove(&id.get());
        }
    }

    fn resumed_qos2_len(&self) -> usize {
        self.rare.as_ref().map_or(0, |r| r.resumed_qos2.len())
    }

    pub(super) fn handle_pubrel(&mut self, rel: PubRel) {
        let id = rel.packet_id;
        // v5 [MQTT-4.3.3-11]: PUBCOMP with the same id; v5 §3.7.2.1: 0x92 when unknown.
        self.forget_resumed_qos2(id);
        if !self.inbound_qos2.remove(&id.get()) && self.version.is_v5() {
            let mut comp = PubComp::new(id);
            comp.reason_code = ReasonCode::PacketIdentifierNotFound;
            self.send(Packet::PubComp(comp));
        } else {
            self.send_bare_ack(PubComp::encode_bare, id);
        }
    }

    pub(super) fn handle_ack_result(&mut self, now: Instant, outcome: AckOutcome) {
        match outcome {
            AckOutcome::Completed { packet_id, reason } => {
                if self.config.report_deliveries {
                    self.events
                        .push_back(ServerEvent::Delivered { packet_id, reason });
                }
                // Quota freed (v5 §4.9): send what waits.
                self.drain_queue(now);
            }
            AckOutcome::SendPubRel(rel) => {
                self.send_bare_ack(PubRel::encode_bare, rel.packet_id);
            }
            // An acknowledgement for nothing we sent: ignore it, as Mosquitto does.
            AckOutcome::Unknown => {}
        }
    }

    pub(super) fn handle_subscribe(&mut self, s: Subscribe) {
        let identifier = s.properties.subscription_identifier;
        if identifier.is_some() && !self.config.subscription_identifiers_available {
            // v5 §3.2.2.3.12: 0xA1 when identifiers were announced unavailable.
            self.violation(
                ReasonCode::SubscriptionIdentifiersNotSupported,
                "subscription identifiers unavailable",
            );
            return;
        }
        let subscriptions: Vec<Subscription> = s
            .filters
            .into_iter()
            .map(|(filter, options)| Subscription {
                filter,
                options,
                identifier,
            })
            .collect();
        self.rare_mut()
            .pending_subscribe
            .insert(s.packet_id.get(), subscriptions.clone());
        self.emit(ServerEvent::Subscribe {
            packet_id: s.packet_id,
            subscriptions,
            user_properties: s.properties.user_properties,
        });
    }

    /// Answers a SUBSCRIBE with one reason code per filter, in order (v5 [MQTT-3.8.4-2]..). A
    /// granted QoS above this server's maximum is lowered to it; filters the server announced
    /// it cannot serve (shared, wildcard) are refused with 0x9E / 0xA2 whatever the broker said.
    /// Granted subscriptions are recorded in the session state.
    pub fn sub_ack(
        &mut self,
        packet_id: PacketId,
        reason_codes: Vec<ReasonCode>,
    ) -> Result<(), ServerError> {
        self.sub_ack_with(packet_id, reason_codes, AckProperties::default())
    }

    /// [`sub_ack`](Self::sub_ack) with MQTT 5 properties, left out as in
    /// [`ack_publish_with`](Self::ack_publish_with).
    pub fn sub_ack_with(
        &mut self,
        packet_id: PacketId,
        reason_codes: Vec<ReasonCode>,
        properties: AckProperties,
    ) -> Result<(), ServerError> {
        let pending = self.rare.as_mut().map(|r| &mut r.pending_subscribe);
        let Some(pending) = pending.filter(|p| p.contains_key(&packet_id.get())) else {
            return Err(ServerError::UnknownPacketId);
        };
        if pending.get(&packet_id.get()).map(Vec::len) != Some(reason_codes.len()) {
            return Err(ServerError::ReasonCountMismatch);
        }
        let requests = pending.remove(&packet_id.get()).unwrap_or_default();
        let mut codes = Vec::with_capacity(reason_codes.len());
        for (mut sub, rc) in requests.into_iter().zip(reason_codes) {
            let rc = if sub.filter.is_shared() && !self.config.shared_subscription_available {
                ReasonCode::SharedSubscriptionsNotSupported
            } else if sub.filter.has_wildcards() && !self.config.wildcard_subscription_available {
                ReasonCode::WildcardSubscriptionsNotSupported
            } else {
                match rc {
                    ReasonCode::Success | ReasonCode::GrantedQoS1 | ReasonCode::GrantedQoS2 => {
                        let granted = QoS::from_u8(rc.as_u8())
                            .unwrap_or(QoS::AtMostOnce)
                            .min(self.config.maximum_qos)
                            .min(sub.options.qos);
                        sub.options.qos = granted;
                        self.state_subscriptions
                            .insert(sub.filter.as_str().to_owned(), sub);
                        granted_code(granted)
                    }
                    rc if rc.is_valid_for(PacketType::SubAck) => rc,
                    _ => ReasonCode::UnspecifiedError,
                }
            };
            codes.push(rc);
        }
        let ack = SubAck {
            packet_id,
            reason_codes: codes,
            properties,
        };
        self.send(Packet::SubAck(ack));
        Ok(())
    }

    pub(super) fn handle_unsubscribe(&mut self, u: Unsubscribe) {
        self.rare_mut()
            .pending_unsubscribe
            .insert(u.packet_id.get(), u.filters.clone());
        self.emit(ServerEvent::Unsubscribe {
            packet_id: u.packet_id,
            filters: u.filters,
        });
    }

    /// Answers an UNSUBSCRIBE (v5 [MQTT-3.10.4-4], v3.1.1 [MQTT-3.10.4-4]). With `None` the
    /// session removes the subscriptions itself and reports 0x00 / 0x11 per filter.
    pub fn unsub_ack(
        &mut self,
        packet_id: PacketId,
        reason_codes: Option<Vec<ReasonCode>>,
    ) -> Result<(), ServerError> {
        self.unsub_ack_with(packet_id, reason_codes, AckProperties::default())
    }

    /// [`unsub_ack`](Self::unsub_ack) with MQTT 5 properties, left out as in
    /// [`ack_publish_with`](Self::ack_publish_with).
    pub fn unsub_ack_with(
        &mut self,
        packet_id: PacketId,
        reason_codes: Option<Vec<ReasonCode>>,
        properties: AckProperties,
    ) -> Result<(), ServerError> {
        let pending = self.rare.as_mut().map(|r| &mut r.pending_unsubscribe);
        let Some(pending) = pending.filter(|p| p.contains_key(&packet_id.get())) else {
            return Err(ServerError::UnknownPacketId);
        };
        let count = pending.get(&packet_id.get()).map_or(0, Vec::len);
        if reason_codes.as_ref().is_some_and(|c| c.len() != count) {
            return Err(ServerError::ReasonCountMismatch);
        }
        let filters = pending.remove(&packet_id.get()).unwrap_or_default();
        let mut codes = Vec::with_capacity(filters.len());
        for (i, filter) in filters.iter().enumerate() {
            // A code UNSUBACK cannot carry would make the packet unencodable and leave the
            // client waiting: it becomes 0x80, as in `sub_ack`.
            let given = reason_codes.as_ref().and_then(|c| c.get(i)).map(|&rc| {
                if rc.is_valid_for(PacketType::UnsubAck) {
                    rc
                } else {
                    ReasonCode::UnspecifiedError
                }
            });
            let removed = if given.is_none_or(|rc| !rc.is_error()) {
                self.state_subscriptions.remove(filter.as_str()).is_some()
            } else {
                false
            };
            codes.push(given.unwrap_or(if removed {
                ReasonCode::Success
            } else {
                ReasonCode::NoSubscriptionExisted
            }));
        }
        let codes = if self.version.is_v5() {
            codes
        } else {
            Vec::new()
        };
        self.send(Packet::UnsubAck(UnsubAck {
            packet_id,
            reason_codes: codes,
            properties,
        }));
        Ok(())
    }
}

fn granted_code(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::Success,
        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
    }
}
