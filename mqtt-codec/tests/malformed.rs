//! Malformed and forbidden byte vectors shared by every version (fixed header, framing, packet
//! identifiers, strings, topics, filters, CONNECT flags): each must be refused by
//! `Packet::decode` with the expected `DecodeError` variant and reason code. MQTT 5 property
//! and reason-code vectors are in `malformed_v5.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use bytes::BytesMut;
use common::*;
use starling_codec::{DecodeError, Packet, ProtocolVersion, ReasonCode, MAX_PACKET_SIZE};

const ALL: [ProtocolVersion; 3] = [V3_1, V3_1_1, V5];
const V311_V5: [ProtocolVersion; 2] = [V3_1_1, V5];

/// The property block of a packet without properties: one zero byte in MQTT 5, nothing before.
fn no_props(v: ProtocolVersion) -> Vec<u8> {
    if v == V5 {
        vec![0]
    } else {
        vec![]
    }
}

/// A CONNECT of version `v` with the given connect flags and payload.
fn connect(v: ProtocolVersion, flags: u8, payload: Vec<u8>) -> Vec<u8> {
    let (name, level) = match v {
        V3_1 => ("MQIsdp", 3),
        V3_1_1 => ("MQTT", 4),
        _ => ("MQTT", 5),
    };
    frame(
        0x10,
        cat![s(name), [level, flags, 0x00, 0x3c], no_props(v), payload],
    )
}

/// A PUBLISH: `first` byte, the topic field as given, packet id bytes, no properties, payload.
fn publish(v: ProtocolVersion, first: u8, topic_field: Vec<u8>, pid: &[u8]) -> Vec<u8> {
    frame(first, cat![topic_field, pid, no_props(v), b"x"])
}

fn subscribe(v: ProtocolVersion, payload: Vec<u8>) -> Vec<u8> {
    frame(0x82, cat![[0x00, 0x01], no_props(v), payload])
}

fn unsubscribe(v: ProtocolVersion, payload: Vec<u8>) -> Vec<u8> {
    frame(0xa2, cat![[0x00, 0x01], no_props(v), payload])
}

/// Ill-formed UTF-8: a surrogate half, an overlong form, a lone continuation byte, a truncated
/// sequence, a code point above U+10FFFF, and a byte that never occurs.
const BAD_UTF8: [&[u8]; 6] = [
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"a\x80",
    b"\xe2\x82",
    b"\xf4\x90\x80\x80",
    b"\xff",
];

#[test]
fn fixed_header() {
    let mut t = Vec::new();
    for v in ALL {
        // v5 §2.1.2: packet type 0 is reserved.
        t.push(bad("packet type 0", v, b"\x00\x00".to_vec(), MALFORMED));
        t.push(bad(
            "remaining length of 5 bytes",
            v,
            b"\x30\xff\xff\xff\xff\x01".to_vec(),
            MALFORMED,
        ));
        t.push(bad(
            "remaining length with a fifth continuation byte",
            v,
            b"\x30\x80\x80\x80\x80\x00".to_vec(),
            MALFORMED,
        ));
    }
    // Reserved flag bits of every type but PUBLISH must be exactly as listed.
    let wrong_flags: [(&'static str, &[u8]); 19] = [
        (
            "CONNECT flags 0001",
            b"\x11\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01a",
        ),
        ("CONNACK flags 0001", b"\x21\x02\x00\x00"),
        ("PUBACK flags 0001", b"\x41\x02\x00\x01"),
        ("PUBREC flags 1000", b"\x58\x02\x00\x01"),
        ("PUBCOMP flags 0010", b"\x72\x02\x00\x01"),
        ("SUBACK flags 0001", b"\x91\x03\x00\x01\x00"),
        ("UNSUBACK flags 1000", b"\xb8\x02\x00\x01"),
        ("PINGREQ flags 0001", b"\xc1\x00"),
        ("PINGRESP flags 0010", b"\xd2\x00"),
        (
            "v3.1.1 [MQTT-3.14.1-1] v5 [MQTT-3.14.1-1] DISCONNECT flags 0001",
            b"\xe1\x00",
        ),
        (
            "v3.1.1 [MQTT-3.6.1-1] v5 [MQTT-3.6.1-1] PUBREL flags 0000",
            b"\x60\x02\x00\x01",
        ),
        (
            "v3.1.1 [MQTT-3.6.1-1] v5 [MQTT-3.6.1-1] PUBREL flags 0011",
            b"\x63\x02\x00\x01",
        ),
        (
            "v3.1.1 [MQTT-3.6.1-1] v5 [MQTT-3.6.1-1] PUBREL flags 1010 (DUP)",
            b"\x6a\x02\x00\x01",
        ),
        (
            "v3.1.1 [MQTT-3.8.1-1] v5 [MQTT-3.8.1-1] SUBSCRIBE flags 0000",
            b"\x80\x06\x00\x01\x00\x01#\x00",
        ),
        (
            "v3.1.1 [MQTT-3.8.1-1] v5 [MQTT-3.8.1-1] SUBSCRIBE flags 0011",
            b"\x83\x06\x00\x01\x00\x01#\x00",
        ),
        (
            "v3.1.1 [MQTT-3.8.1-1] v5 [MQTT-3.8.1-1] SUBSCRIBE flags 1010 (DUP)",
            b"\x8a\x06\x00\x01\x00\x01#\x00",
        ),
        (
            "v3.1.1 [MQTT-3.10.1-1] v5 [MQTT-3.10.1-1] UNSUBSCRIBE flags 0000",
            b"\xa0\x05\x00\x01\x00\x01#",
        ),
        (
            "v3.1.1 [MQTT-3.10.1-1] v5 [MQTT-3.10.1-1] UNSUBSCRIBE flags 0110",
            b"\xa6\x05\x00\x01\x00\x01#",
        ),
        (
            "v3.1.1 [MQTT-3.10.1-1] v5 [MQTT-3.10.1-1] UNSUBSCRIBE flags 1010 (DUP)",
            b"\xaa\x05\x00\x01\x00\x01#",
        ),
    ];
    // v5 [MQTT-2.1.3-1], v3.1.1 [MQTT-2.2.2-1], v3.1.1 [MQTT-2.2.2-2]: the reserved flags must
    // be as listed; anything else is malformed and closes the connection. The flags are
    // checked before the body, so the MQTT 3.1.1 bodies serve for MQTT 5 too.
    for (name, bytes) in wrong_flags {
        for v in V311_V5 {
            t.push(bad(name, v, bytes.to_vec(), MALFORMED));
        }
    }
    // MQTT 3.1 tolerates DUP on PUBREL/SUBSCRIBE/UNSUBSCRIBE, but nothing else.
    for bytes in [
        &b"\x60\x02\x00\x01"[..],
        b"\x6b\x02\x00\x01",
        b"\x63\x02\x00\x01",
        b"\x8b\x06\x00\x01\x00\x01#\x00",
        b"\xa8\x05\x00\x01\x00\x01#",
        b"\x41\x02\x00\x01",
    ] {
        t.push(bad(
            "v3.1 reserved flags other than DUP",
            V3_1,
            bytes.to_vec(),
            MALFORMED,
        ));
    }
    t.push(bad(
        "v5 [MQTT-3.15.1-1] AUTH flags 0001",
        V5,
        b"\xf1\x00".to_vec(),
        MALFORMED,
    ));
    t.push(bad(
        "v5 [MQTT-3.15.1-1] AUTH flags 1000",
        V5,
        b"\xf8\x00".to_vec(),
        MALFORMED,
    ));
    for v in [V3_1, V3_1_1] {
        // Packet type 15 is reserved before MQTT 5.
        t.push(bad(
            "AUTH before MQTT 5",
            v,
            b"\xf0\x00".to_vec(),
            MALFORMED,
        ));
    }
    check_bad(&t);
}

#[test]
fn publish_flags_and_packet_ids() {
    let mut t = Vec::new();
    for v in ALL {
        for first in [0x36, 0x37, 0x3e, 0x3f] {
            t.push(bad(
                "v5 [MQTT-3.3.1-4] v3.1.1 [MQTT-3.3.1-4] PUBLISH with QoS 3",
                v,
                publish(v, first, s("a/b"), &[0x00, 0x01]),
                MALFORMED,
            ));
        }
        for first in [0x38, 0x39] {
            t.push(bad(
                "v5 [MQTT-3.3.1-2] v3.1.1 [MQTT-3.3.1-2] DUP on a QoS 0 PUBLISH",
                v,
                publish(v, first, s("a/b"), &[]),
                MALFORMED,
            ));
        }
        for first in [0x32, 0x34, 0x3b] {
            t.push(bad(
                "v5 [MQTT-2.2.1-3] v3.1.1 [MQTT-2.3.1-1] PUBLISH QoS > 0 with packet id 0",
                v,
                publish(v, first, s("a/b"), &[0x00, 0x00]),
                PROTOCOL,
            ));
        }
        t.push(bad(
            "v5 [MQTT-2.2.1-3] v3.1.1 [MQTT-2.3.1-1] SUBSCRIBE with packet id 0",
            v,
            frame(0x82, cat![[0x00, 0x00], no_props(v), s("#"), [0x00]]),
            PROTOCOL,
        ));
        t.push(bad(
            "v5 [MQTT-2.2.1-3] v3.1.1 [MQTT-2.3.1-1] UNSUBSCRIBE with packet id 0",
            v,
            frame(0xa2, cat![[0x00, 0x00], no_props(v), s("#")]),
            PROTOCOL,
        ));
        for first in [0x40, 0x50, 0x62, 0x70] {
            t.push(bad(
                "v5 [MQTT-2.2.1-5] v3.1.1 [MQTT-2.3.1-6] acknowledgement with packet id 0",
                v,
                vec![first, 0x02, 0x00, 0x00],
                PROTOCOL,
            ));
        }
        t.push(bad(
            "v5 [MQTT-2.2.1-6] v3.1.1 [MQTT-2.3.1-7] SUBACK with packet id 0",
            v,
            frame(0x90, cat![[0x00, 0x00], no_props(v), [0x00]]),
            PROTOCOL,
        ));
        let unsuback_codes: &[u8] = if v == V5 { &[0x00] } else { &[] };
        t.push(bad(
            "v5 [MQTT-2.2.1-6] v3.1.1 [MQTT-2.3.1-7] UNSUBACK with packet id 0",
            v,
            frame(0xb0, cat![[0x00, 0x00], no_props(v), unsuback_codes]),
            PROTOCOL,
        ));
    }
    check_bad(&t);
}

#[test]
fn truncated_and_trailing() {
    let mut t = Vec::new();
    for v in ALL {
        t.push(bad(
            "PUBACK body of 1 byte",
            v,
            b"\x40\x01\x00".to_vec(),
            MALFORMED,
        ));
        t.push(bad(
            "PUBLISH topic length beyond the packet",
            v,
            b"\x30\x03\x00\x05a".to_vec(),
            MALFORMED,
        ));
        t.push(bad(
            "PUBLISH QoS 1 without its packet id",
            v,
            frame(0x32, s("a/b")),
            MALFORMED,
        ));
        t.push(bad(
            "PUBLISH with only one byte of topic length",
            v,
            b"\x30\x01\x00".to_vec(),
            MALFORMED,
        ));
        t.push(bad(
            "SUBSCRIBE filter without its options byte",
            v,
            subscribe(v, s("a/#")),
            MALFORMED,
        ));
        t.push(bad(
            "UNSUBSCRIBE filter length beyond the packet",
            v,
            unsubscribe(v, b"\x00\x09a/#".to_vec()),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-3.1.3-3] v3.1.1 [MQTT-3.1.3-3] CONNECT without client id",
            v,
            connect(v, 0x02, vec![]),
            MALFORMED,
        ));
        t.push(bad(
            "CONNECT ending inside the variable header",
            v,
            b"\x10\x08\x00\x04MQTT\x04\x02".to_vec(),
            MALFORMED,
        ));
        t.push(bad(
            "PINGREQ with a body",
            v,
            b"\xc0\x01\x00".to_vec(),
            MALFORMED,
        ));
        t.push(bad(
            "PINGRESP with a body",
            v,
            b"\xd0\x01\x00".to_vec(),
            MALFORMED,
        ));
        t.push(bad(
            "CONNECT with bytes after the payload",
            v,
            connect(v, 0x02, cat![s("a"), [0x00]]),
            MALFORMED,
        ));
        t.push(bad(
            "SUBACK v3 / v5 without any reason code: v5 [MQTT-3.8.4-6] v3.1.1 [MQTT-3.8.4-5]",
            v,
            frame(0x90, cat![[0x00, 0x01], no_props(v)]),
            PROTOCOL,
        ));
    }
    for v in [V3_1, V3_1_1] {
        // MQTT 3.x acknowledgements, UNSUBACK, CONNACK and DISCONNECT have fixed sizes.
        for bytes in [
            &b"\x40\x03\x00\x01\x00"[..],
            b"\x50\x03\x00\x01\x00",
            b"\x62\x03\x00\x01\x00",
            b"\x70\x03\x00\x01\x00",
            b"\xb0\x03\x00\x01\x00",
            b"\x20\x03\x00\x00\x00",
            b"\xe0\x01\x00",
        ] {
            t.push(bad(
                "v3 packet with bytes after its fixed-size body",
                v,
                bytes.to_vec(),
                MALFORMED,
            ));
        }
    }
    check_bad(&t);
}

#[test]
fn connect_rules() {
    // Every vector here is a CONNECT that does not conform to section 3.1, which the server
    // must detect: v5 [MQTT-3.1.4-1], v3.1.1 [MQTT-3.1.4-1].
    let mut t = Vec::new();
    for v in ALL {
        let wp = no_props(v);
        t.push(bad(
            "v5 [MQTT-3.1.2-3] v3.1.1 [MQTT-3.1.2-3] CONNECT reserved flag set",
            v,
            connect(v, 0x03, s("a")),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-3.1.2-11] v3.1.1 [MQTT-3.1.2-13] v3.1.1 [MQTT-3.1.2-11] will QoS 1 \
             without the will flag",
            v,
            connect(v, 0x0a, s("a")),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-3.1.2-11] v3.1.1 [MQTT-3.1.2-13] will QoS 2 without the will flag",
            v,
            connect(v, 0x12, s("a")),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-3.1.2-13] v3.1.1 [MQTT-3.1.2-15] v3.1.1 [MQTT-3.1.2-11] will retain \
             without the will flag",
            v,
            connect(v, 0x22, s("a")),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-3.1.2-12] v3.1.1 [MQTT-3.1.2-14] will QoS 3",
            v,
            connect(v, 0x1e, cat![s("a"), wp, s("w"), bin(b"x")]),
            MALFORMED,
        ));
        t.push(bad(
            // Will flag 0, but a will topic and message follow the client id.
            "v3.1.1 [MQTT-3.1.2-11] will topic and message present without the will flag",
            v,
            connect(v, 0x02, cat![s("a"), s("w"), bin(b"x")]),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-3.1.2-9] v3.1.1 [MQTT-3.1.2-9] will flag set but no will topic",
            v,
            connect(v, 0x06, s("a")),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-3.1.2-9] v3.1.1 [MQTT-3.1.2-9] will flag set but no will payload",
            v,
            connect(v, 0x06, cat![s("a"), wp, s("w")]),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-3.1.2-16] v3.1.1 [MQTT-3.1.2-18] user name present with user name flag 0",
            v,
            connect(v, 0x02, cat![s("a"), s("user")]),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-3.1.2-17] v3.1.1 [MQTT-3.1.2-19] user name flag 1 but no user name",
            v,
            connect(v, 0x82, s("a")),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-3.1.2-18] v3.1.1 [MQTT-3.1.2-20] password present with password flag 0",
            v,
            connect(v, 0x82, cat![s("a"), s("user"), bin(b"pw")]),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-3.1.2-19] v3.1.1 [MQTT-3.1.2-21] password flag 1 but no password",
            v,
            connect(v, 0xc2, cat![s("a"), s("user")]),
            MALFORMED,
        ));
        for bad_utf8 in BAD_UTF8 {
            t.push(bad(
                "v5 [MQTT-3.1.3-4] v3.1.1 [MQTT-3.1.3-4] v5 [MQTT-1.5.4-1] v3.1.1 [MQTT-1.5.3-1] \
                 client id is not well-formed UTF-8",
                v,
                connect(v, 0x02, bin(bad_utf8)),
                MALFORMED,
            ));
            t.push(bad(
                "v5 [MQTT-3.1.3-11] v3.1.1 [MQTT-3.1.3-10] will topic is not well-formed UTF-8",
                v,
                connect(v, 0x06, cat![s("a"), wp, bin(bad_utf8), bin(b"x")]),
                MALFORMED,
            ));
            t.push(bad(
                "v5 [MQTT-3.1.3-12] v3.1.1 [MQTT-3.1.3-11] user name is not well-formed UTF-8",
                v,
                connect(v, 0x82, cat![s("a"), bin(bad_utf8)]),
                MALFORMED,
            ));
        }
        t.push(bad(
            "v5 [MQTT-1.5.4-2] v3.1.1 [MQTT-1.5.3-2] client id contains U+0000",
            v,
            connect(v, 0x02, bin(b"a\x00b")),
            MALFORMED,
        ));
        t.push(bad(
            "v5 [MQTT-1.5.4-2] v3.1.1 [MQTT-1.5.3-2] user name contains U+0000",
            v,
            connect(v, 0x82, cat![s("a"), bin(b"\x00")]),
            MALFORMED,
        ));
        for will_topic in ["w/+", "#", ""] {
            t.push(bad(
                "v5 [MQTT-4.7.0-1] v3.1.1 [MQTT-4.7.1-1] v5 [MQTT-4.7.3-1] v3.1.1 \
                 [MQTT-4.7.3-1] will topic with a wildcard or empty",
                v,
                connect(v, 0x06, cat![s("a"), wp, s(will_topic), bin(b"x")]),
                TOPIC_NAME,
            ));
        }
    }
    for v in [V3_1, V3_1_1] {
        t.push(bad(
            "v3.1.1 [MQTT-3.1.2-22] password flag without user name flag",
            v,
            connect(v, 0x42, cat![s("a"), bin(b"pw")]),
            MALFORMED,
        ));
    }
    // Unknown protocol name or level: 0x84 (v5) / return code 0x01 (v3.1.1).
    let unknown: [(&[u8], u8); 8] = [
        (b"MQTT", 6),
        (b"MQTT", 3),
        (b"MQTT", 0),
        (b"MQIsdp", 4),
        (b"MQIsdp", 5),
        (b"MQTX", 4),
        (b"mqtt", 4),
        (b"MQTT\x00", 4),
    ];
    for (name, level) in unknown {
        for v in ALL {
            t.push(bad(
                "v5 [MQTT-3.1.2-1] v5 [MQTT-3.1.2-2] v3.1.1 [MQTT-3.1.2-1] v3.1.1 [MQTT-3.1.2-2] \
                 unknown protocol name or level",
                v,
                frame(
                    0x10,
                    cat![bin(name), [level, 0x02, 0x00, 0x3c, 0x00], s("a")],
                ),
                unsupported_level(level),
            ));
        }
    }
    check_bad(&t);
    // v3.1.1 [MQTT-3.1.2-2]: for a 3.1.1 client this error is CONNACK return code 0x01.
    assert_eq!(
        unsupported_level(6).reason_code(),
        ReasonCode::UnsupportedProtocolVersion
    );
    assert_eq!(
        ReasonCode::UnsupportedProtocolVersion.to_v3_connack_return_code(),
        Some(0x01)
    );
}

#[test]
fn connack_rules() {
    check_bad(&[
        bad(
            "v3.1.1 [MQTT-3.2.2-4] session present on a refusal",
            V3_1_1,
            b"\x20\x02\x01\x05".to_vec(),
            PROTOCOL,
        ),
        bad(
            "v5 [MQTT-3.2.2-6] session present on a refusal",
            V5,
            b"\x20\x03\x01\x80\x00".to_vec(),
            PROTOCOL,
        ),
        bad(
            "v5 [MQTT-3.2.2-1] CONNACK reserved acknowledge flags",
            V5,
            b"\x20\x03\x02\x00\x00".to_vec(),
            MALFORMED,
        ),
        bad(
            "v3.1.1 CONNACK reserved acknowledge flags",
            V3_1_1,
            b"\x20\x02\x80\x00".to_vec(),
            MALFORMED,
        ),
        bad(
            "v3.1.1 CONNACK return code 6 is reserved",
            V3_1_1,
            b"\x20\x02\x00\x06".to_vec(),
            MALFORMED,
        ),
        bad(
            "v3.1 CONNACK return code 0x80",
            V3_1,
            b"\x20\x02\x00\x80".to_vec(),
            MALFORMED,
        ),
        bad(
            "v3.1.1 CONNACK of 1 byte",
            V3_1_1,
            b"\x20\x01\x00".to_vec(),
            MALFORMED,
        ),
    ]);
}

#[test]
fn strings_and_topic_names() {
    let mut t = Vec::new();
    for v in ALL {
        for bad_utf8 in BAD_UTF8 {
            t.push(bad(
                "v5 [MQTT-3.3.2-1] v3.1.1 [MQTT-3.3.2-1] v5 [MQTT-1.5.4-1] v3.1.1 [MQTT-1.5.3-1] \
                 topic name is not well-formed UTF-8",
                v,
                publish(v, 0x30, bin(bad_utf8), &[]),
                MALFORMED,
            ));
            t.push(bad(
                "v5 [MQTT-3.8.3-1] v3.1.1 [MQTT-3.8.3-1] SUBSCRIBE filter is not well-formed UTF-8",
                v,
                subscribe(v, cat![bin(bad_utf8), [0x00]]),
                MALFORMED,
            ));
            t.push(bad(
                "v5 [MQTT-3.10.3-1] v3.1.1 [MQTT-3.10.3-1] UNSUBSCRIBE filter is not well-formed \
                 UTF-8",
                v,
                unsubscribe(v, bin(bad_utf8)),
                MALFORMED,
            ));
        }
        for nul in [&b"\x00"[..], b"a/\x00", b"a\x00/+"] {
            t.push(bad(
                "v5 [MQTT-4.7.3-2] v3.1.1 [MQTT-4.7.3-2] v5 [MQTT-1.5.4-2] v3.1.1 [MQTT-1.5.3-2] \
                 topic name contains U+0000",
                v,
                publish(v, 0x30, bin(nul), &[]),
                MALFORMED,
            ));
            t.push(bad(
                "v5 [MQTT-4.7.3-2] v3.1.1 [MQTT-4.7.3-2] topic filter contains U+0000",
                v,
                subscribe(v, cat![bin(nul), [0x00]]),
                MALFORMED,
            ));
            t.push(bad(
                "v5 [MQTT-4.7.3-2] v3.1.1 [MQTT-4.7.3-2] UNSUBSCRIBE filter contains U+0000",
                v,
                unsubscribe(v, bin(nul)),
                MALFORMED,
            ));
        }
        for name in ["a/+", "+", "#", "a/#", "a+b", "a#", "+/x"] {
            t.push(bad(
                "v5 [MQTT-3.3.2-2] v3.1.1 [MQTT-3.3.2-2] v5 [MQTT-4.7.0-1] v3.1.1 [MQTT-4.7.1-1] \
                 wildcard in a topic name",
                v,
                publish(v, 0x32, s(name), &[0x00, 0x01]),
                TOPIC_NAME,
            ));
        }
    }
    for v in [V3_1, V3_1_1] {
        t.push(bad(
            "v3.1.1 [MQTT-4.7.3-1] empty topic name",
            v,
            publish(v, 0x30, s(""), &[]),
            TOPIC_NAME,
        ));
    }
    // In MQTT 5 an empty topic name needs a Topic Alias (v5 §3.3.2.1).
    t.push(bad(
        "v5 [MQTT-4.7.3-1] empty topic name without a topic alias",
        V5,
        publish(V5, 0x30, s(""), &[]),
        PROTOCOL,
    ));
    check_bad(&t);
}

#[test]
fn topic_filters() {
    let mut t = Vec::new();
    let cases: [(&'static str, &[&str]); 5] = [
        (
            "v5 [MQTT-4.7.1-1] v3.1.1 [MQTT-4.7.1-2] '#' not alone or not last",
            &["a/#/b", "a#", "#/a", "a/b#", "##", "#+", "a/#/"],
        ),
        (
            "v5 [MQTT-4.7.1-2] v3.1.1 [MQTT-4.7.1-3] '+' not a whole level",
            &["a+", "+a", "a/b+/c", "++", "a/+b"],
        ),
        (
            "v5 [MQTT-4.7.3-1] v3.1.1 [MQTT-4.7.3-1] empty filter",
            &[""],
        ),
        (
            "v5 [MQTT-4.8.2-1] share name missing or with a wildcard",
            &[
                "$share//x",
                "$share/",
                "$share/g+/x",
                "$share/#/x",
                "$share/+/x",
            ],
        ),
        (
            "v5 [MQTT-4.8.2-2] share name not followed by '/' and a valid filter",
            &["$share/g", "$share/g/", "$share/g/a#", "$share/g/a/+b"],
        ),
    ];
    for (name, filters) in cases {
        for f in filters {
            for v in ALL {
                t.push(bad(name, v, subscribe(v, cat![s(f), [0x01]]), TOPIC_FILTER));
                t.push(bad(name, v, unsubscribe(v, s(f)), TOPIC_FILTER));
            }
        }
    }
    // A bad filter after a good one is still refused.
    for v in ALL {
        t.push(bad(
            "v5 [MQTT-4.7.1-1] v3.1.1 [MQTT-4.7.1-2] bad second filter",
            v,
            subscribe(v, cat![s("a/#"), [0x00], s("a/#/b"), [0x00]]),
            TOPIC_FILTER,
        ));
        t.push(bad(
            "v5 [MQTT-4.7.1-1] v3.1.1 [MQTT-4.7.1-2] bad second UNSUBSCRIBE filter",
            v,
            unsubscribe(v, cat![s("a/#"), s("a/#/b")]),
            TOPIC_FILTER,
        ));
    }
    check_bad(&t);
}

#[test]
fn subscribe_payload_rules() {
    let mut t = Vec::new();
    for v in ALL {
        t.push(bad(
            "v5 [MQTT-3.8.3-2] v3.1.1 [MQTT-3.8.3-3] SUBSCRIBE without any filter",
            v,
            subscribe(v, vec![]),
            PROTOCOL,
        ));
        t.push(bad(
            "v5 [MQTT-3.10.3-2] v3.1.1 [MQTT-3.10.3-2] UNSUBSCRIBE without any filter",
            v,
            unsubscribe(v, vec![]),
            PROTOCOL,
        ));
    }
    for v in [V3_1, V3_1_1] {
        for options in [0x03, 0x04, 0x08, 0x10, 0x40, 0x80, 0xfd] {
            t.push(bad(
                "v3.1.1 [MQTT-3.8.3-4] reserved bits of the requested QoS byte, or QoS 3",
                v,
                subscribe(v, cat![s("a/b"), [options]]),
                MALFORMED,
            ));
        }
    }
    for options in [0x40, 0x80, 0xc0, 0x41] {
        t.push(bad(
            "v5 [MQTT-3.8.3-5] reserved bits of the subscription options",
            V5,
            subscribe(V5, cat![s("a/b"), [options]]),
            MALFORMED,
        ));
    }
    // v5 §3.8.3.1: Maximum QoS 3 and Retain Handling 3 are Protocol Errors.
    for options in [0x03, 0x30, 0x33] {
        t.push(bad(
            "v5 subscription options with QoS 3 or retain handling 3",
            V5,
            subscribe(V5, cat![s("a/b"), [options]]),
            PROTOCOL,
        ));
    }
    for options in [0x04, 0x05, 0x2e] {
        t.push(bad(
            "v5 [MQTT-3.8.3-4] No Local on a shared subscription",
            V5,
            subscribe(V5, cat![s("$share/g/a"), [options]]),
            PROTOCOL,
        ));
    }
    t.push(bad(
        "v3.1.1 [MQTT-3.9.3-2] SUBACK return code 0x03",
        V3_1_1,
        b"\x90\x03\x00\x01\x03".to_vec(),
        MALFORMED,
    ));
    t.push(bad(
        "v3.1.1 [MQTT-3.9.3-2] SUBACK return code 0x87 (MQTT 5 only)",
        V3_1_1,
        b"\x90\x04\x00\x01\x00\x87".to_vec(),
        MALFORMED,
    ));
    check_bad(&t);
}

#[test]
fn oversize_refused_from_the_fixed_header_alone() {
    // Only the fixed header has arrived: the size is known, the body is not needed.
    let mut t = vec![
        Bad {
            max_packet_size: 1000,
            ..bad(
                "v5 [MQTT-3.2.2-15] largest remaining length, limit 1000",
                V5,
                b"\x30\xff\xff\xff\x7f".to_vec(),
                DecodeError::PacketTooLarge {
                    size: 268_435_460,
                    max: 1000,
                },
            )
        },
        Bad {
            max_packet_size: 1002,
            ..bad(
                "v5 [MQTT-3.2.2-15] 1003-byte packet, limit 1002",
                V5,
                b"\x30\xe8\x07".to_vec(),
                DecodeError::PacketTooLarge {
                    size: 1003,
                    max: 1002,
                },
            )
        },
    ];
    for v in [V3_1, V3_1_1] {
        t.push(Bad {
            max_packet_size: 16,
            ..bad(
                "3.x packet above the configured limit",
                v,
                b"\x82\x80\x01".to_vec(),
                DecodeError::PacketTooLarge { size: 131, max: 16 },
            )
        });
    }
    check_bad(&t);
    assert_eq!(
        DecodeError::PacketTooLarge { size: 1, max: 0 }.reason_code(),
        ReasonCode::PacketTooLarge
    );
    // Exactly at the limit the packet is accepted once its body is there.
    let mut buf = BytesMut::from(&b"\x30\xe8\x07"[..]);
    assert_eq!(Packet::decode(V5, &mut buf, 1003), Ok(None));
    assert_eq!(buf.len(), 3);
    buf.extend_from_slice(&cat![s("t"), [0x00], vec![0u8; 996]]);
    assert!(matches!(
        Packet::decode(V5, &mut buf, 1003),
        Ok(Some(Packet::Publish(_)))
    ));
    assert!(buf.is_empty());
}

#[test]
fn partial_input_is_none_and_consumes_nothing() {
    let prefixes: [&[u8]; 7] = [
        b"",
        b"\x30",
        b"\x30\x80",
        b"\x30\x80\x80\x80",
        b"\x30\xff\xff\xff\x7f",
        b"\x30\x0a\x00\x03a/b",
        b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01",
    ];
    for v in ALL {
        for prefix in prefixes {
            let mut buf = BytesMut::from(prefix);
            assert_eq!(
                Packet::decode(v, &mut buf, MAX_PACKET_SIZE),
                Ok(None),
                "{prefix:02X?}"
            );
            assert_eq!(&buf[..], prefix, "consumed a partial packet");
        }
    }
}
