#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Wills (delay, retain flag, user properties), retain handling, retain-as-published, replacing
//! a subscription and shared subscription QoS over real sockets (the core's simulated
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

#[tokio::test]
async fn wills_keep_their_user_property_order_and_retain_flag() {
    let b = TestBroker::start().await;
    let mut watcher = Raw::connect_ok(b.addr, ProtocolVersion::V5, "will-watcher").await;
    let mut o = SubscriptionOptions::new(QoS::AtMostOnce);
    // See the RETAIN flag as the will set it.
    o.retain_as_published = true;
    subscribed(&mut watcher, "wills/#", o).await;
    let s = |x: &str| starling_codec::MqttStr::try_from(x).unwrap();
    let props = [("k", "1"), ("a", "2"), ("k", "3"), ("z", "4"), ("k", "5")];

    // v5 [MQTT-3.1.3-10]: the user properties, repeated keys included, in their order.
    let mut c = connect_packet(ProtocolVersion::V5, "ordered");
    let mut w = will("wills/ordered", b"gone");
    w.properties.user_properties = props.iter().map(|(k, v)| (s(k), s(v))).collect();
    c.will = Some(w);
    let (raw, _) = Raw::connect(b.addr, c).await;
    drop(raw); // no DISCONNECT: the will goes out
    let p = next_publish(&mut watcher).await;
    assert_eq!(p.topic(), "wills/ordered");
    let got: Vec<_> = p
        .properties
        .user_properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(got, props);

    // v3.1.1 [MQTT-3.1.2-16], v5 [MQTT-3.1.2-14]: Will Retain 0 publishes it non-retained
    // (and so it is not kept: a later subscriber gets nothing); v3.1.1 [MQTT-3.1.2-17],
    // v5 [MQTT-3.1.2-15]: Will Retain 1 publishes it retained.
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for retain in [false, true] {
            let topic = format!("wills/{version:?}/{retain}");
            let mut c = connect_packet(version, &format!("retain-{version:?}-{retain}"));
            let mut w = will(&topic, b"bye");
            w.retain = retain;
            c.will = Some(w);
            let (raw, _) = Raw::connect(b.addr, c).await;
            drop(raw);
            let p = next_publish(&mut watcher).await;
            assert_eq!((p.topic(), p.retain), (topic.as_str(), retain));
            let mut late = Raw::connect_ok(b.addr, ProtocolVersion::V5, "late").await;
            subscribed(&mut late, &topic, SubscriptionOptions::new(QoS::AtMostOnce)).await;
            if retain {
                let r = next_publish(&mut late).await;
                assert!(r.retain && r.payload() == b"bye");
            } else {
                let mut marker = Raw::connect_ok(b.addr, ProtocolVersion::V5, "marker").await;
                nothing_before_marker(&mut marker, &mut late, &topic).await;
                // The watcher sees the marker too.
                assert_eq!(next_publish(&mut watcher).await.payload(), b"marker");
            }
        }
    }
    b.shutdown().await;
}

/// v5 [MQTT-3.8.4-4]: a SUBSCRIBE that replaces a subscription (Retain Handling 0) sends the
/// retained messages again, and loses none of the messages already queued for it.
#[tokio::test]
async fn replacing_a_subscription_resends_retained_and_loses_nothing_queued() {
    let b = TestBroker::start().await;
    let mut p = Raw::connect_ok(b.addr, ProtocolVersion::V5, "replace-pub").await;
    p.send(publish("re/kept", "retained", true)).await;
    // Receive Maximum 1: one QoS 1 message in flight, the rest wait in the session's queue.
    let mut c = connect_packet(ProtocolVersion::V5, "replace-sub");
    c.properties.receive_maximum = std::num::NonZeroU16::new(1);
    let (mut s, _) = Raw::connect(b.addr, c).await;
    let o = SubscriptionOptions::new(QoS::AtLeastOnce);
    subscribed(&mut s, "re/#", o).await;
    let r = next_publish(&mut s).await;
    assert!(r.retain && r.payload() == b"retained");
    let ack =
        |p: &Publish| Packet::PubAck(starling_codec::PubAck::new(p.qos_pid.packet_id().unwrap()));
    let n = 5;
    for i in 0..n {
        let mut m = Publish::new(
            TopicName::try_from("re/live").unwrap(),
            QosPid::AtLeastOnce(starling_codec::PacketId::new(100 + i).unwrap()),
            Bytes::from(format!("m{i}")),
        );
        m.retain = false;
        p.send(Packet::Publish(m)).await;
        assert!(matches!(p.recv().await, Packet::PubAck(_)));
    }
    // m0 is in flight (unacknowledged), m1.. are queued. Replace the subscription.
    let first = next_publish(&mut s).await;
    assert_eq!(first.payload(), b"m0");
    s.send(subscribe("re/#", o)).await;
    // Then take everything: the SUBACK, the retained message again, and every live message.
    let mut live = vec![first.payload().to_vec()];
    let mut suback = false;
    let mut retained_again = false;
    s.send(ack(&first)).await;
    while live.len() < usize::from(n) || !suback || !retained_again {
        match s.recv().await {
            Packet::SubAck(_) => suback = true,
            Packet::Publish(m) if m.retain => {
                // Retained at QoS 0: nothing to acknowledge.
                assert_eq!(m.payload(), b"retained");
                retained_again = true;
            }
            Packet::Publish(m) => {
                live.push(m.payload().to_vec());
                s.send(ack(&m)).await;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected: Vec<Vec<u8>> = (0..n).map(|i| format!("m{i}").into_bytes()).collect();
    assert_eq!(live, expected);
    b.shutdown().await;
}

/// v5 [MQTT-4.8.2-3]: each member of a shared subscription gets the messages the group hands
/// it at no more than the QoS granted to its own subscription.
#[tokio::test]
async fn shared_subscription_members_get_their_own_granted_qos() {
    let b = TestBroker::start().await;
    let mut low = Raw::connect_ok(b.addr, ProtocolVersion::V5, "member-qos0").await;
    let mut high = Raw::connect_ok(b.addr, ProtocolVersion::V5, "member-qos1").await;
    subscribed(
        &mut low,
        "$share/g/jobs/#",
        SubscriptionOptions::new(QoS::AtMostOnce),
    )
    .await;
    subscribed(
        &mut high,
        "$share/g/jobs/#",
        SubscriptionOptions::new(QoS::AtLeastOnce),
    )
    .await;
    let mut p = Raw::connect_ok(b.addr, ProtocolVersion::V5, "jobs-pub").await;
    let n = 6u16;
    for i in 0..n {
        p.send(Packet::Publish(Publish::new(
            TopicName::try_from("jobs/x").unwrap(),
            QosPid::ExactlyOnce(starling_codec::PacketId::new(i + 1).unwrap()),
            Bytes::from(format!("job{i}")),
        )))
        .await;
        let Packet::PubRec(rec) = p.recv().await else {
            panic!("expected PUBREC")
        };
        p.send(Packet::PubRel(starling_codec::PubRel::new(rec.packet_id)))
            .await;
        assert!(matches!(p.recv().await, Packet::PubComp(_)));
    }
    // Every job reaches exactly one member; count what each got, at which QoS.
    let mut got = Vec::new();
    let mut counts = [0usize; 2];
    while got.len() < usize::from(n) {
        let (member, m) = tokio::select! {
            m = next_publish(&mut low) => (0, m),
            m = next_publish(&mut high) => (1, m),
        };
        let granted = [QoS::AtMostOnce, QoS::AtLeastOnce][member];
        assert_eq!(m.qos_pid.qos(), granted, "member {member} got {m:?}");
        if let Some(id) = m.qos_pid.packet_id() {
            high.send(Packet::PubAck(starling_codec::PubAck::new(id)))
                .await;
        }
        counts[member] += 1;
        got.push(String::from_utf8(m.payload().to_vec()).unwrap());
    }
    got.sort();
    let mut expected: Vec<String> = (0..n).map(|i| format!("job{i}")).collect();
    expected.sort();
    assert_eq!(got, expected);
    assert!(
        counts[0] > 0 && counts[1] > 0,
        "both members served: {counts:?}"
    );
    b.shutdown().await;
}

/// v5 [MQTT-4.8.2-6]: a member that refuses a message of its shared subscription (PUBACK with
/// a reason code of 0x80 or more) makes the server discard it, not hand it to another member.
#[tokio::test]
async fn a_refused_shared_message_is_discarded_not_passed_on() {
    let b = TestBroker::start().await;
    let o = SubscriptionOptions::new(QoS::AtLeastOnce);
    let mut members = [
        Raw::connect_ok(b.addr, ProtocolVersion::V5, "refuser-a").await,
        Raw::connect_ok(b.addr, ProtocolVersion::V5, "refuser-b").await,
    ];
    for m in &mut members {
        subscribed(m, "$share/r/work/#", o).await;
    }
    let mut p = Raw::connect_ok(b.addr, ProtocolVersion::V5, "work-pub").await;
    let send = |i: u16| {
        Packet::Publish(Publish::new(
            TopicName::try_from("work/x").unwrap(),
            QosPid::AtLeastOnce(starling_codec::PacketId::new(i + 1).unwrap()),
            Bytes::from(format!("w{i}")),
        ))
    };
    // Whoever gets w0 refuses it.
    p.send(send(0)).await;
    assert!(matches!(p.recv().await, Packet::PubAck(_)));
    let [a, other] = &mut members;
    let (refuser, m) = tokio::select! {
        m = next_publish(a) => (0, m),
        m = next_publish(other) => (1, m),
    };
    assert_eq!(m.payload(), b"w0");
    let mut refusal = starling_codec::PubAck::new(m.qos_pid.packet_id().unwrap());
    refusal.reason_code = starling_codec::ReasonCode::UnspecifiedError;
    members[refuser].send(Packet::PubAck(refusal)).await;
    // The next messages go round the group: the other member's first is w1, not w0, and the
    // refuser's next is w2 (w0 is not offered again).
    for i in 1..=2 {
        p.send(send(i)).await;
        assert!(matches!(p.recv().await, Packet::PubAck(_)));
    }
    let other = 1 - refuser;
    let m = next_publish(&mut members[other]).await;
    assert_eq!(m.payload(), b"w1");
    let m = next_publish(&mut members[refuser]).await;
    assert_eq!(m.payload(), b"w2");
    // Nor later: the other member's next message is w3.
    p.send(send(3)).await;
    assert!(matches!(p.recv().await, Packet::PubAck(_)));
    let m = next_publish(&mut members[other]).await;
    assert_eq!(m.payload(), b"w3");
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
