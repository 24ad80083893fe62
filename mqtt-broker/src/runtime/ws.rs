//! MQTT over WebSocket (MQTT 5 §6 / 3.1.1 §6): path `/mqtt`, subprotocol `mqtt`, binary frames.
//!
//! The WebSocket is bridged to an in-memory byte pipe handed to the ordinary connection code,
//! so WebSocket, TCP and (later) TLS share one connection path. MQTT packets may span frames
//! and frames may carry several packets: the pipe is a plain byte stream.

use super::{spawn_connection, ListenerInfo, Shared};
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::tungstenite::{
    handshake::server::{ErrorResponse, Request, Response},
    http::{HeaderValue, StatusCode},
    Message,
};

/// Performs the WebSocket handshake and serves the connection.
pub(crate) async fn serve(stream: TcpStream, info: ListenerInfo, shared: Arc<Shared>) {
    // The error type is fixed by tungstenite's callback signature.
    #[allow(clippy::result_large_err)]
    let check = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path() != "/mqtt" {
            let mut e = ErrorResponse::new(Some("MQTT is served on /mqtt".into()));
            *e.status_mut() = StatusCode::NOT_FOUND;
            return Err(e);
        }
        // v5 [MQTT-6.0.0-3]: the client names "mqtt" among its subprotocols; echo it.
        let offers_mqtt = req
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == "mqtt");
        if offers_mqtt {
            resp.headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        }
        Ok(resp)
    };
    let ws = match tokio_tungstenite::accept_hdr_async(stream, check).await {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(error = %e, "websocket handshake failed");
            return;
        }
    };
    let (mqtt_side, bridge_side) = tokio::io::duplex(64 * 1024);
    spawn_connection(&shared, mqtt_side, info);
    let (mut ws_tx, mut ws_rx) = ws.split();
    let (mut pipe_rx, mut pipe_tx) = tokio::io::split(bridge_side);
    let inbound = async {
        while let Some(Ok(msg)) = ws_rx.next().await {
            match msg {
                // v5 [MQTT-6.0.0-1]: MQTT travels in binary frames; anything else closes.
                Message::Binary(data) => {
                    if pipe_tx.write_all(&data).await.is_err() {
                        break;
                    }
                }
                Message::Ping(_) | Message::Pong(_) => {}
                _ => break,
            }
        }
        let _ = pipe_tx.shutdown().await;
    };
    let outbound = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match pipe_rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if ws_tx
                        .send(Message::Binary(buf[..n].to_vec().into()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        let _ = ws_tx.close().await;
    };
    tokio::join!(inbound, outbound);
}
