//! Server: outbound delivery of application messages (QoS downgrade, RETAIN, subscription
//! identifiers, topic aliases, the client's Receive Maximum, message expiry, size limits).

use super::pair::{topic_name, Pair};
use super::raw::{connect, decode_all, pid, RawServer};
use crate::{Accept, Delivery, DeliveryOptions, Message, ServerConfig, ServerError, ServerEvent};
use bytes::Bytes;
use starling_codec::{
    Connect, Packet, PayloadFormat, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, QoS,
    ReasonCode, TopicName,
};
use std::{
    num::{NonZeroU16, NonZeroU32},
    time::Duration,
};

fn server(version: ProtocolVersion) -> RawServer {
    RawServer::connected(
        ServerConfig::default(),
        connect(version, "c"),
        Accept::new(),
    )
}

fn server_for(c: Connect) -> RawServer {
    RawServer::connected(ServerConfig::default(), c, Accept::new())
}

fn message(topic: &'static str, qos: QoS, retain: bool) -> Message {
    Message::new(topic_name(topic), Bytes::from_static(b"m"), qos, retain)
}

fn at(qos: QoS) -> DeliveryOptions {
    DeliveryOptions {
        qos,
        ..DeliveryOptions::default()
    }
}

fn deliver(raw: &mut RawServer, m: Message, o: DeliveryOptions) -> Delivery {
    let now = raw.now();
    raw.session.deliver(now, m, o).unwrap()
}

fn publishes(out: Vec<Packet>) -> Vec<Publish> {
    out.into_iter()
        .map(|p| match p {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        })
        .collect()
}

fn one(raw: &mut RawServer) -> Publish {
    let mut v = publishes(raw.recv());
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

#[test]
fn delivery_qos_is_the_minimum_of_message_and_subscription() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(version);
        for (msg, sub, expected) in [
            (QoS::ExactlyOnce, QoS::AtLeastOnce, QoS::AtLeastOnce),
            (QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::AtLeastOnce),
            (QoS::ExactlyOnce, QoS::AtMostOnce, QoS::AtMostOnce),
        ] {
            deliver(&mut raw, message("t", msg, false), at(sub));
            // v5 [MQTT-3.8.4-8], v3.1.1 [MQTT-3.8.4-6], v5 [MQTT-3.3.4-2], v3.1.1 [MQTT-3.3.5-1]
            assert_eq!(one(&mut raw).qos_pid.qos(), expected);
        }
    }
}

#[test]
fn outbound_publish_uses_unused_nonzero_ids_and_dup_0() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(version);
        deliver(
            &mut raw,
            message("t", QoS::AtMostOnce, false),
            at(QoS::AtMostOnce),
        );
        let p = one(&mut raw);
        // v5 [MQTT-4.3.1-1], v3.1.1 [MQTT-4.3.1-1], v5 [MQTT-3.3.1-2], v3.1.1 [MQTT-3.3.1-2]
        assert!(!p.dup);
        let mut ids = Vec::new();
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::AtLeastOnce] {
            let Delivery::Sent(Some(id)) = deliver(&mut raw, message("t", qos, false), at(qos))
            else {
                panic!()
            };
            let p = one(&mut raw);
            // v5 [MQTT-4.3.2-2], v5 [MQTT-4.3.3-2]: the id, the QoS, DUP 0.
            assert!(!p.dup);
            assert_eq!(p.qos_pid.packet_id(), Some(id));
            ids.push(id.get());
        }
        // v5 [MQTT-2.2.1-4], v5 [MQTT-4.3.2-1], v5 [MQTT-4.3.3-1], v3.1.1 [MQTT-4.3.2-1],
        // v3.1.1 [MQTT-4.3.3-1], v3.1.1 [MQTT-2.3.1-1]: non-zero, unused ids.
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 3);
        assert!(ids.iter().all(|&i| i != 0));
    }
}

#[test]
fn outbound_qos1_is_unacknowledged_until_puback() {
    let mut raw = server(ProtocolVersion::V5);
    let Delivery::Sent(Some(id)) = deliver(
        &mut raw,
        message("t", QoS::AtLeastOnce, false),
        at(QoS::AtLeastOnce),
    ) else {
        panic!()
    };
    raw.recv();
    // v5 [MQTT-4.3.2-3]
    assert_eq!(raw.session.inflight_len(), 1);
    // An acknowledgement for another id is ignored.
    raw.send(Packet::PubAck(PubAck::new(pid(id.get() + 1))));
    assert_eq!(raw.session.inflight_len(), 1);
    raw.send(Packet::PubAck(PubAck::new(id)));
    assert_eq!(raw.session.inflight_len(), 0);
    assert_eq!(
        raw.events(),
        vec![ServerEvent::Delivered {
            packet_id: id,
            reason: ReasonCode::Success
        }]
    );
}

#[test]
fn outbound_qos2_flow_sends_pubrel_and_completes_on_pubcomp() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(version);
        let Delivery::Sent(Some(id)) = deliver(
            &mut raw,
            message("t", QoS::ExactlyOnce, false),
            at(QoS::ExactlyOnce),
        ) else {
            panic!()
        };
        raw.recv();
        // v5 [MQTT-4.3.3-3]: unacknowledged until PUBREC.
        raw.send(Packet::PubComp(PubComp::new(id)));
        assert_eq!(raw.session.inflight_len(), 1);
        raw.send(Packet::PubRec(PubRec::new(id)));
        // v5 [MQTT-4.3.3-4]: PUBREL with the same id; v5 [MQTT-2.2.1-5].
        assert_eq!(raw.recv(), vec![Packet::PubRel(PubRel::new(id))]);
        // v5 [MQTT-4.3.3-5]: the PUBREL is unacknowledged until PUBCOMP.
        assert_eq!(raw.session.inflight_len(), 1);
        assert!(raw.events().is_empty());
        raw.send(Packet::PubComp(PubComp::new(id)));
        assert_eq!(raw.session.inflight_len(), 0);
        assert!(matches!(
            &raw.events()[..],
            [ServerEvent::Delivered {
                reason: ReasonCode::Success,
                ..
            }]
        ));
    }
}

#[test]
fn refused_outbound_publish_is_finished_and_not_resent() {
    let mut raw = server(ProtocolVersion::V5);
    let Delivery::Sent(Some(id)) = deliver(
        &mut raw,
        message("t", QoS::ExactlyOnce, false),
        at(QoS::ExactlyOnce),
    ) else {
        panic!()
    };
    raw.recv();
    let mut rec = PubRec::new(id);
    rec.reason_code = ReasonCode::QuotaExceeded;
    raw.send(Packet::PubRec(rec));
    // v5 [MQTT-4.4.0-2]: treated as acknowledged; no PUBREL.
    assert!(raw.recv().is_empty());
    assert_eq!(raw.session.inflight_len(), 0);
    assert_eq!(
        raw.events(),
        vec![ServerEvent::Delivered {
            packet_id: id,
            reason: ReasonCode::QuotaExceeded
        }]
    );
    // Nothing to resend in the next connection.
    assert!(raw.session.into_state().inflight.is_empty());
}

#[test]
fn retain_is_cleared_unless_retain_as_published_or_from_a_new_subscription() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(version);
        deliver(
            &mut raw,
            message("t", QoS::AtMostOnce, true),
            at(QoS::AtMostOnce),
        );
        // v5 [MQTT-3.3.1-12], v3.1.1 [MQTT-3.3.1-9]
        assert!(!one(&mut raw).retain);
        // v3.1.1 [MQTT-3.3.1-8]: sent because of a new subscription: RETAIN 1.
        let o = DeliveryOptions {
            from_retained: true,
            ..DeliveryOptions::default()
        };
        deliver(&mut raw, message("t", QoS::AtMostOnce, true), o);
        assert!(one(&mut raw).retain);
    }
    let mut raw = server(ProtocolVersion::V5);
    let rap = DeliveryOptions {
        retain_as_published: true,
        ..DeliveryOptions::default()
    };
    // v5 [MQTT-3.3.1-13]: Retain As Published keeps the flag as it was.
    deliver(&mut raw, message("t", QoS::AtMostOnce, true), rap.clone());
    assert!(one(&mut raw).retain);
    deliver(&mut raw, message("t", QoS::AtMostOnce, false), rap);
    assert!(!one(&mut raw).retain);
}

#[test]
fn subscription_identifiers_are_attached_in_v5_only() {
    let ids = vec![
        NonZeroU32::new(3).unwrap(),
        NonZeroU32::new(70_000).unwrap(),
    ];
    let o = DeliveryOptions {
        subscription_identifiers: ids.clone(),
        shared_group: None,
        ..DeliveryOptions::default()
    };
    let mut raw = server(ProtocolVersion::V5);
    deliver(&mut raw, message("t", QoS::AtMostOnce, false), o.clone());
    // v5 [MQTT-3.3.4-3], v5 [MQTT-3.3.4-4]
    assert_eq!(one(&mut raw).properties.subscription_identifiers, ids);
    let mut raw = server(ProtocolVersion::V3_1_1);
    deliver(&mut raw, message("t", QoS::AtMostOnce, false), o);
    assert!(one(&mut raw).properties.subscription_identifiers.is_empty());
}

#[test]
fn application_properties_are_forwarded_unaltered() {
    let mut m = message("t", QoS::AtMostOnce, false);
    let p = &mut m.properties;
    p.payload_format_indicator = Some(PayloadFormat::Utf8);
    p.response_topic = Some(topic_name("reply/here"));
    p.correlation_data = Some(Bytes::from_static(b"corr"));
    p.content_type = Some(super::raw::s("text/plain"));
    p.user_properties = vec![
        (super::raw::s("k"), super::raw::s("2")),
        (super::raw::s("a"), super::raw::s("1")),
        (super::raw::s("k"), super::raw::s("1")),
    ];
    let expected = m.properties.clone();
    let mut raw = server(ProtocolVersion::V5);
    deliver(&mut raw, m, at(QoS::AtMostOnce));
    let got = one(&mut raw).properties;
    // v5 [MQTT-3.3.2-4], v5 [MQTT-3.3.2-15], v5 [MQTT-3.3.2-16], v5 [MQTT-3.3.2-20]
    assert_eq!(
        got.payload_format_indicator,
        expected.payload_format_indicator
    );
    assert_eq!(got.response_topic, expected.response_topic);
    assert_eq!(got.correlation_data, expected.correlation_data);
    assert_eq!(got.content_type, expected.content_type);
    // v5 [MQTT-3.3.2-17], v5 [MQTT-3.3.2-18]: all user properties, in order.
    assert_eq!(got.user_properties, expected.user_properties);
}

fn with_receive_maximum(max: u16) -> RawServer {
    let mut c = connect(ProtocolVersion::V5, "c");
    c.properties.receive_maximum = NonZeroU16::new(max);
    server_for(c)
}

#[test]
fn client_receive_maximum_is_respected_and_the_queue_drains_on_acks() {
    let mut raw = with_receive_maximum(2);
    let mut results = Vec::new();
    for i in 0..5u8 {
        let mut m = message("t", QoS::AtLeastOnce, false);
        m.payload = Bytes::from(vec![i]);
        results.push(deliver(&mut raw, m, at(QoS::AtLeastOnce)));
    }
    assert!(matches!(
        results[..],
        [
            Delivery::Sent(Some(_)),
            Delivery::Sent(Some(_)),
            Delivery::Queued,
            Delivery::Queued,
            Delivery::Queued
        ]
    ));
    // v5 [MQTT-4.9.0-1]: the initial quota is the client's Receive Maximum (2);
    // v5 [MQTT-3.3.4-9], v5 [MQTT-4.9.0-2]: no more than that unacknowledged.
    let sent = publishes(raw.recv());
    assert_eq!(sent.len(), 2);
    assert_eq!(raw.session.inflight_len(), 2);
    assert_eq!(raw.session.queued_len(), 3);
    // v5 [MQTT-3.3.4-10], v5 [MQTT-4.9.0-3]: other packets flow at zero quota (QoS 0 too).
    raw.send(Packet::PingReq);
    deliver(
        &mut raw,
        message("q0", QoS::AtMostOnce, false),
        at(QoS::AtMostOnce),
    );
    let out = raw.recv();
    assert_eq!(out[0], Packet::PingResp);
    assert!(matches!(&out[1], Packet::Publish(p) if p.topic() == "q0"));
    // Each PUBACK lets one queued message go, in order.
    let mut order: Vec<u8> = sent.iter().map(|p| p.payload()[0]).collect();
    let mut inflight: Vec<_> = sent
        .iter()
        .map(|p| p.qos_pid.packet_id().unwrap())
        .collect();
    while let Some(id) = inflight.pop() {
        raw.send(Packet::PubAck(PubAck::new(id)));
        for p in publishes(raw.recv()) {
            order.push(p.payload()[0]);
            inflight.push(p.qos_pid.packet_id().unwrap());
        }
        assert!(raw.session.inflight_len() <= 2);
    }
    // v5 [MQTT-4.6.0-5], v5 [MQTT-4.6.0-6], v3.1.1 [MQTT-4.6.0-5], v3.1.1 [MQTT-4.6.0-6]:
    // topics are ordered by default: same topic and QoS are sent in arrival order.
    assert_eq!(order, vec![0, 1, 2, 3, 4]);
    assert_eq!(raw.session.queued_len(), 0);
}

#[test]
fn queued_messages_keep_their_order_even_when_quota_returns() {
    let mut raw = with_receive_maximum(1);
    deliver(
        &mut raw,
        message("a", QoS::AtLeastOnce, false),
        at(QoS::AtLeastOnce),
    );
    deliver(
        &mut raw,
        message("b", QoS::AtLeastOnce, false),
        at(QoS::AtLeastOnce),
    );
    let first = one(&mut raw);
    raw.send(Packet::PubAck(PubAck::new(
        first.qos_pid.packet_id().unwrap(),
    )));
    // "b" goes out; "c" must not overtake it.
    assert_eq!(one(&mut raw).topic(), "b");
    assert_eq!(
        deliver(
            &mut raw,
            message("c", QoS::AtLeastOnce, false),
            at(QoS::AtLeastOnce)
        ),
        Delivery::Queued
    );
}

#[test]
fn queue_full_is_reported() {
    let config = ServerConfig {
        max_queued_messages: 2,
        ..ServerConfig::default()
    };
    let mut c = connect(ProtocolVersion::V5, "c");
    c.properties.receive_maximum = NonZeroU16::new(1);
    let mut raw = RawServer::connected(config, c, Accept::new());
    let now = raw.now();
    let m = message("t", QoS::AtLeastOnce, false);
    for expected in [
        Delivery::Sent(Some(pid(1))),
        Delivery::Queued,
        Delivery::Queued,
    ] {
        assert_eq!(
            raw.session.deliver(now, m.clone(), at(QoS::AtLeastOnce)),
            Ok(expected)
        );
    }
    assert_eq!(
        raw.session.deliver(now, m, at(QoS::AtLeastOnce)),
        Err(ServerError::QueueFull)
    );
}

#[test]
fn full_queue_drops_the_oldest_or_respects_the_byte_budget() {
    let config = ServerConfig {
        max_queued_messages: 2,
        queue_policy: crate::QueuePolicy::DropOldest,
        ..ServerConfig::default()
    };
    let mut c = connect(ProtocolVersion::V5, "c");
    c.properties.receive_maximum = NonZeroU16::new(1);
    let mut raw = RawServer::connected(config, c, Accept::new());
    let now = raw.now();
    let m = message("t", QoS::AtLeastOnce, false);
    for _ in 0..5 {
        assert!(raw
            .session
            .deliver(now, m.clone(), at(QoS::AtLeastOnce))
            .is_ok());
    }
    // One in flight, two queued, two dropped to make room.
    assert_eq!(raw.session.queued_len(), 2);
    assert_eq!(raw.session.dropped_messages(), 2);

    let config = ServerConfig {
        max_queued_bytes: 3,
        ..ServerConfig::default()
    };
    let mut c = connect(ProtocolVersion::V5, "c");
    c.properties.receive_maximum = NonZeroU16::new(1);
    let mut raw = RawServer::connected(config, c, Accept::new());
    let now = raw.now();
    assert!(raw
        .session
        .deliver(now, m.clone(), at(QoS::AtLeastOnce))
        .is_ok());
    // Topic + payload of this message exceed the 3-byte budget.
    let big = message("topic/longer", QoS::AtLeastOnce, false);
    assert_eq!(
        raw.session.deliver(now, big, at(QoS::AtLeastOnce)),
        Err(ServerError::QueueFull)
    );
    assert_eq!(raw.session.dropped_messages(), 1);
}

#[test]
fn message_expiry_counts_down_and_expired_messages_are_dropped() {
    let mut raw = with_receive_maximum(1);
    let start = raw.now();
    let mut m = message("t", QoS::AtLeastOnce, false);
    m.expires_at = Some(start + Duration::from_secs(30));
    raw.time += Duration::from_millis(10_500);
    deliver(&mut raw, m.clone(), at(QoS::AtLeastOnce));
    // v5 [MQTT-3.3.2-6]: 30 s minus the 10.5 s waited, rounded up.
    let first = one(&mut raw);
    assert_eq!(first.properties.message_expiry_interval, Some(20));
    // Queued behind it: one expiring at 40 s, one without expiry.
    let mut short = m.clone();
    short.expires_at = Some(start + Duration::from_secs(40));
    let mut long = message("u", QoS::AtLeastOnce, false);
    long.expires_at = None;
    assert_eq!(
        deliver(&mut raw, short, at(QoS::AtLeastOnce)),
        Delivery::Queued
    );
    assert_eq!(
        deliver(&mut raw, long, at(QoS::AtLeastOnce)),
        Delivery::Queued
    );
    raw.time = Duration::from_secs(45);
    raw.send(Packet::PubAck(PubAck::new(
        first.qos_pid.packet_id().unwrap(),
    )));
    // v5 [MQTT-3.3.2-5]: the expired copy is deleted, the next one goes.
    let next = one(&mut raw);
    assert_eq!(next.topic(), "u");
    assert_eq!(next.properties.message_expiry_interval, None);
    // Already expired on arrival.
    assert_eq!(deliver(&mut raw, m, at(QoS::AtMostOnce)), Delivery::Expired);
}

#[test]
fn delivery_before_connack_queues_qos1_and_drops_qos0() {
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send(Packet::Connect(Box::new(connect(ProtocolVersion::V5, "c"))));
    raw.events();
    assert_eq!(
        deliver(
            &mut raw,
            message("t", QoS::AtMostOnce, false),
            at(QoS::AtMostOnce)
        ),
        Delivery::Dropped
    );
    assert_eq!(
        deliver(
            &mut raw,
            message("t", QoS::AtLeastOnce, false),
            at(QoS::AtLeastOnce)
        ),
        Delivery::Queued
    );
    assert!(raw.recv().is_empty());
    raw.session.accept(raw.now(), Accept::new()).unwrap();
    let out = raw.recv();
    // v5 [MQTT-3.2.0-1]: CONNACK first, then the queued message.
    assert!(matches!(&out[..], [Packet::ConnAck(_), Packet::Publish(_)]));
}

fn with_alias_maximum(max: u16) -> RawServer {
    let mut c = connect(ProtocolVersion::V5, "c");
    c.properties.topic_alias_maximum = Some(max);
    server_for(c)
}

#[test]
fn outbound_topic_alias_is_established_then_reused() {
    let mut raw = with_alias_maximum(2);
    let mut wire = Vec::new();
    for t in ["a/1", "a/2", "a/1", "a/3", "a/1"] {
        let mut m = message("x", QoS::AtMostOnce, false);
        m.topic = TopicName::from_bytes(Bytes::from(t)).unwrap();
        deliver(&mut raw, m, at(QoS::AtMostOnce));
        let p = one(&mut raw);
        wire.push((
            p.topic().to_owned(),
            p.properties.topic_alias.map(|a| a.get()),
        ));
    }
    // v5 [MQTT-3.3.2-11], v5 [MQTT-3.1.2-26]: never above the client's maximum.
    assert_eq!(
        wire,
        vec![
            ("a/1".to_owned(), Some(1)),
            ("a/2".to_owned(), Some(2)),
            (String::new(), Some(1)),
            // "a/2" was least recently used: its alias is reassigned.
            ("a/3".to_owned(), Some(2)),
            (String::new(), Some(1)),
        ]
    );
}

#[test]
fn no_outbound_topic_alias_when_the_client_allows_none() {
    let mut raw = server(ProtocolVersion::V5);
    for _ in 0..2 {
        deliver(
            &mut raw,
            message("t", QoS::AtMostOnce, false),
            at(QoS::AtMostOnce),
        );
        // v5 [MQTT-3.1.2-27]
        let p = one(&mut raw);
        assert_eq!(p.properties.topic_alias, None);
        assert_eq!(p.topic(), "t");
    }
}

fn with_max_packet_size(max: u32, alias_max: u16) -> RawServer {
    let mut c = connect(ProtocolVersion::V5, "c");
    c.properties.maximum_packet_size = NonZeroU32::new(max);
    c.properties.topic_alias_maximum = Some(alias_max);
    server_for(c)
}

fn sized(len: usize, qos: QoS) -> Message {
    let mut m = message("t", qos, false);
    m.payload = Bytes::from(vec![b'x'; len]);
    m
}

#[test]
fn oversize_outbound_publish_is_discarded_and_treated_as_sent() {
    let mut raw = with_max_packet_size(100, 0);
    // v5 [MQTT-3.1.2-24], v5 [MQTT-3.1.2-25]: not sent, and behaves as delivered.
    assert_eq!(
        deliver(&mut raw, sized(200, QoS::AtLeastOnce), at(QoS::AtLeastOnce)),
        Delivery::Discarded
    );
    assert!(raw.recv().is_empty());
    assert_eq!(raw.session.inflight_len(), 0);
    // A message that fits still goes.
    assert!(matches!(
        deliver(&mut raw, sized(10, QoS::AtLeastOnce), at(QoS::AtLeastOnce)),
        Delivery::Sent(Some(_))
    ));
    assert!(one(&mut raw).payload().len() == 10);
}

#[test]
fn aliased_publish_never_exceeds_the_client_maximum_packet_size() {
    // Find the payload that makes the alias-free PUBLISH exactly the maximum.
    let max = 100u32;
    let plain_len = |n: usize| {
        Packet::Publish(Publish::new(
            topic_name("t"),
            starling_codec::QosPid::AtMostOnce,
            Bytes::from(vec![b'x'; n]),
        ))
        .encoded_len(ProtocolVersion::V5)
        .unwrap()
    };
    let n = (0..200).find(|&n| plain_len(n) == max as usize).unwrap();
    let mut raw = with_max_packet_size(max, 5);
    let result = deliver(&mut raw, sized(n, QoS::AtMostOnce), at(QoS::AtMostOnce));
    let out = raw.recv();
    // v5 [MQTT-3.1.2-24]: whatever the alias choice, nothing larger than the maximum.
    for p in &out {
        assert!(p.encoded_len(ProtocolVersion::V5).unwrap() <= max as usize);
    }
    assert_eq!(result, Delivery::Sent(None));
    assert_eq!(
        out.len(),
        1,
        "the message fits without an alias and must be sent"
    );
    // The next message on that topic must be understandable by the client: either the full
    // topic or an alias the client has seen.
    deliver(&mut raw, sized(1, QoS::AtMostOnce), at(QoS::AtMostOnce));
    let next = one(&mut raw);
    let first = match &out[0] {
        Packet::Publish(p) => p,
        _ => unreachable!(),
    };
    if next.topic().is_empty() {
        assert_eq!(first.properties.topic_alias, next.properties.topic_alias);
    }
}

#[test]
fn end_to_end_routed_messages_arrive_once_with_dup_0() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let mut pair = Pair::connected(version);
            pair.subscribe("t/#", QoS::ExactlyOnce);
            pair.client_events();
            let id = pair.publish("t/x", b"p", qos);
            pair.drive();
            let got = pair.client_messages();
            assert_eq!(got.len(), 1, "{version:?} {qos:?}");
            // v5 [MQTT-3.3.1-3], v3.1.1 [MQTT-3.3.1-3]: DUP set only by retransmission.
            assert!(!got[0].dup);
            assert_eq!(got[0].qos_pid.qos(), qos);
            // The client's own flow completed.
            assert_eq!(pair.client.inflight_len(), 0);
            assert_eq!(pair.server.inflight_len(), 0);
            assert_eq!(id.is_some(), qos != QoS::AtMostOnce);
        }
    }
}

#[test]
fn end_to_end_topic_aliases_resolve_on_the_client() {
    let mut cc = super::pair::client_config(ProtocolVersion::V5);
    cc.properties.topic_alias_maximum = Some(1);
    let mut pair = Pair::new(cc, ServerConfig::default());
    pair.drive();
    pair.subscribe("#", QoS::AtMostOnce);
    for t in ["a", "a", "b", "a"] {
        let topic = TopicName::from_bytes(Bytes::from(t)).unwrap();
        let now = pair.now();
        pair.client
            .publish(
                now,
                crate::PublishRequest::new(topic, &b"x"[..], QoS::AtMostOnce),
            )
            .unwrap();
        pair.drive();
    }
    let topics: Vec<_> = pair
        .client_messages()
        .iter()
        .map(|p| p.topic().to_owned())
        .collect();
    assert_eq!(topics, ["a", "a", "b", "a"]);
    // Both directions used aliases on the wire.
    assert!(pair
        .to_client
        .sent
        .iter()
        .any(|p| matches!(p, Packet::Publish(p) if p.topic().is_empty())));
    assert!(pair
        .to_server
        .sent
        .iter()
        .any(|p| matches!(p, Packet::Publish(p) if p.topic().is_empty())));
}

#[test]
fn separate_copies_each_carry_their_subscription_identifier() {
    let mut raw = server(ProtocolVersion::V5);
    for id in [5u32, 6] {
        let o = DeliveryOptions {
            subscription_identifiers: vec![NonZeroU32::new(id).unwrap()],
            shared_group: None,
            ..DeliveryOptions::default()
        };
        deliver(&mut raw, message("t", QoS::AtMostOnce, false), o);
        // v5 [MQTT-3.3.4-5]
        assert_eq!(
            one(&mut raw).properties.subscription_identifiers,
            vec![NonZeroU32::new(id).unwrap()]
        );
    }
}

#[test]
fn max_inflight_caps_unacknowledged_deliveries_for_clients_without_receive_maximum() {
    // MQTT 3.1.1 announces no Receive Maximum: the server's own cap applies.
    let config = ServerConfig {
        max_inflight: 2,
        ..ServerConfig::default()
    };
    let c = connect(ProtocolVersion::V3_1_1, "c");
    let mut raw = RawServer::connected(config.clone(), c, Accept::new());
    let now = raw.now();
    let m = message("t", QoS::AtLeastOnce, false);
    let results: Vec<_> = (0..3)
        .map(|_| raw.session.deliver(now, m.clone(), at(QoS::AtLeastOnce)))
        .collect();
    assert_eq!(
        results,
        [
            Ok(Delivery::Sent(Some(pid(1)))),
            Ok(Delivery::Sent(Some(pid(2)))),
            Ok(Delivery::Queued)
        ]
    );
    let sent = publishes(raw.recv());
    assert_eq!(sent.len(), 2);
    raw.send(Packet::PubAck(PubAck::new(pid(1))));
    assert_eq!(one(&mut raw).qos_pid.packet_id(), Some(pid(3)));
    // An MQTT 5 client's smaller Receive Maximum still wins.
    let mut c = connect(ProtocolVersion::V5, "d");
    c.properties.receive_maximum = NonZeroU16::new(1);
    let mut raw = RawServer::connected(config, c, Accept::new());
    let now = raw.now();
    assert_eq!(
        raw.session.deliver(now, m.clone(), at(QoS::AtLeastOnce)),
        Ok(Delivery::Sent(Some(pid(1))))
    );
    assert_eq!(
        raw.session.deliver(now, m, at(QoS::AtLeastOnce)),
        Ok(Delivery::Queued)
    );
}

#[test]
fn finished_deliveries_are_not_reported_when_turned_off() {
    let config = ServerConfig {
        report_deliveries: false,
        ..ServerConfig::default()
    };
    let mut raw = RawServer::connected(config, connect(ProtocolVersion::V5, "c"), Accept::new());
    let Delivery::Sent(Some(id)) = deliver(
        &mut raw,
        message("t", QoS::AtLeastOnce, false),
        at(QoS::AtLeastOnce),
    ) else {
        panic!()
    };
    raw.recv();
    raw.send(Packet::PubAck(PubAck::new(id)));
    // v5 [MQTT-4.3.2-3]: the flow is finished all the same.
    assert_eq!(raw.session.inflight_len(), 0);
    assert_eq!(raw.events(), vec![]);
}

#[test]
fn a_shared_delivery_writes_what_an_owned_delivery_writes() {
    // `deliver_shared` encodes plain QoS 0 copies from the borrowed message and hands
    // everything else to `deliver`: same outcome, same packets, in every case.
    let mut with_props = message("a/b", QoS::AtMostOnce, true);
    with_props.properties.content_type = Some(crate::tests::raw::s("text/plain"));
    let mut expiring = message("a/b", QoS::AtMostOnce, false);
    expiring.expires_at = Some(std::time::Instant::now() + Duration::from_secs(60));
    let mut expired = message("a/b", QoS::AtMostOnce, false);
    expired.expires_at = Some(std::time::Instant::now() - Duration::from_secs(1));
    let with_id = DeliveryOptions {
        subscription_identifiers: vec![NonZeroU32::new(7).unwrap()],
        ..at(QoS::AtMostOnce)
    };
    let rap = DeliveryOptions {
        retain_as_published: true,
        ..at(QoS::AtMostOnce)
    };
    let retained = DeliveryOptions {
        from_retained: true,
        ..at(QoS::AtMostOnce)
    };
    let cases = [
        (message("a/b", QoS::AtMostOnce, false), at(QoS::AtMostOnce)),
        (message("a/b", QoS::AtLeastOnce, true), at(QoS::AtMostOnce)),
        (message("a/b", QoS::AtMostOnce, true), rap),
        (message("a/b", QoS::AtMostOnce, false), retained),
        (
            message("a/b", QoS::AtLeastOnce, false),
            at(QoS::AtLeastOnce),
        ),
        (
            message("a/b", QoS::ExactlyOnce, false),
            at(QoS::ExactlyOnce),
        ),
        (with_props, at(QoS::AtMostOnce)),
        (message("a/b", QoS::AtMostOnce, false), with_id),
        (expiring, at(QoS::AtMostOnce)),
        (expired, at(QoS::AtMostOnce)),
    ];
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for (m, o) in &cases {
            let mut owned = server(version);
            let mut shared = server(version);
            let now = owned.now();
            let a = owned.session.deliver(now, m.clone(), o.clone());
            let b = shared
                .session
                .deliver_shared(now, std::sync::Arc::new(m.clone()), o.clone());
            assert_eq!(a, b, "{version:?} {m:?} {o:?}");
            assert_eq!(owned.recv(), shared.recv(), "{version:?} {m:?} {o:?}");
            // The flows they keep: the same resends, acknowledged the same way.
            assert_eq!(
                owned.session.into_state().inflight,
                shared.session.into_state().inflight,
                "{version:?} {m:?} {o:?}"
            );
        }
    }
}

#[test]
fn shared_qos1_and_qos2_flows_complete_and_resume_like_owned_ones() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(version);
        let now = raw.now();
        let m = std::sync::Arc::new(message("a/b", QoS::ExactlyOnce, false));
        let one = raw
            .session
            .deliver_shared(now, m.clone(), at(QoS::AtLeastOnce))
            .unwrap();
        let two = raw
            .session
            .deliver_shared(now, m.clone(), at(QoS::ExactlyOnce))
            .unwrap();
        let three = raw
            .session
            .deliver_shared(now, m, at(QoS::AtLeastOnce))
            .unwrap();
        let (Delivery::Sent(Some(a)), Delivery::Sent(Some(b)), Delivery::Sent(Some(c))) =
            (one, two, three)
        else {
            panic!("{one:?} {two:?} {three:?}");
        };
        assert_eq!(publishes(raw.recv()).len(), 3);
        raw.send(Packet::PubAck(PubAck::new(a)));
        raw.send(Packet::PubRec(PubRec::new(b)));
        assert_eq!(raw.recv(), vec![Packet::PubRel(PubRel::new(b))]);
        raw.send(Packet::PubComp(PubComp::new(b)));
        // Only `c` is left, and it resumes as the PUBLISH that was sent, DUP on resend.
        let state = raw.session.into_state();
        assert_eq!(state.inflight.len(), 1);
        let p = &state.inflight[0].publish;
        assert_eq!(p.qos_pid.packet_id(), Some(c));
        assert_eq!(p.topic(), "a/b");
        assert_eq!(p.payload(), b"m");
    }
}

#[test]
fn a_shared_delivery_too_large_for_the_client_is_discarded() {
    // v5 [MQTT-3.1.2-25]: as with `deliver`, the plain path discards an oversize PUBLISH.
    let mut c = connect(ProtocolVersion::V5, "c");
    c.properties.maximum_packet_size = NonZeroU32::new(16);
    let mut raw = server_for(c);
    let now = raw.now();
    let big = Message::new(
        topic_name("a/b"),
        Bytes::from(vec![0u8; 64]),
        QoS::AtMostOnce,
        false,
    );
    let d = raw
        .session
        .deliver_shared(now, std::sync::Arc::new(big), at(QoS::AtMostOnce));
    assert_eq!(d, Ok(Delivery::Discarded));
    assert!(raw.recv().is_empty());
    let small = message("a/b", QoS::AtMostOnce, false);
    let d = raw
        .session
        .deliver_shared(now, std::sync::Arc::new(small), at(QoS::AtMostOnce));
    assert_eq!(d, Ok(Delivery::Sent(None)));
    assert_eq!(raw.recv().len(), 1);
}

#[test]
fn large_payloads_are_sent_shared_not_copied_and_in_order() {
    use crate::ZERO_COPY_MIN_PAYLOAD;
    use std::{collections::VecDeque, sync::Arc};
    let big = Bytes::from(vec![0xB1; ZERO_COPY_MIN_PAYLOAD + 3]);
    let small = Bytes::from_static(b"small");
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        // Shared (`deliver_shared`: the plain path) and owned, with a subscription identifier
        // in MQTT 5 (`deliver`: the general path), QoS 0 and 1, between small messages.
        let mut ids = DeliveryOptions::default();
        if version.is_v5() {
            ids.subscription_identifiers = vec![NonZeroU32::new(7).unwrap()];
        }
        let send = |raw: &mut RawServer| {
            let now = raw.now();
            let m = |p: &Bytes, qos| Message::new(topic_name("big/t"), p.clone(), qos, false);
            let s = &mut raw.session;
            s.deliver_shared(
                now,
                Arc::new(m(&small, QoS::AtMostOnce)),
                at(QoS::AtMostOnce),
            )
            .unwrap();
            s.deliver_shared(
                now,
                Arc::new(m(&big, QoS::AtLeastOnce)),
                at(QoS::AtLeastOnce),
            )
            .unwrap();
            s.deliver(now, m(&small, QoS::AtLeastOnce), at(QoS::AtLeastOnce))
                .unwrap();
            s.deliver(now, m(&big, QoS::AtMostOnce), ids.clone())
                .unwrap();
            s.deliver_shared(
                now,
                Arc::new(m(&small, QoS::AtMostOnce)),
                at(QoS::AtMostOnce),
            )
            .unwrap();
        };

        // Taken as chunks: the two large payloads are the message's own memory.
        let mut raw = server(version);
        send(&mut raw);
        assert!(raw.session.has_attached_payloads());
        let mut chunks = VecDeque::new();
        raw.session.transmit_chunks(&mut chunks);
        assert!(!raw.session.has_attached_payloads());
        assert!(raw.session.poll_transmit().is_none());
        let shared: Vec<_> = chunks
            .iter()
            .filter(|c| c.as_ptr() == big.as_ptr())
            .collect();
        assert_eq!(shared.len(), 2, "{version:?}");
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();

        // Taken as one buffer (`poll_transmit`): the same bytes, the payloads copied in.
        let mut other = server(version);
        send(&mut other);
        let one_buffer = other.session.poll_transmit().unwrap();
        assert_eq!(joined, one_buffer, "{version:?}");

        // And they are the five PUBLISHes, in order, whole.
        let got = publishes(decode_all(version, Some(Bytes::from(joined))));
        let sizes: Vec<_> = got.iter().map(|p| p.payload().len()).collect();
        assert_eq!(sizes, [5, big.len(), 5, big.len(), 5], "{version:?}");
        assert!(got[1].payload() == &big[..] && got[3].payload() == &big[..]);
        assert_eq!(
            got[3].properties.subscription_identifiers.len(),
            usize::from(version.is_v5())
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any mix of deliveries, small and large, shared and owned, QoS 0 and 1, taken in any
    /// number of wake-ups: the chunks (large payloads uncopied) join to exactly the bytes a
    /// twin session hands out as one buffer.
    #[test]
    fn chunks_join_to_the_one_buffer_output(
        v5 in proptest::bool::ANY,
        steps in proptest::collection::vec(
            (
                proptest::sample::select(vec![0usize, 1, 100, 4095, 4096, 4097, 20_000]),
                proptest::bool::ANY,
                proptest::bool::ANY,
                proptest::bool::ANY,
            ),
            1..12,
        ),
    ) {
        use std::{collections::VecDeque, sync::Arc};
        let version = if v5 { ProtocolVersion::V5 } else { ProtocolVersion::V3_1_1 };
        let mut chunked = server(version);
        let mut whole = server(version);
        let (mut from_chunks, mut from_whole) = (Vec::new(), Vec::new());
        for (i, (size, shared, qos1, take)) in steps.into_iter().enumerate() {
            let payload: Bytes = (0..size).map(|b| (b + i) as u8).collect();
            let qos = if qos1 { QoS::AtLeastOnce } else { QoS::AtMostOnce };
            for raw in [&mut chunked, &mut whole] {
                let now = raw.now();
                let m = Message::new(topic_name("p/t"), payload.clone(), qos, false);
                if shared {
                    raw.session.deliver_shared(now, Arc::new(m), at(qos)).unwrap();
                } else {
                    raw.session.deliver(now, m, at(qos)).unwrap();
                }
            }
            if take {
                let mut chunks = VecDeque::new();
                chunked.session.transmit_chunks(&mut chunks);
                from_chunks.extend(chunks.iter().flat_map(|c| c.iter().copied()));
                from_whole.extend_from_slice(&whole.session.poll_transmit().unwrap_or_default());
            }
        }
        let mut chunks = VecDeque::new();
        chunked.session.transmit_chunks(&mut chunks);
        from_chunks.extend(chunks.iter().flat_map(|c| c.iter().copied()));
        from_whole.extend_from_slice(&whole.session.poll_transmit().unwrap_or_default());
        proptest::prop_assert!(!chunked.session.has_attached_payloads());
        proptest::prop_assert_eq!(from_chunks, from_whole);
    }
}
