//! End-to-end against the in-process Starling broker over real loopback sockets (TCP and
//! WebSocket) and over the broker's in-process duplex path.

// Test helpers panic on unexpected results by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use starling_broker::{Broker, BrokerHandle};
use starling_client::{
    codec::{ProtocolVersion, QoS, ReasonCode, SubscribeProperties, SubscriptionOptions},
    Client, ConnectOptions, Error, Event, Message, Reconnect,
};
use std::{future::IntoFuture, time::Duration};
use tokio::time::timeout;

const T: Duration = Duration::from_secs(10);

async fn broker() -> BrokerHandle {
    Broker::builder()
        .listen_tcp("127.0.0.1:0".parse().unwrap(), true)
        .listen_ws("127.0.0.1:0".parse().unwrap(), true)
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap()
}

fn url(b: &BrokerHandle) -> String {
    format!("mqtt://{}", b.local_addrs()[0])
}

async fn client(b: &BrokerHandle, id: &str, version: ProtocolVersion) -> Client {
    let options = ConnectOptions::new(&url(b))
        .unwrap()
        .client_id(id)
        .version(version);
    timeout(T, Client::connect(options)).await.unwrap().unwrap()
}

async fn next(stream: &mut (impl futures::Stream<Item = Message> + Unpin)) -> Message {
    timeout(T, stream.next()).await.unwrap().unwrap()
}

#[tokio::test]
async fn publish_resolves_on_ack_for_every_qos_in_every_version() {
    let b = broker().await;
    for version in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ] {
        let sub = client(&b, &format!("sub-{version:?}"), version).await;
        let publ = client(&b, &format!("pub-{version:?}"), version).await;
        let mut messages = sub.messages();
        let granted = sub.subscribe("e2e/#", QoS::ExactlyOnce).await.unwrap();
        assert_eq!(granted.granted_qos(), Some(QoS::ExactlyOnce));
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let outcome = publ
                .publish(format!("e2e/{qos:?}"), format!("{version:?}"))
                .qos(qos)
                .await
                .unwrap();
            assert_eq!(outcome.packet_id.is_some(), qos != QoS::AtMostOnce);
            assert!(!outcome.reason.is_error());
            let m = next(&mut messages).await;
            assert_eq!(m.topic(), format!("e2e/{qos:?}"));
            assert_eq!(m.qos, qos);
            assert_eq!(&m.payload[..], format!("{version:?}").as_bytes());
        }
        publ.disconnect().await.unwrap();
        sub.disconnect().await.unwrap();
        assert!(publ.is_closed());
    }
    b.shutdown().await;
}

#[tokio::test]
async fn per_subscription_streams_get_only_their_messages() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let b = broker().await;
        let c = client(&b, "streams", version).await;
        let mut all = c.messages();
        let mut a = c.subscribe_stream("a/+", QoS::AtLeastOnce).await.unwrap();
        let mut bb = c.subscribe_stream("b/#", QoS::AtLeastOnce).await.unwrap();
        assert_eq!(a.suback().granted_qos(), Some(QoS::AtLeastOnce));
        for t in ["a/1", "b/1", "b/2/3", "a/2"] {
            c.publish(t, t).qos(QoS::AtLeastOnce).await.unwrap();
        }
        assert_eq!(next(&mut a).await.topic(), "a/1");
        assert_eq!(next(&mut a).await.topic(), "a/2");
        assert_eq!(next(&mut bb).await.topic(), "b/1");
        assert_eq!(next(&mut bb).await.topic(), "b/2/3");
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(next(&mut all).await.topic().to_string());
        }
        assert_eq!(seen, ["a/1", "b/1", "b/2/3", "a/2"]);
        if version.is_v5() {
            // Routed by the identifier the client assigned.
            let m = {
                c.publish("a/9", "x").await.unwrap();
                next(&mut a).await
            };
            assert_eq!(m.properties.subscription_identifiers.len(), 1);
        }
        // Unsubscribing every filter of a stream ends it.
        c.unsubscribe("b/#").await.unwrap();
        assert!(timeout(T, bb.next()).await.unwrap().is_none());
        c.disconnect().await.unwrap();
        b.shutdown().await;
    }
}

#[tokio::test]
async fn overlapping_streams_by_identifier_each_get_a_copy() {
    let b = broker().await;
    let c = client(&b, "overlap", ProtocolVersion::V5).await;
    let mut wide = c.subscribe_stream("x/#", QoS::AtMostOnce).await.unwrap();
    let mut narrow = c.subscribe_stream("x/y", QoS::AtMostOnce).await.unwrap();
    c.publish("x/y", "1").await.unwrap();
    assert_eq!(next(&mut wide).await.topic(), "x/y");
    assert_eq!(next(&mut narrow).await.topic(), "x/y");
    c.publish("x/z", "2").await.unwrap();
    assert_eq!(next(&mut wide).await.topic(), "x/z");
    b.shutdown().await;
}

#[tokio::test]
async fn refused_subscription_and_bad_arguments_are_errors() {
    let b = broker().await;
    let c = client(&b, "errors", ProtocolVersion::V5).await;
    assert!(matches!(
        c.subscribe("a/#/b", QoS::AtMostOnce).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        c.publish("a/+", "x").await,
        Err(Error::Invalid(_))
    ));
    // A topic nobody subscribes to is still acknowledged (0x00 or 0x10).
    let outcome = c
        .publish("nobody/home", "x")
        .qos(QoS::AtLeastOnce)
        .await
        .unwrap();
    assert!(!outcome.reason.is_error());
    // Too large for the server's Maximum Packet Size: refused locally, connection intact.
    let huge = vec![0u8; 300 << 20];
    assert!(matches!(
        c.publish("big", huge).await,
        Err(Error::Session(_))
    ));
    c.publish("still/ok", "x")
        .qos(QoS::AtLeastOnce)
        .await
        .unwrap();
    b.shutdown().await;
}

#[tokio::test]
async fn request_response_round_trip() {
    let b = broker().await;
    let server = client(&b, "responder", ProtocolVersion::V5).await;
    let mut requests = server
        .subscribe_stream("svc/echo", QoS::AtLeastOnce)
        .await
        .unwrap();
    let responder = {
        let server = server.clone();
        tokio::spawn(async move {
            for _ in 0..2 {
                let req = requests.next().await.unwrap();
                let mut answer = b"echo:".to_vec();
                answer.extend_from_slice(&req.payload);
                server
                    .respond(&req, answer)
                    .unwrap()
                    .qos(QoS::AtLeastOnce)
                    .await
                    .unwrap();
            }
        })
    };
    let requester = client(&b, "requester", ProtocolVersion::V5).await;
    let r1 = requester.request("svc/echo", "one").await.unwrap();
    assert_eq!(&r1.payload[..], b"echo:one");
    let r2 = requester
        .request("svc/echo", "two")
        .timeout(T)
        .await
        .unwrap();
    assert_eq!(&r2.payload[..], b"echo:two");
    timeout(T, responder).await.unwrap().unwrap();
    // Nobody answers: timeout.
    let r = requester
        .request("svc/nobody", "?")
        .timeout(Duration::from_millis(200))
        .await;
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    // 3.1.1 has no response topic.
    let old = client(&b, "old", ProtocolVersion::V3_1_1).await;
    assert!(matches!(
        old.request("svc/echo", "x").await,
        Err(Error::Invalid(_))
    ));
    b.shutdown().await;
}

#[tokio::test]
async fn websocket_transport() {
    let b = broker().await;
    let ws = format!("ws://{}/mqtt", b.local_addrs()[1]);
    let c = timeout(
        T,
        Client::connect(ConnectOptions::new(&ws).unwrap().client_id("ws")),
    )
    .await
    .unwrap()
    .unwrap();
    let mut s = c.subscribe_stream("ws/t", QoS::ExactlyOnce).await.unwrap();
    c.publish("ws/t", vec![7u8; 100_000])
        .qos(QoS::ExactlyOnce)
        .await
        .unwrap();
    let m = next(&mut s).await;
    assert_eq!(m.payload.len(), 100_000);
    c.disconnect().await.unwrap();
    b.shutdown().await;
}

#[tokio::test]
async fn in_process_connector_and_retained_messages() {
    let b = broker().await;
    let handle = b.clone();
    let options = ConnectOptions::with_connector(move || {
        let io = handle.connect_in_process();
        async move { Ok(io) }
    })
    .client_id("inproc")
    .version(ProtocolVersion::V5);
    let c = timeout(T, Client::connect(options)).await.unwrap().unwrap();
    c.publish("ret/a", "kept")
        .qos(QoS::AtLeastOnce)
        .retain(true)
        .await
        .unwrap();
    let mut s = c
        .subscribe_stream_with(
            [("ret/#", SubscriptionOptions::new(QoS::AtLeastOnce))],
            SubscribeProperties::default(),
        )
        .await
        .unwrap();
    let m = next(&mut s).await;
    assert!(m.retain);
    assert_eq!(&m.payload[..], b"kept");
    b.shutdown().await;
}

#[tokio::test]
async fn refused_connect_fails_connect_and_events_report_the_session() {
    let b = Broker::builder()
        .listen_tcp("127.0.0.1:0".parse().unwrap(), false)
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let r = Client::connect(
        ConnectOptions::new(&url(&b))
            .unwrap()
            .reconnect(Reconnect::disabled()),
    )
    .await;
    assert!(
        matches!(r, Err(Error::Refused(code)) if code == ReasonCode::NotAuthorized || code == ReasonCode::BadUserNameOrPassword),
        "{r:?}"
    );
    b.shutdown().await;

    let b = broker().await;
    let options = ConnectOptions::new(&url(&b))
        .unwrap()
        .client_id("persist")
        .clean_start(false)
        .session_expiry(60);
    let c = Client::connect(options.clone()).await.unwrap();
    c.subscribe("p/#", QoS::AtLeastOnce).await.unwrap();
    c.disconnect().await.unwrap();
    let (c, driving) = Client::new(options);
    let mut events = c.events();
    tokio::spawn(driving);
    match timeout(T, events.recv()).await.unwrap().unwrap() {
        Event::Connected { session_present } => assert!(session_present),
        other => panic!("{other:?}"),
    }
    b.shutdown().await;
}

#[tokio::test]
async fn broker_shutdown_is_reported_and_the_client_reconnects_to_a_new_broker() {
    let b = broker().await;
    let addr = b.local_addrs()[0];
    let c = Client::connect(
        ConnectOptions::new(&url(&b))
            .unwrap()
            .client_id("again")
            .reconnect(Reconnect::backoff(
                Duration::from_millis(20),
                Duration::from_millis(200),
            )),
    )
    .await
    .unwrap();
    let mut events = c.events();
    c.subscribe("r/#", QoS::AtLeastOnce).await.unwrap();
    b.shutdown().await;
    loop {
        match timeout(T, events.recv()).await.unwrap().unwrap() {
            Event::Disconnected { .. } => break,
            _ => continue,
        }
    }
    // A new broker on the same port (no session): the client resubscribes by itself.
    let b2 = Broker::builder()
        .listen_tcp(addr, true)
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let mut all = c.messages();
    loop {
        match timeout(T, events.recv()).await.unwrap().unwrap() {
            Event::Connected { session_present } => {
                assert!(!session_present);
                break;
            }
            _ => continue,
        }
    }
    // The resubscription is in flight; publish until it lands.
    let other = client(&b2, "other", ProtocolVersion::V5).await;
    let got = timeout(T, async {
        loop {
            other
                .publish("r/x", "hi")
                .qos(QoS::AtLeastOnce)
                .await
                .unwrap();
            if let Ok(Some(m)) = timeout(Duration::from_millis(100), all.next()).await {
                return m;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got.topic(), "r/x");
    b2.shutdown().await;
}

/// Payloads from 4 KiB up leave the client without being copied (vectored writes of the
/// caller's own memory); around that threshold and far above it, over TCP and WebSocket, in
/// every QoS, each arrives whole, byte for byte, in the order it was published.
#[tokio::test]
async fn large_payloads_arrive_whole_and_in_order() {
    let b = broker().await;
    let sizes = [0usize, 100, 4095, 4096, 4097, 65_536, 300_000, 5];
    let payload =
        |i: usize, n: usize| -> Vec<u8> { (0..n).map(|k| (i * 31 + k * 7) as u8).collect() };
    let endpoints = [url(&b), format!("ws://{}/mqtt", b.local_addrs()[1])];
    for (e, endpoint) in endpoints.iter().enumerate() {
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            let id = |role: &str| format!("big-{role}-{e}-{version:?}");
            let connect = |id: String| {
                let options = ConnectOptions::new(endpoint)
                    .unwrap()
                    .client_id(id)
                    .version(version);
                async move { timeout(T, Client::connect(options)).await.unwrap().unwrap() }
            };
            let sub = connect(id("sub")).await;
            let publ = connect(id("pub")).await;
            let mut s = sub
                .subscribe_stream("big/#", QoS::ExactlyOnce)
                .await
                .unwrap();
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                // Published together, so several large payloads share one write.
                let sends = sizes.iter().enumerate().map(|(i, &n)| {
                    publ.publish(format!("big/{i}"), payload(i, n))
                        .qos(qos)
                        .into_future()
                });
                for outcome in timeout(T, futures::future::join_all(sends)).await.unwrap() {
                    outcome.unwrap();
                }
                for (i, &n) in sizes.iter().enumerate() {
                    let m = next(&mut s).await;
                    assert_eq!(
                        m.topic(),
                        format!("big/{i}"),
                        "{endpoint} {version:?} {qos:?}"
                    );
                    assert_eq!(m.payload.len(), n);
                    assert!(m.payload[..] == payload(i, n)[..], "{endpoint} {i}");
                }
            }
            publ.disconnect().await.unwrap();
            sub.disconnect().await.unwrap();
        }
    }
    b.shutdown().await;
}
