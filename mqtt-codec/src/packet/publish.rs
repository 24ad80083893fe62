//! PUBLISH (v5 §3.3, v3.1.1 §3.3).

use super::{body_len, encode_body, framed_len, unsupported, Body};
use crate::{
    error::{DecodeError, EncodeError},
    io::{varint_len, Reader, Writer},
    properties::{Properties, PublishProperties},
    string::MqttStr,
    topic::TopicName,
    PacketId, ProtocolVersion, QoS, QosPid,
};
use bytes::{BufMut, Bytes, BytesMut};

/// A PUBLISH packet: an application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: this may be a redelivery. Always false for QoS 0.
    pub dup: bool,
    /// QoS and, for QoS 1 and 2, the packet identifier.
    pub qos_pid: QosPid,
    /// RETAIN.
    pub retain: bool,
    /// Topic Name; empty only in an MQTT 5 PUBLISH that carries a Topic Alias.
    pub topic: TopicName,
    /// The application payload, shared with the receive buffer when decoded.
    pub payload: Bytes,
    /// MQTT 5 properties; dropped when encoding for 3.x.
    pub properties: PublishProperties,
}

impl Publish {
    /// A PUBLISH with no DUP, no RETAIN and no properties.
    pub fn new(topic: TopicName, qos_pid: QosPid, payload: Bytes) -> Publish {
        Publish {
            dup: false,
            qos_pid,
            retain: false,
            topic,
            payload,
            properties: PublishProperties::default(),
        }
    }

    /// Appends the encoded packet to `buf` (see [`Packet::encode`](crate::Packet::encode)).
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        encode_body(self, version, buf)
    }

    /// The exact encoded size, fixed header included.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        body_len(self, version).map(framed_len)
    }

    /// Appends everything but the payload: the fixed header (whose length covers the payload)
    /// and the variable header. Writing `self.payload` right after it completes the packet, so
    /// a server fanning one message out to many subscribers can send the shared payload with a
    /// vectored write instead of copying it into every subscriber's buffer.
    pub fn encode_header(
        &self,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let len = body_len(self, version)?;
        let header = len - self.payload.len();
        buf.reserve(1 + varint_len(len) + header);
        BufMut::put_u8(buf, self.first_byte());
        Writer::put_varint(buf, len);
        self.write_variable_header(version, buf)
    }

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
        // v3.1.1 [MQTT-3.3.2-2]: without wildcards. One pass checks NUL and wildcards, then UTF-8.
        if topic.iter().any(|&b| b == 0 || b == b'+' || b == b'#') {
            return Err(if topic.contains(&0) {
                DecodeError::Malformed("UTF-8 string contains U+0000")
            } else {
                DecodeError::TopicNameInvalid("topic name contains a wildcard")
            });
        }
        if std::str::from_utf8(&topic).is_err() {
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
            topic,
            payload,
            properties,
        })
    }

    fn write_variable_header<W: Writer>(
        &self,
        version: ProtocolVersion,
        w: &mut W,
    ) -> Result<(), EncodeError> {
        if self.topic.is_empty() && (!version.is_v5() || self.properties.topic_alias.is_none()) {
            return Err(if version.is_v5() {
                EncodeError::Invalid("empty topic name without a topic alias")
            } else {
                unsupported(version, "a PUBLISH identified by topic alias only")
            });
        }
        w.put_binary(self.topic.as_bytes());
        if let Some(pid) = self.qos_pid.packet_id() {
            w.put_u16(pid.get());
        }
        if version.is_v5() {
            self.properties.encode(w);
        }
        Ok(())
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
        w.put_slice(&self.payload);
        Ok(())
    }
}
