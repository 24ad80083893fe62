//! Enhanced authentication (v5 §4.12): the AUTH exchange on CONNECT and re-authentication.

use super::pair::{client_config, Pair};
use super::raw::{connect, publish, s, RawClient, RawServer};
use crate::{
    Accept, AuthMethod, AuthStep, ClientError, ClientEvent, ClientPhase, CloseReason, ServerConfig,
    ServerEvent, ServerPhase, ServerSession,
};
use bytes::Bytes;
use starling_codec::{
    Auth, AuthProperties, ConnAck, Connect, Packet, ProtocolVersion, QoS, ReasonCode,
};
use std::time::Duration;

/// A challenge-response method: answers "hello" with a challenge, then wants "secret";
/// "bad" fails at any step.
struct Challenge;

impl AuthMethod for Challenge {
    fn name(&self) -> &str {
        "CHALLENGE"
    }

    fn start(&mut self, _client_id: &str, data: Option<&Bytes>) -> AuthStep {
        match data.map(|d| &d[..]) {
            Some(b"hello") => AuthStep::Continue(Some(Bytes::from_static(b"nonce"))),
            Some(b"secret") => AuthStep::Success(Some(Bytes::from_static(b"welcome"))),
            Some(b"weird") => AuthStep::Failure(ReasonCode::Success),
            _ => AuthStep::Failure(ReasonCode::NotAuthorized),
        }
    }

    fn step(&mut self, data: Option<&Bytes>) -> AuthStep {
        match data.map(|d| &d[..]) {
            Some(b"secret") => AuthStep::Success(Some(Bytes::from_static(b"welcome"))),
            _ => AuthStep::Failure(ReasonCode::BadUserNameOrPassword),
        }
    }
}

fn auth_connect(method: &'static str, data: &'static [u8]) -> Connect {
    let mut c = connect(ProtocolVersion::V5, "c");
    c.properties.authentication_method = Some(s(method));
    c.properties.authentication_data = Some(Bytes::from_static(data));
    c
}

fn auth(reason: ReasonCode, method: Option<&'static str>, data: &'static [u8]) -> Packet {
    let mut properties = AuthProperties::default();
    properties.authentication_method = method.map(s);
    properties.authentication_data = Some(Bytes::from_static(data));
    Packet::Auth(Auth {
        reason_code: reason,
        properties,
    })
}

fn server() -> RawServer {
    let mut raw = RawServer::new(ServerConfig::default());
    let now = raw.now();
    raw.session =
        ServerSession::new(now, ServerConfig::default()).with_auth_method(Box::new(Challenge));
    raw
}

fn closed_reason(events: &[ServerEvent]) -> Option<CloseReason> {
    events.iter().find_map(|e| match e {
        ServerEvent::Closed { reason, .. } => Some(*reason),
        _ => None,
    })
}

/// A server that completed the exchange and was accepted.
fn authenticated() -> RawServer {
    let mut raw = server();
    raw.send(Packet::Connect(Box::new(auth_connect(
        "CHALLENGE",
        b"secret",
    ))));
    raw.events();
    raw.session.accept(raw.now(), Accept::new()).unwrap();
    raw.recv();
    raw
}

#[test]
fn auth_exchange_continues_then_succeeds() {
    let mut raw = server();
    raw.send(Packet::Connect(Box::new(auth_connect(
        "CHALLENGE",
        b"hello",
    ))));
    // v5 [MQTT-4.12.0-2]: AUTH 0x18; v5 [MQTT-4.12.0-5]: with the CONNECT's method.
    let out = raw.recv();
    let [Packet::Auth(a)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(a.reason_code, ReasonCode::ContinueAuthentication);
    assert_eq!(a.properties.authentication_method, Some(s("CHALLENGE")));
    assert_eq!(
        a.properties.authentication_data.as_deref(),
        Some(&b"nonce"[..])
    );
    assert_eq!(raw.session.phase(), ServerPhase::Authenticating);
    assert!(raw.events().is_empty());

    raw.send(auth(
        ReasonCode::ContinueAuthentication,
        Some("CHALLENGE"),
        b"secret",
    ));
    let events = raw.events();
    let [ServerEvent::Connect(info)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(info.auth_data.as_deref(), Some(&b"welcome"[..]));
    raw.session.accept(raw.now(), Accept::new()).unwrap();
    let out = raw.recv();
    let [Packet::ConnAck(ack)] = &out[..] else {
        panic!("{out:?}")
    };
    // v5 [MQTT-4.12.0-5]: the successful CONNACK carries the same method.
    assert_eq!(ack.properties.authentication_method, Some(s("CHALLENGE")));
    assert_eq!(
        ack.properties.authentication_data.as_deref(),
        Some(&b"welcome"[..])
    );
}

#[test]
fn auth_failure_is_refused_with_connack_and_closed() {
    let mut raw = server();
    raw.send(Packet::Connect(Box::new(auth_connect(
        "CHALLENGE",
        b"hello",
    ))));
    raw.recv();
    raw.send(auth(
        ReasonCode::ContinueAuthentication,
        Some("CHALLENGE"),
        b"guess",
    ));
    // v5 [MQTT-4.12.0-4]: CONNACK with a code of 0x80 or more, then close.
    let out = raw.recv();
    assert!(
        matches!(&out[..], [Packet::ConnAck(a)] if a.reason_code == ReasonCode::BadUserNameOrPassword)
    );
    assert!(raw.is_closed());
    // A method that "fails" with a success code still refuses.
    let mut raw = server();
    raw.send(Packet::Connect(Box::new(auth_connect(
        "CHALLENGE",
        b"weird",
    ))));
    let out = raw.recv();
    assert!(matches!(&out[..], [Packet::ConnAck(a)] if a.reason_code.is_error()));
}

#[test]
fn unsupported_method_is_refused_with_0x8c() {
    // v5 [MQTT-4.12.0-1]: unknown method name.
    let mut raw = server();
    raw.send(Packet::Connect(Box::new(auth_connect("KERBEROS", b"x"))));
    let out = raw.recv();
    assert!(
        matches!(&out[..], [Packet::ConnAck(a)] if a.reason_code == ReasonCode::BadAuthenticationMethod)
    );
    assert!(raw.is_closed());
    // And a server with no method at all.
    let mut raw = RawServer::new(ServerConfig::default());
    raw.send(Packet::Connect(Box::new(auth_connect("CHALLENGE", b"x"))));
    let out = raw.recv();
    assert!(
        matches!(&out[..], [Packet::ConnAck(a)] if a.reason_code == ReasonCode::BadAuthenticationMethod)
    );
}

#[test]
fn auth_with_another_method_is_a_protocol_error() {
    let mut raw = server();
    raw.send(Packet::Connect(Box::new(auth_connect(
        "CHALLENGE",
        b"hello",
    ))));
    raw.recv();
    raw.send(auth(
        ReasonCode::ContinueAuthentication,
        Some("OTHER"),
        b"secret",
    ));
    assert!(raw.is_closed());
    // No CONNACK was sent, so no DISCONNECT either (v5 [MQTT-3.14.0-1]).
    assert!(raw.recv().is_empty());
    assert!(matches!(
        closed_reason(&raw.events()),
        Some(CloseReason::ProtocolViolation(ReasonCode::ProtocolError, _))
    ));
}

#[test]
fn auth_without_a_method_in_connect_is_a_protocol_error() {
    let mut raw = RawServer::connected(
        ServerConfig::default(),
        connect(ProtocolVersion::V5, "c"),
        Accept::new(),
    );
    // v5 [MQTT-4.12.0-7] broken by the client.
    raw.send(auth(ReasonCode::ReAuthenticate, Some("CHALLENGE"), b"x"));
    assert!(
        matches!(&raw.recv()[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError)
    );
    assert!(raw.is_closed());
}

#[test]
fn only_auth_or_disconnect_before_connack() {
    let mut raw = server();
    raw.send(Packet::Connect(Box::new(auth_connect(
        "CHALLENGE",
        b"hello",
    ))));
    raw.recv();
    // v5 [MQTT-3.1.2-30] broken by the client.
    raw.send(Packet::Publish(publish("t", QoS::AtMostOnce, 0, b"x")));
    assert!(raw.is_closed());
    assert!(raw
        .events()
        .iter()
        .all(|e| !matches!(e, ServerEvent::Publish { .. })));

    // DISCONNECT is allowed and ends it normally.
    let mut raw = server();
    raw.send(Packet::Connect(Box::new(auth_connect(
        "CHALLENGE",
        b"hello",
    ))));
    raw.recv();
    raw.send(Packet::Disconnect(Default::default()));
    assert_eq!(
        closed_reason(&raw.events()),
        Some(CloseReason::ClientDisconnect(ReasonCode::Success))
    );
}

#[test]
fn authentication_must_finish_before_the_connect_timeout() {
    let mut raw = server();
    raw.send(Packet::Connect(Box::new(auth_connect(
        "CHALLENGE",
        b"hello",
    ))));
    raw.recv();
    raw.advance(Duration::from_secs(10));
    assert!(raw.is_closed());
    assert_eq!(
        closed_reason(&raw.events()),
        Some(CloseReason::ConnectTimeout)
    );
}

#[test]
fn reauthentication_succeeds() {
    let mut raw = authenticated();
    // v5 [MQTT-4.12.1-1]: AUTH 0x19 after CONNACK.
    raw.send(auth(
        ReasonCode::ReAuthenticate,
        Some("CHALLENGE"),
        b"hello",
    ));
    let out = raw.recv();
    assert!(
        matches!(&out[..], [Packet::Auth(a)] if a.reason_code == ReasonCode::ContinueAuthentication)
    );
    raw.send(auth(
        ReasonCode::ContinueAuthentication,
        Some("CHALLENGE"),
        b"secret",
    ));
    let out = raw.recv();
    assert!(
        matches!(&out[..], [Packet::Auth(a)] if a.reason_code == ReasonCode::Success
        && a.properties.authentication_method == Some(s("CHALLENGE")))
    );
    assert_eq!(raw.events(), vec![ServerEvent::Reauthenticated]);
    assert_eq!(raw.session.phase(), ServerPhase::Connected);
}

#[test]
fn failed_reauthentication_disconnects() {
    let mut raw = authenticated();
    raw.send(auth(ReasonCode::ReAuthenticate, Some("CHALLENGE"), b"nope"));
    // v5 [MQTT-4.12.1-2]: DISCONNECT with the reason, then close.
    assert!(
        matches!(&raw.recv()[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::NotAuthorized)
    );
    assert!(raw.is_closed());
}

#[test]
fn reauthenticate_during_the_first_exchange_is_a_protocol_error() {
    let mut raw = server();
    raw.send(Packet::Connect(Box::new(auth_connect(
        "CHALLENGE",
        b"hello",
    ))));
    raw.recv();
    raw.send(auth(
        ReasonCode::ReAuthenticate,
        Some("CHALLENGE"),
        b"hello",
    ));
    assert!(raw.is_closed());
}

#[test]
fn client_refuses_auth_it_did_not_ask_for() {
    let mut raw = RawClient::connected(
        client_config(ProtocolVersion::V5),
        ConnAck::new(ReasonCode::Success),
    );
    raw.send(auth(
        ReasonCode::ContinueAuthentication,
        Some("CHALLENGE"),
        b"x",
    ));
    // v5 [MQTT-4.12.0-6] broken by the server.
    assert!(
        matches!(&raw.recv()[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError)
    );
    assert_eq!(raw.session.phase(), ClientPhase::Closed);
}

#[test]
fn end_to_end_auth_exchange_and_reauthentication() {
    let mut cc = client_config(ProtocolVersion::V5);
    cc.properties.authentication_method = Some(s("CHALLENGE"));
    cc.properties.authentication_data = Some(Bytes::from_static(b"hello"));
    let mut pair = Pair::new(cc, ServerConfig::default());
    let now = pair.now();
    pair.server =
        ServerSession::new(now, ServerConfig::default()).with_auth_method(Box::new(Challenge));
    pair.drive();
    let events = pair.client_events();
    assert!(
        matches!(&events[..], [ClientEvent::AuthChallenge { reason: ReasonCode::ContinueAuthentication, data: Some(d) }] if &d[..] == b"nonce")
    );
    // Only 0x18 and 0x19 may be sent.
    assert!(matches!(
        pair.client.auth(ReasonCode::Success, None),
        Err(ClientError::Invalid(_))
    ));
    pair.client
        .auth(
            ReasonCode::ContinueAuthentication,
            Some(Bytes::from_static(b"secret")),
        )
        .unwrap();
    pair.drive();
    // v5 [MQTT-4.12.0-3], v5 [MQTT-4.12.0-5]: the client's AUTH is 0x18 with the method.
    assert!(pair
        .to_server
        .sent
        .iter()
        .any(|p| matches!(p, Packet::Auth(a)
        if a.reason_code == ReasonCode::ContinueAuthentication
            && a.properties.authentication_method == Some(s("CHALLENGE")))));
    assert_eq!(pair.client.phase(), ClientPhase::Connected);
    pair.client_events();

    pair.client
        .auth(
            ReasonCode::ReAuthenticate,
            Some(Bytes::from_static(b"secret")),
        )
        .unwrap();
    pair.drive();
    assert!(matches!(
        &pair.client_events()[..],
        [ClientEvent::AuthChallenge {
            reason: ReasonCode::Success,
            ..
        }]
    ));
    assert!(pair.server_events().contains(&ServerEvent::Reauthenticated));
}
