//! Connection options: where to connect, what to put in CONNECT, and local policy.

use crate::{transport::Connector, Error};
use bytes::Bytes;
use starling_codec::{
    ConnectProperties, MqttStr, ProtocolVersion, QoS, ReasonCode, TopicName, Will, WillProperties,
};
use starling_session::ClientConfig;
use std::{
    fmt,
    num::{NonZeroU16, NonZeroU32},
    sync::Arc,
    time::Duration,
};

/// Where and how to connect.
#[derive(Clone)]
pub(crate) enum Endpoint {
    /// Plain TCP.
    Tcp { host: String, port: u16 },
    /// MQTT over WebSocket (`ws://host:port/path`).
    WebSocket { url: String },
    /// Any `AsyncRead + AsyncWrite`, opened anew for every (re)connection.
    Custom(Arc<dyn Connector>),
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } => write!(f, "mqtt://{host}:{port}"),
            Endpoint::WebSocket { url } => f.write_str(url),
            Endpoint::Custom(_) => f.write_str("custom transport"),
        }
    }
}

/// Automatic reconnection: exponential backoff with jitter.
///
/// The n-th consecutive attempt waits `min(max, initial × multiplierⁿ⁻¹)`, reduced by a random
/// fraction of up to `jitter` so that many clients cut off at once do not return in step.
/// The randomness comes from `seed` when set (reproducible tests), from the clock otherwise.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Reconnect {
    /// Reconnect at all (default true). When false, a lost connection ends the client.
    pub enabled: bool,
    /// First delay (default 100 ms).
    pub initial_delay: Duration,
    /// Largest delay (default 30 s).
    pub max_delay: Duration,
    /// Growth factor per attempt (default 2.0).
    pub multiplier: f64,
    /// Fraction of the delay that may be removed at random, 0.0..=1.0 (default 0.2).
    pub jitter: f64,
    /// Seed of the jitter's random generator.
    pub seed: Option<u64>,
    /// Give up after this many consecutive failed attempts (default: never).
    pub max_attempts: Option<u32>,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            enabled: true,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.2,
            seed: None,
            max_attempts: None,
        }
    }
}

impl Reconnect {
    /// No reconnection: a lost connection ends the client.
    pub fn disabled() -> Reconnect {
        Reconnect {
            enabled: false,
            ..Reconnect::default()
        }
    }

    /// Backoff from `initial` doubling up to `max`, default jitter.
    pub fn backoff(initial: Duration, max: Duration) -> Reconnect {
        Reconnect {
            initial_delay: initial,
            max_delay: max,
            ..Reconnect::default()
        }
    }

    /// Sets the jitter fraction (clamped to 0.0..=1.0).
    pub fn jitter(mut self, jitter: f64) -> Reconnect {
        self.jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// Sets the growth factor (at least 1.0).
    pub fn multiplier(mut self, multiplier: f64) -> Reconnect {
        self.multiplier = multiplier.max(1.0);
        self
    }

    /// Seeds the jitter.
    pub fn seed(mut self, seed: u64) -> Reconnect {
        self.seed = Some(seed);
        self
    }

    /// Gives up after `n` consecutive failures.
    pub fn max_attempts(mut self, n: u32) -> Reconnect {
        self.max_attempts = Some(n);
        self
    }
}

/// What to do with a new message when the offline queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueueFull {
    /// Refuse the new message: its `publish` fails with [`Error::QueueFull`] (default).
    #[default]
    RejectNew,
    /// Evict the oldest queued messages (their `publish` fails with [`Error::QueueFull`]).
    DropOldest,
}

/// The bounded queue of publishes made while disconnected.
///
/// While connected, publishes beyond the server's Receive Maximum wait in the same queue, but
/// a full queue then applies backpressure (`publish` waits) instead of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OfflineQueue {
    /// Most messages held (default 10 000; 0 refuses every publish while disconnected).
    pub max_messages: usize,
    /// Most payload + topic bytes held (default 64 MiB).
    pub max_bytes: usize,
    /// How long a message may wait before it is dropped with [`Error::Expired`] (default:
    /// no limit). A publish can set its own; a v5 Message Expiry Interval also bounds it.
    pub expiry: Option<Duration>,
    /// Policy when full.
    pub when_full: QueueFull,
}

impl Default for OfflineQueue {
    fn default() -> Self {
        OfflineQueue {
            max_messages: 10_000,
            max_bytes: 64 << 20,
            expiry: None,
            when_full: QueueFull::RejectNew,
        }
    }
}

impl OfflineQueue {
    /// A queue of at most `max_messages` messages, other fields at their defaults.
    pub fn new(max_messages: usize) -> OfflineQueue {
        OfflineQueue {
            max_messages,
            ..OfflineQueue::default()
        }
    }

    /// Sets the byte bound.
    pub fn max_bytes(mut self, bytes: usize) -> OfflineQueue {
        self.max_bytes = bytes;
        self
    }

    /// Sets the default per-message expiry.
    pub fn expiry(mut self, expiry: Duration) -> OfflineQueue {
        self.expiry = Some(expiry);
        self
    }

    /// Sets the policy when full.
    pub fn when_full(mut self, policy: QueueFull) -> OfflineQueue {
        self.when_full = policy;
        self
    }
}

/// Answers the server's AUTH challenges (v5 enhanced authentication): given the AUTH reason
/// code and Authentication Data, returns the data to send back (with reason 0x18).
pub type AuthHandler = Arc<dyn Fn(ReasonCode, Option<Bytes>) -> Option<Bytes> + Send + Sync>;

/// Everything the client needs to connect: the endpoint, the CONNECT contents and local
/// policy. Built from a URL or a host and port, then refined with the builder methods.
///
/// ```
/// use starling_client::{ConnectOptions, Reconnect};
/// use std::time::Duration;
///
/// let options = ConnectOptions::new("mqtt://alice:secret@127.0.0.1:1883")?
///     .client_id("sensor-7")
///     .keep_alive(30)
///     .session_expiry(3600)
///     .reconnect(Reconnect::backoff(Duration::from_millis(200), Duration::from_secs(10)));
/// # Ok::<(), starling_client::Error>(())
/// ```
#[derive(Clone)]
pub struct ConnectOptions {
    pub(crate) endpoint: Endpoint,
    pub(crate) session: ClientConfig,
    pub(crate) reconnect: Reconnect,
    pub(crate) offline: OfflineQueue,
    pub(crate) connect_timeout: Duration,
    pub(crate) message_capacity: usize,
    pub(crate) command_capacity: usize,
    pub(crate) resubscribe: bool,
    pub(crate) auth_handler: Option<AuthHandler>,
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.session.client_id)
            .field("version", &self.session.version)
            .field("reconnect", &self.reconnect)
            .field("offline", &self.offline)
            .finish_non_exhaustive()
    }
}

/// A client id unique enough for reconnecting to the same session: `starling-` and 14 hex
/// digits from the clock, the process id and a counter; 23 characters, the most MQTT 3.1
/// servers accept (v3.1 §3.1 "Client Identifier").
fn generated_client_id() -> MqttStr {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mix = crate::backoff::splitmix64(
        nanos ^ (u64::from(std::process::id()) << 32) ^ COUNTER.fetch_add(1, Ordering::Relaxed),
    );
    MqttStr::try_from(format!("starling-{:014x}", mix >> 8)).unwrap_or_default()
}

fn percent_decode(s: &str) -> Result<String, Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::Invalid(format!("bad percent escape in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::Invalid(format!("{s:?} is not UTF-8")))
}

/// The parts of an MQTT URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    /// `mqtt`/`tcp` or `ws`.
    pub scheme: String,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (default 1883 for mqtt, 80 for ws).
    pub port: u16,
    /// User name, percent-decoded.
    pub username: Option<String>,
    /// Password, percent-decoded.
    pub password: Option<String>,
    /// The path without its leading `/`, percent-decoded (a topic for `starling pub -L`).
    pub path: String,
}

impl ParsedUrl {
    /// Parses `scheme://[user[:password]@]host[:port][/path]`; schemes `mqtt`, `tcp`, `ws`.
    /// `mqtts`/`wss` are refused until TLS lands.
    pub fn parse(url: &str) -> Result<ParsedUrl, Error> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| Error::Invalid(format!("{url:?} is not a URL (scheme://host)")))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "mqtt" | "tcp" => 1883,
            "ws" => 80,
            "mqtts" | "ssl" | "wss" => {
                return Err(Error::Invalid(format!(
                    "{scheme}:// (TLS) is not supported yet"
                )))
            }
            other => return Err(Error::Invalid(format!("unknown URL scheme {other:?}"))),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (Some(percent_decode(user)?), Some(percent_decode(pass)?)),
                None => (Some(percent_decode(u)?), None),
            },
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| Error::Invalid(format!("unclosed [ in {url:?}")))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(Error::Invalid(format!("bad host in {url:?}"))),
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(Error::Invalid(format!("no host in {url:?}")));
        }
        let port = match port {
            Some(p) => p
                .parse()
                .map_err(|_| Error::Invalid(format!("bad port {p:?} in {url:?}")))?,
            None => default_port,
        };
        Ok(ParsedUrl {
            scheme,
            host,
            port,
            username,
            password,
            path: percent_decode(path)?,
        })
    }
}

impl ConnectOptions {
    /// Options for a URL: `mqtt://host[:port]` (or `tcp://`), `ws://host[:port][/path]`
    /// (path `/mqtt` when empty), with optional `user:password@`. MQTT 5, a generated client
    /// id, clean start, keep alive 60 s, reconnect with backoff.
    pub fn new(url: &str) -> Result<ConnectOptions, Error> {
        let parsed = ParsedUrl::parse(url)?;
        let endpoint = if parsed.scheme == "ws" {
            let host = if parsed.host.contains(':') {
                format!("[{}]", parsed.host)
            } else {
                parsed.host.clone()
            };
            let path = if parsed.path.is_empty() {
                "mqtt"
            } else {
                parsed.path.as_str()
            };
            Endpoint::WebSocket {
                url: format!("ws://{host}:{}/{path}", parsed.port),
            }
        } else {
            Endpoint::Tcp {
                host: parsed.host.clone(),
                port: parsed.port,
            }
        };
        let mut options = ConnectOptions::with_endpoint(endpoint);
        if let Some(user) = parsed.username {
            options = options.credentials(user, parsed.password.unwrap_or_default());
        }
        Ok(options)
    }

    /// Options for plain TCP to `host:port`.
    pub fn tcp(host: impl Into<String>, port: u16) -> ConnectOptions {
        ConnectOptions::with_endpoint(Endpoint::Tcp {
            host: host.into(),
            port,
        })
    }

    /// Options for any transport: `connector` is called for every (re)connection and returns
    /// a fresh `AsyncRead + AsyncWrite` (an in-process broker's duplex stream, a Unix socket,
    /// a TLS stream…). Closures `Fn() -> impl Future<Output = io::Result<IO>>` qualify.
    pub fn with_connector(connector: impl Connector) -> ConnectOptions {
        ConnectOptions::with_endpoint(Endpoint::Custom(Arc::new(connector)))
    }

    fn with_endpoint(endpoint: Endpoint) -> ConnectOptions {
        ConnectOptions {
            endpoint,
            session: ClientConfig::new(ProtocolVersion::V5, generated_client_id()),
            reconnect: Reconnect::default(),
            offline: OfflineQueue::default(),
            connect_timeout: Duration::from_secs(10),
            message_capacity: 256,
            command_capacity: 256,
            resubscribe: true,
            auth_handler: None,
        }
    }

    /// The client id in use.
    pub fn get_client_id(&self) -> &str {
        self.session.client_id.as_str()
    }

    /// The protocol version in use.
    pub fn get_version(&self) -> ProtocolVersion {
        self.session.version
    }

    /// Protocol version (default MQTT 5).
    pub fn version(mut self, version: ProtocolVersion) -> ConnectOptions {
        self.session.version = version;
        self
    }

    /// Client identifier. An empty id asks an MQTT 5 server to assign one (then reused for
    /// reconnections); MQTT 3.x requires clean session with it.
    pub fn client_id(mut self, id: impl AsRef<str>) -> ConnectOptions {
        // Invalid ids (NUL, over 65535 bytes) are refused at connect time by the server;
        // here they are kept out by falling back to the generated one.
        if let Ok(id) = MqttStr::try_from(id.as_ref()) {
            self.session.client_id = id;
        }
        self
    }

    /// Clean Start (v5) / Clean Session (3.x), default true. Reconnections of an MQTT 5
    /// client always ask to resume.
    pub fn clean_start(mut self, clean: bool) -> ConnectOptions {
        self.session.clean_start = clean;
        self
    }

    /// Keep alive in seconds (default 60, 0 disables).
    pub fn keep_alive(mut self, seconds: u16) -> ConnectOptions {
        self.session.keep_alive = seconds;
        self
    }

    /// User name and password.
    pub fn credentials(
        mut self,
        username: impl AsRef<str>,
        password: impl Into<Bytes>,
    ) -> ConnectOptions {
        self.session.username = MqttStr::try_from(username.as_ref()).ok();
        self.session.password = Some(password.into());
        self
    }

    /// User name without password.
    pub fn username(mut self, username: impl AsRef<str>) -> ConnectOptions {
        self.session.username = MqttStr::try_from(username.as_ref()).ok();
        self
    }

    /// Will message (properties are dropped on 3.x).
    pub fn will(mut self, will: Will) -> ConnectOptions {
        self.session.will = Some(will);
        self
    }

    /// A simple will: topic, payload, QoS, retain.
    pub fn last_will(
        self,
        topic: &str,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Result<ConnectOptions, Error> {
        let topic = TopicName::try_from(topic)
            .map_err(|e| Error::Invalid(format!("will topic {topic:?}: {e}")))?;
        Ok(self.will(Will {
            topic,
            payload: payload.into(),
            qos,
            retain,
            properties: WillProperties::default(),
        }))
    }

    /// Session Expiry Interval in seconds (v5).
    pub fn session_expiry(mut self, seconds: u32) -> ConnectOptions {
        self.session.properties.session_expiry_interval = Some(seconds);
        self
    }

    /// Receive Maximum (v5): how many QoS 1/2 messages the server may have unacknowledged.
    pub fn receive_maximum(mut self, max: u16) -> ConnectOptions {
        self.session.properties.receive_maximum = NonZeroU16::new(max);
        self
    }

    /// Maximum Packet Size we accept (v5).
    pub fn maximum_packet_size(mut self, max: u32) -> ConnectOptions {
        self.session.properties.maximum_packet_size = NonZeroU32::new(max);
        self
    }

    /// Topic Alias Maximum we accept from the server (v5).
    pub fn topic_alias_maximum(mut self, max: u16) -> ConnectOptions {
        self.session.properties.topic_alias_maximum = Some(max);
        self
    }

    /// Whether outgoing publishes use topic aliases when the server allows them (default
    /// true).
    pub fn use_topic_aliases(mut self, yes: bool) -> ConnectOptions {
        self.session.use_topic_aliases = yes;
        self
    }

    /// Adds a CONNECT user property (v5).
    pub fn user_property(mut self, key: &str, value: &str) -> ConnectOptions {
        if let (Ok(k), Ok(v)) = (MqttStr::try_from(key), MqttStr::try_from(value)) {
            self.session.properties.user_properties.push((k, v));
        }
        self
    }

    /// Every CONNECT property (v5), for what the shortcuts do not cover (request response
    /// information, request problem information, authentication method and data).
    pub fn properties(mut self, properties: ConnectProperties) -> ConnectOptions {
        self.session.properties = properties;
        self
    }

    /// Answers AUTH challenges (v5 enhanced authentication; set the method and initial data
    /// in [`properties`](Self::properties)).
    pub fn auth_handler(
        mut self,
        handler: impl Fn(ReasonCode, Option<Bytes>) -> Option<Bytes> + Send + Sync + 'static,
    ) -> ConnectOptions {
        self.auth_handler = Some(Arc::new(handler));
        self
    }

    /// How long opening the transport may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> ConnectOptions {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for CONNACK and PINGRESP (default 30 s).
    pub fn response_timeout(mut self, timeout: Duration) -> ConnectOptions {
        self.session.response_timeout = timeout;
        self
    }

    /// Reconnection policy.
    pub fn reconnect(mut self, reconnect: Reconnect) -> ConnectOptions {
        self.reconnect = reconnect;
        self
    }

    /// Offline queue bounds and policy.
    pub fn offline_queue(mut self, queue: OfflineQueue) -> ConnectOptions {
        self.offline = queue;
        self
    }

    /// Capacity of each message stream (default 256 messages). A full stream stops the client
    /// reading from the socket until its reader catches up.
    pub fn message_capacity(mut self, capacity: usize) -> ConnectOptions {
        self.message_capacity = capacity.max(1);
        self
    }

    /// Whether subscriptions are made again when the server reports no session (default
    /// true).
    pub fn resubscribe(mut self, yes: bool) -> ConnectOptions {
        self.resubscribe = yes;
        self
    }
}
