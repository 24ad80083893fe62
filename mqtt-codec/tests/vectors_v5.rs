//! Valid MQTT 5.0 byte vectors for CONNECT, CONNACK, PUBLISH and SUBSCRIBE (the other eleven
//! packet types are in `vectors_v5_acks.rs`); together they use every property identifier at
//! least once. Each decodes to exactly the packet built here, consumes exactly its bytes, is
//! `Ok(None)` on every strict prefix, and encodes back to the same bytes (or to the stated
//! canonical, shortest form) with a matching `encoded_len`. Properties are written in the order
//! of the struct fields.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use common::*;
use starling_codec::{
    ConnAck, ConnAckProperties, Connect, ConnectProperties, Packet, PayloadFormat, Publish,
    PublishProperties, QoS, QosPid, ReasonCode, RetainHandling, Subscribe, SubscribeProperties,
    SubscriptionOptions, Will, WillProperties,
};

fn rc(code: u8) -> ReasonCode {
    ReasonCode::from_u8(code).unwrap()
}

#[test]
fn connect_v5() {
    let connect_props = with(|p: &mut ConnectProperties| {
        p.session_expiry_interval = Some(300);
        p.receive_maximum = Some(nz16(10));
        p.maximum_packet_size = Some(nz32(65_536));
        p.topic_alias_maximum = Some(5);
        p.request_response_information = Some(true);
        p.request_problem_information = Some(false);
        p.user_properties = vec![user("k", "1"), user("k", "2")];
        p.authentication_method = Some(ms("SCRAM-SHA-1"));
        p.authentication_data = Some(b(b"\x00\x01\x02"));
    });
    let will_props = with(|p: &mut WillProperties| {
        p.will_delay_interval = Some(30);
        p.payload_format_indicator = Some(PayloadFormat::Utf8);
        p.message_expiry_interval = Some(600);
        p.content_type = Some(ms("text/plain"));
        p.response_topic = Some(topic("will/resp"));
        p.correlation_data = Some(b(b"wcd"));
        p.user_properties = vec![user("w", "1")];
    });
    check_valid(&[
        ok(
            "v5 [MQTT-2.2.2-1] minimal CONNECT: no properties is a property length of 0",
            V5,
            b"\x10\x0e\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x01a".to_vec(),
            Packet::Connect(Box::new(Connect::new(V5, ms("a")))),
        ),
        ok(
            // Flags 0xEE: user name, password, will retain, will QoS 1, will flag, clean start.
            "v5 [MQTT-3.1.3-1] payload order client id, will properties, will topic, will \
             payload, user name, password; v5 [MQTT-3.1.2-9] will properties, topic and payload \
             present with the will flag; v5 [MQTT-3.1.2-17] user name and v5 [MQTT-3.1.2-19] \
             password present with their flags; every CONNECT and will property",
            V5,
            frame(
                0x10,
                cat![
                    s("MQTT"),
                    [0x05, 0xee, 0x00, 0x3c],
                    props(cat![
                        [0x11],
                        300u32.to_be_bytes(),
                        [0x21, 0x00, 0x0a],
                        [0x27],
                        65_536u32.to_be_bytes(),
                        [0x22, 0x00, 0x05],
                        [0x19, 0x01],
                        [0x17, 0x00],
                        user_prop("k", "1"),
                        user_prop("k", "2"),
                        [0x15],
                        s("SCRAM-SHA-1"),
                        [0x16],
                        bin(b"\x00\x01\x02"),
                    ]),
                    s("cid"),
                    props(cat![
                        [0x18],
                        30u32.to_be_bytes(),
                        [0x01, 0x01],
                        [0x02],
                        600u32.to_be_bytes(),
                        [0x03],
                        s("text/plain"),
                        [0x08],
                        s("will/resp"),
                        [0x09],
                        bin(b"wcd"),
                        user_prop("w", "1"),
                    ]),
                    s("will/t"),
                    bin(b"gone"),
                    s("alice"),
                    bin(b"s3cret"),
                ],
            ),
            Packet::Connect(Box::new(Connect {
                will: Some(Will {
                    topic: topic("will/t"),
                    payload: b(b"gone"),
                    qos: QoS::AtLeastOnce,
                    retain: true,
                    properties: will_props,
                }),
                username: Some(ms("alice")),
                password: Some(b(b"s3cret")),
                client_id: ms("cid"),
                properties: connect_props,
                ..Connect::new(V5, ms(""))
            })),
        ),
        ok(
            // MQTT 5 allows a password without a user name (flags 0x40).
            "v5 password without user name, clean start 0, will QoS 2 without retain",
            V5,
            frame(
                0x10,
                cat![
                    s("MQTT"),
                    [0x05, 0x54, 0x00, 0x00, 0x00],
                    s("c"),
                    [0x00],
                    s("w"),
                    bin(b""),
                    bin(b"token"),
                ],
            ),
            Packet::Connect(Box::new(Connect {
                clean_start: false,
                keep_alive: 0,
                will: Some(Will {
                    topic: topic("w"),
                    payload: b(b""),
                    qos: QoS::ExactlyOnce,
                    retain: false,
                    properties: WillProperties::default(),
                }),
                password: Some(b(b"token")),
                ..Connect::new(V5, ms("c"))
            })),
        ),
        ok(
            "v5 [MQTT-1.5.4-3] client id starting with U+FEFF keeps it",
            V5,
            cat![b"\x10\x11\x00\x04MQTT\x05\x02\x00\x3c\x00", s("\u{FEFF}x")],
            Packet::Connect(Box::new(Connect::new(V5, ms("\u{FEFF}x")))),
        ),
        ok(
            "v5 [MQTT-3.1.3-5] 23-byte alphanumeric client id",
            V5,
            cat![
                b"\x10\x24\x00\x04MQTT\x05\x02\x00\x3c\x00",
                s("0123456789abcdefghijXYZ")
            ],
            Packet::Connect(Box::new(Connect::new(V5, ms("0123456789abcdefghijXYZ")))),
        ),
        ok_decode_only(
            // Properties may come in any order; the encoder writes them in field order.
            "v5 CONNECT properties in another order",
            V5,
            frame(
                0x10,
                cat![
                    s("MQTT"),
                    [0x05, 0x02, 0x00, 0x3c],
                    props(cat![[0x21, 0x00, 0x0a], [0x11], 300u32.to_be_bytes()]),
                    s("a"),
                ],
            ),
            Packet::Connect(Box::new(Connect {
                properties: with(|p: &mut ConnectProperties| {
                    p.session_expiry_interval = Some(300);
                    p.receive_maximum = Some(nz16(10));
                }),
                ..Connect::new(V5, ms("a"))
            })),
            frame(
                0x10,
                cat![
                    s("MQTT"),
                    [0x05, 0x02, 0x00, 0x3c],
                    props(cat![[0x11], 300u32.to_be_bytes(), [0x21, 0x00, 0x0a]]),
                    s("a"),
                ],
            ),
        ),
    ]);
}

#[test]
fn connack_v5() {
    let all = with(|p: &mut ConnAckProperties| {
        p.session_expiry_interval = Some(3600);
        p.receive_maximum = Some(nz16(20));
        p.maximum_qos = Some(QoS::AtLeastOnce);
        p.retain_available = Some(false);
        p.maximum_packet_size = Some(nz32(1_048_576));
        p.assigned_client_identifier = Some(ms("auto-1"));
        p.topic_alias_maximum = Some(10);
        p.reason_string = Some(ms("welcome"));
        p.user_properties = vec![user("a", "b"), user("a", "c")];
        p.wildcard_subscription_available = Some(true);
        p.subscription_identifiers_available = Some(false);
        p.shared_subscription_available = Some(true);
        p.server_keep_alive = Some(30);
        p.response_information = Some(ms("resp/"));
        p.server_reference = Some(ms("other:1883"));
        p.authentication_method = Some(ms("SCRAM-SHA-1"));
        p.authentication_data = Some(b(b"srv"));
    });
    let mut table = vec![
        ok(
            "v5 CONNACK success, no properties",
            V5,
            b"\x20\x03\x00\x00\x00".to_vec(),
            Packet::ConnAck(Box::new(ConnAck::new(ReasonCode::Success))),
        ),
        ok(
            "v5 CONNACK session present",
            V5,
            b"\x20\x03\x01\x00\x00".to_vec(),
            Packet::ConnAck(Box::new(ConnAck {
                session_present: true,
                ..ConnAck::new(ReasonCode::Success)
            })),
        ),
        ok(
            "v5 CONNACK with every CONNACK property",
            V5,
            frame(
                0x20,
                cat![
                    [0x00, 0x00],
                    props(cat![
                        [0x11],
                        3600u32.to_be_bytes(),
                        [0x21, 0x00, 0x14],
                        [0x24, 0x01],
                        [0x25, 0x00],
                        [0x27],
                        1_048_576u32.to_be_bytes(),
                        [0x12],
                        s("auto-1"),
                        [0x22, 0x00, 0x0a],
                        [0x1f],
                        s("welcome"),
                        user_prop("a", "b"),
                        user_prop("a", "c"),
                        [0x28, 0x01],
                        [0x29, 0x00],
                        [0x2a, 0x01],
                        [0x13, 0x00, 0x1e],
                        [0x1a],
                        s("resp/"),
                        [0x1c],
                        s("other:1883"),
                        [0x15],
                        s("SCRAM-SHA-1"),
                        [0x16],
                        bin(b"srv"),
                    ]),
                ],
            ),
            Packet::ConnAck(Box::new(ConnAck {
                properties: all,
                ..ConnAck::new(ReasonCode::Success)
            })),
        ),
        ok_decode_only(
            // v5 §3.2.2.3.1 requires the property length, but mqttbytes (rumqtt) omits it when
            // there are no properties; the decoder tolerates that form, the encoder never
            // writes it.
            "v5 CONNACK without property length, as mqttbytes writes it",
            V5,
            b"\x20\x02\x00\x00".to_vec(),
            Packet::ConnAck(Box::new(ConnAck::new(ReasonCode::Success))),
            b"\x20\x03\x00\x00\x00".to_vec(),
        ),
        ok(
            "v5 CONNACK maximum QoS 0",
            V5,
            b"\x20\x05\x00\x00\x02\x24\x00".to_vec(),
            Packet::ConnAck(Box::new(ConnAck {
                properties: with(|p: &mut ConnAckProperties| p.maximum_qos = Some(QoS::AtMostOnce)),
                ..ConnAck::new(ReasonCode::Success)
            })),
        ),
    ];
    for &code in CONNACK_CODES {
        table.push(ok(
            "v5 CONNACK with each Connect Reason Code",
            V5,
            vec![0x20, 0x03, 0x00, code, 0x00],
            Packet::ConnAck(Box::new(ConnAck::new(rc(code)))),
        ));
    }
    check_valid(&table);
}

#[test]
fn publish_v5() {
    let all = with(|p: &mut PublishProperties| {
        p.payload_format_indicator = Some(PayloadFormat::Utf8);
        p.message_expiry_interval = Some(60);
        p.topic_alias = Some(nz16(3));
        p.response_topic = Some(topic("resp/t"));
        p.correlation_data = Some(b(b"\x00\x01corr"));
        p.user_properties = vec![user("k", "v"), user("k", "v2"), user("a", "")];
        p.subscription_identifiers = vec![nz32(1), nz32(268_435_455)];
        p.content_type = Some(ms("application/json"));
    });
    check_valid(&[
        ok(
            "v5 [MQTT-2.2.2-1] PUBLISH QoS 0 without properties",
            V5,
            b"\x30\x0b\x00\x03a/b\x00hello".to_vec(),
            Packet::Publish(Publish::new(topic("a/b"), QosPid::AtMostOnce, b(b"hello"))),
        ),
        ok(
            // After the topic comes the property length, not a packet identifier.
            "v5 [MQTT-2.2.1-2] QoS 0 PUBLISH has no packet identifier",
            V5,
            b"\x30\x08\x00\x03a/b\x00\x00\x01".to_vec(),
            Packet::Publish(Publish::new(
                topic("a/b"),
                QosPid::AtMostOnce,
                b(b"\x00\x01"),
            )),
        ),
        ok(
            // Two user properties with the same name, two subscription identifiers, the largest
            // (a four-byte variable byte integer).
            "v5 PUBLISH QoS 1 with every PUBLISH property",
            V5,
            frame(
                0x32,
                cat![
                    s("a/b/c"),
                    [0x00, 0x05],
                    props(cat![
                        [0x01, 0x01],
                        [0x02],
                        60u32.to_be_bytes(),
                        [0x23, 0x00, 0x03],
                        [0x08],
                        s("resp/t"),
                        [0x09],
                        bin(b"\x00\x01corr"),
                        user_prop("k", "v"),
                        user_prop("k", "v2"),
                        user_prop("a", ""),
                        [0x0b, 0x01],
                        [0x0b, 0xff, 0xff, 0xff, 0x7f],
                        [0x03],
                        s("application/json"),
                    ]),
                    b"{\"n\":1}",
                ],
            ),
            Packet::Publish(
                Publish::new(topic("a/b/c"), q1(5), b(b"{\"n\":1}")).with_properties(all),
            ),
        ),
        ok(
            "v5 PUBLISH with an empty topic and a topic alias",
            V5,
            b"\x32\x0b\x00\x00\x00\x07\x03\x23\x00\x01use".to_vec(),
            Packet::Publish(
                Publish::new(starling_codec::TopicName::empty(), q1(7), b(b"use")).with_properties(
                    with(|p: &mut PublishProperties| p.topic_alias = Some(nz16(1))),
                ),
            ),
        ),
        ok(
            "v5 PUBLISH QoS 2, DUP, RETAIN, payload format 0, empty payload",
            V5,
            b"\x3d\x08\x00\x01t\xff\xff\x02\x01\x00".to_vec(),
            Packet::Publish(
                Publish::new(topic("t"), q2(65535), b(b""))
                    .with_dup(true)
                    .with_retain(true)
                    .with_properties(with(|p: &mut PublishProperties| {
                        p.payload_format_indicator = Some(PayloadFormat::Unspecified)
                    })),
            ),
        ),
        ok(
            "v5 [MQTT-1.5.4-3] topic starting with U+FEFF keeps it",
            V5,
            cat![[0x30, 0x07], s("\u{FEFF}t"), [0x00]],
            Packet::Publish(Publish::new(topic("\u{FEFF}t"), QosPid::AtMostOnce, b(b""))),
        ),
        ok_decode_only(
            "v5 PUBLISH properties in another order",
            V5,
            frame(
                0x30,
                cat![
                    s("t"),
                    props(cat![[0x03], s("x"), [0x0b, 0x02], [0x02, 0, 0, 0, 9]]),
                ],
            ),
            Packet::Publish(
                Publish::new(topic("t"), QosPid::AtMostOnce, b(b"")).with_properties(with(
                    |p: &mut PublishProperties| {
                        p.message_expiry_interval = Some(9);
                        p.subscription_identifiers = vec![nz32(2)];
                        p.content_type = Some(ms("x"));
                    },
                )),
            ),
            frame(
                0x30,
                cat![
                    s("t"),
                    props(cat![[0x02, 0, 0, 0, 9], [0x0b, 0x02], [0x03], s("x")]),
                ],
            ),
        ),
    ]);
}

#[test]
fn subscribe_v5() {
    let options = |qos, no_local, retain_as_published, retain_handling| SubscriptionOptions {
        qos,
        no_local,
        retain_as_published,
        retain_handling,
    };
    check_valid(&[
        ok(
            "v5 [MQTT-3.8.1-1] SUBSCRIBE flags 0010, one filter, no properties",
            V5,
            cat![[0x82, 0x07, 0x00, 0x01, 0x00], s("#"), [0x00]],
            Packet::Subscribe(Subscribe {
                packet_id: pid(1),
                filters: vec![(filter("#"), SubscriptionOptions::new(QoS::AtMostOnce))],
                properties: SubscribeProperties::default(),
            }),
        ),
        ok(
            // 0x2D: QoS 1, No Local, Retain As Published, Retain Handling 2.
            // 0x12: QoS 2, Retain Handling 1. 0x00 on the shared subscription.
            "v5 [MQTT-3.8.3-1] SUBSCRIBE with subscription identifier, user property, every \
             subscription option and a $share filter",
            V5,
            frame(
                0x82,
                cat![
                    [0x00, 0x0a],
                    props(cat![[0x0b, 0x07], user_prop("s", "1")]),
                    s("a/+/c"),
                    [0x2d],
                    s("d/#"),
                    [0x12],
                    s("$share/g/x/y"),
                    [0x00],
                ],
            ),
            Packet::Subscribe(Subscribe {
                packet_id: pid(10),
                filters: vec![
                    (
                        filter("a/+/c"),
                        options(QoS::AtLeastOnce, true, true, RetainHandling::DoNotSend),
                    ),
                    (
                        filter("d/#"),
                        options(
                            QoS::ExactlyOnce,
                            false,
                            false,
                            RetainHandling::SendAtSubscribeIfNew,
                        ),
                    ),
                    (
                        filter("$share/g/x/y"),
                        SubscriptionOptions::new(QoS::AtMostOnce),
                    ),
                ],
                properties: with(|p: &mut SubscribeProperties| {
                    p.subscription_identifier = Some(nz32(7));
                    p.user_properties = vec![user("s", "1")];
                }),
            }),
        ),
        ok(
            "v5 SUBSCRIBE with the largest subscription identifier",
            V5,
            frame(
                0x82,
                cat![
                    [0x00, 0x02],
                    props(vec![0x0b, 0xff, 0xff, 0xff, 0x7f]),
                    s("$share/group/+"),
                    [0x01],
                ],
            ),
            Packet::Subscribe(Subscribe {
                packet_id: pid(2),
                filters: vec![(
                    filter("$share/group/+"),
                    SubscriptionOptions::new(QoS::AtLeastOnce),
                )],
                properties: with(|p: &mut SubscribeProperties| {
                    p.subscription_identifier = Some(nz32(268_435_455))
                }),
            }),
        ),
    ]);
}
