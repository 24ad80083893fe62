#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The embedding API: `connect_in_process()` driven by a sans-IO `ClientSession`, messages
//! between in-process, TCP and broker-published sources, and `shutdown()` (v5 DISCONNECT 0x8B
//! to every client, then every task joined).

mod common;

use bytes::Bytes;
use common::{within, Driven, Raw, TestBroker};
use starling_codec::{ProtocolVersion, QoS, ReasonCode, SubscriptionOptions};
use starling_codec::{TopicFilter, TopicName};
use starling_session::{ClientCloseReason, ClientEvent, PublishRequest};
use std::time::Instant;

#[tokio::test]
async fn in_process_client_session_publishes_and_receives_across_transports() {
    let b = TestBroker::start().await;
    let mut local = Driven::new(b.handle.connect_in_process(), ProtocolVersion::V5, "local");
    local.connected().await;
    local.subscribe("ip/#", QoS::AtLeastOnce).await;

    // Its own QoS 1 publish comes back; the PUBACK completes the flow.
    let request = PublishRequest::new(
        TopicName::try_from("ip/self").unwrap(),
        "me",
        QoS::AtLeastOnce,
    );
    let id = local
        .session
        .publish(Instant::now(), request)
        .unwrap()
        .unwrap();
    let mut acked = false;
    let mut echoed = false;
    while !(acked && echoed) {
        match local.event().await {
            ClientEvent::Published { packet_id, reason } => {
                assert_eq!((packet_id, reason), (id, ReasonCode::Success));
                acked = true;
            }
            ClientEvent::Message { publish } => {
                assert_eq!(publish.payload(), b"me");
                echoed = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    // From a TCP client to the in-process one, and back.
    let mut remote = Raw::connect_ok(b.addr, ProtocolVersion::V3_1_1, "remote").await;
    remote
        .send(starling_codec::Packet::Subscribe(
            starling_codec::Subscribe {
                packet_id: starling_codec::PacketId::new(1).unwrap(),
                filters: vec![(
                    TopicFilter::try_from("back").unwrap(),
                    SubscriptionOptions::new(QoS::AtMostOnce),
                )],
                properties: Default::default(),
            },
        ))
        .await;
    assert!(matches!(
        remote.recv().await,
        starling_codec::Packet::SubAck(_)
    ));
    let m = starling_codec::Publish::new(
        TopicName::try_from("ip/tcp").unwrap(),
        starling_codec::QosPid::AtMostOnce,
        Bytes::from_static(b"over tcp"),
    );
    remote.send(starling_codec::Packet::Publish(m)).await;
    assert_eq!(local.message().await.payload(), b"over tcp");
    let request = PublishRequest::new(
        TopicName::try_from("back").unwrap(),
        "in process",
        QoS::AtMostOnce,
    );
    local.session.publish(Instant::now(), request).unwrap();
    local.flush().await;
    match remote.recv().await {
        starling_codec::Packet::Publish(p) => assert_eq!(p.payload(), b"in process"),
        other => panic!("expected a publish, got {other:?}"),
    }

    // And from the broker itself (`BrokerHandle::publish`).
    b.handle
        .publish(
            TopicName::try_from("ip/broker").unwrap(),
            Bytes::from_static(b"hello"),
            QoS::AtLeastOnce,
            false,
        )
        .await;
    let p = local.message().await;
    assert_eq!((p.topic(), p.payload()), ("ip/broker", &b"hello"[..]));
    b.shutdown().await;
}

#[tokio::test]
async fn shutdown_disconnects_v5_clients_with_0x8b_closes_v3_ones_and_joins() {
    let b = TestBroker::start().await;
    let mut v5 = Raw::connect_ok(b.addr, ProtocolVersion::V5, "v5").await;
    let mut v3 = Raw::connect_ok(b.addr, ProtocolVersion::V3_1_1, "v3").await;
    let mut local = Driven::new(b.handle.connect_in_process(), ProtocolVersion::V5, "local");
    local.connected().await;

    let handle = b.handle.clone();
    let shutdown = tokio::spawn(async move { handle.shutdown().await });
    // DISCONNECT 0x8B (Server shutting down), then the close.
    assert_eq!(
        v5.disconnect_reason().await,
        Some(ReasonCode::ServerShuttingDown)
    );
    // MQTT 3.1.1 has no server DISCONNECT: the connection just closes.
    assert!(v3.closed().await.is_empty());
    match local.event().await {
        ClientEvent::Closed {
            reason: ClientCloseReason::ServerDisconnect(d),
        } => assert_eq!(d.reason_code, ReasonCode::ServerShuttingDown),
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
    // Every task joined: shutdown returns, and the listener is gone.
    within("shutdown", shutdown).await.unwrap();
    assert!(tokio::net::TcpStream::connect(b.addr).await.is_err());
    assert_eq!(
        b.handle
            .metrics()
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}
