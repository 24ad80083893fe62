#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Interop with the Python paho-mqtt 2.x client (MQTTv311 and MQTTv5) against a broker spawned
//! on port 0. The peer is `tests/paho/client.py` (modes `sub`, `pub`, `die`); each run is
//! bounded by a timeout and killed through its own handle. A subscriber prints `READY` after
//! its SUBACK and one JSON line (sorted keys) per message.
//!
//! A missing `python3` or paho-mqtt fails with a pointer to `scripts/install-test-deps.sh`.

mod common;

use common::{Proc, Raw, TestBroker};
use starling_codec::{Packet, ProtocolVersion, QoS, Subscribe, SubscriptionOptions, TopicFilter};
use std::collections::BTreeSet;

const VERSIONS: [&str; 2] = ["311", "5"];
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/paho/client.py");

async fn require_paho() {
    common::require_binary("python3");
    let a = args![
        "-c",
        "import paho.mqtt.client as m; assert m.CallbackAPIVersion"
    ];
    let status = common::within(
        "python3 import check",
        tokio::process::Command::new("python3")
            .args(&a)
            .kill_on_drop(true)
            .status(),
    )
    .await
    .expect("run python3");
    assert!(
        status.success(),
        "paho-mqtt 2.x is not importable by python3: run scripts/install-test-deps.sh"
    );
}

fn paho(b: &TestBroker, mode: &str, v: &str, id: &str, extra: Vec<String>) -> Proc {
    let mut a = args![SCRIPT, mode, "--port", b.port(), "--version", v, "--id", id];
    a.extend(extra);
    Proc::spawn("python3", &a)
}

/// A paho subscriber that has its SUBACK.
async fn sub(b: &TestBroker, v: &str, id: &str, extra: Vec<String>) -> Proc {
    let mut p = paho(b, "sub", v, id, extra);
    p.line_where(|l| l == "READY").await;
    p
}

/// Publishes `messages` (JSON specs) with paho and waits until every one is complete.
async fn publ(b: &TestBroker, v: &str, messages: &[String]) {
    let mut extra = Vec::new();
    for m in messages {
        extra.extend(args!["--message", m]);
    }
    paho(b, "pub", v, &format!("ppub-{v}"), extra)
        .finish()
        .await;
}

/// The message lines of a subscriber's output.
fn messages(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .filter(|l| l.starts_with('{') && !l.contains("\"connected\""))
        .collect()
}

fn msg(topic: &str, payload: &str, qos: u8, retain: bool) -> String {
    format!(r#"{{"payload": "{payload}", "qos": {qos}, "retain": {retain}, "topic": "{topic}"}}"#)
}

fn spec(topic: &str, payload: &str, qos: u8, retain: bool) -> String {
    format!(r#"{{"topic": "{topic}", "payload": "{payload}", "qos": {qos}, "retain": {retain}}}"#)
}

#[tokio::test]
async fn qos_0_1_2_between_paho_clients_with_downgrade() {
    require_paho().await;
    let b = TestBroker::start().await;
    for v in VERSIONS {
        let topic = format!("pq{v}/#");
        let s2 = sub(
            &b,
            v,
            &format!("psub2-{v}"),
            args!["--topic", topic, "--qos", 2, "--count", 3],
        )
        .await;
        let s1 = sub(
            &b,
            v,
            &format!("psub1-{v}"),
            args!["--topic", topic, "--qos", 1, "--count", 3],
        )
        .await;
        let specs: Vec<String> = (0..3u8)
            .map(|q| spec(&format!("pq{v}/{q}"), &format!("m{q}"), q, false))
            .collect();
        publ(&b, v, &specs).await;
        let want: Vec<String> = (0..3u8)
            .map(|q| msg(&format!("pq{v}/{q}"), &format!("m{q}"), q, false))
            .collect();
        assert_eq!(messages(s2.finish().await), want, "{v} QoS 2 subscriber");
        let want: Vec<String> = (0..3u8)
            .map(|q| msg(&format!("pq{v}/{q}"), &format!("m{q}"), q.min(1), false))
            .collect();
        // v3.1.1 [MQTT-3.8.4-6]: min(published, granted).
        assert_eq!(messages(s1.finish().await), want, "{v} QoS 1 subscriber");
    }
    b.shutdown().await;
}

#[tokio::test]
async fn retained_message_reaches_a_later_paho_subscriber_with_the_retain_flag() {
    require_paho().await;
    let b = TestBroker::start().await;
    for v in VERSIONS {
        let topic = format!("pret/{v}");
        publ(
            &b,
            v,
            &[spec(&topic, "old", 1, true), spec(&topic, "new", 1, true)],
        )
        .await;
        let s = paho(
            &b,
            "sub",
            v,
            &format!("pret-{v}"),
            args!["--topic", topic, "--qos", 1, "--count", 1],
        );
        assert_eq!(
            messages(s.finish().await),
            [msg(&topic, "new", 1, true)],
            "{v}"
        );
    }
    b.shutdown().await;
}

#[tokio::test]
async fn will_of_a_paho_client_that_dies_is_published() {
    require_paho().await;
    let b = TestBroker::start().await;
    let mut watcher = Raw::connect_ok(b.addr, ProtocolVersion::V5, "pwatcher").await;
    watcher
        .send(Packet::Subscribe(Subscribe {
            packet_id: starling_codec::PacketId::new(1).unwrap(),
            filters: vec![(
                TopicFilter::try_from("pwill/#").unwrap(),
                SubscriptionOptions::new(QoS::AtMostOnce),
            )],
            properties: Default::default(),
        }))
        .await;
    assert!(matches!(watcher.recv().await, Packet::SubAck(_)));
    for v in VERSIONS {
        let extra = args![
            "--will-topic",
            format!("pwill/{v}"),
            "--will-payload",
            "lost"
        ];
        let mut dying = paho(&b, "die", v, &format!("pdie-{v}"), extra);
        dying.line_where(|l| l == "CONNECTED").await;
        dying.finish().await; // the process ends without DISCONNECT
                              // v3.1.1 [MQTT-3.1.2-8], v5 [MQTT-3.1.2-8].
        match watcher.recv().await {
            Packet::Publish(p) => {
                assert_eq!(p.topic(), format!("pwill/{v}"));
                assert_eq!(p.payload(), b"lost");
            }
            other => panic!("expected the will, got {other:?}"),
        }
    }
    b.shutdown().await;
}

#[tokio::test]
async fn persistent_paho_session_receives_what_was_queued_while_offline() {
    require_paho().await;
    let b = TestBroker::start().await;
    for v in VERSIONS {
        let id = format!("ppers-{v}");
        let topic = format!("ppers/{v}");
        let s = sub(
            &b,
            v,
            &id,
            args!["--persistent", "--topic", topic, "--qos", 1, "--count", 1],
        )
        .await;
        publ(&b, v, &[spec(&topic, "online", 1, false)]).await;
        assert_eq!(
            messages(s.finish().await),
            [msg(&topic, "online", 1, false)]
        );
        b.wait_connections(0).await;
        publ(
            &b,
            v,
            &[spec(&topic, "q1", 1, false), spec(&topic, "q2", 1, false)],
        )
        .await;
        // No SUBSCRIBE this time: the session kept it (v3.1.1 [MQTT-3.1.2-4],
        // v5 [MQTT-3.1.2-5]); Session Present is set (v3.1.1 [MQTT-3.2.2-2]).
        let back = paho(&b, "sub", v, &id, args!["--persistent", "--count", 2]);
        let lines = back.finish().await;
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"session_present\": true")),
            "{v}: {lines:?}"
        );
        assert_eq!(
            messages(lines),
            [msg(&topic, "q1", 1, false), msg(&topic, "q2", 1, false)]
        );
        b.wait_connections(0).await;
    }
    b.shutdown().await;
}

#[tokio::test]
async fn shared_subscription_between_paho_clients_delivers_each_message_once() {
    require_paho().await;
    let b = TestBroker::start().await;
    let member = || {
        args![
            "--topic",
            "$share/pg/pjobs",
            "--topic",
            "pjobs-done",
            "--qos",
            1,
            "--exit-topic",
            "pjobs-done"
        ]
    };
    let m1 = sub(&b, "5", "pmember-1", member()).await;
    let m2 = sub(&b, "5", "pmember-2", member()).await;
    const N: usize = 10;
    let mut specs: Vec<String> = (0..N)
        .map(|i| spec("pjobs", &format!("job{i}"), 1, false))
        .collect();
    specs.push(spec("pjobs-done", "", 1, false));
    publ(&b, "5", &specs).await;
    let (l1, l2) = (messages(m1.finish().await), messages(m2.finish().await));
    assert!(
        !l1.is_empty() && !l2.is_empty(),
        "load-balanced: {l1:?} / {l2:?}"
    );
    let all: Vec<String> = l1.iter().chain(&l2).cloned().collect();
    let distinct: BTreeSet<_> = all.iter().collect();
    assert_eq!(
        (all.len(), distinct.len()),
        (N, N),
        "each job exactly once: {all:?}"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn request_response_properties_between_paho_clients_are_unchanged() {
    require_paho().await;
    let b = TestBroker::start().await;
    let s = sub(
        &b,
        "5",
        "presponder",
        args!["--topic", "prr/req", "--qos", 1, "--count", 1],
    )
    .await;
    let request = r#"{"topic": "prr/req", "payload": "{}", "qos": 1, "props": {
        "ResponseTopic": "prr/reply", "CorrelationData": "00ff10", "ContentType": "application/json",
        "PayloadFormatIndicator": 1, "UserProperty": [["a", "1"], ["a", "2"], ["b", "x"]]}}"#;
    publ(&b, "5", &[request.replace('\n', " ")]).await;
    let got = messages(s.finish().await);
    let want = concat!(
        r#"{"ContentType": "application/json", "CorrelationData": "00ff10", "PayloadFormatIndicator": 1, "#,
        r#""ResponseTopic": "prr/reply", "UserProperty": [["a", "1"], ["a", "2"], ["b", "x"]], "#,
        r#""payload": "{}", "qos": 1, "retain": false, "topic": "prr/req"}"#
    );
    assert_eq!(got, [want]);
    b.shutdown().await;
}
