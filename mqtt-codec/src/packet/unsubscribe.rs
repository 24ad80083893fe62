//! UNSUBSCRIBE and UNSUBACK (v5 §3.10–3.11, v3.1.1 §3.10–3.11).

use super::{
    subscribe::{read_filter, read_packet_id},
    unsupported, Body, PacketType,
};
use crate::{
    error::{DecodeError, EncodeError},
    io::{Reader, Writer},
    properties::{AckProperties, Properties, UnsubscribeProperties},
    topic::TopicFilter,
    PacketId, ProtocolVersion, ReasonCode,
};

/// An UNSUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// Topic filters to remove, at least one.
    pub filters: Vec<TopicFilter>,
    /// MQTT 5 properties; dropped when encoding for 3.x.
    pub properties: UnsubscribeProperties,
}

impl Unsubscribe {
    pub(crate) fn decode(
        version: ProtocolVersion,
        r: &mut Reader,
    ) -> Result<Unsubscribe, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = if version.is_v5() {
            UnsubscribeProperties::decode(r)?
        } else {
            UnsubscribeProperties::default()
        };
        // As SUBSCRIBE: at most 16 up front (each filter takes at least 3 bytes).
        let mut filters = Vec::with_capacity((r.remaining() / 3).min(16));
        while !r.is_empty() {
            filters.push(read_filter(r)?);
        }
        // v5 [MQTT-3.10.3-2], v3.1.1 [MQTT-3.10.3-2]: at least one filter.
        if filters.is_empty() {
            return Err(DecodeError::ProtocolError(
                "UNSUBSCRIBE without topic filters",
            ));
        }
        Ok(Unsubscribe {
            packet_id,
            filters,
            properties,
        })
    }
}

impl Body for Unsubscribe {
    fn first_byte(&self) -> u8 {
        0xA2
    }

    fn write_body<W: Writer>(
        &self,
        version: ProtocolVersion,
        w: &mut W,
    ) -> Result<(), EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::Invalid("UNSUBSCRIBE without topic filters"));
        }
        w.put_u16(self.packet_id.get());
        if version.is_v5() {
            self.properties.encode(w);
        }
        for filter in &self.filters {
            w.put_binary(filter.as_mqtt_str().as_bytes());
        }
        Ok(())
    }
}

/// An UNSUBACK packet. MQTT 3.x UNSUBACKs carry no reason codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet identifier of the UNSUBSCRIBE.
    pub packet_id: PacketId,
    /// One reason code per filter (MQTT 5); empty for 3.x.
    pub reason_codes: Vec<ReasonCode>,
    /// MQTT 5 properties; dropped when encoding for 3.x.
    pub properties: AckProperties,
}

impl UnsubAck {
    pub(crate) fn decode(
        version: ProtocolVersion,
        r: &mut Reader,
    ) -> Result<UnsubAck, DecodeError> {
        let packet_id = read_packet_id(r)?;
        if !version.is_v5() {
            return Ok(UnsubAck {
                packet_id,
                reason_codes: Vec::new(),
                properties: AckProperties::default(),
            });
        }
        let properties = AckProperties::decode(r)?;
        let mut reason_codes = Vec::new();
        while !r.is_empty() {
            let rc = ReasonCode::from_u8(r.u8()?)
                .filter(|rc| rc.is_valid_for(PacketType::UnsubAck))
                .ok_or(DecodeError::Malformed("invalid UNSUBACK reason code"))?;
            reason_codes.push(rc);
        }
        if reason_codes.is_empty() {
            return Err(DecodeError::ProtocolError("UNSUBACK without reason codes"));
        }
        Ok(UnsubAck {
            packet_id,
            reason_codes,
            properties,
        })
    }
}

impl Body for UnsubAck {
    fn first_byte(&self) -> u8 {
        0xB0
    }

    fn write_body<W: Writer>(
        &self,
        version: ProtocolVersion,
        w: &mut W,
    ) -> Result<(), EncodeError> {
        w.put_u16(self.packet_id.get());
        if !version.is_v5() {
            if self.reason_codes.iter().any(|rc| rc.is_error()) {
                return Err(unsupported(version, "a failure reason code in UNSUBACK"));
            }
            return Ok(());
        }
        if self.reason_codes.is_empty() {
            return Err(EncodeError::Invalid("UNSUBACK without reason codes"));
        }
        self.properties.encode(w);
        for rc in &self.reason_codes {
            if !rc.is_valid_for(PacketType::UnsubAck) {
                return Err(EncodeError::Invalid("reason code not valid for UNSUBACK"));
            }
            w.put_u8(rc.as_u8());
        }
        Ok(())
    }
}
