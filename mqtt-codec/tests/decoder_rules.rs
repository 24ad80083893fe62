//! The per-connection rules of `Decoder`: CONNECT first, the version learned from it, no second
//! CONNECT, and the packet types each direction may carry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use bytes::BytesMut;
use common::*;
use starling_codec::{
    DecodeError, Decoder, Packet, PacketType, ProtocolVersion, QosPid, Role, MAX_PACKET_SIZE,
};

const CONNECT_V31: &[u8] = b"\x10\x11\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x03c31";
const CONNECT_V311: &[u8] = b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01a";
const CONNECT_V5: &[u8] = b"\x10\x0e\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x01a";

fn connect_bytes(v: ProtocolVersion) -> &'static [u8] {
    match v {
        V3_1 => CONNECT_V31,
        V3_1_1 => CONNECT_V311,
        _ => CONNECT_V5,
    }
}

/// A server decoder that has already decoded the CONNECT of `v`.
fn connected_server(v: ProtocolVersion) -> Decoder {
    let mut d = Decoder::server(MAX_PACKET_SIZE);
    let mut buf = BytesMut::from(connect_bytes(v));
    assert!(matches!(d.decode(&mut buf), Ok(Some(Packet::Connect(_)))));
    assert_eq!(d.version(), Some(v));
    d
}

fn decode(d: &mut Decoder, bytes: &[u8]) -> Result<Option<Packet>, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    d.decode(&mut buf)
}

fn assert_err(got: Result<Option<Packet>, DecodeError>, expected: DecodeError, what: &str) {
    match got {
        Err(e) if same_error(&e, &expected) => {}
        other => panic!("{what}: got {other:?}, expected {expected:?}"),
    }
}

#[test]
fn server_refuses_a_first_packet_other_than_connect_from_its_first_byte() {
    // v5 [MQTT-3.1.0-1], v3.1.1 [MQTT-3.1.0-1]: the first packet must be CONNECT. The type is
    // in the first byte, so one byte is enough to refuse.
    for first in [0x30u8, 0x82, 0xc0, 0xe0, 0xf0, 0x20, 0x62, 0x00] {
        let mut d = Decoder::server(MAX_PACKET_SIZE);
        assert_err(
            decode(&mut d, &[first]),
            PROTOCOL,
            &format!("first byte {first:#04x}"),
        );
    }
    // A whole PINGREQ as first packet, as well.
    let mut d = Decoder::server(MAX_PACKET_SIZE);
    assert_err(decode(&mut d, b"\xc0\x00"), PROTOCOL, "PINGREQ first");
    // The first byte of a CONNECT is not refused; the rest is awaited without consuming.
    let mut d = Decoder::server(MAX_PACKET_SIZE);
    let mut buf = BytesMut::from(&CONNECT_V311[..5]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), 5);
    assert_eq!(d.version(), None);
    assert_eq!(d.role(), Role::Server);
}

#[test]
fn server_learns_the_version_from_connect() {
    // The same PUBLISH bytes mean different things in 3.1.1 and 5: in 5 the zero byte after
    // the topic is the property length.
    let publish = b"\x30\x0b\x00\x03a/b\x00hello";
    for (v, payload) in [
        (V3_1, &b"\x00hello"[..]),
        (V3_1_1, b"\x00hello"),
        (V5, b"hello"),
    ] {
        let mut d = connected_server(v);
        match decode(&mut d, publish) {
            Ok(Some(Packet::Publish(p))) => {
                assert_eq!(p.payload(), payload, "{v:?}");
                assert_eq!(p.qos_pid, QosPid::AtMostOnce);
            }
            other => panic!("{v:?}: {other:?}"),
        }
    }
    // 3.1: DUP tolerated on PUBREL after a 3.1 CONNECT, refused after a 3.1.1 one.
    let mut d = connected_server(V3_1);
    assert!(matches!(
        decode(&mut d, b"\x6a\x02\x00\x01"),
        Ok(Some(Packet::PubRel(_)))
    ));
    let mut d = connected_server(V3_1_1);
    assert_err(
        decode(&mut d, b"\x6a\x02\x00\x01"),
        MALFORMED,
        "v3.1.1 [MQTT-3.6.1-1] PUBREL with DUP",
    );
    // AUTH exists after a v5 CONNECT only.
    let mut d = connected_server(V5);
    assert!(matches!(
        decode(&mut d, b"\xf0\x00"),
        Ok(Some(Packet::Auth(_)))
    ));
    let mut d = connected_server(V3_1_1);
    assert_err(decode(&mut d, b"\xf0\x00"), MALFORMED, "AUTH after 3.1.1");
    // An unsupported protocol level in the first CONNECT is 0x84.
    let mut d = Decoder::server(MAX_PACKET_SIZE);
    assert_err(
        decode(&mut d, b"\x10\x0d\x00\x04MQTT\x06\x02\x00\x3c\x00\x01a"),
        unsupported_level(6),
        "v5 [MQTT-3.1.2-2] level 6",
    );
}

#[test]
fn server_refuses_a_second_connect() {
    // v5 [MQTT-3.1.0-2], v3.1.1 [MQTT-3.1.0-2]: a second CONNECT is a protocol error, whatever
    // its version.
    for v in [V3_1, V3_1_1, V5] {
        for second in [CONNECT_V31, CONNECT_V311, CONNECT_V5] {
            let mut d = connected_server(v);
            assert_err(decode(&mut d, second), PROTOCOL, "second CONNECT");
        }
    }
}

#[test]
fn server_refuses_server_to_client_packets() {
    let packets: [(&str, &[u8]); 4] = [
        ("CONNACK", b"\x20\x02\x00\x00"),
        ("SUBACK", b"\x90\x03\x00\x01\x00"),
        ("UNSUBACK", b"\xb0\x02\x00\x01"),
        ("PINGRESP", b"\xd0\x00"),
    ];
    for v in [V3_1, V3_1_1, V5] {
        for (name, bytes) in packets {
            let mut d = connected_server(v);
            assert_err(decode(&mut d, bytes), PROTOCOL, name);
            assert!(!PacketType::from_u8(bytes[0] >> 4)
                .unwrap()
                .is_client_to_server());
        }
        // Everything a client sends is accepted.
        let mut d = connected_server(v);
        for bytes in [
            &b"\x40\x02\x00\x01"[..],
            b"\x50\x02\x00\x01",
            b"\x62\x02\x00\x01",
            b"\x70\x02\x00\x01",
            b"\xc0\x00",
            b"\xe0\x00",
        ] {
            assert!(
                matches!(decode(&mut d, bytes), Ok(Some(_))),
                "{v:?} {bytes:02X?}"
            );
        }
    }
}

#[test]
fn server_refuses_a_subscription_identifier_from_a_client() {
    // v5 [MQTT-3.3.4-6]: a PUBLISH from a client carries no Subscription Identifier.
    let mut d = connected_server(V5);
    let publish = frame(0x30, cat![s("a/b"), props(vec![0x0b, 0x01]), b"x"]);
    assert_err(
        decode(&mut d, &publish),
        PROTOCOL,
        "v5 [MQTT-3.3.4-6] PUBLISH with a subscription identifier from a client",
    );
    // The same PUBLISH from a server is fine.
    let mut c = Decoder::client(V5, MAX_PACKET_SIZE);
    match decode(&mut c, &publish) {
        Ok(Some(Packet::Publish(p))) => {
            assert_eq!(p.properties.subscription_identifiers, vec![nz32(1)]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_refuses_client_to_server_packets() {
    let packets: [(&str, &[u8]); 4] = [
        ("CONNECT", CONNECT_V311),
        ("SUBSCRIBE", b"\x82\x06\x00\x01\x00\x01#\x00"),
        ("UNSUBSCRIBE", b"\xa2\x05\x00\x01\x00\x01#"),
        ("PINGREQ", b"\xc0\x00"),
    ];
    for v in [V3_1, V3_1_1, V5] {
        for (name, bytes) in packets {
            let mut c = Decoder::client(v, MAX_PACKET_SIZE);
            assert_err(decode(&mut c, bytes), PROTOCOL, name);
        }
        let mut c = Decoder::client(v, MAX_PACKET_SIZE);
        assert_eq!(c.role(), Role::Client);
        assert_eq!(c.version(), Some(v));
        let connack: &[u8] = if v == V5 {
            b"\x20\x03\x00\x00\x00"
        } else {
            b"\x20\x02\x00\x00"
        };
        assert!(matches!(
            decode(&mut c, connack),
            Ok(Some(Packet::ConnAck(_)))
        ));
        assert_eq!(decode(&mut c, b"\xd0\x00"), Ok(Some(Packet::PingResp)));
    }
    // An MQTT 3.x server never sends DISCONNECT; an MQTT 5 server may.
    for v in [V3_1, V3_1_1] {
        let mut c = Decoder::client(v, MAX_PACKET_SIZE);
        assert_err(
            decode(&mut c, b"\xe0\x00"),
            PROTOCOL,
            "v3 DISCONNECT to client",
        );
    }
    let mut c = Decoder::client(V5, MAX_PACKET_SIZE);
    assert!(matches!(
        decode(&mut c, b"\xe0\x01\x8b"),
        Ok(Some(Packet::Disconnect(_)))
    ));
}

#[test]
fn client_checks_what_the_server_must_get_right() {
    // v5 [MQTT-2.2.1-4]: a server PUBLISH with QoS > 0 has a non-zero packet identifier.
    let mut c = Decoder::client(V5, MAX_PACKET_SIZE);
    assert_err(
        decode(&mut c, &frame(0x32, cat![s("a"), [0, 0, 0]])),
        PROTOCOL,
        "server PUBLISH with packet id 0",
    );
    // v5 [MQTT-3.2.2-6], v3.1.1 [MQTT-3.2.2-4]: a refusal has Session Present 0.
    let mut c = Decoder::client(V5, MAX_PACKET_SIZE);
    assert_err(
        decode(&mut c, b"\x20\x03\x01\x87\x00"),
        PROTOCOL,
        "session present on refusal",
    );
    let mut c = Decoder::client(V3_1_1, MAX_PACKET_SIZE);
    assert_err(
        decode(&mut c, b"\x20\x02\x01\x04"),
        PROTOCOL,
        "session present on refusal",
    );
    // v5 [MQTT-3.1.2-24]: the server must not exceed the client's Maximum Packet Size; the
    // client decoder refuses such a packet from its fixed header, with 0x95.
    let mut c = Decoder::client(V5, 128);
    assert_err(
        decode(&mut c, b"\x30\x80\x01"),
        DecodeError::PacketTooLarge {
            size: 131,
            max: 128,
        },
        "oversize PUBLISH to a client",
    );
    assert_eq!(c.max_packet_size(), 128);
    c.set_max_packet_size(131);
    assert_eq!(decode(&mut c, b"\x30\x80\x01"), Ok(None));
}

#[test]
fn server_refuses_oversize_packets_from_the_fixed_header() {
    // v5 [MQTT-3.2.2-15]: the client must not exceed the server's Maximum Packet Size; the
    // server decoder refuses such a packet before its body arrives.
    let mut d = Decoder::server(1000);
    assert_err(
        decode(&mut d, b"\x10\xff\xff\xff\x7f"),
        DecodeError::PacketTooLarge {
            size: 268_435_460,
            max: 1000,
        },
        "oversize CONNECT",
    );
    let mut d = connected_server(V3_1_1);
    d.set_max_packet_size(20);
    assert_err(
        decode(&mut d, b"\x30\x13"),
        DecodeError::PacketTooLarge { size: 21, max: 20 },
        "oversize PUBLISH",
    );
    assert_eq!(decode(&mut d, b"\x30\x12"), Ok(None));
}

#[test]
fn a_stream_of_packets_is_split_exactly() {
    // CONNECT, SUBSCRIBE, PUBLISH, PUBREL, PINGREQ, DISCONNECT back to back, fed in pieces:
    // a read may hold several or partial packets, v5 [MQTT-6.0.0-2], v3.1.1 [MQTT-6.0.0-2].
    let stream = cat![
        CONNECT_V5,
        frame(0x82, cat![[0, 1, 0], s("a/#"), [0x01]]),
        frame(0x34, cat![s("a/b"), [0, 2, 0], b"payload"]),
        b"\x62\x02\x00\x02",
        b"\xc0\x00",
        b"\xe0\x00",
    ];
    let expected = [
        PacketType::Connect,
        PacketType::Subscribe,
        PacketType::Publish,
        PacketType::PubRel,
        PacketType::PingReq,
        PacketType::Disconnect,
    ];
    for piece in [1, 2, 3, 7, stream.len()] {
        let mut d = Decoder::server(MAX_PACKET_SIZE);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for chunk in stream.chunks(piece) {
            buf.extend_from_slice(chunk);
            while let Some(p) = d.decode(&mut buf).unwrap() {
                got.push(p.packet_type());
            }
        }
        assert_eq!(got, expected, "pieces of {piece}");
        assert!(buf.is_empty());
    }
}

/// The packet type and identifier of an acknowledgement packet.
fn ack_parts(p: &Packet) -> Option<(PacketType, u16, starling_codec::ReasonCode)> {
    Some(match p {
        Packet::PubAck(a) => (PacketType::PubAck, a.packet_id.get(), a.reason_code),
        Packet::PubRec(a) => (PacketType::PubRec, a.packet_id.get(), a.reason_code),
        Packet::PubRel(a) => (PacketType::PubRel, a.packet_id.get(), a.reason_code),
        Packet::PubComp(a) => (PacketType::PubComp, a.packet_id.get(), a.reason_code),
        _ => return None,
    })
}

proptest::proptest! {
    /// `decode_bare_ack` is `decode` for the four bytes it accepts, on both sides and in every
    /// version, and consumes nothing otherwise (including before the CONNECT).
    #[test]
    fn decode_bare_ack_agrees_with_decode(
        first in proptest::prop_oneof![
            proptest::prelude::Just(0x40u8), proptest::prelude::Just(0x50u8),
            proptest::prelude::Just(0x62u8), proptest::prelude::Just(0x6Au8),
            proptest::prelude::Just(0x70u8), proptest::prelude::any::<u8>()
        ],
        len in proptest::prop_oneof![proptest::prelude::Just(2u8), proptest::prelude::any::<u8>()],
        rest in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6),
        v in 0usize..3,
        server in proptest::prelude::any::<bool>(),
        connected in proptest::prelude::any::<bool>(),
    ) {
        let v = [V3_1, V3_1_1, V5][v];
        let mut d = match (server, connected) {
            (true, true) => connected_server(v),
            (true, false) => Decoder::server(MAX_PACKET_SIZE),
            (false, _) => Decoder::client(v, MAX_PACKET_SIZE),
        };
        let mut bytes = vec![first, len];
        bytes.extend_from_slice(&rest);
        let mut fast = BytesMut::from(&bytes[..]);
        let mut general = fast.clone();
        match d.clone().decode_bare_ack(&mut fast) {
            Some((kind, id)) => {
                let packet = d.decode(&mut general).unwrap().unwrap();
                proptest::prop_assert_eq!(
                    ack_parts(&packet),
                    Some((kind, id.get(), starling_codec::ReasonCode::Success))
                );
                proptest::prop_assert_eq!(fast, general);
            }
            None => proptest::prop_assert_eq!(&fast[..], &bytes[..]),
        }
    }
}
