//! Valid MQTT 3.1 and 3.1.1 byte vectors for every packet type: each decodes to exactly the
//! packet built here, consumes exactly its bytes, is `Ok(None)` on every strict prefix, and
//! encodes back to the same bytes (or to the stated canonical form) with a matching
//! `encoded_len`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use bytes::Bytes;
use common::*;
use starling_codec::{
    ConnAck, Connect, ConnectProperties, Disconnect, Packet, PubAck, PubComp, PubRec, PubRel,
    Publish, QoS, QosPid, ReasonCode, SubAck, Subscribe, SubscriptionOptions, UnsubAck,
    Unsubscribe, Will, WillProperties,
};

fn connect(protocol: starling_codec::ProtocolVersion, client_id: &str) -> Connect {
    Connect::new(protocol, ms(client_id))
}

fn will(t: &str, payload: &'static [u8], qos: QoS, retain: bool) -> Will {
    Will {
        topic: topic(t),
        payload: b(payload),
        qos,
        retain,
        properties: WillProperties::default(),
    }
}

#[test]
fn connect_v3_1_1() {
    check_valid(&[
        ok(
            "v3.1.1 minimal CONNECT: clean session, keep alive 60, client id 'a'",
            V3_1_1,
            b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01a".to_vec(),
            Packet::Connect(Box::new(connect(V3_1_1, "a"))),
        ),
        ok(
            // The client id is present and first, here with zero bytes: v3.1.1 [MQTT-3.1.3-3].
            "v3.1.1 [MQTT-3.1.3-3] empty client id, keep alive 0",
            V3_1_1,
            b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x00\x00\x00".to_vec(),
            Packet::Connect(Box::new(Connect {
                keep_alive: 0,
                ..connect(V3_1_1, "")
            })),
        ),
        ok(
            // Flags 0xEC: user name, password, will retain, will QoS 1, will flag; clean 0.
            "v3.1.1 [MQTT-3.1.3-1] payload order client id, will topic, will message, user name, \
             password; v3.1.1 [MQTT-3.1.2-9] will topic and message present with the will flag; \
             v3.1.1 [MQTT-3.1.2-19] user name and v3.1.1 [MQTT-3.1.2-21] password present with \
             their flags",
            V3_1_1,
            cat![
                b"\x10\x23\x00\x04MQTT\x04\xec\x12\x34",
                s("cid"),
                s("w/t"),
                bin(b"bye"),
                s("user"),
                bin(b"pw"),
            ],
            Packet::Connect(Box::new(Connect {
                clean_start: false,
                keep_alive: 0x1234,
                will: Some(will("w/t", b"bye", QoS::AtLeastOnce, true)),
                username: Some(ms("user")),
                password: Some(b(b"pw")),
                ..connect(V3_1_1, "cid")
            })),
        ),
        ok(
            // Flags 0x96: user name, will QoS 2, will flag, clean session.
            "v3.1.1 [MQTT-3.1.2-14] will QoS 2 accepted; user name without password; empty will \
             message",
            V3_1_1,
            cat![
                b"\x10\x1a\x00\x04MQTT\x04\x96\x00\x0a",
                s("c"),
                s("will/t"),
                bin(b""),
                s("u"),
            ],
            Packet::Connect(Box::new(Connect {
                keep_alive: 10,
                will: Some(will("will/t", b"", QoS::ExactlyOnce, false)),
                username: Some(ms("u")),
                ..connect(V3_1_1, "c")
            })),
        ),
        ok(
            "v3.1.1 will QoS 0 with retain",
            V3_1_1,
            cat![
                b"\x10\x13\x00\x04MQTT\x04\x26\x00\x3c",
                s("c"),
                s("w"),
                bin(b"x")
            ],
            Packet::Connect(Box::new(Connect {
                will: Some(will("w", b"x", QoS::AtMostOnce, true)),
                ..connect(V3_1_1, "c")
            })),
        ),
        ok(
            // v3.1.1 [MQTT-3.1.3-5]: 1 to 23 bytes of [0-9a-zA-Z] must be allowed.
            "v3.1.1 [MQTT-3.1.3-5] 23-byte alphanumeric client id",
            V3_1_1,
            cat![
                b"\x10\x23\x00\x04MQTT\x04\x02\x00\x3c",
                s("0123456789abcdefghijXYZ")
            ],
            Packet::Connect(Box::new(connect(V3_1_1, "0123456789abcdefghijXYZ"))),
        ),
        ok(
            // v3.1.1 [MQTT-1.5.3-3]: a BOM is kept, not stripped.
            "v3.1.1 [MQTT-1.5.3-3] client id starting with U+FEFF keeps it",
            V3_1_1,
            cat![b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c", s("\u{FEFF}x")],
            Packet::Connect(Box::new(connect(V3_1_1, "\u{FEFF}x"))),
        ),
        ok(
            // Informational MQTT 5 fields are absent for 3.x: the default properties.
            "v3.1.1 user name and password",
            V3_1_1,
            cat![
                b"\x10\x1c\x00\x04MQTT\x04\xc2\x00\x3c",
                s("c"),
                s("alice"),
                bin(b"s3cret"),
            ],
            Packet::Connect(Box::new(Connect {
                username: Some(ms("alice")),
                password: Some(b(b"s3cret")),
                properties: ConnectProperties::default(),
                ..connect(V3_1_1, "c")
            })),
        ),
    ]);
}

#[test]
fn connect_v3_1() {
    check_valid(&[
        ok(
            "v3.1 CONNECT: protocol name MQIsdp, level 3",
            V3_1,
            b"\x10\x11\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x03c31".to_vec(),
            Packet::Connect(Box::new(connect(V3_1, "c31"))),
        ),
        ok(
            // A CONNECT names its own version: decoding it "as 3.1.1" still yields 3.1.
            "v3.1 CONNECT decoded with a 3.1.1 version argument",
            V3_1_1,
            b"\x10\x11\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x03c31".to_vec(),
            Packet::Connect(Box::new(connect(V3_1, "c31"))),
        ),
        ok(
            // Flags 0xCE: user name, password, will QoS 1, will flag, clean session.
            "v3.1 CONNECT with will, user name and password",
            V3_1,
            cat![
                b"\x10\x32\x00\x06MQIsdp\x03\xce\x00\x3c",
                s("mp31all"),
                s("will/t"),
                bin(b"gone"),
                s("alice"),
                bin(b"s3cret"),
            ],
            Packet::Connect(Box::new(Connect {
                will: Some(will("will/t", b"gone", QoS::AtLeastOnce, false)),
                username: Some(ms("alice")),
                password: Some(b(b"s3cret")),
                ..connect(V3_1, "mp31all")
            })),
        ),
    ]);
}

fn connack(session_present: bool, rc: ReasonCode) -> Packet {
    Packet::ConnAck(Box::new(ConnAck {
        session_present,
        ..ConnAck::new(rc)
    }))
}

#[test]
fn connack_v3() {
    use ReasonCode as R;
    check_valid(&[
        ok(
            "v3.1.1 CONNACK 0 accepted",
            V3_1_1,
            b"\x20\x02\x00\x00".to_vec(),
            connack(false, R::Success),
        ),
        ok(
            "v3.1.1 CONNACK accepted, session present",
            V3_1_1,
            b"\x20\x02\x01\x00".to_vec(),
            connack(true, R::Success),
        ),
        ok(
            "v3.1.1 CONNACK 1 unacceptable protocol version",
            V3_1_1,
            b"\x20\x02\x00\x01".to_vec(),
            connack(false, R::UnsupportedProtocolVersion),
        ),
        ok(
            "v3.1.1 CONNACK 2 identifier rejected",
            V3_1_1,
            b"\x20\x02\x00\x02".to_vec(),
            connack(false, R::ClientIdentifierNotValid),
        ),
        ok(
            "v3.1.1 CONNACK 3 server unavailable",
            V3_1_1,
            b"\x20\x02\x00\x03".to_vec(),
            connack(false, R::ServerUnavailable),
        ),
        ok(
            "v3.1.1 CONNACK 4 bad user name or password",
            V3_1_1,
            b"\x20\x02\x00\x04".to_vec(),
            connack(false, R::BadUserNameOrPassword),
        ),
        ok(
            "v3.1.1 CONNACK 5 not authorized",
            V3_1_1,
            b"\x20\x02\x00\x05".to_vec(),
            connack(false, R::NotAuthorized),
        ),
        ok(
            "v3.1 CONNACK 0",
            V3_1,
            b"\x20\x02\x00\x00".to_vec(),
            connack(false, R::Success),
        ),
        ok(
            "v3.1 CONNACK 5",
            V3_1,
            b"\x20\x02\x00\x05".to_vec(),
            connack(false, R::NotAuthorized),
        ),
        // MQTT 3.1 has no Session Present: its first byte is reserved and ignored.
        ok_decode_only(
            "v3.1 CONNACK reserved first byte is ignored",
            V3_1,
            b"\x20\x02\x01\x00".to_vec(),
            connack(false, R::Success),
            b"\x20\x02\x00\x00".to_vec(),
        ),
    ]);
}

fn publish(t: &str, qos_pid: QosPid, payload: &'static [u8]) -> Publish {
    Publish::new(topic(t), qos_pid, b(payload))
}

/// A QoS 0 PUBLISH to "t" whose remaining length is exactly `len`.
fn publish_of_len(len: usize) -> (Vec<u8>, Packet) {
    let payload = vec![b'x'; len - 3];
    let p = Publish::new(topic("t"), QosPid::AtMostOnce, Bytes::from(payload.clone()));
    (cat![s("t"), payload], Packet::Publish(p))
}

#[test]
fn publish_v3() {
    let mut table = vec![
        ok(
            "v3.1.1 PUBLISH QoS 0",
            V3_1_1,
            b"\x30\x0a\x00\x03a/bhello".to_vec(),
            Packet::Publish(publish("a/b", QosPid::AtMostOnce, b"hello")),
        ),
        ok(
            // The two bytes after the topic are payload, not a packet identifier.
            "v3.1.1 [MQTT-2.3.1-5] QoS 0 PUBLISH has no packet identifier",
            V3_1_1,
            b"\x30\x07\x00\x03a/b\x00\x01".to_vec(),
            Packet::Publish(publish("a/b", QosPid::AtMostOnce, b"\x00\x01")),
        ),
        ok(
            "v3.1.1 [MQTT-2.3.1-1] PUBLISH QoS 1 with packet id 1",
            V3_1_1,
            b"\x32\x0c\x00\x03a/b\x00\x01hello".to_vec(),
            Packet::Publish(publish("a/b", q1(1), b"hello")),
        ),
        ok(
            "v3.1.1 PUBLISH QoS 2, DUP, RETAIN, packet id 65535",
            V3_1_1,
            b"\x3d\x0c\x00\x03a/b\xff\xffhello".to_vec(),
            Packet::Publish(
                publish("a/b", q2(65535), b"hello")
                    .with_dup(true)
                    .with_retain(true),
            ),
        ),
        ok(
            "v3.1.1 PUBLISH QoS 1 DUP",
            V3_1_1,
            b"\x3a\x05\x00\x01t\x12\x34".to_vec(),
            Packet::Publish(publish("t", q1(0x1234), b"").with_dup(true)),
        ),
        ok(
            "v3.1.1 PUBLISH retained with an empty payload",
            V3_1_1,
            b"\x31\x05\x00\x03a/b".to_vec(),
            Packet::Publish(publish("a/b", QosPid::AtMostOnce, b"").with_retain(true)),
        ),
        ok(
            "v3.1.1 [MQTT-3.3.2-1] UTF-8 topic name",
            V3_1_1,
            cat![
                [0x32, 0x13],
                s("caf\u{e9}/\u{6e29}\u{5ea6}"),
                [0x00, 0x07],
                "°C"
            ],
            Packet::Publish(publish(
                "caf\u{e9}/\u{6e29}\u{5ea6}",
                q1(7),
                "°C".as_bytes(),
            )),
        ),
        ok(
            "v3.1.1 [MQTT-1.5.3-3] topic starting with U+FEFF keeps it",
            V3_1_1,
            cat![[0x30, 0x06], s("\u{FEFF}t")],
            Packet::Publish(publish("\u{FEFF}t", QosPid::AtMostOnce, b"")),
        ),
        ok(
            "v3.1.1 topic names '/', 'a//b', '$SYS/x' and spaces are valid",
            V3_1_1,
            cat![[0x30, 0x03], s("/")],
            Packet::Publish(publish("/", QosPid::AtMostOnce, b"")),
        ),
        ok(
            "v3.1.1 topic 'a//b'",
            V3_1_1,
            cat![[0x30, 0x06], s("a//b")],
            Packet::Publish(publish("a//b", QosPid::AtMostOnce, b"")),
        ),
        ok(
            "v3.1.1 topic '$SYS/x y'",
            V3_1_1,
            cat![[0x30, 0x0a], s("$SYS/x y")],
            Packet::Publish(publish("$SYS/x y", QosPid::AtMostOnce, b"")),
        ),
        ok(
            "v3.1 PUBLISH QoS 1",
            V3_1,
            b"\x32\x09\x00\x03a/b\x00\x01hi".to_vec(),
            Packet::Publish(publish("a/b", q1(1), b"hi")),
        ),
        ok(
            "v3.1 PUBLISH QoS 2 DUP",
            V3_1,
            b"\x3c\x0a\x00\x03a/b\x00\x02hi2".to_vec(),
            Packet::Publish(publish("a/b", q2(2), b"hi2").with_dup(true)),
        ),
    ];
    // v3.1.1 [MQTT-4.7.3-3]: a topic of 65,535 bytes is the longest and is accepted.
    let long = "x".repeat(65_535);
    table.push(ok(
        "v3.1.1 [MQTT-4.7.3-3] 65535-byte topic name",
        V3_1_1,
        cat![[0x30, 0x82, 0x80, 0x04], s(&long), b"p"],
        Packet::Publish(Publish::new(topic(&long), QosPid::AtMostOnce, b(b"p"))),
    ));
    // Remaining-length boundaries (v5 §1.5.5): the encoder uses the fewest bytes,
    // v5 [MQTT-1.5.5-1], up to the 4-byte form.
    for (len, header) in [
        (127usize, &b"\x30\x7f"[..]),
        (128, b"\x30\x80\x01"),
        (16_383, b"\x30\xff\x7f"),
        (16_384, b"\x30\x80\x80\x01"),
        (2_097_151, b"\x30\xff\xff\x7f"),
        (2_097_152, b"\x30\x80\x80\x80\x01"),
    ] {
        let (body, packet) = publish_of_len(len);
        table.push(ok(
            "v3.1.1 remaining length boundary, minimal encoding v5 [MQTT-1.5.5-1]",
            V3_1_1,
            cat![header, body],
            packet,
        ));
    }
    check_valid(&table);
}

#[test]
fn acks_v3() {
    check_valid(&[
        ok(
            "v3.1.1 PUBACK",
            V3_1_1,
            b"\x40\x02\x00\x01".to_vec(),
            Packet::PubAck(PubAck::new(pid(1))),
        ),
        ok(
            "v3.1.1 PUBREC",
            V3_1_1,
            b"\x50\x02\xff\xff".to_vec(),
            Packet::PubRec(PubRec::new(pid(65535))),
        ),
        ok(
            "v3.1.1 [MQTT-3.6.1-1] PUBREL with flags 0010",
            V3_1_1,
            b"\x62\x02\x12\x34".to_vec(),
            Packet::PubRel(PubRel::new(pid(0x1234))),
        ),
        ok(
            "v3.1.1 PUBCOMP",
            V3_1_1,
            b"\x70\x02\x00\x07".to_vec(),
            Packet::PubComp(PubComp::new(pid(7))),
        ),
        ok(
            "v3.1 PUBACK",
            V3_1,
            b"\x40\x02\x00\x01".to_vec(),
            Packet::PubAck(PubAck::new(pid(1))),
        ),
        ok(
            "v3.1 PUBREC",
            V3_1,
            b"\x50\x02\x00\x02".to_vec(),
            Packet::PubRec(PubRec::new(pid(2))),
        ),
        ok(
            "v3.1 PUBREL",
            V3_1,
            b"\x62\x02\x00\x02".to_vec(),
            Packet::PubRel(PubRel::new(pid(2))),
        ),
        ok(
            "v3.1 PUBCOMP",
            V3_1,
            b"\x70\x02\x00\x02".to_vec(),
            Packet::PubComp(PubComp::new(pid(2))),
        ),
        // MQTT 3.1 clients set DUP on a retransmitted PUBREL; accepted, written without it.
        ok_decode_only(
            "v3.1 PUBREL with DUP (flags 1010) is tolerated",
            V3_1,
            b"\x6a\x02\x00\x02".to_vec(),
            Packet::PubRel(PubRel::new(pid(2))),
            b"\x62\x02\x00\x02".to_vec(),
        ),
    ]);
}

fn subscribe(id: u16, filters: &[(&str, QoS)]) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: pid(id),
        filters: filters
            .iter()
            .map(|(f, q)| (filter(f), SubscriptionOptions::new(*q)))
            .collect(),
        properties: Default::default(),
    })
}

fn unsubscribe(id: u16, filters: &[&str]) -> Packet {
    Packet::Unsubscribe(Unsubscribe {
        packet_id: pid(id),
        filters: filters.iter().map(|f| filter(f)).collect(),
        properties: Default::default(),
    })
}

#[test]
fn subscribe_v3() {
    check_valid(&[
        ok(
            "v3.1.1 [MQTT-3.8.1-1] SUBSCRIBE flags 0010, one filter '#' QoS 0",
            V3_1_1,
            cat![[0x82, 0x06, 0x00, 0x01], s("#"), [0x00]],
            subscribe(1, &[("#", QoS::AtMostOnce)]),
        ),
        ok(
            "v3.1.1 [MQTT-3.8.3-1] SUBSCRIBE with wildcard and $share filters, QoS 0/1/2",
            V3_1_1,
            cat![
                [0x82, 0x1f, 0x00, 0x0a],
                s("a/+/c"),
                [0x01],
                s("d/#"),
                [0x02],
                s("$share/g/x/y"),
                [0x00],
            ],
            subscribe(
                10,
                &[
                    ("a/+/c", QoS::AtLeastOnce),
                    ("d/#", QoS::ExactlyOnce),
                    ("$share/g/x/y", QoS::AtMostOnce),
                ],
            ),
        ),
        ok(
            "v3.1.1 filters '+', '+/+', '/', 'a//b', '$SYS/#', UTF-8",
            V3_1_1,
            cat![
                [0x82, 0x2a, 0x00, 0x02],
                s("+"),
                [0x00],
                s("+/+"),
                [0x00],
                s("/"),
                [0x00],
                s("a//b"),
                [0x01],
                s("$SYS/#"),
                [0x01],
                s("caf\u{e9}/+"),
                [0x02],
            ],
            subscribe(
                2,
                &[
                    ("+", QoS::AtMostOnce),
                    ("+/+", QoS::AtMostOnce),
                    ("/", QoS::AtMostOnce),
                    ("a//b", QoS::AtLeastOnce),
                    ("$SYS/#", QoS::AtLeastOnce),
                    ("caf\u{e9}/+", QoS::ExactlyOnce),
                ],
            ),
        ),
        ok(
            "v3.1 SUBSCRIBE",
            V3_1,
            cat![[0x82, 0x08, 0x00, 0x01], s("a/#"), [0x01]],
            subscribe(1, &[("a/#", QoS::AtLeastOnce)]),
        ),
        ok_decode_only(
            "v3.1 SUBSCRIBE with DUP (flags 1010) is tolerated",
            V3_1,
            cat![[0x8a, 0x08, 0x00, 0x01], s("a/#"), [0x01]],
            subscribe(1, &[("a/#", QoS::AtLeastOnce)]),
            cat![[0x82, 0x08, 0x00, 0x01], s("a/#"), [0x01]],
        ),
    ]);
}

#[test]
fn suback_v3() {
    use ReasonCode as R;
    check_valid(&[
        ok(
            "v3.1.1 SUBACK return codes 0, 1, 2 and 0x80 in filter order",
            V3_1_1,
            b"\x90\x06\x00\x01\x00\x01\x02\x80".to_vec(),
            Packet::SubAck(SubAck {
                packet_id: pid(1),
                reason_codes: vec![
                    R::Success,
                    R::GrantedQoS1,
                    R::GrantedQoS2,
                    R::UnspecifiedError,
                ],
                properties: Default::default(),
            }),
        ),
        ok(
            "v3.1 SUBACK",
            V3_1,
            b"\x90\x03\x00\x01\x01".to_vec(),
            Packet::SubAck(SubAck {
                packet_id: pid(1),
                reason_codes: vec![R::GrantedQoS1],
                properties: Default::default(),
            }),
        ),
    ]);
}

#[test]
fn unsubscribe_v3() {
    check_valid(&[
        ok(
            "v3.1.1 [MQTT-3.10.1-1] UNSUBSCRIBE flags 0010, two filters",
            V3_1_1,
            cat![[0xa2, 0x0e, 0x00, 0x02], s("a/+/c"), s("d/#")],
            unsubscribe(2, &["a/+/c", "d/#"]),
        ),
        ok(
            "v3.1.1 UNSUBSCRIBE $share filter",
            V3_1_1,
            cat![[0xa2, 0x10, 0x00, 0x03], s("$share/g/x/y")],
            unsubscribe(3, &["$share/g/x/y"]),
        ),
        ok(
            "v3.1 UNSUBSCRIBE",
            V3_1,
            cat![[0xa2, 0x07, 0x00, 0x03], s("a/#")],
            unsubscribe(3, &["a/#"]),
        ),
        ok_decode_only(
            "v3.1 UNSUBSCRIBE with DUP (flags 1010) is tolerated",
            V3_1,
            cat![[0xaa, 0x07, 0x00, 0x03], s("a/#")],
            unsubscribe(3, &["a/#"]),
            cat![[0xa2, 0x07, 0x00, 0x03], s("a/#")],
        ),
        ok(
            "v3.1.1 UNSUBACK",
            V3_1_1,
            b"\xb0\x02\x00\x02".to_vec(),
            Packet::UnsubAck(UnsubAck {
                packet_id: pid(2),
                reason_codes: vec![],
                properties: Default::default(),
            }),
        ),
        ok(
            "v3.1 UNSUBACK",
            V3_1,
            b"\xb0\x02\x00\x03".to_vec(),
            Packet::UnsubAck(UnsubAck {
                packet_id: pid(3),
                reason_codes: vec![],
                properties: Default::default(),
            }),
        ),
    ]);
}

#[test]
fn ping_and_disconnect_v3() {
    let mut table = Vec::new();
    for v in [V3_1, V3_1_1] {
        table.push(ok("PINGREQ", v, b"\xc0\x00".to_vec(), Packet::PingReq));
        table.push(ok("PINGRESP", v, b"\xd0\x00".to_vec(), Packet::PingResp));
        table.push(ok(
            "DISCONNECT",
            v,
            b"\xe0\x00".to_vec(),
            Packet::Disconnect(Disconnect::default()),
        ));
    }
    check_valid(&table);
}

#[test]
fn topics_are_neither_normalised_nor_case_folded() {
    use starling_codec::TopicFilter;
    // "café" precomposed (U+00E9) and decomposed (e + U+0301) are different topics.
    let decomposed = "cafe\u{301}";
    check_valid(&[ok(
        "v3.1.1 [MQTT-4.7.3-4] decomposed UTF-8 topic kept byte for byte",
        V3_1_1,
        cat![[0x30, 0x08], s(decomposed)],
        Packet::Publish(publish(decomposed, QosPid::AtMostOnce, b"")),
    )]);
    // v5 [MQTT-4.7.3-4], v3.1.1 [MQTT-4.7.3-4]: matching compares the strings as they are.
    let precomposed = TopicFilter::try_from("caf\u{e9}").unwrap();
    assert!(precomposed.matches("caf\u{e9}"));
    assert!(!precomposed.matches(decomposed));
    assert!(!TopicFilter::try_from("a/B").unwrap().matches("a/b"));
    assert!(!TopicFilter::try_from("a /b").unwrap().matches("a/b"));
    // v5 [MQTT-4.7.2-1], v3.1.1 [MQTT-4.7.2-1]: a leading wildcard does not match '$' topics.
    for f in ["#", "+/x", "+/#"] {
        assert!(!TopicFilter::try_from(f).unwrap().matches("$SYS/x"), "{f}");
    }
    assert!(TopicFilter::try_from("$SYS/+").unwrap().matches("$SYS/x"));
    // The share prefix is not part of the filter matched.
    assert!(TopicFilter::try_from("$share/g/a/+")
        .unwrap()
        .matches("a/b"));
}
