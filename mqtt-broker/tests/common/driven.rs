//! A sans-IO `ClientSession` driven over any byte stream (the broker's in-process duplex, a
//! socket), one event at a time. Time is read from tokio's clock, so under
//! `#[tokio::test(start_paused = true)]` the client lives in the same virtual time as the
//! broker; its timers are never fired (no pings): a test decides when it speaks.

use super::TIMEOUT;
use bytes::BytesMut;
use starling_codec::{MqttStr, ProtocolVersion, Publish, QoS, SubscriptionOptions, TopicFilter};
use starling_session::{ClientConfig, ClientEvent, ClientSession};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Now, on tokio's clock (virtual in paused tests).
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

pub struct Driven<IO> {
    pub session: ClientSession,
    pub io: IO,
    buf: BytesMut,
    /// Bound of each wait (on tokio's clock).
    limit: Duration,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Driven<IO> {
    pub fn new(io: IO, version: ProtocolVersion, id: &str) -> Driven<IO> {
        let config = ClientConfig::new(version, MqttStr::try_from(id).unwrap());
        Driven::with_config(io, config, TIMEOUT)
    }

    /// A client with this CONNECT, each wait bounded by `limit`.
    pub fn with_config(io: IO, config: ClientConfig, limit: Duration) -> Driven<IO> {
        Driven {
            session: ClientSession::new(now(), config),
            io,
            buf: BytesMut::new(),
            limit,
        }
    }

    async fn bounded<F: std::future::Future>(&self, what: &str, f: F) -> F::Output {
        match tokio::time::timeout(self.limit, f).await {
            Ok(v) => v,
            Err(_) => panic!("timed out after {:?} waiting for {what}", self.limit),
        }
    }

    pub async fn flush(&mut self) {
        while let Some(bytes) = self.session.poll_transmit() {
            let limit = self.limit;
            tokio::time::timeout(limit, self.io.write_all(&bytes))
                .await
                .expect("write within the limit")
                .unwrap();
        }
    }

    /// The next event, reading from the stream as needed.
    pub async fn event(&mut self) -> ClientEvent {
        loop {
            self.flush().await;
            if let Some(e) = self.session.poll_event() {
                return e;
            }
            let limit = self.limit;
            let read = tokio::time::timeout(limit, self.io.read_buf(&mut self.buf)).await;
            let n = match read {
                Ok(r) => r.unwrap_or(0),
                Err(_) => panic!("timed out after {limit:?} waiting for bytes from the broker"),
            };
            if n == 0 {
                self.session.handle_transport_closed(now());
            } else {
                self.session.handle_bytes(now(), &mut self.buf);
            }
        }
    }

    /// Waits for the CONNACK; returns Session Present.
    pub async fn connected(&mut self) -> bool {
        match self.event().await {
            ClientEvent::Connected {
                session_present, ..
            } => session_present,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub async fn subscribe(&mut self, filter: &str, qos: QoS) {
        let filters = vec![(
            TopicFilter::try_from(filter).unwrap(),
            SubscriptionOptions::new(qos),
        )];
        self.session
            .subscribe(filters, None, Default::default())
            .unwrap();
        match self.event().await {
            ClientEvent::SubAck { reason_codes, .. } => assert!(!reason_codes[0].is_error()),
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    pub async fn message(&mut self) -> Publish {
        loop {
            match self.event().await {
                ClientEvent::Message { publish } => return publish,
                ClientEvent::Published { .. } => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// Waits for the PUBACK/PUBCOMP of every QoS > 0 message sent.
    pub async fn published(&mut self) {
        while self.session.inflight_len() > 0 {
            match self.event().await {
                ClientEvent::Published { reason, .. } => assert!(!reason.is_error()),
                other => panic!("expected an acknowledgement, got {other:?}"),
            }
        }
    }
}
