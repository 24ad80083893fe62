//! Heap allocations on a server session's delivery path, counted by a wrapping global allocator:
//! once a connection is warmed up (its write buffer and flow table have grown to the traffic),
//! delivering a shared message — QoS 0, or QoS 1 with its PUBACK read back — allocates nothing
//! per message. The one allocation per published message is the broker's `Arc<Message>`, shared
//! by every subscriber (the "shared payload"); it is made before this path and not counted here.
//!
//! The counting allocator is `starling-alloc-count` (a dev-dependency).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use starling_alloc_count::allocations;
use starling_codec::{Connect, Packet, PacketId, ProtocolVersion, PubAck, QoS, TopicName};
use starling_session::{
    Accept, DeliveryOptions, Message, ServerConfig, ServerEvent, ServerSession,
};
use std::{sync::Arc, time::Instant};

/// A session past CONNECT/CONNACK, configured as the broker configures its own.
fn connected(version: ProtocolVersion, now: Instant) -> ServerSession {
    let mut config = ServerConfig::default();
    config.report_deliveries = false;
    let mut session = ServerSession::new(now, config);
    let mut connect = Connect::new(version, starling_codec::MqttStr::try_from("c").unwrap());
    connect.keep_alive = 0;
    let mut bytes = BytesMut::new();
    Packet::Connect(Box::new(connect))
        .encode(version, &mut bytes)
        .unwrap();
    session.handle_bytes(now, &mut bytes);
    assert!(matches!(
        session.poll_event(),
        Some(ServerEvent::Connect(_))
    ));
    session.accept(now, Accept::new()).unwrap();
    session.transmit_buffer().clear();
    session
}

/// Delivers `n` copies of `message` at `qos`, acknowledging each QoS 1 copy as a client would,
/// and empties the write buffer after each (as the broker does after writing it out).
fn traffic(
    session: &mut ServerSession,
    message: &Arc<Message>,
    qos: QoS,
    n: u32,
    acks: &mut BytesMut,
) {
    let now = Instant::now();
    for _ in 0..n {
        let options = DeliveryOptions {
            qos,
            ..Default::default()
        };
        session
            .deliver_shared(now, message.clone(), options)
            .unwrap();
        let sent = session.transmit_buffer();
        // The packet identifier is the two bytes after the fixed header and the topic.
        let topic_end = 2 + 2 + message.topic.len();
        let id = (qos != QoS::AtMostOnce)
            .then(|| u16::from_be_bytes([sent[topic_end], sent[topic_end + 1]]));
        sent.clear();
        if let Some(id) = id {
            PubAck::encode_bare(PacketId::new(id).unwrap(), acks);
            session.handle_bytes(now, acks);
        }
    }
}

#[test]
fn delivering_a_shared_message_allocates_nothing_per_message() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let now = Instant::now();
        let mut session = connected(version, now);
        let message = Arc::new(Message::new(
            TopicName::try_from("sensors/building-1/floor-2/temperature").unwrap(),
            Bytes::from(vec![0xA5; 64]),
            QoS::AtLeastOnce,
            false,
        ));
        let mut acks = BytesMut::with_capacity(64);
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            // Warm-up: buffers and the flow table reach their working size.
            traffic(&mut session, &message, qos, 100, &mut acks);
            let ((), n) = allocations(|| traffic(&mut session, &message, qos, 10_000, &mut acks));
            assert_eq!(
                n, 0,
                "{version:?} {qos:?}: {n} allocations for 10,000 deliveries"
            );
        }
        assert_eq!(session.inflight_len(), 0);
    }
}
