//! Outbound QoS 1/2 flows: packet identifiers, the peer's Receive Maximum quota, and resend on
//! resume (v5 §4.3, §4.4, §4.9).

use crate::{Message, MessageProperties};
use bytes::Bytes;
use starling_codec::{Packet, PacketId, PubRel, Publish, QoS, QosPid, ReasonCode, TopicName};
use std::{
    collections::{HashMap, VecDeque},
    hash::{BuildHasherDefault, Hasher},
    sync::Arc,
};

/// Where an outbound QoS > 0 message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OutboundStage {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    AwaitingPubAck,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    AwaitingPubRec,
    /// PUBREL sent, waiting for PUBCOMP (the PUBLISH is never resent, v5 [MQTT-4.3.3-6]).
    AwaitingPubComp,
}

/// An unacknowledged outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InflightPublish {
    /// The PUBLISH as first sent: full topic, no alias, DUP clear.
    pub publish: Publish,
    /// The stage of its flow.
    pub stage: OutboundStage,
    /// The shared subscription group it was delivered for, if any (see
    /// [`DeliveryOptions::shared_group`](crate::DeliveryOptions::shared_group)).
    pub shared_group: Option<std::sync::Arc<str>>,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    /// The flow finished: the message is delivered (or refused with `reason`).
    Completed {
        packet_id: PacketId,
        reason: ReasonCode,
    },
    /// PUBREC accepted: send this PUBREL.
    SendPubRel(PubRel),
    /// No flow with that id in that stage.
    Unknown,
}

/// What [`Outbound::take_resends`] gives back.
#[derive(Debug, Default)]
pub(crate) struct Resends {
    /// The packets to send, in order.
    pub(crate) packets: Vec<Packet>,
    /// Flows dropped because their PUBLISH no longer fits the peer's Maximum Packet Size.
    pub(crate) too_large: Vec<PacketId>,
}

/// Hashes our own packet identifiers: one multiplication (they are sequential and chosen by
/// us, so SipHash's flooding resistance buys nothing on this hot path).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by packet identifier, hashed with [`IdHasher`] (and 16 bytes smaller than one
/// with `RandomState`). Keys chosen by the peer are bounded by the Receive Maximum, so a
/// crafted set of colliding identifiers costs little.
pub(crate) type IdMap<V> = HashMap<u16, V, BuildHasherDefault<IdHasher>>;
/// A set of packet identifiers, as [`IdMap`].
pub(crate) type IdSet = std::collections::HashSet<u16, BuildHasherDefault<IdHasher>>;

#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    /// Inline compact flows: no allocation per message sent (see [`Flow`], [`FlowTable`]).
    inflight: FlowTable,
    seq: u64,
    next_id: PacketId,
    /// The peer's Receive Maximum: the send quota (v5 [MQTT-4.9.0-1]).
    receive_maximum: u16,
    /// Resumed flows not yet resent on this connection, in send order: a resumed session may
    /// hold more than the new connection's Receive Maximum allows on the wire at once.
    unsent: VecDeque<u16>,
}

impl Outbound {
    pub(crate) fn new(next_id: PacketId) -> Outbound {
        Outbound {
            inflight: FlowTable::default(),
            seq: 0,
            next_id,
            receive_maximum: u16::MAX,
            unsent: VecDeque::new(),
        }
    }

    pub(crate) fn set_receive_maximum(&mut self, max: u16) {
        self.receive_maximum = max.max(1);
    }

    pub(crate) fn len(&self) -> usize {
        self.inflight.len()
    }

    /// Whether another QoS > 0 PUBLISH may be sent (v5 [MQTT-4.9.0-2], v5 [MQTT-3.3.4-7],
    /// [MQTT-3.3.4-9]).
    /// Resends waiting for quota go first, so a new message never overtakes them.
    pub(crate) fn has_quota(&self) -> bool {
        self.unsent.is_empty() && self.inflight.len() < usize::from(self.receive_maximum)
    }

    /// Whether a flow with this packet identifier is unfinished.
    #[cfg(any(fuzzing, test))]
    pub(crate) fn contains(&self, id: u16) -> bool {
        self.inflight.get(id).is_some()
    }

    /// Flows on the wire of this connection: the ones counted against the Receive Maximum.
    fn sent_len(&self) -> usize {
        self.inflight.len() - self.unsent.len()
    }

    /// Forgets a flow (finished, or refused).
    fn remove(&mut self, id: u16) {
        self.inflight.remove(id);
        self.unsent.retain(|&u| u != id);
    }

    pub(crate) fn next_id(&self) -> PacketId {
        self.next_id
    }

    /// An identifier not used by any inflight message nor by `also_used` (v5 [MQTT-2.2.1-3],
    /// [MQTT-2.2.1-4]); `None` when all 65,535 are taken. It is the next one in sequence
    /// whose place in the flow table is free (see [`FlowTable`]).
    pub(crate) fn allocate_id(&mut self, also_used: impl Fn(PacketId) -> bool) -> Option<PacketId> {
        self.inflight.reserve_one();
        let mut id = self.next_id;
        for _ in 0..u16::MAX {
            if self.inflight.is_free(id.get()) && !also_used(id) {
                self.next_id = id.next();
                return Some(id);
            }
            id = id.next();
        }
        None
    }

    /// Records a QoS 1/2 PUBLISH sent from a shared message that needs nothing per delivery
    /// (no properties, no expiry): the flow keeps the message itself, so neither sending nor
    /// acknowledging touches the reference counts of its topic and payload.
    pub(crate) fn insert_shared(
        &mut self,
        packet_id: PacketId,
        qos: QoS,
        retain: bool,
        message: Arc<Message>,
        shared_group: Option<Arc<str>>,
    ) {
        let qos_pid = QosPid::new(qos, packet_id);
        let body = Body::Shared(message);
        self.record(qos_pid, retain, body, shared_group);
    }

    /// Records a QoS > 0 PUBLISH that is being sent.
    pub(crate) fn insert(&mut self, publish: Publish, shared_group: Option<std::sync::Arc<str>>) {
        let starling_codec::PublishParts {
            qos_pid,
            retain,
            topic,
            payload,
            properties,
            ..
        } = publish.into();
        let body = Body::Owned {
            topic,
            payload,
            properties: properties.into(),
        };
        self.record(qos_pid, retain, body, shared_group);
    }

    /// Starts the flow of a PUBLISH just sent (a QoS 0 one has none).
    fn record(
        &mut self,
        qos_pid: QosPid,
        retain: bool,
        body: Body,
        shared_group: Option<Arc<str>>,
    ) {
        if qos_pid.packet_id().is_none() {
            return;
        }
        let stage = match qos_pid.qos() {
            QoS::ExactlyOnce => OutboundStage::AwaitingPubRec,
            _ => OutboundStage::AwaitingPubAck,
        };
        self.seq += 1;
        let flow = Flow {
            seq: self.seq,
            stage,
            qos_pid,
            retain,
            body,
            shared_group,
        };
        self.inflight.insert(flow);
    }

    /// Ends the flow `id` if it is at `stage`.
    fn remove_if(&mut self, id: PacketId, stage: OutboundStage) -> bool {
        if self
            .inflight
            .remove_if(id.get(), |f| f.stage == stage)
            .is_none()
        {
            return false;
        }
        if !self.unsent.is_empty() {
            self.unsent.retain(|&u| u != id.get());
        }
        true
    }

    pub(crate) fn on_puback(&mut self, id: PacketId, reason: ReasonCode) -> AckOutcome {
        // v5 [MQTT-4.3.2-3]: unacknowledged until PUBACK; [MQTT-4.4.0-2]: an error code also
        // ends the flow.
        if self.remove_if(id, OutboundStage::AwaitingPubAck) {
            AckOutcome::Completed {
                packet_id: id,
                reason,
            }
        } else {
            AckOutcome::Unknown
        }
    }

    pub(crate) fn on_pubrec(&mut self, id: PacketId, reason: ReasonCode) -> AckOutcome {
        let Some(flow) = self.inflight.get_mut(id.get()) else {
            return AckOutcome::Unknown;
        };
        match flow.stage {
            OutboundStage::AwaitingPubRec if reason.is_error() => {
                // v5 [MQTT-4.4.0-2]: refused; never retransmitted.
                self.remove(id.get());
                AckOutcome::Completed {
                    packet_id: id,
                    reason,
                }
            }
            // v5 [MQTT-4.3.3-4]: answer PUBREC with PUBREL; a duplicate PUBREC gets it again.
            OutboundStage::AwaitingPubRec | OutboundStage::AwaitingPubComp => {
                flow.stage = OutboundStage::AwaitingPubComp;
                // The peer had it from an earlier connection: the PUBREL puts it on the wire.
                self.unsent.retain(|&u| u != id.get());
                AckOutcome::SendPubRel(PubRel::new(id))
            }
            OutboundStage::AwaitingPubAck => AckOutcome::Unknown,
        }
    }

    pub(crate) fn on_pubcomp(&mut self, id: PacketId, reason: ReasonCode) -> AckOutcome {
        if self.remove_if(id, OutboundStage::AwaitingPubComp) {
            AckOutcome::Completed {
                packet_id: id,
                reason,
            }
        } else {
            AckOutcome::Unknown
        }
    }

    /// On session resume, marks every flow for resending in original order: PUBLISH with DUP
    /// set, or PUBREL (v5 [MQTT-4.4.0-1], v3.1.1 [MQTT-4.4.0-1]). They go out through
    /// [`take_resends`](Self::take_resends), as the peer's Receive Maximum allows
    /// (v5 [MQTT-3.3.4-7], v5 [MQTT-3.3.4-9]).
    pub(crate) fn queue_resends(&mut self) {
        let mut flows: Vec<_> = self.inflight.iter().collect();
        flows.sort_by_key(|f| f.seq);
        self.unsent = flows.into_iter().map(Flow::id).collect();
    }

    /// Resends of resumed flows that the quota now allows. A PUBLISH for which `fits` is false
    /// (larger than the peer's Maximum Packet Size, which may be smaller on this connection) is
    /// never sent: its flow ends and its id is returned in [`Resends::too_large`].
    pub(crate) fn take_resends(&mut self, fits: impl Fn(&Packet) -> bool) -> Resends {
        let mut resends = Resends::default();
        while self.sent_len() < usize::from(self.receive_maximum) {
            let Some(id) = self.unsent.pop_front() else {
                break;
            };
            let Some(f) = self.inflight.get(id) else {
                continue;
            };
            let Some(id) = f.qos_pid.packet_id() else {
                continue;
            };
            let packet = match f.stage {
                OutboundStage::AwaitingPubComp => Packet::PubRel(PubRel::new(id)),
                _ => {
                    let mut p = f.to_publish();
                    p.dup = true;
                    Packet::Publish(p)
                }
            };
            if fits(&packet) {
                resends.packets.push(packet);
            } else {
                self.remove(id.get());
                resends.too_large.push(id);
            }
        }
        resends
    }

    /// The inflight flows in send order (for persistence).
    pub(crate) fn snapshot(&self) -> Vec<InflightPublish> {
        let mut flows: Vec<_> = self.inflight.iter().collect();
        flows.sort_by_key(|f| f.seq);
        flows.into_iter().map(Flow::to_inflight).collect()
    }

    /// Restores flows from a snapshot.
    pub(crate) fn restore(&mut self, flows: Vec<InflightPublish>) {
        for f in flows {
            let stage = f.stage;
            let id = f.publish.qos_pid.packet_id();
            self.insert(f.publish, f.shared_group);
            // The stage it had reached (a PUBREL may be due rather than the PUBLISH).
            if let Some(flow) = id.and_then(|id| self.inflight.get_mut(id.get())) {
                flow.stage = stage;
            }
        }
    }

    /// Gives back the table's spare room (a burst of thousands of flows leaves a big one).
    pub(crate) fn release_idle_memory(&mut self) {
        self.inflight.shrink();
        if self.unsent.is_empty() {
            self.unsent = VecDeque::new();
        }
    }
}

/// One flow as the table keeps it: the PUBLISH's parts with its MQTT 5 properties boxed only
/// when present (about 100 bytes inline, against 260 for a boxed [`InflightPublish`]), so
/// sending a QoS 1/2 message allocates nothing and an acknowledgement frees nothing but what
/// the message itself holds. [`InflightPublish`] stays the public, persistable form.
#[derive(Debug, Clone)]
struct Flow {
    /// Send order, for resends.
    seq: u64,
    stage: OutboundStage,
    qos_pid: QosPid,
    retain: bool,
    body: Body,
    shared_group: Option<Arc<str>>,
}

/// What a flow's PUBLISH carries.
#[derive(Debug, Clone)]
enum Body {
    Owned {
        topic: TopicName,
        payload: Bytes,
        properties: MessageProperties,
    },
    /// A shared message without properties or expiry (see [`Outbound::insert_shared`]).
    Shared(Arc<Message>),
}

impl Flow {
    /// Its packet identifier (a flow always has one).
    fn id(&self) -> u16 {
        self.qos_pid.packet_id().map_or(0, PacketId::get)
    }

    /// The PUBLISH as first sent (DUP clear).
    fn to_publish(&self) -> Publish {
        let (topic, payload, properties) = match &self.body {
            Body::Owned {
                topic,
                payload,
                properties,
            } => (topic.clone(), payload.clone(), (**properties).clone()),
            Body::Shared(m) => (m.topic.clone(), m.payload.clone(), Default::default()),
        };
        Publish::new(topic, self.qos_pid, payload)
            .with_retain(self.retain)
            .with_properties(properties)
    }

    fn to_inflight(&self) -> InflightPublish {
        InflightPublish {
            publish: self.to_publish(),
            stage: self.stage,
            shared_group: self.shared_group.clone(),
        }
    }
}

/// The unfinished flows, indexed by packet identifier.
///
/// Identifiers are ours to choose and [`Outbound::allocate_id`] hands them out in sequence, so
/// a flow lives in slot `id % capacity` of a power-of-two table: finding one is an index and a
/// compare, without hashing, and flows sent one after another sit side by side, so a stream of
/// in-order acknowledgements walks memory in order (a hash table scattered them: its lookups
/// were an eighth of a broker's time in a QoS 1 fan-out). The table grows at three quarters
/// full, so the next free slot is near. A flow whose slot is taken by another (only restored
/// flows, whose identifiers were not chosen here, can collide) goes to a small overflow map
/// instead of growing the table, so memory stays proportional to the number of flows.
#[derive(Debug, Clone, Default)]
struct FlowTable {
    /// Empty, or a power of two long (at most 65,536: one slot per identifier). A boxed
    /// slice, and the rest small, because every connection's session holds a table: 32
    /// bytes more per connection tipped a broker's connection task into a bigger allocation.
    slots: Box<[Option<Flow>]>,
    /// Flows in `slots`.
    in_slots: u32,
    /// Boxed: almost never used.
    overflow: Option<Box<IdMap<Flow>>>,
}

impl FlowTable {
    const MIN_SLOTS: usize = 8;
    const MAX_SLOTS: usize = 1 << 16;

    fn len(&self) -> usize {
        self.in_slots as usize + self.overflow.as_ref().map_or(0, |o| o.len())
    }

    fn slot(&self, id: u16) -> Option<usize> {
        (!self.slots.is_empty()).then(|| usize::from(id) & (self.slots.len() - 1))
    }

    /// The slot holding flow `id`, if it is in one.
    fn find(&self, id: u16) -> Option<usize> {
        let i = self.slot(id)?;
        self.slots
            .get(i)?
            .as_ref()
            .is_some_and(|f| f.id() == id)
            .then_some(i)
    }

    fn get(&self, id: u16) -> Option<&Flow> {
        match self.find(id) {
            Some(i) => self.slots.get(i)?.as_ref(),
            None => self.overflow.as_ref()?.get(&id),
        }
    }

    fn get_mut(&mut self, id: u16) -> Option<&mut Flow> {
        match self.find(id) {
            Some(i) => self.slots.get_mut(i)?.as_mut(),
            None => self.overflow.as_mut()?.get_mut(&id),
        }
    }

    fn remove(&mut self, id: u16) -> Option<Flow> {
        self.remove_if(id, |_| true)
    }

    /// Removes flow `id` if `pred` holds for it (one lookup: the acknowledgement path).
    fn remove_if(&mut self, id: u16, pred: impl Fn(&Flow) -> bool) -> Option<Flow> {
        match self.find(id) {
            Some(i) => {
                let slot = self.slots.get_mut(i)?;
                if !slot.as_ref().is_some_and(&pred) {
                    return None;
                }
                self.in_slots -= 1;
                slot.take()
            }
            None => {
                let overflow = self.overflow.as_mut()?;
                if !overflow.get(&id).is_some_and(&pred) {
                    return None;
                }
                overflow.remove(&id)
            }
        }
    }

    /// Whether a new flow `id` would be unique and land in its own slot.
    fn is_free(&self, id: u16) -> bool {
        self.slot(id)
            .is_some_and(|i| self.slots.get(i).is_some_and(Option::is_none))
            && !self.overflow.as_ref().is_some_and(|o| o.contains_key(&id))
    }

    /// Grows the table if one more flow would fill it past three quarters.
    fn reserve_one(&mut self) {
        let capacity = self.slots.len();
        if capacity < Self::MAX_SLOTS && (self.in_slots as usize + 1) * 4 > capacity * 3 {
            self.rebuild((capacity * 2).max(Self::MIN_SLOTS));
        }
    }

    /// Adds `flow`, replacing one with the same identifier.
    fn insert(&mut self, flow: Flow) {
        // The common case: an identifier just handed out by `allocate_id`.
        if self.is_free(flow.id()) {
            self.place(flow);
            return;
        }
        if let Some(old) = self.get_mut(flow.id()) {
            *old = flow;
            return;
        }
        self.reserve_one();
        self.place(flow);
    }

    /// Puts a flow not in the table into its slot, or the overflow map if that is taken.
    fn place(&mut self, flow: Flow) {
        let id = flow.id();
        match self.slot(id).and_then(|i| self.slots.get_mut(i)) {
            Some(slot @ None) => {
                *slot = Some(flow);
                self.in_slots += 1;
            }
            _ => {
                self.overflow
                    .get_or_insert_with(Box::default)
                    .insert(id, flow);
            }
        }
    }

    /// Moves every flow into a table of `capacity` slots (a power of two).
    fn rebuild(&mut self, capacity: usize) {
        let old = std::mem::replace(
            &mut self.slots,
            std::iter::repeat_with(|| None).take(capacity).collect(),
        );
        let overflow = self.overflow.take().map(|o| *o).unwrap_or_default();
        self.in_slots = 0;
        for flow in old
            .into_vec()
            .into_iter()
            .flatten()
            .chain(overflow.into_values())
        {
            self.place(flow);
        }
    }

    /// Every flow, in no particular order.
    fn iter(&self) -> impl Iterator<Item = &Flow> {
        self.slots
            .iter()
            .flatten()
            .chain(self.overflow.iter().flat_map(|o| o.values()))
    }

    /// Gives back room beyond what the flows need (a burst leaves a big table).
    fn shrink(&mut self) {
        let len = self.len();
        if len == 0 {
            *self = FlowTable::default();
            return;
        }
        let needed = (len * 4 / 3 + 1).next_power_of_two().max(Self::MIN_SLOTS);
        if needed < self.slots.len() {
            self.rebuild(needed);
        }
        if let Some(o) = &mut self.overflow {
            o.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use starling_codec::{QosPid, TopicName};

    fn publish(id: u16, qos: QoS) -> Publish {
        let pid = PacketId::new(id).unwrap();
        Publish::new(
            TopicName::from_static("t").unwrap(),
            QosPid::new(qos, pid),
            Bytes::new(),
        )
    }

    #[test]
    fn ids_skip_those_in_use_and_wrap() {
        let mut o = Outbound::new(PacketId::new(65534).unwrap());
        o.insert(publish(65535, QoS::AtLeastOnce), None);
        assert_eq!(o.allocate_id(|_| false).unwrap().get(), 65534);
        // 65535 is inflight, so the next is 1 after wrapping, unless 1 is used elsewhere.
        assert_eq!(o.allocate_id(|id| id.get() == 1).unwrap().get(), 2);
    }

    #[test]
    fn qos2_flow_and_duplicate_pubrec() {
        let mut o = Outbound::new(PacketId::new(1).unwrap());
        o.insert(publish(1, QoS::ExactlyOnce), None);
        let id = PacketId::new(1).unwrap();
        assert_eq!(o.on_puback(id, ReasonCode::Success), AckOutcome::Unknown);
        assert!(matches!(
            o.on_pubrec(id, ReasonCode::Success),
            AckOutcome::SendPubRel(_)
        ));
        assert!(matches!(
            o.on_pubrec(id, ReasonCode::Success),
            AckOutcome::SendPubRel(_)
        ));
        // v5 [MQTT-4.3.3-6]: after PUBREL only PUBREL is resent.
        o.queue_resends();
        assert_eq!(
            o.take_resends(|_| true).packets,
            vec![Packet::PubRel(PubRel::new(id))]
        );
        assert!(matches!(
            o.on_pubcomp(id, ReasonCode::Success),
            AckOutcome::Completed { .. }
        ));
        assert_eq!(o.len(), 0);
    }

    #[test]
    fn resend_on_resume_respects_the_new_receive_maximum() {
        let mut old = Outbound::new(PacketId::new(1).unwrap());
        old.insert(publish(1, QoS::AtLeastOnce), None);
        old.insert(publish(2, QoS::ExactlyOnce), None);
        old.insert(publish(3, QoS::AtLeastOnce), None);
        let mut o = Outbound::new(old.next_id());
        o.restore(old.snapshot());
        o.set_receive_maximum(2);
        // v5 [MQTT-3.3.4-9]: two on the wire; the third waits, and so do new messages.
        o.queue_resends();
        let first: Vec<_> = o
            .take_resends(|_| true)
            .packets
            .iter()
            .map(resent_id)
            .collect();
        assert_eq!(first, [1, 2]);
        assert!(!o.has_quota());
        assert!(o.take_resends(|_| true).packets.is_empty());
        // The PUBREC of 2 keeps its flow on the wire; PUBACK of 1 frees a slot for 3.
        assert!(matches!(
            o.on_pubrec(PacketId::new(2).unwrap(), ReasonCode::Success),
            AckOutcome::SendPubRel(_)
        ));
        assert!(o.take_resends(|_| true).packets.is_empty());
        o.on_puback(PacketId::new(1).unwrap(), ReasonCode::Success);
        let next: Vec<_> = o
            .take_resends(|_| true)
            .packets
            .iter()
            .map(resent_id)
            .collect();
        assert_eq!(next, [3]);
        assert!(!o.has_quota());
        o.on_puback(PacketId::new(3).unwrap(), ReasonCode::Success);
        assert!(o.has_quota());
        assert_eq!(o.len(), 1);
    }

    #[test]
    fn a_resend_too_large_for_the_peer_ends_its_flow() {
        let mut o = Outbound::new(PacketId::new(1).unwrap());
        o.insert(publish(1, QoS::AtLeastOnce), None);
        o.insert(publish(2, QoS::ExactlyOnce), None);
        o.set_receive_maximum(1);
        o.queue_resends();
        let r = o.take_resends(
            |p| !matches!(p, Packet::Publish(p) if p.qos_pid.packet_id() == PacketId::new(1)),
        );
        assert_eq!(r.too_large, [PacketId::new(1).unwrap()]);
        assert_eq!(r.packets.iter().map(resent_id).collect::<Vec<_>>(), [2]);
        assert_eq!(o.len(), 1);
    }

    fn resent_id(p: &Packet) -> u16 {
        match p {
            Packet::Publish(p) => {
                assert!(p.dup);
                p.qos_pid.packet_id().unwrap().get()
            }
            Packet::PubRel(r) => r.packet_id.get(),
            other => panic!("not a resend: {other:?}"),
        }
    }

    #[test]
    fn restored_flows_whose_slots_collide_stay_findable() {
        let mut o = Outbound::new(PacketId::new(1).unwrap());
        // 9 and 17 share a slot in an 8-slot table; 65535 and 7 too.
        for id in [1, 9, 17, 65535, 7] {
            o.insert(publish(id, QoS::AtLeastOnce), None);
        }
        assert_eq!(o.len(), 5);
        for id in [1, 9, 17, 65535, 7] {
            assert!(o.contains(id), "{id}");
        }
        // New identifiers avoid all of them.
        let fresh: Vec<u16> = (0..20)
            .map(|_| {
                let id = o.allocate_id(|_| false).unwrap();
                o.insert_shared(id, QoS::AtLeastOnce, false, message(), None);
                id.get()
            })
            .collect();
        assert!(fresh.iter().all(|id| ![1, 9, 17, 65535, 7].contains(id)));
        for id in [9, 1, 65535, 17, 7].into_iter().chain(fresh) {
            let id = PacketId::new(id).unwrap();
            assert!(matches!(
                o.on_puback(id, ReasonCode::Success),
                AckOutcome::Completed { .. }
            ));
        }
        assert_eq!(o.len(), 0);
        o.release_idle_memory();
        assert!(o.inflight.slots.is_empty() && o.inflight.overflow.is_none());
    }

    #[test]
    fn all_identifiers_in_use_is_none() {
        let mut o = Outbound::new(PacketId::new(1).unwrap());
        for _ in 0..u16::MAX {
            let id = o.allocate_id(|_| false).unwrap();
            o.insert_shared(id, QoS::AtLeastOnce, false, message(), None);
        }
        assert_eq!(o.len(), 65535);
        assert_eq!(o.allocate_id(|_| false), None);
        o.on_puback(PacketId::new(40000).unwrap(), ReasonCode::Success);
        assert_eq!(o.allocate_id(|_| false).map(PacketId::get), Some(40000));
    }

    fn message() -> Arc<Message> {
        Arc::new(Message::new(
            TopicName::from_static("t").unwrap(),
            Bytes::new(),
            QoS::AtLeastOnce,
            false,
        ))
    }

    proptest::proptest! {
        /// The flow table against a map: any mix of new flows, restored ones with arbitrary
        /// identifiers, acknowledgements in any order and shrinking keeps exactly the flows a
        /// map would, and a new identifier is never one in use.
        #[test]
        fn flows_behave_like_a_map(ops in proptest::collection::vec((0u8..4, proptest::prelude::any::<u16>()), 1..400)) {
            let mut o = Outbound::new(PacketId::new(1).unwrap());
            let mut model = std::collections::BTreeSet::new();
            for (op, n) in ops {
                match op {
                    0 => {
                        let id = o.allocate_id(|_| false).unwrap();
                        proptest::prop_assert!(model.insert(id.get()), "{} in use", id.get());
                        o.insert_shared(id, QoS::AtLeastOnce, false, message(), None);
                    }
                    1 => {
                        if let Some(id) = PacketId::new(n) {
                            o.insert(publish(id.get(), QoS::AtLeastOnce), None);
                            model.insert(id.get());
                        }
                    }
                    2 => {
                        // Acknowledge the n-th flow in order of identifiers, or an unknown one.
                        let id = model.iter().nth(usize::from(n) % (model.len() + 1)).copied();
                        let pid = PacketId::new(id.unwrap_or(n)).unwrap_or(PacketId::new(1).unwrap());
                        let done = matches!(o.on_puback(pid, ReasonCode::Success), AckOutcome::Completed { .. });
                        proptest::prop_assert_eq!(done, model.remove(&pid.get()));
                    }
                    _ => o.release_idle_memory(),
                }
                proptest::prop_assert_eq!(o.len(), model.len());
            }
            for &id in &model {
                proptest::prop_assert!(o.contains(id));
            }
            let mut snapshot: Vec<u16> = o.snapshot().iter().filter_map(|f| f.publish.qos_pid.packet_id()).map(PacketId::get).collect();
            snapshot.sort_unstable();
            proptest::prop_assert_eq!(snapshot, model.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn quota_follows_receive_maximum() {
        let mut o = Outbound::new(PacketId::new(1).unwrap());
        o.set_receive_maximum(2);
        o.insert(publish(1, QoS::AtLeastOnce), None);
        assert!(o.has_quota());
        o.insert(publish(2, QoS::ExactlyOnce), None);
        assert!(!o.has_quota());
        // v5 [MQTT-4.4.0-2]: a PUBREC error ends the flow and frees quota.
        o.on_pubrec(PacketId::new(2).unwrap(), ReasonCode::QuotaExceeded);
        assert!(o.has_quota());
    }
}
