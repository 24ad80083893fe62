//! Transports: TCP, WebSocket, and any `AsyncRead + AsyncWrite` from a [`Connector`].

use crate::options::Endpoint;
use bytes::{Buf, Bytes};
use futures::{future::BoxFuture, Sink, Stream};
use std::{
    future::Future,
    io,
    pin::Pin,
    task::{ready, Context, Poll},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::{
    tungstenite::{self, client::IntoClientRequest, http::HeaderValue, Message},
    WebSocketStream,
};

/// A byte stream the client can speak MQTT over.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A boxed transport.
pub type BoxedIo = Box<dyn Io>;

/// Opens a fresh transport for every (re)connection.
///
/// Implemented for closures returning a future of `io::Result<impl AsyncRead + AsyncWrite>`,
/// which is how in-process brokers, Unix sockets or TLS streams are plugged in:
///
/// ```no_run
/// # async fn f() -> Result<(), starling_client::Error> {
/// use starling_client::{Client, ConnectOptions};
/// let options = ConnectOptions::with_connector(|| async {
///     tokio::net::UnixStream::connect("/run/mqtt.sock").await
/// });
/// let client = Client::connect(options).await?;
/// # Ok(()) }
/// ```
pub trait Connector: Send + Sync + 'static {
    /// Opens the transport.
    fn connect(&self) -> BoxFuture<'static, io::Result<BoxedIo>>;
}

impl<F, Fut, T> Connector for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<T>> + Send + 'static,
    T: Io,
{
    fn connect(&self) -> BoxFuture<'static, io::Result<BoxedIo>> {
        let fut = self();
        Box::pin(async move { fut.await.map(|io| Box::new(io) as BoxedIo) })
    }
}

/// Opens the endpoint's transport.
pub(crate) async fn open(endpoint: &Endpoint) -> io::Result<BoxedIo> {
    match endpoint {
        Endpoint::Tcp { host, port } => {
            let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            // Small packets must not wait for Nagle + delayed ACK.
            stream.set_nodelay(true)?;
            Ok(Box::new(stream))
        }
        Endpoint::WebSocket { url } => {
            let mut request = url.as_str().into_client_request().map_err(io_error)?;
            // v5 [MQTT-6.0.0-3]: offer the "mqtt" subprotocol.
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
            let uri = request.uri();
            let host = uri.host().unwrap_or("localhost").trim_matches(['[', ']']);
            let port = uri.port_u16().unwrap_or(80);
            let stream = tokio::net::TcpStream::connect((host, port)).await?;
            stream.set_nodelay(true)?;
            let (ws, _response) = tokio_tungstenite::client_async(request, stream)
                .await
                .map_err(io_error)?;
            Ok(Box::new(WsIo::new(ws)))
        }
        Endpoint::Custom(connector) => connector.connect().await,
    }
}

fn io_error(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        other => io::Error::other(other),
    }
}

/// A client WebSocket as a byte stream: each write is one binary message, reads return the
/// payloads of binary messages in order (packets may span messages).
struct WsIo<S> {
    ws: WebSocketStream<S>,
    pending_read: Bytes,
}

impl<S> WsIo<S> {
    fn new(ws: WebSocketStream<S>) -> Self {
        WsIo {
            ws,
            pending_read: Bytes::new(),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.pending_read.is_empty() {
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending_read = data,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | None => return Poll::Ready(Ok(())),
                // v5 [MQTT-6.0.0-1]: MQTT travels in binary frames only.
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text frame on an MQTT WebSocket",
                    )))
                }
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
            }
        }
        let n = this.pending_read.len().min(buf.remaining());
        buf.put_slice(&this.pending_read[..n]);
        this.pending_read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(io_error)?;
        Pin::new(&mut this.ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(io_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_close(cx)
            .map_err(io_error)
    }
}
