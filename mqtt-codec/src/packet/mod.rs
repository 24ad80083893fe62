//! The packet model and the framing shared by every packet type.

mod ack;
mod auth;
mod connack;
mod connect;
mod disconnect;
mod publish;
mod subscribe;
mod unsubscribe;

pub(crate) use ack::bare_parts as bare_ack_parts;
pub use ack::{PubAck, PubComp, PubRec, PubRel};
pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, Will};
pub use disconnect::Disconnect;
pub use publish::{Publish, PublishParts};
pub use subscribe::{RetainHandling, SubAck, Subscribe, SubscriptionOptions};
pub use unsubscribe::{UnsubAck, Unsubscribe};

use crate::{
    error::{DecodeError, EncodeError},
    io::{read_varint, varint_len, Counter, Reader, Writer, MAX_VARINT},
    properties::Properties,
    ProtocolVersion,
};
use bytes::{Buf, BufMut, BytesMut};

/// The control packet type: the high nibble of the first byte (v5 §2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// 1: CONNECT.
    Connect = 1,
    /// 2: CONNACK.
    ConnAck = 2,
    /// 3: PUBLISH.
    Publish = 3,
    /// 4: PUBACK.
    PubAck = 4,
    /// 5: PUBREC.
    PubRec = 5,
    /// 6: PUBREL.
    PubRel = 6,
    /// 7: PUBCOMP.
    PubComp = 7,
    /// 8: SUBSCRIBE.
    Subscribe = 8,
    /// 9: SUBACK.
    SubAck = 9,
    /// 10: UNSUBSCRIBE.
    Unsubscribe = 10,
    /// 11: UNSUBACK.
    UnsubAck = 11,
    /// 12: PINGREQ.
    PingReq = 12,
    /// 13: PINGRESP.
    PingResp = 13,
    /// 14: DISCONNECT.
    Disconnect = 14,
    /// 15: AUTH (MQTT 5 only).
    Auth = 15,
}

impl PacketType {
    /// The packet type for a first byte's high nibble, `None` for the reserved value 0.
    pub const fn from_u8(nibble: u8) -> Option<PacketType> {
        Some(match nibble {
            1 => PacketType::Connect,
            2 => PacketType::ConnAck,
            3 => PacketType::Publish,
            4 => PacketType::PubAck,
            5 => PacketType::PubRec,
            6 => PacketType::PubRel,
            7 => PacketType::PubComp,
            8 => PacketType::Subscribe,
            9 => PacketType::SubAck,
            10 => PacketType::Unsubscribe,
            11 => PacketType::UnsubAck,
            12 => PacketType::PingReq,
            13 => PacketType::PingResp,
            14 => PacketType::Disconnect,
            15 => PacketType::Auth,
            _ => return None,
        })
    }

    /// Whether a client may send this packet type to a server.
    pub const fn is_client_to_server(self) -> bool {
        !matches!(
            self,
            PacketType::ConnAck | PacketType::SubAck | PacketType::UnsubAck | PacketType::PingResp
        )
    }

    /// Whether a server may send this packet type to a client (`version` matters: an MQTT 3.x
    /// server never sends DISCONNECT).
    pub const fn is_server_to_client(self, version: ProtocolVersion) -> bool {
        match self {
            PacketType::Connect
            | PacketType::Subscribe
            | PacketType::Unsubscribe
            | PacketType::PingReq => false,
            PacketType::Disconnect => version.is_v5(),
            _ => true,
        }
    }
}

/// An MQTT control packet of any version.
///
/// One model serves all versions: it is the MQTT 5 superset, and MQTT 3.x packets simply leave
/// the MQTT 5 fields at their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (boxed: large and rare).
    Connect(Box<Connect>),
    /// CONNACK (boxed: large and rare).
    ConnAck(Box<ConnAck>),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK.
    PubAck(PubAck),
    /// PUBREC.
    PubRec(PubRec),
    /// PUBREL.
    PubRel(PubRel),
    /// PUBCOMP.
    PubComp(PubComp),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect(Disconnect),
    /// AUTH (MQTT 5 only).
    Auth(Auth),
}

/// What every packet body knows about its own encoding.
pub(crate) trait Body {
    /// The first byte: type and flags.
    fn first_byte(&self) -> u8;
    /// Writes the variable header and payload. Any `EncodeError` is raised on the counting
    /// pass, before the first byte reaches a real buffer.
    fn write_body<W: Writer>(&self, version: ProtocolVersion, w: &mut W)
        -> Result<(), EncodeError>;

    /// The remaining length, after every check `write_body` makes: by default a counting pass
    /// of `write_body` itself. A packet with a simpler sum may compute it directly; its tests
    /// then compare the two.
    fn remaining_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError>
    where
        Self: Sized,
    {
        counted_len(self, version)
    }
}

/// The remaining length of `body`, after checking that it can be framed at all.
pub(crate) fn body_len<B: Body>(body: &B, version: ProtocolVersion) -> Result<usize, EncodeError> {
    body.remaining_len(version)
}

/// [`Body::remaining_len`] by a counting pass of `write_body`.
pub(crate) fn counted_len<B: Body>(
    body: &B,
    version: ProtocolVersion,
) -> Result<usize, EncodeError> {
    let mut c = Counter::default();
    body.write_body(version, &mut c)?;
    if c.oversized_binary {
        return Err(EncodeError::Invalid("binary data longer than 65535 bytes"));
    }
    if c.len > MAX_VARINT as usize {
        return Err(EncodeError::TooLarge(c.len));
    }
    // Otherwise only a Subscription Identifier (a `NonZeroU32`) can exceed a variable byte
    // integer; writing it would take a fifth byte the counting pass did not count.
    if c.oversized_varint {
        return Err(EncodeError::Invalid(
            "subscription identifier above 268435455",
        ));
    }
    Ok(c.len)
}

/// The size of a property block with its length prefix, with the checks of [`counted_len`].
pub(crate) fn properties_len<P: Properties>(p: &P) -> Result<usize, EncodeError> {
    let mut c = Counter::default();
    c.put_properties(p);
    if c.oversized_binary {
        return Err(EncodeError::Invalid("binary data longer than 65535 bytes"));
    }
    if c.oversized_varint {
        return Err(EncodeError::Invalid(
            "subscription identifier above 268435455",
        ));
    }
    Ok(c.len)
}

/// Size of a whole packet with the given remaining length.
pub(crate) const fn framed_len(body_len: usize) -> usize {
    1 + varint_len(body_len) + body_len
}

/// Appends the whole packet to `buf`.
pub(crate) fn encode_body<B: Body>(
    body: &B,
    version: ProtocolVersion,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let len = body_len(body, version)?;
    buf.reserve(framed_len(len));
    BufMut::put_u8(buf, body.first_byte());
    Writer::put_varint(buf, len);
    body.write_body(version, buf)
}

/// A packet with no body (PINGREQ, PINGRESP).
struct Empty(u8);

impl Body for Empty {
    fn first_byte(&self) -> u8 {
        self.0
    }
    fn write_body<W: Writer>(&self, _: ProtocolVersion, _: &mut W) -> Result<(), EncodeError> {
        Ok(())
    }
}

macro_rules! with_body {
    ($packet:expr, $b:ident => $e:expr) => {
        match $packet {
            Packet::Connect(p) => {
                let $b = &**p;
                $e
            }
            Packet::ConnAck(p) => {
                let $b = &**p;
                $e
            }
            Packet::Publish($b) => $e,
            Packet::PubAck($b) => $e,
            Packet::PubRec($b) => $e,
            Packet::PubRel($b) => $e,
            Packet::PubComp($b) => $e,
            Packet::Subscribe($b) => $e,
            Packet::SubAck($b) => $e,
            Packet::Unsubscribe($b) => $e,
            Packet::UnsubAck($b) => $e,
            Packet::PingReq => {
                let $b = &Empty(0xC0);
                $e
            }
            Packet::PingResp => {
                let $b = &Empty(0xD0);
                $e
            }
            Packet::Disconnect($b) => $e,
            Packet::Auth($b) => $e,
        }
    };
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }

    /// Appends the encoded packet to `buf`.
    ///
    /// Purely informational MQTT 5 data is dropped for a 3.x `version`; data that would change
    /// the meaning is refused with [`EncodeError::UnsupportedByVersion`]. On error nothing is
    /// written. A CONNECT is encoded in the version it names itself.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        if let Packet::Publish(p) = self {
            // Its own encoder has a fast path for the common shapes.
            return p.encode(version, buf);
        }
        with_body!(self, b => encode_body(b, version, buf))
    }

    /// The exact number of bytes [`Packet::encode`] writes, fixed header included.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        with_body!(self, b => body_len(b, version).map(framed_len))
    }

    /// Decodes one packet from the front of `buf`.
    ///
    /// Returns `Ok(None)`, consuming nothing, when `buf` does not yet hold a whole packet. A
    /// packet larger than `max_packet_size` is refused as soon as its fixed header is readable,
    /// before its body arrives. Payloads, topics and strings share `buf`'s memory.
    ///
    /// This is the role-agnostic decoder: it accepts every packet type valid in `version` (a
    /// CONNECT names its own version). For connection use, [`Decoder`](crate::Decoder) adds
    /// the direction rules and learns the version from the CONNECT.
    pub fn decode(
        version: ProtocolVersion,
        buf: &mut BytesMut,
        max_packet_size: u32,
    ) -> Result<Option<Packet>, DecodeError> {
        let Some(header) = FixedHeader::parse(buf, max_packet_size)? else {
            return Ok(None);
        };
        // The common PUBLISH straight into the returned value (through `FixedHeader::decode`,
        // a `Result<Packet>` re-wrapped here, it would be built once and copied once more).
        if let Some(p) = header.decode_common_publish(version, buf) {
            return Ok(Some(Packet::Publish(p)));
        }
        Ok(Some(header.decode(version, buf)?))
    }
}

/// The fixed header of a packet whose whole frame may or may not have arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedHeader {
    pub(crate) packet_type: PacketType,
    pub(crate) flags: u8,
    header_len: usize,
    remaining: usize,
}

impl FixedHeader {
    /// Parses the fixed header at the front of `buf`; `Ok(None)` when the whole frame has not
    /// arrived. The size limit is checked as soon as the length is known.
    pub(crate) fn parse(
        buf: &[u8],
        max_packet_size: u32,
    ) -> Result<Option<FixedHeader>, DecodeError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        // v5 §2.1.2: packet type 0 is reserved ("Forbidden").
        let packet_type = PacketType::from_u8(first >> 4)
            .ok_or(DecodeError::Malformed("reserved packet type 0"))?;
        let Some((remaining, n)) = read_varint(&buf[1..])? else {
            return Ok(None);
        };
        let remaining = remaining as usize;
        let header_len = 1 + n;
        let size = header_len + remaining;
        // v5 [MQTT-3.1.2-24] / [MQTT-3.2.2-15]: refuse oversize packets before buffering them.
        if size > max_packet_size as usize {
            return Err(DecodeError::PacketTooLarge {
                size,
                max: max_packet_size,
            });
        }
        if buf.len() < size {
            return Ok(None);
        }
        Ok(Some(FixedHeader {
            packet_type,
            flags: first & 0x0F,
            header_len,
            remaining,
        }))
    }

    /// A PUBLISH without properties, decoded in place (see `Publish::decode_common`); `None`,
    /// consuming nothing, for any other packet.
    #[inline(always)]
    pub(crate) fn decode_common_publish(
        &self,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Option<Publish> {
        if self.packet_type != PacketType::Publish {
            return None;
        }
        Publish::decode_common(self, version, buf)
    }

    /// Consumes the frame from `buf` and decodes it.
    ///
    /// Inlined (as are `decode_body` and `Publish::decode`) so the packet, a few hundred bytes,
    /// is built in place instead of being copied out of each layer.
    #[inline]
    pub(crate) fn decode(
        self,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Result<Packet, DecodeError> {
        match self.packet_type {
            PacketType::Publish => {
                if let Some(p) = self.decode_common_publish(version, buf) {
                    return Ok(Packet::Publish(p));
                }
            }
            PacketType::PubAck | PacketType::PubRec | PacketType::PubRel | PacketType::PubComp
                if self.remaining <= 3 =>
            {
                let end = self.header_len + self.remaining;
                let bare = buf
                    .get(self.header_len..end)
                    .and_then(|body| ack::decode_bare(self.packet_type, self.flags, version, body));
                if let Some(packet) = bare {
                    buf.advance(end);
                    return Ok(packet);
                }
            }
            _ => {}
        }
        self.decode_general(version, buf)
    }

    /// Every packet but the common PUBLISH and the bare acknowledgements, through a `Reader`
    /// over the frame. Kept out of line: inlined, its many packet types would give the fast
    /// paths above the stack frame of the largest.
    #[inline(never)]
    fn decode_general(
        self,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Result<Packet, DecodeError> {
        buf.advance(self.header_len);
        let body = buf.split_to(self.remaining).freeze();
        let mut r = Reader::new(body);
        let packet = self.decode_body(version, &mut r)?;
        if !r.is_empty() {
            return Err(DecodeError::Malformed(
                "trailing bytes after the packet's contents",
            ));
        }
        Ok(packet)
    }

    #[inline]
    fn decode_body(self, version: ProtocolVersion, r: &mut Reader) -> Result<Packet, DecodeError> {
        use PacketType as T;
        let flags = self.flags;
        if self.packet_type != T::Publish {
            check_flags(self.packet_type, flags, version)?;
        }
        Ok(match self.packet_type {
            T::Connect => Packet::Connect(Box::new(Connect::decode(r)?)),
            T::ConnAck => Packet::ConnAck(Box::new(ConnAck::decode(version, r)?)),
            T::Publish => Packet::Publish(Publish::decode(flags, version, r)?),
            T::PubAck => Packet::PubAck(PubAck::decode(version, r)?),
            T::PubRec => Packet::PubRec(PubRec::decode(version, r)?),
            T::PubRel => Packet::PubRel(PubRel::decode(version, r)?),
            T::PubComp => Packet::PubComp(PubComp::decode(version, r)?),
            T::Subscribe => Packet::Subscribe(Subscribe::decode(version, r)?),
            T::SubAck => Packet::SubAck(SubAck::decode(version, r)?),
            T::Unsubscribe => Packet::Unsubscribe(Unsubscribe::decode(version, r)?),
            T::UnsubAck => Packet::UnsubAck(UnsubAck::decode(version, r)?),
            T::PingReq | T::PingResp => {
                if !r.is_empty() {
                    return Err(DecodeError::Malformed("PINGREQ/PINGRESP with a body"));
                }
                if self.packet_type == T::PingReq {
                    Packet::PingReq
                } else {
                    Packet::PingResp
                }
            }
            T::Disconnect => Packet::Disconnect(Disconnect::decode(version, r)?),
            T::Auth => {
                if !version.is_v5() {
                    return Err(DecodeError::Malformed(
                        "reserved packet type 15 before MQTT 5",
                    ));
                }
                Packet::Auth(Auth::decode(r)?)
            }
        })
    }
}

/// Fixed-header flags of every type but PUBLISH (v5 [MQTT-2.1.3-1], v3.1.1 [MQTT-2.2.2-1],
/// [MQTT-2.2.2-2]).
fn check_flags(t: PacketType, flags: u8, version: ProtocolVersion) -> Result<(), DecodeError> {
    let expected = match t {
        PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
        _ => 0,
    };
    // MQTT 3.1 set DUP on retransmitted PUBREL, SUBSCRIBE and UNSUBSCRIBE; accept it there.
    let lenient = version == ProtocolVersion::V3_1 && expected == 0b0010 && flags == 0b1010;
    if flags != expected && !lenient {
        return Err(DecodeError::Malformed("invalid fixed header flags"));
    }
    Ok(())
}

/// Refuses an MQTT 5-only meaning for a 3.x peer.
pub(crate) fn unsupported(version: ProtocolVersion, what: &'static str) -> EncodeError {
    EncodeError::UnsupportedByVersion { version, what }
}
