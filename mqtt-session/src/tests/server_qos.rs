//! Server: inbound PUBLISH and its QoS 1/2 flows, receive maximum, inbound topic aliases,
//! capability checks and inbound size limits.

use super::raw::{connect, encode, pid, publish, pubrel, RawServer};
use crate::{Accept, CloseReason, ServerConfig, ServerError, ServerEvent};
use starling_codec::{
    Packet, PacketId, ProtocolVersion, PubComp, PubRec, QoS, ReasonCode, TopicName,
};
use std::num::{NonZeroU16, NonZeroU32};

fn server(version: ProtocolVersion) -> RawServer {
    server_with(version, ServerConfig::default())
}

fn server_with(version: ProtocolVersion, config: ServerConfig) -> RawServer {
    RawServer::connected(config, connect(version, "c"), Accept::new())
}

/// The packet ids of the Publish events, with their payloads.
fn published(events: &[ServerEvent]) -> Vec<(Option<u16>, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Publish { message, packet_id } => {
                Some((packet_id.map(PacketId::get), message.payload.to_vec()))
            }
            _ => None,
        })
        .collect()
}

fn disconnect_code(out: &[Packet]) -> Option<ReasonCode> {
    match out {
        [.., Packet::Disconnect(d)] => Some(d.reason_code),
        _ => None,
    }
}

fn violation(events: &[ServerEvent]) -> Option<ReasonCode> {
    events.iter().find_map(|e| match e {
        ServerEvent::Closed {
            reason: CloseReason::ProtocolViolation(rc, _),
            ..
        } => Some(*rc),
        _ => None,
    })
}

#[test]
fn qos0_publish_is_delivered_without_acknowledgement() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(version);
        raw.send(Packet::Publish(publish("a/b", QoS::AtMostOnce, 0, b"x")));
        // v5 [MQTT-3.3.4-1], v3.1.1 [MQTT-3.3.4-1]: QoS 0 expects no response.
        assert_eq!(published(&raw.events()), vec![(None, b"x".to_vec())]);
        assert!(raw.recv().is_empty());
    }
}

#[test]
fn qos1_publish_is_acknowledged_once_the_broker_owns_it() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(version);
        raw.send(Packet::Publish(publish("a/b", QoS::AtLeastOnce, 7, b"x")));
        assert_eq!(published(&raw.events()), vec![(Some(7), b"x".to_vec())]);
        // Not before the broker says so.
        assert!(raw.recv().is_empty());
        raw.session
            .ack_publish(pid(7), ReasonCode::Success)
            .unwrap();
        // v5 [MQTT-4.3.2-4], v3.1.1 [MQTT-4.3.2-2]: PUBACK with the PUBLISH's id.
        // v5 [MQTT-2.2.1-5], v3.1.1 [MQTT-2.3.1-6]
        let out = raw.recv();
        assert!(matches!(&out[..], [Packet::PubAck(a)] if a.packet_id.get() == 7));
        // Only once.
        assert_eq!(
            raw.session.ack_publish(pid(7), ReasonCode::Success),
            Err(ServerError::UnknownPacketId)
        );
    }
}

#[test]
fn qos1_resend_while_unacknowledged_is_not_delivered_twice() {
    let mut raw = server(ProtocolVersion::V5);
    raw.send(Packet::Publish(publish("t", QoS::AtLeastOnce, 1, b"x")));
    let mut dup = publish("t", QoS::AtLeastOnce, 1, b"x");
    dup.dup = true;
    raw.send(Packet::Publish(dup));
    assert_eq!(published(&raw.events()).len(), 1);
    raw.session
        .ack_publish(pid(1), ReasonCode::Success)
        .unwrap();
    assert_eq!(raw.recv().len(), 1);
}

#[test]
fn qos1_same_id_after_puback_is_a_new_message() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(version);
        raw.send(Packet::Publish(publish("t", QoS::AtLeastOnce, 1, b"one")));
        raw.session
            .ack_publish(pid(1), ReasonCode::Success)
            .unwrap();
        raw.send(Packet::Publish(publish("t", QoS::AtLeastOnce, 1, b"two")));
        // v5 [MQTT-4.3.2-5], v3.1.1 [MQTT-4.3.2-2]
        assert_eq!(
            published(&raw.events()),
            vec![(Some(1), b"one".to_vec()), (Some(1), b"two".to_vec())]
        );
    }
}

#[test]
fn qos2_flow_pubrec_pubrel_pubcomp() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(version);
        raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 9, b"x")));
        assert_eq!(published(&raw.events()), vec![(Some(9), b"x".to_vec())]);
        assert!(raw.recv().is_empty());
        raw.session
            .ack_publish(pid(9), ReasonCode::Success)
            .unwrap();
        // v5 [MQTT-4.3.3-8], v3.1.1 [MQTT-4.3.3-2]: PUBREC with the PUBLISH's id.
        assert_eq!(raw.recv(), vec![Packet::PubRec(PubRec::new(pid(9)))]);
        raw.send(pubrel(9));
        // v5 [MQTT-4.3.3-11]: PUBCOMP with the PUBREL's id.
        assert_eq!(raw.recv(), vec![Packet::PubComp(PubComp::new(pid(9)))]);
    }
}

#[test]
fn qos2_duplicate_publish_is_not_delivered_twice() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(version);
        raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 3, b"x")));
        raw.session
            .ack_publish(pid(3), ReasonCode::Success)
            .unwrap();
        assert_eq!(raw.recv().len(), 1);
        let mut dup = publish("t", QoS::ExactlyOnce, 3, b"x");
        dup.dup = true;
        raw.send(Packet::Publish(dup));
        // v5 [MQTT-4.3.3-10], v3.1.1 [MQTT-4.3.3-2]: PUBREC again, no second delivery.
        assert_eq!(raw.recv(), vec![Packet::PubRec(PubRec::new(pid(3)))]);
        assert_eq!(published(&raw.events()).len(), 1);
        raw.send(pubrel(3));
        assert_eq!(raw.recv(), vec![Packet::PubComp(PubComp::new(pid(3)))]);
        // v5 [MQTT-4.3.3-12]: after PUBCOMP the same id is a new message.
        raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 3, b"y")));
        assert_eq!(published(&raw.events()), vec![(Some(3), b"y".to_vec())]);
    }
}

#[test]
fn qos2_duplicate_before_the_broker_acks_is_ignored() {
    let mut raw = server(ProtocolVersion::V5);
    raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 3, b"x")));
    raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 3, b"x")));
    assert_eq!(published(&raw.events()).len(), 1);
    raw.session
        .ack_publish(pid(3), ReasonCode::Success)
        .unwrap();
    assert_eq!(raw.recv(), vec![Packet::PubRec(PubRec::new(pid(3)))]);
}

#[test]
fn unknown_pubrel_gets_pubcomp_0x92() {
    let mut raw = server(ProtocolVersion::V5);
    raw.send(pubrel(42));
    let mut comp = PubComp::new(pid(42));
    comp.reason_code = ReasonCode::PacketIdentifierNotFound;
    assert_eq!(raw.recv(), vec![Packet::PubComp(comp)]);
    // 3.1.1 has no reason code: a plain PUBCOMP.
    let mut raw = server(ProtocolVersion::V3_1_1);
    raw.send(pubrel(42));
    assert_eq!(raw.recv(), vec![Packet::PubComp(PubComp::new(pid(42)))]);
}

#[test]
fn refused_qos2_frees_the_packet_id() {
    let mut raw = server(ProtocolVersion::V5);
    raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 5, b"x")));
    raw.session
        .ack_publish(pid(5), ReasonCode::NotAuthorized)
        .unwrap();
    let mut rec = PubRec::new(pid(5));
    rec.reason_code = ReasonCode::NotAuthorized;
    assert_eq!(raw.recv(), vec![Packet::PubRec(rec)]);
    // v5 [MQTT-4.3.3-9]: the next PUBLISH with that id is a new message.
    raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 5, b"y")));
    assert_eq!(
        published(&raw.events()),
        vec![(Some(5), b"x".to_vec()), (Some(5), b"y".to_vec())]
    );
}

#[test]
fn refused_qos1_gets_the_reason_code_in_v5_and_a_plain_puback_in_v311() {
    let mut raw = server(ProtocolVersion::V5);
    raw.send(Packet::Publish(publish("t", QoS::AtLeastOnce, 1, b"x")));
    raw.session
        .ack_publish(pid(1), ReasonCode::QuotaExceeded)
        .unwrap();
    assert!(
        matches!(&raw.recv()[..], [Packet::PubAck(a)] if a.reason_code == ReasonCode::QuotaExceeded)
    );
    // A code not valid for PUBACK is sent as Success rather than breaking the protocol.
    raw.send(Packet::Publish(publish("t", QoS::AtLeastOnce, 2, b"x")));
    raw.session.ack_publish(pid(2), ReasonCode::Banned).unwrap();
    assert!(
        matches!(&raw.recv()[..], [Packet::PubAck(a)] if a.reason_code.is_valid_for(starling_codec::PacketType::PubAck))
    );

    let mut raw = server(ProtocolVersion::V3_1_1);
    raw.send(Packet::Publish(publish("t", QoS::AtLeastOnce, 1, b"x")));
    raw.session
        .ack_publish(pid(1), ReasonCode::NotAuthorized)
        .unwrap();
    // v3.1.1 [MQTT-3.3.5-2]: an unauthorized PUBLISH gets a positive acknowledgement.
    assert!(matches!(&raw.recv()[..], [Packet::PubAck(a)] if a.reason_code == ReasonCode::Success));
}

#[test]
fn receive_maximum_exceeded_closes_with_0x93() {
    let config = ServerConfig {
        receive_maximum: 2,
        ..ServerConfig::default()
    };
    let mut raw = server_with(ProtocolVersion::V5, config.clone());
    raw.send(Packet::Publish(publish("t", QoS::AtLeastOnce, 1, b"x")));
    raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 2, b"x")));
    // Acknowledging the QoS 1 frees one slot; the QoS 2 holds its slot until PUBREL.
    raw.session
        .ack_publish(pid(1), ReasonCode::Success)
        .unwrap();
    raw.session
        .ack_publish(pid(2), ReasonCode::Success)
        .unwrap();
    raw.send(Packet::Publish(publish("t", QoS::AtLeastOnce, 3, b"x")));
    // QoS 0 does not count.
    raw.send(Packet::Publish(publish("t", QoS::AtMostOnce, 0, b"x")));
    assert!(!raw.is_closed());
    raw.send(Packet::Publish(publish("t", QoS::AtLeastOnce, 4, b"x")));
    // v5 [MQTT-3.3.4-7] broken by the client: DISCONNECT 0x93.
    assert_eq!(
        disconnect_code(&raw.recv()),
        Some(ReasonCode::ReceiveMaximumExceeded)
    );
    assert!(raw.is_closed());
    assert_eq!(
        violation(&raw.events()),
        Some(ReasonCode::ReceiveMaximumExceeded)
    );

    // PUBREL frees the QoS 2 slot.
    let mut raw = server_with(ProtocolVersion::V5, config);
    raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 1, b"x")));
    raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 2, b"x")));
    raw.session
        .ack_publish(pid(1), ReasonCode::Success)
        .unwrap();
    raw.send(pubrel(1));
    raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 3, b"x")));
    assert!(!raw.is_closed());
}

#[test]
fn v311_has_no_receive_maximum() {
    let config = ServerConfig {
        receive_maximum: 1,
        ..ServerConfig::default()
    };
    let mut raw = server_with(ProtocolVersion::V3_1_1, config);
    for id in 1..=5 {
        raw.send(Packet::Publish(publish("t", QoS::AtLeastOnce, id, b"x")));
    }
    assert_eq!(published(&raw.events()).len(), 5);
    assert!(!raw.is_closed());
}

#[test]
fn publish_above_maximum_qos_closes_with_0x9b() {
    let config = ServerConfig {
        maximum_qos: QoS::AtLeastOnce,
        ..ServerConfig::default()
    };
    let mut raw = server_with(ProtocolVersion::V5, config);
    // v5 [MQTT-3.2.2-11] broken by the client.
    raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 1, b"x")));
    assert_eq!(
        disconnect_code(&raw.recv()),
        Some(ReasonCode::QoSNotSupported)
    );
    assert!(raw.is_closed());
}

#[test]
fn retained_publish_without_retain_support_closes_with_0x9a() {
    let config = ServerConfig {
        retain_available: false,
        ..ServerConfig::default()
    };
    let mut raw = server_with(ProtocolVersion::V5, config);
    let mut p = publish("t", QoS::AtMostOnce, 0, b"x");
    p.retain = true;
    // v5 [MQTT-3.2.2-14] broken by the client.
    raw.send(Packet::Publish(p));
    assert_eq!(
        disconnect_code(&raw.recv()),
        Some(ReasonCode::RetainNotSupported)
    );
    assert!(raw.is_closed());
}

fn aliased(topic: &'static str, alias: u16, payload: &'static [u8]) -> Packet {
    let mut p = publish("placeholder", QoS::AtMostOnce, 0, payload);
    p.set_topic(if topic.is_empty() {
        TopicName::empty()
    } else {
        super::pair::topic_name(topic)
    });
    p.properties.topic_alias = NonZeroU16::new(alias);
    Packet::Publish(p)
}

fn topics(events: &[ServerEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Publish { message, .. } => Some(message.topic.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn inbound_topic_alias_is_set_and_reused() {
    let config = ServerConfig {
        topic_alias_maximum: 2,
        ..ServerConfig::default()
    };
    let mut raw = server_with(ProtocolVersion::V5, config);
    // v5 [MQTT-3.3.2-12]: every alias from 1 to the maximum is accepted.
    raw.send(aliased("a/b", 1, b"1"));
    raw.send(aliased("c/d", 2, b"2"));
    raw.send(aliased("", 1, b"3"));
    raw.send(aliased("", 2, b"4"));
    // Remapping an alias to another topic.
    raw.send(aliased("e", 1, b"5"));
    raw.send(aliased("", 1, b"6"));
    assert_eq!(
        topics(&raw.events()),
        ["a/b", "c/d", "a/b", "c/d", "e", "e"]
    );
    assert!(!raw.is_closed());
}

#[test]
fn inbound_topic_alias_above_the_maximum_closes_with_0x94() {
    let config = ServerConfig {
        topic_alias_maximum: 2,
        ..ServerConfig::default()
    };
    let mut raw = server_with(ProtocolVersion::V5, config);
    // v5 [MQTT-3.2.2-17] broken by the client.
    raw.send(aliased("a", 3, b"x"));
    assert_eq!(
        disconnect_code(&raw.recv()),
        Some(ReasonCode::TopicAliasInvalid)
    );
    assert!(raw.is_closed());
    // With no maximum announced, any alias is invalid (v5 [MQTT-3.2.2-18] broken by the client).
    let config = ServerConfig {
        topic_alias_maximum: 0,
        ..ServerConfig::default()
    };
    let mut raw = server_with(ProtocolVersion::V5, config);
    raw.send(aliased("a", 1, b"x"));
    assert_eq!(
        disconnect_code(&raw.recv()),
        Some(ReasonCode::TopicAliasInvalid)
    );
}

#[test]
fn unknown_inbound_topic_alias_is_a_protocol_error() {
    let mut raw = server(ProtocolVersion::V5);
    raw.send(aliased("", 1, b"x"));
    assert_eq!(
        disconnect_code(&raw.recv()),
        Some(ReasonCode::ProtocolError)
    );
    assert!(raw.is_closed());
}

#[test]
fn inbound_topic_aliases_do_not_survive_the_connection() {
    let mut raw = server(ProtocolVersion::V5);
    raw.send(aliased("a/b", 1, b"x"));
    assert_eq!(topics(&raw.events()), ["a/b"]);
    let state = raw.session.into_state();
    let mut c = connect(ProtocolVersion::V5, "c");
    c.clean_start = false;
    let mut raw = RawServer::connected(ServerConfig::default(), c, Accept::new().resume(state));
    // v5 [MQTT-3.3.2-7]: the mapping is not carried to the new connection.
    raw.send(aliased("", 1, b"x"));
    assert_eq!(
        disconnect_code(&raw.recv()),
        Some(ReasonCode::ProtocolError)
    );
}

#[test]
fn oversize_inbound_packet_closes_with_0x95() {
    let config = ServerConfig {
        max_packet_size: 64,
        ..ServerConfig::default()
    };
    let mut raw = server_with(ProtocolVersion::V5, config.clone());
    raw.send(Packet::Publish(publish(
        "t",
        QoS::AtMostOnce,
        0,
        &[0u8; 60],
    )));
    assert_eq!(
        disconnect_code(&raw.recv()),
        Some(ReasonCode::PacketTooLarge)
    );
    assert!(raw.is_closed());
    assert_eq!(violation(&raw.events()), Some(ReasonCode::PacketTooLarge));
    // Exactly the maximum is fine.
    let mut raw = server_with(ProtocolVersion::V5, config);
    let p = Packet::Publish(publish("t", QoS::AtMostOnce, 0, &[0u8; 58]));
    assert_eq!(encode(ProtocolVersion::V5, &p).len(), 64);
    raw.send(p);
    assert!(!raw.is_closed());
}

#[test]
fn malformed_packet_after_connect_closes_with_0x81() {
    let mut raw = server(ProtocolVersion::V5);
    // PUBREL with flags 0 instead of 2.
    raw.send_bytes(b"\x60\x02\x00\x01");
    // v5 [MQTT-3.6.1-1], v5 [MQTT-4.13.1-1]: malformed: DISCONNECT 0x81 and close.
    assert_eq!(
        disconnect_code(&raw.recv()),
        Some(ReasonCode::MalformedPacket)
    );
    assert!(raw.is_closed());
    // v3.1.1 [MQTT-3.3.1-4], v3.1.1 [MQTT-4.8.0-1]: PUBLISH with both QoS bits set: close.
    let mut raw = server(ProtocolVersion::V3_1_1);
    raw.send_bytes(b"\x36\x05\x00\x01t\x00\x01");
    assert!(raw.is_closed());
    assert!(raw.recv().is_empty());
    assert_eq!(violation(&raw.events()), Some(ReasonCode::MalformedPacket));
}

#[test]
fn subscription_identifier_from_the_client_is_a_protocol_error() {
    let mut raw = server(ProtocolVersion::V5);
    let mut p = publish("t", QoS::AtMostOnce, 0, b"x");
    p.properties.subscription_identifiers = vec![NonZeroU32::new(1).unwrap()];
    // v5 [MQTT-3.3.4-6] broken by the client.
    raw.send(Packet::Publish(p));
    assert_eq!(
        disconnect_code(&raw.recv()),
        Some(ReasonCode::ProtocolError)
    );
}

#[test]
fn packets_only_servers_send_are_protocol_errors() {
    let mut raw = server(ProtocolVersion::V5);
    raw.send(Packet::PingResp);
    assert_eq!(
        disconnect_code(&raw.recv()),
        Some(ReasonCode::ProtocolError)
    );
    // Through handle_packet too.
    let mut raw = server(ProtocolVersion::V5);
    let now = raw.now();
    raw.session.handle_packet(now, Packet::PingResp);
    assert_eq!(
        disconnect_code(&raw.recv()),
        Some(ReasonCode::ProtocolError)
    );
}

#[test]
fn message_expiry_of_an_inbound_publish_becomes_a_deadline() {
    let mut raw = server(ProtocolVersion::V5);
    let mut p = publish("t", QoS::AtMostOnce, 0, b"x");
    p.properties.message_expiry_interval = Some(30);
    raw.send(Packet::Publish(p));
    let now = raw.now();
    let events = raw.events();
    let Some(ServerEvent::Publish { message, .. }) = events.first() else {
        panic!()
    };
    assert_eq!(
        message.expires_at,
        Some(now + std::time::Duration::from_secs(30))
    );
}

#[test]
fn inbound_qos2_flow_continues_after_the_message_expired() {
    let mut raw = server(ProtocolVersion::V5);
    let mut p = publish("t", QoS::ExactlyOnce, 4, b"x");
    p.properties.message_expiry_interval = Some(1);
    raw.send(Packet::Publish(p));
    raw.session
        .ack_publish(pid(4), ReasonCode::Success)
        .unwrap();
    raw.recv();
    raw.advance(std::time::Duration::from_secs(30));
    raw.send(pubrel(4));
    // v5 [MQTT-4.3.3-13]
    assert_eq!(raw.recv(), vec![Packet::PubComp(PubComp::new(pid(4)))]);
}
