//! Fuzzing entry points (compiled only with `--cfg fuzzing`, as cargo-fuzz builds, and in tests).
//!
//! The targets in `fuzz/fuzz_targets/` are one-liners calling these functions, and the
//! checked-in corpus (`fuzz/corpus/server_session/`, `fuzz/corpus/client_session/`) is replayed
//! by `cargo test` on stable (see the tests at the bottom of this file).
//!
//! Each input is a script: a few configuration bytes, then operations until the bytes run out.
//! An operation feeds raw bytes or a generated packet to the session, moves virtual time, or
//! runs a command with arguments read from the input. After every operation all outputs are
//! drained and checked:
//!
//! - nothing panics;
//! - every transmitted buffer (taken whole, or as chunks with large payloads shared) decodes as
//!   whole packets of the session's version, none larger than the peer's Maximum Packet Size;
//! - no new QoS 1/2 PUBLISH reuses a packet id whose flow has not finished, and a DUP PUBLISH or
//!   a PUBREL only uses one that has not;
//! - no more QoS 1/2 flows on the wire of a connection than the peer's Receive Maximum;
//! - `poll_timeout` is never in the past, and is after `now` right after `handle_timeout(now)`;
//! - exactly one `Closed` event, and after it nothing more is transmitted or reported;
//! - a successful `sub_ack` / `unsub_ack` on a live connection transmits the answer.
//!
//! They panic (through `assert!`) on a violated property: that is how a fuzzer learns of it.

use crate::{
    Accept, AuthMethod, AuthStep, ClientConfig, ClientEvent, ClientPhase, ClientSession,
    DeliveryOptions, Message, PublishRequest, ServerConfig, ServerEvent, ServerPhase,
    ServerSession, SessionState,
};
use bytes::{Bytes, BytesMut};
use starling_codec::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    Disconnect, DisconnectProperties, MqttStr, Packet, PacketId, ProtocolVersion, PubAck, PubComp,
    PubRec, PubRel, Publish, PublishProperties, QoS, QosPid, ReasonCode, RetainHandling, SubAck,
    Subscribe, SubscribeProperties, SubscriptionOptions, TopicFilter, TopicName, UnsubAck,
    Unsubscribe, UnsubscribeProperties, Will, WillProperties, MAX_PACKET_SIZE,
};
use std::{
    collections::{HashSet, VecDeque},
    num::{NonZeroU16, NonZeroU32},
    time::{Duration, Instant},
};

/// Drives a [`ServerSession`] with the operations encoded in `data`; panics if a property
/// listed in the module docs is violated.
///
/// Byte 0 configures the server (receive maximum, topic alias maximum, maximum QoS, retain,
/// keep alive limit, queue policy, an enhanced authentication method named `fz`); then each
/// operation is one byte (modulo 14) followed by its arguments:
///
/// | op | action |
/// |---|---|
/// | 0 | `handle_bytes` with the next `n` raw bytes (`n` is one byte) |
/// | 1 | a generated client packet, encoded, through `handle_bytes` |
/// | 2 | a generated packet of any type through `handle_packet` |
/// | 3, 4 | advance time a little / to the next deadline, `handle_timeout` |
/// | 5 | `accept` (assigned id, resuming the previous connection's state) |
/// | 6 | `reject` |
/// | 7 | `ack_publish` |
/// | 8 | `sub_ack` |
/// | 9 | `unsub_ack` |
/// | 10 | `deliver` |
/// | 11 | `disconnect` |
/// | 12 | `handle_transport_closed` |
/// | 13 | `into_state` and a new connection that will resume it |
pub fn server_session(data: &[u8]) {
    let mut input = Input { data };
    let mut h = ServerHarness::new(&mut input);
    while !input.is_empty() {
        h.step(&mut input);
    }
}

/// Drives a [`ClientSession`] with the operations encoded in `data`; panics if a property
/// listed in the module docs is violated.
///
/// Bytes 0–1 configure the client (version, clean start, keep alive, receive maximum, topic
/// alias maximum, maximum packet size, session expiry, authentication method `fz`); then each
/// operation is one byte (modulo 13) followed by its arguments:
///
/// | op | action |
/// |---|---|
/// | 0 | `handle_bytes` with the next `n` raw bytes (`n` is one byte) |
/// | 1 | a generated server packet, encoded, through `handle_bytes` |
/// | 2 | a generated packet of any type through `handle_packet` |
/// | 3, 4 | advance time a little / to the next deadline, `handle_timeout` |
/// | 5 | `publish` |
/// | 6 | `subscribe` |
/// | 7 | `unsubscribe` |
/// | 8 | `disconnect` |
/// | 9 | `auth` |
/// | 10 | `handle_transport_closed` |
/// | 11 | `into_state` and `ClientSession::resume` on a new connection |
/// | 12 | advance time by up to 18 hours, `handle_timeout` |
pub fn client_session(data: &[u8]) {
    let mut input = Input { data };
    let mut h = ClientHarness::new(&mut input);
    while !input.is_empty() {
        h.step(&mut input);
    }
}

// ----- input -----

/// The fuzzer's bytes, read front to back. Reading past the end yields zeros.
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }

    fn bool(&mut self) -> bool {
        self.byte() & 1 != 0
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Any reason code, valid for the packet at hand or not (the session must cope).
    fn reason(&mut self) -> ReasonCode {
        ReasonCode::from_u8(self.byte()).unwrap_or(ReasonCode::Success)
    }

    fn qos(&mut self) -> QoS {
        QoS::from_u8(self.byte() % 3).unwrap_or(QoS::AtMostOnce)
    }

    fn payload(&mut self) -> Bytes {
        let n = match self.below(9) {
            7 => 300,
            // Sent without a copy (attached after its header): see `take_output`.
            8 => crate::ZERO_COPY_MIN_PAYLOAD + self.below(3),
            n => n * 3,
        };
        Bytes::from(vec![b'p'; n])
    }

    fn topic(&mut self) -> TopicName {
        let s = self.pick(TOPICS);
        match TopicName::from_static(s) {
            Ok(t) => t,
            Err(e) => panic!("bad fuzz topic {s:?}: {e}"),
        }
    }

    fn filter(&mut self) -> TopicFilter {
        let s = self.pick(FILTERS);
        match TopicFilter::from_static(s) {
            Ok(f) => f,
            Err(e) => panic!("bad fuzz filter {s:?}: {e}"),
        }
    }

    fn string(&mut self) -> MqttStr {
        mqtt_str(self.pick(STRINGS))
    }

    fn data(&mut self) -> Option<Bytes> {
        self.bool()
            .then(|| Bytes::copy_from_slice(&[self.byte(), self.byte()]))
    }

    /// A packet id: often one the session used recently, else a small one.
    fn packet_id(&mut self, recent: &[u16]) -> PacketId {
        let raw = if !recent.is_empty() && self.bool() {
            recent[self.below(recent.len())]
        } else {
            1 + u16::from(self.byte() % 8)
        };
        PacketId::new(raw).unwrap_or(PacketId::from(NonZeroU16::MIN))
    }

    fn version(&mut self) -> ProtocolVersion {
        match self.byte() % 4 {
            0 => ProtocolVersion::V3_1,
            1 => ProtocolVersion::V3_1_1,
            _ => ProtocolVersion::V5,
        }
    }

    fn small_receive_maximum(&mut self) -> Option<NonZeroU16> {
        NonZeroU16::new(u16::from(self.byte() % 6))
    }

    fn max_packet_size(&mut self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.pick(&[0, 0, 24, 64, 200, 4096]))
    }

    fn publish(&mut self, version: ProtocolVersion, recent: &[u16]) -> Publish {
        let qos = self.qos();
        let id = self.packet_id(recent);
        let mut properties = PublishProperties::default();
        let mut topic = self.topic();
        if version.is_v5() {
            if self.bool() {
                properties.topic_alias = NonZeroU16::new(u16::from(self.byte() % 5));
                if properties.topic_alias.is_some() && self.bool() {
                    topic = TopicName::empty();
                }
            }
            if self.bool() {
                properties.message_expiry_interval = Some(u32::from(self.byte() % 4));
            }
            if self.bool() {
                properties.subscription_identifiers = NonZeroU32::new(1 + u32::from(self.byte()))
                    .into_iter()
                    .collect();
            }
            if self.bool() {
                properties.user_properties = vec![(self.string(), self.string())];
            }
        }
        // Drawn in this order (dup, retain, payload) so the seed corpus keeps its meaning.
        let dup = self.bool() && qos != QoS::AtMostOnce;
        let retain = self.bool();
        Publish::new(topic, QosPid::new(qos, id), self.payload())
            .with_dup(dup)
            .with_retain(retain)
            .with_properties(properties)
    }

    fn ack_properties(&mut self) -> AckProperties {
        let mut p = AckProperties::default();
        if self.bool() {
            p.reason_string = Some(self.string());
        }
        p
    }

    /// A packet a client sends (and, rarely, one only servers send).
    fn client_packet(&mut self, version: ProtocolVersion, recent: &[u16]) -> Packet {
        match self.below(13) {
            0 => Packet::Connect(Box::new(self.connect())),
            1 => Packet::Publish(self.publish(version, recent)),
            2 => Packet::PubAck(PubAck {
                packet_id: self.packet_id(recent),
                reason_code: self.reason(),
                properties: self.ack_properties(),
            }),
            3 => Packet::PubRec(PubRec {
                packet_id: self.packet_id(recent),
                reason_code: self.reason(),
                properties: self.ack_properties(),
            }),
            4 => Packet::PubRel(PubRel {
                packet_id: self.packet_id(recent),
                reason_code: self.reason(),
                properties: self.ack_properties(),
            }),
            5 => Packet::PubComp(PubComp {
                packet_id: self.packet_id(recent),
                reason_code: self.reason(),
                properties: self.ack_properties(),
            }),
            6 => {
                let n = 1 + self.below(3);
                let filters = (0..n)
                    .map(|_| (self.filter(), self.subscription_options(version)))
                    .collect();
                let mut properties = SubscribeProperties::default();
                if version.is_v5() && self.bool() {
                    properties.subscription_identifier = NonZeroU32::new(u32::from(self.byte()));
                }
                Packet::Subscribe(Subscribe {
                    packet_id: self.packet_id(recent),
                    filters,
                    properties,
                })
            }
            7 => {
                let n = 1 + self.below(3);
                Packet::Unsubscribe(Unsubscribe {
                    packet_id: self.packet_id(recent),
                    filters: (0..n).map(|_| self.filter()).collect(),
                    properties: UnsubscribeProperties::default(),
                })
            }
            8 => Packet::PingReq,
            9 => {
                let mut properties = DisconnectProperties::default();
                if self.bool() {
                    properties.session_expiry_interval = Some(u32::from(self.byte() % 3));
                }
                Packet::Disconnect(Disconnect {
                    reason_code: self.reason(),
                    properties,
                })
            }
            10 => Packet::Auth(self.auth()),
            11 => self.server_packet(version, recent),
            _ => Packet::PingReq,
        }
    }

    fn subscription_options(&mut self, version: ProtocolVersion) -> SubscriptionOptions {
        let mut o = SubscriptionOptions::new(self.qos());
        if version.is_v5() {
            let bits = self.byte();
            o.no_local = bits & 1 != 0;
            o.retain_as_published = bits & 2 != 0;
            o.retain_handling = match (bits >> 2) % 3 {
                0 => RetainHandling::SendAtSubscribe,
                1 => RetainHandling::SendAtSubscribeIfNew,
                _ => RetainHandling::DoNotSend,
            };
        }
        o
    }

    fn auth(&mut self) -> Auth {
        let mut properties = AuthProperties::default();
        properties.authentication_method = match self.below(3) {
            0 => None,
            1 => Some(mqtt_str(AUTH_METHOD)),
            _ => Some(self.string()),
        };
        properties.authentication_data = self.data();
        Auth {
            reason_code: self.pick(&[
                ReasonCode::Success,
                ReasonCode::ContinueAuthentication,
                ReasonCode::ReAuthenticate,
            ]),
            properties,
        }
    }

    fn connect(&mut self) -> Connect {
        let version = self.version();
        let v5 = version.is_v5();
        let mut properties = ConnectProperties::default();
        if v5 {
            let bits = self.byte();
            if bits & 1 != 0 {
                properties.session_expiry_interval = Some(self.pick(&[0, 1, 60, u32::MAX]));
            }
            if bits & 2 != 0 {
                properties.receive_maximum = self.small_receive_maximum();
            }
            if bits & 4 != 0 {
                properties.maximum_packet_size = self.max_packet_size();
            }
            if bits & 8 != 0 {
                properties.topic_alias_maximum = Some(u16::from(self.byte() % 4));
            }
            if bits & 16 != 0 {
                properties.request_problem_information = Some(self.bool());
            }
            if bits & 32 != 0 {
                properties.request_response_information = Some(self.bool());
            }
            if bits & 64 != 0 {
                properties.authentication_method = Some(if self.bool() {
                    mqtt_str(AUTH_METHOD)
                } else {
                    self.string()
                });
                properties.authentication_data = self.data();
            }
        }
        let will = self.bool().then(|| {
            let mut properties = WillProperties::default();
            if v5 && self.bool() {
                properties.will_delay_interval = Some(u32::from(self.byte() % 3));
            }
            Will {
                topic: self.topic(),
                payload: self.payload(),
                qos: self.qos(),
                retain: self.bool(),
                properties,
            }
        });
        let username = self.bool().then(|| self.string());
        let password = (username.is_some() || v5).then(|| self.data()).flatten();
        Connect {
            protocol: version,
            clean_start: self.bool(),
            keep_alive: self.pick(&[0, 1, 2, 5, 60, u16::MAX]),
            client_id: mqtt_str(self.pick(CLIENT_IDS)),
            will,
            username,
            password,
            properties,
        }
    }

    /// A packet a server sends (and, rarely, one only clients send).
    fn server_packet(&mut self, version: ProtocolVersion, recent: &[u16]) -> Packet {
        match self.below(12) {
            0 | 1 => Packet::ConnAck(Box::new(self.connack(version))),
            2 => Packet::Publish(self.publish(version, recent)),
            3 => Packet::PubAck(PubAck {
                packet_id: self.packet_id(recent),
                reason_code: self.reason(),
                properties: self.ack_properties(),
            }),
            4 => Packet::PubRec(PubRec {
                packet_id: self.packet_id(recent),
                reason_code: self.reason(),
                properties: self.ack_properties(),
            }),
            5 => Packet::PubRel(PubRel {
                packet_id: self.packet_id(recent),
                reason_code: self.reason(),
                properties: self.ack_properties(),
            }),
            6 => Packet::PubComp(PubComp {
                packet_id: self.packet_id(recent),
                reason_code: self.reason(),
                properties: self.ack_properties(),
            }),
            7 => {
                let n = 1 + self.below(3);
                Packet::SubAck(SubAck {
                    packet_id: self.packet_id(recent),
                    reason_codes: (0..n).map(|_| self.pick(SUBACK_CODES)).collect(),
                    properties: self.ack_properties(),
                })
            }
            8 => {
                let n = if version.is_v5() {
                    1 + self.below(3)
                } else {
                    0
                };
                Packet::UnsubAck(UnsubAck {
                    packet_id: self.packet_id(recent),
                    reason_codes: (0..n).map(|_| self.pick(UNSUBACK_CODES)).collect(),
                    properties: self.ack_properties(),
                })
            }
            9 => Packet::PingResp,
            10 => Packet::Disconnect(Disconnect::new(self.reason())),
            _ => Packet::Auth(self.auth()),
        }
    }

    fn connack(&mut self, version: ProtocolVersion) -> ConnAck {
        let reason_code = if self.below(4) == 0 {
            self.reason()
        } else {
            ReasonCode::Success
        };
        let mut properties = ConnAckProperties::default();
        if version.is_v5() {
            let bits = self.u16();
            if bits & 1 != 0 {
                properties.receive_maximum = self.small_receive_maximum();
            }
            if bits & 2 != 0 {
                properties.maximum_qos = Some(if self.bool() {
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                });
            }
            if bits & 4 != 0 {
                properties.retain_available = Some(self.bool());
            }
            if bits & 8 != 0 {
                properties.maximum_packet_size = self.max_packet_size();
            }
            if bits & 16 != 0 {
                properties.topic_alias_maximum = Some(u16::from(self.byte() % 4));
            }
            if bits & 32 != 0 {
                properties.server_keep_alive = Some(self.pick(&[0, 1, 3, 60]));
            }
            if bits & 64 != 0 {
                properties.assigned_client_identifier = Some(self.string());
            }
            if bits & 128 != 0 {
                properties.authentication_method = Some(mqtt_str(AUTH_METHOD));
                properties.authentication_data = self.data();
            }
            if bits & 256 != 0 {
                properties.session_expiry_interval = Some(u32::from(self.byte()));
            }
        }
        ConnAck {
            session_present: self.bool(),
            reason_code,
            properties,
        }
    }
}

const TOPICS: &[&str] = &["a", "a/b", "a/b/c", "b", "$SYS/x", "x/y/z"];
const FILTERS: &[&str] = &[
    "a",
    "a/#",
    "+/b",
    "#",
    "a/+/c",
    "$SYS/#",
    "$share/g/a/#",
    "b",
];
const STRINGS: &[&str] = &["", "s", "fz", "other", "user"];
const CLIENT_IDS: &[&str] = &["", "c", "client-1", "a-client-identifier-longer-than-23"];
const SUBACK_CODES: &[ReasonCode] = &[
    ReasonCode::Success,
    ReasonCode::GrantedQoS1,
    ReasonCode::GrantedQoS2,
    ReasonCode::UnspecifiedError,
    ReasonCode::NotAuthorized,
];
const UNSUBACK_CODES: &[ReasonCode] = &[
    ReasonCode::Success,
    ReasonCode::NoSubscriptionExisted,
    ReasonCode::UnspecifiedError,
];
const AUTH_METHOD: &str = "fz";

fn mqtt_str(s: &'static str) -> MqttStr {
    match MqttStr::from_static(s) {
        Ok(m) => m,
        Err(e) => panic!("bad fuzz string {s:?}: {e}"),
    }
}

/// An enhanced authentication method driven by the data it is given: the first byte of the
/// data decides (none or 0: success, 1: continue, else failure with that code).
struct FuzzAuth;

impl FuzzAuth {
    fn decide(data: Option<&Bytes>) -> AuthStep {
        match data.and_then(|d| d.first().copied()) {
            None | Some(0) => AuthStep::Success(data.cloned()),
            Some(1) => AuthStep::Continue(Some(Bytes::from_static(b"challenge"))),
            Some(b) => AuthStep::Failure(ReasonCode::from_u8(b).unwrap_or(ReasonCode::Success)),
        }
    }
}

impl AuthMethod for FuzzAuth {
    fn name(&self) -> &str {
        AUTH_METHOD
    }

    fn start(&mut self, _client_id: &str, data: Option<&Bytes>) -> AuthStep {
        FuzzAuth::decide(data)
    }

    fn step(&mut self, data: Option<&Bytes>) -> AuthStep {
        FuzzAuth::decide(data)
    }
}

// ----- checks shared by both sides -----

/// Prints a step of the script when `cargo test` runs with `STARLING_FUZZ_TRACE` set (see the
/// `replay` test); compiled out of fuzzing builds.
fn trace(what: std::fmt::Arguments<'_>) {
    if cfg!(test) && std::env::var_os("STARLING_FUZZ_TRACE").is_some() {
        eprintln!("{what}");
    }
}

/// A session's output, taken either way.
trait Output {
    fn poll_transmit(&mut self) -> Option<Bytes>;
    fn transmit_chunks(&mut self, out: &mut VecDeque<Bytes>);
}

impl Output for ServerSession {
    fn poll_transmit(&mut self) -> Option<Bytes> {
        ServerSession::poll_transmit(self)
    }
    fn transmit_chunks(&mut self, out: &mut VecDeque<Bytes>) {
        ServerSession::transmit_chunks(self, out);
    }
}

impl Output for ClientSession {
    fn poll_transmit(&mut self) -> Option<Bytes> {
        ClientSession::poll_transmit(self)
    }
    fn transmit_chunks(&mut self, out: &mut VecDeque<Bytes>) {
        ClientSession::transmit_chunks(self, out);
    }
}

/// Everything the session transmitted, as one buffer: taken whole (`poll_transmit`, large
/// payloads copied in) and, every other time, as chunks (`transmit_chunks`, large payloads
/// shared) joined here, so every property is checked on both ways of taking the output.
fn take_output(session: &mut impl Output, chunked: &mut bool) -> Option<Bytes> {
    *chunked = !*chunked;
    if !*chunked {
        return session.poll_transmit();
    }
    let mut chunks = VecDeque::new();
    session.transmit_chunks(&mut chunks);
    assert!(chunks.iter().all(|c| !c.is_empty()), "an empty chunk");
    let joined: Bytes = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    assert!(
        session.poll_transmit().is_none(),
        "output left after taking chunks"
    );
    (!joined.is_empty()).then_some(joined)
}

/// Decodes a transmitted buffer: whole packets of `version`, each at most `max` bytes.
fn decode_transmit(bytes: &Bytes, version: ProtocolVersion, max: u32) -> Vec<Packet> {
    trace(format_args!("  transmit {version} {bytes:02x?}"));
    let mut buf = BytesMut::from(&bytes[..]);
    let mut packets = Vec::new();
    while !buf.is_empty() {
        let before = buf.len();
        match Packet::decode(version, &mut buf, MAX_PACKET_SIZE) {
            Ok(Some(p)) => {
                let len = before - buf.len();
                assert!(
                    len <= max as usize,
                    "transmitted a {len}-byte packet, peer maximum {max}: {p:?}"
                );
                packets.push(p);
            }
            other => {
                panic!("transmitted bytes do not decode as {version}: {other:?}: {bytes:02x?}")
            }
        }
    }
    packets
}

/// Packet ids of outbound QoS 1/2 flows: a new PUBLISH must not reuse an unfinished one; a DUP
/// PUBLISH or a PUBREL must belong to one.
/// Also counts the flows whose PUBLISH went out on the current connection, which the peer's
/// Receive Maximum bounds (v5 [MQTT-3.3.4-7], v5 [MQTT-3.3.4-9]; a PUBREL resent for a PUBLISH of
/// an earlier connection takes no quota, v5 §4.9).
#[derive(Default)]
struct OutboundIds {
    open: HashSet<u16>,
    on_wire: HashSet<u16>,
    /// Flows reported finished during the current step: forgotten only once the step's
    /// transmit buffer is read, since it may still hold their PUBLISH (say a DUP resend sent
    /// on accept before a deferred PUBACK was handled).
    finishing: HashSet<u16>,
}

impl OutboundIds {
    fn sent(&mut self, packet: &Packet, side: &str) {
        match packet {
            Packet::Publish(p) => {
                let Some(id) = p.qos_pid.packet_id() else {
                    return;
                };
                self.on_wire.insert(id.get());
                if p.dup {
                    assert!(
                        self.open.contains(&id.get()),
                        "{side} resent PUBLISH {id:?} with no open flow"
                    );
                } else if !self.open.insert(id.get()) {
                    // Only an id whose flow finished earlier in this step may be reused.
                    assert!(
                        self.finishing.remove(&id.get()),
                        "{side} reused packet id {id:?} of an unfinished flow"
                    );
                }
            }
            Packet::PubRel(r) => {
                assert!(
                    self.open.contains(&r.packet_id.get()),
                    "{side} sent PUBREL {:?} with no open flow",
                    r.packet_id
                );
            }
            _ => {}
        }
    }

    fn finished(&mut self, id: PacketId) {
        self.finishing.insert(id.get());
    }

    /// End of a step: the finished flows are gone.
    fn settle(&mut self) {
        for id in self.finishing.drain() {
            self.open.remove(&id);
            self.on_wire.remove(&id);
        }
    }

    /// Forgets flows the session has finished. Within one step an acknowledgement can be
    /// handled (and its `Delivered`/`Published` event seen) before the harness reads the
    /// PUBLISH it acknowledges from the transmit buffer; without this the flow would stay
    /// "on the wire" forever in the harness's books.
    fn forget_finished(&mut self, live: impl Fn(u16) -> bool) {
        self.open.retain(|id| live(*id));
        self.on_wire.retain(|id| live(*id));
    }

    fn check_quota(&self, side: &str, receive_maximum: usize) {
        assert!(
            self.on_wire.len() <= receive_maximum,
            "{side} has {} flows on the wire, peer receive maximum {receive_maximum}",
            self.on_wire.len()
        );
    }

    fn reset_to(&mut self, state: &SessionState) {
        self.on_wire.clear();
        self.finishing.clear();
        self.open = state
            .inflight
            .iter()
            .filter_map(|f| f.publish.qos_pid.packet_id())
            .map(PacketId::get)
            .collect();
    }
}

fn check_timeout(next: Option<Instant>, now: Instant, after_handle_timeout: bool) {
    if let Some(at) = next {
        assert!(at >= now, "poll_timeout is in the past");
        if after_handle_timeout {
            assert!(
                at > now,
                "poll_timeout is due right after handle_timeout(now)"
            );
        }
    }
}

fn remember(recent: &mut Vec<u16>, id: PacketId) {
    if recent.len() >= 16 {
        recent.remove(0);
    }
    recent.push(id.get());
}

// ----- server -----

struct ServerHarness {
    config: ServerConfig,
    with_auth: bool,
    session: ServerSession,
    now: Instant,
    rx: BytesMut,
    /// The previous connection's state, resumed by the next `accept`.
    stashed: Option<SessionState>,
    pending_publish: Vec<PacketId>,
    pending_subscribe: Vec<(PacketId, usize)>,
    pending_unsubscribe: Vec<(PacketId, usize)>,
    recent: Vec<u16>,
    ids: OutboundIds,
    closed: bool,
    /// The accepted CONNECT's Maximum Packet Size and Receive Maximum (the session lets the
    /// CONNECT go once accepted).
    accepted_limits: (u32, usize),
    /// How the next output is taken (see `take_output`).
    chunked: bool,
}

impl ServerHarness {
    fn new(input: &mut Input<'_>) -> ServerHarness {
        let bits = input.byte();
        let mut config = ServerConfig {
            receive_maximum: 1 + u16::from(bits & 3),
            topic_alias_maximum: u16::from((bits >> 2) & 3),
            ..ServerConfig::default()
        };
        if bits & 0x10 != 0 {
            config.maximum_qos = QoS::AtLeastOnce;
            config.retain_available = false;
            config.max_packet_size = 256;
        }
        if bits & 0x20 != 0 {
            config.max_keep_alive = 10;
            config.max_queued_messages = 2;
        }
        if bits & 0x40 != 0 {
            config.queue_policy = crate::QueuePolicy::DropOldest;
            config.max_queued_bytes = 400;
            config.wildcard_subscription_available = false;
            config.shared_subscription_available = false;
            config.subscription_identifiers_available = false;
        }
        let now = Instant::now();
        let with_auth = bits & 0x80 != 0;
        let session = Self::session(now, &config, with_auth);
        ServerHarness {
            config,
            with_auth,
            session,
            now,
            rx: BytesMut::new(),
            stashed: None,
            pending_publish: Vec::new(),
            pending_subscribe: Vec::new(),
            pending_unsubscribe: Vec::new(),
            recent: Vec::new(),
            ids: OutboundIds::default(),
            closed: false,
            accepted_limits: (MAX_PACKET_SIZE, usize::from(u16::MAX)),
            chunked: false,
        }
    }

    fn session(now: Instant, config: &ServerConfig, with_auth: bool) -> ServerSession {
        let session = ServerSession::new(now, config.clone());
        if with_auth {
            session.with_auth_method(Box::new(FuzzAuth))
        } else {
            session
        }
    }

    fn peer_max_packet_size(&self) -> u32 {
        match self.session.connect_info() {
            Some(i) => i
                .properties
                .maximum_packet_size
                .map_or(MAX_PACKET_SIZE, NonZeroU32::get),
            None => self.accepted_limits.0,
        }
    }

    fn peer_receive_maximum(&self) -> usize {
        match self.session.connect_info() {
            Some(i) => i
                .properties
                .receive_maximum
                .map_or(usize::from(u16::MAX), |r| usize::from(r.get())),
            None => self.accepted_limits.1,
        }
    }

    fn step(&mut self, input: &mut Input<'_>) {
        let was_closed = self.closed;
        let mut timed_out = false;
        // Set when a command succeeded that must put an answer on the wire.
        let mut must_transmit = false;
        let connected = self.session.phase() == ServerPhase::Connected;
        let op = input.below(14);
        trace(format_args!("server op {op} at {:?}", self.now));
        match op {
            0 => {
                let n = usize::from(input.byte());
                self.rx.extend_from_slice(input.take(n));
                self.session.handle_bytes(self.now, &mut self.rx);
            }
            1 => {
                let packet = input.client_packet(self.session.version(), &self.recent);
                let version = match &packet {
                    Packet::Connect(c) => c.protocol,
                    _ => self.session.version(),
                };
                if packet.encode(version, &mut self.rx).is_ok() {
                    self.session.handle_bytes(self.now, &mut self.rx);
                }
            }
            2 => {
                let packet = input.client_packet(self.session.version(), &self.recent);
                self.session.handle_packet(self.now, packet);
            }
            3 => {
                self.now += Duration::from_millis(u64::from(input.u16()) * 4);
                self.session.handle_timeout(self.now);
                timed_out = true;
            }
            4 => {
                if let Some(at) = self.session.poll_timeout() {
                    self.now = self.now.max(at);
                }
                self.session.handle_timeout(self.now);
                timed_out = true;
            }
            5 => {
                let mut accept = Accept::new();
                if input.bool() {
                    accept = accept.assign_client_id(input.string());
                }
                if input.bool() {
                    accept.response_information = Some(input.string());
                }
                let resume = input.bool().then(|| self.stashed.clone()).flatten();
                let clean_start = self.session.connect_info().is_none_or(|i| i.clean_start);
                let resumed = resume.is_some() && !clean_start;
                if let Some(state) = resume {
                    accept = accept.resume(state);
                }
                let limits = (self.peer_max_packet_size(), self.peer_receive_maximum());
                let accepted = self.session.accept(self.now, accept).is_ok();
                if accepted {
                    self.accepted_limits = limits;
                }
                if accepted && !resumed {
                    self.ids = OutboundIds::default();
                }
                // What waited for the decision.
                self.session.handle_bytes(self.now, &mut self.rx);
            }
            6 => {
                let _ = self.session.reject(input.reason());
                self.session.handle_bytes(self.now, &mut self.rx);
            }
            7 => {
                let id = if !self.pending_publish.is_empty() && input.bool() {
                    let i = input.below(self.pending_publish.len());
                    self.pending_publish.swap_remove(i)
                } else {
                    input.packet_id(&self.recent)
                };
                let _ = self.session.ack_publish(id, input.reason());
            }
            8 => {
                let (id, n) = if !self.pending_subscribe.is_empty() && input.bool() {
                    let i = input.below(self.pending_subscribe.len());
                    self.pending_subscribe.swap_remove(i)
                } else {
                    (input.packet_id(&self.recent), 1 + input.below(3))
                };
                let codes = (0..n).map(|_| input.reason()).collect();
                must_transmit = self.session.sub_ack(id, codes).is_ok() && connected;
            }
            9 => {
                let (id, n) = if !self.pending_unsubscribe.is_empty() && input.bool() {
                    let i = input.below(self.pending_unsubscribe.len());
                    self.pending_unsubscribe.swap_remove(i)
                } else {
                    (input.packet_id(&self.recent), 1 + input.below(3))
                };
                let codes = input
                    .bool()
                    .then(|| (0..n).map(|_| input.reason()).collect());
                must_transmit = self.session.unsub_ack(id, codes).is_ok() && connected;
            }
            10 => {
                let mut message = Message::new(input.topic(), input.payload(), input.qos(), false);
                message.retain = input.bool();
                if input.bool() {
                    message.expires_at =
                        Some(self.now + Duration::from_millis(u64::from(input.u16())));
                }
                if input.bool() {
                    message.properties.user_properties = vec![(input.string(), input.string())];
                }
                let bits = input.byte();
                let options = DeliveryOptions {
                    qos: input.qos(),
                    retain_as_published: bits & 1 != 0,
                    from_retained: bits & 2 != 0,
                    subscription_identifiers: NonZeroU32::new(u32::from(bits >> 4))
                        .into_iter()
                        .collect(),
                    shared_group: (bits & 4 != 0).then(|| std::sync::Arc::from("g")),
                };
                // Bit 3: as a broker fanning out a shared message does.
                let _ = if bits & 8 != 0 {
                    self.session
                        .deliver_shared(self.now, std::sync::Arc::new(message), options)
                } else {
                    self.session.deliver(self.now, message, options)
                };
            }
            11 => self.session.disconnect(input.reason()),
            12 => self.session.handle_transport_closed(self.now),
            _ => {
                let old = std::mem::replace(
                    &mut self.session,
                    Self::session(self.now, &self.config, self.with_auth),
                );
                let state = old.into_state();
                self.ids.reset_to(&state);
                self.stashed = Some(state);
                self.rx.clear();
                self.pending_publish.clear();
                self.pending_subscribe.clear();
                self.pending_unsubscribe.clear();
                self.closed = false;
                self.drain(false, false, false);
                return;
            }
        }
        self.drain(was_closed, timed_out, must_transmit);
    }

    fn drain(&mut self, was_closed: bool, timed_out: bool, must_transmit: bool) {
        while let Some(event) = self.session.poll_event() {
            trace(format_args!("  server event {event:?}"));
            assert!(!was_closed, "server event after Closed: {event:?}");
            match event {
                ServerEvent::Publish {
                    packet_id: Some(id),
                    ..
                } => self.pending_publish.push(id),
                ServerEvent::Subscribe {
                    packet_id,
                    subscriptions,
                    ..
                } => self
                    .pending_subscribe
                    .push((packet_id, subscriptions.len())),
                ServerEvent::Unsubscribe { packet_id, filters } => {
                    self.pending_unsubscribe.push((packet_id, filters.len()));
                }
                ServerEvent::Delivered { packet_id, .. } => self.ids.finished(packet_id),
                ServerEvent::Closed { .. } => {
                    assert!(!self.closed, "a second Closed event");
                    self.closed = true;
                }
                _ => {}
            }
        }
        let max = self.peer_max_packet_size();
        let mut answered = false;
        if let Some(bytes) = take_output(&mut self.session, &mut self.chunked) {
            assert!(
                !was_closed,
                "server transmitted after Closed: {:?}",
                decode_transmit(&bytes, self.session.version(), MAX_PACKET_SIZE)
            );
            for packet in decode_transmit(&bytes, self.session.version(), max) {
                self.ids.sent(&packet, "server");
                answered |= matches!(packet, Packet::SubAck(_) | Packet::UnsubAck(_));
                match &packet {
                    Packet::Publish(p) => {
                        if let Some(id) = p.qos_pid.packet_id() {
                            remember(&mut self.recent, id);
                        }
                    }
                    Packet::PubRel(r) => remember(&mut self.recent, r.packet_id),
                    _ => {}
                }
            }
        }
        if must_transmit && max >= 1024 {
            assert!(answered, "sub_ack/unsub_ack succeeded but nothing was sent");
        }
        self.ids.settle();
        if self.session.phase() == ServerPhase::Connected {
            let session = &self.session;
            self.ids.forget_finished(|id| session.has_inflight(id));
            self.ids.check_quota("server", self.peer_receive_maximum());
        }
        check_timeout(self.session.poll_timeout(), self.now, timed_out);
    }
}

// ----- client -----

struct ClientHarness {
    config: ClientConfig,
    session: ClientSession,
    now: Instant,
    rx: BytesMut,
    server_receive_maximum: usize,
    server_max_packet_size: u32,
    /// SUBSCRIBE / UNSUBSCRIBE ids awaiting their answer.
    requests: HashSet<u16>,
    recent: Vec<u16>,
    ids: OutboundIds,
    closed: bool,
    /// How the next output is taken (see `take_output`).
    chunked: bool,
}

impl ClientHarness {
    fn new(input: &mut Input<'_>) -> ClientHarness {
        let version = input.version();
        let bits = input.byte();
        let mut config = ClientConfig::new(version, mqtt_str("fuzz-client"));
        config.clean_start = bits & 1 != 0;
        config.keep_alive = [0, 1, 5, 60][usize::from((bits >> 1) & 3)];
        config.use_topic_aliases = bits & 8 != 0;
        config.response_timeout = Duration::from_secs(u64::from((bits >> 4) & 3) + 1);
        if version.is_v5() {
            let p = &mut config.properties;
            p.receive_maximum = input.small_receive_maximum();
            p.topic_alias_maximum = Some(u16::from(input.byte() % 4));
            p.maximum_packet_size = input.max_packet_size();
            p.session_expiry_interval = Some(u32::from(input.byte() % 3));
            if bits & 0x40 != 0 {
                p.authentication_method = Some(mqtt_str(AUTH_METHOD));
            }
        }
        let now = Instant::now();
        let session = ClientSession::new(now, config.clone());
        let mut h = ClientHarness {
            config,
            session,
            now,
            rx: BytesMut::new(),
            server_receive_maximum: usize::from(u16::MAX),
            server_max_packet_size: MAX_PACKET_SIZE,
            requests: HashSet::new(),
            recent: Vec::new(),
            ids: OutboundIds::default(),
            closed: false,
            chunked: false,
        };
        h.drain(false, false);
        h
    }

    fn step(&mut self, input: &mut Input<'_>) {
        let was_closed = self.closed;
        let mut timed_out = false;
        let version = self.session.version();
        let op = input.below(13);
        trace(format_args!("client op {op} at {:?}", self.now));
        match op {
            0 => {
                let n = usize::from(input.byte());
                self.rx.extend_from_slice(input.take(n));
                self.session.handle_bytes(self.now, &mut self.rx);
            }
            1 => {
                let packet = input.server_packet(version, &self.recent);
                if packet.encode(version, &mut self.rx).is_ok() {
                    self.session.handle_bytes(self.now, &mut self.rx);
                }
            }
            2 => {
                let packet = input.client_packet(version, &self.recent);
                self.session.handle_packet(self.now, packet);
            }
            3 => {
                self.now += Duration::from_millis(u64::from(input.u16()) * 4);
                self.session.handle_timeout(self.now);
                timed_out = true;
            }
            4 => {
                if let Some(at) = self.session.poll_timeout() {
                    self.now = self.now.max(at);
                }
                self.session.handle_timeout(self.now);
                timed_out = true;
            }
            5 => {
                let mut request = PublishRequest::new(input.topic(), input.payload(), input.qos());
                request.retain = input.bool();
                if version.is_v5() && input.bool() {
                    request.properties.message_expiry_interval = Some(u32::from(input.byte()));
                    request.properties.user_properties = vec![(input.string(), input.string())];
                }
                let _ = self.session.publish(self.now, request);
            }
            6 => {
                let n = input.below(3);
                let filters = (0..n)
                    .map(|_| (input.filter(), input.subscription_options(version)))
                    .collect();
                let identifier = input
                    .bool()
                    .then(|| NonZeroU32::new(u32::from(input.byte())))
                    .flatten();
                let _ = self
                    .session
                    .subscribe(filters, identifier, SubscribeProperties::default());
            }
            7 => {
                let n = input.below(3);
                let filters = (0..n).map(|_| input.filter()).collect();
                let _ = self
                    .session
                    .unsubscribe(filters, UnsubscribeProperties::default());
            }
            8 => {
                let mut properties = DisconnectProperties::default();
                if input.bool() {
                    properties.session_expiry_interval = Some(u32::from(input.byte() % 3));
                }
                self.session.disconnect(input.reason(), properties);
            }
            9 => {
                let _ = self.session.auth(input.reason(), input.data());
            }
            10 => self.session.handle_transport_closed(self.now),
            11 => {
                let mut config = self.config.clone();
                config.clean_start = input.bool();
                let old = std::mem::replace(
                    &mut self.session,
                    ClientSession::new(self.now, config.clone()),
                );
                let state = old.into_state();
                self.ids.reset_to(&state);
                self.session = ClientSession::resume(self.now, config, state);
                self.rx.clear();
                self.requests.clear();
                self.closed = false;
                self.server_receive_maximum = usize::from(u16::MAX);
                self.server_max_packet_size = MAX_PACKET_SIZE;
                self.drain(false, false);
                return;
            }
            _ => {
                self.now += Duration::from_secs(u64::from(input.u16()));
                self.session.handle_timeout(self.now);
                timed_out = true;
            }
        }
        self.drain(was_closed, timed_out);
    }

    fn drain(&mut self, was_closed: bool, timed_out: bool) {
        while let Some(event) = self.session.poll_event() {
            trace(format_args!("  client event {event:?}"));
            assert!(!was_closed, "client event after Closed: {event:?}");
            match event {
                ClientEvent::Connected { properties, .. } => {
                    self.server_receive_maximum = properties
                        .receive_maximum
                        .map_or(usize::from(u16::MAX), |r| usize::from(r.get()));
                    self.server_max_packet_size = properties
                        .maximum_packet_size
                        .map_or(MAX_PACKET_SIZE, NonZeroU32::get);
                }
                ClientEvent::SessionLost { unacknowledged, .. } => {
                    for p in unacknowledged {
                        if let Some(id) = p.qos_pid.packet_id() {
                            self.ids.finished(id);
                        }
                    }
                }
                ClientEvent::Published { packet_id, .. } => self.ids.finished(packet_id),
                ClientEvent::SubAck { packet_id, .. } | ClientEvent::UnsubAck { packet_id, .. } => {
                    self.requests.remove(&packet_id.get());
                }
                ClientEvent::Closed { .. } => {
                    assert!(!self.closed, "a second Closed event");
                    self.closed = true;
                }
                _ => {}
            }
        }
        if let Some(bytes) = take_output(&mut self.session, &mut self.chunked) {
            assert!(!was_closed, "client transmitted after Closed");
            let version = self.session.version();
            for packet in decode_transmit(&bytes, version, self.server_max_packet_size) {
                self.ids.sent(&packet, "client");
                let request = match &packet {
                    Packet::Subscribe(s) => Some(s.packet_id),
                    Packet::Unsubscribe(u) => Some(u.packet_id),
                    _ => None,
                };
                if let Some(id) = request {
                    // v5 [MQTT-2.2.1-3]: not in use by a PUBLISH flow or another request.
                    assert!(
                        !self.ids.open.contains(&id.get()) && self.requests.insert(id.get()),
                        "client reused packet id {id:?} for a request"
                    );
                }
                if let Packet::Publish(p) = &packet {
                    if let Some(id) = p.qos_pid.packet_id() {
                        assert!(
                            !self.requests.contains(&id.get()),
                            "client PUBLISH reused request id {id:?}"
                        );
                    }
                }
                match &packet {
                    Packet::Publish(Publish {
                        qos_pid: QosPid::AtLeastOnce(id) | QosPid::ExactlyOnce(id),
                        ..
                    })
                    | Packet::Subscribe(Subscribe { packet_id: id, .. })
                    | Packet::Unsubscribe(Unsubscribe { packet_id: id, .. })
                    | Packet::PubRec(PubRec { packet_id: id, .. })
                    | Packet::PubRel(PubRel { packet_id: id, .. }) => {
                        remember(&mut self.recent, *id);
                    }
                    _ => {}
                }
            }
        }
        self.ids.settle();
        if self.session.phase() == ClientPhase::Connected {
            let session = &self.session;
            self.ids.forget_finished(|id| session.has_inflight(id));
            self.ids.check_quota("client", self.server_receive_maximum);
        }
        check_timeout(self.session.poll_timeout(), self.now, timed_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{fs, path::PathBuf};

    fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                let bytes = fs::read(&p).unwrap();
                (p, bytes)
            })
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} is empty", dir.display());
        files
    }

    #[test]
    fn server_session_corpus_replays() {
        for (path, bytes) in corpus("server_session") {
            eprintln!("replaying {}", path.display());
            server_session(&bytes);
        }
    }

    #[test]
    fn client_session_corpus_replays() {
        for (path, bytes) in corpus("client_session") {
            eprintln!("replaying {}", path.display());
            client_session(&bytes);
        }
    }

    /// Replays one input with a trace of every step:
    /// `STARLING_FUZZ_TRACE=1 STARLING_FUZZ_INPUT=fuzz/artifacts/server_session/crash-… cargo
    /// test -p starling-session --lib fuzzing::tests::replay -- --ignored --nocapture`
    /// (the target is read from the path).
    #[test]
    #[ignore = "needs STARLING_FUZZ_INPUT"]
    fn replay() {
        let path = PathBuf::from(std::env::var_os("STARLING_FUZZ_INPUT").unwrap());
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path);
        let bytes = fs::read(&path).unwrap();
        if path.to_string_lossy().contains("client_session") {
            client_session(&bytes);
        } else {
            server_session(&bytes);
        }
    }

    #[test]
    fn every_operation_with_every_filler_runs() {
        for config in [0x00, 0x55, 0xAA, 0xFF] {
            for op in 0..14u8 {
                for fill in [0x00, 0x01, 0x7F, 0xFF] {
                    let mut input = vec![config, 5, op];
                    input.resize(64, fill);
                    server_session(&input);
                    client_session(&input);
                }
            }
        }
    }
}
