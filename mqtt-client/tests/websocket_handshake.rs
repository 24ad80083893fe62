//! The client's WebSocket opening handshake, seen from a bare WebSocket server on a loopback
//! socket (no broker, which would accept a client without the subprotocol too).

// Test helpers panic on unexpected results by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The handshake callback's error type is tungstenite's, not ours.
#![allow(clippy::result_large_err)]

use futures::{SinkExt, StreamExt};
use starling_client::{codec::ProtocolVersion, Client, ConnectOptions};
use std::time::Duration;
use tokio::{net::TcpListener, sync::oneshot, time::timeout};
use tokio_tungstenite::tungstenite::{
    handshake::server::{Request, Response},
    http::HeaderValue,
    Message,
};

const T: Duration = Duration::from_secs(10);

/// v5 [MQTT-6.0.0-3], v3.1.1 [MQTT-6.0.0-3]: the client offers "mqtt" among its WebSocket
/// subprotocols; then it speaks MQTT in binary frames.
#[tokio::test]
async fn the_client_offers_the_mqtt_subprotocol() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (offered_tx, offered_rx) = oneshot::channel();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let callback = |request: &Request, mut response: Response| {
                let offered: Vec<String> = request
                    .headers()
                    .get_all("Sec-WebSocket-Protocol")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
                    .collect();
                let _ = offered_tx.send((request.uri().path().to_owned(), offered));
                response
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
                Ok(response)
            };
            let mut ws = tokio_tungstenite::accept_hdr_async(stream, callback)
                .await
                .unwrap();
            // The CONNECT, in a binary frame; a CONNACK accepting it.
            let connect = loop {
                match ws.next().await.unwrap().unwrap() {
                    Message::Binary(b) => break b,
                    Message::Ping(_) | Message::Pong(_) => {}
                    other => panic!("expected a binary frame, got {other:?}"),
                }
            };
            assert_eq!(connect[0], 0x10, "not a CONNECT: {connect:02x?}");
            let connack: &'static [u8] = if version == ProtocolVersion::V5 {
                &[0x20, 0x03, 0x00, 0x00, 0x00]
            } else {
                &[0x20, 0x02, 0x00, 0x00]
            };
            ws.send(Message::Binary(connack.into())).await.unwrap();
            // Until the client goes.
            while let Some(Ok(_)) = ws.next().await {}
        });
        let options = ConnectOptions::new(&format!("ws://{addr}/mqtt"))
            .unwrap()
            .client_id("ws-handshake")
            .version(version);
        let client = timeout(T, Client::connect(options)).await.unwrap().unwrap();
        let (path, offered) = timeout(T, offered_rx).await.unwrap().unwrap();
        assert_eq!(path, "/mqtt");
        assert!(
            offered.iter().any(|p| p == "mqtt"),
            "{version:?} offered {offered:?}"
        );
        client.disconnect().await.unwrap();
        timeout(T, server).await.unwrap().unwrap();
    }
}
