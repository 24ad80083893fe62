//! `SessionState` through JSON (feature `serde`): everything a session keeps comes back equal,
//! message expiry as an absolute date (within a second), and invalid input is an error.
//!
//! Empty without the feature: `cargo test -p starling-session --features serde` runs it.
#![cfg(feature = "serde")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use serde_json::{json, Value};
use starling_codec::{
    MqttStr, PacketId, PayloadFormat, Publish, PublishProperties, QoS, QosPid, RetainHandling,
    SubscriptionOptions, TopicFilter, TopicName,
};
use starling_session::{
    DeliveryOptions, InflightPublish, Message, OutboundStage, QueuedMessage, SessionState,
    Subscription,
};
use std::{
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

fn pid(id: u16) -> PacketId {
    PacketId::new(id).unwrap()
}

fn topic(s: &str) -> TopicName {
    TopicName::try_from(s).unwrap()
}

fn subscription(filter: &str, options: SubscriptionOptions, id: Option<u32>) -> Subscription {
    Subscription {
        filter: TopicFilter::try_from(filter).unwrap(),
        options,
        identifier: id.and_then(NonZeroU32::new),
    }
}

fn inflight(qos: QoS, id: u16, stage: OutboundStage, group: Option<&str>) -> InflightPublish {
    let mut publish = Publish::new(
        topic(&format!("out/{id}")),
        QosPid::new(qos, pid(id)),
        Bytes::from(format!("payload {id}")),
    );
    publish.properties.message_expiry_interval = Some(60);
    publish.properties.subscription_identifiers = vec![NonZeroU32::new(3).unwrap()];
    InflightPublish {
        publish,
        stage,
        shared_group: group.map(Arc::from),
    }
}

fn state(now: Instant) -> SessionState {
    let mut state = SessionState::default();
    let v5_options = SubscriptionOptions {
        qos: QoS::ExactlyOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: RetainHandling::SendAtSubscribeIfNew,
    };
    for sub in [
        subscription("a/+/c", SubscriptionOptions::new(QoS::AtLeastOnce), None),
        subscription("$share/workers/jobs/#", v5_options, Some(7)),
        subscription(
            "#",
            SubscriptionOptions::new(QoS::AtMostOnce),
            Some(268_435_455),
        ),
    ] {
        state.subscriptions.insert(sub.filter.to_string(), sub);
    }
    state.inflight = vec![
        inflight(QoS::AtLeastOnce, 1, OutboundStage::AwaitingPubAck, None),
        inflight(
            QoS::ExactlyOnce,
            2,
            OutboundStage::AwaitingPubRec,
            Some("workers"),
        ),
        inflight(
            QoS::ExactlyOnce,
            65535,
            OutboundStage::AwaitingPubComp,
            None,
        ),
    ];
    state.inbound_qos2 = [1, 42, 65535].into_iter().collect();
    state.next_packet_id = pid(3);

    let mut properties = PublishProperties::default();
    properties.payload_format_indicator = Some(PayloadFormat::Utf8);
    properties.content_type = Some(MqttStr::try_from("application/json").unwrap());
    properties.response_topic = Some(topic("reply/here"));
    properties.correlation_data = Some(Bytes::from_static(b"\x00\x01\xff"));
    properties.user_properties = vec![
        (
            MqttStr::try_from("k").unwrap(),
            MqttStr::try_from("v1").unwrap(),
        ),
        (
            MqttStr::try_from("k").unwrap(),
            MqttStr::try_from("v2").unwrap(),
        ),
    ];
    let mut with_expiry = Message::new(
        topic("jobs/1"),
        Bytes::from_static(b"{\"job\":1}"),
        QoS::ExactlyOnce,
        true,
    );
    with_expiry.properties = properties.into();
    with_expiry.expires_at = Some(now + Duration::from_secs(3600));
    state.queued.push_back(QueuedMessage {
        message: with_expiry,
        options: DeliveryOptions {
            qos: QoS::AtLeastOnce,
            retain_as_published: true,
            from_retained: false,
            subscription_identifiers: vec![NonZeroU32::new(7).unwrap()],
            shared_group: Some(Arc::from("workers")),
        },
    });
    state.queued.push_back(QueuedMessage {
        message: Message::new(topic("a/b/c"), Bytes::new(), QoS::AtMostOnce, false),
        options: DeliveryOptions::default(),
    });
    state
}

/// `restored` equals `original` once message expiries within a second of each other are
/// aligned.
fn assert_same(original: &SessionState, mut restored: SessionState) {
    assert_eq!(restored.queued.len(), original.queued.len());
    for (back, queued) in restored.queued.iter_mut().zip(&original.queued) {
        match (back.message.expires_at, queued.message.expires_at) {
            (None, None) => {}
            (Some(back_at), Some(at)) => {
                let skew = back_at.max(at) - back_at.min(at);
                assert!(skew < Duration::from_secs(1), "expiry moved by {skew:?}");
                back.message.expires_at = Some(at);
            }
            other => panic!("expiry lost or invented: {other:?}"),
        }
    }
    assert_eq!(&restored, original);
}

#[test]
fn session_state_round_trips_through_json() {
    let now = Instant::now();
    let original = state(now);
    let text = serde_json::to_string(&original).unwrap();
    let restored: SessionState = serde_json::from_str(&text).unwrap();
    assert_same(&original, restored);

    // The remaining expiry is what a delivery would send.
    let restored: SessionState = serde_json::from_str(&text).unwrap();
    let left = restored.queued[0].message.remaining_expiry(Instant::now());
    assert!(matches!(left, Some(3599..=3600)), "{left:?}");

    // And a second trip gives the same document, expiry aside.
    let again = serde_json::to_value(&restored).unwrap();
    let mut first: Value = serde_json::from_str(&text).unwrap();
    let mut second = again;
    for doc in [&mut first, &mut second] {
        doc["queued"][0]["message"]["expires_at"] = Value::Null;
    }
    assert_eq!(first, second);
}

#[test]
fn empty_state_and_expired_messages_round_trip() {
    let empty = SessionState::default();
    let back: SessionState = serde_json::from_str(&serde_json::to_string(&empty).unwrap()).unwrap();
    assert_eq!(back, empty);
    assert!(back.is_empty());

    // An expiry that has passed stays passed.
    let now = Instant::now();
    let mut state = SessionState::default();
    let mut message = Message::new(topic("t"), Bytes::new(), QoS::AtLeastOnce, false);
    message.expires_at = now.checked_sub(Duration::from_secs(10));
    let Some(past) = message.expires_at else {
        return; // the monotonic clock started less than 10 s ago
    };
    state.queued.push_back(QueuedMessage {
        message,
        options: DeliveryOptions::default(),
    });
    let back: SessionState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    let at = back.queued[0].message.expires_at.unwrap();
    assert!(back.queued[0].message.is_expired(Instant::now()));
    assert!(at.max(past) - at.min(past) < Duration::from_secs(1));

    // A missing expiry field means none; a date long past is expired, never a panic.
    let mut doc = serde_json::to_value(&state).unwrap();
    doc["queued"][0]["message"]
        .as_object_mut()
        .unwrap()
        .remove("expires_at");
    let back: SessionState = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(back.queued[0].message.expires_at, None);
    doc["queued"][0]["message"]["expires_at"] = json!(0);
    let back: SessionState = serde_json::from_value(doc).unwrap();
    assert!(back.queued[0].message.is_expired(Instant::now()));
}

#[test]
fn invalid_documents_are_errors() {
    let valid = serde_json::to_value(state(Instant::now())).unwrap();
    let rejects = |edit: &dyn Fn(&mut Value)| {
        let mut doc = valid.clone();
        edit(&mut doc);
        let result = serde_json::from_value::<SessionState>(doc);
        assert!(result.is_err(), "accepted: {result:?}");
    };
    // v5 [MQTT-4.7.1-1], v5 [MQTT-4.7.1-2], v5 [MQTT-4.8.2-1]: invalid topic filters.
    for bad in ["a/#/b", "a+", "", "$share//x", "$share/g"] {
        rejects(&|doc| doc["subscriptions"]["a/+/c"]["filter"] = json!(bad));
    }
    // v5 [MQTT-2.2.1-3]: packet identifier 0, wherever it appears.
    rejects(&|doc| doc["next_packet_id"] = json!(0));
    rejects(&|doc| doc["inflight"][0]["publish"]["qos_pid"] = json!({ "AtLeastOnce": 0 }));
    rejects(&|doc| doc["next_packet_id"] = json!(70000));
    // v5 [MQTT-3.3.2-2]: a wildcard in a topic name.
    rejects(&|doc| doc["queued"][0]["message"]["topic"] = json!("jobs/+"));
    rejects(&|doc| doc["inflight"][1]["publish"]["topic"] = json!("#"));
    // v5 [MQTT-1.5.4-2]: U+0000 in a string.
    rejects(&|doc| {
        doc["queued"][0]["message"]["properties"]["content_type"] = json!("a\u{0}b");
    });
    // Subscription identifier 0, unknown stage, negative expiry.
    rejects(&|doc| doc["subscriptions"]["a/+/c"]["identifier"] = json!(0));
    rejects(&|doc| doc["inflight"][0]["stage"] = json!("AwaitingPubFoo"));
    rejects(&|doc| doc["queued"][0]["message"]["expires_at"] = json!(-1));
}
