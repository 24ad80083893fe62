//! The [`Client`] handle.

use crate::{
    driver::Driver,
    shared::{
        Command, DisconnectCommand, PublishCommand, Reply, Route, Shared, SubCommand,
        SubscribeCommand, UnsubscribeCommand,
    },
    ConnectOptions, Error, Event, Message, Messages, PublishOutcome, SubAck, Subscription,
    UnsubAck,
};
use bytes::Bytes;
use futures::future::BoxFuture;
use starling_codec::{
    DisconnectProperties, MqttStr, PayloadFormat, ProtocolVersion, PublishProperties, QoS,
    ReasonCode, SubscribeProperties, SubscriptionOptions, TopicFilter, TopicName,
    UnsubscribeProperties,
};
use starling_session::PublishRequest;
use std::{
    future::{Future, IntoFuture},
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    sync::{broadcast, mpsc, oneshot},
    time::Instant,
};

/// A cheap, cloneable handle to an MQTT connection.
///
/// A driver task owns the session and the socket, so nothing depends on the application
/// polling: publishes are sent, acknowledgements handled, keep-alive pings exchanged and
/// reconnections made in the background. The driver stops when
/// [`disconnect`](Client::disconnect) is called or every handle is dropped (after up to 5 s
/// to finish in-flight QoS 1/2 work).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    version: ProtocolVersion,
    correlation: AtomicU64,
}

/// The driver of a client made with [`Client::new`]: spawn it (or await it) to make the
/// client work. It finishes when the client is closed.
#[must_use = "the client does nothing unless its driver runs"]
pub struct Driving {
    fut: BoxFuture<'static, Result<(), Error>>,
}

impl std::fmt::Debug for Driving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Driving")
    }
}

impl Future for Driving {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.fut.as_mut().poll(cx)
    }
}

impl Client {
    /// Connects and spawns the driver on the current tokio runtime. Resolves once the first
    /// CONNACK arrives; fails if the first connection cannot be made or is refused. Later
    /// losses are repaired by reconnection (see [`Reconnect`](crate::Reconnect)).
    pub async fn connect(options: ConnectOptions) -> Result<Client, Error> {
        let (tx, rx) = oneshot::channel();
        let (client, driving) = Client::build(options, Some(tx));
        tokio::spawn(driving);
        match rx.await {
            Ok(Ok(())) => Ok(client),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Closed),
        }
    }

    /// A client and its driver, for applications that run the driver themselves (another
    /// executor task, a `select!`, a test). Nothing is sent until the driver runs; the first
    /// connection is retried like any other.
    pub fn new(options: ConnectOptions) -> (Client, Driving) {
        Client::build(options, None)
    }

    fn build(
        options: ConnectOptions,
        connect_reply: Option<oneshot::Sender<Result<(), Error>>>,
    ) -> (Client, Driving) {
        let (commands, rx) = mpsc::channel(options.command_capacity.max(1));
        let shared = Arc::new(Shared {
            routes: Default::default(),
            events: broadcast::channel(64).0,
            replies: Default::default(),
            reply_topic: Default::default(),
            message_capacity: options.message_capacity,
            queue_expiry: options.offline.expiry,
        });
        let client = Client {
            inner: Arc::new(Inner {
                commands,
                shared: shared.clone(),
                version: options.session.version,
                correlation: AtomicU64::new(0),
            }),
        };
        let driver = Driver::new(options, shared, rx, connect_reply);
        let fut = Box::pin(driver.run());
        (client, Driving { fut })
    }

    /// The protocol version this client speaks.
    pub fn version(&self) -> ProtocolVersion {
        self.inner.version
    }

    /// Whether the driver has stopped.
    pub fn is_closed(&self) -> bool {
        self.inner.commands.is_closed()
    }

    /// Connection events from now on (a bounded broadcast: a receiver that falls more than
    /// 64 events behind skips the oldest).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.shared.events.subscribe()
    }

    /// A stream of every incoming message (each call makes another stream that also gets
    /// every message). Messages are acknowledged to the server when they reach the client.
    pub fn messages(&self) -> Messages {
        let (tx, rx) = mpsc::channel(self.inner.shared.message_capacity);
        self.inner.shared.routes().push(Route {
            global: true,
            filters: Vec::new(),
            identifier: None,
            tx,
        });
        Messages { rx }
    }

    async fn send(&self, cmd: Command) -> Result<(), Error> {
        self.inner
            .commands
            .send(cmd)
            .await
            .map_err(|_| Error::Closed)
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Publishes `payload` on `topic`: QoS 0 by default; set QoS, retain and properties on
    /// the returned builder, then `.await` it. Resolves when the message is written (QoS 0),
    /// acknowledged by PUBACK (QoS 1) or completed by PUBCOMP (QoS 2).
    ///
    /// While disconnected the message waits in the offline queue. Dropping the future does
    /// not withdraw a message already handed to the client.
    pub fn publish(&self, topic: impl AsRef<str>, payload: impl Into<Bytes>) -> PublishBuilder<'_> {
        let topic = topic.as_ref();
        PublishBuilder {
            client: self,
            topic: TopicName::try_from(topic)
                .map_err(|e| Error::Invalid(format!("topic {topic:?}: {e}"))),
            payload: payload.into(),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: PublishProperties::default(),
            queue_expiry: None,
        }
    }

    /// Subscribes to one filter; the messages arrive on [`messages`](Self::messages)
    /// streams. Fails with [`Error::Rejected`] if the server refuses the filter.
    pub async fn subscribe(&self, filter: &str, qos: QoS) -> Result<SubAck, Error> {
        let ack = self
            .subscribe_with(
                [(filter, SubscriptionOptions::new(qos))],
                SubscribeProperties::default(),
            )
            .await?;
        match ack.reason_codes.first() {
            Some(code) if code.is_error() => Err(Error::Rejected(*code)),
            _ => Ok(ack),
        }
    }

    /// Subscribes to several filters with full MQTT 5 options (no-local, retain as
    /// published, retain handling) and properties (subscription identifier, user
    /// properties). The SUBACK has a code per filter.
    pub async fn subscribe_with<'f>(
        &self,
        filters: impl IntoIterator<Item = (&'f str, SubscriptionOptions)>,
        properties: SubscribeProperties,
    ) -> Result<SubAck, Error> {
        let filters = parse_filters(filters)?;
        self.call(|reply| {
            Command::Sub(SubCommand::Subscribe(SubscribeCommand {
                filters,
                properties,
                stream: None,
                reply: Some(reply),
            }))
        })
        .await
    }

    /// Subscribes to one filter with a stream of its own messages. Fails with
    /// [`Error::Rejected`] if the server refuses it.
    pub async fn subscribe_stream(&self, filter: &str, qos: QoS) -> Result<Subscription, Error> {
        let sub = self
            .subscribe_stream_with(
                [(filter, SubscriptionOptions::new(qos))],
                SubscribeProperties::default(),
            )
            .await?;
        match sub.suback.reason_codes.first() {
            Some(code) if code.is_error() => Err(Error::Rejected(*code)),
            _ => Ok(sub),
        }
    }

    /// Subscribes to several filters with one stream for all of them. Messages are routed
    /// by a subscription identifier the client assigns when the server supports them (set
    /// your own in `properties` to choose it), by topic matching otherwise.
    pub async fn subscribe_stream_with<'f>(
        &self,
        filters: impl IntoIterator<Item = (&'f str, SubscriptionOptions)>,
        properties: SubscribeProperties,
    ) -> Result<Subscription, Error> {
        let filters = parse_filters(filters)?;
        let (tx, rx) = mpsc::channel(self.inner.shared.message_capacity);
        let suback = self
            .call(|reply| {
                Command::Sub(SubCommand::Subscribe(SubscribeCommand {
                    filters,
                    properties,
                    stream: Some(tx),
                    reply: Some(reply),
                }))
            })
            .await?;
        Ok(Subscription {
            suback,
            messages: Messages { rx },
        })
    }

    /// Unsubscribes from one filter.
    pub async fn unsubscribe(&self, filter: &str) -> Result<UnsubAck, Error> {
        self.unsubscribe_with([filter], UnsubscribeProperties::default())
            .await
    }

    /// Unsubscribes from several filters (v5: with user properties). Streams of
    /// [`subscribe_stream`](Self::subscribe_stream) whose filters are all gone end.
    pub async fn unsubscribe_with<'f>(
        &self,
        filters: impl IntoIterator<Item = &'f str>,
        properties: UnsubscribeProperties,
    ) -> Result<UnsubAck, Error> {
        let filters = filters
            .into_iter()
            .map(|f| {
                TopicFilter::try_from(f).map_err(|e| Error::Invalid(format!("filter {f:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.call(|reply| {
            Command::Sub(SubCommand::Unsubscribe(UnsubscribeCommand {
                filters,
                properties,
                reply: Some(reply),
            }))
        })
        .await
    }

    /// Sends a request and waits for its response (MQTT 5): the request carries a Response
    /// Topic private to this client and a fresh Correlation Data; the first message on that
    /// topic with that correlation data is the answer. Set QoS, properties and the timeout
    /// (default 30 s) on the builder, then `.await` it.
    pub fn request(&self, topic: impl AsRef<str>, payload: impl Into<Bytes>) -> RequestBuilder<'_> {
        RequestBuilder {
            publish: self.publish(topic, payload).qos(QoS::AtLeastOnce),
            timeout: Duration::from_secs(30),
        }
    }

    /// Answers a request received from the server: publishes `payload` to its Response Topic
    /// with its Correlation Data. Fails if the request has no Response Topic.
    pub fn respond(
        &self,
        request: &Message,
        payload: impl Into<Bytes>,
    ) -> Result<PublishBuilder<'_>, Error> {
        let topic = request
            .properties
            .response_topic
            .as_ref()
            .ok_or_else(|| Error::Invalid("the request has no response topic".into()))?;
        let mut builder = self.publish(topic.as_str(), payload);
        builder.properties.correlation_data = request.properties.correlation_data.clone();
        Ok(builder)
    }

    async fn reply_topic(&self) -> Result<String, Error> {
        let topic = self
            .inner
            .shared
            .reply_topic
            .get_or_try_init(|| async {
                let token = crate::backoff::splitmix64(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as u64)
                        ^ (Arc::as_ptr(&self.inner) as u64),
                );
                let topic = format!("starling/reply/{token:016x}");
                self.subscribe(&topic, QoS::AtLeastOnce).await?;
                Ok::<_, Error>(topic)
            })
            .await?;
        Ok(topic.clone())
    }

    /// Disconnects: stops taking new work, waits up to 10 s for in-flight publishes and
    /// subscriptions to finish, sends DISCONNECT (normal) and closes. Returns when the driver
    /// has stopped.
    pub async fn disconnect(&self) -> Result<(), Error> {
        self.disconnect_with(
            Duration::from_secs(10),
            ReasonCode::NORMAL_DISCONNECTION,
            DisconnectProperties::default(),
        )
        .await
    }

    /// [`disconnect`](Self::disconnect) with the drain timeout, the reason code (v5; e.g.
    /// 0x04 *Disconnect with Will Message*) and properties (v5; e.g. a session expiry).
    pub async fn disconnect_with(
        &self,
        timeout: Duration,
        reason: ReasonCode,
        properties: DisconnectProperties,
    ) -> Result<(), Error> {
        let (reply, done) = oneshot::channel();
        if self
            .send(Command::Disconnect(DisconnectCommand {
                reason,
                properties,
                timeout,
                reply,
            }))
            .await
            .is_err()
        {
            // Already stopped.
            return Ok(());
        }
        let _ = done.await;
        Ok(())
    }
}

fn parse_filters<'f>(
    filters: impl IntoIterator<Item = (&'f str, SubscriptionOptions)>,
) -> Result<Vec<(TopicFilter, SubscriptionOptions)>, Error> {
    filters
        .into_iter()
        .map(|(f, o)| {
            TopicFilter::try_from(f)
                .map(|f| (f, o))
                .map_err(|e| Error::Invalid(format!("filter {f:?}: {e}")))
        })
        .collect()
}

/// A publish being prepared; `.await` it to send ([`Client::publish`]).
#[derive(Debug)]
#[must_use = "a publish is sent when awaited"]
pub struct PublishBuilder<'a> {
    client: &'a Client,
    topic: Result<TopicName, Error>,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    properties: PublishProperties,
    queue_expiry: Option<Duration>,
}

impl PublishBuilder<'_> {
    /// QoS (default 0).
    pub fn qos(mut self, qos: QoS) -> Self {
        self.qos = qos;
        self
    }

    /// RETAIN.
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// Every MQTT 5 property at once (a topic alias and subscription identifiers are ignored:
    /// the client picks aliases itself).
    pub fn properties(mut self, properties: PublishProperties) -> Self {
        self.properties = properties;
        self
    }

    /// Message Expiry Interval (v5), seconds.
    pub fn message_expiry(mut self, seconds: u32) -> Self {
        self.properties.message_expiry_interval = Some(seconds);
        self
    }

    /// Content Type (v5).
    pub fn content_type(mut self, content_type: &str) -> Self {
        self.properties.content_type = MqttStr::try_from(content_type).ok();
        self
    }

    /// Payload Format Indicator: UTF-8 (v5).
    pub fn utf8_payload(mut self) -> Self {
        self.properties.payload_format_indicator = Some(PayloadFormat::Utf8);
        self
    }

    /// Response Topic (v5).
    pub fn response_topic(mut self, topic: &str) -> Self {
        match TopicName::try_from(topic) {
            Ok(t) => self.properties.response_topic = Some(t),
            Err(e) => self.topic = Err(Error::Invalid(format!("response topic {topic:?}: {e}"))),
        }
        self
    }

    /// Correlation Data (v5).
    pub fn correlation_data(mut self, data: impl Into<Bytes>) -> Self {
        self.properties.correlation_data = Some(data.into());
        self
    }

    /// Adds a user property (v5).
    pub fn user_property(mut self, key: &str, value: &str) -> Self {
        if let (Ok(k), Ok(v)) = (MqttStr::try_from(key), MqttStr::try_from(value)) {
            self.properties.user_properties.push((k, v));
        }
        self
    }

    /// How long this message may wait in the offline queue (overrides the queue's default).
    pub fn queue_expiry(mut self, expiry: Duration) -> Self {
        self.queue_expiry = Some(expiry);
        self
    }

    async fn send(self) -> Result<PublishOutcome, Error> {
        let client = self.client;
        let topic = self.topic?;
        let now = Instant::now();
        let expiry = self.queue_expiry.or(client_queue_expiry(client));
        let mut expires = expiry.map(|d| now + d);
        if let Some(secs) = self.properties.message_expiry_interval {
            let t = now + Duration::from_secs(u64::from(secs));
            expires = Some(expires.map_or(t, |e| e.min(t)));
        }
        let request = PublishRequest {
            topic,
            payload: self.payload,
            qos: self.qos,
            retain: self.retain,
            properties: self.properties,
        };
        client
            .call(|reply| {
                Command::Publish(PublishCommand {
                    request,
                    created: now,
                    expires,
                    reply: Some(reply),
                })
            })
            .await
    }
}

fn client_queue_expiry(client: &Client) -> Option<Duration> {
    client.inner.shared.queue_expiry
}

impl<'a> IntoFuture for PublishBuilder<'a> {
    type Output = Result<PublishOutcome, Error>;
    type IntoFuture = BoxFuture<'a, Result<PublishOutcome, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A request being prepared; `.await` it for the response ([`Client::request`]).
#[derive(Debug)]
#[must_use = "a request is sent when awaited"]
pub struct RequestBuilder<'a> {
    publish: PublishBuilder<'a>,
    timeout: Duration,
}

impl RequestBuilder<'_> {
    /// How long to wait for the response (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// QoS of the request (default 1).
    pub fn qos(mut self, qos: QoS) -> Self {
        self.publish = self.publish.qos(qos);
        self
    }

    /// Other request properties (response topic and correlation data are the client's).
    pub fn properties(mut self, properties: PublishProperties) -> Self {
        self.publish = self.publish.properties(properties);
        self
    }

    async fn send(self) -> Result<Message, Error> {
        let client = self.publish.client;
        if !client.inner.version.is_v5() {
            return Err(Error::Invalid(
                "request/response needs MQTT 5 (response topic, correlation data)".into(),
            ));
        }
        let deadline = Instant::now() + self.timeout;
        let topic = tokio::time::timeout_at(deadline, client.reply_topic())
            .await
            .map_err(|_| Error::Timeout)??;
        let n = client.inner.correlation.fetch_add(1, Ordering::Relaxed);
        let correlation = Bytes::from(n.to_be_bytes().to_vec());
        let (tx, rx) = oneshot::channel();
        client
            .inner
            .shared
            .replies()
            .insert(correlation.clone(), tx);
        let forget = || {
            client.inner.shared.replies().remove(&correlation);
        };
        let mut publish = self.publish;
        publish.properties.correlation_data = Some(correlation.clone());
        publish = publish.response_topic(&topic);
        let result = tokio::time::timeout_at(deadline, async {
            publish.await?;
            rx.await.map_err(|_| Error::Closed)
        })
        .await;
        match result {
            Ok(Ok(msg)) => Ok(msg),
            Ok(Err(e)) => {
                forget();
                Err(e)
            }
            Err(_) => {
                forget();
                Err(Error::Timeout)
            }
        }
    }
}

impl<'a> IntoFuture for RequestBuilder<'a> {
    type Output = Result<Message, Error>;
    type IntoFuture = BoxFuture<'a, Result<Message, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}
