//! Reason strings and user properties the broker attaches to acknowledgements and DISCONNECT:
//! sent when they fit, left out when they would exceed the client's Maximum Packet Size or when
//! the client asked for no problem information.

use super::raw::{connect, pid, publish, pubrel, subscribe, RawServer};
use crate::{Accept, DeliveryOptions, Message, ServerConfig, ServerEvent};
use bytes::Bytes;
use starling_codec::{
    AckProperties, DisconnectProperties, MqttStr, Packet, PacketId, ProtocolVersion, PubRec, QoS,
    ReasonCode, TopicFilter, TopicName, Unsubscribe, UnsubscribeProperties,
};
use std::num::NonZeroU32;

fn server(max_packet: u32, problem_information: bool) -> RawServer {
    let mut c = connect(ProtocolVersion::V5, "c");
    c.properties.maximum_packet_size = NonZeroU32::new(max_packet);
    c.properties.request_problem_information = Some(problem_information);
    RawServer::connected(ServerConfig::default(), c, Accept::new())
}

fn chatty() -> AckProperties {
    let mut p = AckProperties::default();
    p.reason_string = Some(MqttStr::try_from("x".repeat(64).as_str()).unwrap());
    p.user_properties = vec![(
        MqttStr::try_from("k").unwrap(),
        MqttStr::try_from("v".repeat(64).as_str()).unwrap(),
    )];
    p
}

/// Sends an inbound PUBLISH at `qos` and acknowledges it with `chatty()` properties.
fn ack_with_properties(raw: &mut RawServer, qos: QoS) -> Packet {
    raw.send(Packet::Publish(publish("t", qos, 1, b"p")));
    let Some(ServerEvent::Publish {
        packet_id: Some(id),
        ..
    }) = raw.event()
    else {
        panic!("no publish")
    };
    raw.session
        .ack_publish_with(id, ReasonCode::NoMatchingSubscribers, chatty())
        .unwrap();
    let mut out = raw.recv();
    assert_eq!(out.len(), 1, "{out:?}");
    out.remove(0)
}

#[test]
fn puback_properties_are_sent_when_they_fit_and_dropped_when_they_do_not() {
    let mut roomy = server(1024, true);
    match ack_with_properties(&mut roomy, QoS::AtLeastOnce) {
        Packet::PubAck(a) => assert_eq!(a.properties, chatty()),
        other => panic!("{other:?}"),
    }
    // v5 [MQTT-3.4.2-2]: no Reason String, v5 [MQTT-3.4.2-3]: no User Property, if they would
    // make the PUBACK larger than the client's Maximum Packet Size; the reason code stays.
    let mut tight = server(32, true);
    match ack_with_properties(&mut tight, QoS::AtLeastOnce) {
        Packet::PubAck(a) => {
            assert_eq!(a.reason_code, ReasonCode::NoMatchingSubscribers);
            assert!(a.properties.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pubrec_properties_are_dropped_when_they_do_not_fit() {
    // v5 [MQTT-3.5.2-2], v5 [MQTT-3.5.2-3]
    let mut tight = server(32, true);
    match ack_with_properties(&mut tight, QoS::ExactlyOnce) {
        Packet::PubRec(r) => {
            assert_eq!(r.reason_code, ReasonCode::NoMatchingSubscribers);
            assert!(r.properties.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_problem_information_means_no_reason_strings_on_acks() {
    // v5 [MQTT-3.1.2-29]: with Request Problem Information 0, acks carry no Reason String or
    // User Property even when they would fit.
    let mut quiet = server(1024, false);
    match ack_with_properties(&mut quiet, QoS::AtLeastOnce) {
        Packet::PubAck(a) => assert!(a.properties.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn suback_and_unsuback_properties_are_dropped_when_they_do_not_fit() {
    for (max, kept) in [(1024, true), (24, false)] {
        let mut raw = server(max, true);
        raw.send(Packet::Subscribe(subscribe(
            3,
            &[("a/+", QoS::AtLeastOnce)],
        )));
        let Some(ServerEvent::Subscribe { packet_id, .. }) = raw.event() else {
            panic!()
        };
        raw.session
            .sub_ack_with(packet_id, vec![ReasonCode::GrantedQoS1], chatty())
            .unwrap();
        match &raw.recv()[..] {
            // v5 [MQTT-3.9.2-1], v5 [MQTT-3.9.2-2]
            [Packet::SubAck(s)] => assert_eq!(s.properties == chatty(), kept, "max {max}"),
            other => panic!("{other:?}"),
        }
        raw.send(Packet::Unsubscribe(Unsubscribe {
            packet_id: pid(4),
            filters: vec![TopicFilter::try_from("a/+").unwrap()],
            properties: UnsubscribeProperties::default(),
        }));
        let Some(ServerEvent::Unsubscribe { packet_id, .. }) = raw.event() else {
            panic!()
        };
        raw.session
            .unsub_ack_with(packet_id, None, chatty())
            .unwrap();
        match &raw.recv()[..] {
            // v5 [MQTT-3.11.2-1], v5 [MQTT-3.11.2-2]
            [Packet::UnsubAck(u)] => {
                assert_eq!(u.properties == chatty(), kept, "max {max}");
                assert_eq!(u.reason_codes, vec![ReasonCode::Success]);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn server_disconnect_never_carries_session_expiry_and_sheds_what_does_not_fit() {
    for (max, kept) in [(1024, true), (16, false)] {
        let mut raw = server(max, true);
        let mut props = DisconnectProperties::default();
        props.session_expiry_interval = Some(30);
        props.reason_string = Some(MqttStr::try_from("x".repeat(40).as_str()).unwrap());
        props.user_properties = chatty().user_properties;
        raw.session
            .disconnect_with(ReasonCode::AdministrativeAction, props);
        match &raw.recv()[..] {
            [Packet::Disconnect(d)] => {
                assert_eq!(d.reason_code, ReasonCode::AdministrativeAction);
                // v5 [MQTT-3.14.2-2]: never a Session Expiry Interval from the server.
                assert_eq!(d.properties.session_expiry_interval, None);
                // v5 [MQTT-3.14.2-3], v5 [MQTT-3.14.2-4]
                assert_eq!(d.properties.reason_string.is_some(), kept, "max {max}");
                assert_eq!(!d.properties.user_properties.is_empty(), kept, "max {max}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn pubrel_and_pubcomp_stay_within_a_tiny_maximum_packet_size() {
    // The session never adds properties to PUBREL or PUBCOMP, so they are 4 bytes at most and
    // always fit: v5 [MQTT-3.6.2-2], v5 [MQTT-3.6.2-3], v5 [MQTT-3.7.2-2], v5 [MQTT-3.7.2-3].
    let mut raw = server(16, true);
    // Inbound QoS 2: PUBREL from the client is answered with a bare PUBCOMP.
    raw.send(Packet::Publish(publish("t", QoS::ExactlyOnce, 9, b"")));
    let Some(ServerEvent::Publish {
        packet_id: Some(id),
        ..
    }) = raw.event()
    else {
        panic!()
    };
    raw.session.ack_publish(id, ReasonCode::Success).unwrap();
    raw.recv();
    raw.send(pubrel(9));
    match &raw.recv()[..] {
        [Packet::PubComp(c)] => assert!(c.properties.is_empty()),
        other => panic!("{other:?}"),
    }
    // Outbound QoS 2: PUBREC from the client is answered with a bare PUBREL.
    let message = Message::new(
        TopicName::try_from("o").unwrap(),
        Bytes::from_static(b"m"),
        QoS::ExactlyOnce,
        false,
    );
    let opts = DeliveryOptions {
        qos: QoS::ExactlyOnce,
        ..DeliveryOptions::default()
    };
    raw.session.deliver(raw.now(), message, opts).unwrap();
    let Some(Packet::Publish(p)) = raw.recv().pop() else {
        panic!()
    };
    let id: PacketId = p.qos_pid.packet_id().unwrap();
    raw.send(Packet::PubRec(PubRec::new(id)));
    match &raw.recv()[..] {
        [Packet::PubRel(r)] => assert!(r.properties.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn connack_reason_string_and_user_properties_are_dropped_when_they_do_not_fit() {
    for (max, kept) in [(1024, true), (24, false)] {
        let mut c = connect(ProtocolVersion::V5, "c");
        c.properties.maximum_packet_size = NonZeroU32::new(max);
        let mut raw = RawServer::new(ServerConfig::default());
        raw.send(Packet::Connect(Box::new(c)));
        let Some(ServerEvent::Connect(_)) = raw.event() else {
            panic!()
        };
        let mut accept = Accept::new();
        accept.reason_string = chatty().reason_string;
        accept.user_properties = chatty().user_properties;
        raw.session.accept(raw.now(), accept).unwrap();
        match &raw.recv()[..] {
            [Packet::ConnAck(a)] => {
                assert_eq!(a.reason_code, ReasonCode::Success);
                // v5 [MQTT-3.2.2-19]: Reason String, v5 [MQTT-3.2.2-20]: User Property, only if
                // the CONNACK stays within the client's Maximum Packet Size.
                assert_eq!(a.properties.reason_string.is_some(), kept, "max {max}");
                assert_eq!(!a.properties.user_properties.is_empty(), kept, "max {max}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn v311_client_with_empty_id_always_asks_for_a_clean_session() {
    use super::raw::RawClient;
    use crate::ClientConfig;
    let mut config = ClientConfig::new(ProtocolVersion::V3_1_1, MqttStr::empty());
    config.clean_start = false;
    let (_, sent) = RawClient::new(config);
    // v3.1.1 [MQTT-3.1.3-7]: a zero-byte client id comes with CleanSession 1.
    assert!(sent.clean_start);
    // MQTT 5 lets the server assign an id to a session that may be resumed.
    let mut config = ClientConfig::new(ProtocolVersion::V5, MqttStr::empty());
    config.clean_start = false;
    assert!(!RawClient::new(config).1.clean_start);
}
