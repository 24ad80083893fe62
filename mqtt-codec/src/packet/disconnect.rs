//! DISCONNECT (v5 §3.14, v3.1.1 §3.14).

use super::{unsupported, Body, PacketType};
use crate::{
    error::{DecodeError, EncodeError},
    io::{Reader, Writer},
    properties::{DisconnectProperties, Properties},
    ProtocolVersion, ReasonCode,
};

/// A DISCONNECT packet. In MQTT 3.x it has no body and only a client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// The reason code (MQTT 5); Normal disconnection for 3.x.
    pub reason_code: ReasonCode,
    /// MQTT 5 properties; dropped when encoding for 3.x.
    pub properties: DisconnectProperties,
}

impl Disconnect {
    /// A DISCONNECT with `reason_code` and no properties.
    pub fn new(reason_code: ReasonCode) -> Disconnect {
        Disconnect {
            reason_code,
            properties: DisconnectProperties::default(),
        }
    }

    pub(crate) fn decode(
        version: ProtocolVersion,
        r: &mut Reader,
    ) -> Result<Disconnect, DecodeError> {
        // v3.1.1 [MQTT-3.14.1-1]: no body; the trailing-bytes check rejects one.
        // v5 §3.14.2.1: a remaining length of 0 means Normal disconnection.
        if !version.is_v5() || r.is_empty() {
            return Ok(Disconnect::default());
        }
        let reason_code = ReasonCode::from_u8(r.u8()?)
            .filter(|rc| rc.is_valid_for(PacketType::Disconnect))
            .ok_or(DecodeError::Malformed("invalid DISCONNECT reason code"))?;
        let properties = if r.is_empty() {
            DisconnectProperties::default()
        } else {
            DisconnectProperties::decode(r)?
        };
        Ok(Disconnect {
            reason_code,
            properties,
        })
    }
}

impl Body for Disconnect {
    fn first_byte(&self) -> u8 {
        0xE0
    }

    fn write_body<W: Writer>(
        &self,
        version: ProtocolVersion,
        w: &mut W,
    ) -> Result<(), EncodeError> {
        if !self.reason_code.is_valid_for(PacketType::Disconnect) {
            return Err(EncodeError::Invalid("reason code not valid for DISCONNECT"));
        }
        if !version.is_v5() {
            if self.reason_code != ReasonCode::Success {
                return Err(unsupported(version, "a DISCONNECT reason code"));
            }
            return Ok(());
        }
        let no_props = self.properties.is_empty();
        if self.reason_code == ReasonCode::Success && no_props {
            return Ok(());
        }
        // The property length is always written after a reason code, even when 0: v5 §3.14.2.2.1
        // allows leaving it out, but peers such as rumqttc 0.24 cannot read that short form.
        w.put_u8(self.reason_code.as_u8());
        self.properties.encode(w);
        Ok(())
    }
}
