//! Decode and encode errors, each mapped to the reason code the specification says to send.

use crate::ReasonCode;

/// Why bytes received from the network could not be decoded into a [`Packet`](crate::Packet).
///
/// Small and `Copy`: it carries a static description of the rule that was broken, never the
/// offending bytes. [`DecodeError::reason_code`] names the MQTT 5 reason code to send in the
/// CONNACK or DISCONNECT that closes the connection; for MQTT 3.x peers the connection is simply
/// closed (except for [`DecodeError::UnsupportedProtocolVersion`], answered with CONNACK return
/// code 0x01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes cannot be parsed as the specification describes (reason code 0x81).
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// The packet parses but breaks a protocol rule (reason code 0x82).
    #[error("protocol error: {0}")]
    ProtocolError(&'static str),
    /// The packet is larger than the maximum packet size (reason code 0x95).
    ///
    /// Reported from the fixed header alone, before the body is buffered.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Total size of the packet, fixed header included.
        size: usize,
        /// The limit in force.
        max: u32,
    },
    /// The CONNECT names a protocol name or level this codec does not speak (reason code 0x84).
    #[error("unsupported protocol version (level {level})")]
    UnsupportedProtocolVersion {
        /// The protocol level byte of the CONNECT.
        level: u8,
    },
    /// A PUBLISH topic name is not valid, for example it contains a wildcard (reason code 0x90).
    #[error("invalid topic name: {0}")]
    TopicNameInvalid(&'static str),
    /// A SUBSCRIBE or UNSUBSCRIBE topic filter is not valid (reason code 0x8F).
    #[error("invalid topic filter: {0}")]
    TopicFilterInvalid(&'static str),
    /// A PUBLISH carries a Topic Alias of 0 (reason code 0x94).
    #[error("invalid topic alias: {0}")]
    TopicAliasInvalid(&'static str),
}

impl DecodeError {
    /// The MQTT 5 reason code to send before closing the connection.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            DecodeError::Malformed(_) => ReasonCode::MalformedPacket,
            DecodeError::ProtocolError(_) => ReasonCode::ProtocolError,
            DecodeError::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            DecodeError::UnsupportedProtocolVersion { .. } => {
                ReasonCode::UnsupportedProtocolVersion
            }
            DecodeError::TopicNameInvalid(_) => ReasonCode::TopicNameInvalid,
            DecodeError::TopicFilterInvalid(_) => ReasonCode::TopicFilterInvalid,
            DecodeError::TopicAliasInvalid(_) => ReasonCode::TopicAliasInvalid,
        }
    }
}

/// Why a [`Packet`](crate::Packet) could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The packet carries meaning that the target protocol version cannot express (an AUTH
    /// packet, a failure reason code, non-default subscription options for MQTT 3.x…).
    ///
    /// Purely informational MQTT 5 data (user properties, reason strings, content type…) is
    /// silently dropped for a 3.x peer instead.
    #[error("cannot be expressed in {version}: {what}")]
    UnsupportedByVersion {
        /// The version the packet was being encoded for.
        version: crate::ProtocolVersion,
        /// What could not be expressed.
        what: &'static str,
    },
    /// The packet would exceed the largest remaining length MQTT can frame (268,435,455 bytes).
    #[error("packet body of {0} bytes exceeds the MQTT maximum remaining length")]
    TooLarge(usize),
    /// A field breaks a rule the encoder refuses to emit (for example a PUBLISH with an empty topic
    /// and no topic alias).
    #[error("invalid packet: {0}")]
    Invalid(&'static str),
}
