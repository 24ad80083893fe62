//! PUBLISH (v5 §3.3, v3.1.1 §3.3).

use super::{body_len, encode_body, framed_len, unsupported, Body, FixedHeader};
use crate::{
    error::{DecodeError, EncodeError},
    io::{varint_len, Reader, Writer, MAX_VARINT},
    properties::{Properties, PublishProperties},
    string::{scan_topic, MqttStr, MAX_STRING_LEN},
    topic::TopicName,
    PacketId, ProtocolVersion, QoS, QosPid,
};
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A PUBLISH packet: an application message.
///
/// The topic and the payload are read through accessors ([`topic`](Self::topic),
/// [`payload`](Self::payload), …) rather than fields: a PUBLISH decoded from the network keeps
/// both as ranges of the one frame it was read from, so decoding it and dropping it touch one
/// shared reference count, not three (one per `Bytes`). [`topic_name`](Self::topic_name),
/// [`payload_bytes`](Self::payload_bytes) and [`into_parts`](Self::into_parts) hand them out as
/// shared, zero-copy [`TopicName`] and [`Bytes`].
#[derive(Clone)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(from = "PublishParts", into = "PublishParts")
)]
pub struct Publish {
    /// DUP: this may be a redelivery. Always false for QoS 0.
    pub dup: bool,
    /// QoS and, for QoS 1 and 2, the packet identifier.
    pub qos_pid: QosPid,
    /// RETAIN.
    pub retain: bool,
    /// MQTT 5 properties; dropped when encoding for 3.x.
    pub properties: PublishProperties,
    content: Content,
}

/// Where a PUBLISH's topic and payload are.
#[derive(Clone)]
enum Content {
    /// Decoded in place: `frame` is the whole packet; the topic (validated, not empty) is
    /// `frame[topic_start..topic_start + topic_len]`, the payload `frame[payload_start..]`.
    Frame {
        frame: Bytes,
        topic_start: u8,
        topic_len: u16,
        payload_start: u32,
    },
    /// Built by the application (or decoded with properties).
    Parts { topic: TopicName, payload: Bytes },
}

impl Publish {
    /// A PUBLISH with no DUP, no RETAIN and no properties.
    pub fn new(topic: TopicName, qos_pid: QosPid, payload: Bytes) -> Publish {
        Publish {
            dup: false,
            qos_pid,
            retain: false,
            properties: PublishProperties::default(),
            content: Content::Parts { topic, payload },
        }
    }

    /// Sets DUP (builder style).
    #[must_use]
    pub fn with_dup(mut self, dup: bool) -> Publish {
        self.dup = dup;
        self
    }

    /// Sets RETAIN (builder style).
    #[must_use]
    pub fn with_retain(mut self, retain: bool) -> Publish {
        self.retain = retain;
        self
    }

    /// Sets the MQTT 5 properties (builder style).
    #[must_use]
    pub fn with_properties(mut self, properties: PublishProperties) -> Publish {
        self.properties = properties;
        self
    }

    /// The Topic Name's bytes (UTF-8, validated when decoded or built); empty only in an
    /// MQTT 5 PUBLISH that carries a Topic Alias.
    #[inline]
    pub fn topic_bytes(&self) -> &[u8] {
        match &self.content {
            Content::Frame {
                frame,
                topic_start,
                topic_len,
                ..
            } => frame
                .get(topic_range(*topic_start, *topic_len))
                .unwrap_or_default(),
            Content::Parts { topic, .. } => topic.as_bytes(),
        }
    }

    /// The Topic Name as a string (its UTF-8 is checked again, in `O(len)`, as
    /// [`TopicName::as_str`] does; [`topic_bytes`](Self::topic_bytes) is free).
    pub fn topic(&self) -> &str {
        std::str::from_utf8(self.topic_bytes()).unwrap_or_default()
    }

    /// The Topic Name, sharing the received frame (no copy).
    pub fn topic_name(&self) -> TopicName {
        match &self.content {
            Content::Frame {
                frame,
                topic_start,
                topic_len,
                ..
            } => frame_topic(frame.slice(topic_range(*topic_start, *topic_len))),
            Content::Parts { topic, .. } => topic.clone(),
        }
    }

    /// The application payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        match &self.content {
            Content::Frame {
                frame,
                payload_start,
                ..
            } => frame.get(*payload_start as usize..).unwrap_or_default(),
            Content::Parts { payload, .. } => payload,
        }
    }

    /// The application payload, sharing the received frame (no copy).
    pub fn payload_bytes(&self) -> Bytes {
        match &self.content {
            Content::Frame {
                frame,
                payload_start,
                ..
            } => frame.slice(*payload_start as usize..),
            Content::Parts { payload, .. } => payload.clone(),
        }
    }

    /// Replaces the Topic Name (an empty one only with a Topic Alias in MQTT 5).
    pub fn set_topic(&mut self, topic: TopicName) {
        self.replace_topic(topic);
    }

    /// Replaces the Topic Name, returning the previous one.
    pub fn replace_topic(&mut self, topic: TopicName) -> TopicName {
        std::mem::replace(self.parts_mut().0, topic)
    }

    /// Replaces the payload.
    pub fn set_payload(&mut self, payload: Bytes) {
        *self.parts_mut().1 = payload;
    }

    /// The Topic Name and the payload, shared with the received frame (no copy). For every
    /// part, use [`PublishParts::from`].
    pub fn into_parts(self) -> (TopicName, Bytes) {
        self.content.into_parts()
    }

    /// Topic and payload as separate values to change in place (a decoded frame is split
    /// into them first, sharing its memory).
    fn parts_mut(&mut self) -> (&mut TopicName, &mut Bytes) {
        if let Content::Frame { .. } = self.content {
            let empty = Content::Parts {
                topic: TopicName::empty(),
                payload: Bytes::new(),
            };
            let (topic, payload) = std::mem::replace(&mut self.content, empty).into_parts();
            self.content = Content::Parts { topic, payload };
        }
        match &mut self.content {
            Content::Parts { topic, payload } => (topic, payload),
            // Made `Parts` just above.
            Content::Frame { .. } => unreachable!("a frame was just split into parts"),
        }
    }

    /// Appends the encoded packet to `buf` (see [`Packet::encode`](crate::Packet::encode)).
    #[inline]
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        match self.plain(version) {
            Some(plain) => plain.encode(version, self.payload(), buf),
            None => encode_body(self, version, buf),
        }
    }

    /// Appends a PUBLISH without MQTT 5 properties from borrowed parts: exactly what
    /// [`encode`](Self::encode) writes for a `Publish` with these fields, DUP clear and no
    /// properties. A server fanning one shared message out to many subscribers encodes each
    /// copy this way without cloning (and so without touching the reference counts of) the
    /// message's topic and payload.
    #[inline]
    pub fn encode_plain(
        version: ProtocolVersion,
        qos_pid: QosPid,
        retain: bool,
        topic: &TopicName,
        payload: &[u8],
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        Plain::of(qos_pid, retain, topic, payload.len())?.encode(version, payload, buf)
    }

    /// Appends what [`encode_plain`](Self::encode_plain) writes for a payload of `payload_len`
    /// bytes, except the payload: writing the payload right after it completes the packet (the
    /// zero-copy form of `encode_plain`, as [`encode_header`](Self::encode_header) is of
    /// [`encode`](Self::encode)).
    #[inline]
    pub fn encode_plain_header(
        version: ProtocolVersion,
        qos_pid: QosPid,
        retain: bool,
        topic: &TopicName,
        payload_len: usize,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        Plain::of(qos_pid, retain, topic, payload_len)?.encode_header(version, buf)
    }

    /// The exact encoded size, fixed header included.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        body_len(self, version).map(framed_len)
    }

    /// Appends everything but the payload: the fixed header (whose length covers the payload)
    /// and the variable header. Writing [`payload`](Self::payload) right after it completes the packet, so
    /// a server fanning one message out to many subscribers can send the shared payload with a
    /// vectored write instead of copying it into every subscriber's buffer.
    #[inline]
    pub fn encode_header(
        &self,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        if let Some(plain) = self.plain(version) {
            return plain.encode_header(version, buf);
        }
        let len = body_len(self, version)?;
        let header = len - self.payload().len();
        buf.reserve(1 + varint_len(len) + header);
        BufMut::put_u8(buf, self.first_byte());
        Writer::put_varint(buf, len);
        self.write_variable_header(version, buf)
    }

    /// The common PUBLISH as borrowed parts, `None` for any other: a topic name (not an alias
    /// alone) and, in MQTT 5, no properties. The general encoder, with its counting pass,
    /// handles the rest.
    #[inline(always)]
    fn plain(&self, version: ProtocolVersion) -> Option<Plain<'_>> {
        let topic = self.topic_bytes();
        if topic.is_empty() || (version.is_v5() && !self.properties.is_empty()) {
            return None;
        }
        Some(Plain {
            first: self.first_byte(),
            packet_id: self.qos_pid.packet_id(),
            topic,
            payload_len: self.payload().len(),
        })
    }

    #[inline(always)]
    pub(crate) fn decode_common(
        header: &FixedHeader,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Option<Publish> {
        let flags = header.flags;
        let start = header.header_len;
        let body = buf.get(start..start.checked_add(header.remaining)?)?;
        let qos = QoS::from_u8((flags >> 1) & 0x03)?;
        let dup = flags & 0x08 != 0;
        if dup && qos == QoS::AtMostOnce {
            return None;
        }
        let topic_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
        let topic_end = 2 + topic_len;
        let pid_len = if qos == QoS::AtMostOnce { 0 } else { 2 };
        // The property block length of an MQTT 5 PUBLISH must be 0 here.
        let header_end = topic_end + pid_len + usize::from(version.is_v5());
        if topic_len == 0 || header_end > body.len() {
            return None;
        }
        if version.is_v5() && body.get(header_end - 1) != Some(&0) {
            return None;
        }
        let topic = body.get(2..topic_end)?;
        let (special, high) = scan_topic(topic);
        if special || (high && std::str::from_utf8(topic).is_err()) {
            return None;
        }
        let qos_pid = match qos {
            QoS::AtMostOnce => QosPid::AtMostOnce,
            _ => {
                let pid = body.get(topic_end..topic_end + 2)?;
                QosPid::new(qos, PacketId::new(u16::from_be_bytes([pid[0], pid[1]]))?)
            }
        };
        let body_len = body.len();
        // Checked: consume the frame.
        let frame = buf.split_to(start + body_len).freeze();
        Some(Publish {
            dup,
            qos_pid,
            retain: flags & 0x01 != 0,
            properties: PublishProperties::default(),
            content: Content::Frame {
                frame,
                // A fixed header is at most 5 bytes long.
                topic_start: (start + 2) as u8,
                topic_len: topic_len as u16,
                // Below the maximum packet size, 2^28 + 4.
                payload_start: (start + header_end) as u32,
            },
        })
    }

    #[inline]
    pub(crate) fn decode(
        flags: u8,
        version: ProtocolVersion,
        r: &mut Reader,
    ) -> Result<Publish, DecodeError> {
        let dup = flags & 0x08 != 0;
        let retain = flags & 0x01 != 0;
        // v5 [MQTT-3.3.1-4], v3.1.1 [MQTT-3.3.1-4]: QoS 3 is malformed.
        let qos = QoS::from_u8((flags >> 1) & 0x03)
            .ok_or(DecodeError::Malformed("PUBLISH with QoS 3"))?;
        // v5 [MQTT-3.3.1-2], v3.1.1 [MQTT-3.3.1-2]: DUP is 0 for QoS 0.
        if dup && qos == QoS::AtMostOnce {
            return Err(DecodeError::Malformed("DUP set on a QoS 0 PUBLISH"));
        }
        let topic = r.binary()?;
        // v5 [MQTT-3.3.2-1], v3.1.1 [MQTT-3.3.2-1]: a UTF-8 string; v5 [MQTT-3.3.2-2],
        // v3.1.1 [MQTT-3.3.2-2]: without wildcards. One pass flags NUL, wildcards and non-ASCII
        // bytes; full UTF-8 validation only runs for the latter.
        let (special, high) = scan_topic(&topic);
        if special {
            return Err(if topic.contains(&0) {
                DecodeError::Malformed("UTF-8 string contains U+0000")
            } else {
                DecodeError::TopicNameInvalid("topic name contains a wildcard")
            });
        }
        if high && std::str::from_utf8(&topic).is_err() {
            return Err(DecodeError::Malformed("string is not well-formed UTF-8"));
        }
        let qos_pid = match qos {
            QoS::AtMostOnce => QosPid::AtMostOnce,
            _ => {
                // v5 [MQTT-2.2.1-3], v3.1.1 [MQTT-2.3.1-1]: non-zero packet identifier.
                let pid = PacketId::new(r.u16()?)
                    .ok_or(DecodeError::ProtocolError("packet identifier is 0"))?;
                QosPid::new(qos, pid)
            }
        };
        let properties = if version.is_v5() {
            PublishProperties::decode(r)?
        } else {
            PublishProperties::default()
        };
        if topic.is_empty() && (!version.is_v5() || properties.topic_alias.is_none()) {
            // v3.1.1 [MQTT-4.7.3-1]: at least one character; in MQTT 5 an empty topic needs a
            // Topic Alias (v5 §3.3.2.1).
            return Err(if version.is_v5() {
                DecodeError::ProtocolError("empty topic name without a topic alias")
            } else {
                DecodeError::TopicNameInvalid("empty topic name")
            });
        }
        let topic = if topic.is_empty() {
            TopicName::empty()
        } else {
            TopicName::from_mqtt_str_unchecked(MqttStr::from_validated(topic))
        };
        let payload = r.rest();
        Ok(Publish {
            dup,
            qos_pid,
            retain,
            properties,
            content: Content::Parts { topic, payload },
        })
    }

    fn write_variable_header<W: Writer>(
        &self,
        version: ProtocolVersion,
        w: &mut W,
    ) -> Result<(), EncodeError> {
        let topic = self.topic_bytes();
        if topic.is_empty() && (!version.is_v5() || self.properties.topic_alias.is_none()) {
            return Err(if version.is_v5() {
                EncodeError::Invalid("empty topic name without a topic alias")
            } else {
                unsupported(version, "a PUBLISH identified by topic alias only")
            });
        }
        w.put_binary(topic);
        if let Some(pid) = self.qos_pid.packet_id() {
            w.put_u16(pid.get());
        }
        if version.is_v5() {
            if self.properties.is_empty() {
                // The common case: a zero-length property block, no counting pass.
                w.put_u8(0);
            } else {
                self.properties.encode(w);
            }
        }
        Ok(())
    }
}

impl Content {
    fn into_parts(self) -> (TopicName, Bytes) {
        match self {
            Content::Frame {
                mut frame,
                topic_start,
                topic_len,
                payload_start,
            } => {
                let topic = topic_range(topic_start, topic_len);
                let payload_start = payload_start as usize;
                if payload_start >= frame.len() {
                    frame.truncate(topic.end);
                    frame.advance(topic.start);
                    (frame_topic(frame), Bytes::new())
                } else {
                    let topic = frame_topic(frame.slice(topic));
                    frame.advance(payload_start);
                    (topic, frame)
                }
            }
            Content::Parts { topic, payload } => (topic, payload),
        }
    }
}

fn topic_range(start: u8, len: u16) -> std::ops::Range<usize> {
    let start = usize::from(start);
    start..start + usize::from(len)
}

/// A topic name sliced from a frame whose topic was validated when it was decoded.
fn frame_topic(bytes: Bytes) -> TopicName {
    TopicName::from_mqtt_str_unchecked(MqttStr::from_validated(bytes))
}

impl PartialEq for Publish {
    /// Equal when every field, the topic and the payload are, however they are stored.
    fn eq(&self, other: &Publish) -> bool {
        self.dup == other.dup
            && self.qos_pid == other.qos_pid
            && self.retain == other.retain
            && self.topic_bytes() == other.topic_bytes()
            && self.payload() == other.payload()
            && self.properties == other.properties
    }
}

impl Eq for Publish {}

impl std::fmt::Debug for Publish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publish")
            .field("dup", &self.dup)
            .field("qos_pid", &self.qos_pid)
            .field("retain", &self.retain)
            .field("topic", &String::from_utf8_lossy(self.topic_bytes()))
            .field("payload", &Bytes::copy_from_slice(self.payload()))
            .field("properties", &self.properties)
            .finish()
    }
}

/// A [`Publish`] taken apart, every part owned: what [`Publish::from`] puts together and
/// `PublishParts::from(publish)` gives back (the topic and the payload still share a decoded
/// frame: no copy). It is also `Publish`'s serialized form (feature `serde`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PublishParts {
    /// DUP.
    pub dup: bool,
    /// QoS and packet identifier.
    pub qos_pid: QosPid,
    /// RETAIN.
    pub retain: bool,
    /// Topic Name (empty only with a Topic Alias, MQTT 5).
    pub topic: TopicName,
    /// Application payload.
    pub payload: Bytes,
    /// MQTT 5 properties.
    pub properties: PublishProperties,
}

impl From<PublishParts> for Publish {
    fn from(p: PublishParts) -> Publish {
        Publish {
            dup: p.dup,
            qos_pid: p.qos_pid,
            retain: p.retain,
            properties: p.properties,
            content: Content::Parts {
                topic: p.topic,
                payload: p.payload,
            },
        }
    }
}

impl From<Publish> for PublishParts {
    fn from(p: Publish) -> PublishParts {
        let (topic, payload) = p.content.into_parts();
        PublishParts {
            dup: p.dup,
            qos_pid: p.qos_pid,
            retain: p.retain,
            topic,
            payload,
            properties: p.properties,
        }
    }
}

/// A PUBLISH without MQTT 5 properties, borrowed: the shape most packets have, encoded
/// without a counting pass.
#[derive(Clone, Copy)]
struct Plain<'a> {
    first: u8,
    packet_id: Option<PacketId>,
    /// Not empty.
    topic: &'a [u8],
    payload_len: usize,
}

impl<'a> Plain<'a> {
    /// The plain PUBLISH of these parts, DUP clear; refused for an empty topic name.
    #[inline(always)]
    fn of(
        qos_pid: QosPid,
        retain: bool,
        topic: &'a TopicName,
        payload_len: usize,
    ) -> Result<Plain<'a>, EncodeError> {
        let topic = topic.as_bytes();
        if topic.is_empty() {
            return Err(EncodeError::Invalid(
                "empty topic name without a topic alias",
            ));
        }
        Ok(Plain {
            first: 0x30 | (qos_pid.qos().as_u8() << 1) | u8::from(retain),
            packet_id: qos_pid.packet_id(),
            topic,
            payload_len,
        })
    }

    /// The remaining length.
    #[inline(always)]
    fn len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.topic.len() > MAX_STRING_LEN {
            return Err(EncodeError::Invalid("string longer than 65,535 bytes"));
        }
        let pid = if self.packet_id.is_some() { 2 } else { 0 };
        let len = 2 + self.topic.len() + pid + usize::from(version.is_v5()) + self.payload_len;
        if len > MAX_VARINT as usize {
            return Err(EncodeError::TooLarge(len));
        }
        Ok(len)
    }

    /// The whole packet; `payload` is `payload_len` bytes long.
    #[inline(always)]
    fn encode(
        &self,
        version: ProtocolVersion,
        payload: &[u8],
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let len = self.len(version)?;
        buf.reserve(framed_len(len));
        self.put_header(version, len, buf);
        if !payload.is_empty() {
            // Not even a zero-length `memcpy` call for an empty payload.
            buf.extend_from_slice(payload);
        }
        Ok(())
    }

    /// Everything but the payload.
    #[inline(always)]
    fn encode_header(
        &self,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let len = self.len(version)?;
        buf.reserve(framed_len(len) - self.payload_len);
        self.put_header(version, len, buf);
        Ok(())
    }

    /// Writes the fixed header and the variable header, `len` being the remaining length (at
    /// most `MAX_VARINT`), into reserved space: the small pieces as fixed-size arrays, so there
    /// are four copies in all.
    #[inline(always)]
    fn put_header(&self, version: ProtocolVersion, len: usize, buf: &mut BytesMut) {
        let topic = self.topic;
        let first = self.first;
        let [t0, t1] = (topic.len() as u16).to_be_bytes();
        let b = |shift: u32| (len >> shift) as u8 | 0x80;
        match len {
            0..=127 => buf.extend_from_slice(&[first, len as u8, t0, t1]),
            128..=16_383 => buf.extend_from_slice(&[first, b(0), (len >> 7) as u8, t0, t1]),
            16_384..=2_097_151 => {
                buf.extend_from_slice(&[first, b(0), b(7), (len >> 14) as u8, t0, t1]);
            }
            _ => buf.extend_from_slice(&[first, b(0), b(7), b(14), (len >> 21) as u8, t0, t1]),
        }
        buf.extend_from_slice(topic);
        match (self.packet_id, version.is_v5()) {
            (Some(pid), true) => {
                let [p0, p1] = pid.get().to_be_bytes();
                buf.extend_from_slice(&[p0, p1, 0]);
            }
            (Some(pid), false) => buf.extend_from_slice(&pid.get().to_be_bytes()),
            // An empty property block.
            (None, true) => buf.extend_from_slice(&[0]),
            (None, false) => {}
        }
    }
}

impl Body for Publish {
    fn first_byte(&self) -> u8 {
        let qos = self.qos_pid.qos();
        // v5 [MQTT-3.3.1-2]: never DUP on QoS 0, whatever the field says.
        let dup = self.dup && qos != QoS::AtMostOnce;
        0x30 | (u8::from(dup) << 3) | (qos.as_u8() << 1) | u8::from(self.retain)
    }

    fn write_body<W: Writer>(
        &self,
        version: ProtocolVersion,
        w: &mut W,
    ) -> Result<(), EncodeError> {
        self.write_variable_header(version, w)?;
        w.put_slice(self.payload());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{encode_body, Publish};
    use crate::string::scan_topic;
    use crate::{Packet, PacketId, ProtocolVersion, QosPid, TopicName, MAX_PACKET_SIZE};
    use bytes::{Bytes, BytesMut};

    #[test]
    fn common_paths_agree_with_the_general_ones() {
        // Remaining lengths on both sides of every variable byte integer boundary, each QoS and
        // version: the fast encoder writes what the counting encoder writes, and the in-place
        // decoder reads back what the general decoder reads.
        let topic = TopicName::from_static("a/b").unwrap();
        let pid = PacketId::new(7).unwrap();
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            for qos_pid in [
                QosPid::AtMostOnce,
                QosPid::AtLeastOnce(pid),
                QosPid::ExactlyOnce(pid),
            ] {
                let header =
                    5 + qos_pid.packet_id().map_or(0, |_| 2) + usize::from(version.is_v5());
                for len in [0usize, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152] {
                    let payload = Bytes::from(vec![0x5A; len.saturating_sub(header)]);
                    let mut p = Publish::new(topic.clone(), qos_pid, payload);
                    p.retain = len % 2 == 0;
                    // DUP on the odd sizes (`encode_plain` writes DUP clear: it is checked
                    // against the others).
                    p.dup = qos_pid.packet_id().is_some() && len % 2 == 1;
                    let mut fast = BytesMut::new();
                    p.encode(version, &mut fast).unwrap();
                    let mut general = BytesMut::new();
                    encode_body(&p, version, &mut general).unwrap();
                    assert_eq!(fast, general, "{version:?} {qos_pid:?} {len}");
                    let mut head = BytesMut::new();
                    p.encode_header(version, &mut head).unwrap();
                    assert_eq!(head, general[..general.len() - p.payload().len()]);
                    if !p.dup {
                        let mut plain = BytesMut::new();
                        Publish::encode_plain(
                            version,
                            p.qos_pid,
                            p.retain,
                            &p.topic_name(),
                            p.payload(),
                            &mut plain,
                        )
                        .unwrap();
                        assert_eq!(plain, general, "plain {version:?} {qos_pid:?} {len}");
                        let mut plain_header = BytesMut::new();
                        Publish::encode_plain_header(
                            version,
                            p.qos_pid,
                            p.retain,
                            &p.topic_name(),
                            p.payload().len(),
                            &mut plain_header,
                        )
                        .unwrap();
                        assert_eq!(plain_header, general[..general.len() - p.payload().len()]);
                    }

                    let mut buf = fast.clone();
                    buf.extend_from_slice(&fast);
                    for _ in 0..2 {
                        let decoded = Packet::decode(version, &mut buf, MAX_PACKET_SIZE);
                        assert_eq!(decoded, Ok(Some(Packet::Publish(p.clone()))));
                    }
                    assert!(buf.is_empty());
                }
            }
        }
    }

    #[test]
    fn topic_scan_finds_every_byte_position() {
        // Each special byte at every offset of topics spanning zero to three words plus a tail.
        for len in 1..30 {
            assert_eq!(scan_topic(&vec![b'a'; len]), (false, false));
            for at in 0..len {
                for (byte, expected) in [
                    (0u8, (true, false)),
                    (b'+', (true, false)),
                    (b'#', (true, false)),
                    (0xC3, (false, true)),
                    (0x80, (false, true)),
                    (0x7F, (false, false)),
                    (0x2A, (false, false)),
                    (0x01, (false, false)),
                ] {
                    let mut t = vec![b'a'; len];
                    t[at] = byte;
                    assert_eq!(scan_topic(&t), expected, "{byte:#x} at {at} of {len}");
                }
            }
        }
    }
}
