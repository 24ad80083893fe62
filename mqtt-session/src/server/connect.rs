//! CONNECT validation, enhanced authentication, accept/reject, DISCONNECT.

use super::{CloseReason, ServerError, ServerEvent, ServerPhase, ServerSession};
use crate::{
    alias::OutboundAliases, auth::AuthStep, outbound::Outbound, timer::Timer, SessionState,
};
use bytes::Bytes;
use starling_codec::{
    Auth, AuthProperties, ConnAck, Connect, ConnectProperties, Disconnect, DisconnectProperties,
    MqttStr, Packet, ProtocolVersion, QoS, ReasonCode, Will, MAX_PACKET_SIZE,
};
use std::time::Instant;

/// What a validated CONNECT asks for; the broker decides with it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectInfo {
    /// The protocol version.
    pub version: ProtocolVersion,
    /// The client identifier as sent (may be empty: the broker must assign one).
    pub client_id: MqttStr,
    /// Clean Start / Clean Session.
    pub clean_start: bool,
    /// Keep alive requested, in seconds.
    pub keep_alive: u16,
    /// User Name.
    pub username: Option<MqttStr>,
    /// Password.
    pub password: Option<Bytes>,
    /// The will, if any.
    pub will: Option<Will>,
    /// Session Expiry Interval in seconds (3.x: 0 for clean session, `u32::MAX` otherwise).
    pub session_expiry_interval: u32,
    /// All CONNECT properties (v5).
    pub properties: ConnectProperties,
    /// Data from a successful enhanced authentication, to be sent in the CONNACK.
    pub auth_data: Option<Bytes>,
}

/// The broker's acceptance of a CONNECT.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Accept {
    /// The client identifier the broker assigned (required when the client sent an empty one;
    /// sent in the CONNACK for MQTT 5, v5 [MQTT-3.2.2-16]).
    pub assigned_client_id: Option<MqttStr>,
    /// The existing session to resume (ignored when Clean Start is set).
    pub resume: Option<SessionState>,
    /// Response Information for a client that requested it (v5).
    pub response_information: Option<MqttStr>,
    /// Reason String for the CONNACK (v5); left out if the client asked for no problem
    /// information or it would exceed the client's Maximum Packet Size.
    pub reason_string: Option<MqttStr>,
    /// User Properties for the CONNACK (v5); left out like the reason string.
    pub user_properties: starling_codec::UserProperties,
}

impl Accept {
    /// An acceptance with nothing to resume.
    pub fn new() -> Accept {
        Accept::default()
    }

    /// Resumes `state`.
    pub fn resume(mut self, state: SessionState) -> Accept {
        self.resume = Some(state);
        self
    }

    /// Assigns a client identifier.
    pub fn assign_client_id(mut self, id: MqttStr) -> Accept {
        self.assigned_client_id = Some(id);
        self
    }
}

impl ServerSession {
    pub(super) fn handle_connect(&mut self, connect: Connect) {
        let version = connect.protocol;
        self.version = version;
        let session_expiry_interval = if version.is_v5() {
            connect.properties.session_expiry_interval.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            u32::MAX
        };
        let mut info = ConnectInfo {
            version,
            client_id: connect.client_id,
            clean_start: connect.clean_start,
            keep_alive: connect.keep_alive,
            username: connect.username,
            password: connect.password,
            will: connect.will,
            session_expiry_interval,
            properties: connect.properties,
            auth_data: None,
        };
        if let Some(method) = &info.properties.authentication_method {
            self.rare_mut().auth_method = Some(method.clone());
        }
        if let Some(refusal) = self.refusal(&info) {
            self.info = Some(Box::new(info));
            self.refuse(refusal);
            return;
        }
        self.peer_max_packet_size = info
            .properties
            .maximum_packet_size
            .map_or(MAX_PACKET_SIZE, |m| m.get());
        self.request_problem_information =
            info.properties.request_problem_information.unwrap_or(true);
        if let Some(method) = info.properties.authentication_method.clone() {
            let auth = self.auth_mut();
            let Some(auth) = auth.filter(|a| a.name() == method.as_str()) else {
                // v5 [MQTT-4.12.0-1]: unsupported method: 0x8C and close.
                self.info = Some(Box::new(info));
                self.refuse(ReasonCode::BadAuthenticationMethod);
                return;
            };
            let step = auth.start(
                &info.client_id,
                info.properties.authentication_data.as_ref(),
            );
            self.info = Some(Box::new(info));
            self.apply_auth_step(step, false);
            return;
        }
        info.auth_data = None;
        self.info = Some(Box::new(info.clone()));
        self.phase = ServerPhase::AwaitingAccept;
        self.emit(ServerEvent::Connect(Box::new(info)));
    }

    /// Checks the CONNECT against the rules and this server's capabilities.
    fn refusal(&self, info: &ConnectInfo) -> Option<ReasonCode> {
        let id = info.client_id.as_str();
        match info.version {
            // MQTT 3.1: 1 to 23 characters.
            ProtocolVersion::V3_1 if id.is_empty() || id.len() > 23 => {
                return Some(ReasonCode::ClientIdentifierNotValid)
            }
            // v3.1.1 [MQTT-3.1.3-8]: an empty id requires Clean Session 1, else return code 0x02.
            ProtocolVersion::V3_1_1 if id.is_empty() && !info.clean_start => {
                return Some(ReasonCode::ClientIdentifierNotValid)
            }
            _ => {}
        }
        if let Some(will) = &info.will {
            // v5 [MQTT-3.2.2-12]: a will QoS above the server's maximum is refused with 0x9B.
            if will.qos > self.config.maximum_qos {
                return Some(ReasonCode::QoSNotSupported);
            }
            // v5 [MQTT-3.2.2-13]: a retained will without retain support is refused with 0x9A.
            if will.retain && !self.config.retain_available {
                return Some(ReasonCode::RetainNotSupported);
            }
        }
        let ka = info.keep_alive;
        if !info.version.is_v5()
            && (ka > self.config.max_keep_alive
                || (ka == 0 && self.config.max_keep_alive < u16::MAX))
        {
            // 3.x clients cannot be told another keep alive; Mosquitto refuses them the same way.
            return Some(ReasonCode::ClientIdentifierNotValid);
        }
        None
    }

    /// Refuses the CONNECT with `reason` and closes (v5 [MQTT-3.2.2-7]).
    fn refuse(&mut self, reason: ReasonCode) {
        let mut ack = ConnAck::new(reason);
        if !self.version.is_v5() && reason.to_v3_connack_return_code().is_none() {
            ack.reason_code = ReasonCode::ServerUnavailable;
        }
        // v5 [MQTT-3.2.2-6]: session present is 0 on a refusal (ConnAck::new sets it so).
        self.send(Packet::ConnAck(Box::new(ack)));
        self.close_silently(CloseReason::Rejected(reason));
    }

    /// Applies an [`AuthStep`] during CONNECT (`reauth` false) or re-authentication.
    fn apply_auth_step(&mut self, step: AuthStep, reauth: bool) {
        let method = self.auth_method();
        match step {
            AuthStep::Continue(data) => {
                if !reauth {
                    self.phase = ServerPhase::Authenticating;
                }
                // v5 [MQTT-4.12.0-2], v5 [MQTT-4.12.0-5]: AUTH 0x18 carrying the same method.
                self.send(Packet::Auth(Auth {
                    reason_code: ReasonCode::ContinueAuthentication,
                    properties: auth_properties(method, data),
                }));
            }
            AuthStep::Success(data) if reauth => {
                self.send(Packet::Auth(Auth {
                    reason_code: ReasonCode::Success,
                    properties: auth_properties(method, data),
                }));
                self.emit(ServerEvent::Reauthenticated);
            }
            AuthStep::Success(data) => {
                let Some(info) = self.info.as_mut() else {
                    return;
                };
                info.auth_data = data;
                let info = info.clone();
                self.phase = ServerPhase::AwaitingAccept;
                self.emit(ServerEvent::Connect(info));
            }
            AuthStep::Failure(reason) if reauth => {
                // v5 [MQTT-4.12.1-2]: a failed re-authentication closes the connection.
                self.violation(failure_code(reason), "re-authentication failed");
            }
            AuthStep::Failure(reason) => {
                // v5 [MQTT-4.12.0-4]: CONNACK with a code of 0x80 or above, then close.
                self.refuse(failure_code(reason));
            }
        }
    }

    pub(super) fn handle_auth(&mut self, auth: Auth) {
        let expected = self.auth_method();
        // v5 [MQTT-4.12.0-7]: no AUTH unless CONNECT named a method; [MQTT-4.12.0-5]: same method.
        let Some(expected) = expected else {
            self.violation(
                ReasonCode::ProtocolError,
                "AUTH without an authentication method",
            );
            return;
        };
        if auth.properties.authentication_method.as_ref() != Some(&expected) {
            self.violation(
                ReasonCode::ProtocolError,
                "AUTH with a different authentication method",
            );
            return;
        }
        let data = auth.properties.authentication_data.as_ref();
        let (step, reauth) = match (self.phase, auth.reason_code) {
            (ServerPhase::Authenticating, ReasonCode::ContinueAuthentication) => {
                let Some(m) = self.auth_mut() else {
                    return;
                };
                (m.step(data), false)
            }
            // v5 [MQTT-4.12.1-1]: re-authentication after CONNACK starts with 0x19.
            (ServerPhase::Connected, ReasonCode::ReAuthenticate) => {
                let client_id = self.client_id().unwrap_or_default().to_owned();
                let Some(m) = self.auth_mut() else {
                    return;
                };
                (m.start(&client_id, data), true)
            }
            (ServerPhase::Connected, ReasonCode::ContinueAuthentication) => {
                let Some(m) = self.auth_mut() else {
                    return;
                };
                (m.step(data), true)
            }
            _ => {
                self.violation(ReasonCode::ProtocolError, "unexpected AUTH");
                return;
            }
        };
        self.apply_auth_step(step, reauth);
    }

    /// Accepts the CONNECT: sends CONNACK success, resumes the session state if any, and
    /// resends what was unacknowledged.
    pub fn accept(&mut self, now: Instant, accept: Accept) -> Result<(), ServerError> {
        if self.phase != ServerPhase::AwaitingAccept {
            return Err(ServerError::WrongPhase(self.phase));
        }
        let Some(info) = self.info.as_mut() else {
            return Err(ServerError::WrongPhase(self.phase));
        };
        let assigned = if info.client_id.is_empty() {
            let id = accept
                .assigned_client_id
                .ok_or(ServerError::ClientIdRequired)?;
            info.client_id = id.clone();
            Some(id)
        } else {
            None
        };
        // Accepted: the CONNECT's details are not kept beyond what the session needs.
        let Some(info) = self.info.take() else {
            return Err(ServerError::WrongPhase(self.phase));
        };
        let info = *info;
        let config = &self.config;
        let mut ack = ConnAck::new(ReasonCode::Success);
        // v5 [MQTT-3.2.2-2]: Clean Start 1 → Session Present 0; [MQTT-3.2.2-3]: otherwise 1 when
        // a session is resumed.
        let resume = if info.clean_start {
            None
        } else {
            accept.resume
        };
        ack.session_present = resume.is_some();
        // Keep alive: v5 [MQTT-3.2.2-21], v5 [MQTT-3.2.2-22].
        self.keep_alive = info.keep_alive;
        if info.version.is_v5() {
            let p = &mut ack.properties;
            if info.keep_alive == 0 && config.max_keep_alive < u16::MAX
                || info.keep_alive > config.max_keep_alive
            {
                self.keep_alive = config.max_keep_alive;
                p.server_keep_alive = Some(config.max_keep_alive);
            }
            p.assigned_client_identifier = assigned;
            if config.receive_maximum < u16::MAX {
                p.receive_maximum = std::num::NonZeroU16::new(config.receive_maximum);
            }
            if config.maximum_qos < QoS::ExactlyOnce {
                p.maximum_qos = Some(config.maximum_qos);
            }
            if !config.retain_available {
                p.retain_available = Some(false);
            }
            if config.max_packet_size < MAX_PACKET_SIZE {
                p.maximum_packet_size = std::num::NonZeroU32::new(config.max_packet_size);
            }
            if config.topic_alias_maximum > 0 {
                p.topic_alias_maximum = Some(config.topic_alias_maximum);
            }
            if !config.wildcard_subscription_available {
                p.wildcard_subscription_available = Some(false);
            }
            if !config.subscription_identifiers_available {
                p.subscription_identifiers_available = Some(false);
            }
            if !config.shared_subscription_available {
                p.shared_subscription_available = Some(false);
            }
            // v5 [MQTT-3.1.2-28]: Response Information only when requested.
            p.reason_string = accept.reason_string;
            p.user_properties = accept.user_properties;
            if info.properties.request_response_information == Some(true) {
                p.response_information = accept.response_information;
            }
            // v5 [MQTT-4.12.0-5], v5 [MQTT-4.12.0-6]: the method only when the client used one.
            p.authentication_method = info.properties.authentication_method.clone();
            p.authentication_data = info.auth_data.clone();
        }
        self.session_expiry_interval = info.session_expiry_interval;
        self.will = info.will.map(Box::new);
        let receive_max = info
            .properties
            .receive_maximum
            .map_or(u16::MAX, |r| r.get())
            .min(self.config.max_inflight);
        self.outbound.set_receive_maximum(receive_max);
        self.outbound_aliases = info
            .properties
            .topic_alias_maximum
            .filter(|&max| max > 0)
            .map(|max| Box::new(OutboundAliases::new(max)));
        self.client_id = info.client_id;
        self.phase = ServerPhase::Connected;
        self.timers.stop(Timer::Connect);
        self.touch(now);
        self.send(Packet::ConnAck(Box::new(ack)));
        if let Some(state) = resume {
            self.restore(state, receive_max);
            // v5 [MQTT-4.4.0-1], v3.1.1 [MQTT-4.4.0-1]: resend unacknowledged PUBLISH (DUP)
            // and PUBREL with their original ids (`drain_queue` sends them first).
            self.outbound.queue_resends();
        }
        self.drain_queue(now);
        let deferred = self
            .rare
            .as_mut()
            .map(|r| std::mem::take(&mut r.deferred))
            .unwrap_or_default();
        for packet in deferred {
            self.handle_packet(now, packet);
        }
        Ok(())
    }

    fn restore(&mut self, state: SessionState, receive_max: u16) {
        self.state_subscriptions = state.subscriptions;
        let mut outbound = Outbound::new(state.next_packet_id);
        outbound.restore(state.inflight);
        outbound.set_receive_maximum(receive_max);
        self.outbound = outbound;
        self.inbound_qos2 = state.inbound_qos2.into_iter().collect();
        if !self.inbound_qos2.is_empty() {
            self.rare_mut().resumed_qos2 = self.inbound_qos2.clone();
        }
        self.queued_bytes = state.queued.iter().map(|q| q.message.queued_size()).sum();
        self.queued = state.queued;
    }

    /// Refuses the CONNECT with `reason` (0x80 or above) and closes.
    pub fn reject(&mut self, reason: ReasonCode) -> Result<(), ServerError> {
        if self.phase != ServerPhase::AwaitingAccept {
            return Err(ServerError::WrongPhase(self.phase));
        }
        let reason =
            if reason.is_error() && reason.is_valid_for(starling_codec::PacketType::ConnAck) {
                reason
            } else {
                ReasonCode::UnspecifiedError
            };
        self.refuse(reason);
        Ok(())
    }

    /// Closes the connection from the server side with `reason` (v5 DISCONNECT; 3.x just
    /// closes). The will is published (the broker may override, e.g. on takeover).
    pub fn disconnect(&mut self, reason: ReasonCode) {
        self.disconnect_with(reason, DisconnectProperties::default());
    }

    /// [`disconnect`](Self::disconnect) with MQTT 5 properties (reason string, user
    /// properties, server reference). A Session Expiry Interval is never sent by a server
    /// (v5 [MQTT-3.14.2-2]); reason string and user properties are left out when they would
    /// make the packet exceed the client's Maximum Packet Size.
    pub fn disconnect_with(&mut self, reason: ReasonCode, mut properties: DisconnectProperties) {
        properties.session_expiry_interval = None;
        if self.phase == ServerPhase::Closed {
            return;
        }
        let reason = if reason.is_valid_for(starling_codec::PacketType::Disconnect) {
            reason
        } else {
            ReasonCode::UnspecifiedError
        };
        self.send_disconnect_with(reason, properties);
        self.close(CloseReason::ServerDisconnect(reason), true);
    }

    pub(super) fn handle_disconnect(&mut self, d: Disconnect) {
        if let Some(sei) = d.properties.session_expiry_interval {
            // v5 §3.14.2.2.2: a non-zero interval after a CONNECT with 0 is a Protocol Error.
            if self.session_expiry_interval == 0 && sei != 0 {
                self.violation(
                    ReasonCode::ProtocolError,
                    "session expiry set on DISCONNECT after 0 on CONNECT",
                );
                return;
            }
            self.session_expiry_interval = sei;
        }
        // v5 [MQTT-3.14.4-3], v3.1.1 [MQTT-3.14.4-3]: normal disconnection discards the will;
        // any other reason (0x04 included) publishes it.
        let publish_will = d.reason_code != ReasonCode::Success;
        if !publish_will {
            self.will = None;
        }
        self.close(CloseReason::ClientDisconnect(d.reason_code), publish_will);
    }
}

fn auth_properties(method: Option<MqttStr>, data: Option<Bytes>) -> AuthProperties {
    let mut p = AuthProperties::default();
    p.authentication_method = method;
    p.authentication_data = data;
    p
}

fn failure_code(reason: ReasonCode) -> ReasonCode {
    if reason.is_error() {
        reason
    } else {
        ReasonCode::NotAuthorized
    }
}
