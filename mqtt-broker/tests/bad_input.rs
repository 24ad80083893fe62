#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Malformed and forbidden input over real sockets: each gets the reason code the spec names,
//! then the close, and the broker goes on serving everyone else. Limits (packet size,
//! connections, connect timeout, keep alive, receive maximum, topic aliases, slow subscribers)
//! are enforced without hurting other clients.

mod common;

use bytes::{Bytes, BytesMut};
use common::{connect_packet, test_config, Raw, TestBroker, TIMEOUT};
use starling_codec::{
    ConnectProperties, Packet, ProtocolVersion, PubRel, Publish, QoS, QosPid, ReasonCode,
    Subscribe, SubscriptionOptions, TopicFilter, TopicName,
};
use std::{
    num::NonZeroU32,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};
use tokio::io::AsyncReadExt;

fn pid(n: u16) -> starling_codec::PacketId {
    starling_codec::PacketId::new(n).unwrap()
}

fn subscribe(filter: &str, qos: QoS) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: pid(1),
        filters: vec![(
            TopicFilter::try_from(filter).unwrap(),
            SubscriptionOptions::new(qos),
        )],
        properties: Default::default(),
    })
}

fn publish(topic: &str, qos_pid: QosPid, payload: &'static [u8]) -> Publish {
    Publish::new(
        TopicName::try_from(topic).unwrap(),
        qos_pid,
        Bytes::from_static(payload),
    )
}

/// Subscribes a raw client and waits for its SUBACK.
async fn subscribed(raw: &mut Raw, filter: &str, qos: QoS) {
    raw.send(subscribe(filter, qos)).await;
    assert!(matches!(raw.recv().await, Packet::SubAck(_)));
}

/// A connected bystander that must keep working whatever another connection does.
struct Bystander {
    raw: Raw,
    topic: String,
    n: u32,
}

impl Bystander {
    async fn new(b: &TestBroker, id: &str) -> Bystander {
        let mut raw = Raw::connect_ok(b.addr, ProtocolVersion::V5, id).await;
        let topic = format!("{id}/echo");
        subscribed(&mut raw, &topic, QoS::AtMostOnce).await;
        Bystander { raw, topic, n: 0 }
    }

    /// Publishes to itself and receives it back.
    async fn still_served(&mut self) {
        self.n += 1;
        let payload = Bytes::from(self.n.to_string());
        let topic = TopicName::try_from(self.topic.as_str()).unwrap();
        let m = Publish::new(topic, QosPid::AtMostOnce, payload.clone());
        self.raw.send(Packet::Publish(m)).await;
        match self.raw.recv().await {
            Packet::Publish(got) => assert_eq!(got.payload(), payload),
            other => panic!("bystander expected its echo, got {other:?}"),
        }
    }
}

/// Connects a v5 raw client, sends `bytes`, and returns the DISCONNECT reason before the close.
async fn v5_violation(b: &TestBroker, bytes: &[u8]) -> Option<ReasonCode> {
    let mut raw = Raw::connect_ok(b.addr, ProtocolVersion::V5, "offender").await;
    raw.send_bytes(bytes).await;
    raw.disconnect_reason().await
}

/// Connects a v3.1.1 raw client, sends `bytes`, and returns what came back before the close.
async fn v3_violation(b: &TestBroker, bytes: &[u8]) -> Vec<Packet> {
    let mut raw = Raw::connect_ok(b.addr, ProtocolVersion::V3_1_1, "offender").await;
    raw.send_bytes(bytes).await;
    raw.closed().await
}

#[tokio::test]
async fn first_packet_must_be_connect_and_garbage_is_closed() {
    let b = TestBroker::start().await;
    let mut by = Bystander::new(&b, "bystander").await;
    // v3.1.1 [MQTT-3.1.0-1], v5 [MQTT-3.1.0-1]: a PINGREQ (or a PUBLISH) first: closed at
    // once, nothing answered.
    for first in [
        &b"\xc0\x00"[..],
        b"\x30\x03\x00\x01t",
        b"\xff\xff\xff\xff\xff",
        b"GET / HTTP/1.1\r\n\r\n",
    ] {
        let mut raw = Raw::tcp(b.addr, ProtocolVersion::V5).await;
        raw.send_bytes(first).await;
        assert!(raw.closed().await.is_empty(), "{first:?}");
        by.still_served().await;
    }
    // Garbage after a valid CONNECT: the reserved packet type 0.
    // v5 [MQTT-4.13.1-1]: a Malformed Packet closes the connection (DISCONNECT 0x81 first).
    assert_eq!(
        v5_violation(&b, b"\x00\x00").await,
        Some(ReasonCode::MalformedPacket)
    );
    // v3.1.1 [MQTT-4.8.0-1]: closed, nothing sent; type 15 is reserved too before MQTT 5.
    for garbage in [&b"\x00\x00"[..], b"\xf0\x00"] {
        assert!(v3_violation(&b, garbage).await.is_empty());
    }
    // In MQTT 5 type 15 is AUTH: without an authentication method it is a Protocol Error.
    assert_eq!(
        v5_violation(&b, b"\xf0\x00").await,
        Some(ReasonCode::ProtocolError)
    );
    by.still_served().await;
    b.shutdown().await;
}

#[tokio::test]
async fn reserved_flags_qos3_bad_utf8_and_wildcard_topics_close_with_their_reason_codes() {
    let b = TestBroker::start().await;
    let mut by = Bystander::new(&b, "bystander").await;
    // (v5 bytes, v3.1.1 bytes, v5 reason)
    let cases: [(&str, &[u8], &[u8], ReasonCode); 5] = [
        // v5 [MQTT-2.1.3-1], v3.1.1 [MQTT-2.2.2-2], v3.1.1 [MQTT-3.8.1-1]: SUBSCRIBE flags 0000.
        (
            "reserved flags",
            b"\x80\x07\x00\x01\x00\x00\x01t\x00",
            b"\x80\x06\x00\x01\x00\x01t\x00",
            ReasonCode::MalformedPacket,
        ),
        // v5 [MQTT-3.3.1-4], v3.1.1 [MQTT-3.3.1-4]: both QoS bits set.
        (
            "qos 3",
            b"\x36\x06\x00\x01t\x00\x01\x00",
            b"\x36\x05\x00\x01t\x00\x01",
            ReasonCode::MalformedPacket,
        ),
        // v5 [MQTT-1.5.4-1], v3.1.1 [MQTT-1.5.3-1]: ill-formed UTF-8 in the topic.
        (
            "invalid utf-8",
            b"\x30\x05\x00\x02\xc3\x28\x00",
            b"\x30\x04\x00\x02\xc3\x28",
            ReasonCode::MalformedPacket,
        ),
        // v5 [MQTT-1.5.4-2], v3.1.1 [MQTT-1.5.3-2]: U+0000 in the topic.
        (
            "nul in topic",
            b"\x30\x05\x00\x02a\x00\x00",
            b"\x30\x04\x00\x02a\x00",
            ReasonCode::MalformedPacket,
        ),
        // v5 [MQTT-3.3.2-2], v3.1.1 [MQTT-3.3.2-2]: no wildcards in a PUBLISH topic (v5: 0x90).
        (
            "wildcard topic",
            b"\x30\x06\x00\x03a/#\x00",
            b"\x30\x05\x00\x03a/#",
            ReasonCode::TopicNameInvalid,
        ),
    ];
    for (what, v5, v3, reason) in cases {
        assert_eq!(v5_violation(&b, v5).await, Some(reason), "v5 {what}");
        assert!(v3_violation(&b, v3).await.is_empty(), "v3.1.1 {what}");
        by.still_served().await;
    }
    b.shutdown().await;
}

#[tokio::test]
async fn second_connect_is_a_protocol_error() {
    let b = TestBroker::start().await;
    let mut by = Bystander::new(&b, "bystander").await;
    let mut again = BytesMut::new();
    Packet::Connect(Box::new(connect_packet(ProtocolVersion::V5, "offender")))
        .encode(ProtocolVersion::V5, &mut again)
        .unwrap();
    // v5 [MQTT-3.1.0-2]: Protocol Error (0x82) and close.
    assert_eq!(
        v5_violation(&b, &again).await,
        Some(ReasonCode::ProtocolError)
    );
    let mut again = BytesMut::new();
    Packet::Connect(Box::new(connect_packet(
        ProtocolVersion::V3_1_1,
        "offender",
    )))
    .encode(ProtocolVersion::V3_1_1, &mut again)
    .unwrap();
    // v3.1.1 [MQTT-3.1.0-2]: a protocol violation: disconnected.
    assert!(v3_violation(&b, &again).await.is_empty());
    by.still_served().await;
    b.shutdown().await;
}

#[tokio::test]
async fn unsupported_protocol_level_is_refused_in_the_connack() {
    let b = TestBroker::start().await;
    // An unknown level does not say which CONNACK format the client reads; like Mosquitto, the
    // broker answers in the 3.1.1 format (return code 0x01) and closes.
    // v3.1.1 [MQTT-3.1.2-2]: "MQTT" level 3 (3.1 is "MQIsdp"), or a future level 6.
    for level in [3u8, 6] {
        let mut raw = Raw::tcp(b.addr, ProtocolVersion::V3_1_1).await;
        let mut connect = b"\x10\x0d\x00\x04MQTT\x06\x02\x00\x3c\x00\x01a".to_vec();
        connect[8] = level;
        raw.send_bytes(&connect).await;
        let mut answer = Vec::new();
        common::within("close", raw.stream.read_to_end(&mut answer))
            .await
            .unwrap();
        assert_eq!(answer, b"\x20\x02\x00\x01", "level {level}");
    }
    b.shutdown().await;
}

#[tokio::test]
async fn oversize_packets_are_refused_both_ways() {
    let mut config = test_config();
    config.session.max_packet_size = 128;
    let b = TestBroker::with_config(config).await;
    let mut by = Bystander::new(&b, "bystander").await;
    let (mut raw, ack) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "big")).await;
    assert_eq!(
        ack.properties.maximum_packet_size.map(|m| m.get()),
        Some(128)
    );
    // A PUBLISH of 200 bytes: DISCONNECT 0x95 (Packet too large), then close.
    let body = Bytes::from(vec![b'x'; 200]);
    let mut big = BytesMut::new();
    Packet::Publish(Publish::new(
        TopicName::try_from("t").unwrap(),
        QosPid::AtMostOnce,
        body,
    ))
    .encode(ProtocolVersion::V5, &mut big)
    .unwrap();
    raw.send_bytes(&big).await;
    assert_eq!(
        raw.disconnect_reason().await,
        Some(ReasonCode::PacketTooLarge)
    );
    by.still_served().await;

    // v5 [MQTT-3.1.2-24], v5 [MQTT-3.1.2-25]: to a client announcing Maximum Packet Size 64 the
    // broker does not send a larger PUBLISH: it drops it and goes on with the next one.
    let mut c = connect_packet(ProtocolVersion::V5, "small");
    let mut props = ConnectProperties::default();
    props.maximum_packet_size = NonZeroU32::new(64);
    c.properties = props;
    let (mut small, _) = Raw::connect(b.addr, c).await;
    subscribed(&mut small, "sized", QoS::AtLeastOnce).await;
    let mut pubber = Raw::connect_ok(b.addr, ProtocolVersion::V5, "pubber").await;
    for payload in [&[b'y'; 100][..], b"fits"] {
        let m = Publish::new(
            TopicName::try_from("sized").unwrap(),
            QosPid::AtLeastOnce(pid(1)),
            Bytes::copy_from_slice(payload),
        );
        pubber.send(Packet::Publish(m)).await;
        assert!(matches!(pubber.recv().await, Packet::PubAck(_)));
    }
    match small.recv().await {
        Packet::Publish(p) => assert_eq!(p.payload(), b"fits"),
        other => panic!("expected the small message, got {other:?}"),
    }
    b.shutdown().await;
}

#[tokio::test]
async fn connect_timeout_closes_silent_and_half_sent_connections() {
    let mut config = test_config();
    config.session.connect_timeout = Duration::from_millis(300);
    let b = TestBroker::with_config(config).await;
    let mut by = Bystander::new(&b, "bystander").await;
    let started = Instant::now();
    let mut silent = Raw::tcp(b.addr, ProtocolVersion::V5).await;
    let mut half = Raw::tcp(b.addr, ProtocolVersion::V5).await;
    half.send_bytes(b"\x10\x0d\x00\x04MQ").await;
    // Bounded by the helpers' timeout; closed without a CONNACK.
    assert!(silent.closed().await.is_empty());
    assert!(half.closed().await.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < TIMEOUT);
    by.still_served().await;
    b.shutdown().await;
}

#[tokio::test]
async fn keep_alive_expiry_closes_idle_clients_and_publishes_their_will() {
    let b = TestBroker::start().await;
    let mut watcher = Raw::connect_ok(b.addr, ProtocolVersion::V5, "watcher").await;
    subscribed(&mut watcher, "lost/#", QoS::AtMostOnce).await;
    let idle = |version, id: &'static str| {
        let addr = b.addr;
        async move {
            let mut c = connect_packet(version, id);
            c.keep_alive = 1;
            c.will = Some(common::will(&format!("lost/{id}"), b"timeout"));
            let (mut raw, ack) = Raw::connect(addr, c).await;
            assert_eq!(ack.reason_code, ReasonCode::Success);
            let started = Instant::now();
            let before = raw.closed().await;
            (started.elapsed(), before)
        }
    };
    // Both versions at once: the suite pays 1.5 s once.
    let ((t5, p5), (t3, p3)) = tokio::join!(
        idle(ProtocolVersion::V5, "idle5"),
        idle(ProtocolVersion::V3_1_1, "idle3")
    );
    // v5 [MQTT-3.1.2-22]: closed after 1.5 × Keep Alive of silence, with DISCONNECT 0x8D.
    assert!(t5 >= Duration::from_millis(1400), "{t5:?}");
    let timed_out = |d: &starling_codec::Disconnect| d.reason_code == ReasonCode::KeepAliveTimeout;
    assert!(
        matches!(p5.as_slice(), [Packet::Disconnect(d)] if timed_out(d)),
        "{p5:?}"
    );
    // v3.1.1 [MQTT-3.1.2-24]: disconnected as if the network had failed.
    assert!(t3 >= Duration::from_millis(1400), "{t3:?}");
    assert!(p3.is_empty());
    // ...so both wills are published.
    let mut wills = Vec::new();
    for _ in 0..2 {
        match watcher.recv().await {
            Packet::Publish(p) => wills.push(p.topic().to_owned()),
            other => panic!("expected a will, got {other:?}"),
        }
    }
    wills.sort();
    assert_eq!(wills, ["lost/idle3", "lost/idle5"]);
    b.shutdown().await;
}

#[tokio::test]
async fn receive_maximum_exceeded_is_0x93() {
    let mut config = test_config();
    config.session.receive_maximum = 2;
    let b = TestBroker::with_config(config).await;
    let mut by = Bystander::new(&b, "bystander").await;
    let (mut raw, ack) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "greedy")).await;
    assert_eq!(ack.properties.receive_maximum.map(|r| r.get()), Some(2));
    // QoS 2 messages stay unacknowledged (for the quota) until PUBCOMP: PUBREL is withheld.
    for id in 1..=2 {
        raw.send(Packet::Publish(publish(
            "rm",
            QosPid::ExactlyOnce(pid(id)),
            b"x",
        )))
        .await;
        assert!(matches!(raw.recv().await, Packet::PubRec(_)));
    }
    // Completing one frees one slot.
    raw.send(Packet::PubRel(PubRel::new(pid(1)))).await;
    assert!(matches!(raw.recv().await, Packet::PubComp(_)));
    raw.send(Packet::Publish(publish(
        "rm",
        QosPid::ExactlyOnce(pid(3)),
        b"x",
    )))
    .await;
    assert!(matches!(raw.recv().await, Packet::PubRec(_)));
    // A third unacknowledged one exceeds Receive Maximum.
    raw.send(Packet::Publish(publish(
        "rm",
        QosPid::ExactlyOnce(pid(4)),
        b"x",
    )))
    .await;
    assert_eq!(
        raw.disconnect_reason().await,
        Some(ReasonCode::ReceiveMaximumExceeded)
    );
    by.still_served().await;
    b.shutdown().await;
}

#[tokio::test]
async fn invalid_topic_aliases_are_0x94_and_unknown_ones_0x82() {
    let b = TestBroker::start().await;
    let mut by = Bystander::new(&b, "bystander").await;
    let (_, ack) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "probe")).await;
    let max = ack.properties.topic_alias_maximum.expect("aliases offered");
    let mut over = publish("t", QosPid::AtMostOnce, b"x");
    over.properties.topic_alias = std::num::NonZeroU16::new(max + 1);
    // Alias 0 cannot be built through the codec's types: hand-encode it (property 0x23).
    // v5 [MQTT-3.3.2-8]: a Topic Alias of 0 is a Topic Alias invalid.
    let zero = b"\x30\x07\x00\x01t\x03\x23\x00\x00";
    assert_eq!(
        v5_violation(&b, zero).await,
        Some(ReasonCode::TopicAliasInvalid)
    );
    // v5 [MQTT-3.3.2-9]: above the Topic Alias Maximum of the CONNACK.
    let mut bytes = BytesMut::new();
    Packet::Publish(over)
        .encode(ProtocolVersion::V5, &mut bytes)
        .unwrap();
    assert_eq!(
        v5_violation(&b, &bytes).await,
        Some(ReasonCode::TopicAliasInvalid)
    );
    // An empty topic with an alias never set: Protocol Error (v5 §3.3.2.3.4).
    let unknown = b"\x30\x07\x00\x00\x03\x23\x00\x01x";
    assert_eq!(
        v5_violation(&b, unknown).await,
        Some(ReasonCode::ProtocolError)
    );
    by.still_served().await;
    b.shutdown().await;
}

#[tokio::test]
async fn max_connections_refuses_the_extra_connection_with_connack_0x97() {
    let mut config = test_config();
    config.max_connections = 2;
    let b = TestBroker::with_config(config).await;
    let mut one = Raw::connect_ok(b.addr, ProtocolVersion::V5, "one").await;
    let _two = Raw::connect_ok(b.addr, ProtocolVersion::V5, "two").await;
    let mut third = Raw::tcp(b.addr, ProtocolVersion::V5).await;
    third
        .send(Packet::Connect(Box::new(connect_packet(
            ProtocolVersion::V5,
            "three",
        ))))
        .await;
    let answered = third.closed().await;
    assert!(
        matches!(&answered[..], [Packet::ConnAck(a)] if a.reason_code == ReasonCode::QuotaExceeded),
        "the third connection gets CONNACK 0x97 and is closed: {answered:?}"
    );
    // The admitted ones keep working; when one leaves, a new one fits.
    subscribed(&mut one, "c", QoS::AtMostOnce).await;
    drop(one);
    b.wait_connections(1).await;
    let _three = Raw::connect_ok(b.addr, ProtocolVersion::V5, "three").await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_subscriber_that_never_reads_does_not_slow_or_bloat_the_others() {
    let mut config = test_config();
    config.max_outbox_qos0 = 64;
    config.max_outbox = 256;
    let b = TestBroker::with_config(config).await;
    // The slow one subscribes and then never reads again.
    let mut slow = Raw::connect_ok(b.addr, ProtocolVersion::V5, "slow").await;
    subscribed(&mut slow, "flood", QoS::AtMostOnce).await;
    let mut fast = Raw::connect_ok(b.addr, ProtocolVersion::V5, "fast").await;
    subscribed(&mut fast, "flood", QoS::AtMostOnce).await;
    let mut pubber = Raw::connect_ok(b.addr, ProtocolVersion::V5, "pubber").await;
    // 4000 × 8 KiB = 32 MiB: far more than the socket buffers and outbox of the slow one hold.
    const N: usize = 4000;
    const WINDOW: usize = 32; // the fast subscriber is never more than this behind
    let payload = Bytes::from(vec![b'z'; 8 * 1024]);
    let started = Instant::now();
    let mut received = 0;
    for i in 0..N {
        let m = Publish::new(
            TopicName::try_from("flood").unwrap(),
            QosPid::AtMostOnce,
            payload.clone(),
        );
        pubber.send(Packet::Publish(m)).await;
        if i >= WINDOW {
            assert!(matches!(fast.recv().await, Packet::Publish(_)));
            received += 1;
        }
    }
    while received < N {
        assert!(matches!(fast.recv().await, Packet::Publish(_)));
        received += 1;
    }
    // Everything reached the fast subscriber at QoS 0, within the bound of the test.
    assert!(started.elapsed() < TIMEOUT, "{:?}", started.elapsed());
    // The slow subscriber's excess was dropped and counted, not queued without bound.
    let dropped = b.handle.metrics().dropped_slow.load(Ordering::Relaxed);
    assert!(dropped as usize >= N / 2, "dropped_slow = {dropped}");
    drop(slow);
    b.shutdown().await;
}
