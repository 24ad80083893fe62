//! What the encoder writes, drops or refuses: MQTT 5-only data encoded for a 3.x peer
//! (informational data dropped, meaning-changing data refused with `UnsupportedByVersion`), the
//! v3 CONNACK mapping, and packets the encoder refuses to emit in any version. On every error
//! nothing is written and `encoded_len` reports the same error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use bytes::Bytes;
use common::*;
use starling_codec::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    Disconnect, DisconnectProperties, EncodeError, MqttStr, Packet, PayloadFormat, ProtocolVersion,
    PubAck, PubComp, PubRec, PubRel, Publish, PublishProperties, QoS, QosPid, ReasonCode,
    RetainHandling, SubAck, Subscribe, SubscribeProperties, SubscriptionOptions, TopicName,
    UnsubAck, Unsubscribe, UnsubscribeProperties, Will, WillProperties,
};

const V3: [ProtocolVersion; 2] = [V3_1, V3_1_1];

fn unsupported(version: ProtocolVersion, what: &'static str) -> EncodeError {
    EncodeError::UnsupportedByVersion { version, what }
}

fn ack_props() -> AckProperties {
    with(|p: &mut AckProperties| {
        p.reason_string = Some(ms("why"));
        p.user_properties = vec![user("k", "v")];
    })
}

#[test]
fn informational_v5_data_is_dropped_for_v3() {
    let publish = Packet::Publish(
        Publish::new(topic("a/b"), q1(1), b(b"hello")).with_properties(with(
            |p: &mut PublishProperties| {
                p.payload_format_indicator = Some(PayloadFormat::Utf8);
                p.message_expiry_interval = Some(60);
                p.response_topic = Some(topic("r/t"));
                p.correlation_data = Some(b(b"abc"));
                p.user_properties = vec![user("k", "v")];
                p.content_type = Some(ms("text/plain"));
            },
        )),
    );
    let connect = |protocol| {
        Packet::Connect(Box::new(Connect {
            will: Some(Will {
                topic: topic("w"),
                payload: b(b"x"),
                qos: QoS::AtLeastOnce,
                retain: false,
                properties: with(|p: &mut WillProperties| {
                    p.will_delay_interval = Some(5);
                    p.user_properties = vec![user("w", "1")];
                }),
            }),
            properties: with(|p: &mut ConnectProperties| {
                p.session_expiry_interval = Some(300);
                p.receive_maximum = Some(nz16(10));
                p.user_properties = vec![user("a", "b")];
            }),
            ..Connect::new(protocol, ms("c"))
        }))
    };
    for v in V3 {
        assert_encodes(
            "PUBLISH properties dropped",
            &publish,
            v,
            b"\x32\x0c\x00\x03a/b\x00\x01hello",
        );
        assert_encodes(
            "PUBACK reason string, user property and 0x10 dropped",
            &Packet::PubAck(PubAck {
                packet_id: pid(1),
                reason_code: ReasonCode::NoMatchingSubscribers,
                properties: ack_props(),
            }),
            v,
            b"\x40\x02\x00\x01",
        );
        for (name, packet, bytes) in [
            (
                "PUBREC properties dropped",
                Packet::PubRec(PubRec {
                    properties: ack_props(),
                    ..PubRec::new(pid(2))
                }),
                &b"\x50\x02\x00\x02"[..],
            ),
            (
                "PUBREL properties dropped",
                Packet::PubRel(PubRel {
                    properties: ack_props(),
                    ..PubRel::new(pid(2))
                }),
                b"\x62\x02\x00\x02",
            ),
            (
                "PUBCOMP properties dropped",
                Packet::PubComp(PubComp {
                    properties: ack_props(),
                    ..PubComp::new(pid(2))
                }),
                b"\x70\x02\x00\x02",
            ),
            (
                // MQTT 3.x has one failure return code for every refusal.
                "SUBACK properties dropped, failures become 0x80",
                Packet::SubAck(SubAck {
                    packet_id: pid(3),
                    reason_codes: vec![
                        ReasonCode::GrantedQoS1,
                        ReasonCode::NotAuthorized,
                        ReasonCode::Success,
                        ReasonCode::TopicFilterInvalid,
                        ReasonCode::GrantedQoS2,
                    ],
                    properties: ack_props(),
                }),
                b"\x90\x07\x00\x03\x01\x80\x00\x80\x02",
            ),
            (
                "UNSUBACK success reason codes and properties dropped",
                Packet::UnsubAck(UnsubAck {
                    packet_id: pid(4),
                    reason_codes: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
                    properties: ack_props(),
                }),
                b"\xb0\x02\x00\x04",
            ),
            (
                "UNSUBSCRIBE user property dropped",
                Packet::Unsubscribe(Unsubscribe {
                    packet_id: pid(5),
                    filters: vec![filter("a/#")],
                    properties: with(|p: &mut UnsubscribeProperties| {
                        p.user_properties = vec![user("u", "1")]
                    }),
                }),
                b"\xa2\x07\x00\x05\x00\x03a/#",
            ),
            (
                "SUBSCRIBE user property dropped",
                Packet::Subscribe(Subscribe {
                    packet_id: pid(6),
                    filters: vec![(filter("a/#"), SubscriptionOptions::new(QoS::ExactlyOnce))],
                    properties: with(|p: &mut SubscribeProperties| {
                        p.user_properties = vec![user("s", "1")]
                    }),
                }),
                b"\x82\x08\x00\x06\x00\x03a/#\x02",
            ),
            (
                "DISCONNECT properties dropped",
                Packet::Disconnect(Disconnect {
                    reason_code: ReasonCode::Success,
                    properties: with(|p: &mut DisconnectProperties| {
                        p.session_expiry_interval = Some(0);
                        p.reason_string = Some(ms("bye"));
                    }),
                }),
                b"\xe0\x00",
            ),
            (
                "CONNACK properties dropped",
                Packet::ConnAck(Box::new(ConnAck {
                    properties: with(|p: &mut ConnAckProperties| {
                        p.assigned_client_identifier = Some(ms("id"));
                        p.server_keep_alive = Some(5);
                    }),
                    ..ConnAck::new(ReasonCode::Success)
                })),
                b"\x20\x02\x00\x00",
            ),
        ] {
            assert_encodes(name, &packet, v, bytes);
        }
    }
    // CONNECT encodes in the version it names, whatever version argument is given.
    for arg in [V3_1, V3_1_1, V5] {
        assert_encodes(
            "v3.1.1 CONNECT properties and will properties dropped",
            &connect(V3_1_1),
            arg,
            b"\x10\x13\x00\x04MQTT\x04\x0e\x00\x3c\x00\x01c\x00\x01w\x00\x01x",
        );
        assert_encodes(
            "v3.1 CONNECT properties and will properties dropped",
            &connect(V3_1),
            arg,
            b"\x10\x15\x00\x06MQIsdp\x03\x0e\x00\x3c\x00\x01c\x00\x01w\x00\x01x",
        );
    }
}

#[test]
fn meaning_changing_v5_data_is_refused_for_v3() {
    let sub = |options: SubscriptionOptions, properties: SubscribeProperties| {
        Packet::Subscribe(Subscribe {
            packet_id: pid(1),
            filters: vec![(filter("a/b"), options)],
            properties,
        })
    };
    for v in V3 {
        for (name, packet, what) in [
            (
                "AUTH",
                Packet::Auth(Auth {
                    reason_code: ReasonCode::Success,
                    properties: AuthProperties::default(),
                }),
                "AUTH",
            ),
            (
                "PUBACK failure",
                Packet::PubAck(PubAck {
                    reason_code: ReasonCode::UnspecifiedError,
                    ..PubAck::new(pid(1))
                }),
                "a failure reason code in an acknowledgement",
            ),
            (
                "PUBREC failure",
                Packet::PubRec(PubRec {
                    reason_code: ReasonCode::QuotaExceeded,
                    ..PubRec::new(pid(1))
                }),
                "a failure reason code in an acknowledgement",
            ),
            (
                "PUBREL failure",
                Packet::PubRel(PubRel {
                    reason_code: ReasonCode::PacketIdentifierNotFound,
                    ..PubRel::new(pid(1))
                }),
                "a failure reason code in an acknowledgement",
            ),
            (
                "PUBCOMP failure",
                Packet::PubComp(PubComp {
                    reason_code: ReasonCode::PacketIdentifierNotFound,
                    ..PubComp::new(pid(1))
                }),
                "a failure reason code in an acknowledgement",
            ),
            (
                "UNSUBACK failure",
                Packet::UnsubAck(UnsubAck {
                    packet_id: pid(1),
                    reason_codes: vec![ReasonCode::Success, ReasonCode::NotAuthorized],
                    properties: AckProperties::default(),
                }),
                "a failure reason code in UNSUBACK",
            ),
            (
                "SUBSCRIBE no local",
                sub(
                    SubscriptionOptions {
                        no_local: true,
                        ..SubscriptionOptions::new(QoS::AtLeastOnce)
                    },
                    SubscribeProperties::default(),
                ),
                "MQTT 5 subscription options",
            ),
            (
                "SUBSCRIBE retain as published",
                sub(
                    SubscriptionOptions {
                        retain_as_published: true,
                        ..SubscriptionOptions::new(QoS::AtLeastOnce)
                    },
                    SubscribeProperties::default(),
                ),
                "MQTT 5 subscription options",
            ),
            (
                "SUBSCRIBE retain handling",
                sub(
                    SubscriptionOptions {
                        retain_handling: RetainHandling::DoNotSend,
                        ..SubscriptionOptions::new(QoS::AtLeastOnce)
                    },
                    SubscribeProperties::default(),
                ),
                "MQTT 5 subscription options",
            ),
            (
                "SUBSCRIBE subscription identifier",
                sub(
                    SubscriptionOptions::new(QoS::AtLeastOnce),
                    with(|p: &mut SubscribeProperties| p.subscription_identifier = Some(nz32(1))),
                ),
                "a subscription identifier",
            ),
            (
                "PUBLISH known by topic alias only",
                Packet::Publish(
                    Publish::new(TopicName::empty(), q1(1), b(b"x")).with_properties(with(
                        |p: &mut PublishProperties| p.topic_alias = Some(nz16(1)),
                    )),
                ),
                "a PUBLISH identified by topic alias only",
            ),
            (
                "DISCONNECT with will message",
                Packet::Disconnect(Disconnect::new(ReasonCode::DisconnectWithWillMessage)),
                "a DISCONNECT reason code",
            ),
            (
                "DISCONNECT with an error",
                Packet::Disconnect(Disconnect::new(ReasonCode::ServerShuttingDown)),
                "a DISCONNECT reason code",
            ),
            (
                "CONNACK malformed packet has no return code",
                Packet::ConnAck(Box::new(ConnAck::new(ReasonCode::MalformedPacket))),
                "this CONNACK reason code",
            ),
            (
                "CONNACK protocol error has no return code",
                Packet::ConnAck(Box::new(ConnAck::new(ReasonCode::ProtocolError))),
                "this CONNACK reason code",
            ),
        ] {
            assert_encode_error(name, &packet, v, unsupported(v, what));
        }
        // v3.1.1 [MQTT-3.1.2-22]: no password without a user name.
        let connect = Packet::Connect(Box::new(Connect {
            password: Some(b(b"pw")),
            ..Connect::new(v, ms("c"))
        }));
        assert_encode_error(
            "v3.1.1 [MQTT-3.1.2-22] password without user name",
            &connect,
            V5,
            unsupported(v, "a password without a user name"),
        );
    }
}

#[test]
fn v3_connack_return_codes() {
    // MQTT 5 reasons map to the six 3.x return codes; a malformed packet or protocol error has
    // none, so a 3.x server closes without CONNACK: v3.1.1 [MQTT-3.2.2-6].
    use ReasonCode as R;
    let table: [(ReasonCode, u8); 22] = [
        (R::Success, 0x00),
        (R::UnsupportedProtocolVersion, 0x01),
        (R::ClientIdentifierNotValid, 0x02),
        (R::ServerUnavailable, 0x03),
        (R::ServerBusy, 0x03),
        (R::UnspecifiedError, 0x03),
        (R::ImplementationSpecificError, 0x03),
        (R::QuotaExceeded, 0x03),
        (R::ConnectionRateExceeded, 0x03),
        (R::UseAnotherServer, 0x03),
        (R::ServerMoved, 0x03),
        (R::BadUserNameOrPassword, 0x04),
        (R::NotAuthorized, 0x05),
        (R::Banned, 0x05),
        (R::BadAuthenticationMethod, 0x05),
        (R::TopicNameInvalid, 0x05),
        (R::PacketTooLarge, 0x05),
        (R::PayloadFormatInvalid, 0x05),
        (R::RetainNotSupported, 0x05),
        (R::QoSNotSupported, 0x05),
        (R::MalformedPacket, 0xff),
        (R::ProtocolError, 0xff),
    ];
    for (rc, code) in table {
        for v in V3 {
            let packet = Packet::ConnAck(Box::new(ConnAck::new(rc)));
            if code == 0xff {
                assert!(packet.encode(v, &mut bytes::BytesMut::new()).is_err());
            } else {
                assert_encodes(
                    "v3 CONNACK return code",
                    &packet,
                    v,
                    &[0x20, 0x02, 0x00, code],
                );
            }
        }
    }
    // Session Present: 3.1.1 keeps it; 3.1 has no such flag and writes 0.
    let present = Packet::ConnAck(Box::new(ConnAck {
        session_present: true,
        ..ConnAck::new(ReasonCode::Success)
    }));
    assert_encodes(
        "v3.1.1 session present",
        &present,
        V3_1_1,
        b"\x20\x02\x01\x00",
    );
    assert_encodes("v3.1 session present", &present, V3_1, b"\x20\x02\x00\x00");
}

#[test]
fn packets_the_encoder_refuses_in_every_version() {
    let long = Bytes::from(vec![b'x'; 65_536]);
    for v in [V3_1, V3_1_1, V5] {
        // Binary data with a two-byte length cannot exceed 65,535 bytes.
        assert_encode_error(
            "password of 65536 bytes",
            &Packet::Connect(Box::new(Connect {
                username: Some(ms("u")),
                password: Some(long.clone()),
                ..Connect::new(v, ms("c"))
            })),
            v,
            EncodeError::Invalid("binary data longer than 65535 bytes"),
        );
        assert_encode_error(
            "will payload of 65536 bytes",
            &Packet::Connect(Box::new(Connect {
                will: Some(Will {
                    topic: topic("w"),
                    payload: long.clone(),
                    qos: QoS::AtMostOnce,
                    retain: false,
                    properties: WillProperties::default(),
                }),
                ..Connect::new(v, ms("c"))
            })),
            v,
            EncodeError::Invalid("binary data longer than 65535 bytes"),
        );
        // v5 [MQTT-3.2.2-6], v3.1.1 [MQTT-3.2.2-4]: a refusal has Session Present 0.
        assert_encode_error(
            "v5 [MQTT-3.2.2-6] v3.1.1 [MQTT-3.2.2-4] session present on a refusal",
            &Packet::ConnAck(Box::new(ConnAck {
                session_present: true,
                ..ConnAck::new(ReasonCode::NotAuthorized)
            })),
            if v == V3_1 { V3_1_1 } else { v },
            EncodeError::Invalid("session present on a refused CONNACK"),
        );
        // v5 [MQTT-3.8.3-4]: No Local on a shared subscription.
        if v == V5 {
            assert_encode_error(
                "v5 [MQTT-3.8.3-4] no local on a shared subscription",
                &Packet::Subscribe(Subscribe {
                    packet_id: pid(1),
                    filters: vec![(
                        filter("$share/g/a"),
                        SubscriptionOptions {
                            no_local: true,
                            ..SubscriptionOptions::new(QoS::AtMostOnce)
                        },
                    )],
                    properties: SubscribeProperties::default(),
                }),
                v,
                EncodeError::Invalid("no local set on a shared subscription"),
            );
        }
    }
    // A payload is not length-prefixed: 65,536 bytes are fine.
    let big = Packet::Publish(Publish::new(topic("t"), QosPid::AtMostOnce, long.clone()));
    assert_eq!(big.encoded_len(V5).unwrap(), 1 + 3 + 3 + 1 + 65_536);
    assert_encode_error(
        "v5 correlation data of 65536 bytes",
        &Packet::Publish(
            Publish::new(topic("t"), QosPid::AtMostOnce, b(b"")).with_properties(with(
                |p: &mut PublishProperties| p.correlation_data = Some(long.clone()),
            )),
        ),
        V5,
        EncodeError::Invalid("binary data longer than 65535 bytes"),
    );
    assert_encode_error(
        "v5 authentication data of 65536 bytes",
        &Packet::Auth(Auth {
            reason_code: ReasonCode::ContinueAuthentication,
            properties: with(|p: &mut AuthProperties| p.authentication_data = Some(long.clone())),
        }),
        V5,
        EncodeError::Invalid("binary data longer than 65535 bytes"),
    );
    assert_encode_error(
        "v5 subscription identifier above 268435455",
        &Packet::Subscribe(Subscribe {
            packet_id: pid(1),
            filters: vec![(filter("a"), SubscriptionOptions::new(QoS::AtMostOnce))],
            properties: with(|p: &mut SubscribeProperties| {
                p.subscription_identifier = Some(nz32(268_435_456))
            }),
        }),
        V5,
        EncodeError::Invalid("subscription identifier above 268435455"),
    );
    assert_encode_error(
        "v5 empty topic without topic alias",
        &Packet::Publish(Publish::new(TopicName::empty(), QosPid::AtMostOnce, b(b""))),
        V5,
        EncodeError::Invalid("empty topic name without a topic alias"),
    );
    // Each packet's sender must use one of its reason codes: v5 [MQTT-3.2.2-8],
    // v5 [MQTT-3.4.2-1], v5 [MQTT-3.5.2-1], v5 [MQTT-3.6.2-1], v5 [MQTT-3.7.2-1],
    // v5 [MQTT-3.9.3-2], v5 [MQTT-3.11.3-2], v5 [MQTT-3.14.2-1], v5 [MQTT-3.15.2-1].
    let wrong = ReasonCode::SessionTakenOver; // valid in DISCONNECT only
    for (name, packet, err) in [
        (
            "CONNACK",
            Packet::ConnAck(Box::new(ConnAck::new(wrong))),
            "reason code not valid for CONNACK",
        ),
        (
            "PUBACK",
            Packet::PubAck(PubAck {
                reason_code: wrong,
                ..PubAck::new(pid(1))
            }),
            "reason code not valid for this acknowledgement",
        ),
        (
            "PUBREC",
            Packet::PubRec(PubRec {
                reason_code: ReasonCode::PacketIdentifierNotFound,
                ..PubRec::new(pid(1))
            }),
            "reason code not valid for this acknowledgement",
        ),
        (
            "PUBREL",
            Packet::PubRel(PubRel {
                reason_code: ReasonCode::NoMatchingSubscribers,
                ..PubRel::new(pid(1))
            }),
            "reason code not valid for this acknowledgement",
        ),
        (
            "PUBCOMP",
            Packet::PubComp(PubComp {
                reason_code: ReasonCode::UnspecifiedError,
                ..PubComp::new(pid(1))
            }),
            "reason code not valid for this acknowledgement",
        ),
        (
            "SUBACK",
            Packet::SubAck(SubAck {
                packet_id: pid(1),
                reason_codes: vec![ReasonCode::NoSubscriptionExisted],
                properties: AckProperties::default(),
            }),
            "reason code not valid for SUBACK",
        ),
        (
            "UNSUBACK",
            Packet::UnsubAck(UnsubAck {
                packet_id: pid(1),
                reason_codes: vec![ReasonCode::GrantedQoS1],
                properties: AckProperties::default(),
            }),
            "reason code not valid for UNSUBACK",
        ),
        (
            "DISCONNECT",
            Packet::Disconnect(Disconnect::new(ReasonCode::GrantedQoS2)),
            "reason code not valid for DISCONNECT",
        ),
        (
            "AUTH",
            Packet::Auth(Auth {
                reason_code: ReasonCode::NotAuthorized,
                properties: AuthProperties::default(),
            }),
            "reason code not valid for AUTH",
        ),
    ] {
        assert_encode_error(name, &packet, V5, EncodeError::Invalid(err));
    }
    // v5 [MQTT-3.8.3-2], v5 [MQTT-3.10.3-2]: at least one filter; a SUBACK has a reason code
    // per filter.
    for (name, packet) in [
        (
            "empty SUBSCRIBE",
            Packet::Subscribe(Subscribe {
                packet_id: pid(1),
                filters: vec![],
                properties: SubscribeProperties::default(),
            }),
        ),
        (
            "empty UNSUBSCRIBE",
            Packet::Unsubscribe(Unsubscribe {
                packet_id: pid(1),
                filters: vec![],
                properties: UnsubscribeProperties::default(),
            }),
        ),
        (
            "empty SUBACK",
            Packet::SubAck(SubAck {
                packet_id: pid(1),
                reason_codes: vec![],
                properties: AckProperties::default(),
            }),
        ),
    ] {
        for v in [V3_1_1, V5] {
            let mut buf = bytes::BytesMut::new();
            assert!(
                matches!(packet.encode(v, &mut buf), Err(EncodeError::Invalid(_))),
                "{name}"
            );
            assert!(buf.is_empty(), "{name}");
        }
    }
}

#[test]
fn the_encoder_never_writes_dup_on_qos_0() {
    // v5 [MQTT-3.3.1-2], v3.1.1 [MQTT-3.3.1-2]: DUP is 0 for QoS 0, whatever the field says.
    let p = Packet::Publish(Publish::new(topic("t"), QosPid::AtMostOnce, b(b"")).with_dup(true));
    assert_encodes(
        "v5 [MQTT-3.3.1-2] DUP on QoS 0",
        &p,
        V5,
        b"\x30\x04\x00\x01t\x00",
    );
    assert_encodes(
        "v3.1.1 [MQTT-3.3.1-2] DUP on QoS 0",
        &p,
        V3_1_1,
        b"\x30\x03\x00\x01t",
    );
}

#[test]
fn over_long_strings_and_topics_cannot_be_built() {
    // v5 [MQTT-4.7.3-3], v3.1.1 [MQTT-4.7.3-3]: topics are at most 65,535 bytes; the types that
    // reach the encoder cannot hold more.
    let long = "x".repeat(65_536);
    assert!(TopicName::try_from(long.as_str()).is_err());
    assert!(starling_codec::TopicFilter::try_from(long.as_str()).is_err());
    assert!(MqttStr::try_from(long.as_str()).is_err());
    assert!(TopicName::try_from(&long[1..]).is_ok());
}

/// `encode_bare` writes what `Packet::encode` writes for a Success acknowledgement without
/// properties, in every version.
#[test]
fn bare_acknowledgements_encode_like_packets() {
    use bytes::BytesMut;
    use starling_codec::PacketId;
    for v in [V3_1, V3_1_1, V5] {
        for id in [1u16, 255, 256, 4242, 65535] {
            let pid = PacketId::new(id).unwrap();
            type Bare = fn(PacketId, &mut BytesMut);
            let cases: [(Packet, Bare); 4] = [
                (Packet::PubAck(PubAck::new(pid)), PubAck::encode_bare),
                (Packet::PubRec(PubRec::new(pid)), PubRec::encode_bare),
                (Packet::PubRel(PubRel::new(pid)), PubRel::encode_bare),
                (Packet::PubComp(PubComp::new(pid)), PubComp::encode_bare),
            ];
            for (packet, bare) in cases {
                let mut expected = BytesMut::new();
                packet.encode(v, &mut expected).unwrap();
                let mut got = BytesMut::from(&b"x"[..]);
                bare(pid, &mut got);
                assert_eq!(&got[1..], &expected[..], "{packet:?} {v:?}");
            }
        }
    }
}
