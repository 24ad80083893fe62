//! Client: CONNECT/CONNACK, outbound PUBLISH under the server's limits, inbound QoS flows,
//! topic aliases, SUBSCRIBE/UNSUBSCRIBE, DISCONNECT.

use super::pair::{client_config, topic_name, Pair};
use super::raw::{decode_all, pid, publish, pubrel, s, RawClient};
use crate::{
    ClientCloseReason, ClientConfig, ClientError, ClientEvent, ClientPhase, PublishRequest,
    ServerConfig,
};
use bytes::Bytes;
use starling_codec::{
    ConnAck, Disconnect, DisconnectProperties, Packet, ProtocolVersion, PubAck, PubComp, PubRec,
    PubRel, QoS, ReasonCode, SubAck, SubscriptionOptions, TopicFilter, TopicName,
};
use std::num::{NonZeroU16, NonZeroU32};

fn v5() -> ClientConfig {
    client_config(ProtocolVersion::V5)
}

fn connected_with(config: ClientConfig, ack: ConnAck) -> RawClient {
    RawClient::connected(config, ack)
}

fn connected(version: ProtocolVersion) -> RawClient {
    connected_with(client_config(version), ConnAck::new(ReasonCode::Success))
}

fn req(topic: &'static str, qos: QoS) -> PublishRequest {
    PublishRequest::new(topic_name(topic), &b"x"[..], qos)
}

fn closed(events: &[ClientEvent]) -> Option<&ClientCloseReason> {
    events.iter().find_map(|e| match e {
        ClientEvent::Closed { reason } => Some(reason),
        _ => None,
    })
}

#[test]
fn client_sends_connect_first_with_its_config() {
    let mut config = v5();
    config.clean_start = false;
    config.keep_alive = 33;
    config.properties.session_expiry_interval = Some(600);
    let (raw, c) = RawClient::new(config);
    // v5 [MQTT-3.1.0-1]
    assert_eq!(c.protocol, ProtocolVersion::V5);
    assert!(!c.clean_start);
    assert_eq!(c.keep_alive, 33);
    assert_eq!(c.client_id, "c1");
    assert_eq!(c.properties.session_expiry_interval, Some(600));
    assert_eq!(raw.session.phase(), ClientPhase::Connecting);
}

#[test]
fn connack_success_connects_and_reports_the_properties() {
    let mut ack = ConnAck::new(ReasonCode::Success);
    ack.properties.assigned_client_identifier = Some(s("given"));
    let (mut raw, _) = RawClient::new(v5());
    raw.send(Packet::ConnAck(Box::new(ack)));
    let events = raw.events();
    let [ClientEvent::Connected {
        session_present: false,
        properties,
    }] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(properties.assigned_client_identifier, Some(s("given")));
    assert_eq!(raw.session.phase(), ClientPhase::Connected);
}

#[test]
fn refused_connack_closes_the_client() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let (mut raw, _) = RawClient::new(client_config(version));
        raw.send(Packet::ConnAck(Box::new(ConnAck::new(
            ReasonCode::BadUserNameOrPassword,
        ))));
        assert_eq!(raw.session.phase(), ClientPhase::Closed);
        assert_eq!(
            closed(&raw.events()),
            Some(&ClientCloseReason::Refused(
                ReasonCode::BadUserNameOrPassword
            ))
        );
        assert!(raw.recv().is_empty());
    }
}

#[test]
fn session_present_after_clean_start_closes_the_connection() {
    let mut ack = ConnAck::new(ReasonCode::Success);
    ack.session_present = true;
    let (mut raw, _) = RawClient::new(v5());
    raw.send(Packet::ConnAck(Box::new(ack)));
    // v5 [MQTT-3.2.2-4]: a client without session state must close.
    assert_eq!(raw.session.phase(), ClientPhase::Closed);
    assert!(matches!(
        closed(&raw.events()),
        Some(ClientCloseReason::ProtocolViolation(
            ReasonCode::ProtocolError,
            _
        ))
    ));
}

#[test]
fn packets_before_connack_and_a_second_connack_are_protocol_errors() {
    let (mut raw, _) = RawClient::new(v5());
    raw.send(Packet::PingResp);
    assert_eq!(raw.session.phase(), ClientPhase::Closed);
    // Not connected yet: nothing to say.
    assert!(raw.recv().is_empty());

    let mut raw = connected(ProtocolVersion::V5);
    raw.send(Packet::ConnAck(Box::new(ConnAck::new(ReasonCode::Success))));
    let out = raw.recv();
    assert!(
        matches!(&out[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError)
    );
    assert_eq!(raw.session.phase(), ClientPhase::Closed);
}

#[test]
fn commands_need_a_connection() {
    let (mut raw, _) = RawClient::new(v5());
    let now = raw.now();
    assert_eq!(
        raw.session.publish(now, req("t", QoS::AtMostOnce)),
        Err(ClientError::NotConnected)
    );
    assert_eq!(
        raw.session.subscribe(
            vec![(
                TopicFilter::from_static("t").unwrap(),
                SubscriptionOptions::new(QoS::AtMostOnce)
            )],
            None,
            Default::default()
        ),
        Err(ClientError::NotConnected)
    );
}

#[test]
fn qos0_publish_has_no_id_and_dup_0() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = connected(version);
        let now = raw.now();
        assert_eq!(
            raw.session.publish(now, req("t", QoS::AtMostOnce)),
            Ok(None)
        );
        let out = raw.recv();
        // v5 [MQTT-2.2.1-2], v3.1.1 [MQTT-2.3.1-5], v5 [MQTT-4.3.1-1], v3.1.1 [MQTT-4.3.1-1]
        assert!(
            matches!(&out[..], [Packet::Publish(p)] if !p.dup && p.qos_pid.packet_id().is_none())
        );
    }
}

#[test]
fn client_packet_ids_are_unused_across_publish_subscribe_and_unsubscribe() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = connected(version);
        let now = raw.now();
        let mut ids = vec![
            raw.session
                .publish(now, req("t", QoS::AtLeastOnce))
                .unwrap()
                .unwrap(),
            raw.session
                .publish(now, req("t", QoS::ExactlyOnce))
                .unwrap()
                .unwrap(),
        ];
        ids.push(
            raw.session
                .subscribe(
                    vec![(
                        TopicFilter::from_static("a").unwrap(),
                        SubscriptionOptions::new(QoS::AtMostOnce),
                    )],
                    None,
                    Default::default(),
                )
                .unwrap(),
        );
        ids.push(
            raw.session
                .unsubscribe(
                    vec![TopicFilter::from_static("a").unwrap()],
                    Default::default(),
                )
                .unwrap(),
        );
        // v5 [MQTT-2.2.1-3], v3.1.1 [MQTT-2.3.1-2]
        let mut unique: Vec<u16> = ids.iter().map(|i| i.get()).collect();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 4);
        // v5 [MQTT-4.3.2-2], v5 [MQTT-4.3.3-2]: the PUBLISH carries the id, DUP 0.
        let out = raw.recv();
        assert!(
            matches!(&out[0], Packet::Publish(p) if !p.dup && p.qos_pid.packet_id() == Some(ids[0]))
        );
    }
}

#[test]
fn maximum_qos_and_retain_available_are_respected() {
    let mut ack = ConnAck::new(ReasonCode::Success);
    ack.properties.maximum_qos = Some(QoS::AtLeastOnce);
    ack.properties.retain_available = Some(false);
    let mut raw = connected_with(v5(), ack);
    let now = raw.now();
    // v5 [MQTT-3.2.2-11]
    assert_eq!(
        raw.session.publish(now, req("t", QoS::ExactlyOnce)),
        Err(ClientError::QosNotSupported)
    );
    // v5 [MQTT-3.2.2-14]
    let mut r = req("t", QoS::AtMostOnce);
    r.retain = true;
    assert_eq!(
        raw.session.publish(now, r),
        Err(ClientError::RetainNotSupported)
    );
    assert!(raw.recv().is_empty());
    assert!(raw.session.publish(now, req("t", QoS::AtLeastOnce)).is_ok());
}

#[test]
fn server_maximum_packet_size_is_respected() {
    let mut ack = ConnAck::new(ReasonCode::Success);
    ack.properties.maximum_packet_size = NonZeroU32::new(50);
    ack.properties.topic_alias_maximum = Some(5);
    let mut raw = connected_with(v5(), ack);
    let now = raw.now();
    let big = PublishRequest::new(topic_name("t"), vec![0u8; 100], QoS::AtMostOnce);
    // v5 [MQTT-3.2.2-15]
    assert_eq!(raw.session.publish(now, big), Err(ClientError::TooLarge));
    assert!(raw.recv().is_empty());
    // A PUBLISH exactly at the maximum without an alias is sent, without one.
    let n = (0..50)
        .find(|&n| {
            Packet::Publish(publish("t", QoS::AtMostOnce, 0, b""))
                .encoded_len(ProtocolVersion::V5)
                .unwrap()
                + n
                == 50
        })
        .unwrap();
    let exact = PublishRequest::new(topic_name("t"), vec![0u8; n], QoS::AtMostOnce);
    raw.session.publish(now, exact).unwrap();
    let out = raw.recv();
    assert_eq!(out.len(), 1);
    assert!(out[0].encoded_len(ProtocolVersion::V5).unwrap() <= 50);
    // The next PUBLISH on that topic does not reuse an alias the server never saw.
    raw.session.publish(now, req("t", QoS::AtMostOnce)).unwrap();
    let out = raw.recv();
    assert!(matches!(&out[..], [Packet::Publish(p)] if !p.topic().is_empty()));
}

#[test]
fn server_receive_maximum_limits_unacknowledged_publishes() {
    let mut ack = ConnAck::new(ReasonCode::Success);
    ack.properties.receive_maximum = NonZeroU16::new(2);
    let mut raw = connected_with(v5(), ack);
    let now = raw.now();
    let a = raw
        .session
        .publish(now, req("t", QoS::AtLeastOnce))
        .unwrap()
        .unwrap();
    let b = raw
        .session
        .publish(now, req("t", QoS::ExactlyOnce))
        .unwrap()
        .unwrap();
    // v5 [MQTT-3.3.4-7], v5 [MQTT-4.9.0-2]
    assert!(!raw.session.has_send_quota());
    assert_eq!(
        raw.session.publish(now, req("t", QoS::AtLeastOnce)),
        Err(ClientError::QuotaExhausted)
    );
    // QoS 0 and other packets are not held back (v5 [MQTT-3.3.4-8], v5 [MQTT-4.9.0-3]).
    assert!(raw.session.publish(now, req("t", QoS::AtMostOnce)).is_ok());
    assert!(raw
        .session
        .subscribe(
            vec![(
                TopicFilter::from_static("a").unwrap(),
                SubscriptionOptions::new(QoS::AtMostOnce)
            )],
            None,
            Default::default()
        )
        .is_ok());
    raw.recv();
    // PUBACK frees one; PUBREC with an error frees the other.
    raw.send(Packet::PubAck(PubAck::new(a)));
    assert!(raw.session.has_send_quota());
    let mut rec = PubRec::new(b);
    rec.reason_code = ReasonCode::UnspecifiedError;
    raw.send(Packet::PubRec(rec));
    // v5 [MQTT-4.4.0-2]: no PUBREL after an error PUBREC.
    assert!(raw.recv().is_empty());
    assert_eq!(raw.session.inflight_len(), 0);
    let events = raw.events();
    assert!(events.contains(&ClientEvent::Published {
        packet_id: a,
        reason: ReasonCode::Success
    }));
    assert!(events.contains(&ClientEvent::Published {
        packet_id: b,
        reason: ReasonCode::UnspecifiedError
    }));
}

#[test]
fn outbound_qos2_sends_pubrel_on_pubrec_and_finishes_on_pubcomp() {
    let mut raw = connected(ProtocolVersion::V3_1_1);
    let now = raw.now();
    let id = raw
        .session
        .publish(now, req("t", QoS::ExactlyOnce))
        .unwrap()
        .unwrap();
    raw.recv();
    raw.send(Packet::PubRec(PubRec::new(id)));
    // v5 [MQTT-4.3.3-4]
    assert_eq!(raw.recv(), vec![Packet::PubRel(PubRel::new(id))]);
    raw.send(Packet::PubComp(PubComp::new(id)));
    assert_eq!(
        raw.events(),
        vec![ClientEvent::Published {
            packet_id: id,
            reason: ReasonCode::Success
        }]
    );
}

#[test]
fn outbound_topic_aliases_stay_within_the_server_maximum() {
    let mut ack = ConnAck::new(ReasonCode::Success);
    ack.properties.topic_alias_maximum = Some(1);
    let mut raw = connected_with(v5(), ack);
    let now = raw.now();
    for t in ["a", "a", "b", "b", "a"] {
        raw.session
            .publish(
                now,
                PublishRequest::new(
                    TopicName::from_bytes(Bytes::from(t)).unwrap(),
                    &b"x"[..],
                    QoS::AtMostOnce,
                ),
            )
            .unwrap();
    }
    let wire: Vec<_> = raw
        .recv()
        .into_iter()
        .map(|p| match p {
            Packet::Publish(p) => (
                p.topic().to_owned(),
                p.properties.topic_alias.map(|a| a.get()),
            ),
            _ => panic!(),
        })
        .collect();
    // v5 [MQTT-3.3.2-9], v5 [MQTT-3.2.2-17]
    assert_eq!(
        wire,
        vec![
            ("a".to_owned(), Some(1)),
            (String::new(), Some(1)),
            ("b".to_owned(), Some(1)),
            (String::new(), Some(1)),
            ("a".to_owned(), Some(1)),
        ]
    );
    // v5 [MQTT-3.2.2-18]: no maximum from the server, no aliases.
    let mut raw = connected(ProtocolVersion::V5);
    let now = raw.now();
    for _ in 0..2 {
        raw.session.publish(now, req("t", QoS::AtMostOnce)).unwrap();
    }
    assert!(raw
        .recv()
        .iter()
        .all(|p| matches!(p, Packet::Publish(p) if p.properties.topic_alias.is_none())));
}

#[test]
fn client_never_sends_subscription_identifiers_in_publish() {
    let mut raw = connected(ProtocolVersion::V5);
    let now = raw.now();
    let mut r = req("t", QoS::AtMostOnce);
    r.properties.subscription_identifiers = vec![NonZeroU32::new(4).unwrap()];
    raw.session.publish(now, r).unwrap();
    // v5 [MQTT-3.3.4-6]
    assert!(
        matches!(&raw.recv()[..], [Packet::Publish(p)] if p.properties.subscription_identifiers.is_empty())
    );
}

#[test]
fn inbound_qos1_and_qos2_are_acknowledged_in_order() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = connected(version);
        for (qos, id) in [
            (QoS::AtLeastOnce, 5),
            (QoS::ExactlyOnce, 3),
            (QoS::AtLeastOnce, 1),
            (QoS::ExactlyOnce, 2),
            (QoS::AtMostOnce, 0),
        ] {
            raw.send(Packet::Publish(publish("t", qos, id, b"x")));
        }
        // v5 [MQTT-4.5.0-2], v3.1.1 [MQTT-4.5.0-2]: every PUBLISH is acknowledged per its QoS.
        // v5 [MQTT-4.3.2-4], v5 [MQTT-4.3.3-8]; v5 [MQTT-4.6.0-2], v5 [MQTT-4.6.0-3],
        // v3.1.1 [MQTT-4.6.0-2], v3.1.1 [MQTT-4.6.0-3]: in the order received.
        assert_eq!(
            raw.recv(),
            vec![
                Packet::PubAck(PubAck::new(pid(5))),
                Packet::PubRec(PubRec::new(pid(3))),
                Packet::PubAck(PubAck::new(pid(1))),
                Packet::PubRec(PubRec::new(pid(2))),
            ]
        );
        assert_eq!(raw.events().len(), 5);
    }
}

#[test]
fn client_qos2_duplicate_is_not_delivered_twice() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = connected(version);
        raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 8, b"x")));
        let mut dup = publish("t", QoS::ExactlyOnce, 8, b"x");
        dup.dup = true;
        raw.send(Packet::Publish(dup));
        // v5 [MQTT-4.3.3-10], v3.1.1 [MQTT-4.3.3-2]: PUBREC again, one delivery.
        assert_eq!(
            raw.recv(),
            vec![
                Packet::PubRec(PubRec::new(pid(8))),
                Packet::PubRec(PubRec::new(pid(8)))
            ]
        );
        assert_eq!(raw.events().len(), 1);
        raw.send(pubrel(8));
        // v5 [MQTT-4.3.3-11]
        assert_eq!(raw.recv(), vec![Packet::PubComp(PubComp::new(pid(8)))]);
        // v5 [MQTT-4.3.3-12]: then the id starts a new message.
        raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 8, b"y")));
        assert_eq!(raw.events().len(), 1);
    }
}

#[test]
fn client_answers_unknown_pubrel_with_0x92() {
    let mut raw = connected(ProtocolVersion::V5);
    raw.send(pubrel(77));
    let mut comp = PubComp::new(pid(77));
    comp.reason_code = ReasonCode::PacketIdentifierNotFound;
    assert_eq!(raw.recv(), vec![Packet::PubComp(comp)]);
}

#[test]
fn client_inbound_topic_aliases() {
    let mut config = v5();
    config.properties.topic_alias_maximum = Some(2);
    let mut raw = connected_with(config.clone(), ConnAck::new(ReasonCode::Success));
    let aliased = |topic: TopicName, alias: u16| {
        let mut p = publish("x", QoS::AtMostOnce, 0, b"x");
        p.set_topic(topic);
        p.properties.topic_alias = NonZeroU16::new(alias);
        Packet::Publish(p)
    };
    // v5 [MQTT-3.3.2-10]: 1..=maximum accepted.
    raw.send(aliased(topic_name("a"), 1));
    raw.send(aliased(topic_name("b"), 2));
    raw.send(aliased(TopicName::empty(), 1));
    raw.send(aliased(TopicName::empty(), 2));
    let topics: Vec<_> = raw
        .events()
        .into_iter()
        .map(|e| match e {
            ClientEvent::Message { publish } => publish.topic().to_owned(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(topics, ["a", "b", "a", "b"]);
    raw.send(aliased(topic_name("c"), 3));
    assert!(
        matches!(&raw.recv()[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::TopicAliasInvalid)
    );

    let mut raw = connected_with(config, ConnAck::new(ReasonCode::Success));
    raw.send(aliased(TopicName::empty(), 1));
    assert!(
        matches!(&raw.recv()[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError)
    );
}

#[test]
fn client_refuses_oversize_packets_with_0x95() {
    let mut config = v5();
    config.properties.maximum_packet_size = NonZeroU32::new(30);
    let mut raw = connected_with(config, ConnAck::new(ReasonCode::Success));
    raw.send(Packet::Publish(publish("t", QoS::AtMostOnce, 0, &[0; 40])));
    assert!(
        matches!(&raw.recv()[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::PacketTooLarge)
    );
    assert_eq!(raw.session.phase(), ClientPhase::Closed);
}

#[test]
fn suback_and_unsuback_must_match_a_request() {
    let mut raw = connected(ProtocolVersion::V5);
    raw.send(Packet::SubAck(SubAck {
        packet_id: pid(9),
        reason_codes: vec![ReasonCode::Success],
        properties: Default::default(),
    }));
    assert!(
        matches!(&raw.recv()[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError)
    );

    let mut raw = connected(ProtocolVersion::V5);
    let id = raw
        .session
        .subscribe(
            vec![
                (
                    TopicFilter::from_static("a").unwrap(),
                    SubscriptionOptions::new(QoS::AtLeastOnce),
                ),
                (
                    TopicFilter::from_static("b").unwrap(),
                    SubscriptionOptions::new(QoS::AtLeastOnce),
                ),
            ],
            None,
            Default::default(),
        )
        .unwrap();
    raw.recv();
    raw.send(Packet::SubAck(SubAck {
        packet_id: id,
        reason_codes: vec![ReasonCode::GrantedQoS1],
        properties: Default::default(),
    }));
    assert!(
        matches!(&raw.recv()[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError)
    );
}

#[test]
fn client_records_only_granted_subscriptions() {
    let mut raw = connected(ProtocolVersion::V5);
    let id = raw
        .session
        .subscribe(
            vec![
                (
                    TopicFilter::from_static("a").unwrap(),
                    SubscriptionOptions::new(QoS::ExactlyOnce),
                ),
                (
                    TopicFilter::from_static("b").unwrap(),
                    SubscriptionOptions::new(QoS::AtLeastOnce),
                ),
            ],
            None,
            Default::default(),
        )
        .unwrap();
    raw.send(Packet::SubAck(SubAck {
        packet_id: id,
        reason_codes: vec![ReasonCode::GrantedQoS1, ReasonCode::NotAuthorized],
        properties: Default::default(),
    }));
    let subs: Vec<_> = raw
        .session
        .subscriptions()
        .map(|s| (s.filter.as_str().to_owned(), s.options.qos))
        .collect();
    assert_eq!(subs, vec![("a".to_owned(), QoS::AtLeastOnce)]);
}

#[test]
fn client_disconnect_sends_disconnect_and_nothing_after() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut pair = Pair::connected(version);
        pair.to_server.sent.clear();
        pair.client
            .disconnect(ReasonCode::Success, DisconnectProperties::default());
        let now = pair.now();
        assert_eq!(
            pair.client.publish(now, req("t", QoS::AtMostOnce)),
            Err(ClientError::NotConnected)
        );
        pair.advance(std::time::Duration::from_secs(100));
        // v5 [MQTT-3.14.4-1], v3.1.1 [MQTT-3.14.4-2]: nothing after DISCONNECT;
        // v5 [MQTT-3.14.4-2], v3.1.1 [MQTT-3.14.4-1]: the connection is closed.
        assert_eq!(
            pair.to_server.sent,
            vec![Packet::Disconnect(Disconnect::default())]
        );
        assert!(!pair.open);
        assert_eq!(
            closed(&pair.client_events()),
            Some(&ClientCloseReason::LocalDisconnect(ReasonCode::Success))
        );
    }
}

#[test]
fn client_drops_session_expiry_on_disconnect_when_connect_had_none() {
    let mut raw = connected(ProtocolVersion::V5);
    let mut props = DisconnectProperties::default();
    props.session_expiry_interval = Some(100);
    raw.session.disconnect(ReasonCode::Success, props);
    let out = raw.recv();
    assert!(
        matches!(&out[..], [Packet::Disconnect(d)] if d.properties.session_expiry_interval.is_none())
    );
}

#[test]
fn server_disconnect_closes_the_client() {
    let mut raw = connected(ProtocolVersion::V5);
    raw.send(Packet::Disconnect(Disconnect::new(
        ReasonCode::ServerShuttingDown,
    )));
    assert_eq!(raw.session.phase(), ClientPhase::Closed);
    assert!(matches!(
        closed(&raw.events()),
        Some(ClientCloseReason::ServerDisconnect(d)) if d.reason_code == ReasonCode::ServerShuttingDown
    ));
    assert!(raw.recv().is_empty());
}

#[test]
fn client_auth_needs_a_method_in_connect() {
    let mut raw = connected(ProtocolVersion::V5);
    // v5 [MQTT-4.12.0-7]
    assert!(matches!(
        raw.session.auth(ReasonCode::ReAuthenticate, None),
        Err(ClientError::Invalid(_))
    ));
    assert!(raw.recv().is_empty());
}

#[test]
fn end_to_end_over_a_slow_link() {
    let mut pair = Pair::new(v5(), ServerConfig::default());
    pair.latency = std::time::Duration::from_millis(250);
    pair.drive();
    pair.subscribe("t", QoS::ExactlyOnce);
    pair.client_events();
    pair.publish("t", b"slow", QoS::ExactlyOnce);
    pair.drive();
    let got = pair.client_messages();
    assert_eq!(got.len(), 1);
    assert_eq!(pair.client.inflight_len(), 0);
    assert_eq!(pair.server.inflight_len(), 0);
}

#[test]
fn pubrel_order_follows_pubrec_order() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = connected(version);
        let now = raw.now();
        let a = raw
            .session
            .publish(now, req("t", QoS::ExactlyOnce))
            .unwrap()
            .unwrap();
        let b = raw
            .session
            .publish(now, req("t", QoS::ExactlyOnce))
            .unwrap()
            .unwrap();
        raw.recv();
        raw.send(Packet::PubRec(PubRec::new(b)));
        raw.send(Packet::PubRec(PubRec::new(a)));
        // v5 [MQTT-4.6.0-4], v3.1.1 [MQTT-4.6.0-4]
        assert_eq!(
            raw.recv(),
            vec![
                Packet::PubRel(PubRel::new(b)),
                Packet::PubRel(PubRel::new(a))
            ]
        );
    }
}

#[test]
fn large_payloads_are_published_shared_not_copied_and_in_order() {
    use crate::{ClientSession, ZERO_COPY_MIN_PAYLOAD};
    use std::collections::VecDeque;
    let big = Bytes::from(vec![0xC3; ZERO_COPY_MIN_PAYLOAD + 5]);
    let small = Bytes::from_static(b"small");
    let chunks_of = |session: &mut ClientSession| {
        assert!(session.has_attached_payloads());
        let mut chunks = VecDeque::new();
        session.transmit_chunks(&mut chunks);
        assert!(!session.has_attached_payloads());
        assert!(session.poll_transmit().is_none());
        chunks
    };
    let shared_count = |chunks: &VecDeque<Bytes>| {
        chunks
            .iter()
            .filter(|c| c.as_ptr() == big.as_ptr() && c.len() == big.len())
            .count()
    };
    let join = |chunks: &VecDeque<Bytes>| -> Bytes {
        chunks.iter().flat_map(|c| c.iter().copied()).collect()
    };
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let send = |raw: &mut RawClient| {
            let now = raw.now();
            for (payload, qos) in [
                (&small, QoS::AtMostOnce),
                (&big, QoS::AtLeastOnce),
                (&small, QoS::AtLeastOnce),
                (&big, QoS::ExactlyOnce),
                (&big, QoS::AtMostOnce),
            ] {
                let mut r = PublishRequest::new(topic_name("big/t"), payload.clone(), qos);
                if version.is_v5() {
                    r.properties.content_type = Some(s("application/octet-stream"));
                }
                raw.session.publish(now, r).unwrap();
            }
        };
        // Taken as chunks: the three large payloads are the caller's own memory.
        let mut raw = connected(version);
        send(&mut raw);
        let chunks = chunks_of(&mut raw.session);
        assert_eq!(shared_count(&chunks), 3, "{version:?}");
        let joined = join(&chunks);

        // Taken as one buffer: the same bytes.
        let mut other = connected(version);
        send(&mut other);
        let one_buffer = other.session.poll_transmit().unwrap();
        assert_eq!(joined, one_buffer, "{version:?}");
        let got: Vec<_> = decode_all(version, Some(joined))
            .into_iter()
            .map(|p| match p {
                Packet::Publish(p) => (p.payload().len(), p.dup),
                other => panic!("{other:?}"),
            })
            .collect();
        let n = big.len();
        assert_eq!(
            got,
            [(5, false), (n, false), (5, false), (n, false), (n, false)]
        );

        // Resent on a resumed session (DUP set, v5 [MQTT-4.4.0-1]): still not copied.
        let now = raw.now();
        let state = raw.session.into_state();
        let mut config = client_config(version);
        config.clean_start = false;
        let mut resumed = ClientSession::resume(now, config, state);
        let _connect = resumed.poll_transmit();
        let mut ack = ConnAck::new(ReasonCode::Success);
        ack.session_present = true;
        let mut buf = bytes::BytesMut::new();
        Packet::ConnAck(Box::new(ack))
            .encode(version, &mut buf)
            .unwrap();
        resumed.handle_bytes(now, &mut buf);
        let chunks = chunks_of(&mut resumed);
        assert_eq!(shared_count(&chunks), 2, "{version:?}");
        let resent: Vec<_> = decode_all(version, Some(join(&chunks)))
            .into_iter()
            .map(|p| match p {
                Packet::Publish(p) => (p.payload().len(), p.dup, p.payload() == &big[..]),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(resent, [(n, true, true), (5, true, false), (n, true, true)]);
    }
}
