//! One task per connection: the socket, a `ServerSession`, and the glue to the router.

use super::{
    outbox::{ConnMsg, Outbox},
    router::RouterMsg,
    ListenerInfo, Shared,
};
use crate::core::{ConnId, ConnectRequest, Input};
use bytes::{Buf, Bytes, BytesMut};
use starling_codec::{MqttStr, ReasonCode};
use starling_session::{Accept, ServerEvent, ServerPhase, ServerSession};
use std::{
    collections::VecDeque,
    sync::{atomic::Ordering, Arc},
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    sync::{mpsc, OwnedSemaphorePermit},
    time::{sleep_until, Instant},
};

/// Read buffer of a quiet connection.
const SMALL_READ: usize = 128;
/// Read buffer of a busy connection.
const BIG_READ: usize = 16 * 1024;
/// Largest write buffer a busy connection keeps between bursts (an idle one gives it all back).
const MAX_KEPT_WRITE: usize = 1024 * 1024;
/// Quiet time after which a connection gives back its burst buffers.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_millis(200);

/// A connection's place in the broker: its admission permit and its share of the counters,
/// given back when the connection's task ends however it ends.
pub(crate) struct Slot {
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    /// Takes a place; the caller has counted the connection as active.
    pub(crate) fn new(shared: Arc<Shared>, permit: OwnedSemaphorePermit) -> Slot {
        shared.metrics.connections.fetch_add(1, Ordering::Relaxed);
        Slot {
            shared,
            _permit: permit,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.metrics.connections.fetch_sub(1, Ordering::Relaxed);
        if shared.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            shared.idle.notify_waiters();
        }
    }
}

/// Runs one connection to completion: registers it with the router and builds its session
/// now, and returns the future its task runs.
///
/// That future is what every connection's task holds for its whole life, so what it keeps
/// across its awaits is kept small on purpose: it is an `async move` block rather than an
/// `async fn` (whose arguments would be stored twice), and rarely needed state is boxed
/// elsewhere (see ARCHITECTURE.md, "Memory per connection").
pub(crate) fn run<IO>(
    mut io: IO,
    conn: ConnId,
    listener: ListenerInfo,
    slot: Slot,
) -> impl std::future::Future<Output = ()> + Send + 'static
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let shared = &slot.shared;
    let outbox = Arc::new(Outbox::new(
        shared.config.max_outbox_qos0,
        shared.config.max_outbox,
    ));
    let register = RouterMsg::Register {
        conn,
        outbox: outbox.clone(),
    };
    // Without an await in the common case: a pending send would be part of every task's state.
    let registered = match shared.router.try_send(register) {
        Ok(()) => Some(true),
        Err(mpsc::error::TrySendError::Full(_)) => Some(false),
        // The broker is gone.
        Err(mpsc::error::TrySendError::Closed(_)) => None,
    };
    let session = ServerSession::new(Instant::now().into_std(), shared.session_config.clone());
    let mut c = Connection {
        session,
        conn,
        listener,
        slot,
        identity: None,
        registered_with_core: false,
        goodbye: BytesMut::new(),
    };
    async move {
        match registered {
            Some(true) => {}
            Some(false) => {
                let register = RouterMsg::Register {
                    conn: c.conn,
                    outbox: outbox.clone(),
                };
                if Box::pin(c.shared().router.send(register)).await.is_err() {
                    return;
                }
            }
            None => return,
        }
        // Reads happen only inside the select and writes only after it, so the stream is not
        // split (a split costs every connection a shared allocation and a lock per operation).
        // Idle connections keep a small read buffer; a read that fills it makes the next one
        // bigger, and an emptied big buffer is given back (payloads keep their own share of it).
        let mut rbuf = BytesMut::with_capacity(SMALL_READ);
        let mut busy = false;
        let mut inbox = VecDeque::new();
        let mut last_active = Instant::now();
        let mut released = false;
        let mut continue_idle = false;
        loop {
            if rbuf.is_empty() && !busy && rbuf.capacity() > SMALL_READ {
                rbuf = BytesMut::with_capacity(SMALL_READ);
            }
            if busy || rbuf.capacity() - rbuf.len() < SMALL_READ / 2 {
                rbuf.reserve(BIG_READ);
            }
            // After IDLE_RELEASE without traffic the connection gives back its burst buffers, so
            // thousands of idle connections keep only what they need.
            let idle_at = (!released).then(|| last_active + IDLE_RELEASE);
            // Neither instant is kept across the select (both are recomputed from what is):
            // every byte here is a byte per idle connection.
            let deadline = match (c.session.poll_timeout().map(Instant::from_std), idle_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let can_read = c.session.phase() != ServerPhase::AwaitingAccept;
            tokio::select! {
                biased;
                // Shutdown arrives through the outbox too (`ConnMsg::Disconnect` from the router),
                // so an idle connection waits on one notification instead of two.
                // Applied after the select: the arm stays synchronous, so the state every idle
                // connection's task carries does not include a message being delivered.
                _ = outbox.notified() => outbox.swap_out(&mut inbox),
                n = io.read_buf(&mut rbuf), if can_read => {
                    match n {
                        Ok(0) | Err(_) => c.session.handle_transport_closed(Instant::now().into_std()),
                        Ok(n) => {
                            busy = n >= SMALL_READ;
                            c.shared().metrics.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
                            c.session.handle_bytes(Instant::now().into_std(), &mut rbuf);
                        }
                    }
                }
                _ = async move { sleep_until(deadline.unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                    let now = Instant::now();
                    c.session.handle_timeout(now.into_std());
                    if !released && now >= last_active + IDLE_RELEASE {
                        c.session.release_idle_memory();
                        outbox.release_idle_memory();
                        inbox = VecDeque::new();
                        released = true;
                    }
                    // A timer is not traffic: the idle clock keeps running.
                    continue_idle = true;
                }
            }
            if !inbox.is_empty() {
                c.apply_all(&mut inbox, &mut rbuf).await;
            }
            if !std::mem::take(&mut continue_idle) {
                last_active = Instant::now();
                released = false;
            }
            let closed = c.events().await;
            // One write per wake-up: everything the session encoded since the last one, written
            // from the session's own buffer (no copy; its capacity is reused).
            let mut failed = false;
            if !c.goodbye.is_empty() {
                let goodbye = c.goodbye.split();
                failed = io.write_all(&goodbye).await.is_err();
            }
            if c.session.has_attached_payloads() && !failed {
                // Large payloads go out shared with the message (no copy per subscriber), in
                // a vectored write; boxed, so the common wake-up's state stays small.
                let sent = &c.slot.shared.metrics.bytes_sent;
                failed = Box::pin(write_attached(&mut io, &mut c.session, sent))
                    .await
                    .is_err();
            }
            let out = c.session.transmit_buffer();
            if !out.is_empty() && !failed {
                c.slot
                    .shared
                    .metrics
                    .bytes_sent
                    .fetch_add(out.len() as u64, Ordering::Relaxed);
                // flush: a no-op on TCP, it completes a pending frame on WebSocket.
                failed = io.write_all(out).await.is_err() || io.flush().await.is_err();
            }
            out.clear();
            // A burst's buffer is not kept by an idle connection.
            if out.capacity() > MAX_KEPT_WRITE {
                *out = BytesMut::new();
            }
            if failed {
                c.session.handle_transport_closed(Instant::now().into_std());
                c.events().await;
            }
            if closed || c.session.phase() == ServerPhase::Closed {
                let _ = io.flush().await;
                let _ = io.shutdown().await;
                // Drain the Closed event if the write failure produced it now.
                c.events().await;
                break;
            }
        }
    }
}

/// Deliveries applied in one batch, added to the shared counters once per batch: those
/// counters are written from every worker thread, and an atomic add per delivery made their
/// cache line bounce between cores (a sixth of the broker's time in a 1 -> 50 fan-out).
#[derive(Default)]
struct DeliveryTally {
    sent: u64,
    dropped: u64,
}

impl DeliveryTally {
    fn flush(self, metrics: &super::Metrics) {
        if self.sent > 0 {
            metrics
                .messages_sent
                .fetch_add(self.sent, Ordering::Relaxed);
        }
        if self.dropped > 0 {
            metrics
                .dropped_queue_full
                .fetch_add(self.dropped, Ordering::Relaxed);
        }
    }
}

struct Connection {
    session: ServerSession,
    conn: ConnId,
    listener: ListenerInfo,
    /// The broker's shared state (hooks, counters, router) and this connection's place in it.
    slot: Slot,
    /// Boxed: only ACL checks read it, and every idle connection carries this struct.
    identity: Option<Box<super::hooks::Identity>>,
    /// Whether the core knows this connection (it sent Connect); then Closed must follow.
    registered_with_core: bool,
    /// Bytes the session queued before it closed (DISCONNECT, CONNACK refusal).
    goodbye: BytesMut,
}

impl Connection {
    fn shared(&self) -> &Shared {
        &self.slot.shared
    }

    /// Applies what the router sent. With an authorizer every delivery is checked first; that
    /// awaits, so it runs in a boxed future built only then.
    /// One clock reading serves the whole batch (a delivery's expiry countdown does not need
    /// more, and reading the clock per message was a visible share of fan-out).
    async fn apply_all(&mut self, inbox: &mut VecDeque<ConnMsg>, rbuf: &mut BytesMut) {
        let now = Instant::now().into_std();
        let mut tally = DeliveryTally::default();
        if self.shared().hooks.authorizer.is_none() {
            for msg in inbox.drain(..) {
                self.apply(msg, rbuf, now, &mut tally);
            }
        } else {
            Box::pin(async {
                for msg in inbox.drain(..) {
                    if let ConnMsg::Deliver { message, .. } = &msg {
                        if !self.may_receive(&message.topic).await {
                            continue;
                        }
                    }
                    self.apply(msg, rbuf, now, &mut tally);
                }
            })
            .await;
        }
        tally.flush(&self.shared().metrics);
    }

    fn apply(
        &mut self,
        msg: ConnMsg,
        rbuf: &mut BytesMut,
        now: std::time::Instant,
        tally: &mut DeliveryTally,
    ) {
        match msg {
            ConnMsg::Accept {
                client_id,
                assigned,
                resume,
            } => {
                let mut accept = Accept::new();
                if assigned {
                    if let Ok(id) = MqttStr::try_from(&*client_id) {
                        accept = accept.assign_client_id(id);
                    }
                }
                if let Some(state) = resume {
                    accept = accept.resume(*state);
                }
                if let Some(identity) = self.identity.as_mut() {
                    identity.client_id = client_id.to_string();
                }
                if self.session.accept(now, accept).is_ok() {
                    // Packets sent after CONNECT waited for the accept.
                    self.session.handle_bytes(now, rbuf);
                }
            }
            ConnMsg::Deliver { message, options } => {
                // A plain QoS 0 copy is encoded from the shared message; otherwise the last
                // subscriber to get there takes the message and the others copy it.
                if self.session.deliver_shared(now, message, options).is_err() {
                    tally.dropped += 1;
                }
                tally.sent += 1;
            }
            ConnMsg::SubAck {
                packet_id,
                reason_codes,
            } => {
                let _ = self.session.sub_ack(packet_id, reason_codes);
            }
            ConnMsg::UnsubAck {
                packet_id,
                reason_codes,
            } => {
                let _ = self.session.unsub_ack(packet_id, Some(reason_codes));
            }
            ConnMsg::Disconnect(reason) => self.session.disconnect(reason),
        }
    }

    /// Read access per delivered message: an ACL `deny` may cover only part of a granted
    /// subscription (`read #` with `deny secret/#`), so it is checked on every delivery when
    /// an authorizer is configured.
    async fn may_receive(&mut self, topic: &starling_codec::TopicName) -> bool {
        match (&self.shared().hooks.authorizer, &self.identity) {
            (Some(authorizer), Some(id)) => {
                authorizer.authorize_delivery(id, topic).await == crate::auth::Access::Allow
            }
            _ => true,
        }
    }

    /// Handles session events, if any; returns true once the connection is finished.
    ///
    /// The handling future holds an event and a router message across its awaits; it is
    /// boxed, and only built when there are events, so that the state every idle connection's
    /// task carries stays small.
    async fn events(&mut self) -> bool {
        if self.session.has_events() {
            Box::pin(self.handle_events()).await
        } else {
            false
        }
    }

    async fn handle_events(&mut self) -> bool {
        // Counted once per batch, as deliveries are (see `DeliveryTally`).
        let mut received = 0u64;
        let finished = self.handle_events_counted(&mut received).await;
        if received > 0 {
            self.shared()
                .metrics
                .messages_received
                .fetch_add(received, Ordering::Relaxed);
        }
        finished
    }

    async fn handle_events_counted(&mut self, received: &mut u64) -> bool {
        while let Some(event) = self.session.poll_event() {
            match event {
                ServerEvent::Connect(info) => {
                    match self
                        .shared()
                        .hooks
                        .authenticate(&info, &self.listener)
                        .await
                    {
                        Ok(identity) => {
                            tracing::debug!(client_id = %identity.client_id, username = ?identity.username, "authenticated");
                            self.identity = Some(Box::new(identity));
                            self.registered_with_core = true;
                            let request = ConnectRequest {
                                client_id: info.client_id.to_string(),
                                clean_start: info.clean_start,
                                will: info.will.clone(),
                                session_expiry_interval: info.session_expiry_interval,
                            };
                            self.send_router(Input::Connect {
                                conn: self.conn,
                                request: Box::new(request),
                            })
                            .await;
                        }
                        Err(reason) => {
                            let _ = self.session.reject(reason);
                        }
                    }
                }
                ServerEvent::Publish { message, packet_id } => {
                    *received += 1;
                    let allowed = match &self.identity {
                        Some(id) => {
                            self.shared()
                                .hooks
                                .authorize_publish(id, &message.topic)
                                .await
                        }
                        None => false,
                    };
                    if allowed {
                        self.send_router(Input::Publish {
                            from: Some(self.conn),
                            message,
                        })
                        .await;
                    }
                    if let Some(id) = packet_id {
                        // The router owns the message now (in-memory store: acked means routed).
                        let reason = if allowed {
                            ReasonCode::Success
                        } else {
                            ReasonCode::NotAuthorized
                        };
                        let _ = self.session.ack_publish(id, reason);
                    }
                }
                ServerEvent::Subscribe {
                    packet_id,
                    subscriptions,
                    ..
                } => {
                    let mut denied = Vec::with_capacity(subscriptions.len());
                    for sub in &subscriptions {
                        let ok = match &self.identity {
                            Some(id) => {
                                self.shared()
                                    .hooks
                                    .authorize_subscribe(id, &sub.filter)
                                    .await
                            }
                            None => false,
                        };
                        denied.push((!ok).then_some(ReasonCode::NotAuthorized));
                    }
                    self.send_router(Input::Subscribe {
                        conn: self.conn,
                        packet_id,
                        subscriptions,
                        denied,
                    })
                    .await;
                }
                ServerEvent::Unsubscribe { packet_id, filters } => {
                    self.send_router(Input::Unsubscribe {
                        conn: self.conn,
                        packet_id,
                        filters,
                    })
                    .await;
                }
                ServerEvent::Closed {
                    will,
                    session_expiry_interval,
                    ..
                } => {
                    while let Some(bytes) = self.session.poll_transmit() {
                        self.goodbye.extend_from_slice(&bytes);
                    }
                    if self.registered_with_core {
                        self.registered_with_core = false;
                        let config = self.shared().session_config.clone();
                        let session = std::mem::replace(
                            &mut self.session,
                            ServerSession::new(Instant::now().into_std(), config),
                        );
                        // Keep the replacement closed too.
                        self.session
                            .handle_transport_closed(Instant::now().into_std());
                        while self.session.poll_event().is_some() {}
                        let state = session.into_state();
                        self.send_router(Input::Closed {
                            conn: self.conn,
                            state: Box::new(state),
                            will,
                            session_expiry_interval,
                        })
                        .await;
                    }
                    return true;
                }
                _ => {}
            }
        }
        false
    }

    /// Hands an input to the router; `&mut self` keeps the future `Send` (the session is not
    /// `Sync`).
    async fn send_router(&mut self, input: Input) {
        let _ = self.shared().router.send(RouterMsg::Input(input)).await;
    }
}

/// Writes what the session encoded, its large payloads uncopied (see
/// `ServerSession::transmit_chunks`), counting the bytes in `sent`.
async fn write_attached<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    session: &mut ServerSession,
    sent: &std::sync::atomic::AtomicU64,
) -> std::io::Result<()> {
    let mut chunks = VecDeque::new();
    session.transmit_chunks(&mut chunks);
    let n: usize = chunks.iter().map(Bytes::len).sum();
    sent.fetch_add(n as u64, Ordering::Relaxed);
    write_chunks(io, chunks).await?;
    io.flush().await
}

/// Writes `chunks` in order with vectored writes (as many chunks per call as the transport
/// takes), resuming after short writes.
async fn write_chunks<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    mut chunks: VecDeque<Bytes>,
) -> std::io::Result<()> {
    const MAX_SLICES: usize = 64;
    while !chunks.is_empty() {
        let slices: Vec<std::io::IoSlice<'_>> = chunks
            .iter()
            .take(MAX_SLICES)
            .map(|c| std::io::IoSlice::new(c))
            .collect();
        let mut written = io.write_vectored(&slices).await?;
        drop(slices);
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while let Some(front) = chunks.front_mut() {
            if written < front.len() {
                front.advance(written);
                break;
            }
            written -= front.len();
            chunks.pop_front();
        }
    }
    Ok(())
}
