//! Driving one session alone with hand-built packets, for violation tests: what the peer would
//! send is encoded with `Packet::encode`, what the session transmits is decoded with
//! `Packet::decode` in the connection's version.

use crate::{
    Accept, ClientConfig, ClientEvent, ClientSession, ServerConfig, ServerEvent, ServerPhase,
    ServerSession,
};
use bytes::{Bytes, BytesMut};
use starling_codec::{
    ConnAck, Connect, MqttStr, Packet, PacketId, ProtocolVersion, PubRel, Publish, QoS, QosPid,
    ReasonCode, Subscribe, SubscriptionOptions, TopicFilter, MAX_PACKET_SIZE,
};
use std::time::{Duration, Instant};

/// Decodes every packet of a transmit buffer.
pub(crate) fn decode_all(version: ProtocolVersion, bytes: Option<Bytes>) -> Vec<Packet> {
    let mut buf = BytesMut::from(&bytes.unwrap_or_default()[..]);
    let mut out = Vec::new();
    while !buf.is_empty() {
        match Packet::decode(version, &mut buf, MAX_PACKET_SIZE) {
            Ok(Some(p)) => out.push(p),
            other => panic!("undecodable transmit: {other:?}"),
        }
    }
    out
}

pub(crate) fn encode(version: ProtocolVersion, packet: &Packet) -> BytesMut {
    let mut buf = BytesMut::new();
    packet.encode(version, &mut buf).unwrap();
    buf
}

pub(crate) fn pid(id: u16) -> PacketId {
    PacketId::new(id).unwrap()
}

pub(crate) fn s(v: &'static str) -> MqttStr {
    MqttStr::from_static(v).unwrap()
}

/// A CONNECT of `version` for client `id` (clean start, keep alive 60 s).
pub(crate) fn connect(version: ProtocolVersion, id: &'static str) -> Connect {
    Connect::new(version, s(id))
}

/// A PUBLISH to `topic` with `qos` and packet id `id` (ignored for QoS 0).
pub(crate) fn publish(topic: &'static str, qos: QoS, id: u16, payload: &'static [u8]) -> Publish {
    let qos_pid = match qos {
        QoS::AtMostOnce => QosPid::AtMostOnce,
        q => QosPid::new(q, pid(id)),
    };
    Publish::new(
        super::pair::topic_name(topic),
        qos_pid,
        Bytes::from_static(payload),
    )
}

pub(crate) fn subscribe(id: u16, filters: &[(&'static str, QoS)]) -> Subscribe {
    Subscribe {
        packet_id: pid(id),
        filters: filters
            .iter()
            .map(|(f, q)| {
                (
                    TopicFilter::from_static(f).unwrap(),
                    SubscriptionOptions::new(*q),
                )
            })
            .collect(),
        properties: Default::default(),
    }
}

pub(crate) fn pubrel(id: u16) -> Packet {
    Packet::PubRel(PubRel::new(pid(id)))
}

/// A [`ServerSession`] driven by hand.
pub(crate) struct RawServer {
    epoch: Instant,
    pub(crate) time: Duration,
    pub(crate) session: ServerSession,
    pub(crate) version: ProtocolVersion,
    rx: BytesMut,
}

impl RawServer {
    pub(crate) fn new(config: ServerConfig) -> RawServer {
        let epoch = Instant::now();
        RawServer {
            epoch,
            time: Duration::ZERO,
            session: ServerSession::new(epoch, config),
            version: ProtocolVersion::V5,
            rx: BytesMut::new(),
        }
    }

    /// A server session that took `connect` and was accepted with `accept`; the CONNACK is
    /// consumed.
    pub(crate) fn connected(config: ServerConfig, connect: Connect, accept: Accept) -> RawServer {
        let mut raw = RawServer::new(config);
        raw.send(Packet::Connect(Box::new(connect)));
        let Some(ServerEvent::Connect(_)) = raw.event() else {
            panic!("no Connect event")
        };
        raw.session.accept(raw.now(), accept).unwrap();
        raw.pump();
        let out = raw.recv();
        assert!(
            matches!(&out[..], [Packet::ConnAck(a), ..] if a.reason_code == ReasonCode::Success),
            "{out:?}"
        );
        raw
    }

    pub(crate) fn now(&self) -> Instant {
        self.epoch + self.time
    }

    /// Feeds `packet`, encoded in the connection's version (a CONNECT in its own).
    pub(crate) fn send(&mut self, packet: Packet) {
        if let Packet::Connect(c) = &packet {
            self.version = c.protocol;
        }
        let bytes = encode(self.version, &packet);
        self.send_bytes(&bytes);
    }

    pub(crate) fn send_bytes(&mut self, bytes: &[u8]) {
        self.rx.extend_from_slice(bytes);
        self.pump();
    }

    /// Lets the session take buffered bytes (after an accept, for instance).
    pub(crate) fn pump(&mut self) {
        let now = self.now();
        self.session.handle_bytes(now, &mut self.rx);
    }

    /// What the session transmitted since the last call, decoded.
    pub(crate) fn recv(&mut self) -> Vec<Packet> {
        decode_all(self.version, self.session.poll_transmit())
    }

    pub(crate) fn event(&mut self) -> Option<ServerEvent> {
        self.session.poll_event()
    }

    pub(crate) fn events(&mut self) -> Vec<ServerEvent> {
        std::iter::from_fn(|| self.session.poll_event()).collect()
    }

    /// Advances virtual time by `d`, firing the timers due on the way.
    pub(crate) fn advance(&mut self, d: Duration) {
        let target = self.now() + d;
        while let Some(t) = self.session.poll_timeout().filter(|t| *t <= target) {
            self.time = t.max(self.now()) - self.epoch;
            self.session.handle_timeout(t);
        }
        self.time = target - self.epoch;
        self.session.handle_timeout(target);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.session.phase() == ServerPhase::Closed
    }
}

/// A [`ClientSession`] driven by hand, facing a scripted server.
pub(crate) struct RawClient {
    epoch: Instant,
    pub(crate) time: Duration,
    pub(crate) session: ClientSession,
    pub(crate) version: ProtocolVersion,
}

impl RawClient {
    /// A client session; the CONNECT it queued is consumed and returned.
    pub(crate) fn new(config: ClientConfig) -> (RawClient, Connect) {
        let epoch = Instant::now();
        let version = config.version;
        let mut raw = RawClient {
            epoch,
            time: Duration::ZERO,
            session: ClientSession::new(epoch, config),
            version,
        };
        let out = raw.recv();
        let [Packet::Connect(c)] = &out[..] else {
            panic!("{out:?}")
        };
        let c = (**c).clone();
        (raw, c)
    }

    /// A client that received CONNACK `ack` (its Connected event consumed).
    pub(crate) fn connected(config: ClientConfig, ack: ConnAck) -> RawClient {
        let (mut raw, _) = RawClient::new(config);
        raw.send(Packet::ConnAck(Box::new(ack)));
        let events = raw.events();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ClientEvent::Connected { .. })),
            "{events:?}"
        );
        raw
    }

    pub(crate) fn now(&self) -> Instant {
        self.epoch + self.time
    }

    pub(crate) fn send(&mut self, packet: Packet) {
        let bytes = encode(self.version, &packet);
        self.send_bytes(&bytes);
    }

    pub(crate) fn send_bytes(&mut self, bytes: &[u8]) {
        let now = self.now();
        let mut buf = BytesMut::from(bytes);
        self.session.handle_bytes(now, &mut buf);
    }

    pub(crate) fn recv(&mut self) -> Vec<Packet> {
        decode_all(self.version, self.session.poll_transmit())
    }

    pub(crate) fn events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.session.poll_event()).collect()
    }

    pub(crate) fn advance(&mut self, d: Duration) {
        let target = self.now() + d;
        while let Some(t) = self.session.poll_timeout().filter(|t| *t <= target) {
            self.time = t.max(self.now()) - self.epoch;
            self.session.handle_timeout(t);
        }
        self.time = target - self.epoch;
        self.session.handle_timeout(target);
    }
}
