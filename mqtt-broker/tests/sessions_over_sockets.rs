#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Will delay, retain handling and retain-as-published over real sockets (the core's simulated
//! world covers them in virtual time; these prove the wiring). Absence of a message is shown
//! by ordering: a marker published afterwards must be the next thing received.

mod common;

use bytes::Bytes;
use common::{connect_packet, will, Raw, TestBroker};
use starling_codec::{
    Packet, ProtocolVersion, Publish, QoS, QosPid, RetainHandling, Subscribe, SubscriptionOptions,
    TopicFilter, TopicName,
};
use std::time::{Duration, Instant};

fn subscribe(filter: &str, options: SubscriptionOptions) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: starling_codec::PacketId::new(1).unwrap(),
        filters: vec![(TopicFilter::try_from(filter).unwrap(), options)],
        properties: Default::default(),
    })
}

async fn subscribed(raw: &mut Raw, filter: &str, options: SubscriptionOptions) {
    raw.send(subscribe(filter, options)).await;
    assert!(matches!(raw.recv().await, Packet::SubAck(_)));
}

fn publish(topic: &str, payload: &'static str, retain: bool) -> Packet {
    let mut p = Publish::new(
        TopicName::try_from(topic).unwrap(),
        QosPid::AtMostOnce,
        Bytes::from_static(payload.as_bytes()),
    );
    p.retain = retain;
    Packet::Publish(p)
}

async fn next_publish(raw: &mut Raw) -> Publish {
    match raw.recv().await {
        Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

/// Publishes a marker on `topic` from `from` and checks it is the next message `to` gets.
async fn nothing_before_marker(from: &mut Raw, to: &mut Raw, topic: &str) {
    from.send(publish(topic, "marker", false)).await;
    let p = next_publish(to).await;
    assert_eq!(
        (p.topic(), p.payload()),
        (topic, &b"marker"[..]),
        "something arrived before the marker"
    );
}

#[tokio::test]
async fn will_delay_publishes_after_the_delay_and_a_quick_return_cancels_it() {
    let b = TestBroker::start().await;
    let mut watcher = Raw::connect_ok(b.addr, ProtocolVersion::V5, "watcher").await;
    subscribed(
        &mut watcher,
        "wills/#",
        SubscriptionOptions::new(QoS::AtMostOnce),
    )
    .await;

    // v5 [MQTT-3.1.3-9]: with a Will Delay Interval the will waits; a reconnection of the
    // session before it elapses cancels it.
    let mut c = connect_packet(ProtocolVersion::V5, "delayed");
    let mut w = will("wills/delayed", b"late");
    w.properties.will_delay_interval = Some(1);
    c.will = Some(w);
    c.properties.session_expiry_interval = Some(60);
    let (raw, _) = Raw::connect(b.addr, c.clone()).await;
    let dropped_at = Instant::now();
    drop(raw); // abnormal close: no DISCONNECT
    let p = next_publish(&mut watcher).await;
    assert_eq!(p.topic(), "wills/delayed");
    assert!(
        dropped_at.elapsed() >= Duration::from_millis(900),
        "published after {:?}, before its 1 s delay",
        dropped_at.elapsed()
    );

    // A long delay and a reconnection in time: no will.
    let mut c2 = c.clone();
    c2.client_id = starling_codec::MqttStr::try_from("returns").unwrap();
    if let Some(w) = &mut c2.will {
        w.topic = TopicName::try_from("wills/returns").unwrap();
        w.properties.will_delay_interval = Some(30);
    }
    let (raw, _) = Raw::connect(b.addr, c2.clone()).await;
    drop(raw);
    let mut again = c2.clone();
    again.clean_start = false;
    let (mut back, ack) = Raw::connect(b.addr, again).await;
    assert!(ack.session_present);
    nothing_before_marker(&mut back, &mut watcher, "wills/marker").await;

    // A normal DISCONNECT discards the will (v5 [MQTT-3.1.2-10]).
    let mut c3 = connect_packet(ProtocolVersion::V5, "polite");
    c3.will = Some(will("wills/polite", b"never"));
    let (mut polite, _) = Raw::connect(b.addr, c3).await;
    polite.send(Packet::Disconnect(Default::default())).await;
    assert!(polite.closed().await.is_empty());
    nothing_before_marker(&mut back, &mut watcher, "wills/marker").await;
    b.shutdown().await;
}

#[tokio::test]
async fn retain_handling_0_1_2_and_retain_as_published() {
    let b = TestBroker::start().await;
    let mut p = Raw::connect_ok(b.addr, ProtocolVersion::V5, "publisher").await;
    p.send(publish("rh/a", "kept", true)).await;
    let mut s = Raw::connect_ok(b.addr, ProtocolVersion::V5, "subscriber").await;

    // 0: retained messages are sent at subscribe (v5 [MQTT-3.3.1-9]).
    let mut o = SubscriptionOptions::new(QoS::AtMostOnce);
    o.retain_handling = RetainHandling::SendAtSubscribe;
    subscribed(&mut s, "rh/#", o).await;
    let r = next_publish(&mut s).await;
    assert!(r.retain && r.payload() == b"kept");

    // 1: only if the subscription is new (v5 [MQTT-3.3.1-10]): it exists, nothing.
    o.retain_handling = RetainHandling::SendAtSubscribeIfNew;
    subscribed(&mut s, "rh/#", o).await;
    nothing_before_marker(&mut p, &mut s, "rh/marker").await;
    //    ... and a new one gets them.
    subscribed(&mut s, "rh/+", o).await;
    let r = next_publish(&mut s).await;
    assert!(r.retain && r.topic() == "rh/a");

    // 2: never at subscribe (v5 [MQTT-3.3.1-11]).
    let mut fresh = Raw::connect_ok(b.addr, ProtocolVersion::V5, "fresh").await;
    o.retain_handling = RetainHandling::DoNotSend;
    subscribed(&mut fresh, "rh/a", o).await;
    nothing_before_marker(&mut p, &mut fresh, "rh/a").await;

    // Retain As Published: a live retained message keeps RETAIN only with the option
    // (v5 [MQTT-3.3.1-12], [MQTT-3.3.1-13]).
    let mut rap = Raw::connect_ok(b.addr, ProtocolVersion::V5, "rap").await;
    let mut plain = Raw::connect_ok(b.addr, ProtocolVersion::V5, "plain").await;
    let mut o = SubscriptionOptions::new(QoS::AtMostOnce);
    o.retain_handling = RetainHandling::DoNotSend;
    o.retain_as_published = true;
    subscribed(&mut rap, "live", o).await;
    o.retain_as_published = false;
    subscribed(&mut plain, "live", o).await;
    p.send(publish("live", "now", true)).await;
    assert!(next_publish(&mut rap).await.retain);
    assert!(!next_publish(&mut plain).await.retain);
    b.shutdown().await;
}

/// Payloads of `ZERO_COPY_MIN_PAYLOAD` bytes or more leave the broker shared with the message,
/// in vectored writes; mixed with small ones they must still reach every subscriber whole and
/// in order, over the plain path (3.1.1, MQTT 5 without properties) and the general one (MQTT 5
/// with a subscription identifier), through short writes of large chunks.
#[tokio::test]
async fn large_payloads_reach_every_subscriber_whole_and_in_order() {
    let b = TestBroker::start().await;
    let mut subs = Vec::new();
    for (i, (version, id)) in [
        (ProtocolVersion::V3_1_1, None),
        (ProtocolVersion::V5, None),
        (ProtocolVersion::V5, std::num::NonZeroU32::new(5)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut raw = Raw::connect_ok(b.addr, version, &format!("big-sub-{i}")).await;
        let mut properties = starling_codec::SubscribeProperties::default();
        properties.subscription_identifier = id;
        raw.send(Packet::Subscribe(Subscribe {
            packet_id: starling_codec::PacketId::new(1).unwrap(),
            filters: vec![(
                TopicFilter::try_from("big/#").unwrap(),
                SubscriptionOptions::new(QoS::AtLeastOnce),
            )],
            properties,
        }))
        .await;
        assert!(matches!(raw.recv().await, Packet::SubAck(_)));
        subs.push(raw);
    }
    let min = starling_session::ZERO_COPY_MIN_PAYLOAD;
    let sizes = [10, 70_000, 5, min, min - 1, 300_000, 1];
    let payload =
        |n: usize, seq: usize| -> Bytes { (0..n).map(|i| (i * 31 + seq * 7) as u8).collect() };
    let mut publisher = Raw::connect_ok(b.addr, ProtocolVersion::V5, "big-pub").await;
    for (seq, &n) in sizes.iter().enumerate() {
        let pid = starling_codec::PacketId::new(seq as u16 + 1).unwrap();
        let p = Publish::new(
            TopicName::try_from("big/data").unwrap(),
            QosPid::AtLeastOnce(pid),
            payload(n, seq),
        );
        publisher.send(Packet::Publish(p)).await;
        assert!(matches!(publisher.recv().await, Packet::PubAck(_)));
    }
    for (i, sub) in subs.iter_mut().enumerate() {
        for (seq, &n) in sizes.iter().enumerate() {
            let p = next_publish(sub).await;
            assert_eq!(p.topic(), "big/data", "subscriber {i}");
            assert!(
                p.payload() == payload(n, seq),
                "subscriber {i} message {seq}"
            );
            let ids = &p.properties.subscription_identifiers;
            assert_eq!(ids.len(), usize::from(i == 2), "subscriber {i}");
            let id = p.qos_pid.packet_id().unwrap();
            sub.send(Packet::PubAck(starling_codec::PubAck::new(id)))
                .await;
        }
    }
}
