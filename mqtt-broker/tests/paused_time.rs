#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The broker's timers in virtual time: in-process (duplex) clients and the broker share a
//! paused tokio clock, which only moves when every task is idle. A test can so wait thirty
//! seconds of protocol time in no time at all, and observe exactly when the broker acts: keep
//! alive expiry, will delay, session expiry and message expiry. Elapsed times are asserted to
//! the second (the clock is virtual, so they are exact, not "about").

mod common;

use common::{now, Driven, TestBroker};
use starling_codec::{
    ConnectProperties, DisconnectProperties, MqttStr, ProtocolVersion, PublishProperties, QoS,
    ReasonCode, TopicName, Will,
};
use starling_session::{ClientCloseReason, ClientConfig, ClientEvent, PublishRequest};
use std::time::Duration;
use tokio::{io::DuplexStream, time::Instant};

/// Every wait in virtual time is bounded by this (far above the timers under test).
const LIMIT: Duration = Duration::from_secs(600);

fn config(id: &str) -> ClientConfig {
    ClientConfig::new(ProtocolVersion::V5, MqttStr::try_from(id).unwrap())
}

fn will(topic: &str, delay: Option<u32>) -> Will {
    let mut will = Will::new(
        TopicName::try_from(topic).unwrap(),
        "gone",
        QoS::AtLeastOnce,
    );
    will.properties.will_delay_interval = delay;
    will
}

/// A connected in-process v5 client.
async fn client(b: &TestBroker, config: ClientConfig) -> (Driven<DuplexStream>, bool) {
    let mut c = Driven::with_config(b.handle.connect_in_process(), config, LIMIT);
    let present = c.connected().await;
    (c, present)
}

/// A client with a session that outlives the connection by `expiry` seconds.
fn persistent(id: &str, expiry: u32) -> ClientConfig {
    let mut c = config(id);
    c.clean_start = false;
    c.properties = ConnectProperties::default();
    c.properties.session_expiry_interval = Some(expiry);
    c
}

async fn publish(
    c: &mut Driven<DuplexStream>,
    topic: &str,
    payload: &'static str,
    expiry: Option<u32>,
) {
    let mut request = PublishRequest::new(
        TopicName::try_from(topic).unwrap(),
        payload,
        QoS::AtLeastOnce,
    );
    request.properties = PublishProperties::default();
    request.properties.message_expiry_interval = expiry;
    c.session.publish(now(), request).unwrap();
    c.published().await;
}

/// A normal DISCONNECT, then the connection is dropped.
async fn disconnect(mut c: Driven<DuplexStream>) {
    c.session
        .disconnect(ReasonCode::Success, DisconnectProperties::default());
    c.flush().await;
}

/// Whole seconds of virtual time since `start`.
fn seconds_since(start: Instant) -> u64 {
    start.elapsed().as_secs()
}

#[tokio::test(start_paused = true)]
async fn keep_alive_expiry_happens_at_one_and_a_half_times_the_interval() {
    let b = TestBroker::start().await;
    let (mut watcher, _) = client(&b, config("watcher")).await;
    watcher.subscribe("will/#", QoS::AtLeastOnce).await;

    // v5 [MQTT-3.1.2-22]: silent for 1.5 x its 10 s Keep Alive, the client is disconnected
    // (v5 §3.14.2.1: 0x8D Keep Alive timeout) and its will is published.
    let mut c = config("silent");
    c.keep_alive = 10;
    c.will = Some(will("will/silent", None));
    let (mut silent, _) = client(&b, c).await;
    let start = Instant::now();
    let w = watcher.message().await;
    assert_eq!((w.topic(), w.payload()), ("will/silent", &b"gone"[..]));
    assert_eq!(seconds_since(start), 15);
    match silent.event().await {
        ClientEvent::Closed {
            reason: ClientCloseReason::ServerDisconnect(d),
        } => assert_eq!(d.reason_code, ReasonCode::KeepAliveTimeout),
        other => panic!("expected DISCONNECT 0x8D, got {other:?}"),
    }
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_delayed_will_waits_its_delay_and_a_return_within_it_cancels_it() {
    let b = TestBroker::start().await;
    let (mut watcher, _) = client(&b, config("watcher")).await;
    watcher.subscribe("will/#", QoS::AtLeastOnce).await;

    // v5 [MQTT-3.1.2-8]: published when the delay has passed (the session lasts longer).
    let mut c = persistent("late", 300);
    c.will = Some(will("will/late", Some(30)));
    let (late, _) = client(&b, c).await;
    drop(late);
    let start = Instant::now();
    let w = watcher.message().await;
    assert_eq!(w.topic(), "will/late");
    assert_eq!(seconds_since(start), 30);

    // v5 [MQTT-3.1.3-9]: a client that comes back after 20 s cancels its will: nothing
    // arrives in the next minute but the marker published after it.
    let mut c = persistent("back", 300);
    c.will = Some(will("will/back", Some(30)));
    let (back, _) = client(&b, c.clone()).await;
    drop(back);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let (_back, present) = client(&b, c).await;
    assert!(present, "the session outlived the connection");
    tokio::time::sleep(Duration::from_secs(60)).await;
    publish(&mut watcher, "will/marker", "end", None).await;
    assert_eq!(watcher.message().await.topic(), "will/marker");
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_session_is_kept_until_its_expiry_interval_and_no_longer() {
    let b = TestBroker::start().await;
    // v5 [MQTT-3.1.2-23]: kept for the Session Expiry Interval after the connection closes.
    let (mut first, present) = client(&b, persistent("p", 10)).await;
    assert!(!present);
    first.subscribe("t", QoS::AtLeastOnce).await;
    disconnect(first).await;

    tokio::time::sleep(Duration::from_secs(9)).await;
    let (second, present) = client(&b, persistent("p", 10)).await;
    assert!(present, "resumed 9 s into a 10 s expiry");
    disconnect(second).await;

    // The countdown starts again at each close: gone 10 s after the second one.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let (_third, present) = client(&b, persistent("p", 10)).await;
    assert!(!present, "expired 11 s after the close");
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn queued_messages_count_their_expiry_down_and_expired_ones_are_dropped() {
    let b = TestBroker::start().await;
    let (mut sub, _) = client(&b, persistent("sub", 600)).await;
    sub.subscribe("m/#", QoS::AtLeastOnce).await;
    disconnect(sub).await;

    let (mut publisher, _) = client(&b, config("pub")).await;
    publish(&mut publisher, "m/ten", "10 s", Some(10)).await;
    publish(&mut publisher, "m/five", "5 s", Some(5)).await;
    publish(&mut publisher, "m/forever", "no expiry", None).await;

    // v5 [MQTT-3.3.2-6]: delivered with the interval less the time it waited;
    // v5 [MQTT-3.3.2-5]: a message whose interval has passed is deleted.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (mut sub, present) = client(&b, persistent("sub", 600)).await;
    assert!(present);
    let first = sub.message().await;
    assert_eq!(first.topic(), "m/ten");
    assert_eq!(first.properties.message_expiry_interval, Some(4));
    let second = sub.message().await;
    assert_eq!(second.topic(), "m/forever");
    assert_eq!(second.properties.message_expiry_interval, None);
    b.shutdown().await;
}
