//! Password file and ACL file over real sockets, MQTT 3.1.1 and 5.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{connect_packet, test_config, within, Raw};
use starling_broker::{
    auth::{hash_password_pbkdf2, AclFile, PasswordFile},
    Broker, BrokerHandle,
};
use starling_codec::{
    MqttStr, Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, Subscribe,
    SubscribeProperties, SubscriptionOptions, TopicFilter, TopicName,
};
use std::{net::SocketAddr, sync::Arc};

const ACL: &str = "\
user alice
topic readwrite alice/#
topic read shared/#
topic deny alice/secret
";

async fn broker(allow_anonymous: bool) -> (BrokerHandle, SocketAddr) {
    let passwords = format!("alice:{}\n", hash_password_pbkdf2("secret", 101));
    let handle = Broker::builder()
        .config(test_config())
        .listen_tcp("127.0.0.1:0".parse().unwrap(), allow_anonymous)
        .authenticator(Arc::new(PasswordFile::parse(&passwords).unwrap()))
        .authorizer(Arc::new(AclFile::parse(ACL).unwrap()))
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let addr = handle.local_addrs()[0];
    (handle, addr)
}

async fn login(
    addr: SocketAddr,
    v: ProtocolVersion,
    id: &str,
    user: Option<&str>,
    pass: Option<&'static [u8]>,
) -> (Raw, ReasonCode) {
    let mut c = connect_packet(v, id);
    c.username = user.map(|u| MqttStr::try_from(u).unwrap());
    c.password = pass.map(Bytes::from_static);
    let (raw, ack) = Raw::connect(addr, c).await;
    (raw, ack.reason_code)
}

fn subscribe(filter: &str) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: PacketId::new(1).unwrap(),
        filters: vec![(
            TopicFilter::try_from(filter).unwrap(),
            SubscriptionOptions::new(QoS::AtLeastOnce),
        )],
        properties: SubscribeProperties::default(),
    })
}

fn publish(topic: &str, id: u16) -> Packet {
    Packet::Publish(Publish::new(
        TopicName::try_from(topic).unwrap(),
        QosPid::AtLeastOnce(PacketId::new(id).unwrap()),
        Bytes::from(topic.to_owned()),
    ))
}

#[tokio::test]
async fn password_file_decides_who_connects() {
    let (b, addr) = broker(false).await;
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        // Anonymous on a listener that does not allow it: not authorized (3.x return code 5).
        assert_eq!(
            login(addr, v, "a", None, None).await.1,
            ReasonCode::NotAuthorized
        );
        // Wrong password: bad user name or password (3.x return code 4).
        assert_eq!(
            login(addr, v, "b", Some("alice"), Some(b"nope")).await.1,
            ReasonCode::BadUserNameOrPassword
        );
        assert_eq!(
            login(addr, v, "c", Some("mallory"), Some(b"secret"))
                .await
                .1,
            ReasonCode::BadUserNameOrPassword
        );
        assert_eq!(
            login(addr, v, "d", Some("alice"), Some(b"secret")).await.1,
            ReasonCode::Success
        );
    }
    within("shutdown", b.shutdown()).await;
}

#[tokio::test]
async fn anonymous_clients_pass_where_the_listener_allows_them() {
    let (b, addr) = broker(true).await;
    assert_eq!(
        login(addr, ProtocolVersion::V5, "anon", None, None).await.1,
        ReasonCode::Success
    );
    within("shutdown", b.shutdown()).await;
}

#[tokio::test]
async fn acl_refuses_subscriptions_with_the_version_specific_code() {
    let (b, addr) = broker(false).await;
    for (v, refused) in [
        (ProtocolVersion::V3_1_1, ReasonCode::UnspecifiedError),
        (ProtocolVersion::V5, ReasonCode::NotAuthorized),
    ] {
        let (mut c, rc) = login(addr, v, "s", Some("alice"), Some(b"secret")).await;
        assert_eq!(rc, ReasonCode::Success);
        for (filter, expected) in [
            ("alice/#", ReasonCode::GrantedQoS1),
            ("shared/x", ReasonCode::GrantedQoS1),
            ("other/#", refused),
            ("alice/secret", refused),
        ] {
            c.send(subscribe(filter)).await;
            match c.recv().await {
                // 3.1.1: 0x80 failure; 5: 0x87 Not authorized.
                Packet::SubAck(s) => assert_eq!(s.reason_codes, vec![expected], "{v:?} {filter}"),
                other => panic!("{other:?}"),
            }
        }
    }
    within("shutdown", b.shutdown()).await;
}

#[tokio::test]
async fn acl_drops_forbidden_publishes() {
    let (b, addr) = broker(false).await;
    let (mut sub, _) = login(
        addr,
        ProtocolVersion::V5,
        "sub",
        Some("alice"),
        Some(b"secret"),
    )
    .await;
    sub.send(subscribe("alice/#")).await;
    assert!(matches!(sub.recv().await, Packet::SubAck(_)));

    // MQTT 5: a forbidden QoS 1 publish is answered 0x87 and not routed.
    let (mut p5, _) = login(
        addr,
        ProtocolVersion::V5,
        "p5",
        Some("alice"),
        Some(b"secret"),
    )
    .await;
    p5.send(publish("alice/secret", 1)).await;
    match p5.recv().await {
        Packet::PubAck(a) => assert_eq!(a.reason_code, ReasonCode::NotAuthorized),
        other => panic!("{other:?}"),
    }
    // MQTT 3.1.1: acknowledged as usual (3.x cannot say no) but dropped.
    let (mut p3, _) = login(
        addr,
        ProtocolVersion::V3_1_1,
        "p3",
        Some("alice"),
        Some(b"secret"),
    )
    .await;
    p3.send(publish("shared/x", 2)).await;
    assert!(matches!(p3.recv().await, Packet::PubAck(_)));
    // An allowed publish arrives, and it is the first thing the subscriber sees.
    p3.send(publish("alice/ok", 3)).await;
    assert!(matches!(p3.recv().await, Packet::PubAck(_)));
    match sub.recv().await {
        Packet::Publish(p) => assert_eq!(p.topic(), "alice/ok"),
        other => panic!("{other:?}"),
    }
    within("shutdown", b.shutdown()).await;
}

#[tokio::test]
async fn a_partial_deny_is_enforced_per_delivered_message() {
    let passwords = format!("carol:{}\n", hash_password_pbkdf2("pw", 101));
    let acl = "user carol\ntopic readwrite #\ntopic deny secret/#\n";
    let handle = Broker::builder()
        .config(test_config())
        .listen_tcp("127.0.0.1:0".parse().unwrap(), false)
        .authenticator(Arc::new(PasswordFile::parse(&passwords).unwrap()))
        .authorizer(Arc::new(AclFile::parse(acl).unwrap()))
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let addr = handle.local_addrs()[0];
    let (mut sub, _) = login(addr, ProtocolVersion::V5, "sub", Some("carol"), Some(b"pw")).await;
    sub.send(subscribe("#")).await;
    assert!(matches!(sub.recv().await, Packet::SubAck(_)));
    // The publisher is another user allowed to write everywhere: the broker itself.
    handle
        .publish(
            TopicName::try_from("secret/plans").unwrap(),
            Bytes::from_static(b"no"),
            QoS::AtMostOnce,
            false,
        )
        .await;
    handle
        .publish(
            TopicName::try_from("public/news").unwrap(),
            Bytes::from_static(b"yes"),
            QoS::AtMostOnce,
            false,
        )
        .await;
    match sub.recv().await {
        Packet::Publish(p) => assert_eq!(p.topic(), "public/news"),
        other => panic!("{other:?}"),
    }
    within("shutdown", handle.shutdown()).await;
}
