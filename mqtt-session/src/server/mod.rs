//! The server side of one client connection.

mod connect;
mod deliver;
mod inbound;

pub use connect::{Accept, ConnectInfo};
pub use deliver::Delivery;

use crate::{
    alias::{InboundAliases, OutboundAliases},
    auth::AuthMethod,
    outbound::{IdMap, IdSet, Outbound},
    timer::{Timer, TimerTable},
    transmit, Message, SessionState, Subscription,
};
use bytes::{Bytes, BytesMut};
use starling_codec::{
    Decoder, Disconnect, Packet, PacketId, PacketType, ProtocolVersion, PubRel, QoS, ReasonCode,
    TopicFilter, UserProperties, Will, MAX_PACKET_SIZE,
};
use std::sync::Arc;
use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// Server policy for one connection. The broker builds it from its configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Largest packet accepted from the client; announced in the CONNACK when below the
    /// protocol maximum.
    pub max_packet_size: u32,
    /// How many unacknowledged QoS 1/2 PUBLISH the client may send (v5 Receive Maximum).
    pub receive_maximum: u16,
    /// Most unacknowledged QoS 1/2 PUBLISH sent to the client at once: the lower of this and
    /// the client's Receive Maximum (MQTT 3.x clients announce none). Further messages wait in
    /// the session queue, like Mosquitto's `max_inflight_messages`.
    pub max_inflight: u16,
    /// Highest topic alias the client may use (0: none).
    pub topic_alias_maximum: u16,
    /// Highest QoS the server supports.
    pub maximum_qos: QoS,
    /// Whether retained messages are supported.
    pub retain_available: bool,
    /// Whether wildcard subscriptions are supported.
    pub wildcard_subscription_available: bool,
    /// Whether subscription identifiers are supported.
    pub subscription_identifiers_available: bool,
    /// Whether shared subscriptions are supported.
    pub shared_subscription_available: bool,
    /// Time allowed between the connection opening and a complete CONNECT (and authentication).
    pub connect_timeout: Duration,
    /// Largest keep alive accepted (seconds). MQTT 5 clients asking for more (or for 0) are told
    /// this value as Server Keep Alive; MQTT 3.x clients asking for more are refused with
    /// "identifier rejected", as Mosquitto does, since 3.x cannot be told.
    pub max_keep_alive: u16,
    /// Most messages kept in the session's queue while the client has no send quota or is away.
    pub max_queued_messages: usize,
    /// Most payload and topic bytes kept in that queue.
    pub max_queued_bytes: usize,
    /// What to do when the queue is full.
    pub queue_policy: QueuePolicy,
    /// Report [`ServerEvent::Delivered`] for every finished outbound QoS 1/2 flow (default
    /// true). A broker that does not use them turns them off: one event fewer per PUBACK.
    pub report_deliveries: bool,
}

/// The default [`ServerConfig::max_inflight`].
pub(crate) const MAX_INFLIGHT_DEFAULT: u16 = 65_535;

/// What a full session queue does with one more QoS 1/2 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueuePolicy {
    /// Refuse the new message ([`ServerError::QueueFull`]), as Mosquitto does.
    #[default]
    DropNewest,
    /// Drop the oldest queued messages to make room.
    DropOldest,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_packet_size: MAX_PACKET_SIZE,
            receive_maximum: 100,
            max_inflight: MAX_INFLIGHT_DEFAULT,
            topic_alias_maximum: 10,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            wildcard_subscription_available: true,
            subscription_identifiers_available: true,
            shared_subscription_available: true,
            connect_timeout: Duration::from_secs(10),
            max_keep_alive: 65_535,
            max_queued_messages: 1000,
            max_queued_bytes: 64 * 1024 * 1024,
            queue_policy: QueuePolicy::DropNewest,
            report_deliveries: true,
        }
    }
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerPhase {
    /// Waiting for CONNECT.
    AwaitingConnect,
    /// CONNECT received with an authentication method; the AUTH exchange is under way.
    Authenticating,
    /// CONNECT validated; waiting for the broker's [`ServerSession::accept`] or
    /// [`ServerSession::reject`].
    AwaitingAccept,
    /// CONNACK success sent.
    Connected,
    /// Closed: flush `poll_transmit`, then close the transport.
    Closed,
}

/// Why a connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent DISCONNECT with this reason code.
    ClientDisconnect(ReasonCode),
    /// The client broke a rule; the server sent (or, for 3.x, would have sent) this code.
    ProtocolViolation(ReasonCode, &'static str),
    /// Nothing was received within 1.5 × Keep Alive.
    KeepAliveTimeout,
    /// No complete CONNECT in time.
    ConnectTimeout,
    /// The transport closed without DISCONNECT.
    TransportClosed,
    /// The server closed it with this reason code ([`ServerSession::disconnect`]).
    ServerDisconnect(ReasonCode),
    /// The CONNECT was refused with this reason code.
    Rejected(ReasonCode),
}

/// Something the broker must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A valid CONNECT (authenticated, if enhanced auth was used): answer with
    /// [`ServerSession::accept`] or [`ServerSession::reject`].
    Connect(Box<ConnectInfo>),
    /// An application message from the client. With `packet_id` set (QoS 1/2) the broker must
    /// call [`ServerSession::ack_publish`] once it has taken ownership (for a durable store:
    /// once it is persisted).
    Publish {
        /// The message, topic alias resolved.
        message: Message,
        /// The id to acknowledge, for QoS 1 and 2.
        packet_id: Option<PacketId>,
    },
    /// A SUBSCRIBE: answer with [`ServerSession::sub_ack`].
    Subscribe {
        /// The id to answer.
        packet_id: PacketId,
        /// The requested subscriptions, in order.
        subscriptions: Vec<Subscription>,
        /// User properties of the SUBSCRIBE.
        user_properties: UserProperties,
    },
    /// An UNSUBSCRIBE: answer with [`ServerSession::unsub_ack`].
    Unsubscribe {
        /// The id to answer.
        packet_id: PacketId,
        /// The filters to remove.
        filters: Vec<TopicFilter>,
    },
    /// An outbound QoS 1/2 message finished its flow (acknowledged, or refused with an error
    /// reason code).
    Delivered {
        /// Its packet identifier.
        packet_id: PacketId,
        /// PUBACK/PUBREC/PUBCOMP reason code.
        reason: ReasonCode,
    },
    /// The client re-authenticated successfully (v5 §4.12.1).
    Reauthenticated,
    /// The connection is closed.
    Closed {
        /// Why.
        reason: CloseReason,
        /// The will to publish (after its delay), if the close calls for it.
        will: Option<Box<Will>>,
        /// Session Expiry Interval in force at the close, in seconds (3.x: 0 for a clean
        /// session, `u32::MAX` otherwise).
        session_expiry_interval: u32,
    },
}

/// Errors of server commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The command is not valid in the current phase.
    #[error("command not valid in phase {0:?}")]
    WrongPhase(ServerPhase),
    /// The client sent an empty client id and the broker assigned none.
    #[error("an assigned client identifier is required")]
    ClientIdRequired,
    /// No SUBSCRIBE/UNSUBSCRIBE/PUBLISH with that packet id is awaiting an answer.
    #[error("no pending request with that packet identifier")]
    UnknownPacketId,
    /// A SUBACK/UNSUBACK must carry one reason code per filter.
    #[error("reason code count does not match the request")]
    ReasonCountMismatch,
    /// The session's message queue is full; the message was not accepted.
    #[error("message queue full")]
    QueueFull,
    /// All 65,535 packet identifiers are in use.
    #[error("packet identifiers exhausted")]
    PacketIdsExhausted,
}

/// The server side of one MQTT connection, sans I/O.
///
/// # Driving contract
///
/// The methods fall in four groups, as in quinn-proto's `Connection`:
/// - **getters**: [`phase`](Self::phase), [`version`](Self::version), [`client_id`](Self::client_id)…
/// - **inputs**: [`handle_bytes`](Self::handle_bytes) with received bytes (or
///   [`handle_packet`](Self::handle_packet) with decoded packets), [`handle_timeout`](Self::handle_timeout)
///   when the deadline of [`poll_timeout`](Self::poll_timeout) passes,
///   [`handle_transport_closed`](Self::handle_transport_closed) when the socket closes;
/// - **commands** from the broker: [`accept`](Self::accept), [`reject`](Self::reject),
///   [`ack_publish`](Self::ack_publish), [`sub_ack`](Self::sub_ack), [`unsub_ack`](Self::unsub_ack),
///   [`deliver`](Self::deliver), [`disconnect`](Self::disconnect);
/// - **outputs**: after any input or command, drain [`poll_event`](Self::poll_event), write what
///   [`poll_transmit`](Self::poll_transmit) returns, and re-arm the timer from
///   [`poll_timeout`](Self::poll_timeout).
///
/// Time is always passed in (`now`); the session never reads a clock. Protocol violations are
/// not errors of the inputs: the session queues the CONNACK or DISCONNECT the specification
/// names, moves to [`ServerPhase::Closed`] and reports [`ServerEvent::Closed`]; the caller
/// flushes the goodbye and closes the transport.
pub struct ServerSession {
    /// Shared: a server gives every connection the same configuration.
    config: Arc<ServerConfig>,
    phase: ServerPhase,
    decoder: Decoder,
    version: ProtocolVersion,
    /// What the CONNECT said, kept until the broker accepts or refuses it; once accepted only
    /// the client identifier and the authentication method stay (an idle session does not carry
    /// the password, will copy and properties of its CONNECT).
    info: Option<Box<ConnectInfo>>,
    /// The client identifier of an accepted session (the assigned one included).
    client_id: starling_codec::MqttStr,
    /// Enhanced authentication, pending SUBSCRIBE/UNSUBSCRIBE, resumed QoS 2 ids and
    /// deferred packets: made on first use (see [`Rare`]).
    rare: Option<Box<Rare>>,
    state_subscriptions: std::collections::BTreeMap<String, Subscription>,
    queued: VecDeque<crate::QueuedMessage>,
    queued_bytes: usize,
    /// Messages dropped because the queue was full.
    dropped: u64,
    outbound: Outbound,
    /// Inbound QoS 1/2 messages handed to the broker and not yet acknowledged, by id.
    inbound_pending: IdMap<QoS>,
    /// Inbound QoS 2 ids whose PUBREC was sent and PUBREL not yet received.
    inbound_qos2: IdSet,
    /// Topic aliases, made on first use (most clients use none; every idle session would
    /// otherwise carry both tables).
    inbound_aliases: Option<Box<InboundAliases>>,
    outbound_aliases: Option<Box<OutboundAliases>>,
    /// Effective keep alive in seconds (0: off).
    keep_alive: u16,
    session_expiry_interval: u32,
    /// Client's maximum packet size.
    peer_max_packet_size: u32,
    request_problem_information: bool,
    /// Boxed: most connections have none, and every idle connection carries this struct.
    will: Option<Box<Will>>,
    timers: TimerTable,
    transmit: BytesMut,
    events: VecDeque<ServerEvent>,
}

/// The parts of a session most connections never use or use only briefly, boxed together and
/// made on first use: every idle connection would otherwise carry them inline.
#[derive(Default)]
struct Rare {
    auth: Option<Box<dyn AuthMethod>>,
    /// The CONNECT's Authentication Method, for AUTH exchanges and re-authentication.
    auth_method: Option<starling_codec::MqttStr>,
    /// Those of `inbound_qos2` resumed from an earlier connection and not seen again on this
    /// one: the client's send quota starts afresh on each connection (v5 §4.9), so they do not
    /// count against our Receive Maximum until the client resends them.
    resumed_qos2: IdSet,
    pending_subscribe: IdMap<Vec<Subscription>>,
    pending_unsubscribe: IdMap<Vec<TopicFilter>>,
    /// Packets handed to `handle_packet` while the CONNECT awaits the broker's decision.
    deferred: VecDeque<Packet>,
    /// Payloads of at least [`ZERO_COPY_MIN_PAYLOAD`](crate::ZERO_COPY_MIN_PAYLOAD) bytes, not
    /// copied into `transmit`: each goes after the first `.0` bytes of it (offsets in order).
    attached: transmit::Attached,
}

impl Rare {
    /// Whether dropping it loses nothing (an authentication method is configuration).
    fn is_unused(&self) -> bool {
        self.auth.is_none()
            && self.auth_method.is_none()
            && self.resumed_qos2.is_empty()
            && self.pending_subscribe.is_empty()
            && self.pending_unsubscribe.is_empty()
            && self.deferred.is_empty()
            && self.attached.is_empty()
    }
}

impl std::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSession")
            .field("phase", &self.phase)
            .field("version", &self.version)
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

impl ServerSession {
    /// A session for a connection that opened at `now`. `config` is a [`ServerConfig`] or an
    /// `Arc` of one that many sessions share.
    pub fn new(now: Instant, config: impl Into<Arc<ServerConfig>>) -> ServerSession {
        let config = config.into();
        let mut timers = TimerTable::default();
        timers.set(Timer::Connect, now + config.connect_timeout);
        ServerSession {
            decoder: Decoder::server(config.max_packet_size),
            inbound_aliases: None,
            config,
            phase: ServerPhase::AwaitingConnect,
            version: ProtocolVersion::V5,
            info: None,
            client_id: starling_codec::MqttStr::default(),
            rare: None,
            state_subscriptions: Default::default(),
            queued: VecDeque::new(),
            queued_bytes: 0,
            dropped: 0,
            outbound: Outbound::new(PacketId::from(std::num::NonZeroU16::MIN)),
            inbound_pending: IdMap::default(),
            inbound_qos2: IdSet::default(),
            outbound_aliases: None,
            keep_alive: 0,
            session_expiry_interval: 0,
            peer_max_packet_size: MAX_PACKET_SIZE,
            request_problem_information: true,
            will: None,
            timers,
            transmit: BytesMut::new(),
            events: VecDeque::new(),
        }
    }

    /// Installs an enhanced authentication method (v5 §4.12). Without one, a CONNECT carrying
    /// an Authentication Method is refused with 0x8C.
    pub fn with_auth_method(mut self, method: Box<dyn AuthMethod>) -> ServerSession {
        self.rare_mut().auth = Some(method);
        self
    }

    // ----- getters -----

    /// The phase.
    pub fn phase(&self) -> ServerPhase {
        self.phase
    }

    /// The protocol version (meaningful once CONNECT arrived).
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The client identifier (assigned one included), once known.
    pub fn client_id(&self) -> Option<&str> {
        match &self.info {
            Some(info) => Some(info.client_id.as_str()),
            None => (!self.client_id.is_empty()).then(|| self.client_id.as_str()),
        }
    }

    /// What the CONNECT said, from its arrival until the session is accepted (the session
    /// then lets it go and keeps only what it needs, such as [`client_id`](Self::client_id)).
    pub fn connect_info(&self) -> Option<&ConnectInfo> {
        self.info.as_deref()
    }

    /// The keep alive in force, in seconds (0: off).
    pub fn keep_alive(&self) -> u16 {
        self.keep_alive
    }

    /// The Session Expiry Interval in force, in seconds.
    pub fn session_expiry_interval(&self) -> u32 {
        self.session_expiry_interval
    }

    /// Number of outbound QoS 1/2 messages awaiting acknowledgement.
    pub fn inflight_len(&self) -> usize {
        self.outbound.len()
    }

    /// Whether the outbound flow `id` is unfinished (for the fuzz harness's bookkeeping).
    #[cfg(any(fuzzing, test))]
    pub(crate) fn has_inflight(&self, id: u16) -> bool {
        self.outbound.contains(id)
    }

    /// Number of messages queued for delivery.
    pub fn queued_len(&self) -> usize {
        self.queued.len()
    }

    /// Messages dropped because the session queue was full.
    pub fn dropped_messages(&self) -> u64 {
        self.dropped
    }

    /// The session's subscriptions.
    pub fn subscriptions(&self) -> impl Iterator<Item = &Subscription> {
        self.state_subscriptions.values()
    }

    // ----- inputs -----

    /// Decodes and handles every complete packet at the front of `buf`.
    ///
    /// It stops early, leaving bytes in `buf`, while a CONNECT awaits
    /// [`accept`](Self::accept)/[`reject`](Self::reject) (packets sent after CONNECT are not
    /// processed before that, v5 [MQTT-3.1.4-6]); call it again after the command. Once closed
    /// it discards input.
    pub fn handle_bytes(&mut self, now: Instant, buf: &mut BytesMut) {
        loop {
            match self.phase {
                ServerPhase::Closed => {
                    buf.clear();
                    return;
                }
                ServerPhase::AwaitingAccept => return,
                ServerPhase::Connected => {
                    // The common acknowledgement, without building a `Packet`.
                    if let Some((kind, id)) = self.decoder.decode_bare_ack(buf) {
                        self.touch(now);
                        self.handle_ack(now, kind, id, ReasonCode::Success);
                        continue;
                    }
                }
                _ => {}
            }
            match self.decoder.decode(buf) {
                Ok(Some(packet)) => self.handle_packet(now, packet),
                Ok(None) => return,
                Err(e) => {
                    self.protocol_violation(e.reason_code(), decode_context(&e), e);
                    return;
                }
            }
        }
    }

    /// Handles one decoded packet (for transports that carry packets, and tests).
    ///
    /// Packets after the CONNECT are held until [`accept`](Self::accept) (and dropped on
    /// [`reject`](Self::reject)), as [`handle_bytes`](Self::handle_bytes) leaves their bytes.
    pub fn handle_packet(&mut self, now: Instant, packet: Packet) {
        match self.phase {
            ServerPhase::Closed => return,
            ServerPhase::AwaitingAccept => {
                // v5 [MQTT-3.1.4-6], v3.1.1 [MQTT-3.1.4-5]: nothing after the CONNECT is
                // processed before the broker accepts (`handle_bytes` leaves it in the buffer).
                self.rare_mut().deferred.push_back(packet);
                return;
            }
            ServerPhase::AwaitingConnect => {
                let Packet::Connect(connect) = packet else {
                    // v5 [MQTT-3.1.0-1], v3.1.1 [MQTT-3.1.0-1]: CONNECT first, else close.
                    self.close_silently(CloseReason::ProtocolViolation(
                        ReasonCode::ProtocolError,
                        "first packet is not CONNECT",
                    ));
                    return;
                };
                self.handle_connect(*connect);
                return;
            }
            _ => {}
        }
        self.touch(now);
        match packet {
            Packet::Connect(_) => {
                // v5 [MQTT-3.1.0-2], v3.1.1 [MQTT-3.1.0-2]: a second CONNECT is a violation.
                self.violation(ReasonCode::ProtocolError, "second CONNECT");
            }
            Packet::Auth(auth) => self.handle_auth(auth),
            _ if self.phase == ServerPhase::Authenticating => {
                // v5 [MQTT-3.1.2-30]: only AUTH or DISCONNECT before CONNACK.
                match packet {
                    Packet::Disconnect(d) => self.handle_disconnect(d),
                    _ => self.violation(
                        ReasonCode::ProtocolError,
                        "packet before authentication completed",
                    ),
                }
            }
            Packet::Publish(p) => self.handle_publish(now, p),
            Packet::PubAck(a) => {
                self.handle_ack(now, PacketType::PubAck, a.packet_id, a.reason_code)
            }
            Packet::PubRec(a) => {
                self.handle_ack(now, PacketType::PubRec, a.packet_id, a.reason_code)
            }
            Packet::PubComp(a) => {
                self.handle_ack(now, PacketType::PubComp, a.packet_id, a.reason_code);
            }
            Packet::PubRel(r) => self.handle_pubrel(r),
            Packet::Subscribe(s) => self.handle_subscribe(s),
            Packet::Unsubscribe(u) => self.handle_unsubscribe(u),
            Packet::PingReq => {
                self.send(Packet::PingResp);
            }
            Packet::Disconnect(d) => self.handle_disconnect(d),
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                self.violation(ReasonCode::ProtocolError, "packet type not sent by clients");
            }
        }
    }

    /// PUBACK, PUBREC, PUBCOMP (and a bare PUBREL) from the client.
    fn handle_ack(&mut self, now: Instant, kind: PacketType, id: PacketId, reason: ReasonCode) {
        let outcome = match kind {
            PacketType::PubAck => self.outbound.on_puback(id, reason),
            PacketType::PubRec => self.outbound.on_pubrec(id, reason),
            PacketType::PubComp => self.outbound.on_pubcomp(id, reason),
            _ => {
                self.handle_pubrel(PubRel::new(id));
                return;
            }
        };
        self.handle_ack_result(now, outcome);
    }

    /// Fires expired timers. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.expired(now) {
            match timer {
                Timer::Connect => {
                    if matches!(
                        self.phase,
                        ServerPhase::AwaitingConnect | ServerPhase::Authenticating
                    ) {
                        self.close_silently(CloseReason::ConnectTimeout);
                    }
                }
                Timer::KeepAliveExpiry => {
                    // v5 [MQTT-3.1.2-22], v3.1.1 [MQTT-3.1.2-24]: close after 1.5 × keep alive.
                    if self.phase == ServerPhase::Connected {
                        self.send_disconnect(ReasonCode::KeepAliveTimeout);
                        self.close(CloseReason::KeepAliveTimeout, true);
                    }
                }
                Timer::KeepAliveSend => {}
            }
        }
    }

    /// The transport closed (or failed). Publishes the will unless a normal DISCONNECT came first.
    pub fn handle_transport_closed(&mut self, _now: Instant) {
        if self.phase != ServerPhase::Closed {
            self.close(CloseReason::TransportClosed, true);
        }
    }

    // ----- outputs -----

    /// Gives back buffers that are empty (event queue, output buffer, queue of a session with
    /// nothing queued): call it when the connection goes idle, so that thousands of idle
    /// connections do not each keep their last burst's capacity.
    pub fn release_idle_memory(&mut self) {
        if self.events.is_empty() && self.events.capacity() > 0 {
            self.events = VecDeque::new();
        }
        if self.transmit.is_empty() && self.transmit.capacity() > 0 {
            self.transmit = BytesMut::new();
        }
        if self.queued.is_empty() && self.queued.capacity() > 0 {
            self.queued = VecDeque::new();
        }
        self.outbound.release_idle_memory();
        if self.rare.as_ref().is_some_and(|r| r.is_unused()) {
            self.rare = None;
        }
    }

    /// Queues an event. The first one after the queue was released gets room for itself only:
    /// a wake-up rarely produces more, and an event is a few hundred bytes (the default first
    /// growth would give every new connection room for four).
    fn emit(&mut self, event: ServerEvent) {
        if self.events.capacity() == 0 {
            self.events.reserve_exact(1);
        }
        self.events.push_back(event);
    }

    /// The enhanced authentication handler, if the server has one.
    fn auth_mut(&mut self) -> Option<&mut Box<dyn AuthMethod>> {
        self.rare.as_mut().and_then(|r| r.auth.as_mut())
    }

    /// The CONNECT's Authentication Method, if it named one.
    fn auth_method(&self) -> Option<starling_codec::MqttStr> {
        self.rare.as_ref().and_then(|r| r.auth_method.clone())
    }

    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The bytes encoded and not yet taken, in place: write them, then `clear()` the buffer.
    ///
    /// The zero-copy alternative to [`poll_transmit`](Self::poll_transmit) for a caller that
    /// writes from a `&[u8]`: the buffer keeps its capacity, so a busy connection encodes every
    /// wake-up into the same memory instead of a fresh allocation. Large payloads not yet
    /// copied (see [`transmit_chunks`](Self::transmit_chunks)) are copied in first.
    pub fn transmit_buffer(&mut self) -> &mut BytesMut {
        self.splice_attached();
        &mut self.transmit
    }

    /// Everything encoded since the last call, as one buffer (one write per wake-up).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.splice_attached();
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
        self.rare.as_ref().is_some_and(|r| !r.attached.is_empty())
    }

    /// Everything encoded since the last call, as chunks to write in order: the encoded bytes,
    /// split where a PUBLISH's large payload goes, and those payloads themselves, shared with
    /// the message (each subscriber's copy costs a reference count, not a copy of the payload).
    /// Appends to `out`.
    pub fn transmit_chunks(&mut self, out: &mut VecDeque<Bytes>) {
        match self.rare.as_deref_mut() {
            Some(rare) => transmit::take_chunks(&mut self.transmit, &mut rare.attached, out),
            None => transmit::take_chunks(&mut self.transmit, &mut Vec::new(), out),
        }
    }

    /// Sends a PUBLISH's payload right after its header (written with `encode_plain_header`
    /// or `encode_header`): copied into the output when small, attached uncopied (`shared()`,
    /// see [`transmit_chunks`](Self::transmit_chunks)) from
    /// [`ZERO_COPY_MIN_PAYLOAD`](crate::ZERO_COPY_MIN_PAYLOAD) bytes on.
    pub(crate) fn put_payload(&mut self, payload: &[u8], shared: impl FnOnce() -> Bytes) {
        let rare = &mut self.rare;
        transmit::put_payload(&mut self.transmit, payload, shared, || {
            &mut rare.get_or_insert_with(Box::default).attached
        });
    }

    /// Copies the attached payloads into `transmit` where they go (for callers that take the
    /// output as one buffer).
    fn splice_attached(&mut self) {
        if let Some(rare) = self.rare.as_deref_mut() {
            transmit::splice(&mut self.transmit, &mut rare.attached);
        }
    }

    /// Whether [`poll_event`](Self::poll_event) has something.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next event for the broker.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Gives up the persistable state (at close, for takeover, or for storage).
    pub fn into_state(self) -> SessionState {
        SessionState {
            subscriptions: self.state_subscriptions,
            inflight: self.outbound.snapshot(),
            inbound_qos2: self.inbound_qos2.iter().copied().collect(),
            next_packet_id: self.outbound.next_id(),
            queued: self.queued,
        }
    }

    // ----- internals shared by the submodules -----

    fn touch(&mut self, now: Instant) {
        if self.keep_alive > 0 && self.phase == ServerPhase::Connected {
            let ka = Duration::from_millis(u64::from(self.keep_alive) * 1500);
            self.timers.set(Timer::KeepAliveExpiry, now + ka);
        }
    }

    /// Encodes `packet` for the client, enforcing its Maximum Packet Size: optional reason
    /// strings and user properties are dropped to fit (v5 [MQTT-3.2.2-19], v5 [MQTT-3.2.2-20],
    /// [MQTT-3.14.2-3], [MQTT-3.14.2-4]) and also when the client asked for no problem
    /// information (v5 [MQTT-3.1.2-29]). Returns false when it cannot be sent.
    fn send(&mut self, mut packet: Packet) -> bool {
        // After the close the caller has flushed the goodbye and dropped the transport: an
        // answer the broker gives late (say `ack_publish` for a PUBLISH that arrived with the
        // DISCONNECT) still updates the state but has nowhere to go.
        if self.phase == ServerPhase::Closed {
            return false;
        }
        if !self.request_problem_information {
            strip_problem_information(&mut packet);
        }
        let fits = |p: &Packet, v| {
            p.encoded_len(v)
                .is_ok_and(|n| n <= self.peer_max_packet_size as usize)
        };
        if !fits(&packet, self.version) {
            strip_problem_information(&mut packet);
            if let Packet::ConnAck(c) = &mut packet {
                c.properties.reason_string = None;
                c.properties.user_properties.clear();
                c.properties.response_information = None;
                c.properties.server_reference = None;
            }
            if !fits(&packet, self.version) {
                return false;
            }
        }
        packet.encode(self.version, &mut self.transmit).is_ok()
    }

    /// Sends an acknowledgement in its bare form (Success, no properties: the same bytes as
    /// `send` would write for it) without building a `Packet`: one per QoS > 0 message.
    fn send_bare_ack(&mut self, encode_bare: fn(PacketId, &mut BytesMut), id: PacketId) {
        // As `send`: nothing after the close, nothing larger than the client accepts.
        if self.phase != ServerPhase::Closed && self.peer_max_packet_size >= 4 {
            encode_bare(id, &mut self.transmit);
        }
    }

    /// Sends DISCONNECT (v5 only; a 3.x server just closes), never before a successful CONNACK
    /// (v5 [MQTT-3.14.0-1]).
    fn send_disconnect(&mut self, reason: ReasonCode) {
        self.send_disconnect_with(reason, Default::default());
    }

    fn send_disconnect_with(
        &mut self,
        reason: ReasonCode,
        properties: starling_codec::DisconnectProperties,
    ) {
        if self.version.is_v5() && self.phase == ServerPhase::Connected {
            self.send(Packet::Disconnect(Disconnect {
                reason_code: reason,
                properties,
            }));
        }
    }

    /// A violation after CONNECT: DISCONNECT with `reason` (v5), close, will published.
    fn violation(&mut self, reason: ReasonCode, what: &'static str) {
        if self.phase == ServerPhase::Closed {
            return;
        }
        self.send_disconnect(reason);
        self.close(CloseReason::ProtocolViolation(reason, what), true);
    }

    fn protocol_violation(
        &mut self,
        reason: ReasonCode,
        what: &'static str,
        e: starling_codec::DecodeError,
    ) {
        if self.phase != ServerPhase::AwaitingConnect {
            self.violation(reason, what);
            return;
        }
        // A CONNECT that cannot be decoded: close (v5 [MQTT-3.1.4-1], v3.1.1 [MQTT-3.1.4-1]).
        // An unsupported version is answered first with 0x84 / return code 0x01, in the
        // format of the level the client asked for (v3.1.1 [MQTT-3.1.2-2], v5 [MQTT-3.1.2-2]).
        if let starling_codec::DecodeError::UnsupportedProtocolVersion { level } = e {
            self.version = if level == 5 {
                ProtocolVersion::V5
            } else {
                ProtocolVersion::V3_1_1
            };
            self.send(Packet::ConnAck(Box::new(starling_codec::ConnAck::new(
                reason,
            ))));
        }
        self.close_silently(CloseReason::ProtocolViolation(reason, what));
    }

    /// Closes without sending anything and without a will.
    fn close_silently(&mut self, reason: CloseReason) {
        self.close(reason, false);
    }

    fn close(&mut self, reason: CloseReason, publish_will: bool) {
        if self.phase == ServerPhase::Closed {
            return;
        }
        let was_connected = self.phase == ServerPhase::Connected;
        self.phase = ServerPhase::Closed;
        self.timers.stop_all();
        let will = if publish_will && was_connected {
            self.will.take()
        } else {
            None
        };
        self.emit(ServerEvent::Closed {
            reason,
            will,
            session_expiry_interval: self.session_expiry_interval,
        });
    }
}

fn decode_context(e: &starling_codec::DecodeError) -> &'static str {
    use starling_codec::DecodeError as E;
    match e {
        E::Malformed(s)
        | E::ProtocolError(s)
        | E::TopicNameInvalid(s)
        | E::TopicFilterInvalid(s)
        | E::TopicAliasInvalid(s) => s,
        E::PacketTooLarge { .. } => "packet too large",
        E::UnsupportedProtocolVersion { .. } => "unsupported protocol version",
        _ => "invalid packet",
    }
}

fn strip_problem_information(packet: &mut Packet) {
    let props = match packet {
        Packet::PubAck(a) => &mut a.properties,
        Packet::PubRec(a) => &mut a.properties,
        Packet::PubRel(a) => &mut a.properties,
        Packet::PubComp(a) => &mut a.properties,
        Packet::SubAck(a) => &mut a.properties,
        Packet::UnsubAck(a) => &mut a.properties,
        Packet::Disconnect(d) => {
            d.properties.reason_string = None;
            d.properties.user_properties.clear();
            return;
        }
        Packet::Auth(a) => {
            a.properties.reason_string = None;
            a.properties.user_properties.clear();
            return;
        }
        _ => return,
    };
    props.reason_string = None;
    props.user_properties.clear();
}
