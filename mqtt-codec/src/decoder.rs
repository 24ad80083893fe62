//! A per-connection decoder that knows which side it is on.

use crate::{
    error::DecodeError,
    packet::{FixedHeader, Packet, PacketType},
    PacketId, ProtocolVersion,
};
use bytes::{Buf, BytesMut};

/// The largest packet MQTT can frame: one type byte, four length bytes, 268,435,455 body bytes.
pub const MAX_PACKET_SIZE: u32 = 268_435_460;

/// Which end of the connection a [`Decoder`] serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The server: decodes what clients send.
    Server,
    /// The client: decodes what servers send.
    Client,
}

/// Decodes the packets of one connection.
///
/// On top of [`Packet::decode`] it enforces the rules that need to know the side and the
/// history of the connection:
/// - a server-side decoder accepts only CONNECT first and learns the protocol version from it
///   (v5 [MQTT-3.1.0-1], v3.1.1 [MQTT-3.1.0-1]); a second CONNECT is a protocol error
///   (v5 [MQTT-3.1.0-2], v3.1.1 [MQTT-3.1.0-2]);
/// - packets that only flow the other way are protocol errors;
/// - a PUBLISH from a client must not carry Subscription Identifiers (v5 [MQTT-3.3.4-6]).
///
/// After an error the connection must be closed; the decoder's state is then unspecified.
#[derive(Debug, Clone)]
pub struct Decoder {
    role: Role,
    version: Option<ProtocolVersion>,
    max_packet_size: u32,
}

impl Decoder {
    /// A server-side decoder, waiting for CONNECT.
    pub fn server(max_packet_size: u32) -> Decoder {
        Decoder {
            role: Role::Server,
            version: None,
            max_packet_size,
        }
    }

    /// A client-side decoder for a connection that sent a CONNECT of `version`.
    pub fn client(version: ProtocolVersion, max_packet_size: u32) -> Decoder {
        Decoder {
            role: Role::Client,
            version: Some(version),
            max_packet_size,
        }
    }

    /// The protocol version, once known.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// The side this decoder serves.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The maximum packet size in force.
    pub fn max_packet_size(&self) -> u32 {
        self.max_packet_size
    }

    /// Changes the maximum packet size (for example once CONNECT/CONNACK negotiated one).
    pub fn set_max_packet_size(&mut self, max: u32) {
        self.max_packet_size = max;
    }

    /// Consumes a bare PUBACK, PUBREC, PUBREL or PUBCOMP (a packet identifier and nothing else,
    /// meaning Success in every version) at the front of `buf` and returns its type and
    /// identifier; `None`, consuming nothing, for anything else, which [`decode`](Self::decode)
    /// then reads (or refuses with its reason).
    ///
    /// It is what `decode` would return for those four bytes, without building a [`Packet`]:
    /// the acknowledgement is the most frequent packet a server fanning QoS 1 messages out
    /// reads (one per subscriber per message), and moving a whole `Packet` value per
    /// acknowledgement was a visible share of that work.
    #[inline]
    pub fn decode_bare_ack(&mut self, buf: &mut BytesMut) -> Option<(PacketType, PacketId)> {
        // Before CONNECT a server-side decoder refuses everything else.
        let version = self.version?;
        if self.max_packet_size < 4 {
            return None;
        }
        let &[first, 2, hi, lo, ..] = buf.as_ref() else {
            return None;
        };
        let kind = PacketType::from_u8(first >> 4)?;
        let (packet_id, _success) =
            crate::packet::bare_ack_parts(kind, first & 0x0F, version, &[hi, lo])?;
        buf.advance(4);
        Some((kind, packet_id))
    }

    /// Decodes the next packet from the front of `buf`; `Ok(None)` (consuming nothing) until a
    /// whole packet is there. See [`Packet::decode`] for the buffering contract.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        let version = match self.version {
            Some(v) => v,
            None => {
                // Refuse a non-CONNECT first packet from its first byte, without buffering it.
                if let Some(&first) = buf.first() {
                    if first >> 4 != PacketType::Connect as u8 {
                        return Err(DecodeError::ProtocolError("first packet is not CONNECT"));
                    }
                }
                // The CONNECT names its own version; this value is not used to decode it.
                ProtocolVersion::V5
            }
        };
        let Some(header) = FixedHeader::parse(buf, self.max_packet_size)? else {
            return Ok(None);
        };
        let t = header.packet_type;
        match self.role {
            Role::Server => {
                if t == PacketType::Connect && self.version.is_some() {
                    return Err(DecodeError::ProtocolError("second CONNECT"));
                }
                if !t.is_client_to_server() {
                    return Err(DecodeError::ProtocolError(
                        "packet type not sent by clients",
                    ));
                }
            }
            Role::Client => {
                if !t.is_server_to_client(version) {
                    return Err(DecodeError::ProtocolError(
                        "packet type not sent by servers",
                    ));
                }
            }
        }
        // The common PUBLISH (no properties, so no subscription identifier) straight into the
        // returned value.
        if let Some(p) = header.decode_common_publish(version, buf) {
            return Ok(Some(Packet::Publish(p)));
        }
        let packet = header.decode(version, buf)?;
        match &packet {
            Packet::Connect(c) => self.version = Some(c.protocol),
            Packet::Publish(p)
                if self.role == Role::Server
                    && !p.properties.subscription_identifiers.is_empty() =>
            {
                return Err(DecodeError::ProtocolError(
                    "PUBLISH from a client with a subscription identifier",
                ));
            }
            _ => {}
        }
        Ok(Some(packet))
    }
}
