#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Interop with the real `mosquitto_pub` / `mosquitto_sub` (MQTT 3.1.1 and 5) against a broker
//! spawned on port 0. Every child exits by itself (`-C`, `-W`) and is bounded by a timeout and
//! killed through its own handle. `mosquitto_sub -d` prints the SUBACK it receives: that line is
//! the signal that the subscription exists before anything is published.
//!
//! Missing binaries fail with a pointer to `scripts/install-test-deps.sh`.

mod common;

use bytes::Bytes;
use common::{Proc, Raw, TestBroker};
use starling_codec::{Packet, ProtocolVersion, Publish, QoS, QosPid, Subscribe};
use starling_codec::{SubscriptionOptions, TopicFilter, TopicName};

const VERSIONS: [&str; 2] = ["311", "5"];

fn base(b: &TestBroker, v: &str, id: &str) -> Vec<String> {
    args!["-h", "127.0.0.1", "-p", b.port(), "-V", v, "-i", id]
}

/// `mosquitto_sub` with `-d`; returns once its SUBACK is printed.
async fn sub(b: &TestBroker, v: &str, id: &str, extra: Vec<String>) -> Proc {
    let mut a = base(b, v, id);
    a.extend(args!["-d", "-W", 10]);
    a.extend(extra);
    // `mosquitto_sub` block-buffers a pipe; `stdbuf -oL` makes each line visible at once.
    common::require_binary("mosquitto_sub");
    let mut line_buffered = args!["-oL", "mosquitto_sub"];
    line_buffered.extend(a);
    let mut p = Proc::spawn("stdbuf", &line_buffered);
    p.line_where(|l| l.contains("received SUBACK")).await;
    p
}

async fn publ(b: &TestBroker, v: &str, extra: Vec<String>) {
    let mut a = base(b, v, &format!("mpub-{v}"));
    a.extend(extra);
    common::run("mosquitto_pub", &a).await;
}

/// The message lines of a `mosquitto_sub -d` output (debug lines removed).
fn messages(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .filter(|l| !l.starts_with("Client ") && !l.starts_with("Subscribed"))
        .collect()
}

#[tokio::test]
async fn qos_0_1_2_from_mosquitto_pub_to_mosquitto_sub_with_downgrade() {
    let b = TestBroker::start().await;
    for v in VERSIONS {
        let fmt = args!["-F", "%q|%t|%p", "-C", 3, "-t", format!("mq{v}/#")];
        let mut q2 = args!["-q", 2];
        q2.extend(fmt.clone());
        let mut q0 = args!["-q", 0];
        q0.extend(fmt);
        let s2 = sub(&b, v, &format!("msub2-{v}"), q2).await;
        let s0 = sub(&b, v, &format!("msub0-{v}"), q0).await;
        for q in 0..3 {
            publ(
                &b,
                v,
                args!["-q", q, "-t", format!("mq{v}/{q}"), "-m", format!("m{q}")],
            )
            .await;
        }
        let want: Vec<String> = (0..3).map(|q| format!("{q}|mq{v}/{q}|m{q}")).collect();
        assert_eq!(messages(s2.finish().await), want, "-V {v} -q 2");
        // v3.1.1 [MQTT-3.8.4-6]: never above the granted QoS.
        let want: Vec<String> = (0..3).map(|q| format!("0|mq{v}/{q}|m{q}")).collect();
        assert_eq!(messages(s0.finish().await), want, "-V {v} -q 0");
    }
    b.shutdown().await;
}

#[tokio::test]
async fn retained_set_replace_and_clear_with_mosquitto_pub_r() {
    let b = TestBroker::start().await;
    for v in VERSIONS {
        let topic = format!("mret/{v}");
        for m in ["one", "two"] {
            publ(&b, v, args!["-q", 1, "-r", "-t", topic, "-m", m]).await;
        }
        // Retained messages arrive after the SUBACK by themselves: no -d needed.
        let mut a = base(&b, v, &format!("mret-sub-{v}"));
        a.extend(args!["-C", 1, "-W", 10, "-F", "%r|%p", "-t", topic]);
        assert_eq!(common::run("mosquitto_sub", &a).await, ["1|two"], "-V {v}");
        // Clear with an empty retained message (-n), then only live traffic arrives.
        publ(&b, v, args!["-q", 1, "-r", "-n", "-t", topic]).await;
        let s = sub(
            &b,
            v,
            &format!("mret-late-{v}"),
            args!["-C", 1, "-F", "%r|%p", "-t", topic],
        )
        .await;
        publ(&b, v, args!["-t", topic, "-m", "live"]).await;
        assert_eq!(messages(s.finish().await), ["0|live"], "-V {v}");
    }
    b.shutdown().await;
}

#[tokio::test]
async fn will_of_a_killed_mosquitto_sub_is_published_not_that_of_a_clean_exit() {
    let b = TestBroker::start().await;
    let mut watcher = Raw::connect_ok(b.addr, ProtocolVersion::V5, "watcher").await;
    watcher
        .send(Packet::Subscribe(Subscribe {
            packet_id: starling_codec::PacketId::new(1).unwrap(),
            filters: vec![(
                TopicFilter::try_from("mwill/#").unwrap(),
                SubscriptionOptions::new(QoS::AtMostOnce),
            )],
            properties: Default::default(),
        }))
        .await;
    assert!(matches!(watcher.recv().await, Packet::SubAck(_)));
    for v in VERSIONS {
        let will = args![
            "--will-topic",
            format!("mwill/{v}"),
            "--will-payload",
            "gone",
            "--will-qos",
            1
        ];
        let mut extra = args!["-t", "nothing"];
        extra.extend(will.clone());
        let dying = sub(&b, v, &format!("dying-{v}"), extra).await;
        dying.kill().await;
        // v3.1.1 [MQTT-3.1.2-8], v5 [MQTT-3.1.2-8]: published once the connection is lost.
        match watcher.recv().await {
            Packet::Publish(p) => {
                assert_eq!(
                    (p.topic(), p.payload()),
                    (format!("mwill/{v}").as_str(), &b"gone"[..])
                )
            }
            other => panic!("expected the will, got {other:?}"),
        }

        // A clean exit (-C 1: DISCONNECT after one message) discards the will.
        let mut extra = args!["-C", 1, "-t", format!("mexit/{v}")];
        extra.extend(will);
        let polite = sub(&b, v, &format!("polite-{v}"), extra).await;
        let m = Publish::new(
            TopicName::try_from(format!("mexit/{v}").as_str()).unwrap(),
            QosPid::AtMostOnce,
            Bytes::from_static(b"bye"),
        );
        watcher.send(Packet::Publish(m)).await;
        polite.finish().await;
        b.wait_connections(1).await; // the broker has handled the close
        let sentinel = Publish::new(
            TopicName::try_from("mwill/sentinel").unwrap(),
            QosPid::AtMostOnce,
            Bytes::from_static(b"s"),
        );
        watcher.send(Packet::Publish(sentinel)).await;
        // v3.1.1 [MQTT-3.14.4-3], v5 [MQTT-3.1.2-10]: no will after DISCONNECT.
        match watcher.recv().await {
            Packet::Publish(p) => assert_eq!(p.topic(), "mwill/sentinel"),
            other => panic!("expected the sentinel, got {other:?}"),
        }
    }
    b.shutdown().await;
}

#[tokio::test]
async fn persistent_session_of_mosquitto_sub_c_gets_what_was_queued_offline() {
    let b = TestBroker::start().await;
    for v in VERSIONS {
        let id = format!("mpers-{v}");
        let topic = format!("mpers/{v}");
        let opts = args!["-c", "-q", 1, "-t", topic, "-F", "%q|%p"];
        // First visit: subscribe (clean session off), get one message, leave with DISCONNECT.
        let mut first = opts.clone();
        first.extend(args!["-C", 1]);
        let s = sub(&b, v, &id, first).await;
        publ(&b, v, args!["-q", 1, "-t", topic, "-m", "online"]).await;
        assert_eq!(messages(s.finish().await), ["1|online"]);
        b.wait_connections(0).await;
        for m in ["queued1", "queued2"] {
            publ(&b, v, args!["-q", 1, "-t", topic, "-m", m]).await;
        }
        // Second visit: the queued QoS 1 messages arrive (v3.1.1 [MQTT-3.1.2-4]): the server
        // added them to the offline session's state (v3.1.1 [MQTT-4.5.0-1], v5 [MQTT-4.5.0-1]).
        let mut a = base(&b, v, &id);
        a.extend(opts);
        a.extend(args!["-C", 2, "-W", 10]);
        let got = common::run("mosquitto_sub", &a).await;
        assert_eq!(got, ["1|queued1", "1|queued2"], "-V {v}");
        // Leave no session behind for the next version's round.
        b.wait_connections(0).await;
    }
    b.shutdown().await;
}

#[tokio::test]
async fn v5_properties_pass_through_mosquitto_clients() {
    let b = TestBroker::start().await;
    let fmt = "%t|%p|%R|%D|%C|%F|%P";
    let s = sub(
        &b,
        "5",
        "mprops",
        args!["-C", 1, "-F", fmt, "-t", "mprops/req"],
    )
    .await;
    publ(
        &b,
        "5",
        args![
            "-t",
            "mprops/req",
            "-m",
            "{}",
            "-q",
            1,
            "-D",
            "publish",
            "response-topic",
            "mprops/reply",
            "-D",
            "publish",
            "correlation-data",
            "corr-42",
            "-D",
            "publish",
            "content-type",
            "application/json",
            "-D",
            "publish",
            "payload-format-indicator",
            1,
            "-D",
            "publish",
            "user-property",
            "k",
            "v",
        ],
    )
    .await;
    let got = messages(s.finish().await);
    assert_eq!(
        got,
        ["mprops/req|{}|mprops/reply|corr-42|application/json|1|k:v"]
    );
    b.shutdown().await;
}
