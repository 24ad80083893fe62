//! The driver: one task per client owning the session, the transport, the timers and the
//! queues. Handles talk to it over a bounded command channel.

use crate::{
    backoff::Backoff,
    options::ConnectOptions,
    outgoing::Outgoing,
    shared::{Command, DisconnectCommand, PublishCommand, Shared, SubCommand},
    transport::{self, BoxedIo},
    DisconnectReason, Error, Event, Message, PublishOutcome, QueueFull, SubAck, UnsubAck,
};
use bytes::BytesMut;
use starling_codec::{ReasonCode, SubscribeProperties};
use starling_session::{
    ClientCloseReason, ClientError, ClientEvent, ClientPhase, ClientSession, OutboundStage,
    SessionState,
};
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::{mpsc, oneshot},
    time::{sleep_until, Instant},
};

/// Read buffer growth step.
const READ_CHUNK: usize = 16 << 10;
/// How long the last bytes (a DISCONNECT) may take to leave once the session is closed.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How many completed inbound QoS 2 deliveries are remembered (see `redelivered_qos2`).
const RECENT_QOS2: usize = 1024;
/// Drain time when every handle is dropped.
const DROP_DRAIN: Duration = Duration::from_secs(5);

/// A message on its way to the streams that want it.
struct Delivery {
    msg: Message,
    targets: VecDeque<mpsc::Sender<Message>>,
}

impl Delivery {
    /// Hands the message to every target with room; stops at the first full one.
    fn try_deliver(&mut self) {
        while let Some(tx) = self.targets.front() {
            match tx.try_send(self.msg.clone()) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.targets.pop_front();
                }
                Err(mpsc::error::TrySendError::Full(_)) => return,
            }
        }
    }
}

/// How one connection ended.
enum ServeEnd {
    /// We disconnected on purpose.
    Shutdown,
    /// The connection was lost (or refused).
    Lost(DisconnectReason),
}

pub(crate) struct Driver {
    opts: ConnectOptions,
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    connect_reply: Option<oneshot::Sender<Result<(), Error>>>,
    backoff: Backoff,
    /// Session state between connections.
    state: SessionState,
    /// Stage of each unacknowledged outbound flow when the last connection ended.
    stages: HashMap<u16, OutboundStage>,
    session: Option<ClientSession>,
    /// QoS 1/2 publishes handed to the session, by packet id.
    waiters: HashMap<u16, PublishCommand>,
    /// Publishes waiting for a connection or for send quota.
    queue: VecDeque<PublishCommand>,
    queued_bytes: usize,
    /// SUBSCRIBE/UNSUBSCRIBE waiting for a connection.
    subs: VecDeque<SubCommand>,
    /// Sent, awaiting SUBACK/UNSUBACK.
    sub_waiters: HashMap<u16, SubCommand>,
    /// QoS 0 publishes: resolved once the output stream has passed this offset.
    qos0: VecDeque<(u64, crate::shared::Reply<PublishOutcome>)>,
    out: Outgoing,
    queued_total: u64,
    written_total: u64,
    needs_flush: bool,
    deliveries: VecDeque<Delivery>,
    closing: Option<(DisconnectCommand, Instant)>,
    /// The server assigns our subscription identifiers' meaning (v5, not refused in CONNACK).
    sub_ids: bool,
    next_sub_id: u32,
    lost: Option<DisconnectReason>,
    /// Completed inbound QoS 2 deliveries: packet id → content digest.
    recent_qos2: HashMap<u16, u64>,
    recent_qos2_order: VecDeque<u16>,
}

impl Driver {
    pub(crate) fn new(
        opts: ConnectOptions,
        shared: Arc<Shared>,
        commands: mpsc::Receiver<Command>,
        connect_reply: Option<oneshot::Sender<Result<(), Error>>>,
    ) -> Driver {
        Driver {
            backoff: Backoff::new(opts.reconnect.clone()),
            opts,
            shared,
            commands,
            connect_reply,
            state: SessionState::default(),
            stages: HashMap::new(),
            session: None,
            waiters: HashMap::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            subs: VecDeque::new(),
            sub_waiters: HashMap::new(),
            qos0: VecDeque::new(),
            out: Outgoing::default(),
            queued_total: 0,
            written_total: 0,
            needs_flush: false,
            deliveries: VecDeque::new(),
            closing: None,
            sub_ids: false,
            next_sub_id: 0,
            lost: None,
            recent_qos2: HashMap::new(),
            recent_qos2_order: VecDeque::new(),
        }
    }

    /// Runs until the client is disconnected, every handle is dropped, or reconnection gives
    /// up; then fails whatever is still pending.
    pub(crate) async fn run(mut self) -> Result<(), Error> {
        let result = self.run_connections().await;
        let failure = match &result {
            Ok(()) => Error::Closed,
            Err(e) => e.clone(),
        };
        self.fail_all(&failure);
        if let Some(reply) = self.connect_reply.take() {
            let _ = reply.send(Err(failure));
        }
        if let Some((d, _)) = self.closing.take() {
            let _ = d.reply.send(());
        }
        // Ends every stream.
        self.shared.routes().clear();
        self.shared.replies().clear();
        result
    }

    async fn run_connections(&mut self) -> Result<(), Error> {
        loop {
            let endpoint = self.opts.endpoint.clone();
            let timeout = self.opts.connect_timeout;
            let open = async move {
                match tokio::time::timeout(timeout, transport::open(&endpoint)).await {
                    Ok(r) => r.map_err(Error::from),
                    Err(_) => Err(Error::Timeout),
                }
            };
            let mut opened = false;
            let end = match self.offline(open).await {
                None => return Ok(()),
                Some(Ok(io)) => {
                    opened = true;
                    self.serve(io).await
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "connection attempt failed");
                    ServeEnd::Lost(match &e {
                        Error::Io(io) => DisconnectReason::Transport(Some(io.clone())),
                        _ => DisconnectReason::Timeout,
                    })
                }
            };
            let reason = match end {
                ServeEnd::Shutdown => return Ok(()),
                ServeEnd::Lost(reason) => reason,
            };
            // A connection that never opened is reported by the next `Reconnecting`.
            if opened {
                let _ = self.shared.events.send(Event::Disconnected {
                    reason: reason.clone(),
                });
            }
            let error = match &reason {
                DisconnectReason::Refused(code) => Error::Refused(*code),
                DisconnectReason::Transport(Some(e)) => Error::Io(e.clone()),
                DisconnectReason::Timeout => Error::Timeout,
                DisconnectReason::Protocol(code, what) => Error::Protocol(*code, what),
                _ => Error::Closed,
            };
            // The first connection's outcome belongs to `Client::connect`.
            if self.connect_reply.is_some() {
                return Err(error);
            }
            if let DisconnectReason::Refused(code) = reason {
                if permanent_refusal(code) {
                    return Err(error);
                }
            }
            if !self.backoff.may_retry() {
                return Err(error);
            }
            let delay = self.backoff.next_delay();
            let _ = self.shared.events.send(Event::Reconnecting {
                attempt: self.backoff.attempts(),
                delay,
            });
            if self.offline(tokio::time::sleep(delay)).await.is_none() {
                return Ok(());
            }
        }
    }

    /// Waits for `fut` while disconnected: publishes go to the offline queue, subscriptions
    /// wait, queued messages expire. `None` when the client is to stop.
    async fn offline<T>(&mut self, fut: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::pin!(fut);
        loop {
            if self.closing.is_some() {
                return None;
            }
            let expiry = self.next_expiry();
            tokio::select! {
                v = &mut fut => return Some(v),
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.handle_command(cmd, Instant::now()),
                    None => return None,
                },
                _ = sleep_until(expiry.unwrap_or_else(Instant::now)), if expiry.is_some() => {
                    self.expire_queue(Instant::now());
                }
            }
        }
    }

    /// One connection: CONNECT, CONNACK, traffic, until it ends.
    async fn serve(&mut self, io: BoxedIo) -> ServeEnd {
        let now = Instant::now();
        let state = std::mem::take(&mut self.state);
        self.stages = state
            .inflight
            .iter()
            .filter_map(|f| Some((f.publish.qos_pid.packet_id()?.get(), f.stage)))
            .collect();
        self.session = Some(ClientSession::resume(
            now.into_std(),
            self.opts.session.clone(),
            state,
        ));
        self.lost = None;
        self.out.clear();
        self.needs_flush = false;
        let (mut rd, mut wr) = tokio::io::split(io);
        let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
        loop {
            let now = Instant::now();
            self.pump(now);
            let Some(phase) = self.session.as_ref().map(|s| s.phase()) else {
                break;
            };
            if phase == ClientPhase::Closed {
                // Last words (DISCONNECT), briefly.
                let mut out = std::mem::take(&mut self.out);
                let done = tokio::time::timeout(CLOSE_GRACE, async {
                    out.write_all(&mut wr).await?;
                    wr.flush().await?;
                    wr.shutdown().await
                })
                .await;
                if matches!(done, Ok(Ok(()))) {
                    self.written_total = self.queued_total;
                    self.resolve_qos0();
                }
                break;
            }
            let deadline = self.session.as_ref().and_then(|s| self.next_deadline(s));
            let deliver = self
                .deliveries
                .front()
                .and_then(|d| d.targets.front())
                .map(|tx| tx.clone().reserve_owned());
            let has_deliveries = deliver.is_some();
            let connected = phase == ClientPhase::Connected;
            let accepting = !connected || self.queue.len() < self.opts.offline.max_messages.max(1);
            tokio::select! {
                biased;
                // Write what is ready, then flush (WebSocket buffers a message until flushed).
                r = async {
                    if self.out.is_empty() {
                        wr.flush().await.map(|()| None)
                    } else {
                        self.out.write_some(&mut wr).await.map(Some)
                    }
                }, if !self.out.is_empty() || self.needs_flush => match r {
                    Ok(Some(0)) => self.transport_failed(std::io::ErrorKind::WriteZero.into()),
                    Ok(Some(n)) => {
                        self.out.advance(n);
                        self.written_total += n as u64;
                        self.needs_flush = true;
                        self.resolve_qos0();
                    }
                    Ok(None) => self.needs_flush = false,
                    Err(e) => self.transport_failed(e),
                },
                permit = async {
                    match deliver {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                }, if has_deliveries => {
                    if let Some(d) = self.deliveries.front_mut() {
                        if let Ok(permit) = permit {
                            permit.send(d.msg.clone());
                        }
                        d.targets.pop_front();
                    }
                    self.advance_deliveries();
                },
                r = rd.read_buf(&mut rbuf), if !has_deliveries => match r {
                    Ok(0) => {
                        if let Some(s) = self.session.as_mut() {
                            s.handle_transport_closed(now.into_std());
                        }
                        self.lost = Some(DisconnectReason::Transport(None));
                    }
                    Ok(_) => {
                        if let Some(s) = self.session.as_mut() {
                            s.handle_bytes(now.into_std(), &mut rbuf);
                        }
                        if rbuf.capacity() - rbuf.len() < 1024 {
                            rbuf.reserve(READ_CHUNK);
                        }
                    }
                    Err(e) => self.transport_failed(e),
                },
                cmd = self.commands.recv(), if accepting => match cmd {
                    Some(cmd) => self.handle_command(cmd, now),
                    None => self.begin_close(now, DisconnectCommand {
                        reason: ReasonCode::NORMAL_DISCONNECTION,
                        properties: Default::default(),
                        timeout: DROP_DRAIN,
                        reply: oneshot::channel().0,
                    }),
                },
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    let now = Instant::now();
                    if let Some(s) = self.session.as_mut() {
                        s.handle_timeout(now.into_std());
                    }
                    self.expire_queue(now);
                }
            }
        }
        // The connection is over: keep what must survive it.
        if let Some(session) = self.session.take() {
            self.state = session.into_state();
        }
        self.out.clear();
        self.needs_flush = false;
        // Bytes never written are gone with the connection: offsets start level again.
        self.written_total = self.queued_total;
        while let Some((_, reply)) = self.qos0.pop_front() {
            let _ = reply.send(Err(Error::ConnectionLost));
        }
        // Unanswered SUBSCRIBE/UNSUBSCRIBE are sent again on the next connection.
        let mut pending: Vec<(u16, SubCommand)> = self.sub_waiters.drain().collect();
        pending.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
        for (_, cmd) in pending {
            self.subs.push_front(cmd);
        }
        if self.closing.is_some() {
            ServeEnd::Shutdown
        } else {
            ServeEnd::Lost(
                self.lost
                    .take()
                    .unwrap_or(DisconnectReason::Transport(None)),
            )
        }
    }

    fn transport_failed(&mut self, e: std::io::Error) {
        tracing::debug!(error = %e, "transport failed");
        if let Some(s) = self.session.as_mut() {
            s.handle_transport_closed(Instant::now().into_std());
        }
        self.lost = Some(DisconnectReason::Transport(Some(Arc::new(e))));
    }

    /// The earliest of the session's timer, a queued message's expiry and the disconnect
    /// deadline.
    fn next_deadline(&self, session: &ClientSession) -> Option<Instant> {
        let mut deadline = session.poll_timeout().map(Instant::from_std);
        for t in [self.next_expiry(), self.closing.as_ref().map(|c| c.1)]
            .into_iter()
            .flatten()
        {
            deadline = Some(deadline.map_or(t, |d| d.min(t)));
        }
        deadline
    }

    fn next_expiry(&self) -> Option<Instant> {
        self.queue.iter().filter_map(|p| p.expires).min()
    }

    fn expire_queue(&mut self, now: Instant) {
        if self.next_expiry().is_none_or(|t| t > now) {
            return;
        }
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for p in self.queue.drain(..) {
            if p.expires.is_some_and(|t| t <= now) {
                self.queued_bytes -= p.size();
                p.finish(Err(Error::Expired));
            } else {
                kept.push_back(p);
            }
        }
        self.queue = kept;
    }

    fn resolve_qos0(&mut self) {
        while let Some((end, _)) = self.qos0.front() {
            if *end > self.written_total {
                return;
            }
            if let Some((_, reply)) = self.qos0.pop_front() {
                let _ = reply.send(Ok(PublishOutcome {
                    packet_id: None,
                    reason: ReasonCode::Success,
                }));
            }
        }
    }

    // ----- commands -----

    fn handle_command(&mut self, cmd: Command, now: Instant) {
        if self.closing.is_some() {
            match cmd {
                Command::Publish(p) => p.finish(Err(Error::Closed)),
                Command::Sub(s) => s.fail(Error::Closed),
                // Already closing: answered when the client stops.
                Command::Disconnect(d) => drop(d),
            }
            return;
        }
        match cmd {
            Command::Publish(p) => self.submit(p, now),
            Command::Sub(s) => self.subs.push_back(s),
            Command::Disconnect(d) => self.begin_close(now, d),
        }
    }

    fn begin_close(&mut self, now: Instant, d: DisconnectCommand) {
        let deadline = now + d.timeout;
        self.closing = Some((d, deadline));
    }

    fn connected(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.phase() == ClientPhase::Connected)
    }

    fn submit(&mut self, p: PublishCommand, now: Instant) {
        if self.connected() && self.queue.is_empty() {
            if let Some(p) = self.try_send(p, now) {
                self.push_queue(p);
            }
            return;
        }
        if self.connected() {
            // Behind others waiting for quota; the command channel applies backpressure.
            self.push_queue(p);
            return;
        }
        let limits = &self.opts.offline;
        let size = p.size();
        if limits.max_messages == 0 || size > limits.max_bytes {
            p.finish(Err(Error::QueueFull));
            return;
        }
        while self.queue.len() >= limits.max_messages || self.queued_bytes + size > limits.max_bytes
        {
            match limits.when_full {
                QueueFull::DropOldest => {
                    if let Some(old) = self.queue.pop_front() {
                        self.queued_bytes -= old.size();
                        old.finish(Err(Error::QueueFull));
                    }
                }
                _ => {
                    p.finish(Err(Error::QueueFull));
                    return;
                }
            }
        }
        self.push_queue(p);
    }

    fn push_queue(&mut self, p: PublishCommand) {
        self.queued_bytes += p.size();
        self.queue.push_back(p);
    }

    /// Hands a publish to the session; gives it back when there is no quota or packet id.
    fn try_send(&mut self, p: PublishCommand, now: Instant) -> Option<PublishCommand> {
        let Some(session) = self.session.as_mut() else {
            return Some(p);
        };
        let mut request = p.request.clone();
        // v5 §3.3.2.3.3: the expiry counts down while the message waits here.
        if let Some(secs) = request.properties.message_expiry_interval {
            let waited = now.saturating_duration_since(p.created).as_secs();
            match u32::try_from(waited) {
                Ok(w) if w < secs => request.properties.message_expiry_interval = Some(secs - w),
                _ => {
                    p.finish(Err(Error::Expired));
                    return None;
                }
            }
        }
        match session.publish(now.into_std(), request) {
            Ok(Some(id)) => {
                self.take_transmit();
                self.waiters.insert(id.get(), p);
                None
            }
            Ok(None) => {
                self.take_transmit();
                if let Some(reply) = p.reply {
                    self.qos0.push_back((self.queued_total, reply));
                }
                None
            }
            Err(ClientError::QuotaExhausted | ClientError::PacketIdsExhausted) => Some(p),
            Err(e) => {
                p.finish(Err(Error::Session(e)));
                None
            }
        }
    }

    fn take_transmit(&mut self) {
        if let Some(session) = self.session.as_mut() {
            self.queued_total += self.out.take_from(session) as u64;
        }
    }

    /// Moves everything along: session events, queued work, the disconnect, the output.
    fn pump(&mut self, now: Instant) {
        self.handle_events();
        if self.connected() {
            self.send_subs();
            while let Some(p) = self.queue.pop_front() {
                self.queued_bytes -= p.size();
                if p.expires.is_some_and(|t| t <= now) {
                    p.finish(Err(Error::Expired));
                    continue;
                }
                if let Some(p) = self.try_send(p, now) {
                    self.queued_bytes += p.size();
                    self.queue.push_front(p);
                    break;
                }
            }
            if let Some((d, deadline)) = &self.closing {
                let drained = self.waiters.is_empty()
                    && self.queue.is_empty()
                    && self.subs.is_empty()
                    && self.sub_waiters.is_empty();
                if drained || now >= *deadline {
                    let (reason, properties) = (d.reason, d.properties.clone());
                    if let Some(s) = self.session.as_mut() {
                        s.disconnect(reason, properties);
                    }
                }
            }
            self.handle_events();
        } else if self.closing.is_some() {
            // Closing before CONNACK: nothing to drain.
            if let Some(s) = self.session.as_mut() {
                if s.phase() == ClientPhase::Connecting {
                    s.handle_transport_closed(now.into_std());
                }
            }
            self.handle_events();
        }
        self.take_transmit();
    }

    fn send_subs(&mut self) {
        while let Some(mut cmd) = self.subs.pop_front() {
            let Some(session) = self.session.as_mut() else {
                self.subs.push_front(cmd);
                return;
            };
            let result = match &mut cmd {
                SubCommand::Subscribe(s) => {
                    if s.properties.subscription_identifier.is_none()
                        && s.stream.is_some()
                        && self.sub_ids
                    {
                        // Identifiers are variable byte integers: 1..=268,435,455. Kept in the
                        // command, so a resend after a cut uses the same one as its route.
                        self.next_sub_id = self.next_sub_id % 268_435_455 + 1;
                        s.properties.subscription_identifier = NonZeroU32::new(self.next_sub_id);
                    }
                    let identifier = s.properties.subscription_identifier;
                    let r = session.subscribe(s.filters.clone(), identifier, s.properties.clone());
                    if r.is_ok() {
                        if let Some(tx) = &s.stream {
                            let mut routes = self.shared.routes();
                            // A resent SUBSCRIBE keeps its route.
                            if !routes.iter().any(|r| r.tx.same_channel(tx)) {
                                routes.push(crate::shared::Route {
                                    global: false,
                                    filters: s.filters.iter().map(|(f, _)| f.clone()).collect(),
                                    identifier,
                                    tx: tx.clone(),
                                });
                            }
                        }
                    }
                    r
                }
                SubCommand::Unsubscribe(u) => {
                    session.unsubscribe(u.filters.clone(), u.properties.clone())
                }
            };
            match result {
                Ok(id) => {
                    self.sub_waiters.insert(id.get(), cmd);
                }
                Err(ClientError::PacketIdsExhausted | ClientError::NotConnected) => {
                    self.subs.push_front(cmd);
                    return;
                }
                Err(e) => cmd.fail(Error::Session(e)),
            }
        }
    }

    // ----- session events -----

    fn handle_events(&mut self) {
        while let Some(event) = self.session.as_mut().and_then(|s| s.poll_event()) {
            self.on_event(event);
        }
    }

    fn on_event(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Connected {
                session_present,
                properties,
            } => {
                self.backoff.reset();
                if let Some(id) = properties.assigned_client_identifier {
                    self.opts.session.client_id = id;
                }
                let v5 = self.opts.session.version.is_v5();
                self.sub_ids = v5 && properties.subscription_identifiers_available != Some(false);
                // MQTT 5 reconnections resume the session (3.x Clean Session also sets
                // the session's lifetime, so it is kept as configured).
                if v5 {
                    self.opts.session.clean_start = false;
                }
                tracing::debug!(session_present, "connected");
                let _ = self
                    .shared
                    .events
                    .send(Event::Connected { session_present });
                if let Some(reply) = self.connect_reply.take() {
                    let _ = reply.send(Ok(()));
                }
            }
            ClientEvent::SessionLost {
                unacknowledged,
                subscriptions,
            } => {
                tracing::debug!(
                    unacknowledged = unacknowledged.len(),
                    subscriptions = subscriptions.len(),
                    "the server has no session: republishing and resubscribing"
                );
                let mut again = Vec::new();
                for p in unacknowledged {
                    let Some(id) = p.qos_pid.packet_id() else {
                        continue;
                    };
                    let Some(w) = self.waiters.remove(&id.get()) else {
                        continue;
                    };
                    if self.stages.get(&id.get()) == Some(&OutboundStage::AwaitingPubComp) {
                        // The server had it; sending it again could deliver it twice.
                        w.finish(Err(Error::SessionLost));
                    } else {
                        again.push(w);
                    }
                }
                for w in again.into_iter().rev() {
                    self.queued_bytes += w.size();
                    self.queue.push_front(w);
                }
                if self.opts.resubscribe {
                    let mut groups: BTreeMap<Option<NonZeroU32>, Vec<_>> = BTreeMap::new();
                    for s in subscriptions {
                        groups
                            .entry(s.identifier)
                            .or_default()
                            .push((s.filter, s.options));
                    }
                    for (identifier, filters) in groups.into_iter().rev() {
                        let mut properties = SubscribeProperties::default();
                        properties.subscription_identifier = identifier;
                        self.subs.push_front(SubCommand::Subscribe(
                            crate::shared::SubscribeCommand {
                                filters,
                                properties,
                                stream: None,
                                reply: None,
                            },
                        ));
                    }
                }
            }
            ClientEvent::Message { publish } => {
                if !self.redelivered_qos2(&publish) {
                    self.route(Message::from_publish(publish));
                }
            }
            ClientEvent::Published { packet_id, reason } => {
                if let Some(w) = self.waiters.remove(&packet_id.get()) {
                    w.finish(if reason.is_error() {
                        Err(Error::Rejected(reason))
                    } else {
                        Ok(PublishOutcome {
                            packet_id: Some(packet_id),
                            reason,
                        })
                    });
                }
            }
            ClientEvent::SubAck {
                packet_id,
                reason_codes,
            } => {
                if let Some(SubCommand::Subscribe(s)) = self.sub_waiters.remove(&packet_id.get()) {
                    if let Some(tx) = &s.stream {
                        if reason_codes.iter().all(|r| r.is_error()) {
                            self.shared.routes().retain(|r| !r.tx.same_channel(tx));
                        }
                    }
                    if let Some(reply) = s.reply {
                        let _ = reply.send(Ok(SubAck { reason_codes }));
                    }
                }
            }
            ClientEvent::UnsubAck {
                packet_id,
                reason_codes,
            } => {
                if let Some(SubCommand::Unsubscribe(u)) = self.sub_waiters.remove(&packet_id.get())
                {
                    {
                        let mut routes = self.shared.routes();
                        for r in routes.iter_mut().filter(|r| !r.global) {
                            r.filters.retain(|f| !u.filters.contains(f));
                        }
                        routes.retain(|r| r.global || !r.filters.is_empty());
                    }
                    if let Some(reply) = u.reply {
                        let _ = reply.send(Ok(UnsubAck { reason_codes }));
                    }
                }
            }
            ClientEvent::AuthChallenge { reason, data } => {
                if reason == ReasonCode::ContinueAuthentication {
                    match self.opts.auth_handler.clone() {
                        Some(handler) => {
                            let answer = handler(reason, data);
                            if let Some(s) = self.session.as_mut() {
                                if let Err(e) = s.auth(ReasonCode::ContinueAuthentication, answer) {
                                    tracing::warn!(error = %e, "cannot answer AUTH");
                                }
                            }
                        }
                        None => {
                            tracing::warn!("AUTH challenge without an auth handler");
                            if let Some(s) = self.session.as_mut() {
                                s.disconnect(ReasonCode::NotAuthorized, Default::default());
                            }
                        }
                    }
                }
            }
            ClientEvent::Closed { reason } => {
                tracing::debug!(?reason, "connection closed");
                let mapped = match reason {
                    ClientCloseReason::Refused(code) => DisconnectReason::Refused(code),
                    ClientCloseReason::ServerDisconnect(d) => {
                        DisconnectReason::Server(d.reason_code)
                    }
                    ClientCloseReason::LocalDisconnect(_) => DisconnectReason::Local,
                    ClientCloseReason::ProtocolViolation(code, what) => {
                        DisconnectReason::Protocol(code, what)
                    }
                    ClientCloseReason::Timeout => DisconnectReason::Timeout,
                    _ => DisconnectReason::Transport(None),
                };
                // A transport error recorded first is more precise.
                if self.lost.is_none() || !matches!(mapped, DisconnectReason::Transport(None)) {
                    self.lost = Some(mapped);
                }
            }
            other => tracing::trace!(?other, "unhandled client event"),
        }
    }

    /// Whether `publish` repeats a QoS 2 message whose flow already completed.
    ///
    /// A server that loses the progress of a QoS 2 delivery (Mosquitto 2 restarted with
    /// persistence: it resends PUBLISH with DUP after our PUBCOMP) would otherwise have it
    /// delivered twice. The session forgets a packet id at PUBREL, as the spec says; here the
    /// last [`RECENT_QOS2`] deliveries are remembered by packet id and content, and a DUP
    /// PUBLISH matching one is acknowledged but not delivered again. A genuinely new message
    /// is only mistaken for one if it reuses the packet id and the exact topic and payload of
    /// a recent message *and* its first transmission was lost.
    fn redelivered_qos2(&mut self, publish: &starling_codec::Publish) -> bool {
        use std::hash::{Hash, Hasher};
        let starling_codec::QosPid::ExactlyOnce(id) = publish.qos_pid else {
            return false;
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        publish.topic_bytes().hash(&mut h);
        publish.payload().hash(&mut h);
        let digest = h.finish();
        let id = id.get();
        if publish.dup && self.recent_qos2.get(&id) == Some(&digest) {
            tracing::debug!(
                packet_id = id,
                "QoS 2 message redelivered after completion: dropped"
            );
            return true;
        }
        if self.recent_qos2.insert(id, digest).is_none() {
            self.recent_qos2_order.push_back(id);
            if self.recent_qos2_order.len() > RECENT_QOS2 {
                if let Some(old) = self.recent_qos2_order.pop_front() {
                    self.recent_qos2.remove(&old);
                }
            }
        }
        false
    }

    /// Sends a message to the request waiting for it, or to every stream that wants it.
    fn route(&mut self, msg: Message) {
        if let (Some(cd), Some(reply_topic)) = (
            &msg.properties.correlation_data,
            self.shared.reply_topic.get(),
        ) {
            if msg.topic() == reply_topic {
                if let Some(waiter) = self.shared.replies().remove(cd) {
                    let _ = waiter.send(msg);
                }
                return;
            }
        }
        let targets: VecDeque<_> = {
            let mut routes = self.shared.routes();
            routes.retain(|r| !r.tx.is_closed());
            routes
                .iter()
                .filter(|r| r.wants(&msg))
                .map(|r| r.tx.clone())
                .collect()
        };
        if targets.is_empty() {
            tracing::trace!(topic = msg.topic(), "message without a stream");
            return;
        }
        let mut d = Delivery { msg, targets };
        if self.deliveries.is_empty() {
            d.try_deliver();
        }
        if !d.targets.is_empty() {
            self.deliveries.push_back(d);
        }
    }

    fn advance_deliveries(&mut self) {
        while let Some(d) = self.deliveries.front_mut() {
            d.try_deliver();
            if !d.targets.is_empty() {
                return;
            }
            self.deliveries.pop_front();
        }
    }

    /// The client stops: everything pending fails with `e`.
    fn fail_all(&mut self, e: &Error) {
        for (_, w) in self.waiters.drain() {
            w.finish(Err(e.clone()));
        }
        for p in self.queue.drain(..) {
            p.finish(Err(e.clone()));
        }
        self.queued_bytes = 0;
        for s in self.subs.drain(..) {
            s.fail(e.clone());
        }
        for (_, s) in self.sub_waiters.drain() {
            s.fail(e.clone());
        }
        while let Some((_, reply)) = self.qos0.pop_front() {
            let _ = reply.send(Err(e.clone()));
        }
        // Messages already received still reach their streams if there is room.
        self.advance_deliveries();
        self.deliveries.clear();
    }
}

/// Refusals that another attempt will not change.
fn permanent_refusal(code: ReasonCode) -> bool {
    matches!(
        code,
        ReasonCode::UnsupportedProtocolVersion
            | ReasonCode::ClientIdentifierNotValid
            | ReasonCode::BadUserNameOrPassword
            | ReasonCode::NotAuthorized
            | ReasonCode::Banned
            | ReasonCode::BadAuthenticationMethod
    )
}
