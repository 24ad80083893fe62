//! A minimal MQTT client over tokio TCP that drives `starling_session::ClientSession`: just
//! what a load generator needs (connect, subscribe, windowed publishing, receiving), with no
//! background task, so thousands of them cost little.

use crate::BenchError;
use bytes::{Bytes, BytesMut};
use starling_codec::{
    MqttStr, ProtocolVersion, Publish, QoS, ReasonCode, SubscribeProperties, SubscriptionOptions,
    TopicFilter, TopicName,
};
use starling_session::{ClientConfig, ClientError, ClientEvent, ClientSession, PublishRequest};
use std::time::{Duration, Instant};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

/// Where to connect and how to introduce oneself.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT 5 rather than 3.1.1.
    pub v5: bool,
    /// Client identifier.
    pub client_id: String,
    /// User name.
    pub username: Option<String>,
    /// Password (sent only with a user name).
    pub password: Option<String>,
    /// Keep alive in seconds. rumqttd refuses 0; the client sends PINGREQ when it is due.
    pub keep_alive: u16,
    /// How long to wait for the TCP connection and the CONNACK.
    pub connect_timeout: Duration,
}

impl ConnectOptions {
    /// MQTT 3.1.1 to `host:port` as `client_id`, no credentials, keep alive 60 s, 30 s
    /// connect timeout.
    pub fn new(host: impl Into<String>, port: u16, client_id: impl Into<String>) -> Self {
        ConnectOptions {
            host: host.into(),
            port,
            v5: false,
            client_id: client_id.into(),
            username: None,
            password: None,
            keep_alive: 60,
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// One connected client.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    session: ClientSession,
    rbuf: BytesMut,
    /// Outbound QoS 1/2 messages completed since the last [`Client::take_completed`].
    completed: u64,
    /// Messages received and not yet taken.
    inbox: Vec<Publish>,
}

fn text(what: &str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Protocol(format!("{what}: {e}"))
}

impl Client {
    /// Connects and waits for a successful CONNACK.
    pub async fn connect(o: &ConnectOptions) -> Result<Client, BenchError> {
        let until = Instant::now() + o.connect_timeout;
        let stream = timeout(
            o.connect_timeout,
            TcpStream::connect((o.host.as_str(), o.port)),
        )
        .await
        .map_err(|_| BenchError::Timeout("TCP connect"))??;
        stream.set_nodelay(true)?;
        let version = if o.v5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V3_1_1
        };
        let id = MqttStr::try_from(o.client_id.as_str()).map_err(|e| text("client id", e))?;
        let mut config = ClientConfig::new(version, id);
        config.keep_alive = o.keep_alive;
        if let Some(user) = &o.username {
            config.username = Some(MqttStr::try_from(user.as_str()).map_err(|e| text("user", e))?);
            config.password = o.password.clone().map(Bytes::from);
        }
        let session = ClientSession::new(Instant::now(), config);
        let mut c = Client {
            stream,
            session,
            rbuf: BytesMut::with_capacity(4096),
            completed: 0,
            inbox: Vec::new(),
        };
        c.flush().await?;
        loop {
            if !c.read_some(until).await? {
                return Err(BenchError::Timeout("CONNACK"));
            }
            while let Some(e) = c.session.poll_event() {
                match e {
                    ClientEvent::Connected { .. } => return Ok(c),
                    ClientEvent::Closed { reason } => {
                        return Err(BenchError::Refused(format!("{reason:?}")))
                    }
                    _ => {}
                }
            }
        }
    }

    async fn flush(&mut self) -> Result<(), BenchError> {
        while let Some(b) = self.session.poll_transmit() {
            self.stream.write_all(&b).await?;
        }
        Ok(())
    }

    /// Reads once, or handles the session's timer (keep alive) when it is due first. Returns
    /// `false` once `until` has passed.
    async fn read_some(&mut self, until: Instant) -> Result<bool, BenchError> {
        let timer = self.session.poll_timeout();
        let wake = timer.map_or(until, |t| t.min(until));
        let left = wake.saturating_duration_since(Instant::now());
        match timeout(left, self.stream.read_buf(&mut self.rbuf)).await {
            Err(_) => {
                let now = Instant::now();
                if timer.is_some_and(|t| t <= now) {
                    self.session.handle_timeout(now);
                    self.flush().await?;
                }
                Ok(now < until)
            }
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(0)) => Err(BenchError::Closed),
            Ok(Ok(_)) => {
                // Reading more would need a larger buffer: keep it at least 4 KiB free.
                if self.rbuf.capacity() - self.rbuf.len() < 4096 {
                    self.rbuf.reserve(64 * 1024);
                }
                self.session.handle_bytes(Instant::now(), &mut self.rbuf);
                self.flush().await?;
                Ok(true)
            }
        }
    }

    /// Moves events into counters and the inbox; a closed session is an error.
    fn absorb_events(&mut self) -> Result<(), BenchError> {
        while let Some(e) = self.session.poll_event() {
            match e {
                ClientEvent::Published { .. } => self.completed += 1,
                ClientEvent::Message { publish } => self.inbox.push(publish),
                ClientEvent::Closed { reason } => {
                    return Err(BenchError::Protocol(format!(
                        "connection closed: {reason:?}"
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Subscribes to `filter` and waits for the SUBACK (a failure code is an error).
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), BenchError> {
        let until = Instant::now() + Duration::from_secs(30);
        let filter = TopicFilter::try_from(filter).map_err(|e| text("topic filter", e))?;
        self.session
            .subscribe(
                vec![(filter, SubscriptionOptions::new(qos))],
                None,
                SubscribeProperties::default(),
            )
            .map_err(|e| text("subscribe", e))?;
        self.flush().await?;
        loop {
            if !self.read_some(until).await? {
                return Err(BenchError::Timeout("SUBACK"));
            }
            while let Some(e) = self.session.poll_event() {
                match e {
                    ClientEvent::SubAck { reason_codes, .. } => {
                        return match reason_codes.first() {
                            Some(code) if code.is_error() => {
                                Err(BenchError::Refused(format!("SUBACK {code:?}")))
                            }
                            _ => Ok(()),
                        };
                    }
                    ClientEvent::Message { publish } => self.inbox.push(publish),
                    ClientEvent::Closed { reason } => {
                        return Err(BenchError::Refused(format!("{reason:?}")))
                    }
                    _ => {}
                }
            }
        }
    }

    /// Queues one PUBLISH (written by the next [`Client::flush_and_read`]). Returns `false`
    /// when the send window is full (retry after reading acknowledgements).
    pub fn publish(
        &mut self,
        topic: &TopicName,
        payload: Bytes,
        qos: QoS,
    ) -> Result<bool, BenchError> {
        match self.session.publish(
            Instant::now(),
            PublishRequest::new(topic.clone(), payload, qos),
        ) {
            Ok(_) => Ok(true),
            Err(ClientError::QuotaExhausted | ClientError::PacketIdsExhausted) => Ok(false),
            Err(e) => Err(text("publish", e)),
        }
    }

    /// QoS 1/2 messages sent and not yet acknowledged.
    pub fn inflight(&self) -> usize {
        self.session.inflight_len()
    }

    /// Whether the broker's receive maximum (MQTT 5) allows another QoS 1/2 message.
    pub fn has_send_quota(&self) -> bool {
        self.session.has_send_quota()
    }

    /// Writes what is queued; then, with `read_until`, reads once (or until that instant) and
    /// absorbs what arrived. Returns `false` when the deadline passed without input.
    pub async fn flush_and_read(
        &mut self,
        read_until: Option<Instant>,
    ) -> Result<bool, BenchError> {
        self.flush().await?;
        let got = match read_until {
            Some(until) => self.read_some(until).await?,
            None => false,
        };
        self.absorb_events()?;
        Ok(got)
    }

    /// QoS 1/2 publications acknowledged since the last call.
    pub fn take_completed(&mut self) -> u64 {
        std::mem::take(&mut self.completed)
    }

    /// Messages received since the last call.
    pub fn take_messages(&mut self) -> Vec<Publish> {
        std::mem::take(&mut self.inbox)
    }

    /// Moves the received messages into `into` (cleared first), giving the client `into`'s
    /// room for the next ones: a subscriber reading in a loop allocates nothing per batch.
    pub fn swap_messages(&mut self, into: &mut Vec<Publish>) {
        into.clear();
        std::mem::swap(into, &mut self.inbox);
    }

    /// Sends DISCONNECT and closes the socket (errors ignored: the run is over).
    pub async fn disconnect(mut self) {
        self.session
            .disconnect(ReasonCode::Success, Default::default());
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}
