//! CONNACK (v5 §3.2, v3.1.1 §3.2).

use super::{unsupported, Body, PacketType};
use crate::{
    error::{DecodeError, EncodeError},
    io::{Reader, Writer},
    properties::{ConnAckProperties, Properties},
    ProtocolVersion, ReasonCode,
};

/// A CONNACK packet: the server's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Session Present. Always false in MQTT 3.1, which has no such flag.
    pub session_present: bool,
    /// The reason code; MQTT 3.x return codes are mapped to and from it (see
    /// [`ReasonCode::to_v3_connack_return_code`]).
    pub reason_code: ReasonCode,
    /// MQTT 5 properties; dropped when encoding for 3.x.
    pub properties: ConnAckProperties,
}

impl ConnAck {
    /// A CONNACK with `reason_code`, no session and no properties.
    pub fn new(reason_code: ReasonCode) -> ConnAck {
        ConnAck {
            session_present: false,
            reason_code,
            properties: ConnAckProperties::default(),
        }
    }

    pub(crate) fn decode(version: ProtocolVersion, r: &mut Reader) -> Result<ConnAck, DecodeError> {
        let flags = r.u8()?;
        let code = r.u8()?;
        let session_present = match version {
            // MQTT 3.1: the first byte is reserved.
            ProtocolVersion::V3_1 => false,
            _ => {
                // v5 [MQTT-3.2.2-1], v3.1.1 §3.2.2.1: bits 7-1 are reserved and must be 0.
                if flags & 0xFE != 0 {
                    return Err(DecodeError::Malformed("CONNACK reserved flags are set"));
                }
                flags & 0x01 != 0
            }
        };
        let (reason_code, properties) = if version.is_v5() {
            let rc = ReasonCode::from_u8(code)
                .filter(|rc| rc.is_valid_for(PacketType::ConnAck))
                .ok_or(DecodeError::Malformed("invalid CONNACK reason code"))?;
            // v5 §3.2.2.3.1 requires the Property Length, but mqttbytes (rumqtt) leaves it out
            // when there are no properties; read that as no properties, as before.
            let properties = if r.is_empty() {
                ConnAckProperties::default()
            } else {
                ConnAckProperties::decode(r)?
            };
            (rc, properties)
        } else {
            let rc = ReasonCode::from_v3_connack_return_code(code)
                .ok_or(DecodeError::Malformed("invalid CONNACK return code"))?;
            (rc, ConnAckProperties::default())
        };
        // v5 [MQTT-3.2.2-6], v3.1.1 [MQTT-3.2.2-4]: a refusal has Session Present 0.
        if session_present && reason_code != ReasonCode::Success {
            return Err(DecodeError::ProtocolError(
                "session present on a refused CONNACK",
            ));
        }
        Ok(ConnAck {
            session_present,
            reason_code,
            properties,
        })
    }
}

impl Body for ConnAck {
    fn first_byte(&self) -> u8 {
        0x20
    }

    fn write_body<W: Writer>(
        &self,
        version: ProtocolVersion,
        w: &mut W,
    ) -> Result<(), EncodeError> {
        let session_present = self.session_present && version != ProtocolVersion::V3_1;
        // v5 [MQTT-3.2.2-6], v3.1.1 [MQTT-3.2.2-4]: a refusal has Session Present 0.
        if session_present && self.reason_code != ReasonCode::Success {
            return Err(EncodeError::Invalid("session present on a refused CONNACK"));
        }
        w.put_u8(u8::from(session_present));
        if version.is_v5() {
            if !self.reason_code.is_valid_for(PacketType::ConnAck) {
                return Err(EncodeError::Invalid("reason code not valid for CONNACK"));
            }
            w.put_u8(self.reason_code.as_u8());
            self.properties.encode(w);
        } else {
            let code = self
                .reason_code
                .to_v3_connack_return_code()
                .ok_or_else(|| unsupported(version, "this CONNACK reason code"))?;
            w.put_u8(code);
        }
        Ok(())
    }
}
