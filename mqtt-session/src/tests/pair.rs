//! `Pair`: a [`ClientSession`] and a [`ServerSession`] wired through in-memory byte queues with
//! virtual time, latency, fault injection and reconnects, plus a tiny broker policy.

use crate::{
    Accept, ClientConfig, ClientEvent, ClientPhase, ClientSession, DeliveryOptions, Message,
    ServerConfig, ServerEvent, ServerPhase, ServerSession, SessionState,
};
use bytes::{Bytes, BytesMut};
use starling_codec::{
    MqttStr, Packet, ProtocolVersion, QoS, ReasonCode, TopicName, MAX_PACKET_SIZE,
};
use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// One direction of the connection: packets in flight, faults to apply, and a log of every
/// packet the sender produced (decoded, before faults).
#[derive(Debug, Default)]
pub(crate) struct Link {
    /// Frames in flight with their arrival time.
    in_flight: VecDeque<(Instant, Bytes)>,
    /// Bytes arrived and not yet consumed by the receiver.
    rx: BytesMut,
    /// Drop the next N whole packets.
    pub(crate) drop_packets: usize,
    /// Drop the next N bytes of the stream.
    pub(crate) drop_bytes: usize,
    /// XOR the byte at this offset of the future stream with this mask.
    pub(crate) mutate: Option<(usize, u8)>,
    /// Every packet the sender transmitted on this link, in order.
    pub(crate) sent: Vec<Packet>,
}

impl Link {
    fn push(&mut self, at: Instant, version: ProtocolVersion, bytes: Bytes) {
        for frame in split_frames(&bytes) {
            let mut buf = BytesMut::from(&frame[..]);
            match Packet::decode(version, &mut buf, MAX_PACKET_SIZE) {
                Ok(Some(p)) => self.sent.push(p),
                other => panic!("a session transmitted an undecodable packet: {other:?}"),
            }
            if self.drop_packets > 0 {
                self.drop_packets -= 1;
                continue;
            }
            let mut frame = BytesMut::from(&frame[..]);
            if let Some((offset, mask)) = self.mutate {
                if offset < frame.len() {
                    frame[offset] ^= mask;
                    self.mutate = None;
                } else {
                    self.mutate = Some((offset - frame.len(), mask));
                }
            }
            let cut = self.drop_bytes.min(frame.len());
            self.drop_bytes -= cut;
            let _ = frame.split_to(cut);
            if !frame.is_empty() {
                self.in_flight.push_back((at, frame.freeze()));
            }
        }
    }

    /// Moves arrived frames into `rx`; true if any arrived.
    fn arrive(&mut self, now: Instant) -> bool {
        let mut any = false;
        while self.in_flight.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, b)) = self.in_flight.pop_front() {
                self.rx.extend_from_slice(&b);
                any = true;
            }
        }
        any
    }

    fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.front().map(|(at, _)| *at)
    }

    fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    fn reset(&mut self) {
        self.in_flight.clear();
        self.rx.clear();
    }
}

/// Splits a transmit buffer into whole MQTT frames.
pub(crate) fn split_frames(bytes: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let mut len = 0usize;
        let mut shift = 0;
        let mut i = pos + 1;
        loop {
            let b = bytes[i];
            len |= usize::from(b & 0x7F) << shift;
            shift += 7;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        out.push(bytes.slice(pos..i + len));
        pos = i + len;
    }
    out
}

/// How the harness broker answers CONNECT.
#[derive(Debug, Clone)]
pub(crate) enum ConnectPolicy {
    /// Accept (resuming the stored session when Clean Start is 0).
    Accept,
    /// Reject with this code.
    Reject(ReasonCode),
    /// Leave the CONNECT unanswered (the test calls accept/reject itself).
    Manual,
}

/// The harness broker: just enough policy to run end-to-end flows.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) connect: ConnectPolicy,
    /// Client identifier assigned to clients that send an empty one.
    pub(crate) assign_id: Option<&'static str>,
    /// Acknowledge inbound QoS 1/2 PUBLISH with this code (None: the test acks).
    pub(crate) ack_publish: Option<ReasonCode>,
    /// Grant subscriptions with their requested QoS (false: the test answers).
    pub(crate) grant_subscriptions: bool,
    /// Answer UNSUBSCRIBE (false: the test answers).
    pub(crate) answer_unsubscribe: bool,
    /// Route inbound PUBLISH back to the client when a subscription matches.
    pub(crate) route: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            connect: ConnectPolicy::Accept,
            assign_id: Some("assigned-1"),
            ack_publish: Some(ReasonCode::Success),
            grant_subscriptions: true,
            answer_unsubscribe: true,
            route: true,
        }
    }
}

/// A client and a server session connected by in-memory links, with virtual time.
pub(crate) struct Pair {
    epoch: Instant,
    /// Virtual time since `epoch`.
    pub(crate) time: Duration,
    /// One-way latency of both links.
    pub(crate) latency: Duration,
    pub(crate) client: ClientSession,
    pub(crate) server: ServerSession,
    pub(crate) client_config: ClientConfig,
    pub(crate) server_config: ServerConfig,
    pub(crate) policy: Policy,
    /// Client → server.
    pub(crate) to_server: Link,
    /// Server → client.
    pub(crate) to_client: Link,
    pub(crate) client_events: Vec<ClientEvent>,
    pub(crate) server_events: Vec<ServerEvent>,
    /// The broker's session store: what the server session gave up at the last reconnect.
    pub(crate) server_store: Option<SessionState>,
    /// Whether the transport is up.
    pub(crate) open: bool,
}

impl Pair {
    /// A pair with default configs for `version` (client id "c1", keep alive 60 s), connected.
    pub(crate) fn connected(version: ProtocolVersion) -> Pair {
        let mut pair = Pair::new(client_config(version), ServerConfig::default());
        pair.drive();
        assert_eq!(pair.client.phase(), ClientPhase::Connected);
        pair
    }

    /// A pair that has not exchanged anything yet (the CONNECT is queued in the client).
    pub(crate) fn new(client_config: ClientConfig, server_config: ServerConfig) -> Pair {
        Pair::with_policy(client_config, server_config, Policy::default())
    }

    pub(crate) fn with_policy(
        client_config: ClientConfig,
        server_config: ServerConfig,
        policy: Policy,
    ) -> Pair {
        let epoch = Instant::now();
        Pair {
            epoch,
            time: Duration::ZERO,
            latency: Duration::ZERO,
            client: ClientSession::new(epoch, client_config.clone()),
            server: ServerSession::new(epoch, server_config.clone()),
            client_config,
            server_config,
            policy,
            to_server: Link::default(),
            to_client: Link::default(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            server_store: None,
            open: true,
        }
    }

    pub(crate) fn now(&self) -> Instant {
        self.epoch + self.time
    }

    fn version(&self) -> ProtocolVersion {
        self.client_config.version
    }

    /// One round at the current time: fire due timers, deliver arrived bytes, run the broker
    /// policy, collect events and move what both sides transmit onto the links. True if
    /// anything happened.
    pub(crate) fn step(&mut self) -> bool {
        let now = self.now();
        let mut progress = false;
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            self.client.handle_timeout(now);
            progress = true;
        }
        if self.server.poll_timeout().is_some_and(|t| t <= now) {
            self.server.handle_timeout(now);
            progress = true;
        }
        if self.open {
            progress |= self.to_server.arrive(now);
            progress |= self.to_client.arrive(now);
            if !self.to_server.rx.is_empty() {
                let before = self.to_server.rx.len();
                self.server.handle_bytes(now, &mut self.to_server.rx);
                progress |= self.to_server.rx.len() != before;
            }
            if !self.to_client.rx.is_empty() {
                let before = self.to_client.rx.len();
                self.client.handle_bytes(now, &mut self.to_client.rx);
                progress |= self.to_client.rx.len() != before;
            }
        }
        progress |= self.server_policy(now);
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
            progress = true;
        }
        let at = now + self.latency;
        let version = self.version();
        if let Some(b) = self.client.poll_transmit() {
            if self.open {
                self.to_server.push(at, version, b);
            }
            progress = true;
        }
        if let Some(b) = self.server.poll_transmit() {
            if self.open {
                self.to_client.push(at, version, b);
            }
            progress = true;
        }
        // A side that closed has flushed its goodbye: once it arrived, the transport closes.
        if self.open {
            let server_done =
                self.server.phase() == ServerPhase::Closed && self.to_client.is_empty();
            let client_done =
                self.client.phase() == ClientPhase::Closed && self.to_server.is_empty();
            if server_done || client_done {
                self.close_transport();
                progress = true;
            }
        }
        progress
    }

    /// Runs the broker policy over the server's new events.
    fn server_policy(&mut self, now: Instant) -> bool {
        let mut progress = false;
        while let Some(event) = self.server.poll_event() {
            progress = true;
            match &event {
                ServerEvent::Connect(info) => match &self.policy.connect {
                    ConnectPolicy::Accept => {
                        let mut accept = Accept::new();
                        if info.client_id.is_empty() {
                            if let Some(id) = self.policy.assign_id {
                                accept = accept.assign_client_id(MqttStr::from_static(id).unwrap());
                            }
                        }
                        if !info.clean_start {
                            if let Some(state) = self.server_store.take() {
                                accept = accept.resume(state);
                            }
                        }
                        self.server.accept(now, accept).unwrap();
                        // Packets that arrived behind the CONNECT wait for the accept.
                        self.server.handle_bytes(now, &mut self.to_server.rx);
                    }
                    ConnectPolicy::Reject(rc) => self.server.reject(*rc).unwrap(),
                    ConnectPolicy::Manual => {}
                },
                ServerEvent::Publish { message, packet_id } => {
                    if self.policy.route {
                        self.route(now, message.clone());
                    }
                    if let (Some(id), Some(rc)) = (packet_id, self.policy.ack_publish) {
                        self.server.ack_publish(*id, rc).unwrap();
                    }
                }
                ServerEvent::Subscribe {
                    packet_id,
                    subscriptions,
                    ..
                } if self.policy.grant_subscriptions => {
                    let codes = subscriptions
                        .iter()
                        .map(|s| match s.options.qos {
                            QoS::AtMostOnce => ReasonCode::Success,
                            QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                            QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
                        })
                        .collect();
                    self.server.sub_ack(*packet_id, codes).unwrap();
                }
                ServerEvent::Unsubscribe { packet_id, .. } if self.policy.answer_unsubscribe => {
                    self.server.unsub_ack(*packet_id, None).unwrap();
                }
                _ => {}
            }
            self.server_events.push(event);
        }
        progress
    }

    /// Delivers `message` to the client if one of its subscriptions matches.
    fn route(&mut self, now: Instant, message: Message) {
        let mut options: Option<DeliveryOptions> = None;
        for sub in self.server.subscriptions() {
            if !sub.filter.matches(message.topic.as_str()) || sub.options.no_local {
                continue;
            }
            let o = options.get_or_insert_with(DeliveryOptions::default);
            o.qos = o.qos.max(sub.options.qos);
            o.retain_as_published |= sub.options.retain_as_published;
            o.subscription_identifiers.extend(sub.identifier);
        }
        if let Some(options) = options {
            self.server.deliver(now, message, options).unwrap();
        }
    }

    /// Steps until nothing moves, advancing time to packet arrivals when latency is set (timers
    /// due on the way fire). Does not wait for idle timers such as keep alive.
    pub(crate) fn drive(&mut self) {
        loop {
            while self.step() {}
            let next = [self.to_server.next_arrival(), self.to_client.next_arrival()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if self.open => self.run_until(at),
                _ => return,
            }
        }
    }

    /// Advances virtual time by `d`, firing every timer and delivering every packet due on the
    /// way, in time order.
    pub(crate) fn advance(&mut self, d: Duration) {
        let target = self.now() + d;
        self.run_until(target);
    }

    fn run_until(&mut self, target: Instant) {
        loop {
            while self.step() {}
            let next = [
                self.client.poll_timeout(),
                self.server.poll_timeout(),
                self.open.then(|| self.to_server.next_arrival()).flatten(),
                self.open.then(|| self.to_client.next_arrival()).flatten(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(at) if at <= target => {
                    if at > self.now() {
                        self.time = at - self.epoch;
                    }
                }
                _ => break,
            }
        }
        if target > self.now() {
            self.time = target - self.epoch;
        }
        while self.step() {}
    }

    /// Cuts the connection: both sides learn the transport closed; bytes in flight are lost.
    pub(crate) fn cut(&mut self) {
        self.close_transport();
        while self.step() {}
    }

    fn close_transport(&mut self) {
        if !self.open {
            return;
        }
        let now = self.now();
        self.open = false;
        self.to_server.reset();
        self.to_client.reset();
        self.client.handle_transport_closed(now);
        self.server.handle_transport_closed(now);
    }

    /// A new connection: cuts the old one if needed, keeps both sides' session state (the
    /// server's in the broker store), and connects again with `client_config` (set Clean Start
    /// to 0 to resume).
    pub(crate) fn reconnect(&mut self) {
        if self.open {
            self.cut();
        }
        let now = self.now();
        let old_client = std::mem::replace(
            &mut self.client,
            ClientSession::new(now, self.client_config.clone()),
        );
        let old_server = std::mem::replace(
            &mut self.server,
            ServerSession::new(now, self.server_config.clone()),
        );
        let client_state = old_client.into_state();
        self.server_store = Some(old_server.into_state());
        self.client = ClientSession::resume(now, self.client_config.clone(), client_state);
        self.to_server = Link::default();
        self.to_client = Link::default();
        self.open = true;
        self.drive();
    }

    /// A new connection to a server that lost the session (expired, or a restart without
    /// storage): the client keeps its state, the broker store is emptied.
    pub(crate) fn reconnect_to_fresh_server(&mut self) {
        if self.open {
            self.cut();
        }
        let now = self.now();
        self.server = ServerSession::new(now, self.server_config.clone());
        self.server_store = None;
        let old_client = std::mem::replace(
            &mut self.client,
            ClientSession::new(now, self.client_config.clone()),
        );
        self.client =
            ClientSession::resume(now, self.client_config.clone(), old_client.into_state());
        self.to_server = Link::default();
        self.to_client = Link::default();
        self.open = true;
        self.drive();
    }

    /// The client's events since the last call.
    pub(crate) fn client_events(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.client_events)
    }

    /// The server's events since the last call.
    pub(crate) fn server_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.server_events)
    }

    /// The application messages the client received since the last call (and drops other
    /// events).
    pub(crate) fn client_messages(&mut self) -> Vec<starling_codec::Publish> {
        self.client_events()
            .into_iter()
            .filter_map(|e| match e {
                ClientEvent::Message { publish } => Some(publish),
                _ => None,
            })
            .collect()
    }

    /// Subscribes the client to `filter` at `qos` and drives the SUBACK.
    pub(crate) fn subscribe(&mut self, filter: &'static str, qos: QoS) {
        self.client
            .subscribe(
                vec![(
                    starling_codec::TopicFilter::from_static(filter).unwrap(),
                    starling_codec::SubscriptionOptions::new(qos),
                )],
                None,
                Default::default(),
            )
            .unwrap();
        self.drive();
    }

    /// Publishes from the client (no drive).
    pub(crate) fn publish(
        &mut self,
        topic: &'static str,
        payload: &'static [u8],
        qos: QoS,
    ) -> Option<starling_codec::PacketId> {
        let now = self.now();
        self.client
            .publish(
                now,
                crate::PublishRequest::new(topic_name(topic), payload, qos),
            )
            .unwrap()
    }
}

/// A client config for `version`: client id "c1", clean start, keep alive 60 s.
pub(crate) fn client_config(version: ProtocolVersion) -> ClientConfig {
    ClientConfig::new(version, MqttStr::from_static("c1").unwrap())
}

pub(crate) fn topic_name(s: &'static str) -> TopicName {
    TopicName::from_static(s).unwrap()
}
