//! MQTT over WebSocket, and IPv6 listeners.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use starling_broker::{Broker, BrokerHandle};
use starling_codec::{
    Connect, MqttStr, Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid, Subscribe,
    SubscribeProperties, SubscriptionOptions, TopicFilter, TopicName, MAX_PACKET_SIZE,
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
    // A CONNECT split over two frames, SUBSCRIBE in the same frame as nothing else.
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
        Packet::Publish(p) => assert_eq!(&p.payload[..], b"from tcp"),
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
            Packet::Publish(p) => assert_eq!(&p.payload[..], expected),
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
async fn tcp_listener_on_ipv6_loopback() {
    let b = Broker::builder()
        .listen_tcp("[::1]:0".parse().unwrap(), true)
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
    b.shutdown().await;
}
