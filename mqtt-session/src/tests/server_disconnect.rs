//! Server: DISCONNECT from the client, the will, session expiry at close, and server-initiated
//! DISCONNECT.

use super::pair::Pair;
use super::raw::{connect, RawServer};
use crate::{
    Accept, ClientCloseReason, ClientEvent, CloseReason, DeliveryOptions, Message, ServerConfig,
    ServerEvent,
};
use bytes::Bytes;
use starling_codec::{
    Connect, Disconnect, DisconnectProperties, Packet, PacketType, ProtocolVersion, QoS,
    ReasonCode, Will, WillProperties,
};

fn with_will(version: ProtocolVersion) -> Connect {
    let mut c = connect(version, "c");
    c.will = Some(Will {
        topic: super::pair::topic_name("status/c"),
        payload: Bytes::from_static(b"offline"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: WillProperties::default(),
    });
    c
}

fn server(c: Connect) -> RawServer {
    RawServer::connected(ServerConfig::default(), c, Accept::new())
}

/// The (reason, will, session expiry) of the Closed event.
fn closed(raw: &mut RawServer) -> (CloseReason, Option<Will>, u32) {
    let events = raw.events();
    events
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::Closed {
                reason,
                will,
                session_expiry_interval,
            } => Some((reason, will.map(|w| *w), session_expiry_interval)),
            _ => None,
        })
        .expect("a Closed event")
}

fn disconnect(reason: ReasonCode, sei: Option<u32>) -> Packet {
    let mut d = Disconnect::new(reason);
    d.properties.session_expiry_interval = sei;
    Packet::Disconnect(d)
}

#[test]
fn normal_disconnect_discards_the_will() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(with_will(version));
        raw.send(disconnect(ReasonCode::Success, None));
        assert!(raw.is_closed());
        assert!(raw.recv().is_empty());
        // v5 [MQTT-3.14.4-3], v3.1.1 [MQTT-3.14.4-3], v5 [MQTT-3.1.2-10], v3.1.1 [MQTT-3.1.2-10]
        let (reason, will, _) = closed(&mut raw);
        assert_eq!(reason, CloseReason::ClientDisconnect(ReasonCode::Success));
        assert_eq!(will, None);
    }
}

#[test]
fn disconnect_with_will_message_publishes_it() {
    let mut raw = server(with_will(ProtocolVersion::V5));
    raw.send(disconnect(ReasonCode::DisconnectWithWillMessage, None));
    let (reason, will, _) = closed(&mut raw);
    assert_eq!(
        reason,
        CloseReason::ClientDisconnect(ReasonCode::DisconnectWithWillMessage)
    );
    // v5 [MQTT-3.1.2-8]: the will goes out once the connection is closed.
    let will = will.unwrap();
    assert_eq!(will.topic.as_str(), "status/c");
    // v5 [MQTT-3.1.2-15], v3.1.1 [MQTT-3.1.2-17]: handed over with its RETAIN flag.
    assert!(will.retain);
}

#[test]
fn transport_close_publishes_the_will() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = server(with_will(version));
        let now = raw.now();
        raw.session.handle_transport_closed(now);
        // v5 [MQTT-3.1.2-7], v5 [MQTT-3.1.2-8], v3.1.1 [MQTT-3.1.2-8]: the will kept with the
        // connection is handed over for publishing when it closes.
        let (reason, will, _) = closed(&mut raw);
        assert_eq!(reason, CloseReason::TransportClosed);
        assert!(will.is_some());
        // Only once.
        raw.session.handle_transport_closed(now);
        assert!(raw.events().is_empty());
    }
}

#[test]
fn no_will_flag_no_will() {
    let mut raw = server(connect(ProtocolVersion::V3_1_1, "c"));
    let now = raw.now();
    raw.session.handle_transport_closed(now);
    // v3.1.1 [MQTT-3.1.2-12]
    assert_eq!(closed(&mut raw).1, None);
}

#[test]
fn protocol_violation_publishes_the_will() {
    let mut raw = server(with_will(ProtocolVersion::V5));
    raw.send(Packet::PingResp);
    let (reason, will, _) = closed(&mut raw);
    assert!(matches!(
        reason,
        CloseReason::ProtocolViolation(ReasonCode::ProtocolError, _)
    ));
    assert!(will.is_some());
}

#[test]
fn will_of_a_refused_connect_is_never_published() {
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send(Packet::Connect(Box::new(with_will(ProtocolVersion::V5))));
    raw.events();
    raw.session.reject(ReasonCode::NotAuthorized).unwrap();
    assert_eq!(closed(&mut raw).1, None);
}

#[test]
fn disconnect_may_change_a_nonzero_session_expiry() {
    let mut c = connect(ProtocolVersion::V5, "c");
    c.properties.session_expiry_interval = Some(100);
    let mut raw = server(c.clone());
    assert_eq!(raw.session.session_expiry_interval(), 100);
    raw.send(disconnect(ReasonCode::Success, Some(500)));
    assert_eq!(closed(&mut raw).2, 500);
    let mut raw = server(c);
    raw.send(disconnect(ReasonCode::Success, Some(0)));
    assert_eq!(closed(&mut raw).2, 0);
}

#[test]
fn disconnect_setting_session_expiry_after_zero_is_a_protocol_error() {
    let mut raw = server(with_will(ProtocolVersion::V5));
    raw.send(disconnect(ReasonCode::Success, Some(60)));
    // v5 §3.14.2.2.2: DISCONNECT 0x82, and the will is published as for any violation.
    assert!(
        matches!(&raw.recv()[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError)
    );
    let (reason, will, sei) = closed(&mut raw);
    assert!(matches!(
        reason,
        CloseReason::ProtocolViolation(ReasonCode::ProtocolError, _)
    ));
    assert!(will.is_some());
    assert_eq!(sei, 0);
}

#[test]
fn v3_session_expiry_follows_clean_session() {
    let mut raw = server(connect(ProtocolVersion::V3_1_1, "c"));
    raw.send(Packet::Disconnect(Disconnect::default()));
    assert_eq!(closed(&mut raw).2, 0);
    let mut c = connect(ProtocolVersion::V3_1_1, "c");
    c.clean_start = false;
    let mut raw = server(c);
    raw.send(Packet::Disconnect(Disconnect::default()));
    assert_eq!(closed(&mut raw).2, u32::MAX);
}

#[test]
fn server_disconnect_sends_a_disconnect_reason_and_then_nothing() {
    let mut raw = server(with_will(ProtocolVersion::V5));
    raw.session.disconnect(ReasonCode::SessionTakenOver);
    let out = raw.recv();
    let [Packet::Disconnect(d)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(d.reason_code, ReasonCode::SessionTakenOver);
    // v5 [MQTT-3.14.2-2]: never a Session Expiry Interval from the server.
    assert_eq!(d.properties.session_expiry_interval, None);
    let (reason, will, _) = closed(&mut raw);
    // v5 [MQTT-4.13.2-1]: a code of 0x80 or more closes the connection.
    assert_eq!(
        reason,
        CloseReason::ServerDisconnect(ReasonCode::SessionTakenOver)
    );
    assert!(will.is_some());
    // v5 [MQTT-3.14.4-1]: nothing more is sent on this connection.
    raw.send(Packet::PingReq);
    let now = raw.now();
    let m = Message::new(
        super::pair::topic_name("t"),
        Bytes::new(),
        QoS::AtMostOnce,
        false,
    );
    raw.session
        .deliver(now, m, DeliveryOptions::default())
        .unwrap();
    raw.session.disconnect(ReasonCode::ServerShuttingDown);
    assert!(raw.recv().is_empty());
    assert!(raw.events().is_empty());
}

#[test]
fn server_disconnect_with_an_invalid_code_sends_0x80() {
    let mut raw = server(connect(ProtocolVersion::V5, "c"));
    raw.session.disconnect(ReasonCode::GrantedQoS2);
    let out = raw.recv();
    // v5 [MQTT-3.14.2-1]: only DISCONNECT reason codes.
    assert!(matches!(&out[..], [Packet::Disconnect(d)]
        if d.reason_code.is_valid_for(PacketType::Disconnect) && d.reason_code == ReasonCode::UnspecifiedError));
}

#[test]
fn v311_server_disconnect_just_closes() {
    let mut raw = server(connect(ProtocolVersion::V3_1_1, "c"));
    raw.session.disconnect(ReasonCode::ServerShuttingDown);
    assert!(raw.recv().is_empty());
    assert!(raw.is_closed());
}

#[test]
fn end_to_end_client_disconnect_with_will_message() {
    let mut cc = super::pair::client_config(ProtocolVersion::V5);
    cc.will = with_will(ProtocolVersion::V5).will;
    let mut pair = Pair::new(cc, ServerConfig::default());
    pair.drive();
    pair.client.disconnect(
        ReasonCode::DisconnectWithWillMessage,
        DisconnectProperties::default(),
    );
    pair.drive();
    assert!(pair.server_events().iter().any(|e| matches!(
        e,
        ServerEvent::Closed {
            reason: CloseReason::ClientDisconnect(ReasonCode::DisconnectWithWillMessage),
            will: Some(_),
            ..
        }
    )));
    assert!(!pair.open);
}

#[test]
fn end_to_end_server_disconnect_reaches_the_client() {
    let mut pair = Pair::connected(ProtocolVersion::V5);
    pair.client_events();
    pair.server.disconnect(ReasonCode::ServerShuttingDown);
    pair.drive();
    assert!(matches!(
        &pair.client_events()[..],
        [ClientEvent::Closed { reason: ClientCloseReason::ServerDisconnect(d) }]
            if d.reason_code == ReasonCode::ServerShuttingDown
    ));
}
