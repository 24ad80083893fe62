//! AUTH (v5 §3.15): MQTT 5 only.

use super::{unsupported, Body, PacketType};
use crate::{
    error::{DecodeError, EncodeError},
    io::{Reader, Writer},
    properties::{AuthProperties, Properties},
    ProtocolVersion, ReasonCode,
};

/// An AUTH packet: a step of enhanced authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// Success (0x00), Continue authentication (0x18) or Re-authenticate (0x19).
    pub reason_code: ReasonCode,
    /// Properties: authentication method and data, reason string, user properties.
    pub properties: AuthProperties,
}

impl Auth {
    pub(crate) fn decode(r: &mut Reader) -> Result<Auth, DecodeError> {
        // v5 §3.15.2.1: a remaining length of 0 means Success and no properties.
        if r.is_empty() {
            return Ok(Auth {
                reason_code: ReasonCode::Success,
                properties: AuthProperties::default(),
            });
        }
        let reason_code = ReasonCode::from_u8(r.u8()?)
            .filter(|rc| rc.is_valid_for(PacketType::Auth))
            .ok_or(DecodeError::Malformed("invalid AUTH reason code"))?;
        // v5 §3.15.2.1 allows omitting the reason code and property length together only;
        // after a reason code, no properties is a property length of 0 (v5 [MQTT-2.2.2-1]).
        let properties = AuthProperties::decode(r)?;
        Ok(Auth {
            reason_code,
            properties,
        })
    }
}

impl Body for Auth {
    fn first_byte(&self) -> u8 {
        0xF0
    }

    fn write_body<W: Writer>(
        &self,
        version: ProtocolVersion,
        w: &mut W,
    ) -> Result<(), EncodeError> {
        if !version.is_v5() {
            return Err(unsupported(version, "AUTH"));
        }
        if !self.reason_code.is_valid_for(PacketType::Auth) {
            return Err(EncodeError::Invalid("reason code not valid for AUTH"));
        }
        if self.reason_code == ReasonCode::Success && self.properties.is_empty() {
            return Ok(());
        }
        w.put_u8(self.reason_code.as_u8());
        self.properties.encode(w);
        Ok(())
    }
}
