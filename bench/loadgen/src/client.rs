//! A minimal MQTT client over tokio TCP, driving `starling_session::ClientSession`.

use crate::report::{Stats, HEADER};
use bytes::{BufMut, BytesMut};
use starling_codec::{
    MqttStr, ProtocolVersion, QoS, SubscribeProperties, SubscriptionOptions, TopicFilter, TopicName,
};
use starling_session::{ClientConfig, ClientError, ClientEvent, ClientSession, PublishRequest};
use std::time::{Duration, Instant};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

pub(crate) struct ClientOptions {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) v5: bool,
    pub(crate) client_id: String,
}

pub(crate) struct Client {
    stream: TcpStream,
    session: ClientSession,
    rbuf: BytesMut,
}

/// Most QoS 1 messages a publisher keeps unacknowledged (3.1.1 has no receive maximum).
const WINDOW: usize = 1000;

type Result<T> = std::result::Result<T, String>;

impl Client {
    pub(crate) async fn connect(o: ClientOptions) -> Result<Client> {
        let stream = TcpStream::connect((o.host.as_str(), o.port))
            .await
            .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let version = if o.v5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V3_1_1
        };
        let id = MqttStr::try_from(o.client_id.as_str()).map_err(|e| e.to_string())?;
        let mut config = ClientConfig::new(version, id);
        // rumqttd refuses keep alive 0; runs are far shorter than 60 s, so no PINGREQ is due.
        config.keep_alive = 60;
        let session = ClientSession::new(Instant::now(), config);
        let mut c = Client {
            stream,
            session,
            rbuf: BytesMut::with_capacity(64 * 1024),
        };
        c.flush().await?;
        loop {
            match c
                .next_event(Instant::now() + Duration::from_secs(30))
                .await?
            {
                ClientEvent::Connected { .. } => return Ok(c),
                ClientEvent::Closed { reason } => {
                    return Err(format!("connect refused: {reason:?}"))
                }
                _ => {}
            }
        }
    }

    async fn flush(&mut self) -> Result<()> {
        while let Some(b) = self.session.poll_transmit() {
            self.stream.write_all(&b).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    async fn read_some(&mut self, until: Instant) -> Result<()> {
        let left = until.saturating_duration_since(Instant::now());
        match timeout(left, self.stream.read_buf(&mut self.rbuf)).await {
            Err(_) => Err("deadline reached".into()),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(0)) => Err("connection closed by the broker".into()),
            Ok(Ok(_)) => {
                self.session.handle_bytes(Instant::now(), &mut self.rbuf);
                self.flush().await
            }
        }
    }

    async fn next_event(&mut self, until: Instant) -> Result<ClientEvent> {
        loop {
            if let Some(e) = self.session.poll_event() {
                return Ok(e);
            }
            self.read_some(until).await?;
        }
    }

    pub(crate) async fn subscribe(&mut self, topic: &str, qos: QoS) -> Result<()> {
        let filter = TopicFilter::try_from(topic).map_err(|e| e.to_string())?;
        self.session
            .subscribe(
                vec![(filter, SubscriptionOptions::new(qos))],
                None,
                SubscribeProperties::default(),
            )
            .map_err(|e| e.to_string())?;
        self.flush().await?;
        loop {
            if let ClientEvent::SubAck { .. } = self
                .next_event(Instant::now() + Duration::from_secs(30))
                .await?
            {
                return Ok(());
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn publish_many(
        &mut self,
        topic: &str,
        qos: QoS,
        count: u64,
        size: usize,
        rate: Option<u64>,
        base: Instant,
        publisher: u32,
        deadline: Instant,
    ) -> Result<u64> {
        let topic = TopicName::try_from(topic).map_err(|e| e.to_string())?;
        let start = Instant::now();
        let mut sent = 0u64;
        let mut acked = 0u64;
        while sent < count || (qos != QoS::AtMostOnce && acked < sent) {
            if Instant::now() > deadline {
                return Err(format!(
                    "publisher {publisher}: deadline after {sent} messages"
                ));
            }
            let mut batch = 0;
            while sent < count
                && batch < 64
                && (qos == QoS::AtMostOnce || self.session.inflight_len() < WINDOW)
            {
                if let Some(r) = rate {
                    let due = start + Duration::from_secs_f64(sent as f64 / r.max(1) as f64);
                    if due > Instant::now() {
                        if batch > 0 {
                            break;
                        }
                        tokio::time::sleep_until(due.into()).await;
                    }
                }
                let mut payload = BytesMut::with_capacity(size);
                payload.put_u64(base.elapsed().as_nanos() as u64);
                payload.put_u64(sent);
                payload.put_u32(publisher);
                payload.resize(size.max(HEADER), 0);
                match self.session.publish(
                    Instant::now(),
                    PublishRequest::new(topic.clone(), payload.freeze(), qos),
                ) {
                    Ok(_) => {
                        sent += 1;
                        batch += 1;
                    }
                    Err(ClientError::QuotaExhausted) => break,
                    Err(e) => return Err(e.to_string()),
                }
            }
            self.flush().await?;
            if qos != QoS::AtMostOnce
                && (self.session.inflight_len() >= WINDOW
                    || !self.session.has_send_quota()
                    || sent == count)
            {
                self.read_some(deadline).await?;
            }
            while let Some(e) = self.session.poll_event() {
                if let ClientEvent::Published { .. } = e {
                    acked += 1;
                }
            }
        }
        Ok(sent)
    }

    pub(crate) async fn receive(
        &mut self,
        expected: u64,
        base: Instant,
        deadline: Instant,
    ) -> Result<Stats> {
        let mut stats = Stats::default();
        while stats.received < expected && Instant::now() < deadline {
            match self.read_some(deadline).await {
                Ok(()) => {}
                Err(_) => break,
            }
            let now_ns = base.elapsed().as_nanos() as u64;
            while let Some(e) = self.session.poll_event() {
                if let ClientEvent::Message { publish } = e {
                    stats.record(&publish.payload, now_ns);
                }
            }
            stats.last_receive = Some(Instant::now());
        }
        Ok(stats)
    }
}
