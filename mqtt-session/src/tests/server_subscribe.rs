//! Server: SUBSCRIBE and UNSUBSCRIBE reported to the broker and answered with SUBACK/UNSUBACK.

use super::pair::Pair;
use super::raw::{connect, pid, subscribe, RawServer};
use crate::{
    Accept, ClientEvent, DeliveryOptions, Message, ServerConfig, ServerError, ServerEvent,
};
use starling_codec::{
    Packet, PacketType, ProtocolVersion, PubAck, QoS, ReasonCode, SubAck, TopicFilter, UnsubAck,
    Unsubscribe,
};
use std::num::NonZeroU32;

fn server(version: ProtocolVersion, config: ServerConfig) -> RawServer {
    RawServer::connected(config, connect(version, "c"), Accept::new())
}

fn suback(out: &[Packet]) -> &SubAck {
    match out {
        [Packet::SubAck(s)] => s,
        other => panic!("expected one SUBACK, got {other:?}"),
    }
}

fn unsubscribe(id: u16, filters: &[&'static str]) -> Packet {
    Packet::Unsubscribe(Unsubscribe {
        packet_id: pid(id),
        filters: filters
            .iter()
            .map(|f| TopicFilter::from_static(f).unwrap())
            .collect(),
        properties: Default::default(),
    })
}

fn filters(raw: &RawServer) -> Vec<(String, QoS)> {
    raw.session
        .subscriptions()
        .map(|s| (s.filter.as_str().to_owned(), s.options.qos))
        .collect()
}

#[test]
fn subscribe_is_reported_and_answered_in_order() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(version, ServerConfig::default());
        raw.send(Packet::Subscribe(subscribe(
            11,
            &[
                ("a/+", QoS::AtLeastOnce),
                ("b/#", QoS::ExactlyOnce),
                ("c", QoS::AtMostOnce),
            ],
        )));
        let events = raw.events();
        let [ServerEvent::Subscribe {
            packet_id,
            subscriptions,
            ..
        }] = &events[..]
        else {
            panic!("{events:?}")
        };
        assert_eq!(packet_id.get(), 11);
        assert_eq!(subscriptions.len(), 3);
        raw.session
            .sub_ack(
                *packet_id,
                vec![
                    ReasonCode::GrantedQoS1,
                    ReasonCode::NotAuthorized,
                    ReasonCode::Success,
                ],
            )
            .unwrap();
        let out = raw.recv();
        let ack = suback(&out);
        // v5 [MQTT-3.8.4-1], v3.1.1 [MQTT-3.8.4-1]: one SUBACK…
        // v5 [MQTT-3.8.4-2], v3.1.1 [MQTT-3.8.4-2]: …with the SUBSCRIBE's packet id…
        // v5 [MQTT-2.2.1-6], v3.1.1 [MQTT-2.3.1-7]
        assert_eq!(ack.packet_id.get(), 11);
        // v5 [MQTT-3.8.4-6], v5 [MQTT-3.9.3-1], v3.1.1 [MQTT-3.8.4-5], v3.1.1 [MQTT-3.9.3-1]:
        // one code per filter, in order. v5 [MQTT-3.8.4-5], v3.1.1 [MQTT-3.8.4-4]: handled
        // as separate subscriptions combined in one answer.
        let expected_refusal = if version.is_v5() {
            ReasonCode::NotAuthorized
        } else {
            // v3.1.1 [MQTT-3.9.3-2]: 3.1.1 has only 0x80 for failure.
            ReasonCode::UnspecifiedError
        };
        assert_eq!(
            ack.reason_codes,
            vec![
                ReasonCode::GrantedQoS1,
                expected_refusal,
                ReasonCode::Success
            ]
        );
        // Granted subscriptions are recorded; refused ones are not.
        assert_eq!(
            filters(&raw),
            vec![
                ("a/+".to_owned(), QoS::AtLeastOnce),
                ("c".to_owned(), QoS::AtMostOnce)
            ]
        );
    }
}

#[test]
fn granted_qos_is_clamped_to_the_server_maximum_and_the_request() {
    let config = ServerConfig {
        maximum_qos: QoS::AtMostOnce,
        ..ServerConfig::default()
    };
    let mut raw = server(ProtocolVersion::V5, config);
    // v5 [MQTT-3.2.2-10]: a QoS 0 server still accepts SUBSCRIBE at QoS 1 and 2.
    raw.send(Packet::Subscribe(subscribe(
        1,
        &[("a", QoS::ExactlyOnce), ("b", QoS::AtLeastOnce)],
    )));
    raw.events();
    raw.session
        .sub_ack(
            pid(1),
            vec![ReasonCode::GrantedQoS2, ReasonCode::GrantedQoS2],
        )
        .unwrap();
    // v5 [MQTT-3.8.4-7]: the code shows the QoS actually granted.
    assert_eq!(
        suback(&raw.recv()).reason_codes,
        vec![ReasonCode::Success, ReasonCode::Success]
    );
    // Never above what was requested either.
    let mut raw = server(ProtocolVersion::V5, ServerConfig::default());
    raw.send(Packet::Subscribe(subscribe(1, &[("a", QoS::AtLeastOnce)])));
    raw.events();
    raw.session
        .sub_ack(pid(1), vec![ReasonCode::GrantedQoS2])
        .unwrap();
    assert_eq!(
        suback(&raw.recv()).reason_codes,
        vec![ReasonCode::GrantedQoS1]
    );
    assert_eq!(filters(&raw), vec![("a".to_owned(), QoS::AtLeastOnce)]);
}

#[test]
fn sub_ack_needs_the_right_id_and_one_code_per_filter() {
    let mut raw = server(ProtocolVersion::V5, ServerConfig::default());
    raw.send(Packet::Subscribe(subscribe(
        1,
        &[("a", QoS::AtMostOnce), ("b", QoS::AtMostOnce)],
    )));
    raw.events();
    assert_eq!(
        raw.session.sub_ack(pid(1), vec![ReasonCode::Success]),
        Err(ServerError::ReasonCountMismatch)
    );
    assert_eq!(
        raw.session.sub_ack(pid(2), vec![ReasonCode::Success; 2]),
        Err(ServerError::UnknownPacketId)
    );
    assert!(raw.recv().is_empty());
    // The request is still pending and can be answered properly.
    raw.session
        .sub_ack(pid(1), vec![ReasonCode::Success; 2])
        .unwrap();
    assert_eq!(suback(&raw.recv()).reason_codes.len(), 2);
}

#[test]
fn sub_ack_codes_invalid_for_suback_become_0x80() {
    let mut raw = server(ProtocolVersion::V5, ServerConfig::default());
    raw.send(Packet::Subscribe(subscribe(1, &[("a", QoS::AtMostOnce)])));
    raw.events();
    raw.session
        .sub_ack(pid(1), vec![ReasonCode::ServerBusy])
        .unwrap();
    let out = raw.recv();
    // v5 [MQTT-3.9.3-2]: only Subscribe reason codes.
    let rc = suback(&out).reason_codes[0];
    assert!(rc.is_valid_for(PacketType::SubAck));
    assert_eq!(rc, ReasonCode::UnspecifiedError);
}

#[test]
fn same_filter_replaces_the_existing_subscription() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(version, ServerConfig::default());
        raw.send(Packet::Subscribe(subscribe(1, &[("a/b", QoS::AtMostOnce)])));
        raw.events();
        raw.session
            .sub_ack(pid(1), vec![ReasonCode::Success])
            .unwrap();
        raw.send(Packet::Subscribe(subscribe(
            2,
            &[("a/b", QoS::ExactlyOnce)],
        )));
        raw.events();
        raw.session
            .sub_ack(pid(2), vec![ReasonCode::GrantedQoS2])
            .unwrap();
        // v5 [MQTT-3.8.4-3], v3.1.1 [MQTT-3.8.4-3]
        assert_eq!(filters(&raw), vec![("a/b".to_owned(), QoS::ExactlyOnce)]);
    }
}

#[test]
fn unavailable_wildcard_and_shared_subscriptions_are_refused() {
    let config = ServerConfig {
        wildcard_subscription_available: false,
        shared_subscription_available: false,
        ..ServerConfig::default()
    };
    let mut raw = server(ProtocolVersion::V5, config.clone());
    raw.send(Packet::Subscribe(subscribe(
        1,
        &[
            ("a/+", QoS::AtMostOnce),
            ("$share/g/a", QoS::AtMostOnce),
            ("a", QoS::AtMostOnce),
        ],
    )));
    raw.events();
    // Whatever the broker says.
    raw.session
        .sub_ack(pid(1), vec![ReasonCode::Success; 3])
        .unwrap();
    assert_eq!(
        suback(&raw.recv()).reason_codes,
        vec![
            ReasonCode::WildcardSubscriptionsNotSupported,
            ReasonCode::SharedSubscriptionsNotSupported,
            ReasonCode::Success
        ]
    );
    assert_eq!(filters(&raw), vec![("a".to_owned(), QoS::AtMostOnce)]);

    // v3.1.1 [MQTT-3.8.3-2]: a server without wildcards rejects such filters (0x80).
    let mut raw = server(ProtocolVersion::V3_1_1, config);
    raw.send(Packet::Subscribe(subscribe(1, &[("a/#", QoS::AtMostOnce)])));
    raw.events();
    raw.session
        .sub_ack(pid(1), vec![ReasonCode::Success])
        .unwrap();
    assert_eq!(
        suback(&raw.recv()).reason_codes,
        vec![ReasonCode::UnspecifiedError]
    );
    assert_eq!(raw.session.subscriptions().count(), 0);
}

#[test]
fn subscription_identifier_is_recorded_or_refused_with_0xa1() {
    let mut s = subscribe(1, &[("a", QoS::AtMostOnce)]);
    s.properties.subscription_identifier = NonZeroU32::new(77);
    let mut raw = server(ProtocolVersion::V5, ServerConfig::default());
    raw.send(Packet::Subscribe(s.clone()));
    raw.events();
    raw.session
        .sub_ack(pid(1), vec![ReasonCode::Success])
        .unwrap();
    let sub = raw.session.subscriptions().next().unwrap();
    assert_eq!(sub.identifier, NonZeroU32::new(77));

    let config = ServerConfig {
        subscription_identifiers_available: false,
        ..ServerConfig::default()
    };
    let mut raw = server(ProtocolVersion::V5, config);
    raw.send(Packet::Subscribe(s));
    let out = raw.recv();
    assert!(matches!(&out[..], [Packet::Disconnect(d)]
        if d.reason_code == ReasonCode::SubscriptionIdentifiersNotSupported));
    assert!(raw.is_closed());
}

#[test]
fn unsubscribe_removes_and_answers_per_filter() {
    let mut raw = server(ProtocolVersion::V5, ServerConfig::default());
    raw.send(Packet::Subscribe(subscribe(
        1,
        &[("a", QoS::AtMostOnce), ("b/#", QoS::AtMostOnce)],
    )));
    raw.events();
    raw.session
        .sub_ack(pid(1), vec![ReasonCode::Success; 2])
        .unwrap();
    raw.recv();
    raw.send(unsubscribe(2, &["b/#", "zzz", "a"]));
    let events = raw.events();
    assert!(
        matches!(&events[..], [ServerEvent::Unsubscribe { packet_id, filters }]
        if packet_id.get() == 2 && filters.len() == 3)
    );
    raw.session.unsub_ack(pid(2), None).unwrap();
    // v5 [MQTT-3.10.4-4], v5 [MQTT-3.10.4-5]: one UNSUBACK with the same id, even for a
    // filter that matched nothing. v5 [MQTT-3.11.3-1], v5 [MQTT-3.10.4-6]: one code per filter,
    // in order, in one UNSUBACK. v5 [MQTT-3.11.3-2]: UNSUBACK reason codes only.
    assert_eq!(
        raw.recv(),
        vec![Packet::UnsubAck(UnsubAck {
            packet_id: pid(2),
            reason_codes: vec![
                ReasonCode::Success,
                ReasonCode::NoSubscriptionExisted,
                ReasonCode::Success
            ],
            properties: Default::default(),
        })]
    );
    // v5 [MQTT-3.10.4-1]: exact comparison removed both.
    assert_eq!(raw.session.subscriptions().count(), 0);
}

#[test]
fn v311_unsubscribe_gets_a_bare_unsuback() {
    let mut raw = server(ProtocolVersion::V3_1_1, ServerConfig::default());
    raw.send(unsubscribe(5, &["nothing", "here"]));
    raw.events();
    raw.session.unsub_ack(pid(5), None).unwrap();
    // v3.1.1 [MQTT-3.10.4-4], v3.1.1 [MQTT-3.10.4-5], v3.1.1 [MQTT-3.10.4-6]
    let out = raw.recv();
    assert!(
        matches!(&out[..], [Packet::UnsubAck(u)] if u.packet_id.get() == 5 && u.reason_codes.is_empty())
    );
    assert_eq!(
        &super::raw::encode(ProtocolVersion::V3_1_1, &out[0])[..],
        b"\xb0\x02\x00\x05"
    );
}

#[test]
fn unsub_ack_with_broker_codes() {
    let mut raw = server(ProtocolVersion::V5, ServerConfig::default());
    raw.send(Packet::Subscribe(subscribe(1, &[("a", QoS::AtMostOnce)])));
    raw.events();
    raw.session
        .sub_ack(pid(1), vec![ReasonCode::Success])
        .unwrap();
    raw.recv();
    raw.send(unsubscribe(2, &["a"]));
    raw.events();
    assert_eq!(
        raw.session.unsub_ack(pid(2), Some(vec![])),
        Err(ServerError::ReasonCountMismatch)
    );
    assert_eq!(
        raw.session.unsub_ack(pid(3), None),
        Err(ServerError::UnknownPacketId)
    );
    raw.session
        .unsub_ack(pid(2), Some(vec![ReasonCode::NotAuthorized]))
        .unwrap();
    let out = raw.recv();
    assert!(
        matches!(&out[..], [Packet::UnsubAck(u)] if u.reason_codes == [ReasonCode::NotAuthorized])
    );
    // A refused unsubscribe keeps the subscription.
    assert_eq!(raw.session.subscriptions().count(), 1);
}

#[test]
fn unsubscribe_completes_deliveries_already_started() {
    let mut raw = server(ProtocolVersion::V5, ServerConfig::default());
    raw.send(Packet::Subscribe(subscribe(1, &[("a", QoS::AtLeastOnce)])));
    raw.events();
    raw.session
        .sub_ack(pid(1), vec![ReasonCode::GrantedQoS1])
        .unwrap();
    raw.recv();
    let m = Message::new(
        super::pair::topic_name("a"),
        bytes::Bytes::from_static(b"x"),
        QoS::AtLeastOnce,
        false,
    );
    let options = DeliveryOptions {
        qos: QoS::AtLeastOnce,
        ..DeliveryOptions::default()
    };
    let crate::Delivery::Sent(Some(id)) = raw.session.deliver(raw.now(), m, options).unwrap()
    else {
        panic!()
    };
    raw.recv();
    raw.send(unsubscribe(2, &["a"]));
    raw.events();
    raw.session.unsub_ack(pid(2), None).unwrap();
    raw.recv();
    // v5 [MQTT-3.10.4-3], v3.1.1 [MQTT-3.10.4-3]: the started QoS 1 delivery still completes.
    assert_eq!(raw.session.inflight_len(), 1);
    raw.send(Packet::PubAck(PubAck::new(id)));
    assert!(
        matches!(&raw.events()[..], [ServerEvent::Delivered { packet_id, reason: ReasonCode::Success }] if *packet_id == id)
    );
    assert_eq!(raw.session.inflight_len(), 0);
}

#[test]
fn end_to_end_subscribe_route_and_unsubscribe() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut pair = Pair::connected(version);
        pair.subscribe("s/+", QoS::AtLeastOnce);
        assert!(pair.client_events().iter().any(|e| matches!(
            e,
            ClientEvent::SubAck { reason_codes, .. } if reason_codes == &[ReasonCode::GrantedQoS1]
        )));
        assert_eq!(pair.client.subscriptions().count(), 1);
        pair.publish("s/1", b"hello", QoS::AtLeastOnce);
        pair.drive();
        let got = pair.client_messages();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].payload(), b"hello");
        // v5 [MQTT-3.3.2-3], v3.1.1 [MQTT-3.3.2-3]: the topic matches the filter.
        assert_eq!(got[0].topic(), "s/1");
        pair.client
            .unsubscribe(
                vec![TopicFilter::from_static("s/+").unwrap()],
                Default::default(),
            )
            .unwrap();
        pair.drive();
        assert_eq!(pair.client.subscriptions().count(), 0);
        assert_eq!(pair.server.subscriptions().count(), 0);
        // v5 [MQTT-3.10.4-2], v3.1.1 [MQTT-3.10.4-2]: no new messages for that filter.
        pair.publish("s/1", b"again", QoS::AtLeastOnce);
        pair.drive();
        assert!(pair.client_messages().is_empty());
    }
}

#[test]
fn subscribe_from_the_client_carries_a_fresh_id_and_options() {
    let mut pair = Pair::connected(ProtocolVersion::V5);
    pair.to_server.sent.clear();
    let id = pair
        .client
        .subscribe(
            vec![(
                TopicFilter::from_static("x").unwrap(),
                starling_codec::SubscriptionOptions::new(QoS::ExactlyOnce),
            )],
            NonZeroU32::new(9),
            Default::default(),
        )
        .unwrap();
    pair.drive();
    let Packet::Subscribe(s) = &pair.to_server.sent[0] else {
        panic!()
    };
    assert_eq!(s.packet_id, id);
    assert_eq!(s.properties.subscription_identifier, NonZeroU32::new(9));
}

#[test]
fn v311_unsubscribe_compares_filters_character_by_character() {
    let mut raw = server(ProtocolVersion::V3_1_1, ServerConfig::default());
    raw.send(Packet::Subscribe(subscribe(1, &[("a/+", QoS::AtMostOnce)])));
    raw.events();
    raw.session
        .sub_ack(pid(1), vec![ReasonCode::Success])
        .unwrap();
    // v3.1.1 [MQTT-3.10.4-1]: "a/#" is not "a/+", even though it covers it.
    raw.send(unsubscribe(2, &["a/#"]));
    raw.events();
    raw.session.unsub_ack(pid(2), None).unwrap();
    assert_eq!(raw.session.subscriptions().count(), 1);
    raw.send(unsubscribe(3, &["a/+"]));
    raw.events();
    raw.session.unsub_ack(pid(3), None).unwrap();
    assert_eq!(raw.session.subscriptions().count(), 0);
}
