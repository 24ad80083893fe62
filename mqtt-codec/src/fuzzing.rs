//! Fuzzing entry points (compiled only with `--cfg fuzzing`, as cargo-fuzz builds, and in tests).
//!
//! The targets in `fuzz/fuzz_targets/` are one-liners calling these functions, so the checks
//! live next to the code they exercise, and the checked-in corpus (`fuzz/corpus/`) is replayed
//! by `cargo test` on stable (see the tests at the bottom of this file).
//!
//! - [`decode`]: no input may make a decoder panic, and whatever decodes must re-encode into
//!   bytes that decode to the same packet, with [`Packet::encoded_len`] matching.
//! - [`roundtrip`]: a valid packet built from the input by a small byte-driven generator must
//!   encode for its version and decode back equal.
//!
//! Both panic (through `assert!`) on a violated property: that is how a fuzzer learns of it.

use crate::{AckProperties, DecodeError};
use crate::{
    Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties, Decoder,
    Disconnect, DisconnectProperties, MqttStr, Packet, PacketId, PacketType, PayloadFormat,
    ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, PublishProperties, QoS, QosPid,
    ReasonCode, RetainHandling, SubAck, Subscribe, SubscribeProperties, SubscriptionOptions,
    TopicFilter, TopicName, UnsubAck, Unsubscribe, UnsubscribeProperties, UserProperties, Will,
    WillProperties, MAX_PACKET_SIZE, MAX_VARINT,
};
use bytes::{Bytes, BytesMut};
use std::num::{NonZeroU16, NonZeroU32};

/// The maximum packet size used when the control byte asks for a small one.
const SMALL_MAX_PACKET_SIZE: u32 = 512;

/// Decodes untrusted bytes; panics if a property of the decoder is violated.
///
/// The first byte chooses how the rest is decoded:
///
/// | bits | meaning |
/// |---|---|
/// | 0–1 | 0: [`Packet::decode`]; 1: [`Decoder::server`]; 2: [`Decoder::client`]; 3: [`Packet::decode`] fed in chunks, compared with feeding it whole |
/// | 2–3 | version: 0 → 3.1, 1 → 3.1.1, 2 or 3 → 5 (a server-side decoder learns it from CONNECT instead) |
/// | 4 | maximum packet size 512 instead of [`MAX_PACKET_SIZE`] |
/// | 5–7 | mode 3: chunk size `1 << n` |
///
/// The rest is decoded packet after packet until an error or `Ok(None)`. `Ok(None)` must not
/// consume anything, and every decoded packet must re-encode and decode equal.
pub fn decode(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let version = version_from_bits(control >> 2);
    let max = if control & 0x10 != 0 {
        SMALL_MAX_PACKET_SIZE
    } else {
        MAX_PACKET_SIZE
    };
    match control & 0x03 {
        0 => {
            decode_stream(version, rest, max, rest.len().max(1));
        }
        1 => decoder_stream(Decoder::server(max), rest),
        2 => decoder_stream(Decoder::client(version, max), rest),
        _ => {
            let chunk = 1usize << (control >> 5);
            let whole = decode_stream(version, rest, max, rest.len().max(1));
            let chunked = decode_stream(version, rest, max, chunk);
            assert_eq!(
                whole, chunked,
                "chunked decoding differs from whole decoding"
            );
        }
    }
}

/// Builds a valid packet from `data`, encodes it for its version and decodes it back; panics
/// unless the result is equal and [`Packet::encoded_len`] matches the bytes written.
///
/// The first byte picks the version (see [`decode`], bits 0–1 here); the rest drives a small
/// generator that only builds packets valid in that version (MQTT 5-only fields stay at their
/// defaults for 3.x). Missing bytes read as zero, so every input builds a packet.
pub fn roundtrip(data: &[u8]) {
    let mut g = Gen { data };
    let version = version_from_bits(g.byte());
    let packet = g.packet(version);
    let mut buf = BytesMut::new();
    if let Err(e) = packet.encode(version, &mut buf) {
        panic!("valid packet refused by the encoder ({version}): {e}: {packet:?}");
    }
    assert_eq!(packet.encoded_len(version), Ok(buf.len()), "{packet:?}");
    if let Packet::Publish(publish) = &packet {
        // The header plus the payload is the whole packet.
        let mut split = BytesMut::new();
        assert_eq!(publish.encode_header(version, &mut split), Ok(()));
        split.extend_from_slice(publish.payload());
        assert_eq!(split, buf, "encode_header + payload differs from encode");
    }
    let wire = buf.clone();
    match Packet::decode(version, &mut buf, MAX_PACKET_SIZE) {
        Ok(Some(decoded)) => assert_eq!(decoded, packet, "{version}, bytes {wire:02x?}"),
        other => panic!("encoding does not decode ({version}): {other:?}: {wire:02x?}"),
    }
    assert!(buf.is_empty(), "decoding left bytes behind");
}

fn version_from_bits(bits: u8) -> ProtocolVersion {
    match bits & 0x03 {
        0 => ProtocolVersion::V3_1,
        1 => ProtocolVersion::V3_1_1,
        _ => ProtocolVersion::V5,
    }
}

/// What decoding a stream yields: the packets, then the error that stopped it, if any.
type Outcome = (Vec<Packet>, Option<DecodeError>);

/// Feeds `data` in chunks of `chunk` bytes through [`Packet::decode`], decoding all it can after
/// each chunk; checks every packet with [`check_reencode`].
fn decode_stream(version: ProtocolVersion, data: &[u8], max: u32, chunk: usize) -> Outcome {
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match Packet::decode(version, &mut buf, max) {
                Ok(Some(packet)) => {
                    check_reencode(&packet, version);
                    packets.push(packet);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                    break;
                }
                Err(e) => return (packets, Some(e)),
            }
        }
    }
    (packets, None)
}

fn decoder_stream(mut decoder: Decoder, data: &[u8]) {
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match decoder.decode(&mut buf) {
            Ok(Some(packet)) => {
                let Some(version) = decoder.version() else {
                    panic!("a packet decoded but the version is still unknown");
                };
                check_reencode(&packet, version);
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                return;
            }
            Err(_) => return,
        }
    }
}

/// A decoded packet must encode, with `encoded_len` right, and decode to itself.
fn check_reencode(packet: &Packet, version: ProtocolVersion) {
    let mut buf = BytesMut::new();
    if let Err(e) = packet.encode(version, &mut buf) {
        panic!("decoded packet does not re-encode ({version}): {e}: {packet:?}");
    }
    assert_eq!(packet.encoded_len(version), Ok(buf.len()), "{packet:?}");
    let wire = buf.clone();
    match Packet::decode(version, &mut buf, MAX_PACKET_SIZE) {
        Ok(Some(again)) => assert_eq!(&again, packet, "{version}, re-encoded {wire:02x?}"),
        other => panic!("re-encoded packet does not decode ({version}): {other:?}: {wire:02x?}"),
    }
    assert!(buf.is_empty(), "re-decoding left bytes behind");
}

/// Characters strings are built from: ASCII, multi-byte UTF-8, a BOM, DEL, and the topic
/// separator and wildcards (the last two are left out of topic names).
const CHARS: &[&str] = &[
    "a", "b", "z", "0", " ", "$", "-", "é", "€", "😀", "\u{FEFF}", "\u{7F}", "/", "+", "#",
];

/// A byte-driven generator of valid packets. Reading past the end yields zeros.
struct Gen<'a> {
    data: &'a [u8],
}

impl Gen<'_> {
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

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.bool() {
            Some(f(self))
        } else {
            None
        }
    }

    fn nonzero_u16(&mut self) -> NonZeroU16 {
        NonZeroU16::new(self.u16()).unwrap_or(NonZeroU16::MIN)
    }

    fn nonzero_u32(&mut self) -> NonZeroU32 {
        NonZeroU32::new(self.u32()).unwrap_or(NonZeroU32::MIN)
    }

    fn packet_id(&mut self) -> PacketId {
        PacketId::from(self.nonzero_u16())
    }

    /// A Subscription Identifier: 1 to 268,435,455 (a variable byte integer).
    fn subscription_id(&mut self) -> NonZeroU32 {
        let v = self.u32() % MAX_VARINT + 1;
        NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
    }

    fn qos(&mut self) -> QoS {
        match self.below(3) {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        }
    }

    fn bytes(&mut self) -> Bytes {
        let n = self.below(24);
        Bytes::from((0..n).map(|_| self.byte()).collect::<Vec<u8>>())
    }

    /// Up to `max` characters from the first `alphabet` entries of [`CHARS`].
    fn text(&mut self, max: usize, alphabet: usize) -> String {
        let n = self.below(max + 1);
        (0..n).map(|_| CHARS[self.below(alphabet)]).collect()
    }

    fn string(&mut self) -> MqttStr {
        let s = self.text(12, CHARS.len());
        match MqttStr::try_from(s.as_str()) {
            Ok(s) => s,
            Err(e) => panic!("generator built an invalid string {s:?}: {e}"),
        }
    }

    /// A topic level: no separator, no wildcards.
    fn level(&mut self) -> String {
        self.text(5, CHARS.len() - 3)
    }

    fn topic_name(&mut self) -> TopicName {
        let levels = 1 + self.below(4);
        let mut s = (0..levels)
            .map(|_| self.level())
            .collect::<Vec<_>>()
            .join("/");
        if s.is_empty() {
            s.push('t');
        }
        match TopicName::try_from(s.as_str()) {
            Ok(t) => t,
            Err(e) => panic!("generator built an invalid topic name {s:?}: {e}"),
        }
    }

    /// A topic filter with well-placed wildcards, sometimes `$share/{name}/{filter}`.
    fn topic_filter(&mut self) -> TopicFilter {
        let shared = self.below(4) == 0;
        let levels = 1 + self.below(4);
        let mut parts = Vec::with_capacity(levels);
        for i in 0..levels {
            parts.push(match self.below(4) {
                0 => "+".to_owned(),
                1 if i + 1 == levels => "#".to_owned(),
                _ => self.level(),
            });
        }
        let mut filter = parts.join("/");
        if filter.is_empty() {
            filter.push('+');
        }
        if shared {
            let mut name = self.level();
            if name.is_empty() {
                name.push('g');
            }
            filter = format!("$share/{name}/{filter}");
        }
        match TopicFilter::try_from(filter.as_str()) {
            Ok(f) => f,
            Err(e) => panic!("generator built an invalid topic filter {filter:?}: {e}"),
        }
    }

    fn user_properties(&mut self) -> UserProperties {
        let n = self.below(3);
        (0..n).map(|_| (self.string(), self.string())).collect()
    }

    fn payload_format(&mut self) -> PayloadFormat {
        if self.bool() {
            PayloadFormat::Utf8
        } else {
            PayloadFormat::Unspecified
        }
    }

    /// A reason code `kind` may carry in `version` (3.x: only what its packets can express).
    fn reason_code(&mut self, kind: PacketType, version: ProtocolVersion) -> ReasonCode {
        if version.is_v5() {
            let valid: Vec<ReasonCode> = (0..=255u8)
                .filter_map(ReasonCode::from_u8)
                .filter(|rc| rc.is_valid_for(kind))
                .collect();
            return valid[self.below(valid.len())];
        }
        match kind {
            PacketType::ConnAck => {
                let code = self.below(6) as u8;
                ReasonCode::from_v3_connack_return_code(code).unwrap_or(ReasonCode::Success)
            }
            PacketType::SubAck => [
                ReasonCode::Success,
                ReasonCode::GrantedQoS1,
                ReasonCode::GrantedQoS2,
                ReasonCode::UnspecifiedError,
            ][self.below(4)],
            _ => ReasonCode::Success,
        }
    }

    fn packet(&mut self, v: ProtocolVersion) -> Packet {
        let v5 = v.is_v5();
        match self.below(15) {
            0 => Packet::Connect(Box::new(self.connect(v))),
            1 => Packet::ConnAck(Box::new(self.connack(v))),
            2 => Packet::Publish(self.publish(v)),
            3 => {
                let (packet_id, reason_code, properties) = self.ack(PacketType::PubAck, v);
                Packet::PubAck(PubAck {
                    packet_id,
                    reason_code,
                    properties,
                })
            }
            4 => {
                let (packet_id, reason_code, properties) = self.ack(PacketType::PubRec, v);
                Packet::PubRec(PubRec {
                    packet_id,
                    reason_code,
                    properties,
                })
            }
            5 => {
                let (packet_id, reason_code, properties) = self.ack(PacketType::PubRel, v);
                Packet::PubRel(PubRel {
                    packet_id,
                    reason_code,
                    properties,
                })
            }
            6 => {
                let (packet_id, reason_code, properties) = self.ack(PacketType::PubComp, v);
                Packet::PubComp(PubComp {
                    packet_id,
                    reason_code,
                    properties,
                })
            }
            7 => Packet::Subscribe(self.subscribe(v)),
            8 => {
                let packet_id = self.packet_id();
                let n = 1 + self.below(4);
                let reason_codes = (0..n)
                    .map(|_| self.reason_code(PacketType::SubAck, v))
                    .collect();
                let properties = self.ack_properties(v);
                Packet::SubAck(SubAck {
                    packet_id,
                    reason_codes,
                    properties,
                })
            }
            9 => {
                let packet_id = self.packet_id();
                let n = 1 + self.below(4);
                let filters = (0..n).map(|_| self.topic_filter()).collect();
                let mut properties = UnsubscribeProperties::default();
                if v5 {
                    properties.user_properties = self.user_properties();
                }
                Packet::Unsubscribe(Unsubscribe {
                    packet_id,
                    filters,
                    properties,
                })
            }
            10 => {
                let packet_id = self.packet_id();
                // MQTT 3.x UNSUBACKs carry no reason codes.
                let n = if v5 { 1 + self.below(4) } else { 0 };
                let reason_codes = (0..n)
                    .map(|_| self.reason_code(PacketType::UnsubAck, v))
                    .collect();
                let properties = self.ack_properties(v);
                Packet::UnsubAck(UnsubAck {
                    packet_id,
                    reason_codes,
                    properties,
                })
            }
            11 => Packet::PingReq,
            12 => Packet::PingResp,
            13 => Packet::Disconnect(self.disconnect(v)),
            _ if v5 => Packet::Auth(self.auth()),
            // No AUTH before MQTT 5.
            _ => Packet::PingReq,
        }
    }

    fn connect(&mut self, v: ProtocolVersion) -> Connect {
        let v5 = v.is_v5();
        let mut properties = ConnectProperties::default();
        if v5 {
            properties = ConnectProperties {
                session_expiry_interval: self.opt(Self::u32),
                receive_maximum: self.opt(Self::nonzero_u16),
                maximum_packet_size: self.opt(Self::nonzero_u32),
                topic_alias_maximum: self.opt(Self::u16),
                request_response_information: self.opt(Self::bool),
                request_problem_information: self.opt(Self::bool),
                user_properties: self.user_properties(),
                authentication_method: self.opt(Self::string),
                authentication_data: self.opt(Self::bytes),
            };
        }
        let will = self.opt(|g| {
            let mut properties = WillProperties::default();
            if v5 {
                properties = WillProperties {
                    will_delay_interval: g.opt(Self::u32),
                    payload_format_indicator: g.opt(Self::payload_format),
                    message_expiry_interval: g.opt(Self::u32),
                    content_type: g.opt(Self::string),
                    response_topic: g.opt(Self::topic_name),
                    correlation_data: g.opt(Self::bytes),
                    user_properties: g.user_properties(),
                };
            }
            Will {
                topic: g.topic_name(),
                payload: g.bytes(),
                qos: g.qos(),
                retain: g.bool(),
                properties,
            }
        });
        let username = self.opt(Self::string);
        let mut password = self.opt(Self::bytes);
        // v3.1.1 [MQTT-3.1.2-22]: no password without a user name before MQTT 5.
        if !v5 && username.is_none() {
            password = None;
        }
        Connect {
            protocol: v,
            clean_start: self.bool(),
            keep_alive: self.u16(),
            client_id: self.string(),
            will,
            username,
            password,
            properties,
        }
    }

    fn connack(&mut self, v: ProtocolVersion) -> ConnAck {
        let reason_code = self.reason_code(PacketType::ConnAck, v);
        // A refusal has no session; MQTT 3.1 has no Session Present flag at all.
        let session_present =
            self.bool() && reason_code == ReasonCode::Success && v != ProtocolVersion::V3_1;
        let mut properties = ConnAckProperties::default();
        if v.is_v5() {
            properties = ConnAckProperties {
                session_expiry_interval: self.opt(Self::u32),
                receive_maximum: self.opt(Self::nonzero_u16),
                // Only 0 and 1 are sent; 2 is the absence of the property.
                maximum_qos: self.opt(|g| {
                    if g.bool() {
                        QoS::AtLeastOnce
                    } else {
                        QoS::AtMostOnce
                    }
                }),
                retain_available: self.opt(Self::bool),
                maximum_packet_size: self.opt(Self::nonzero_u32),
                assigned_client_identifier: self.opt(Self::string),
                topic_alias_maximum: self.opt(Self::u16),
                reason_string: self.opt(Self::string),
                user_properties: self.user_properties(),
                wildcard_subscription_available: self.opt(Self::bool),
                subscription_identifiers_available: self.opt(Self::bool),
                shared_subscription_available: self.opt(Self::bool),
                server_keep_alive: self.opt(Self::u16),
                response_information: self.opt(Self::string),
                server_reference: self.opt(Self::string),
                authentication_method: self.opt(Self::string),
                authentication_data: self.opt(Self::bytes),
            };
        }
        ConnAck {
            session_present,
            reason_code,
            properties,
        }
    }

    fn publish(&mut self, v: ProtocolVersion) -> Publish {
        let qos = self.qos();
        let qos_pid = QosPid::new(qos, self.packet_id());
        // v5 [MQTT-3.3.1-2]: never DUP on QoS 0.
        let dup = self.bool() && qos != QoS::AtMostOnce;
        let retain = self.bool();
        let mut properties = PublishProperties::default();
        if v.is_v5() {
            let n = self.below(3);
            properties = PublishProperties {
                payload_format_indicator: self.opt(Self::payload_format),
                message_expiry_interval: self.opt(Self::u32),
                topic_alias: self.opt(Self::nonzero_u16),
                response_topic: self.opt(Self::topic_name),
                correlation_data: self.opt(Self::bytes),
                user_properties: self.user_properties(),
                subscription_identifiers: (0..n).map(|_| self.subscription_id()).collect(),
                content_type: self.opt(Self::string),
            };
        }
        // MQTT 5: a PUBLISH with a Topic Alias may leave the topic name empty.
        let topic = if properties.topic_alias.is_some() && self.bool() {
            TopicName::empty()
        } else {
            self.topic_name()
        };
        Publish::new(topic, qos_pid, self.bytes())
            .with_dup(dup)
            .with_retain(retain)
            .with_properties(properties)
    }

    fn ack_properties(&mut self, v: ProtocolVersion) -> AckProperties {
        if !v.is_v5() {
            return AckProperties::default();
        }
        AckProperties {
            reason_string: self.opt(Self::string),
            user_properties: self.user_properties(),
        }
    }

    fn ack(
        &mut self,
        kind: PacketType,
        v: ProtocolVersion,
    ) -> (PacketId, ReasonCode, AckProperties) {
        let packet_id = self.packet_id();
        let reason_code = self.reason_code(kind, v);
        (packet_id, reason_code, self.ack_properties(v))
    }

    fn subscribe(&mut self, v: ProtocolVersion) -> Subscribe {
        let packet_id = self.packet_id();
        let n = 1 + self.below(4);
        let mut filters = Vec::with_capacity(n);
        for _ in 0..n {
            let filter = self.topic_filter();
            let mut options = SubscriptionOptions::new(self.qos());
            if v.is_v5() {
                // v5 [MQTT-3.8.3-4]: No Local is not allowed on a shared subscription.
                options.no_local = self.bool() && !filter.is_shared();
                options.retain_as_published = self.bool();
                options.retain_handling = match self.below(3) {
                    0 => RetainHandling::SendAtSubscribe,
                    1 => RetainHandling::SendAtSubscribeIfNew,
                    _ => RetainHandling::DoNotSend,
                };
            }
            filters.push((filter, options));
        }
        let mut properties = SubscribeProperties::default();
        if v.is_v5() {
            properties = SubscribeProperties {
                subscription_identifier: self.opt(Self::subscription_id),
                user_properties: self.user_properties(),
            };
        }
        Subscribe {
            packet_id,
            filters,
            properties,
        }
    }

    fn disconnect(&mut self, v: ProtocolVersion) -> Disconnect {
        if !v.is_v5() {
            return Disconnect::default();
        }
        Disconnect {
            reason_code: self.reason_code(PacketType::Disconnect, v),
            properties: DisconnectProperties {
                session_expiry_interval: self.opt(Self::u32),
                reason_string: self.opt(Self::string),
                user_properties: self.user_properties(),
                server_reference: self.opt(Self::string),
            },
        }
    }

    fn auth(&mut self) -> Auth {
        Auth {
            reason_code: self.reason_code(PacketType::Auth, ProtocolVersion::V5),
            properties: AuthProperties {
                authentication_method: self.opt(Self::string),
                authentication_data: self.opt(Self::bytes),
                reason_string: self.opt(Self::string),
                user_properties: self.user_properties(),
            },
        }
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
    fn decode_corpus_replays_through_both_entry_points() {
        for (_path, bytes) in corpus("decode") {
            decode(&bytes);
            roundtrip(&bytes);
        }
    }

    #[test]
    fn roundtrip_corpus_replays_through_both_entry_points() {
        for (_path, bytes) in corpus("roundtrip") {
            roundtrip(&bytes);
            decode(&bytes);
        }
    }

    #[test]
    fn every_packet_type_in_every_version_round_trips() {
        for version_bits in 0..3u8 {
            for kind in 0..15u8 {
                for fill in [0x00, 0x01, 0x55, 0xAA, 0xFF] {
                    let mut input = vec![version_bits, kind];
                    input.resize(202, fill);
                    roundtrip(&input);
                }
            }
        }
    }

    #[test]
    fn decode_accepts_every_control_byte() {
        let wire = b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01a\xc0\x00\xe0\x00";
        for control in 0..=255u8 {
            let mut input = vec![control];
            input.extend_from_slice(wire);
            decode(&input);
        }
    }
}
