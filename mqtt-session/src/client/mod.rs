//! The client side of an MQTT connection.

mod publish;

use crate::{
    alias::{InboundAliases, OutboundAliases},
    outbound::Outbound,
    timer::{Timer, TimerTable},
    transmit, SessionState, Subscription,
};
use bytes::{Bytes, BytesMut};
use starling_codec::{
    Auth, AuthProperties, ConnAckProperties, Connect, ConnectProperties, Decoder, Disconnect,
    DisconnectProperties, MqttStr, Packet, PacketId, PacketType, ProtocolVersion, Publish, QoS,
    ReasonCode, Subscribe, SubscribeProperties, SubscriptionOptions, TopicFilter, Unsubscribe,
    UnsubscribeProperties, Will, MAX_PACKET_SIZE,
};
use std::{
    collections::{HashMap, HashSet, VecDeque},
    num::NonZeroU32,
    time::{Duration, Instant},
};

pub use publish::PublishRequest;

/// Everything a client puts in its CONNECT, plus local policy.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Protocol version to speak.
    pub version: ProtocolVersion,
    /// Client identifier (empty: let the server assign one).
    pub client_id: MqttStr,
    /// Clean Start / Clean Session.
    pub clean_start: bool,
    /// Keep alive in seconds (0: off).
    pub keep_alive: u16,
    /// User Name.
    pub username: Option<MqttStr>,
    /// Password.
    pub password: Option<Bytes>,
    /// Will message.
    pub will: Option<Will>,
    /// CONNECT properties (v5): session expiry, receive maximum, maximum packet size, topic
    /// alias maximum, request response/problem information, user properties, authentication.
    pub properties: ConnectProperties,
    /// How long to wait for PINGRESP (or CONNACK) before giving up on the connection.
    pub response_timeout: Duration,
    /// Assign topic aliases to outgoing PUBLISH when the server allows them.
    pub use_topic_aliases: bool,
}

impl ClientConfig {
    /// Defaults for `version` and `client_id`: clean start, keep alive 60 s, 30 s response
    /// timeout, no will, no credentials.
    pub fn new(version: ProtocolVersion, client_id: MqttStr) -> ClientConfig {
        ClientConfig {
            version,
            client_id,
            clean_start: true,
            keep_alive: 60,
            username: None,
            password: None,
            will: None,
            properties: ConnectProperties::default(),
            response_timeout: Duration::from_secs(30),
            use_topic_aliases: true,
        }
    }
}

/// Where the client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientPhase {
    /// CONNECT sent, waiting for CONNACK (or AUTH).
    Connecting,
    /// CONNACK success received.
    Connected,
    /// Closed: flush `poll_transmit`, then close the transport.
    Closed,
}

/// Why the client's connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientCloseReason {
    /// The server refused the CONNECT with this code.
    Refused(ReasonCode),
    /// The server sent DISCONNECT.
    ServerDisconnect(Box<Disconnect>),
    /// We sent DISCONNECT with this code.
    LocalDisconnect(ReasonCode),
    /// The server broke a rule; we sent (v5) DISCONNECT with this code.
    ProtocolViolation(ReasonCode, &'static str),
    /// No PINGRESP (or CONNACK) within the response timeout.
    Timeout,
    /// The transport closed.
    TransportClosed,
}

/// Something the application (or the async client) must know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// CONNACK success.
    Connected {
        /// Whether the server resumed the session.
        session_present: bool,
        /// CONNACK properties (assigned client id, server limits…).
        properties: Box<ConnAckProperties>,
    },
    /// The server has no session although we had state: it was discarded (v5 [MQTT-3.2.2-5]).
    /// These messages were never acknowledged; republish them if they matter. Subscriptions
    /// must be made again.
    SessionLost {
        /// Unacknowledged outbound messages that were dropped.
        unacknowledged: Vec<Publish>,
        /// The subscriptions the old session had.
        subscriptions: Vec<Subscription>,
    },
    /// An application message (topic alias resolved). QoS 1/2 messages are acknowledged when
    /// this event is produced (QoS 2 exactly once: duplicates are not reported).
    Message {
        /// The PUBLISH as received.
        publish: Publish,
    },
    /// An outbound QoS 1/2 message finished (PUBACK, PUBCOMP, or an error PUBREC).
    Published {
        /// Its packet id.
        packet_id: PacketId,
        /// The reason code.
        reason: ReasonCode,
    },
    /// SUBACK.
    SubAck {
        /// The SUBSCRIBE's id.
        packet_id: PacketId,
        /// Per filter.
        reason_codes: Vec<ReasonCode>,
    },
    /// UNSUBACK (3.x: empty reason codes).
    UnsubAck {
        /// The UNSUBSCRIBE's id.
        packet_id: PacketId,
        /// Per filter (v5).
        reason_codes: Vec<ReasonCode>,
    },
    /// The server sent AUTH (enhanced authentication): answer with
    /// [`ClientSession::auth`].
    AuthChallenge {
        /// AUTH reason code (0x18, or 0x00 after re-authentication).
        reason: ReasonCode,
        /// Authentication Data.
        data: Option<Bytes>,
    },
    /// The connection closed.
    Closed {
        /// Why.
        reason: ClientCloseReason,
    },
}

/// Errors of client commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Not connected.
    #[error("not connected")]
    NotConnected,
    /// The server's Receive Maximum is reached; wait for a `Published` event.
    #[error("send quota exhausted (server receive maximum)")]
    QuotaExhausted,
    /// All packet identifiers are in use.
    #[error("packet identifiers exhausted")]
    PacketIdsExhausted,
    /// The packet is larger than the server's Maximum Packet Size.
    #[error("packet larger than the server's maximum packet size")]
    TooLarge,
    /// QoS above the server's Maximum QoS (v5 [MQTT-3.2.2-11]).
    #[error("QoS not supported by the server")]
    QosNotSupported,
    /// RETAIN while the server has no retain support (v5 [MQTT-3.2.2-14]).
    #[error("retain not supported by the server")]
    RetainNotSupported,
    /// The request cannot be encoded (e.g. MQTT 5 data on a 3.x connection, empty filter list).
    #[error("invalid request: {0}")]
    Invalid(&'static str),
}

/// The client side of an MQTT connection, sans I/O.
///
/// # Driving contract
///
/// Same four groups as [`ServerSession`](crate::ServerSession): getters; inputs
/// [`handle_bytes`](Self::handle_bytes) / [`handle_packet`](Self::handle_packet) /
/// [`handle_timeout`](Self::handle_timeout) / [`handle_transport_closed`](Self::handle_transport_closed);
/// commands [`publish`](Self::publish), [`subscribe`](Self::subscribe),
/// [`unsubscribe`](Self::unsubscribe), [`disconnect`](Self::disconnect), [`auth`](Self::auth);
/// outputs [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event),
/// [`poll_timeout`](Self::poll_timeout). The CONNECT is queued by the constructor. There are no
/// retransmission timers: unacknowledged PUBLISH and PUBREL are resent when a session is
/// resumed on a new connection ([`ClientSession::resume`]).
pub struct ClientSession {
    config: ClientConfig,
    phase: ClientPhase,
    decoder: Decoder,
    outbound: Outbound,
    inbound_qos2: HashSet<u16>,
    subscriptions: std::collections::BTreeMap<String, Subscription>,
    pending_subscribe: HashMap<u16, Vec<Subscription>>,
    pending_unsubscribe: HashMap<u16, Vec<TopicFilter>>,
    had_state: bool,
    server_max_qos: QoS,
    server_retain_available: bool,
    server_max_packet_size: u32,
    keep_alive: u16,
    inbound_aliases: InboundAliases,
    outbound_aliases: OutboundAliases,
    timers: TimerTable,
    transmit: BytesMut,
    /// Large PUBLISH payloads not copied into `transmit` (see
    /// [`ZERO_COPY_MIN_PAYLOAD`](crate::ZERO_COPY_MIN_PAYLOAD)).
    attached: transmit::Attached,
    events: VecDeque<ClientEvent>,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    /// A new connection with no stored session state; queues the CONNECT.
    pub fn new(now: Instant, config: ClientConfig) -> ClientSession {
        ClientSession::resume(now, config, SessionState::default())
    }

    /// A new connection that resumes `state` (kept from an earlier connection); queues the
    /// CONNECT. If the server reports a session, unacknowledged PUBLISH (DUP set) and PUBREL
    /// are resent; if not, the state is discarded and reported as [`ClientEvent::SessionLost`].
    pub fn resume(now: Instant, mut config: ClientConfig, state: SessionState) -> ClientSession {
        // v3.1.1 [MQTT-3.1.3-7]: a zero-byte client id requires Clean Session 1 (MQTT 5 lets
        // the server assign an id to a resumable session, so only 3.x is forced).
        if !config.version.is_v5() && config.client_id.is_empty() {
            config.clean_start = true;
        }
        let version = config.version;
        let max_in = config
            .properties
            .maximum_packet_size
            .map_or(MAX_PACKET_SIZE, |m| m.get());
        let mut outbound = Outbound::new(state.next_packet_id);
        let had_state = !state.is_empty();
        outbound.restore(state.inflight);
        let mut session = ClientSession {
            decoder: Decoder::client(version, max_in),
            inbound_aliases: InboundAliases::new(
                config.properties.topic_alias_maximum.unwrap_or(0),
            ),
            phase: ClientPhase::Connecting,
            outbound,
            inbound_qos2: state.inbound_qos2.into_iter().collect(),
            subscriptions: state.subscriptions,
            pending_subscribe: HashMap::new(),
            pending_unsubscribe: HashMap::new(),
            had_state,
            server_max_qos: QoS::ExactlyOnce,
            server_retain_available: true,
            server_max_packet_size: MAX_PACKET_SIZE,
            keep_alive: config.keep_alive,
            outbound_aliases: OutboundAliases::new(0),
            timers: TimerTable::default(),
            transmit: BytesMut::new(),
            attached: Vec::new(),
            events: VecDeque::new(),
            config,
        };
        let c = &session.config;
        let connect = Connect {
            protocol: version,
            clean_start: c.clean_start,
            keep_alive: c.keep_alive,
            client_id: c.client_id.clone(),
            will: c.will.clone(),
            username: c.username.clone(),
            password: c.password.clone(),
            properties: c.properties.clone(),
        };
        session.send(Packet::Connect(Box::new(connect)));
        session.timers.set(
            Timer::KeepAliveExpiry,
            now + session.config.response_timeout,
        );
        session
    }

    // ----- getters -----

    /// The phase.
    pub fn phase(&self) -> ClientPhase {
        self.phase
    }

    /// The protocol version.
    pub fn version(&self) -> ProtocolVersion {
        self.config.version
    }

    /// The keep alive in force (the server's if it sent one), seconds.
    pub fn keep_alive(&self) -> u16 {
        self.keep_alive
    }

    /// Outbound QoS 1/2 messages awaiting acknowledgement.
    pub fn inflight_len(&self) -> usize {
        self.outbound.len()
    }

    /// Whether the outbound flow `id` is unfinished (for the fuzz harness's bookkeeping).
    #[cfg(any(fuzzing, test))]
    pub(crate) fn has_inflight(&self, id: u16) -> bool {
        self.outbound.contains(id)
    }

    /// Whether a QoS 1/2 publish would be accepted now (server Receive Maximum).
    pub fn has_send_quota(&self) -> bool {
        self.outbound.has_quota()
    }

    /// Subscriptions acknowledged by the server.
    pub fn subscriptions(&self) -> impl Iterator<Item = &Subscription> {
        self.subscriptions.values()
    }

    // ----- inputs -----

    /// Decodes and handles every complete packet at the front of `buf`.
    pub fn handle_bytes(&mut self, now: Instant, buf: &mut BytesMut) {
        while self.phase != ClientPhase::Closed {
            if self.phase != ClientPhase::Connecting {
                // The common acknowledgement, without building a `Packet`.
                if let Some((kind, id)) = self.decoder.decode_bare_ack(buf) {
                    self.handle_ack(kind, id, ReasonCode::Success);
                    continue;
                }
            }
            match self.decoder.decode(buf) {
                Ok(Some(p)) => self.handle_packet(now, p),
                Ok(None) => return,
                Err(e) => {
                    self.violation(e.reason_code(), "undecodable packet from the server");
                    return;
                }
            }
        }
        buf.clear();
    }

    /// PUBACK, PUBREC, PUBCOMP (and a bare PUBREL) from the server.
    fn handle_ack(&mut self, kind: PacketType, id: PacketId, reason: ReasonCode) {
        let outcome = match kind {
            PacketType::PubAck => self.outbound.on_puback(id, reason),
            PacketType::PubRec => self.outbound.on_pubrec(id, reason),
            PacketType::PubComp => self.outbound.on_pubcomp(id, reason),
            _ => {
                self.handle_pubrel(id);
                return;
            }
        };
        self.ack_outcome(outcome);
    }

    /// Handles one decoded packet.
    pub fn handle_packet(&mut self, now: Instant, packet: Packet) {
        if self.phase == ClientPhase::Closed {
            return;
        }
        if self.phase == ClientPhase::Connecting {
            match packet {
                Packet::ConnAck(ack) => self.handle_connack(now, *ack),
                Packet::Auth(auth) => self.handle_auth(auth),
                Packet::Disconnect(d) => self.handle_server_disconnect(d),
                _ => self.violation(ReasonCode::ProtocolError, "packet before CONNACK"),
            }
            return;
        }
        match packet {
            Packet::Publish(p) => self.handle_publish(now, p),
            Packet::PubAck(a) => self.handle_ack(PacketType::PubAck, a.packet_id, a.reason_code),
            Packet::PubRec(a) => self.handle_ack(PacketType::PubRec, a.packet_id, a.reason_code),
            Packet::PubComp(a) => self.handle_ack(PacketType::PubComp, a.packet_id, a.reason_code),
            Packet::PubRel(r) => self.handle_pubrel(r.packet_id),
            Packet::SubAck(s) => self.handle_suback(s),
            Packet::UnsubAck(u) => self.handle_unsuback(u),
            Packet::PingResp => {
                self.timers.stop(Timer::KeepAliveExpiry);
            }
            Packet::Disconnect(d) => self.handle_server_disconnect(d),
            Packet::Auth(a) => self.handle_auth(a),
            Packet::ConnAck(_) => self.violation(ReasonCode::ProtocolError, "second CONNACK"),
            _ => self.violation(ReasonCode::ProtocolError, "packet type not sent by servers"),
        }
    }

    /// Fires expired timers: PINGREQ when keep alive is due, close when the server is silent.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.expired(now) {
            match timer {
                Timer::KeepAliveSend => {
                    if self.phase == ClientPhase::Connected {
                        // v5 [MQTT-3.1.2-20], v3.1.1 [MQTT-3.1.2-23]: PINGREQ when idle.
                        self.send(Packet::PingReq);
                        self.arm_keep_alive(now);
                        // One PINGRESP deadline at a time; PINGRESP clears it.
                        if self.timers.get(Timer::KeepAliveExpiry).is_none() {
                            self.timers
                                .set(Timer::KeepAliveExpiry, now + self.config.response_timeout);
                        }
                    }
                }
                Timer::KeepAliveExpiry => {
                    self.close(ClientCloseReason::Timeout);
                }
                Timer::Connect => {}
            }
        }
    }

    /// The transport closed.
    pub fn handle_transport_closed(&mut self, _now: Instant) {
        self.close(ClientCloseReason::TransportClosed);
    }

    // ----- commands -----

    /// Subscribes; the answer arrives as [`ClientEvent::SubAck`].
    pub fn subscribe(
        &mut self,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        identifier: Option<NonZeroU32>,
        properties: SubscribeProperties,
    ) -> Result<PacketId, ClientError> {
        self.require_connected()?;
        if filters.is_empty() {
            return Err(ClientError::Invalid("no topic filters"));
        }
        let packet_id = self.allocate_id()?;
        let mut properties = properties;
        properties.subscription_identifier = identifier;
        let subs = filters
            .iter()
            .map(|(filter, options)| Subscription {
                filter: filter.clone(),
                options: *options,
                identifier,
            })
            .collect();
        let packet = Packet::Subscribe(Subscribe {
            packet_id,
            filters,
            properties,
        });
        self.send_checked(packet)?;
        self.pending_subscribe.insert(packet_id.get(), subs);
        Ok(packet_id)
    }

    /// Unsubscribes; the answer arrives as [`ClientEvent::UnsubAck`].
    pub fn unsubscribe(
        &mut self,
        filters: Vec<TopicFilter>,
        properties: UnsubscribeProperties,
    ) -> Result<PacketId, ClientError> {
        self.require_connected()?;
        if filters.is_empty() {
            return Err(ClientError::Invalid("no topic filters"));
        }
        let packet_id = self.allocate_id()?;
        self.send_checked(Packet::Unsubscribe(Unsubscribe {
            packet_id,
            filters: filters.clone(),
            properties,
        }))?;
        self.pending_unsubscribe.insert(packet_id.get(), filters);
        Ok(packet_id)
    }

    /// Sends DISCONNECT and closes. 3.x has no reason codes: anything but Normal disconnection
    /// is sent as a plain DISCONNECT.
    pub fn disconnect(&mut self, reason: ReasonCode, properties: DisconnectProperties) {
        if self.phase == ClientPhase::Closed {
            return;
        }
        let mut d = Disconnect {
            reason_code: reason,
            properties,
        };
        if !self.config.version.is_v5() {
            d = Disconnect::default();
        }
        // v5 §3.14.2.2.2: a Session Expiry Interval on DISCONNECT is a Protocol Error if the
        // CONNECT had 0; drop it rather than break the rule.
        if self.config.properties.session_expiry_interval.unwrap_or(0) == 0 {
            d.properties.session_expiry_interval = None;
        }
        self.send(Packet::Disconnect(d));
        self.close(ClientCloseReason::LocalDisconnect(reason));
    }

    /// Sends AUTH (v5): `reason` 0x18 to continue an exchange the server started, 0x19 to
    /// re-authenticate; the method is the one of the CONNECT (v5 [MQTT-4.12.0-5]).
    pub fn auth(&mut self, reason: ReasonCode, data: Option<Bytes>) -> Result<(), ClientError> {
        // Valid while connecting (answering the server's challenge) and once connected.
        if self.phase == ClientPhase::Closed {
            return Err(ClientError::NotConnected);
        }
        let Some(method) = self.config.properties.authentication_method.clone() else {
            // v5 [MQTT-4.12.0-7]: no AUTH without a method in CONNECT.
            return Err(ClientError::Invalid("no authentication method in CONNECT"));
        };
        if !matches!(
            reason,
            ReasonCode::ContinueAuthentication | ReasonCode::ReAuthenticate
        ) {
            return Err(ClientError::Invalid("AUTH reason must be 0x18 or 0x19"));
        }
        let mut properties = AuthProperties::default();
        properties.authentication_method = Some(method);
        properties.authentication_data = data;
        self.send_checked(Packet::Auth(Auth {
            reason_code: reason,
            properties,
        }))
    }

    // ----- outputs -----

    /// Everything encoded since the last call, as one buffer (large payloads copied in: see
    /// [`transmit_chunks`](Self::transmit_chunks) for the way without that copy).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        transmit::splice(&mut self.transmit, &mut self.attached);
        if self.transmit.is_empty() {
            None
        } else {
            Some(self.transmit.split().freeze())
        }
    }

    /// Whether payloads of at least [`ZERO_COPY_MIN_PAYLOAD`](crate::ZERO_COPY_MIN_PAYLOAD)
    /// bytes are waiting to be sent without having been copied: take the output with
    /// [`transmit_chunks`](Self::transmit_chunks) (a vectored write) to keep it that way.
    pub fn has_attached_payloads(&self) -> bool {
        !self.attached.is_empty()
    }

    /// Everything encoded since the last call, as chunks to write in order: the encoded bytes,
    /// split where a large PUBLISH payload goes, and those payloads themselves, shared with the
    /// caller's message instead of copied. Appends to `out`; the same bytes as
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn transmit_chunks(&mut self, out: &mut VecDeque<Bytes>) {
        transmit::take_chunks(&mut self.transmit, &mut self.attached, out);
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Gives up the persistable state, to [`resume`](Self::resume) on the next connection.
    pub fn into_state(self) -> SessionState {
        SessionState {
            subscriptions: self.subscriptions,
            inflight: self.outbound.snapshot(),
            inbound_qos2: self.inbound_qos2.into_iter().collect(),
            next_packet_id: self.outbound.next_id(),
            queued: VecDeque::new(),
        }
    }

    // ----- internals -----

    fn require_connected(&self) -> Result<(), ClientError> {
        if self.phase == ClientPhase::Connected {
            Ok(())
        } else {
            Err(ClientError::NotConnected)
        }
    }

    fn allocate_id(&mut self) -> Result<PacketId, ClientError> {
        let (subs, unsubs) = (&self.pending_subscribe, &self.pending_unsubscribe);
        // v5 [MQTT-2.2.1-3]: an id not in use by any flow, SUBSCRIBE or UNSUBSCRIBE.
        self.outbound
            .allocate_id(|id| subs.contains_key(&id.get()) || unsubs.contains_key(&id.get()))
            .ok_or(ClientError::PacketIdsExhausted)
    }

    fn arm_keep_alive(&mut self, now: Instant) {
        if self.keep_alive > 0 && self.phase == ClientPhase::Connected {
            self.timers.set(
                Timer::KeepAliveSend,
                now + Duration::from_secs(u64::from(self.keep_alive)),
            );
        }
    }

    /// Encodes a packet, refusing it if it is larger than the server allows
    /// (v5 [MQTT-3.2.2-15]).
    fn send_checked(&mut self, packet: Packet) -> Result<(), ClientError> {
        let len = packet
            .encoded_len(self.config.version)
            .map_err(|_| ClientError::Invalid("cannot be encoded for this protocol version"))?;
        if len > self.server_max_packet_size as usize {
            return Err(ClientError::TooLarge);
        }
        if packet
            .encode(self.config.version, &mut self.transmit)
            .is_err()
        {
            return Err(ClientError::Invalid(
                "cannot be encoded for this protocol version",
            ));
        }
        Ok(())
    }

    fn send(&mut self, packet: Packet) {
        // Only packets we build ourselves go through here; they always encode.
        match &packet {
            Packet::Publish(publish) => {
                // The header, then the payload: a large one attached, not copied.
                if publish
                    .encode_header(self.config.version, &mut self.transmit)
                    .is_ok()
                {
                    let attached = &mut self.attached;
                    transmit::put_payload(
                        &mut self.transmit,
                        publish.payload(),
                        || publish.payload_bytes(),
                        || attached,
                    );
                }
            }
            _ => {
                let _ = packet.encode(self.config.version, &mut self.transmit);
            }
        }
    }

    /// Sends an acknowledgement in its bare form (Success, no properties: the bytes `send`
    /// would write for it) without building a `Packet`: one per QoS > 0 message.
    fn send_bare_ack(&mut self, encode_bare: fn(PacketId, &mut BytesMut), id: PacketId) {
        encode_bare(id, &mut self.transmit);
    }

    fn violation(&mut self, reason: ReasonCode, what: &'static str) {
        if self.config.version.is_v5() && self.phase == ClientPhase::Connected {
            self.send(Packet::Disconnect(Disconnect::new(reason)));
        }
        self.close(ClientCloseReason::ProtocolViolation(reason, what));
    }

    fn close(&mut self, reason: ClientCloseReason) {
        if self.phase == ClientPhase::Closed {
            return;
        }
        self.phase = ClientPhase::Closed;
        self.timers.stop_all();
        self.events.push_back(ClientEvent::Closed { reason });
    }

    fn handle_connack(&mut self, now: Instant, ack: starling_codec::ConnAck) {
        self.timers.stop(Timer::KeepAliveExpiry);
        if ack.reason_code != ReasonCode::Success {
            self.close(ClientCloseReason::Refused(ack.reason_code));
            return;
        }
        let p = &ack.properties;
        if ack.session_present && self.config.clean_start {
            // v5 [MQTT-3.2.2-4]: Session Present 1 after Clean Start 1 cannot be right.
            self.violation(
                ReasonCode::ProtocolError,
                "session present after clean start",
            );
            return;
        }
        self.server_max_qos = p.maximum_qos.unwrap_or(QoS::ExactlyOnce);
        self.server_retain_available = p.retain_available.unwrap_or(true);
        self.server_max_packet_size = p.maximum_packet_size.map_or(MAX_PACKET_SIZE, |m| m.get());
        self.outbound
            .set_receive_maximum(p.receive_maximum.map_or(u16::MAX, |r| r.get()));
        if self.config.use_topic_aliases {
            self.outbound_aliases = OutboundAliases::new(p.topic_alias_maximum.unwrap_or(0));
        }
        // v5 [MQTT-3.1.2-21], v5 [MQTT-3.2.2-21]: the server's keep alive wins.
        if let Some(ka) = p.server_keep_alive {
            self.keep_alive = ka;
        }
        self.phase = ClientPhase::Connected;
        self.arm_keep_alive(now);
        if ack.session_present {
            // v5 [MQTT-4.4.0-1], v3.1.1 [MQTT-4.4.0-1]: resend with original ids, DUP set
            // (after the Connected event, below).
            self.outbound.queue_resends();
        } else if self.had_state {
            // v5 [MQTT-3.2.2-5]: no session on the server: discard ours.
            let unacknowledged = self
                .outbound
                .snapshot()
                .into_iter()
                .map(|f| f.publish)
                .collect();
            let subscriptions = std::mem::take(&mut self.subscriptions)
                .into_values()
                .collect();
            self.outbound = Outbound::new(self.outbound.next_id());
            self.outbound
                .set_receive_maximum(p.receive_maximum.map_or(u16::MAX, |r| r.get()));
            self.inbound_qos2.clear();
            self.events.push_back(ClientEvent::SessionLost {
                unacknowledged,
                subscriptions,
            });
        }
        self.events.push_back(ClientEvent::Connected {
            session_present: ack.session_present,
            properties: Box::new(ack.properties),
        });
        self.send_resends();
    }

    fn handle_auth(&mut self, auth: Auth) {
        // v5 [MQTT-4.12.0-6]: no AUTH from the server unless we named a method.
        let expected = self.config.properties.authentication_method.as_ref();
        if expected.is_none() || auth.properties.authentication_method.as_ref() != expected {
            self.violation(ReasonCode::ProtocolError, "unexpected AUTH");
            return;
        }
        self.events.push_back(ClientEvent::AuthChallenge {
            reason: auth.reason_code,
            data: auth.properties.authentication_data,
        });
    }

    fn handle_server_disconnect(&mut self, d: Disconnect) {
        self.close(ClientCloseReason::ServerDisconnect(Box::new(d)));
    }
}
