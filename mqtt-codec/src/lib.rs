//! A sans-IO encoder and decoder for every packet of MQTT 3.1, 3.1.1 and 5.0.
//!
//! `starling-codec` turns bytes into [`Packet`]s and back. It does no I/O, reads no clock and
//! spawns nothing, so it fits any runtime or none. It is strict: anything the specifications
//! forbid is refused with a [`DecodeError`] that names the reason code to send, and no input can
//! make it panic or allocate more than the bytes it was given.
//!
//! - One packet model serves all versions (the MQTT 5 superset); encode and decode take a
//!   [`ProtocolVersion`].
//! - Types carry the invariants: [`PacketId`] is never zero, [`QosPid`] ties a QoS to its packet
//!   identifier, [`TopicName`], [`TopicFilter`] and [`MqttStr`] are validated.
//! - Decoding is zero-copy: payloads, topics and strings share the receive buffer.
//! - With the `serde` feature, the types a session state holds (PUBLISH, its properties, QoS,
//!   packet identifiers, validated strings, subscription options) implement `Serialize` and
//!   `Deserialize`; deserializing validates like decoding does.
//!
//! # Example
//!
//! Decode a stream of bytes as a server would, then encode an answer:
//!
//! ```
//! use bytes::BytesMut;
//! use starling_codec::{ConnAck, Decoder, Packet, ProtocolVersion, ReasonCode, MAX_PACKET_SIZE};
//!
//! // A v3.1.1 CONNECT (client id "a") followed by a PINGREQ, arriving in two pieces.
//! let wire = b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01a\xc0\x00";
//! let mut decoder = Decoder::server(MAX_PACKET_SIZE);
//! let mut buf = BytesMut::from(&wire[..5]);
//! assert_eq!(decoder.decode(&mut buf)?, None); // not a whole packet yet
//! buf.extend_from_slice(&wire[5..]);
//!
//! let Some(Packet::Connect(connect)) = decoder.decode(&mut buf)? else { panic!("not CONNECT") };
//! assert_eq!(connect.client_id, "a");
//! assert_eq!(decoder.version(), Some(ProtocolVersion::V3_1_1));
//! assert_eq!(decoder.decode(&mut buf)?, Some(Packet::PingReq));
//!
//! let mut out = BytesMut::new();
//! Packet::ConnAck(Box::new(ConnAck::new(ReasonCode::Success)))
//!     .encode(ProtocolVersion::V3_1_1, &mut out)?;
//! assert_eq!(&out[..], b"\x20\x02\x00\x00");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Versions
//!
//! Encoding for MQTT 3.x drops purely informational MQTT 5 data (properties such as user
//! properties, reason strings, content type) and refuses with [`EncodeError::UnsupportedByVersion`]
//! what would change the meaning (AUTH, failure reason codes, MQTT 5 subscription options, a
//! PUBLISH known only by its topic alias).

#![forbid(unsafe_code)]

mod decoder;
mod error;
mod io;
mod packet;
mod properties;
mod qos;
mod reason;
#[cfg(feature = "serde")]
mod serde_impls;
mod string;
mod topic;
mod version;

/// Fuzzing entry points, called by the cargo-fuzz targets in `fuzz/` and replayed over the
/// checked-in corpus by `cargo test`. Not part of the public API.
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;

pub use decoder::{Decoder, Role, MAX_PACKET_SIZE};
pub use error::{DecodeError, EncodeError};
pub use io::MAX_VARINT;
pub use packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PacketType, PubAck, PubComp, PubRec, PubRel,
    Publish, PublishParts, RetainHandling, SubAck, Subscribe, SubscriptionOptions, UnsubAck,
    Unsubscribe, Will,
};
pub use properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PayloadFormat, PublishProperties, SubscribeProperties, UnsubscribeProperties, UserProperties,
    WillProperties,
};
pub use qos::{PacketId, QoS, QosPid};
pub use reason::ReasonCode;
pub use string::{MqttStr, StringError, MAX_STRING_LEN};
pub use topic::{TopicError, TopicFilter, TopicName};
pub use version::ProtocolVersion;
