//! The tokio runtime around the core: listeners, connection tasks, the router task, `$SYS`.

mod admission;
mod connection;
mod hooks;
mod outbox;
mod router;
mod ws;

use crate::{
    core::{ConnId, Core, CoreConfig, Input},
    store::{MemoryStore, Store},
};
use bytes::Bytes;
use starling_codec::{QoS, TopicName};
use starling_session::{Message, ServerConfig};
use std::{
    io,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    sync::{mpsc, watch, Notify, Semaphore},
    task::JoinHandle,
};

/// The kind of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListenerKind {
    /// Plain MQTT over TCP.
    Tcp,
    /// MQTT over WebSocket, path `/mqtt`, subprotocol `mqtt`.
    WebSocket,
}

/// One listener of the broker.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Address to bind (port 0: chosen by the OS).
    pub addr: SocketAddr,
    /// Transport.
    pub kind: ListenerKind,
    /// Whether clients without a user name are admitted on this listener.
    pub allow_anonymous: bool,
}

/// What a connection knows about the listener it came through.
#[derive(Debug, Clone)]
pub(crate) struct ListenerInfo {
    pub(crate) allow_anonymous: bool,
    pub(crate) kind: ListenerKind,
}

/// Broker configuration. Built with [`Broker::builder`]; every default is safe.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BrokerConfig {
    /// Listeners. Empty: one TCP listener on 127.0.0.1:1883 admitting anonymous clients, as
    /// Mosquitto 2 does with no configuration.
    pub listeners: Vec<ListenerConfig>,
    /// Per-connection protocol policy (packet size, receive maximum, aliases, keep-alive bound,
    /// connect timeout, queue length).
    pub session: ServerConfig,
    /// Core policy (maximum QoS, offline queue length).
    pub core: CoreConfig,
    /// Most simultaneous connections; a CONNECT over the limit is answered with CONNACK 0x97
    /// Quota exceeded (3.x: 0x03 Server unavailable).
    pub max_connections: usize,
    /// Most new connections per second, broker-wide (`None`: no limit); over it, CONNACK 0x9F
    /// Connection rate exceeded (3.x: 0x03).
    pub max_connection_rate: Option<u32>,
    /// Deliveries waiting in a connection's outbox beyond which QoS 0 messages are dropped.
    pub max_outbox_qos0: usize,
    /// Deliveries waiting in a connection's outbox beyond which any delivery is dropped.
    pub max_outbox: usize,
    /// Interval of `$SYS` updates (`None`: no `$SYS` topics).
    pub sys_interval: Option<Duration>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listeners: Vec::new(),
            session: ServerConfig::default(),
            core: CoreConfig::default(),
            max_connections: 19_000,
            max_connection_rate: None,
            max_outbox_qos0: 10_000,
            max_outbox: 100_000,
            sys_interval: Some(Duration::from_secs(10)),
        }
    }
}

/// Counters shared by the tasks (published under `$SYS`).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Open connections.
    pub connections: AtomicUsize,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// PUBLISH received from clients.
    pub messages_received: AtomicU64,
    /// PUBLISH handed to client sessions.
    pub messages_sent: AtomicU64,
    /// Bytes read from clients.
    pub bytes_received: AtomicU64,
    /// Bytes written to clients.
    pub bytes_sent: AtomicU64,
    /// Connections refused by the connection limit or the rate limit.
    pub connections_refused: AtomicU64,
    /// Deliveries dropped because a subscriber's outbox was full.
    pub dropped_slow: AtomicU64,
    /// Deliveries refused because a session's queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Sessions known to the core.
    pub sessions: AtomicUsize,
    /// Subscriptions.
    pub subscriptions: AtomicUsize,
    /// Retained messages.
    pub retained: AtomicUsize,
}

impl Metrics {
    /// Called after every router batch: a store happens only when a figure changed, so the
    /// router does not keep taking the counters' cache line from the connections' threads.
    fn set_core(&self, core: &Core) {
        let set = |counter: &AtomicUsize, value: usize| {
            if counter.load(Ordering::Relaxed) != value {
                counter.store(value, Ordering::Relaxed);
            }
        };
        set(&self.sessions, core.session_count());
        set(&self.subscriptions, core.subscription_count());
        set(&self.retained, core.retained().len());
    }
}

/// Builds a [`Broker`].
#[derive(Default)]
pub struct BrokerBuilder {
    config: BrokerConfig,
    store: Option<Box<dyn Store>>,
    hooks: hooks::Hooks,
}

impl std::fmt::Debug for BrokerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl BrokerBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: BrokerConfig) -> Self {
        self.config = config;
        self
    }

    /// Adds a TCP listener.
    pub fn listen_tcp(mut self, addr: SocketAddr, allow_anonymous: bool) -> Self {
        self.config.listeners.push(ListenerConfig {
            addr,
            kind: ListenerKind::Tcp,
            allow_anonymous,
        });
        self
    }

    /// Uses `store` for retained messages and persistent sessions (default: a fresh
    /// [`MemoryStore`](crate::store::MemoryStore)). Its contents are restored at spawn.
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Box::new(store));
        self
    }

    /// Checks the credentials of clients that present a user name (for example a
    /// [`PasswordFile`](crate::auth::PasswordFile)).
    pub fn authenticator(mut self, authenticator: Arc<dyn crate::auth::Authenticator>) -> Self {
        self.hooks.authenticator = Some(authenticator);
        self
    }

    /// Decides what clients may publish and subscribe to (for example an
    /// [`AclFile`](crate::auth::AclFile)).
    pub fn authorizer(mut self, authorizer: Arc<dyn crate::auth::Authorizer>) -> Self {
        self.hooks.authorizer = Some(authorizer);
        self
    }

    /// Adds a WebSocket listener (path `/mqtt`).
    pub fn listen_ws(mut self, addr: SocketAddr, allow_anonymous: bool) -> Self {
        self.config.listeners.push(ListenerConfig {
            addr,
            kind: ListenerKind::WebSocket,
            allow_anonymous,
        });
        self
    }

    /// Validates the configuration (no I/O).
    pub fn build(self) -> Result<Broker, ConfigError> {
        let c = &self.config;
        if c.max_connections == 0 {
            return Err(ConfigError("max_connections must be at least 1"));
        }
        if c.session.receive_maximum == 0 {
            return Err(ConfigError("receive_maximum must be at least 1"));
        }
        if c.max_outbox == 0 {
            return Err(ConfigError("max_outbox must be at least 1"));
        }
        let store = self.store.unwrap_or_else(|| Box::new(MemoryStore::new()));
        Ok(Broker {
            config: self.config,
            store,
            hooks: self.hooks,
        })
    }
}

/// An invalid configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid broker configuration: {0}")]
pub struct ConfigError(pub &'static str);

/// A configured broker, not yet running.
pub struct Broker {
    config: BrokerConfig,
    store: Box<dyn Store>,
    hooks: hooks::Hooks,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    pub(crate) config: BrokerConfig,
    /// The session configuration every connection shares.
    pub(crate) session_config: Arc<starling_session::ServerConfig>,
    pub(crate) router: mpsc::Sender<router::RouterMsg>,
    pub(crate) hooks: Arc<hooks::Hooks>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) shutdown: watch::Sender<bool>,
    next_conn: AtomicU64,
    active: AtomicUsize,
    idle: Notify,
    permits: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    rate_limit: Option<admission::RateLimit>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    local_addrs: Mutex<Vec<SocketAddr>>,
    started: tokio::time::Instant,
}

/// A handle to a running broker; cheap to clone.
#[derive(Clone)]
pub struct BrokerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BrokerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerHandle")
            .field("local_addrs", &self.local_addrs())
            .finish()
    }
}

impl Broker {
    /// A builder with the default configuration.
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }

    /// Binds the listeners and starts the broker on the caller's tokio runtime.
    pub async fn spawn(self) -> io::Result<BrokerHandle> {
        let mut config = self.config;
        if config.listeners.is_empty() {
            config.listeners.push(ListenerConfig {
                addr: SocketAddr::from(([127, 0, 0, 1], 1883)),
                kind: ListenerKind::Tcp,
                allow_anonymous: true,
            });
        }
        let (router_tx, router_rx) = mpsc::channel(4096);
        let metrics = Arc::new(Metrics::default());
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            router: router_tx,
            hooks: Arc::new(self.hooks),
            metrics: metrics.clone(),
            shutdown,
            next_conn: AtomicU64::new(1),
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            permits: Arc::new(Semaphore::new(config.max_connections)),
            refusing: Arc::new(Semaphore::new(admission::MAX_REFUSING)),
            rate_limit: config.max_connection_rate.map(admission::RateLimit::new),
            tasks: Mutex::new(Vec::new()),
            local_addrs: Mutex::new(Vec::new()),
            started: tokio::time::Instant::now(),
            session_config: Arc::new({
                let mut session = config.session.clone();
                // Finished deliveries need nothing from the broker (the core learns about
                // unacknowledged ones from the session state when the connection ends).
                session.report_deliveries = false;
                session
            }),
            config,
        });
        let mut core = Core::new(shared.config.core.clone());
        let mut store = self.store;
        let snapshot = store.load().map_err(|e| io::Error::other(e.to_string()))?;
        core.restore(snapshot);
        let router = tokio::spawn(router::run(core, store, router_rx, metrics));
        let mut tasks = vec![router];
        for listener in shared.config.listeners.clone() {
            let socket = TcpListener::bind(listener.addr).await?;
            let addr = socket.local_addr()?;
            lock(&shared.local_addrs).push(addr);
            tracing::info!(%addr, kind = ?listener.kind, "listening");
            let info = ListenerInfo {
                allow_anonymous: listener.allow_anonymous,
                kind: listener.kind,
            };
            tasks.push(tokio::spawn(accept_loop(socket, info, shared.clone())));
        }
        if let Some(every) = shared.config.sys_interval {
            tasks.push(tokio::spawn(sys_loop(every, shared.clone())));
        }
        *lock(&shared.tasks) = tasks;
        Ok(BrokerHandle { shared })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn accept_loop(socket: TcpListener, info: ListenerInfo, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut backoff = Duration::from_millis(1);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|down| *down) => return,
            a = socket.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(1);
                // Small packets must not wait for Nagle + delayed ACK.
                let _ = stream.set_nodelay(true);
                tracing::debug!(%peer, "connection");
                let Some(admission) = admission::admit(&shared) else {
                    continue;
                };
                match info.kind {
                    ListenerKind::Tcp => dispatch(&shared, stream, info.clone(), admission),
                    ListenerKind::WebSocket => {
                        tokio::spawn(ws::serve(stream, info.clone(), shared.clone(), admission));
                    }
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Serves an admitted connection, or refuses it with a CONNACK.
fn dispatch<IO>(shared: &Arc<Shared>, io: IO, info: ListenerInfo, admission: admission::Admission)
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    match admission {
        admission::Admission::Admit(permit) => spawn_connection(shared, io, info, permit),
        admission::Admission::Refuse(code, permit) => {
            tokio::spawn(admission::refuse(io, code, permit));
        }
    }
}

fn spawn_connection<IO>(
    shared: &Arc<Shared>,
    io: IO,
    info: ListenerInfo,
    permit: tokio::sync::OwnedSemaphorePermit,
) where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let conn: ConnId = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    shared
        .metrics
        .connections_total
        .fetch_add(1, Ordering::Relaxed);
    shared.active.fetch_add(1, Ordering::SeqCst);
    let slot = connection::Slot::new(shared.clone(), permit);
    tokio::spawn(connection::run(io, conn, info, slot));
}

async fn sys_loop(every: Duration, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|down| *down) => return,
            _ = tick.tick() => {}
        }
        let m = &shared.metrics;
        let uptime = shared.started.elapsed().as_secs();
        let values = [
            (
                "$SYS/broker/version",
                format!("starling {}", env!("CARGO_PKG_VERSION")),
            ),
            ("$SYS/broker/uptime", format!("{uptime} seconds")),
            (
                "$SYS/broker/clients/connected",
                m.connections.load(Ordering::Relaxed).to_string(),
            ),
            (
                "$SYS/broker/clients/total",
                m.sessions.load(Ordering::Relaxed).to_string(),
            ),
            (
                "$SYS/broker/messages/received",
                m.messages_received.load(Ordering::Relaxed).to_string(),
            ),
            (
                "$SYS/broker/messages/sent",
                m.messages_sent.load(Ordering::Relaxed).to_string(),
            ),
            (
                "$SYS/broker/bytes/received",
                m.bytes_received.load(Ordering::Relaxed).to_string(),
            ),
            (
                "$SYS/broker/bytes/sent",
                m.bytes_sent.load(Ordering::Relaxed).to_string(),
            ),
            (
                "$SYS/broker/subscriptions/count",
                m.subscriptions.load(Ordering::Relaxed).to_string(),
            ),
            (
                "$SYS/broker/retained messages/count",
                m.retained.load(Ordering::Relaxed).to_string(),
            ),
        ];
        for (topic, value) in values {
            if let Ok(topic) = TopicName::try_from(topic) {
                let message = Message::new(topic, Bytes::from(value), QoS::AtMostOnce, true);
                let _ = shared
                    .router
                    .send(router::RouterMsg::Input(Input::Publish {
                        from: None,
                        message,
                    }))
                    .await;
            }
        }
    }
}

impl BrokerHandle {
    /// The bound addresses of the listeners (with the ports the OS chose).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        lock(&self.shared.local_addrs).clone()
    }

    /// Serves one MQTT connection over any byte stream (in-process pipes, TLS, WebSocket
    /// adapters, tests). Anonymous clients are admitted when `allow_anonymous` is set.
    pub fn serve_connection<IO>(&self, io: IO, allow_anonymous: bool)
    where
        IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        if let Some(admission) = admission::admit(&self.shared) {
            dispatch(
                &self.shared,
                io,
                ListenerInfo {
                    allow_anonymous,
                    kind: ListenerKind::Tcp,
                },
                admission,
            );
        }
    }

    /// An in-process connection: the returned stream is the client end of a pipe served by
    /// the broker (anonymous allowed). Drive it with any MQTT client that takes a stream.
    pub fn connect_in_process(&self) -> tokio::io::DuplexStream {
        let (client, server) = tokio::io::duplex(64 * 1024);
        self.serve_connection(server, true);
        client
    }

    /// Publishes a message from the broker itself.
    pub async fn publish(&self, topic: TopicName, payload: Bytes, qos: QoS, retain: bool) {
        let message = Message::new(topic, payload, qos, retain);
        let _ = self
            .shared
            .router
            .send(router::RouterMsg::Input(Input::Publish {
                from: None,
                message,
            }))
            .await;
    }

    /// Counters.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Stops accepting, tells every client (MQTT 5: DISCONNECT 0x8B), flushes and waits for
    /// every task to finish.
    pub async fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        let _ = self
            .shared
            .router
            .send(router::RouterMsg::DisconnectAll)
            .await;
        loop {
            let idle = self.shared.idle.notified();
            if self.shared.active.load(Ordering::SeqCst) == 0 {
                break;
            }
            idle.await;
        }
        let _ = self.shared.router.send(router::RouterMsg::Shutdown).await;
        let tasks = std::mem::take(&mut *lock(&self.shared.tasks));
        for t in tasks {
            let _ = t.await;
        }
    }
}
