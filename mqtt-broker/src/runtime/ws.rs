//! MQTT over WebSocket (v5 §6 / v3.1.1 §6): path `/mqtt`, subprotocol `mqtt`, binary frames.
//!
//! [`WsStream`] turns a WebSocket into a plain byte stream handed to the ordinary connection
//! code, so WebSocket, TCP and (later) TLS share one connection path; the transport under the
//! WebSocket is generic, so WebSocket over TLS only needs another listener. MQTT packets may span
//! messages and a message may carry several packets: the stream knows nothing of packets.

use super::{admission::Admission, dispatch, ListenerInfo, Shared};
use bytes::{Buf, Bytes};
use futures::{Sink, Stream};
use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::{
    tungstenite::{
        self,
        handshake::server::{ErrorResponse, Request, Response},
        http::{HeaderValue, StatusCode},
        protocol::WebSocketConfig,
        Message,
    },
    WebSocketStream,
};

/// The only path MQTT is served on.
const PATH: &str = "/mqtt";

/// Performs the WebSocket handshake on `stream` and serves the MQTT connection over it.
///
/// The handshake must finish within the connect timeout and is abandoned on shutdown, so a
/// client that opens a socket and never upgrades holds nothing for long. The connection was
/// admitted (or is to be refused) before the handshake, so handshakes count against the
/// connection limit: a flood of sockets that never upgrade cannot exceed it.
pub(crate) async fn serve<S>(
    stream: S,
    info: ListenerInfo,
    shared: Arc<Shared>,
    admission: Admission,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut shutdown = shared.shutdown.subscribe();
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        check_request,
        Some(ws_config(shared.config.session.max_packet_size)),
    );
    let ws = tokio::select! {
        _ = shutdown.wait_for(|down| *down) => return,
        r = tokio::time::timeout(shared.config.session.connect_timeout, handshake) => match r {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "websocket handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("websocket handshake timed out");
                return;
            }
        },
    };
    dispatch(&shared, WsStream::new(ws), info, admission);
}

/// Buffers sized for MQTT rather than tungstenite's 128 KiB defaults (they are per connection),
/// and one WebSocket message bounded by the packet size limit (at least 64 KiB, at most
/// tungstenite's 64 MiB default). A larger packet can still arrive split over several messages;
/// the MQTT decoder enforces the packet limit itself.
fn ws_config(max_packet_size: u32) -> WebSocketConfig {
    let limit = usize::try_from(max_packet_size)
        .unwrap_or(usize::MAX)
        .clamp(64 << 10, 64 << 20);
    let mut config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    config.read_buffer_size = 16 << 10;
    // Write each message as soon as it is sent; `WsStream` flushes after every write anyway.
    config.write_buffer_size = 0;
    config
}

/// Accepts only `/mqtt`, and echoes the `mqtt` subprotocol when the client offers it.
// The error type is fixed by tungstenite's callback signature.
#[allow(clippy::result_large_err)]
fn check_request(req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    if req.uri().path() != PATH {
        let mut e = ErrorResponse::new(Some("MQTT is served on /mqtt\n".into()));
        *e.status_mut() = StatusCode::NOT_FOUND;
        return Err(e);
    }
    // v5 [MQTT-6.0.0-3]: the client names "mqtt" among its subprotocols; the server selects it.
    // Clients that offer none (some older libraries) are served without the header.
    let offers_mqtt = req
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("mqtt"));
    if offers_mqtt {
        resp.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    }
    Ok(resp)
}

/// A WebSocket seen as a byte stream: reads return the payloads of binary messages in order,
/// each write is sent as one binary message.
///
/// A write is reported complete once its message is queued; its flush continues from later
/// writes, flushes and reads, so a caller that (like a TCP caller) never calls `flush` still
/// sees its bytes leave as soon as the socket allows. At most one message waits at a time,
/// which bounds the memory a slow peer can make us hold to the caller's own buffer.
pub(crate) struct WsStream<S> {
    ws: WebSocketStream<S>,
    /// Payload of the current binary message not yet read.
    pending_read: Bytes,
    /// A sent message may still sit in tungstenite's buffer.
    unflushed: bool,
}

impl<S> WsStream<S> {
    fn new(ws: WebSocketStream<S>) -> Self {
        WsStream {
            ws,
            pending_read: Bytes::new(),
            unflushed: false,
        }
    }
}

fn io_error(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        other => io::Error::other(other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// Drives an earlier message towards the socket.
    fn poll_flush_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.unflushed {
            ready!(Pin::new(&mut self.ws).poll_flush(cx)).map_err(io_error)?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Pending means the socket is not writable yet; the waker is registered and the read
        // goes on.
        if let Poll::Ready(Err(e)) = this.poll_flush_pending(cx) {
            return Poll::Ready(Err(e));
        }
        loop {
            if !this.pending_read.is_empty() {
                let n = this.pending_read.len().min(buf.remaining());
                buf.put_slice(&this.pending_read[..n]);
                this.pending_read.advance(n);
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending_read = data,
                // tungstenite answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // End of stream; the close reply goes out with the caller's shutdown.
                Some(Ok(Message::Close(_))) | None => return Poll::Ready(Ok(())),
                // v5 [MQTT-6.0.0-1]: a data frame that is not binary closes the connection.
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "MQTT over WebSocket uses binary frames, got a text frame",
                    )))
                }
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_flush_pending(cx))?;
        ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(io_error)?;
        Pin::new(&mut this.ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io_error)?;
        this.unflushed = true;
        // Start writing now; if the socket is full, the next read, write or flush continues.
        if let Poll::Ready(Err(e)) = this.poll_flush_pending(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.ws).poll_flush(cx)).map_err(io_error)?;
        this.unflushed = false;
        Poll::Ready(Ok(()))
    }

    /// Sends a WebSocket Close and flushes it.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.ws).poll_close(cx)).map_err(io_error)?;
        this.unflushed = false;
        Poll::Ready(Ok(()))
    }
}
