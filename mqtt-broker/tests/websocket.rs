//! MQTT over WebSocket, and IPv6 listeners.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use starling_broker::{Broker, BrokerConfig, BrokerHandle};
use starling_codec::{
    Connect, MqttStr, Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid, ReasonCode,
    Subscribe, SubscribeProperties, SubscriptionOptions, TopicFilter, TopicName, MAX_PACKET_SIZE,
};
use std::time::Duration;
use tokio::{io::AsyncReadExt, io::AsyncWriteExt, net::TcpStream, time::timeout};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

const V: ProtocolVersion = ProtocolVersion::V5;

fn encode(p: Packet) -> Vec<u8> {
    let mut b = BytesMut::new();
    p.encode(V, &mut b).unwrap();
    b.to_vec()
}

fn connect(id: &str) -> Packet {
    Packet::Connect(Box::new(Connect::new(V, MqttStr::try_from(id).unwrap())))
}

fn subscribe(filter: &str) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: PacketId::new(1).unwrap(),
        filters: vec![(
            TopicFilter::try_from(filter).unwrap(),
            SubscriptionOptions::new(QoS::AtMostOnce),
        )],
        properties: SubscribeProperties::default(),
    })
}

fn publish(topic: &str, payload: &'static [u8]) -> Packet {
    Packet::Publish(Publish::new(
        TopicName::try_from(topic).unwrap(),
        QosPid::AtMostOnce,
        Bytes::from_static(payload),
    ))
}

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

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn ws_connect(
    addr: std::net::SocketAddr,
    path: &str,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
    let (ws, resp) = tokio_tungstenite::connect_async(req).await?;
    // v5 [MQTT-6.0.0-4], v3.1.1 [MQTT-6.0.0-4]: the server selects "mqtt".
    assert_eq!(
        resp.headers().get("Sec-WebSocket-Protocol").unwrap(),
        "mqtt"
    );
    Ok(ws)
}

/// Reads packets from WebSocket frames until one is complete.
async fn ws_next(ws: &mut Ws, buf: &mut BytesMut) -> Packet {
    loop {
        if let Some(p) = Packet::decode(V, buf, MAX_PACKET_SIZE).unwrap() {
            return p;
        }
        match timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Message::Binary(b) => buf.extend_from_slice(&b),
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

async fn tcp_next(s: &mut TcpStream, buf: &mut BytesMut) -> Packet {
    loop {
        if let Some(p) = Packet::decode(V, buf, MAX_PACKET_SIZE).unwrap() {
            return p;
        }
        assert!(
            timeout(Duration::from_secs(10), s.read_buf(buf))
                .await
                .unwrap()
                .unwrap()
                > 0
        );
    }
}

#[tokio::test]
async fn websocket_and_tcp_clients_exchange_messages() {
    let b = broker().await;
    let addrs = b.local_addrs();
    let mut ws = ws_connect(addrs[1], "/mqtt").await.unwrap();
    let mut wbuf = BytesMut::new();
    // v5 [MQTT-6.0.0-2], v3.1.1 [MQTT-6.0.0-2]: packets are not aligned on frames: a CONNECT
    // split over two frames here, two PUBLISH in one frame below.
    let c = encode(connect("ws"));
    ws.send(Message::Binary(c[..3].to_vec().into()))
        .await
        .unwrap();
    ws.send(Message::Binary(c[3..].to_vec().into()))
        .await
        .unwrap();
    assert!(matches!(
        ws_next(&mut ws, &mut wbuf).await,
        Packet::ConnAck(_)
    ));
    ws.send(Message::Binary(encode(subscribe("t/#")).into()))
        .await
        .unwrap();
    assert!(matches!(
        ws_next(&mut ws, &mut wbuf).await,
        Packet::SubAck(_)
    ));

    let mut tcp = TcpStream::connect(addrs[0]).await.unwrap();
    let mut tbuf = BytesMut::new();
    tcp.write_all(&encode(connect("tcp"))).await.unwrap();
    assert!(matches!(
        tcp_next(&mut tcp, &mut tbuf).await,
        Packet::ConnAck(_)
    ));
    tcp.write_all(&encode(publish("t/1", b"from tcp")))
        .await
        .unwrap();
    match ws_next(&mut ws, &mut wbuf).await {
        Packet::Publish(p) => assert_eq!(p.payload(), b"from tcp"),
        other => panic!("{other:?}"),
    }
    // WebSocket -> TCP, two packets in one frame.
    tcp.write_all(&encode(subscribe("u"))).await.unwrap();
    assert!(matches!(
        tcp_next(&mut tcp, &mut tbuf).await,
        Packet::SubAck(_)
    ));
    let mut two = encode(publish("u", b"one"));
    two.extend(encode(publish("u", b"two")));
    ws.send(Message::Binary(two.into())).await.unwrap();
    for expected in [&b"one"[..], b"two"] {
        match tcp_next(&mut tcp, &mut tbuf).await {
            Packet::Publish(p) => assert_eq!(p.payload(), expected),
            other => panic!("{other:?}"),
        }
    }
    b.shutdown().await;
}

#[tokio::test]
async fn websocket_on_another_path_is_refused() {
    let b = broker().await;
    let err = ws_connect(b.local_addrs()[1], "/other").await.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    b.shutdown().await;
}

#[tokio::test]
async fn tcp_and_websocket_listeners_on_ipv6_loopback() {
    let b = Broker::builder()
        .listen_tcp("[::1]:0".parse().unwrap(), true)
        .listen_ws("[::1]:0".parse().unwrap(), true)
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    let addr = b.local_addrs()[0];
    assert!(addr.is_ipv6());
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut buf = BytesMut::new();
    tcp.write_all(&encode(connect("v6"))).await.unwrap();
    assert!(matches!(
        tcp_next(&mut tcp, &mut buf).await,
        Packet::ConnAck(_)
    ));
    let ws_addr = b.local_addrs()[1];
    assert!(ws_addr.is_ipv6());
    let mut ws = ws_connect(ws_addr, "/mqtt").await.unwrap();
    let mut wbuf = BytesMut::new();
    ws.send(Message::Binary(encode(connect("v6-ws")).into()))
        .await
        .unwrap();
    assert!(matches!(
        ws_next(&mut ws, &mut wbuf).await,
        Packet::ConnAck(_)
    ));
    b.shutdown().await;
}

#[tokio::test]
async fn websocket_handshake_must_finish_within_the_connect_timeout() {
    let mut config = BrokerConfig::default();
    config.sys_interval = None;
    config.session.connect_timeout = Duration::from_millis(300);
    let b = Broker::builder()
        .config(config)
        .listen_ws("127.0.0.1:0".parse().unwrap(), true)
        .build()
        .unwrap()
        .spawn()
        .await
        .unwrap();
    // A socket that never sends the HTTP upgrade is closed, not held.
    let mut tcp = TcpStream::connect(b.local_addrs()[0]).await.unwrap();
    let mut buf = [0u8; 64];
    let n = timeout(Duration::from_secs(10), tcp.read(&mut buf))
        .await
        .expect("the broker closes a socket that never upgrades")
        .unwrap_or(0);
    assert_eq!(n, 0);
    b.shutdown().await;
}

#[tokio::test]
async fn shutdown_sends_disconnect_and_close_without_waiting_for_the_peer() {
    let b = broker().await;
    let mut ws = ws_connect(b.local_addrs()[1], "/mqtt").await.unwrap();
    let mut buf = BytesMut::new();
    ws.send(Message::Binary(encode(connect("bye")).into()))
        .await
        .unwrap();
    assert!(matches!(
        ws_next(&mut ws, &mut buf).await,
        Packet::ConnAck(_)
    ));
    // The client reads nothing and never answers the Close: shutdown still completes.
    timeout(Duration::from_secs(10), b.shutdown())
        .await
        .expect("shutdown does not wait for the WebSocket peer");
    match ws_next(&mut ws, &mut buf).await {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::ServerShuttingDown),
        other => panic!("{other:?}"),
    }
    let close = timeout(Duration::from_secs(10), ws.next()).await.unwrap();
    assert!(matches!(close, Some(Ok(Message::Close(_)))), "{close:?}");
    // Our Close reply is never flushed; the broker closes the socket anyway.
    let mut rest = [0u8; 16];
    let eof = timeout(Duration::from_secs(5), ws.get_mut().read(&mut rest))
        .await
        .expect("the broker closes the socket without waiting for the Close reply");
    assert!(matches!(eof, Ok(0) | Err(_)), "{eof:?}");
}

#[tokio::test]
async fn text_frame_closes_the_connection() {
    let b = broker().await;
    let mut ws = ws_connect(b.local_addrs()[1], "/mqtt").await.unwrap();
    let mut buf = BytesMut::new();
    ws.send(Message::Binary(encode(connect("text")).into()))
        .await
        .unwrap();
    assert!(matches!(
        ws_next(&mut ws, &mut buf).await,
        Packet::ConnAck(_)
    ));
    // v5 [MQTT-6.0.0-1], v3.1.1 [MQTT-6.0.0-1]: MQTT Control Packets travel in binary frames only.
    ws.send(Message::Text("hello".into())).await.unwrap();
    loop {
        match timeout(Duration::from_secs(10), ws.next()).await.unwrap() {
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            // A v5 DISCONNECT may precede the close.
            Some(Ok(Message::Binary(_))) => {}
            Some(Ok(other)) => panic!("unexpected frame {other:?}"),
        }
    }
    b.shutdown().await;
}

/// paho-mqtt 2.x over WebSocket: subscribe and publish to itself through `/mqtt`.
const PAHO_WS: &str = r#"
import sys, threading
import paho.mqtt.client as mqtt
port, version = int(sys.argv[1]), sys.argv[2]
proto = mqtt.MQTTv5 if version == "5" else mqtt.MQTTv311
got, subscribed = threading.Event(), threading.Event()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-ws-" + version,
                protocol=proto, transport="websockets")
c.ws_set_options(path="/mqtt")
c.on_connect = lambda c, u, f, rc, p: c.subscribe("ws/paho", qos=1)
c.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
def on_message(c, u, m):
    print(m.topic, m.payload.decode(), flush=True)
    got.set()
c.on_message = on_message
c.connect("127.0.0.1", port)
c.loop_start()
assert subscribed.wait(10), "no SUBACK"
c.publish("ws/paho", "over websocket", qos=1).wait_for_publish(10)
assert got.wait(10), "no message"
c.disconnect()
c.loop_stop()
"#;

#[tokio::test]
async fn paho_client_over_websocket() {
    let b = broker().await;
    let port = b.local_addrs()[1].port().to_string();
    for version in ["311", "5"] {
        let out = timeout(
            Duration::from_secs(30),
            tokio::process::Command::new("python3")
                .args(["-c", PAHO_WS, &port, version])
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("paho client finishes")
        .expect("python3 missing: run scripts/install-test-deps.sh");
        assert!(
            out.status.success(),
            "paho {version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "ws/paho over websocket"
        );
    }
    b.shutdown().await;
}

#[tokio::test]
async fn large_message_to_a_websocket_subscriber_is_not_stalled() {
    // Larger than the socket buffers: the write completes in several steps after the broker's
    // write call has returned, driven by the connection's next poll.
    let b = broker().await;
    let addrs = b.local_addrs();
    let mut ws = ws_connect(addrs[1], "/mqtt").await.unwrap();
    let mut wbuf = BytesMut::new();
    ws.send(Message::Binary(encode(connect("big-sub")).into()))
        .await
        .unwrap();
    assert!(matches!(
        ws_next(&mut ws, &mut wbuf).await,
        Packet::ConnAck(_)
    ));
    ws.send(Message::Binary(encode(subscribe("big")).into()))
        .await
        .unwrap();
    assert!(matches!(
        ws_next(&mut ws, &mut wbuf).await,
        Packet::SubAck(_)
    ));
    let mut tcp = TcpStream::connect(addrs[0]).await.unwrap();
    let mut tbuf = BytesMut::new();
    tcp.write_all(&encode(connect("big-pub"))).await.unwrap();
    assert!(matches!(
        tcp_next(&mut tcp, &mut tbuf).await,
        Packet::ConnAck(_)
    ));
    let payload: &'static [u8] = Box::leak(vec![7u8; 8 << 20].into_boxed_slice());
    tcp.write_all(&encode(publish("big", payload)))
        .await
        .unwrap();
    match ws_next(&mut ws, &mut wbuf).await {
        Packet::Publish(p) => assert_eq!(p.payload().len(), payload.len()),
        other => panic!("{other:?}"),
    }
    b.shutdown().await;
}
