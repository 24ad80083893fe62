//! Server: CONNECT validation, CONNACK contents, accept and reject, connect timeout.

use super::pair::{client_config, ConnectPolicy, Pair, Policy};
use super::raw::{connect, encode, publish, s, RawServer};
use crate::{Accept, CloseReason, ServerConfig, ServerError, ServerEvent, ServerPhase};
use starling_codec::{
    ConnAck, Packet, PacketType, ProtocolVersion, QoS, ReasonCode, SubscriptionOptions,
    TopicFilter, Will, WillProperties,
};
use std::time::Duration;

const ALL: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

fn connack(packets: &[Packet]) -> &ConnAck {
    match packets.first() {
        Some(Packet::ConnAck(a)) => a,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

fn closed_reason(events: &[ServerEvent]) -> CloseReason {
    events
        .iter()
        .find_map(|e| match e {
            ServerEvent::Closed { reason, .. } => Some(*reason),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Closed event in {events:?}"))
}

fn will(qos: QoS, retain: bool) -> Will {
    Will {
        topic: super::pair::topic_name("will/t"),
        payload: bytes::Bytes::from_static(b"bye"),
        qos,
        retain,
        properties: WillProperties::default(),
    }
}

#[test]
fn first_packet_not_connect_closes_without_answer() {
    for version in ALL {
        let mut raw = RawServer::new(ServerConfig::default());
        raw.version = version;
        // v5 [MQTT-3.1.0-1], v3.1.1 [MQTT-3.1.0-1]: anything but CONNECT first closes.
        raw.send(Packet::PingReq);
        assert!(raw.is_closed());
        assert!(raw.recv().is_empty());
        let events = raw.events();
        assert!(matches!(
            closed_reason(&events),
            CloseReason::ProtocolViolation(ReasonCode::ProtocolError, _)
        ));
    }
}

#[test]
fn first_packet_not_connect_via_handle_packet_closes() {
    let mut raw = RawServer::new(ServerConfig::default());
    let now = raw.now();
    // v5 [MQTT-3.1.0-1]
    raw.session
        .handle_packet(now, Packet::Publish(publish("t", QoS::AtMostOnce, 0, b"x")));
    assert!(raw.is_closed());
    assert!(raw.recv().is_empty());
}

#[test]
fn second_connect_is_a_protocol_error() {
    // v5 [MQTT-3.1.0-2]: DISCONNECT 0x82 and close.
    let mut raw = RawServer::connected(
        ServerConfig::default(),
        connect(ProtocolVersion::V5, "c"),
        Accept::new(),
    );
    raw.send(Packet::Connect(Box::new(connect(ProtocolVersion::V5, "c"))));
    let out = raw.recv();
    assert!(
        matches!(&out[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError)
    );
    assert!(raw.is_closed());

    // v3.1.1 [MQTT-3.1.0-2]: the connection is closed; 3.x has no server DISCONNECT.
    let mut raw = RawServer::connected(
        ServerConfig::default(),
        connect(ProtocolVersion::V3_1_1, "c"),
        Accept::new(),
    );
    raw.send(Packet::Connect(Box::new(connect(
        ProtocolVersion::V3_1_1,
        "c",
    ))));
    assert!(raw.recv().is_empty());
    assert!(raw.is_closed());
    assert!(matches!(
        closed_reason(&raw.events()),
        CloseReason::ProtocolViolation(ReasonCode::ProtocolError, _)
    ));
}

#[test]
fn second_connect_via_handle_packet_is_a_protocol_error() {
    let mut raw = RawServer::connected(
        ServerConfig::default(),
        connect(ProtocolVersion::V5, "c"),
        Accept::new(),
    );
    let now = raw.now();
    // v5 [MQTT-3.1.0-2]
    raw.session.handle_packet(
        now,
        Packet::Connect(Box::new(connect(ProtocolVersion::V5, "c"))),
    );
    let out = raw.recv();
    assert!(
        matches!(&out[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError)
    );
    assert!(raw.is_closed());
}

#[test]
fn accepted_clean_start_gets_success_and_session_present_0() {
    for version in ALL {
        let mut raw = RawServer::new(ServerConfig::default());
        raw.send(Packet::Connect(Box::new(connect(version, "c"))));
        assert!(matches!(raw.event(), Some(ServerEvent::Connect(_))));
        assert_eq!(raw.session.phase(), ServerPhase::AwaitingAccept);
        // Nothing is sent before the broker decides.
        assert!(raw.recv().is_empty());
        // Even with a stored session offered, Clean Start discards it.
        let mut state = crate::SessionState::default();
        state.subscriptions.insert(
            "a".into(),
            crate::Subscription {
                filter: TopicFilter::from_static("a").unwrap(),
                options: SubscriptionOptions::new(QoS::AtLeastOnce),
                identifier: None,
            },
        );
        raw.session
            .accept(raw.now(), Accept::new().resume(state))
            .unwrap();
        let out = raw.recv();
        // v5 [MQTT-3.1.4-5], v3.1.1 [MQTT-3.1.4-4]: CONNACK with 0x00.
        // v5 [MQTT-3.2.2-2], v3.1.1 [MQTT-3.2.2-1]: Clean Start 1 → Session Present 0.
        let ack = connack(&out);
        assert_eq!(ack.reason_code, ReasonCode::Success);
        assert!(!ack.session_present);
        // v5 [MQTT-3.1.2-4], v3.1.1 [MQTT-3.1.2-6], v5 [MQTT-3.1.4-4], v3.1.1 [MQTT-3.1.4-3]:
        // Clean Start is processed: the existing session is discarded.
        assert_eq!(raw.session.subscriptions().count(), 0);
        assert_eq!(raw.session.phase(), ServerPhase::Connected);
    }
}

#[test]
fn resumed_session_sets_session_present_1() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut c = connect(version, "c");
        c.clean_start = false;
        // v5 [MQTT-3.2.2-3], v3.1.1 [MQTT-3.2.2-2]: state kept → Session Present 1.
        // v5 [MQTT-3.1.2-5], v3.1.1 [MQTT-3.1.2-4]: communication resumes from that state.
        let mut state = crate::SessionState::default();
        state.subscriptions.insert(
            "a/#".into(),
            crate::Subscription {
                filter: TopicFilter::from_static("a/#").unwrap(),
                options: SubscriptionOptions::new(QoS::AtLeastOnce),
                identifier: None,
            },
        );
        let mut raw = RawServer::new(ServerConfig::default());
        raw.send(Packet::Connect(Box::new(c.clone())));
        raw.events();
        raw.session
            .accept(raw.now(), Accept::new().resume(state))
            .unwrap();
        assert!(connack(&raw.recv()).session_present);
        assert_eq!(raw.session.subscriptions().count(), 1);

        // v5 [MQTT-3.1.2-6], v3.1.1 [MQTT-3.2.2-3]: no stored session → a new one, Session
        // Present 0.
        let mut raw = RawServer::new(ServerConfig::default());
        raw.send(Packet::Connect(Box::new(c)));
        raw.events();
        raw.session.accept(raw.now(), Accept::new()).unwrap();
        assert!(!connack(&raw.recv()).session_present);
    }
}

#[test]
fn empty_client_id_gets_the_assigned_id_in_the_connack() {
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send(Packet::Connect(Box::new(connect(ProtocolVersion::V5, ""))));
    let Some(ServerEvent::Connect(info)) = raw.event() else {
        panic!()
    };
    assert!(info.client_id.is_empty());
    // The broker must assign one.
    assert_eq!(
        raw.session.accept(raw.now(), Accept::new()),
        Err(ServerError::ClientIdRequired)
    );
    raw.session
        .accept(raw.now(), Accept::new().assign_client_id(s("auto-7")))
        .unwrap();
    // v5 [MQTT-3.2.2-16], v5 [MQTT-3.1.3-7]: the Assigned Client Identifier is returned.
    let out = raw.recv();
    assert_eq!(
        connack(&out).properties.assigned_client_identifier,
        Some(s("auto-7"))
    );
    // v5 [MQTT-3.1.3-6]: the connection proceeds as that id.
    assert_eq!(raw.session.client_id(), Some("auto-7"));
}

#[test]
fn client_id_given_is_not_echoed_as_assigned() {
    let mut raw = RawServer::connected(
        ServerConfig::default(),
        connect(ProtocolVersion::V5, "mine"),
        Accept::new().assign_client_id(s("other")),
    );
    assert_eq!(raw.session.client_id(), Some("mine"));
    assert!(raw.recv().is_empty());
}

#[test]
fn v311_empty_client_id_with_clean_session_0_is_refused_with_return_code_2() {
    let mut c = connect(ProtocolVersion::V3_1_1, "");
    c.clean_start = false;
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send(Packet::Connect(Box::new(c)));
    let out = raw.recv();
    // v3.1.1 [MQTT-3.1.3-8]: return code 0x02 (identifier rejected), then close.
    let bytes = encode(ProtocolVersion::V3_1_1, &out[0]);
    assert_eq!(&bytes[..], b"\x20\x02\x00\x02");
    // v3.1.1 [MQTT-3.2.2-4]: Session Present 0 with a non-zero return code.
    assert!(!connack(&out).session_present);
    // v3.1.1 [MQTT-3.2.2-5]: then the connection closes.
    assert!(raw.is_closed());
    assert_eq!(
        closed_reason(&raw.events()),
        CloseReason::Rejected(ReasonCode::ClientIdentifierNotValid)
    );
}

#[test]
fn v311_empty_client_id_with_clean_session_1_is_accepted() {
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send(Packet::Connect(Box::new(connect(
        ProtocolVersion::V3_1_1,
        "",
    ))));
    assert!(matches!(raw.event(), Some(ServerEvent::Connect(_))));
    raw.session
        .accept(raw.now(), Accept::new().assign_client_id(s("gen")))
        .unwrap();
    assert_eq!(connack(&raw.recv()).reason_code, ReasonCode::Success);
    // v3.1.1 [MQTT-3.1.3-6]: processed as if the client had sent the assigned id.
    assert_eq!(raw.session.client_id(), Some("gen"));
}

#[test]
fn v31_client_id_must_be_1_to_23_characters() {
    for (id, ok) in [
        ("", false),
        ("abcdefghijklmnopqrstuvw", true),   // 23
        ("abcdefghijklmnopqrstuvwx", false), // 24
    ] {
        let mut raw = RawServer::new(ServerConfig::default());
        raw.send(Packet::Connect(Box::new(connect(
            ProtocolVersion::V3_1,
            id,
        ))));
        if ok {
            assert!(matches!(raw.event(), Some(ServerEvent::Connect(_))), "{id}");
        } else {
            let out = raw.recv();
            let bytes = encode(ProtocolVersion::V3_1, &out[0]);
            assert_eq!(&bytes[..], b"\x20\x02\x00\x02", "{id}");
            assert!(raw.is_closed());
        }
    }
}

#[test]
fn client_ids_of_23_alphanumerics_are_allowed() {
    // v5 [MQTT-3.1.3-5], v3.1.1 [MQTT-3.1.3-5]
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = RawServer::new(ServerConfig::default());
        raw.send(Packet::Connect(Box::new(connect(
            version,
            "0123456789abcdefghijXYZ",
        ))));
        assert!(matches!(raw.event(), Some(ServerEvent::Connect(_))));
    }
}

#[test]
fn will_qos_above_maximum_qos_is_refused_with_0x9b() {
    let config = ServerConfig {
        maximum_qos: QoS::AtLeastOnce,
        ..ServerConfig::default()
    };
    let mut c = connect(ProtocolVersion::V5, "c");
    c.will = Some(will(QoS::ExactlyOnce, false));
    let mut raw = RawServer::new(config.clone());
    raw.send(Packet::Connect(Box::new(c)));
    let out = raw.recv();
    // v5 [MQTT-3.2.2-12]: reject the connection, CONNACK 0x9B.
    assert_eq!(connack(&out).reason_code, ReasonCode::QoSNotSupported);
    assert!(raw.is_closed());
    // A will within the maximum is fine.
    let mut c = connect(ProtocolVersion::V5, "c");
    c.will = Some(will(QoS::AtLeastOnce, false));
    let mut raw = RawServer::new(config.clone());
    raw.send(Packet::Connect(Box::new(c)));
    assert!(matches!(raw.event(), Some(ServerEvent::Connect(_))));
    // 3.1.1 has no such code: return code 5 (not authorized).
    let mut c = connect(ProtocolVersion::V3_1_1, "c");
    c.will = Some(will(QoS::ExactlyOnce, false));
    let mut raw = RawServer::new(config);
    raw.send(Packet::Connect(Box::new(c)));
    let out = raw.recv();
    assert_eq!(
        &encode(ProtocolVersion::V3_1_1, &out[0])[..],
        b"\x20\x02\x00\x05"
    );
    assert!(raw.is_closed());
}

#[test]
fn retained_will_without_retain_support_is_refused_with_0x9a() {
    let config = ServerConfig {
        retain_available: false,
        ..ServerConfig::default()
    };
    let mut c = connect(ProtocolVersion::V5, "c");
    c.will = Some(will(QoS::AtMostOnce, true));
    let mut raw = RawServer::new(config);
    raw.send(Packet::Connect(Box::new(c)));
    let out = raw.recv();
    // v5 [MQTT-3.2.2-13]
    assert_eq!(connack(&out).reason_code, ReasonCode::RetainNotSupported);
    assert!(raw.is_closed());
}

#[test]
fn unsupported_protocol_level_gets_return_code_1_then_close() {
    // CONNECT "MQTT" level 6.
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send_bytes(b"\x10\x0d\x00\x04MQTT\x06\x02\x00\x3c\x00\x01a");
    // v3.1.1 [MQTT-3.1.2-2]: CONNACK return code 0x01, then disconnect; v5 [MQTT-3.1.2-2]:
    // a level other than 5 that is not accepted is closed.
    assert_eq!(
        raw.session.poll_transmit().as_deref(),
        Some(&b"\x20\x02\x00\x01"[..])
    );
    assert!(raw.is_closed());
    assert!(matches!(
        closed_reason(&raw.events()),
        CloseReason::ProtocolViolation(ReasonCode::UnsupportedProtocolVersion, _)
    ));
}

#[test]
fn unknown_protocol_name_is_closed() {
    // CONNECT "MQTX" level 4.
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send_bytes(b"\x10\x0d\x00\x04MQTX\x04\x02\x00\x3c\x00\x01a");
    // v5 [MQTT-3.1.2-1], v3.1.1 [MQTT-3.1.2-1]: no further processing; the connection closes.
    assert!(raw.is_closed());
    assert!(raw
        .events()
        .iter()
        .all(|e| !matches!(e, ServerEvent::Connect(_))));
}

#[test]
fn reserved_connect_flag_closes_without_connack() {
    // 3.1.1 CONNECT with flags 0x03 (reserved bit set).
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send_bytes(b"\x10\x0d\x00\x04MQTT\x04\x03\x00\x3c\x00\x01a");
    // v3.1.1 [MQTT-3.1.2-3], v3.1.1 [MQTT-3.1.4-1]: malformed CONNECT: close, no CONNACK.
    assert!(raw.recv().is_empty());
    assert!(raw.is_closed());
    // v5 [MQTT-3.1.2-3], v5 [MQTT-3.1.4-1]
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send_bytes(b"\x10\x0e\x00\x04MQTT\x05\x03\x00\x3c\x00\x00\x01a");
    assert!(raw.recv().is_empty());
    assert!(raw.is_closed());
}

#[test]
fn packets_after_connect_are_processed_only_after_accept() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = RawServer::new(ServerConfig::default());
        raw.version = version;
        let mut bytes = encode(version, &Packet::Connect(Box::new(connect(version, "c"))));
        bytes.extend_from_slice(&encode(
            version,
            &Packet::Publish(publish("t", QoS::AtLeastOnce, 1, b"x")),
        ));
        raw.send_bytes(&bytes);
        let events = raw.events();
        assert!(
            matches!(&events[..], [ServerEvent::Connect(_)]),
            "{events:?}"
        );
        raw.pump();
        assert!(raw.events().is_empty());
        raw.session.accept(raw.now(), Accept::new()).unwrap();
        raw.pump();
        assert!(matches!(raw.event(), Some(ServerEvent::Publish { .. })));
        raw.session
            .ack_publish(super::raw::pid(1), ReasonCode::Success)
            .unwrap();
        let out = raw.recv();
        // v5 [MQTT-3.2.0-1], v3.1.1 [MQTT-3.2.0-1]: CONNACK first.
        assert!(matches!(&out[..], [Packet::ConnAck(_), Packet::PubAck(_)]));
    }
}

#[test]
fn rejected_connect_gets_connack_then_close_and_later_packets_are_ignored() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = RawServer::new(ServerConfig::default());
        raw.version = version;
        let mut bytes = encode(version, &Packet::Connect(Box::new(connect(version, "c"))));
        bytes.extend_from_slice(&encode(
            version,
            &Packet::Publish(publish("t", QoS::AtLeastOnce, 1, b"x")),
        ));
        raw.send_bytes(&bytes);
        assert!(matches!(raw.event(), Some(ServerEvent::Connect(_))));
        raw.session.reject(ReasonCode::NotAuthorized).unwrap();
        raw.pump();
        let out = raw.recv();
        // v5 [MQTT-3.2.2-6], v3.1.1 [MQTT-3.2.2-4]: Session Present 0 on a refusal.
        let ack = connack(&out);
        assert!(!ack.session_present);
        assert_eq!(ack.reason_code, ReasonCode::NotAuthorized);
        assert_eq!(out.len(), 1);
        // v5 [MQTT-3.2.2-7], v3.1.1 [MQTT-3.2.2-5]: then close.
        assert!(raw.is_closed());
        // v5 [MQTT-3.1.4-6], v3.1.1 [MQTT-3.1.4-5]: nothing after the CONNECT is processed.
        let events = raw.events();
        assert!(!events
            .iter()
            .any(|e| matches!(e, ServerEvent::Publish { .. })));
        assert_eq!(
            closed_reason(&events),
            CloseReason::Rejected(ReasonCode::NotAuthorized)
        );
        // 3.1.1: return code 5.
        if !version.is_v5() {
            assert_eq!(&encode(version, &out[0])[..], b"\x20\x02\x00\x05");
        }
    }
}

#[test]
fn reject_with_a_non_connack_code_sends_0x80() {
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send(Packet::Connect(Box::new(connect(ProtocolVersion::V5, "c"))));
    raw.events();
    raw.session.reject(ReasonCode::KeepAliveTimeout).unwrap();
    let out = raw.recv();
    // v5 [MQTT-3.2.2-8]: only CONNACK reason codes.
    let rc = connack(&out).reason_code;
    assert!(rc.is_valid_for(PacketType::ConnAck));
    assert_eq!(rc, ReasonCode::UnspecifiedError);
}

#[test]
fn only_one_connack_per_connection() {
    let mut raw = RawServer::connected(
        ServerConfig::default(),
        connect(ProtocolVersion::V5, "c"),
        Accept::new(),
    );
    // v5 [MQTT-3.2.0-2]
    assert_eq!(
        raw.session.accept(raw.now(), Accept::new()),
        Err(ServerError::WrongPhase(ServerPhase::Connected))
    );
    assert_eq!(
        raw.session.reject(ReasonCode::NotAuthorized),
        Err(ServerError::WrongPhase(ServerPhase::Connected))
    );
    assert!(raw.recv().is_empty());
}

#[test]
fn server_disconnect_before_connack_sends_nothing() {
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send(Packet::Connect(Box::new(connect(ProtocolVersion::V5, "c"))));
    raw.events();
    raw.session.disconnect(ReasonCode::ServerShuttingDown);
    // v5 [MQTT-3.14.0-1]: no DISCONNECT before a successful CONNACK.
    assert!(raw.recv().is_empty());
    assert!(raw.is_closed());
}

#[test]
fn connect_timeout_closes_without_answer() {
    let config = ServerConfig {
        connect_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    };
    let mut raw = RawServer::new(config.clone());
    assert_eq!(
        raw.session.poll_timeout(),
        Some(raw.now() + Duration::from_secs(5))
    );
    raw.advance(Duration::from_millis(4999));
    assert!(!raw.is_closed());
    raw.advance(Duration::from_millis(1));
    assert!(raw.is_closed());
    assert!(raw.recv().is_empty());
    assert_eq!(closed_reason(&raw.events()), CloseReason::ConnectTimeout);

    // A CONNECT awaiting the broker's decision is not timed out.
    let mut raw = RawServer::new(config);
    raw.send(Packet::Connect(Box::new(connect(ProtocolVersion::V5, "c"))));
    raw.advance(Duration::from_secs(10));
    assert_eq!(raw.session.phase(), ServerPhase::AwaitingAccept);
}

#[test]
fn connack_announces_the_server_limits() {
    let config = ServerConfig {
        max_packet_size: 1024,
        receive_maximum: 5,
        topic_alias_maximum: 3,
        maximum_qos: QoS::AtLeastOnce,
        retain_available: false,
        wildcard_subscription_available: false,
        subscription_identifiers_available: false,
        shared_subscription_available: false,
        ..ServerConfig::default()
    };
    let mut raw = RawServer::new(config);
    raw.send(Packet::Connect(Box::new(connect(ProtocolVersion::V5, "c"))));
    raw.events();
    raw.session.accept(raw.now(), Accept::new()).unwrap();
    let out = raw.recv();
    let p = &connack(&out).properties;
    assert_eq!(p.receive_maximum.map(|r| r.get()), Some(5));
    // v5 [MQTT-3.2.2-9]: a server without QoS 2 says so.
    assert_eq!(p.maximum_qos, Some(QoS::AtLeastOnce));
    assert_eq!(p.retain_available, Some(false));
    assert_eq!(p.maximum_packet_size.map(|m| m.get()), Some(1024));
    assert_eq!(p.topic_alias_maximum, Some(3));
    assert_eq!(p.wildcard_subscription_available, Some(false));
    assert_eq!(p.subscription_identifiers_available, Some(false));
    assert_eq!(p.shared_subscription_available, Some(false));
    // No keep alive override asked for, no auth.
    assert_eq!(p.server_keep_alive, None);
    // v5 [MQTT-4.12.0-6]: no Authentication Method when the client sent none.
    assert_eq!(p.authentication_method, None);
}

#[test]
fn connack_omits_defaults() {
    let config = ServerConfig {
        receive_maximum: u16::MAX,
        topic_alias_maximum: 0,
        ..ServerConfig::default()
    };
    let mut raw = RawServer::new(config);
    raw.send(Packet::Connect(Box::new(connect(ProtocolVersion::V5, "c"))));
    raw.events();
    raw.session.accept(raw.now(), Accept::new()).unwrap();
    let out = raw.recv();
    assert_eq!(
        connack(&out).properties,
        starling_codec::ConnAckProperties::default()
    );
}

#[test]
fn response_information_only_when_requested() {
    let mut accept = Accept::new();
    accept.response_information = Some(s("resp/"));
    // Not requested.
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send(Packet::Connect(Box::new(connect(ProtocolVersion::V5, "c"))));
    raw.events();
    raw.session.accept(raw.now(), accept.clone()).unwrap();
    // v5 [MQTT-3.1.2-28]
    assert_eq!(connack(&raw.recv()).properties.response_information, None);
    // Requested.
    let mut c = connect(ProtocolVersion::V5, "c");
    c.properties.request_response_information = Some(true);
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send(Packet::Connect(Box::new(c)));
    raw.events();
    raw.session.accept(raw.now(), accept).unwrap();
    assert_eq!(
        connack(&raw.recv()).properties.response_information,
        Some(s("resp/"))
    );
}

#[test]
fn v3_keep_alive_above_the_maximum_is_refused() {
    let config = ServerConfig {
        max_keep_alive: 100,
        ..ServerConfig::default()
    };
    for ka in [101, 0] {
        let mut c = connect(ProtocolVersion::V3_1_1, "c");
        c.keep_alive = ka;
        let mut raw = RawServer::new(config.clone());
        raw.send(Packet::Connect(Box::new(c)));
        let out = raw.recv();
        assert_eq!(
            &encode(ProtocolVersion::V3_1_1, &out[0])[..],
            b"\x20\x02\x00\x02",
            "keep alive {ka}"
        );
        assert!(raw.is_closed());
    }
}

#[test]
fn end_to_end_connect_for_every_version() {
    for version in ALL {
        let mut pair = Pair::new(client_config(version), ServerConfig::default());
        pair.drive();
        // v5 [MQTT-3.1.0-1], v3.1.1 [MQTT-3.1.0-1]: the client's first packet is CONNECT.
        assert!(matches!(pair.to_server.sent[0], Packet::Connect(_)));
        // v3.1.1 [MQTT-3.2.0-1]: the server's first packet is CONNACK.
        assert!(matches!(pair.to_client.sent[0], Packet::ConnAck(_)));
        assert_eq!(pair.server.phase(), ServerPhase::Connected);
        assert_eq!(pair.server.version(), version);
        assert_eq!(pair.server.client_id(), Some("c1"));
    }
}

#[test]
fn end_to_end_rejected_client_sees_refused_and_both_close() {
    let policy = Policy {
        connect: ConnectPolicy::Reject(ReasonCode::BadUserNameOrPassword),
        ..Policy::default()
    };
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut pair = Pair::with_policy(
            client_config(version),
            ServerConfig::default(),
            policy.clone(),
        );
        pair.drive();
        assert_eq!(pair.client.phase(), crate::ClientPhase::Closed);
        assert!(pair.client_events().iter().any(|e| matches!(
            e,
            crate::ClientEvent::Closed {
                reason: crate::ClientCloseReason::Refused(ReasonCode::BadUserNameOrPassword)
            }
        )));
        assert!(!pair.open);
    }
}

#[test]
fn end_to_end_broker_may_decide_later() {
    let policy = Policy {
        connect: ConnectPolicy::Manual,
        ..Policy::default()
    };
    let mut pair = Pair::with_policy(
        client_config(ProtocolVersion::V5),
        ServerConfig::default(),
        policy,
    );
    pair.drive();
    assert_eq!(pair.server.phase(), ServerPhase::AwaitingAccept);
    pair.advance(Duration::from_secs(5));
    assert_eq!(pair.client.phase(), crate::ClientPhase::Connecting);
    let now = pair.now();
    pair.server.accept(now, Accept::new()).unwrap();
    pair.drive();
    assert_eq!(pair.client.phase(), crate::ClientPhase::Connected);
}

#[test]
fn packets_handed_over_before_accept_wait_for_it() {
    for accept in [true, false] {
        let mut raw = RawServer::new(ServerConfig::default());
        let now = raw.now();
        raw.session.handle_packet(
            now,
            Packet::Connect(Box::new(connect(ProtocolVersion::V5, "c"))),
        );
        raw.session.handle_packet(
            now,
            Packet::Publish(publish("t", QoS::AtLeastOnce, 1, b"x")),
        );
        raw.session.handle_packet(now, Packet::PingReq);
        // Through handle_packet as through handle_bytes: nothing after the CONNECT is
        // processed before the broker decides.
        assert!(matches!(&raw.events()[..], [ServerEvent::Connect(_)]));
        assert!(raw.recv().is_empty());
        if accept {
            raw.session.accept(now, Accept::new()).unwrap();
            assert!(matches!(&raw.events()[..], [ServerEvent::Publish { .. }]));
            let out = raw.recv();
            assert!(
                matches!(&out[..], [Packet::ConnAck(_), Packet::PingResp]),
                "{out:?}"
            );
        } else {
            raw.session.reject(ReasonCode::NotAuthorized).unwrap();
            // v5 [MQTT-3.1.4-6], v3.1.1 [MQTT-3.1.4-5]
            let events = raw.events();
            assert!(!events
                .iter()
                .any(|e| matches!(e, ServerEvent::Publish { .. })));
            assert_eq!(raw.recv().len(), 1);
        }
    }
}

#[test]
fn rejected_client_identifier_gets_0x85_or_return_code_2_then_close() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut raw = RawServer::new(ServerConfig::default());
        raw.send(Packet::Connect(Box::new(connect(version, "bad id"))));
        raw.events();
        raw.session
            .reject(ReasonCode::ClientIdentifierNotValid)
            .unwrap();
        let out = raw.recv();
        // v5 [MQTT-3.1.3-8], v3.1.1 [MQTT-3.1.3-9]
        assert_eq!(
            connack(&out).reason_code,
            ReasonCode::ClientIdentifierNotValid
        );
        if !version.is_v5() {
            assert_eq!(&encode(version, &out[0])[..], b"\x20\x02\x00\x02");
        }
        assert!(raw.is_closed());
    }
}
