//! Session resume across connections: resend with DUP, PUBREL after PUBREC, exactly-once QoS 2,
//! lost sessions, queued messages, and faults on the wire.

use super::pair::{client_config, topic_name, Pair, Policy};
use crate::{
    ClientEvent, ClientPhase, Delivery, DeliveryOptions, Message, ServerConfig, ServerEvent,
    ServerPhase,
};
use bytes::Bytes;
use starling_codec::{Packet, ProtocolVersion, Publish, QoS, ReasonCode};

const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V3_1_1, ProtocolVersion::V5];

/// A connected pair whose session outlives the connection (Clean Start 0, expiry 1 h).
fn persistent(version: ProtocolVersion, policy: Policy) -> Pair {
    let mut cc = client_config(version);
    cc.clean_start = false;
    if version.is_v5() {
        cc.properties.session_expiry_interval = Some(3600);
    }
    let mut pair = Pair::with_policy(cc, ServerConfig::default(), policy);
    pair.drive();
    assert_eq!(pair.client.phase(), ClientPhase::Connected);
    pair.client_events();
    pair.server_events();
    pair
}

fn publishes(sent: &[Packet]) -> Vec<&Publish> {
    sent.iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn broker_publishes(events: &[ServerEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, ServerEvent::Publish { .. }))
        .count()
}

#[test]
fn client_resends_unacknowledged_publishes_with_dup_and_the_same_ids() {
    for version in VERSIONS {
        let policy = Policy {
            ack_publish: None,
            route: false,
            ..Policy::default()
        };
        let mut pair = persistent(version, policy);
        let a = pair.publish("t/a", b"a", QoS::AtLeastOnce).unwrap();
        let b = pair.publish("t/b", b"b", QoS::ExactlyOnce).unwrap();
        let c = pair.publish("t/c", b"c", QoS::AtLeastOnce).unwrap();
        pair.drive();
        assert_eq!(pair.client.inflight_len(), 3);
        pair.cut();
        pair.policy.ack_publish = Some(ReasonCode::Success);
        pair.to_server.sent.clear();
        pair.reconnect();
        // v5 [MQTT-3.2.2-3], v3.1.1 [MQTT-3.2.2-2]
        assert!(pair.client_events().iter().any(|e| matches!(
            e,
            ClientEvent::Connected {
                session_present: true,
                ..
            }
        )));
        let resent = publishes(&pair.to_server.sent);
        // v5 [MQTT-4.4.0-1], v3.1.1 [MQTT-4.4.0-1]: resent with the original ids;
        // v5 [MQTT-3.3.1-1], v3.1.1 [MQTT-3.3.1-1]: DUP set; v3.1.1 [MQTT-2.3.1-3]: same id;
        // v5 [MQTT-4.6.0-1], v3.1.1 [MQTT-4.6.0-1]: in the original order.
        let ids: Vec<_> = resent.iter().map(|p| p.qos_pid.packet_id()).collect();
        assert_eq!(ids, vec![Some(a), Some(b), Some(c)]);
        assert!(resent.iter().all(|p| p.dup));
        // This time they are acknowledged.
        assert_eq!(pair.client.inflight_len(), 0);
    }
}

#[test]
fn client_resends_pubrel_not_publish_after_pubrec() {
    for version in VERSIONS {
        let policy = Policy {
            route: false,
            ..Policy::default()
        };
        let mut pair = persistent(version, policy);
        let id = pair.publish("t", b"x", QoS::ExactlyOnce).unwrap();
        // The PUBLISH goes out, then the PUBREL is lost.
        pair.step();
        pair.to_server.drop_packets = 1;
        pair.drive();
        assert!(pair
            .to_server
            .sent
            .iter()
            .any(|p| matches!(p, Packet::PubRel(_))));
        assert_eq!(pair.client.inflight_len(), 1);
        assert_eq!(broker_publishes(&pair.server_events()), 1);
        pair.to_server.sent.clear();
        pair.reconnect();
        // v5 [MQTT-4.3.3-6]: only the PUBREL is resent, with the same id (v5 [MQTT-4.4.0-1]).
        let resent: Vec<_> = pair
            .to_server
            .sent
            .iter()
            .filter(|p| !matches!(p, Packet::Connect(_)))
            .cloned()
            .collect();
        assert_eq!(
            resent,
            vec![Packet::PubRel(starling_codec::PubRel::new(id))]
        );
        assert!(pair.client_events().contains(&ClientEvent::Published {
            packet_id: id,
            reason: ReasonCode::Success
        }));
        // The server had the id from its stored state: a plain PUBCOMP, not 0x92.
        assert!(pair
            .to_client
            .sent
            .iter()
            .any(|p| matches!(p, Packet::PubComp(c)
            if c.packet_id == id && c.reason_code == ReasonCode::Success)));
        // Delivered to the broker once.
        assert_eq!(broker_publishes(&pair.server_events()), 0);
    }
}

#[test]
fn qos2_exactly_once_from_client_across_a_reconnect() {
    for version in VERSIONS {
        let policy = Policy {
            route: false,
            ..Policy::default()
        };
        let mut pair = persistent(version, policy);
        let id = pair.publish("t", b"once", QoS::ExactlyOnce).unwrap();
        // The PUBREC is lost: the client will resend the PUBLISH.
        pair.to_client.drop_packets = 1;
        pair.drive();
        assert_eq!(broker_publishes(&pair.server_events()), 1);
        pair.reconnect();
        // v5 [MQTT-4.3.3-10], v3.1.1 [MQTT-4.3.3-2]: the DUP PUBLISH is answered, not delivered.
        assert!(publishes(&pair.to_server.sent).iter().any(|p| p.dup));
        assert_eq!(broker_publishes(&pair.server_events()), 0);
        assert!(pair.client_events().contains(&ClientEvent::Published {
            packet_id: id,
            reason: ReasonCode::Success
        }));
        assert_eq!(pair.client.inflight_len(), 0);
    }
}

#[test]
fn qos2_exactly_once_to_client_across_a_reconnect() {
    for version in VERSIONS {
        let mut pair = persistent(version, Policy::default());
        pair.subscribe("t", QoS::ExactlyOnce);
        pair.client_events();
        pair.publish("t", b"once", QoS::AtMostOnce);
        // Route a QoS 2 copy from the broker side, and lose the client's PUBREC.
        let now = pair.now();
        let m = Message::new(
            topic_name("t"),
            Bytes::from_static(b"two"),
            QoS::ExactlyOnce,
            false,
        );
        let o = DeliveryOptions {
            qos: QoS::ExactlyOnce,
            ..DeliveryOptions::default()
        };
        let Delivery::Sent(Some(id)) = pair.server.deliver(now, m, o).unwrap() else {
            panic!()
        };
        pair.step();
        pair.to_server.drop_packets = 1;
        pair.drive();
        let first: Vec<_> = pair.client_messages();
        assert_eq!(first.iter().filter(|p| p.payload() == b"two").count(), 1);
        pair.to_client.sent.clear();
        pair.reconnect();
        // The server resends the PUBLISH with DUP (v5 [MQTT-4.4.0-1], v3.1.1 [MQTT-4.4.0-1])…
        let resent = publishes(&pair.to_client.sent);
        assert!(resent
            .iter()
            .any(|p| p.dup && p.qos_pid.packet_id() == Some(id)));
        // …and the client does not deliver it again.
        assert!(pair.client_messages().is_empty());
        assert_eq!(pair.server.inflight_len(), 0);
        assert!(pair.server_events().contains(&ServerEvent::Delivered {
            packet_id: id,
            reason: ReasonCode::Success
        }));
    }
}

#[test]
fn server_resends_unacknowledged_qos1_with_dup() {
    for version in VERSIONS {
        let mut pair = persistent(version, Policy::default());
        pair.subscribe("t", QoS::AtLeastOnce);
        pair.client_events();
        pair.publish("t", b"x", QoS::AtMostOnce);
        let now = pair.now();
        let m = Message::new(
            topic_name("t"),
            Bytes::from_static(b"q1"),
            QoS::AtLeastOnce,
            false,
        );
        let o = DeliveryOptions {
            qos: QoS::AtLeastOnce,
            ..DeliveryOptions::default()
        };
        pair.server.deliver(now, m, o).unwrap();
        pair.step();
        // The client's PUBACK is lost.
        pair.to_server.drop_packets = 1;
        pair.drive();
        assert_eq!(pair.server.inflight_len(), 1);
        pair.client_events();
        pair.to_client.sent.clear();
        pair.reconnect();
        let resent = publishes(&pair.to_client.sent);
        // v5 [MQTT-4.4.0-1], v3.1.1 [MQTT-4.4.0-1], v5 [MQTT-3.3.1-1], v3.1.1 [MQTT-2.3.1-4]
        assert_eq!(resent.len(), 1);
        assert!(resent[0].dup);
        // At least once: the client sees it again.
        assert_eq!(pair.client_messages().len(), 1);
        assert_eq!(pair.server.inflight_len(), 0);
    }
}

#[test]
fn session_lost_when_the_server_has_no_session() {
    for version in VERSIONS {
        let policy = Policy {
            ack_publish: None,
            route: false,
            ..Policy::default()
        };
        let mut pair = persistent(version, policy);
        pair.subscribe("s/#", QoS::AtLeastOnce);
        let id = pair.publish("t", b"x", QoS::AtLeastOnce).unwrap();
        pair.drive();
        pair.client_events();
        pair.reconnect_to_fresh_server();
        let events: Vec<_> = pair
            .client_events()
            .into_iter()
            .filter(|e| !matches!(e, ClientEvent::Closed { .. }))
            .collect();
        // v5 [MQTT-3.2.2-5]: Session Present 0: the client discards its state…
        let Some(ClientEvent::SessionLost {
            unacknowledged,
            subscriptions,
        }) = events.first()
        else {
            panic!("{events:?}")
        };
        assert_eq!(unacknowledged.len(), 1);
        assert_eq!(unacknowledged[0].qos_pid.packet_id(), Some(id));
        assert_eq!(subscriptions.len(), 1);
        assert!(matches!(
            events.get(1),
            Some(ClientEvent::Connected {
                session_present: false,
                ..
            })
        ));
        // …and resends nothing.
        assert!(publishes(&pair.to_server.sent).is_empty());
        assert_eq!(pair.client.inflight_len(), 0);
        assert_eq!(pair.client.subscriptions().count(), 0);
    }
}

#[test]
fn clean_start_reconnect_discards_both_sessions() {
    let policy = Policy {
        ack_publish: None,
        route: false,
        ..Policy::default()
    };
    let mut pair = persistent(ProtocolVersion::V5, policy);
    pair.subscribe("s/#", QoS::AtLeastOnce);
    pair.publish("t", b"x", QoS::AtLeastOnce);
    pair.drive();
    pair.client_config.clean_start = true;
    pair.reconnect();
    // v5 [MQTT-3.1.2-4]: Clean Start discards the session on both sides.
    assert_eq!(pair.server.subscriptions().count(), 0);
    assert_eq!(pair.server.inflight_len(), 0);
    assert!(pair
        .client_events()
        .iter()
        .any(|e| matches!(e, ClientEvent::SessionLost { .. })));
    assert!(publishes(&pair.to_server.sent).is_empty());
}

#[test]
fn subscriptions_and_queued_messages_survive_a_reconnect() {
    for version in VERSIONS {
        let mut pair = persistent(version, Policy::default());
        pair.subscribe("news/#", QoS::AtLeastOnce);
        pair.cut();
        assert_eq!(pair.server.phase(), ServerPhase::Closed);
        // While the client is away, QoS 1 messages are queued and QoS 0 dropped.
        let now = pair.now();
        let o = DeliveryOptions {
            qos: QoS::AtLeastOnce,
            ..DeliveryOptions::default()
        };
        for (payload, qos) in [
            (&b"1"[..], QoS::AtLeastOnce),
            (b"0", QoS::AtMostOnce),
            (b"2", QoS::AtLeastOnce),
        ] {
            let m = Message::new(
                topic_name("news/a"),
                Bytes::from_static(payload),
                qos,
                false,
            );
            pair.server.deliver(now, m, o.clone()).unwrap();
        }
        pair.reconnect();
        // v5 [MQTT-3.1.2-23], v3.1.1 [MQTT-4.1.0-1], v3.1.1 [MQTT-3.1.2-5]: the session state
        // was kept after the close, QoS 1/2 messages matching the subscriptions included…
        let got: Vec<_> = pair
            .client_messages()
            .iter()
            .map(|p| p.payload().to_vec())
            .collect();
        assert_eq!(got, vec![b"1".to_vec(), b"2".to_vec()]);
        // v5 [MQTT-3.1.2-5], v3.1.1 [MQTT-3.1.2-4]: …and the subscriptions still route.
        pair.publish("news/b", b"3", QoS::AtLeastOnce);
        pair.drive();
        assert_eq!(pair.client_messages().len(), 1);
    }
}

#[test]
fn outbound_aliases_start_over_on_a_new_connection() {
    let mut cc = client_config(ProtocolVersion::V5);
    cc.clean_start = false;
    cc.properties.session_expiry_interval = Some(60);
    cc.properties.topic_alias_maximum = Some(4);
    let mut pair = Pair::new(cc, ServerConfig::default());
    pair.drive();
    pair.subscribe("t", QoS::AtMostOnce);
    for _ in 0..2 {
        pair.publish("t", b"x", QoS::AtMostOnce);
        pair.drive();
    }
    pair.reconnect();
    pair.to_client.sent.clear();
    pair.to_server.sent.clear();
    pair.client_events();
    pair.publish("t", b"x", QoS::AtMostOnce);
    pair.drive();
    // v5 [MQTT-3.3.2-7]: aliases are per connection: both sides send the full topic again.
    assert!(publishes(&pair.to_server.sent)[0].topic() == "t");
    assert!(publishes(&pair.to_client.sent)[0].topic() == "t");
    assert_eq!(pair.client_messages().len(), 1);
}

#[test]
fn packet_ids_continue_after_a_reconnect() {
    let policy = Policy {
        ack_publish: None,
        route: false,
        ..Policy::default()
    };
    let mut pair = persistent(ProtocolVersion::V5, policy);
    let first = pair.publish("t", b"x", QoS::AtLeastOnce).unwrap();
    pair.drive();
    pair.reconnect();
    let next = pair.publish("t", b"y", QoS::AtLeastOnce).unwrap();
    // The resent message still holds its id; the new one gets another.
    assert_ne!(first, next);
}

#[test]
fn corrupted_byte_closes_with_malformed_packet_and_the_session_resumes() {
    let policy = Policy {
        ack_publish: None,
        route: false,
        ..Policy::default()
    };
    let mut pair = persistent(ProtocolVersion::V5, policy);
    // Turn the next PUBLISH's QoS bits into the forbidden value 3.
    pair.to_server.mutate = Some((0, 0x04));
    let id = pair.publish("t", b"x", QoS::AtLeastOnce).unwrap();
    pair.drive();
    assert!(pair
        .to_client
        .sent
        .iter()
        .any(|p| matches!(p, Packet::Disconnect(d)
        if d.reason_code == ReasonCode::MalformedPacket)));
    assert_eq!(pair.client.phase(), ClientPhase::Closed);
    assert!(!pair.open);
    pair.policy.ack_publish = Some(ReasonCode::Success);
    pair.reconnect();
    assert!(pair.client_events().contains(&ClientEvent::Published {
        packet_id: id,
        reason: ReasonCode::Success
    }));
}

#[test]
fn dropped_bytes_desynchronise_the_stream_and_close_it() {
    let mut pair = persistent(ProtocolVersion::V3_1_1, Policy::default());
    // PINGREQ is C0 00; losing its first byte leaves a 0x00 header: packet type 0.
    pair.to_server.drop_bytes = 1;
    pair.advance(std::time::Duration::from_secs(60));
    assert_eq!(pair.server.phase(), ServerPhase::Closed);
    assert!(!pair.open);
    assert!(matches!(
        pair.server_events().last(),
        Some(ServerEvent::Closed {
            reason: crate::CloseReason::ProtocolViolation(ReasonCode::MalformedPacket, _),
            ..
        })
    ));
}

#[test]
fn sent_qos2_message_is_resent_even_after_it_expired() {
    let mut pair = persistent(ProtocolVersion::V5, Policy::default());
    let now = pair.now();
    let mut m = Message::new(
        topic_name("t"),
        Bytes::from_static(b"e"),
        QoS::ExactlyOnce,
        false,
    );
    m.expires_at = Some(now + std::time::Duration::from_secs(5));
    let o = DeliveryOptions {
        qos: QoS::ExactlyOnce,
        ..DeliveryOptions::default()
    };
    let Delivery::Sent(Some(id)) = pair.server.deliver(now, m, o).unwrap() else {
        panic!()
    };
    pair.step();
    // The client's PUBREC is lost; the message expires while the client is away.
    pair.to_server.drop_packets = 1;
    pair.drive();
    pair.cut();
    pair.advance(std::time::Duration::from_secs(60));
    pair.to_client.sent.clear();
    pair.reconnect();
    // v5 [MQTT-4.3.3-7]: once sent, expiry no longer applies: it is resent and completed.
    assert!(publishes(&pair.to_client.sent)
        .iter()
        .any(|p| p.dup && p.qos_pid.packet_id() == Some(id)));
    assert!(pair.server_events().contains(&ServerEvent::Delivered {
        packet_id: id,
        reason: ReasonCode::Success
    }));
}
