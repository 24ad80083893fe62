//! PUBACK, PUBREC, PUBREL and PUBCOMP (v5 §3.4–3.7, v3.1.1 §3.4–3.7): the same layout.

use super::{unsupported, Body, PacketType};
use crate::{
    error::{DecodeError, EncodeError},
    io::{Reader, Writer},
    properties::{AckProperties, Properties},
    PacketId, ProtocolVersion, ReasonCode,
};

fn read_packet_id(r: &mut Reader) -> Result<PacketId, DecodeError> {
    // v5 [MQTT-2.2.1-5]: the id of the PUBLISH being acknowledged, which is never 0.
    PacketId::new(r.u16()?).ok_or(DecodeError::ProtocolError("packet identifier is 0"))
}

/// Decodes the body shared by the four acknowledgements.
fn decode_ack(
    kind: PacketType,
    version: ProtocolVersion,
    r: &mut Reader,
) -> Result<(PacketId, ReasonCode, AckProperties), DecodeError> {
    let packet_id = read_packet_id(r)?;
    if !version.is_v5() || r.is_empty() {
        // v5 §3.4.2.1: a remaining length of 2 means Success and no properties.
        return Ok((packet_id, ReasonCode::Success, AckProperties::default()));
    }
    let reason_code = ReasonCode::from_u8(r.u8()?)
        .filter(|rc| rc.is_valid_for(kind))
        .ok_or(DecodeError::Malformed(
            "reason code not valid for this acknowledgement",
        ))?;
    // v5 §3.4.2.2.1: a remaining length below 4 means no properties.
    let properties = if r.is_empty() {
        AckProperties::default()
    } else {
        AckProperties::decode(r)?
    };
    Ok((packet_id, reason_code, properties))
}

/// The common acknowledgement read in place from its body: a packet identifier and, in MQTT 5,
/// at most a reason code. `None` for any other shape or anything invalid, which the general
/// decoder then reads or refuses with its reason. (Splitting a 2-byte body off the receive
/// buffer cost two reference-count updates per acknowledgement, and a server fanning a QoS 1
/// message out reads one per subscriber.)
#[inline]
pub(crate) fn decode_bare(
    kind: PacketType,
    flags: u8,
    version: ProtocolVersion,
    body: &[u8],
) -> Option<super::Packet> {
    use super::Packet;
    let (id, reason) = bare_parts(kind, flags, version, body)?;
    Some(match kind {
        PacketType::PubAck => Packet::PubAck(PubAck::with_reason(id, reason)),
        PacketType::PubRec => Packet::PubRec(PubRec::with_reason(id, reason)),
        PacketType::PubRel => Packet::PubRel(PubRel::with_reason(id, reason)),
        PacketType::PubComp => Packet::PubComp(PubComp::with_reason(id, reason)),
        _ => return None,
    })
}

/// The identifier and reason code of a bare acknowledgement body (see [`decode_bare`]); also
/// what [`Decoder::decode_bare_ack`](crate::Decoder::decode_bare_ack) reads, so both fast paths
/// accept exactly the same packets.
#[inline]
pub(crate) fn bare_parts(
    kind: PacketType,
    flags: u8,
    version: ProtocolVersion,
    body: &[u8],
) -> Option<(PacketId, ReasonCode)> {
    if !matches!(
        kind,
        PacketType::PubAck | PacketType::PubRec | PacketType::PubRel | PacketType::PubComp
    ) {
        return None;
    }
    super::check_flags(kind, flags, version).ok()?;
    let (id, reason) = match *body {
        [a, b] => ([a, b], ReasonCode::Success),
        [a, b, code] if version.is_v5() => (
            [a, b],
            ReasonCode::from_u8(code).filter(|rc| rc.is_valid_for(kind))?,
        ),
        _ => return None,
    };
    Some((PacketId::new(u16::from_be_bytes(id))?, reason))
}

fn write_ack<W: Writer>(
    kind: PacketType,
    packet_id: PacketId,
    reason_code: ReasonCode,
    properties: &AckProperties,
    version: ProtocolVersion,
    w: &mut W,
) -> Result<(), EncodeError> {
    if !reason_code.is_valid_for(kind) {
        return Err(EncodeError::Invalid(
            "reason code not valid for this acknowledgement",
        ));
    }
    w.put_u16(packet_id.get());
    if !version.is_v5() {
        // A failure cannot be expressed in 3.x; a success variant (0x10) simply becomes plain.
        if reason_code.is_error() {
            return Err(unsupported(
                version,
                "a failure reason code in an acknowledgement",
            ));
        }
        return Ok(());
    }
    // Shortest form: omit the reason code when it is Success and there are no properties.
    let no_props = properties.is_empty();
    if reason_code == ReasonCode::Success && no_props {
        return Ok(());
    }
    w.put_u8(reason_code.as_u8());
    if !no_props {
        properties.encode(w);
    }
    Ok(())
}

macro_rules! ack_packet {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $first:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// The packet identifier of the flow.
            pub packet_id: PacketId,
            /// The reason code (MQTT 5); Success for 3.x.
            pub reason_code: ReasonCode,
            /// MQTT 5 properties; dropped when encoding for 3.x.
            pub properties: AckProperties,
        }

        impl $name {
            /// A successful acknowledgement without properties.
            pub fn new(packet_id: PacketId) -> Self {
                Self::with_reason(packet_id, ReasonCode::Success)
            }

            fn with_reason(packet_id: PacketId, reason_code: ReasonCode) -> Self {
                $name { packet_id, reason_code, properties: AckProperties::default() }
            }

            /// Appends the bare form, identifier only (Success, no properties): exactly what
            #[doc = concat!("[`encode`](crate::Packet::encode) writes for `", stringify!($name), "::new(packet_id)`")]
            /// in every protocol version, four bytes, without building a packet.
            pub fn encode_bare(packet_id: PacketId, buf: &mut bytes::BytesMut) {
                let [hi, lo] = packet_id.get().to_be_bytes();
                bytes::BufMut::put_slice(buf, &[$first, 2, hi, lo]);
            }

            pub(crate) fn decode(version: ProtocolVersion, r: &mut Reader) -> Result<Self, DecodeError> {
                let (packet_id, reason_code, properties) = decode_ack($kind, version, r)?;
                Ok($name { packet_id, reason_code, properties })
            }
        }

        impl Body for $name {
            fn first_byte(&self) -> u8 {
                $first
            }

            fn write_body<W: Writer>(&self, version: ProtocolVersion, w: &mut W) -> Result<(), EncodeError> {
                write_ack($kind, self.packet_id, self.reason_code, &self.properties, version, w)
            }
        }
    };
}

ack_packet!(
    /// PUBACK: acknowledges a QoS 1 PUBLISH.
    PubAck, PacketType::PubAck, 0x40
);
ack_packet!(
    /// PUBREC: first acknowledgement of a QoS 2 PUBLISH.
    PubRec, PacketType::PubRec, 0x50
);
ack_packet!(
    /// PUBREL: releases a QoS 2 PUBLISH (fixed header flags 0010).
    PubRel, PacketType::PubRel, 0x62
);
ack_packet!(
    /// PUBCOMP: completes a QoS 2 flow.
    PubComp, PacketType::PubComp, 0x70
);
