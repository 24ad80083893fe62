#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Admission over real sockets: a connection over the connection limit or the connection
//! rate limit gets a CONNACK with the reason (v5 0x97 / 0x9F, 3.x return code 3) and is
//! closed; the clients already connected keep working; a WebSocket handshake counts against
//! the limit.

mod common;

use common::{connect_packet, Raw, TestBroker};
use starling_codec::{Packet, ProtocolVersion, ReasonCode};

#[tokio::test]
async fn over_the_connection_limit_gets_connack_quota_exceeded() {
    let mut config = common::test_config();
    config.max_connections = 1;
    let b = TestBroker::with_config(config).await;
    let mut first = Raw::connect_ok(b.addr, ProtocolVersion::V5, "first").await;
    // v5: 0x97 Quota exceeded, then closed.
    let (mut r, ack) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "second")).await;
    assert_eq!(ack.reason_code, ReasonCode::QuotaExceeded);
    assert!(r.closed().await.is_empty());
    // 3.1.1: return code 3 Server unavailable.
    let (_, ack) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V3_1_1, "third")).await;
    assert_eq!(ack.reason_code, ReasonCode::ServerUnavailable);
    // The admitted client is unaffected.
    first.send(Packet::PingReq).await;
    assert!(matches!(first.recv().await, Packet::PingResp));
    assert!(
        b.handle
            .metrics()
            .connections_refused
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
    // Its slot is free again once it leaves.
    drop(first);
    b.wait_connections(0).await;
    Raw::connect_ok(b.addr, ProtocolVersion::V5, "fourth").await;
    b.shutdown().await;
}

#[tokio::test]
async fn over_the_connection_rate_gets_connack_rate_exceeded() {
    let mut config = common::test_config();
    // One per second with a burst of one: the second immediate connection is over it.
    config.max_connection_rate = Some(1);
    let b = TestBroker::with_config(config).await;
    let _first = Raw::connect_ok(b.addr, ProtocolVersion::V5, "r1").await;
    let (_, ack) = Raw::connect(b.addr, connect_packet(ProtocolVersion::V5, "r2")).await;
    assert_eq!(ack.reason_code, ReasonCode::ConnectionRateExceeded);
    b.shutdown().await;
}
