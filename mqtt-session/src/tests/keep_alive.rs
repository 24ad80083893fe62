//! Keep alive on both sides: PINGREQ scheduling, PINGRESP, expiry at 1.5 × Keep Alive, the
//! Server Keep Alive override, and the client's response timeouts.

use super::pair::{client_config, Pair};
use super::raw::{connect, RawClient, RawServer};
use crate::{
    Accept, ClientCloseReason, ClientEvent, ClientPhase, CloseReason, ServerConfig, ServerEvent,
    ServerPhase,
};
use starling_codec::{ConnAck, Packet, ProtocolVersion, QoS, ReasonCode, Will, WillProperties};
use std::time::Duration;

fn server_with_keep_alive(version: ProtocolVersion, keep_alive: u16) -> RawServer {
    let mut c = connect(version, "c");
    c.keep_alive = keep_alive;
    c.will = Some(Will {
        topic: super::pair::topic_name("will"),
        payload: bytes::Bytes::from_static(b"gone"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: WillProperties::default(),
    });
    RawServer::connected(ServerConfig::default(), c, Accept::new())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn keep_alive_expiry_closes_with_0x8d() {
    let mut raw = server_with_keep_alive(ProtocolVersion::V5, 10);
    // Not before 1.5 × Keep Alive…
    raw.advance(ms(14_999));
    assert_eq!(raw.session.phase(), ServerPhase::Connected);
    assert!(raw.recv().is_empty());
    // …and exactly at it.
    raw.advance(ms(1));
    // v5 [MQTT-3.1.2-22]: close after 1.5 × Keep Alive of silence, DISCONNECT 0x8D first.
    let out = raw.recv();
    assert!(
        matches!(&out[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::KeepAliveTimeout),
        "{out:?}"
    );
    assert!(raw.is_closed());
    let events = raw.events();
    let Some(ServerEvent::Closed { reason, will, .. }) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(*reason, CloseReason::KeepAliveTimeout);
    // The will is published on a keep alive timeout.
    assert!(will.is_some());
}

#[test]
fn v311_keep_alive_expiry_closes_without_a_packet() {
    let mut raw = server_with_keep_alive(ProtocolVersion::V3_1_1, 10);
    raw.advance(ms(14_999));
    assert_eq!(raw.session.phase(), ServerPhase::Connected);
    raw.advance(ms(1));
    // v3.1.1 [MQTT-3.1.2-24]: disconnect after 1.5 × Keep Alive; 3.1.1 has no server DISCONNECT.
    assert!(raw.is_closed());
    assert!(raw.recv().is_empty());
    assert!(matches!(
        raw.events().last(),
        Some(ServerEvent::Closed {
            reason: CloseReason::KeepAliveTimeout,
            will: Some(_),
            ..
        })
    ));
}

#[test]
fn any_packet_restarts_the_keep_alive_expiry() {
    let mut raw = server_with_keep_alive(ProtocolVersion::V5, 10);
    raw.advance(ms(14_000));
    raw.send(Packet::PingReq);
    // The deadline is now 15 s after the PINGREQ.
    raw.advance(ms(14_999));
    assert_eq!(raw.session.phase(), ServerPhase::Connected);
    raw.advance(ms(1));
    assert!(raw.is_closed());
}

#[test]
fn pingreq_is_answered_with_pingresp() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server_with_keep_alive(version, 10);
        raw.send(Packet::PingReq);
        // v5 [MQTT-3.12.4-1], v3.1.1 [MQTT-3.12.4-1]
        assert_eq!(raw.recv(), vec![Packet::PingResp]);
    }
}

#[test]
fn keep_alive_zero_never_expires() {
    let mut raw = server_with_keep_alive(ProtocolVersion::V5, 0);
    assert_eq!(raw.session.keep_alive(), 0);
    assert_eq!(raw.session.poll_timeout(), None);
    raw.advance(Duration::from_secs(100_000));
    assert_eq!(raw.session.phase(), ServerPhase::Connected);
}

#[test]
fn server_uses_the_client_keep_alive_when_it_sends_no_override() {
    let mut raw = server_with_keep_alive(ProtocolVersion::V5, 20);
    // v5 [MQTT-3.2.2-22]
    assert_eq!(raw.session.keep_alive(), 20);
    raw.advance(ms(29_999));
    assert!(!raw.is_closed());
    raw.advance(ms(1));
    assert!(raw.is_closed());
}

#[test]
fn server_keep_alive_overrides_a_larger_or_zero_request() {
    let config = ServerConfig {
        max_keep_alive: 30,
        ..ServerConfig::default()
    };
    for asked in [100, 0] {
        let mut c = connect(ProtocolVersion::V5, "c");
        c.keep_alive = asked;
        let mut raw = RawServer::new(config.clone());
        raw.send(Packet::Connect(Box::new(c)));
        raw.events();
        raw.session.accept(raw.now(), Accept::new()).unwrap();
        let out = raw.recv();
        let Some(Packet::ConnAck(ack)) = out.first() else {
            panic!()
        };
        assert_eq!(ack.properties.server_keep_alive, Some(30));
        assert_eq!(raw.session.keep_alive(), 30);
        raw.advance(ms(44_999));
        assert!(!raw.is_closed());
        raw.advance(ms(1));
        assert!(raw.is_closed());
    }
}

#[test]
fn client_adopts_the_server_keep_alive() {
    let mut cc = client_config(ProtocolVersion::V5);
    cc.keep_alive = 100;
    let sc = ServerConfig {
        max_keep_alive: 30,
        ..ServerConfig::default()
    };
    let mut pair = Pair::new(cc, sc);
    pair.drive();
    // v5 [MQTT-3.1.2-21], v5 [MQTT-3.2.2-21]: the client uses the Server Keep Alive.
    assert_eq!(pair.client.keep_alive(), 30);
    pair.to_server.sent.clear();
    pair.advance(ms(29_999));
    assert!(pair.to_server.sent.is_empty());
    pair.advance(ms(1));
    assert_eq!(pair.to_server.sent, vec![Packet::PingReq]);
}

#[test]
fn client_pings_when_idle_and_the_connection_stays_up() {
    for version in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ] {
        let mut cc = client_config(version);
        cc.keep_alive = 10;
        let mut pair = Pair::new(cc, ServerConfig::default());
        pair.drive();
        pair.to_server.sent.clear();
        pair.to_client.sent.clear();
        pair.advance(ms(9_999));
        assert!(pair.to_server.sent.is_empty());
        // v5 [MQTT-3.1.2-20], v3.1.1 [MQTT-3.1.2-23]: PINGREQ when nothing else was sent.
        pair.advance(ms(1));
        assert_eq!(pair.to_server.sent, vec![Packet::PingReq]);
        assert_eq!(pair.to_client.sent, vec![Packet::PingResp]);
        // An hour later both are still connected, having pinged every 10 s.
        pair.advance(Duration::from_secs(3600));
        assert_eq!(pair.client.phase(), ClientPhase::Connected);
        assert_eq!(pair.server.phase(), ServerPhase::Connected);
        assert_eq!(pair.to_server.sent.len(), 361);
    }
}

#[test]
fn client_pings_survive_latency() {
    let mut cc = client_config(ProtocolVersion::V5);
    cc.keep_alive = 10;
    let mut pair = Pair::new(cc, ServerConfig::default());
    pair.latency = Duration::from_secs(2);
    pair.drive();
    assert_eq!(pair.client.phase(), ClientPhase::Connected);
    // The CONNACK took two round trips' halves.
    assert_eq!(pair.time, Duration::from_secs(4));
    pair.advance(Duration::from_secs(600));
    assert_eq!(pair.client.phase(), ClientPhase::Connected);
    assert_eq!(pair.server.phase(), ServerPhase::Connected);
}

#[test]
fn client_closes_when_pingresp_does_not_come() {
    let mut cc = client_config(ProtocolVersion::V5);
    cc.keep_alive = 10;
    cc.response_timeout = Duration::from_secs(5);
    let mut raw = RawClient::connected(cc, ConnAck::new(ReasonCode::Success));
    raw.advance(ms(10_000));
    assert_eq!(raw.recv(), vec![Packet::PingReq]);
    raw.advance(ms(4_999));
    assert_eq!(raw.session.phase(), ClientPhase::Connected);
    raw.advance(ms(1));
    assert_eq!(raw.session.phase(), ClientPhase::Closed);
    assert_eq!(
        raw.events(),
        vec![ClientEvent::Closed {
            reason: ClientCloseReason::Timeout
        }]
    );
}

#[test]
fn pingresp_clears_the_response_deadline() {
    let mut cc = client_config(ProtocolVersion::V3_1_1);
    cc.keep_alive = 10;
    cc.response_timeout = Duration::from_secs(5);
    let mut raw = RawClient::connected(cc, ConnAck::new(ReasonCode::Success));
    raw.advance(ms(10_000));
    assert_eq!(raw.recv(), vec![Packet::PingReq]);
    raw.advance(ms(1_000));
    raw.send(Packet::PingResp);
    // Next ping at 20 s, and no timeout at 15 s.
    raw.advance(ms(8_999));
    assert_eq!(raw.session.phase(), ClientPhase::Connected);
    assert!(raw.recv().is_empty());
    raw.advance(ms(1));
    assert_eq!(raw.recv(), vec![Packet::PingReq]);
}

#[test]
fn lost_pingresp_closes_the_client_and_the_server_sees_the_transport_close() {
    let mut cc = client_config(ProtocolVersion::V5);
    cc.keep_alive = 10;
    cc.response_timeout = Duration::from_secs(3);
    let mut pair = Pair::new(cc, ServerConfig::default());
    pair.drive();
    pair.client_events();
    pair.to_client.drop_packets = 1;
    pair.advance(Duration::from_secs(13));
    assert_eq!(pair.client.phase(), ClientPhase::Closed);
    assert!(pair.client_events().contains(&ClientEvent::Closed {
        reason: ClientCloseReason::Timeout
    }));
    assert!(!pair.open);
    assert!(matches!(
        pair.server_events().last(),
        Some(ServerEvent::Closed {
            reason: CloseReason::TransportClosed,
            ..
        })
    ));
}

#[test]
fn client_gives_up_waiting_for_connack() {
    let mut cc = client_config(ProtocolVersion::V5);
    cc.response_timeout = Duration::from_secs(30);
    let (mut raw, _) = RawClient::new(cc);
    raw.advance(ms(29_999));
    assert_eq!(raw.session.phase(), ClientPhase::Connecting);
    raw.advance(ms(1));
    assert_eq!(raw.session.phase(), ClientPhase::Closed);
}

#[test]
fn spurious_timeouts_are_harmless() {
    let mut raw = server_with_keep_alive(ProtocolVersion::V5, 10);
    let now = raw.now();
    for _ in 0..3 {
        raw.session.handle_timeout(now);
    }
    assert_eq!(raw.session.phase(), ServerPhase::Connected);
    assert!(raw.recv().is_empty());
    let mut cc = client_config(ProtocolVersion::V5);
    cc.keep_alive = 10;
    let mut c = RawClient::connected(cc, ConnAck::new(ReasonCode::Success));
    let now = c.now();
    c.session.handle_timeout(now);
    assert!(c.recv().is_empty());
}
