#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Interop with a third-party Rust client, rumqttc 0.24 (MQTT 3.1.1 `AsyncClient` and
//! `rumqttc::v5`), over real loopback sockets. Cases a well-behaved client cannot produce (an
//! abnormal close with a will) use the raw `starling_codec` client of `common`.
//!
//! "Not delivered" is proved without waiting for silence: a sentinel message that must arrive is
//! published after the one that must not, and the subscriber's next message is the sentinel
//! (one router, per-connection order).

mod common;

use bytes::Bytes;
use common::{v3, v5, Raw, TestBroker};
use starling_codec::{Disconnect, Packet, ProtocolVersion, ReasonCode, TopicName};
use std::collections::BTreeSet;

// ----- MQTT 3.1.1 -----

#[tokio::test]
async fn v3_qos_0_1_2_end_to_end_downgraded_to_the_subscription() {
    let b = TestBroker::start().await;
    let (sub, mut s) = v3::connect_clean(b.addr, "v3-sub").await;
    let (publ, mut p) = v3::connect_clean(b.addr, "v3-pub").await;
    for (filter, qos) in [
        ("q/0", v3::QoS::AtMostOnce),
        ("q/1", v3::QoS::AtLeastOnce),
        ("q/2", v3::QoS::ExactlyOnce),
    ] {
        let ack = v3::subscribe(&sub, &mut s, filter, qos).await;
        assert_eq!(ack.return_codes, [v3::SubscribeReasonCode::Success(qos)]);
    }
    let all = [
        v3::QoS::AtMostOnce,
        v3::QoS::AtLeastOnce,
        v3::QoS::ExactlyOnce,
    ];
    for (sub_qos, topic) in all.iter().zip(["q/0", "q/1", "q/2"]) {
        for pub_qos in all {
            publ.publish(topic, pub_qos, false, format!("{topic} {pub_qos:?}"))
                .await
                .unwrap();
            if pub_qos != v3::QoS::AtMostOnce {
                p.acked().await;
            }
            let m = s.publish().await;
            assert_eq!(m.topic, topic);
            assert_eq!(&m.payload[..], format!("{topic} {pub_qos:?}").as_bytes());
            // v3.1.1 [MQTT-3.8.4-6]: the minimum of the published and the granted QoS.
            assert_eq!(m.qos as u8, (pub_qos as u8).min(*sub_qos as u8));
            assert!(!m.retain);
        }
    }
    b.shutdown().await;
}

#[tokio::test]
async fn v3_wildcards_route_and_hash_does_not_match_dollar_topics() {
    let b = TestBroker::start().await;
    let (sub, mut s) = v3::connect_clean(b.addr, "wild").await;
    let (publ, _p) = v3::connect_clean(b.addr, "wild-pub").await;
    v3::subscribe(&sub, &mut s, "a/+/c", v3::QoS::AtMostOnce).await;
    v3::subscribe(&sub, &mut s, "x/#", v3::QoS::AtMostOnce).await;
    v3::subscribe(&sub, &mut s, "#", v3::QoS::AtMostOnce).await;
    // `#` catches everything not starting with `$`; a/+/c and x/# overlap with it.
    for topic in ["a/b/c", "x", "x/y/z", "other"] {
        publ.publish(topic, v3::QoS::AtMostOnce, false, topic)
            .await
            .unwrap();
        let m = s.publish().await;
        assert_eq!(m.topic, topic, "routed once, in order");
    }
    // v3.1.1 [MQTT-4.7.2-1]: `#` and `+/...` do not match topics beginning with `$`.
    v3::subscribe(&sub, &mut s, "+/dollar", v3::QoS::AtMostOnce).await;
    let dollar = TopicName::try_from("$internal/dollar").unwrap();
    b.handle
        .publish(
            dollar,
            Bytes::from_static(b"no"),
            starling_codec::QoS::AtMostOnce,
            false,
        )
        .await;
    publ.publish("sentinel", v3::QoS::AtMostOnce, false, "yes")
        .await
        .unwrap();
    assert_eq!(s.publish().await.topic, "sentinel");
    // But an explicit `$` filter does.
    v3::subscribe(&sub, &mut s, "$internal/+", v3::QoS::AtMostOnce).await;
    let dollar = TopicName::try_from("$internal/dollar").unwrap();
    b.handle
        .publish(
            dollar,
            Bytes::from_static(b"yes"),
            starling_codec::QoS::AtMostOnce,
            false,
        )
        .await;
    assert_eq!(s.publish().await.topic, "$internal/dollar");
    b.shutdown().await;
}

#[tokio::test]
async fn v3_overlapping_subscriptions_give_one_delivery_at_the_highest_qos() {
    let b = TestBroker::start().await;
    let (sub, mut s) = v3::connect_clean(b.addr, "overlap").await;
    let (publ, mut p) = v3::connect_clean(b.addr, "overlap-pub").await;
    v3::subscribe(&sub, &mut s, "o/#", v3::QoS::AtLeastOnce).await;
    v3::subscribe(&sub, &mut s, "o/+", v3::QoS::AtMostOnce).await;
    v3::subscribe(&sub, &mut s, "o/a", v3::QoS::AtMostOnce).await;
    publ.publish("o/a", v3::QoS::ExactlyOnce, false, "1")
        .await
        .unwrap();
    p.acked().await;
    publ.publish("o/end", v3::QoS::AtMostOnce, false, "2")
        .await
        .unwrap();
    let first = s.publish().await;
    assert_eq!(
        (first.topic.as_str(), first.qos),
        ("o/a", v3::QoS::AtLeastOnce)
    );
    // v3.1.1 [MQTT-3.3.5-1]: one copy, at the maximum QoS of the matching subscriptions.
    assert_eq!(s.publish().await.topic, "o/end");
    b.shutdown().await;
}

#[tokio::test]
async fn v3_retained_set_replace_clear_and_delivery_on_subscribe() {
    let b = TestBroker::start().await;
    let (publ, mut p) = v3::connect_clean(b.addr, "ret-pub").await;
    let (live, mut l) = v3::connect_clean(b.addr, "ret-live").await;
    v3::subscribe(&live, &mut l, "r/#", v3::QoS::AtLeastOnce).await;
    for payload in ["one", "two"] {
        publ.publish("r/t", v3::QoS::AtLeastOnce, true, payload)
            .await
            .unwrap();
        p.acked().await;
        let m = l.publish().await;
        // v3.1.1 [MQTT-3.3.1-9]: to an established subscription the RETAIN flag is 0.
        assert!(!m.retain);
    }
    // v3.1.1 [MQTT-3.3.1-5], v3.1.1 [MQTT-3.3.1-6], v3.1.1 [MQTT-3.3.1-8]: a new subscription
    // gets the last retained message (replaced: "two"), with RETAIN set, at min(QoS published,
    // granted).
    let (late, mut t) = v3::connect_clean(b.addr, "ret-late").await;
    v3::subscribe(&late, &mut t, "r/+", v3::QoS::ExactlyOnce).await;
    let m = t.publish().await;
    assert_eq!(
        (&m.payload[..], m.retain, m.qos),
        (&b"two"[..], true, v3::QoS::AtLeastOnce)
    );
    // v3.1.1 [MQTT-3.3.1-12]: a non-retained publish leaves the retained message alone.
    publ.publish("r/t", v3::QoS::AtMostOnce, false, "plain")
        .await
        .unwrap();
    assert_eq!(&l.publish().await.payload[..], b"plain");
    // v3.1.1 [MQTT-3.3.1-10], v3.1.1 [MQTT-3.3.1-11]: an empty retained payload is forwarded and
    // clears the retained message.
    publ.publish("r/t", v3::QoS::AtLeastOnce, true, "")
        .await
        .unwrap();
    p.acked().await;
    assert!(l.publish().await.payload.is_empty());
    let (again, mut a) = v3::connect_clean(b.addr, "ret-again").await;
    v3::subscribe(&again, &mut a, "r/t", v3::QoS::AtLeastOnce).await;
    publ.publish("r/t", v3::QoS::AtMostOnce, false, "sentinel")
        .await
        .unwrap();
    let m = a.publish().await;
    assert_eq!((&m.payload[..], m.retain), (&b"sentinel"[..], false));
    drop((live, late));
    b.shutdown().await;
}

#[tokio::test]
async fn v3_will_published_on_abnormal_close_not_after_disconnect() {
    let b = TestBroker::start().await;
    let (sub, mut s) = v3::connect_clean(b.addr, "will-watch").await;
    v3::subscribe(&sub, &mut s, "will/#", v3::QoS::AtLeastOnce).await;

    // v3.1.1 [MQTT-3.1.2-8]: the will is published when the connection closes without
    // DISCONNECT (here: the socket is dropped).
    let mut c = common::connect_packet(ProtocolVersion::V3_1_1, "dies");
    c.will = Some(common::will("will/dies", b"gone"));
    let (raw, ack) = Raw::connect(b.addr, c).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    drop(raw);
    let m = s.publish().await;
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("will/dies", &b"gone"[..])
    );

    // v3.1.1 [MQTT-3.1.2-10], v3.1.1 [MQTT-3.14.4-3]: DISCONNECT discards the will.
    let mut c = common::connect_packet(ProtocolVersion::V3_1_1, "polite");
    c.will = Some(common::will("will/polite", b"gone"));
    let (mut raw, _) = Raw::connect(b.addr, c).await;
    raw.send(Packet::Disconnect(Disconnect::new(ReasonCode::Success)))
        .await;
    // The broker closes after handing the close to the router, so the sentinel comes after.
    assert!(raw.closed().await.is_empty());
    let (publ, _p) = v3::connect_clean(b.addr, "will-sentinel").await;
    publ.publish("will/sentinel", v3::QoS::AtMostOnce, false, "x")
        .await
        .unwrap();
    assert_eq!(s.publish().await.topic, "will/sentinel");
    b.shutdown().await;
}

#[tokio::test]
async fn v3_persistent_session_keeps_subscriptions_and_queues_qos1() {
    let b = TestBroker::start().await;
    let mut o = v3::options(b.addr, "durable");
    o.set_clean_session(false);
    let (c, mut s, ack) = v3::connect(o.clone()).await;
    assert!(!ack.session_present);
    v3::subscribe(&c, &mut s, "d/#", v3::QoS::AtLeastOnce).await;
    c.disconnect().await.unwrap();
    s.error().await; // the broker closed the connection: the session is offline now.
    drop((c, s));

    let (publ, mut p) = v3::connect_clean(b.addr, "durable-pub").await;
    for i in 0..3 {
        publ.publish("d/x", v3::QoS::AtLeastOnce, false, format!("m{i}"))
            .await
            .unwrap();
        p.acked().await;
    }
    // QoS 0 is not queued for an offline session (Mosquitto's default).
    publ.publish("d/x", v3::QoS::AtMostOnce, false, "q0")
        .await
        .unwrap();
    publ.publish("d/x", v3::QoS::AtLeastOnce, false, "m3")
        .await
        .unwrap();
    p.acked().await;

    // v3.1.1 [MQTT-3.2.2-2]: Session Present; v3.1.1 [MQTT-3.1.2-4]: state resumed;
    // v3.1.1 [MQTT-4.5.0-1]: the messages were added to the offline session.
    let (_c, mut s, ack) = v3::connect(o).await;
    assert!(ack.session_present);
    for i in 0..4 {
        let m = s.publish().await;
        assert_eq!(&m.payload[..], format!("m{i}").as_bytes());
        assert_eq!(m.qos, v3::QoS::AtLeastOnce);
    }
    // The subscription itself survived.
    publ.publish("d/live", v3::QoS::AtMostOnce, false, "live")
        .await
        .unwrap();
    assert_eq!(s.publish().await.topic, "d/live");
    b.shutdown().await;
}

#[tokio::test]
async fn v3_session_takeover_closes_the_first_connection() {
    let b = TestBroker::start().await;
    let (_first, mut f) = v3::connect_clean(b.addr, "twin").await;
    let (second, mut s) = v3::connect_clean(b.addr, "twin").await;
    // v3.1.1 [MQTT-3.1.4-2]: the existing client is disconnected.
    f.error().await;
    v3::subscribe(&second, &mut s, "t", v3::QoS::AtMostOnce).await;
    second
        .publish("t", v3::QoS::AtMostOnce, false, "still here")
        .await
        .unwrap();
    assert_eq!(&s.publish().await.payload[..], b"still here");
    b.shutdown().await;
}

// ----- MQTT 5 -----

#[tokio::test]
async fn v5_qos_0_1_2_end_to_end_downgraded_and_retained() {
    let b = TestBroker::start().await;
    let (sub, mut s) = v5::connect_clean(b.addr, "v5-sub").await;
    let (publ, mut p) = v5::connect_clean(b.addr, "v5-pub").await;
    let all = [
        v5::QoS::AtMostOnce,
        v5::QoS::AtLeastOnce,
        v5::QoS::ExactlyOnce,
    ];
    for (qos, filter) in all.iter().zip(["q/0", "q/1", "q/2"]) {
        let ack = v5::subscribe(&sub, &mut s, filter, *qos).await;
        // v5 [MQTT-3.8.4-6]: one reason code per filter.
        assert_eq!(ack.return_codes, [v5::SubscribeReasonCode::Success(*qos)]);
    }
    for (sub_qos, topic) in all.iter().zip(["q/0", "q/1", "q/2"]) {
        for pub_qos in all {
            publ.publish(topic, pub_qos, false, format!("{pub_qos:?}"))
                .await
                .unwrap();
            if pub_qos != v5::QoS::AtMostOnce {
                p.acked().await;
            }
            let m = s.publish().await;
            assert_eq!(v5::topic(&m), topic);
            assert_eq!(m.qos as u8, (pub_qos as u8).min(*sub_qos as u8));
        }
    }
    // v5 [MQTT-3.3.1-5], v5 [MQTT-3.3.1-9]: retained, replaced, sent on subscribe with RETAIN.
    for payload in ["old", "new"] {
        publ.publish("ret/v5", v5::QoS::AtLeastOnce, true, payload)
            .await
            .unwrap();
        p.acked().await;
    }
    v5::subscribe(&sub, &mut s, "ret/+", v5::QoS::AtLeastOnce).await;
    let m = s.publish().await;
    assert_eq!((&m.payload[..], m.retain), (&b"new"[..], true));
    // v5 [MQTT-3.3.1-6], v5 [MQTT-3.3.1-7]: an empty payload clears it.
    publ.publish("ret/v5", v5::QoS::AtLeastOnce, true, "")
        .await
        .unwrap();
    p.acked().await;
    assert!(s.publish().await.payload.is_empty());
    let (late, mut l) = v5::connect_clean(b.addr, "v5-late").await;
    v5::subscribe(&late, &mut l, "ret/#", v5::QoS::AtLeastOnce).await;
    publ.publish("ret/v5", v5::QoS::AtMostOnce, false, "sentinel")
        .await
        .unwrap();
    assert_eq!(&l.publish().await.payload[..], b"sentinel");
    b.shutdown().await;
}

#[tokio::test]
async fn v5_will_on_abnormal_close_with_properties_not_after_normal_disconnect() {
    let b = TestBroker::start().await;
    let (sub, mut s) = v5::connect_clean(b.addr, "v5-will-watch").await;
    v5::subscribe(&sub, &mut s, "will/#", v5::QoS::AtLeastOnce).await;

    let mut c = common::connect_packet(ProtocolVersion::V5, "v5-dies");
    let mut w = common::will("will/v5", b"bye");
    w.properties.content_type = Some("text/plain".try_into().unwrap());
    w.properties
        .user_properties
        .push(("k".try_into().unwrap(), "v".try_into().unwrap()));
    c.will = Some(w);
    let (raw, ack) = Raw::connect(b.addr, c).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    drop(raw);
    // v5 [MQTT-3.1.2-8]: published after the network connection closed (no will delay).
    let m = s.publish().await;
    assert_eq!((v5::topic(&m), &m.payload[..]), ("will/v5", &b"bye"[..]));
    let props = m.properties.expect("will properties forwarded");
    assert_eq!(props.content_type.as_deref(), Some("text/plain"));
    assert_eq!(props.user_properties, [("k".to_owned(), "v".to_owned())]);

    // v5 [MQTT-3.1.2-10]: DISCONNECT 0x00 removes the will.
    let mut c = common::connect_packet(ProtocolVersion::V5, "v5-polite");
    c.will = Some(common::will("will/polite", b"bye"));
    let (mut raw, _) = Raw::connect(b.addr, c).await;
    raw.send(Packet::Disconnect(Disconnect::new(ReasonCode::Success)))
        .await;
    assert!(raw.closed().await.is_empty());
    sub.publish("will/sentinel", v5::QoS::AtMostOnce, false, "x")
        .await
        .unwrap();
    assert_eq!(v5::topic(&s.publish().await), "will/sentinel");
    b.shutdown().await;
}

#[tokio::test]
async fn v5_session_takeover_sends_0x8e_to_the_first_connection() {
    let b = TestBroker::start().await;
    // rumqttc 0.24 cannot parse a DISCONNECT whose Remaining Length is 1 (reason code, no
    // property length: valid per v5 §3.14.2.2.1), so the reason code is read by the raw client.
    let mut raw = Raw::connect_ok(b.addr, ProtocolVersion::V5, "v5-twin").await;
    let (_first, mut f) = v5::connect_clean(b.addr, "v5-twin").await;
    // v5 [MQTT-3.1.4-3]: DISCONNECT with 0x8E (Session taken over) to the existing client.
    assert_eq!(
        raw.disconnect_reason().await,
        Some(ReasonCode::SessionTakenOver)
    );
    let (second, mut s) = v5::connect_clean(b.addr, "v5-twin").await;
    // The rumqttc connection taken over is closed too.
    f.error().await;
    v5::subscribe(&second, &mut s, "t", v5::QoS::AtMostOnce).await;
    second
        .publish("t", v5::QoS::AtMostOnce, false, "mine")
        .await
        .unwrap();
    assert_eq!(&s.publish().await.payload[..], b"mine");
    b.shutdown().await;
}

fn persistent(addr: std::net::SocketAddr, id: &str, expiry: u32) -> v5::MqttOptions {
    let mut o = v5::options(addr, id);
    o.set_clean_start(false);
    let mut props = rumqttc::v5::mqttbytes::v5::ConnectProperties::new();
    props.session_expiry_interval = Some(expiry);
    o.set_connect_properties(props);
    o
}

#[tokio::test]
async fn v5_session_expiry_keeps_subscriptions_queues_qos1_and_drops_expired_messages() {
    let b = TestBroker::start().await;
    let o = persistent(b.addr, "v5-durable", 300);
    let (c, mut s, ack) = v5::connect(o.clone()).await;
    assert!(!ack.session_present);
    v5::subscribe(&c, &mut s, "d/#", v5::QoS::AtLeastOnce).await;
    c.disconnect().await.unwrap();
    s.error().await;
    drop((c, s));

    let (publ, mut p) = v5::connect_clean(b.addr, "v5-durable-pub").await;
    let with_expiry = |secs| v5::PublishProperties {
        message_expiry_interval: Some(secs),
        ..Default::default()
    };
    publ.publish_with_properties("d/x", v5::QoS::AtLeastOnce, false, "short", with_expiry(1))
        .await
        .unwrap();
    p.acked().await;
    publ.publish_with_properties("d/x", v5::QoS::AtLeastOnce, false, "long", with_expiry(60))
        .await
        .unwrap();
    p.acked().await;
    publ.publish("d/x", v5::QoS::AtLeastOnce, false, "forever")
        .await
        .unwrap();
    p.acked().await;
    // Let the one-second expiry pass (this sleep is the interval under test, not a sync).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // v5 [MQTT-3.1.2-23]: the state was kept; v5 [MQTT-3.2.2-3]: Session Present.
    let (_c, mut s, ack) = v5::connect(o).await;
    assert!(ack.session_present);
    let m = s.publish().await;
    assert_eq!(&m.payload[..], b"long", "the expired message was dropped");
    // v5 [MQTT-3.3.2-6]: the interval is reduced by the time the message waited.
    let left = m.properties.unwrap().message_expiry_interval.unwrap();
    assert!((1..60).contains(&left), "remaining expiry {left}");
    let m = s.publish().await;
    assert_eq!(&m.payload[..], b"forever");
    assert!(m
        .properties
        .and_then(|p| p.message_expiry_interval)
        .is_none());
    b.shutdown().await;
}

#[tokio::test]
async fn v5_shared_subscription_delivers_each_message_to_exactly_one_member() {
    let b = TestBroker::start().await;
    let (m1, mut s1) = v5::connect_clean(b.addr, "member-1").await;
    let (m2, mut s2) = v5::connect_clean(b.addr, "member-2").await;
    for (c, s) in [(&m1, &mut s1), (&m2, &mut s2)] {
        v5::subscribe(c, s, "$share/g/jobs/+", v5::QoS::AtLeastOnce).await;
        v5::subscribe(c, s, "jobs-done", v5::QoS::AtLeastOnce).await;
    }
    let (publ, mut p) = v5::connect_clean(b.addr, "jobs-pub").await;
    const N: usize = 10;
    for i in 0..N {
        publ.publish("jobs/x", v5::QoS::AtLeastOnce, false, format!("{i}"))
            .await
            .unwrap();
        p.acked().await;
    }
    publ.publish("jobs-done", v5::QoS::AtLeastOnce, false, "done")
        .await
        .unwrap();
    p.acked().await;
    // Each member reads up to the non-shared "done" marker, which follows every job.
    let mut got = Vec::new();
    let mut per_member = Vec::new();
    for s in [&mut s1, &mut s2] {
        let mut n = 0;
        loop {
            let m = s.publish().await;
            if v5::topic(&m) == "jobs-done" {
                break;
            }
            got.push(String::from_utf8(m.payload.to_vec()).unwrap());
            n += 1;
        }
        per_member.push(n);
    }
    let distinct: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(
        (got.len(), distinct.len()),
        (N, N),
        "each job exactly once: {got:?}"
    );
    assert!(
        per_member.iter().all(|&n| n > 0),
        "load-balanced: {per_member:?}"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn v5_no_local_and_subscription_identifiers() {
    let b = TestBroker::start().await;
    let (me, mut s) = v5::connect_clean(b.addr, "nl-me").await;
    let (other, _o) = v5::connect_clean(b.addr, "nl-other").await;
    let mut filter = v5::Filter::new("nl/t", v5::QoS::AtMostOnce);
    filter.nolocal = true;
    me.subscribe_many([filter]).await.unwrap();
    s.suback().await;
    // v5 [MQTT-3.8.3-3]: not forwarded to the publishing client id.
    me.publish("nl/t", v5::QoS::AtMostOnce, false, "mine")
        .await
        .unwrap();
    other
        .publish("nl/t", v5::QoS::AtMostOnce, false, "theirs")
        .await
        .unwrap();
    assert_eq!(&s.publish().await.payload[..], b"theirs");

    // Two overlapping subscriptions with identifiers: one copy carrying both.
    for (f, id) in [("si/+", 7), ("si/#", 9)] {
        let props = v5::SubscribeProperties {
            id: Some(id),
            user_properties: Vec::new(),
        };
        me.subscribe_with_properties(f, v5::QoS::AtMostOnce, props)
            .await
            .unwrap();
        s.suback().await;
    }
    other
        .publish("si/a", v5::QoS::AtMostOnce, false, "x")
        .await
        .unwrap();
    let m = s.publish().await;
    let mut ids = m.properties.unwrap().subscription_identifiers;
    ids.sort_unstable();
    // v5 [MQTT-3.3.4-3], v5 [MQTT-3.3.4-4]: one copy with the identifiers of all matches.
    assert_eq!(ids, [7, 9]);
    other
        .publish("si/a/deeper", v5::QoS::AtMostOnce, false, "y")
        .await
        .unwrap();
    let m = s.publish().await;
    assert_eq!(m.properties.unwrap().subscription_identifiers, [9]);
    b.shutdown().await;
}

#[tokio::test]
async fn v5_request_response_properties_pass_through_unchanged() {
    let b = TestBroker::start().await;
    let (responder, mut r) = v5::connect_clean(b.addr, "responder").await;
    let (requester, mut q) = v5::connect_clean(b.addr, "requester").await;
    v5::subscribe(&responder, &mut r, "svc/req", v5::QoS::AtLeastOnce).await;
    v5::subscribe(
        &requester,
        &mut q,
        "svc/reply/requester",
        v5::QoS::AtLeastOnce,
    )
    .await;
    let props = v5::PublishProperties {
        payload_format_indicator: Some(1),
        response_topic: Some("svc/reply/requester".into()),
        correlation_data: Some(Bytes::from_static(b"\x00corr\xff")),
        user_properties: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
        content_type: Some("application/json".into()),
        ..Default::default()
    };
    requester
        .publish_with_properties("svc/req", v5::QoS::AtLeastOnce, false, "{}", props.clone())
        .await
        .unwrap();
    let req = r.publish().await;
    let got = req.properties.clone().expect("properties forwarded");
    assert_eq!(got.payload_format_indicator, props.payload_format_indicator);
    assert_eq!(got.response_topic, props.response_topic);
    assert_eq!(got.correlation_data, props.correlation_data);
    assert_eq!(got.user_properties, props.user_properties, "order kept");
    assert_eq!(got.content_type, props.content_type);
    // The responder answers on the response topic with the correlation data.
    let reply = v5::PublishProperties {
        correlation_data: got.correlation_data.clone(),
        ..Default::default()
    };
    responder
        .publish_with_properties(
            got.response_topic.unwrap(),
            v5::QoS::AtLeastOnce,
            false,
            "ok",
            reply,
        )
        .await
        .unwrap();
    let ans = q.publish().await;
    assert_eq!(&ans.payload[..], b"ok");
    assert_eq!(
        ans.properties.unwrap().correlation_data,
        props.correlation_data
    );
    b.shutdown().await;
}

#[tokio::test]
async fn v5_topic_alias_from_the_client_is_resolved() {
    let b = TestBroker::start().await;
    let (sub, mut s) = v5::connect_clean(b.addr, "alias-sub").await;
    v5::subscribe(&sub, &mut s, "alias/#", v5::QoS::AtLeastOnce).await;
    let (publ, mut p, ack) = v5::connect(v5::options(b.addr, "alias-pub")).await;
    let max = ack.properties.and_then(|p| p.topic_alias_max).unwrap_or(0);
    assert!(max >= 1, "the broker offers topic aliases");
    let alias = |a| v5::PublishProperties {
        topic_alias: Some(a),
        ..Default::default()
    };
    // Set alias 1 with a topic, then use it with an empty topic; then remap it.
    for (topic, payload) in [("alias/one", "a"), ("", "b"), ("alias/two", "c"), ("", "d")] {
        publ.publish_with_properties(topic, v5::QoS::AtLeastOnce, false, payload, alias(1))
            .await
            .unwrap();
        p.acked().await;
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        let m = s.publish().await;
        got.push((
            v5::topic(&m).to_owned(),
            String::from_utf8(m.payload.to_vec()).unwrap(),
        ));
    }
    let want = [
        ("alias/one", "a"),
        ("alias/one", "b"),
        ("alias/two", "c"),
        ("alias/two", "d"),
    ];
    assert_eq!(got, want.map(|(t, p)| (t.to_owned(), p.to_owned())));
    b.shutdown().await;
}

#[tokio::test]
async fn v5_empty_client_id_gets_an_assigned_identifier() {
    let b = TestBroker::start().await;
    let (c, mut s, ack) = v5::connect(v5::options(b.addr, "")).await;
    // v5 [MQTT-3.1.3-6], v5 [MQTT-3.1.3-7], v5 [MQTT-3.2.2-16]: a unique id, returned in CONNACK.
    let id = ack
        .properties
        .and_then(|p| p.assigned_client_identifier)
        .expect("assigned client identifier");
    assert!(!id.is_empty());
    let (_c2, _s2, ack2) = v5::connect(v5::options(b.addr, "")).await;
    let id2 = ack2.properties.unwrap().assigned_client_identifier.unwrap();
    assert_ne!(id, id2);
    // The connection works as any other.
    v5::subscribe(&c, &mut s, "anon", v5::QoS::AtMostOnce).await;
    c.publish("anon", v5::QoS::AtMostOnce, false, "hi")
        .await
        .unwrap();
    assert_eq!(&s.publish().await.payload[..], b"hi");
    b.shutdown().await;
}
