//! CONNECT (v5 §3.1, v3.1.1 §3.1).

use super::{unsupported, Body};
use crate::{
    error::{DecodeError, EncodeError},
    io::{Reader, Writer},
    properties::{ConnectProperties, Properties, WillProperties},
    string::MqttStr,
    topic::TopicName,
    ProtocolVersion, QoS,
};
use bytes::Bytes;

/// A CONNECT packet: the first packet a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The protocol version the client speaks (protocol name and level).
    pub protocol: ProtocolVersion,
    /// Clean Start (v5) / Clean Session (v3).
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 turns the mechanism off.
    pub keep_alive: u16,
    /// The Client Identifier; may be empty (the server then assigns one or refuses).
    pub client_id: MqttStr,
    /// The Will Message, if any.
    pub will: Option<Will>,
    /// User Name.
    pub username: Option<MqttStr>,
    /// Password (binary data).
    pub password: Option<Bytes>,
    /// MQTT 5 properties; dropped when encoding for 3.x.
    pub properties: ConnectProperties,
}

/// The Will Message of a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Will Topic.
    pub topic: TopicName,
    /// Will Payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// MQTT 5 will properties; dropped when encoding for 3.x.
    pub properties: WillProperties,
}

impl Will {
    /// A will without RETAIN and without properties.
    pub fn new(topic: TopicName, payload: impl Into<Bytes>, qos: QoS) -> Will {
        Will {
            topic,
            payload: payload.into(),
            qos,
            retain: false,
            properties: WillProperties::default(),
        }
    }
}

impl Connect {
    /// A CONNECT with the given version and client id, clean start, keep alive 60 s, and nothing
    /// else.
    pub fn new(protocol: ProtocolVersion, client_id: MqttStr) -> Connect {
        Connect {
            protocol,
            clean_start: true,
            keep_alive: 60,
            client_id,
            will: None,
            username: None,
            password: None,
            properties: ConnectProperties::default(),
        }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Connect, DecodeError> {
        let name = r.binary()?;
        let level = r.u8()?;
        // v5 [MQTT-3.1.2-1], v3.1.1 [MQTT-3.1.2-1], v3.1.1 [MQTT-3.1.2-2]: an unknown name or
        // level is answered with "unsupported protocol version", then the connection closes.
        let protocol = ProtocolVersion::from_name_and_level(&name, level)
            .ok_or(DecodeError::UnsupportedProtocolVersion { level })?;
        let flags = r.u8()?;
        // v5 [MQTT-3.1.2-3], v3.1.1 [MQTT-3.1.2-3]: the reserved flag must be 0.
        if flags & 0x01 != 0 {
            return Err(DecodeError::Malformed("CONNECT reserved flag is set"));
        }
        let clean_start = flags & 0x02 != 0;
        let will_flag = flags & 0x04 != 0;
        let will_qos = (flags >> 3) & 0x03;
        let will_retain = flags & 0x20 != 0;
        let has_password = flags & 0x40 != 0;
        let has_username = flags & 0x80 != 0;
        // v5 [MQTT-3.1.2-12], v3.1.1 [MQTT-3.1.2-14]: will QoS 3 is invalid.
        let will_qos = QoS::from_u8(will_qos).ok_or(DecodeError::Malformed("will QoS is 3"))?;
        // v5 [MQTT-3.1.2-11], v5 [MQTT-3.1.2-13]; v3.1.1 [MQTT-3.1.2-13], v3.1.1 [MQTT-3.1.2-15]: without
        // a will, will QoS and will retain must be 0.
        if !will_flag && (will_qos != QoS::AtMostOnce || will_retain) {
            return Err(DecodeError::Malformed(
                "will QoS or retain set without a will",
            ));
        }
        // v3.1.1 [MQTT-3.1.2-22]: no password without a user name (MQTT 5 allows it).
        if !protocol.is_v5() && has_password && !has_username {
            return Err(DecodeError::Malformed(
                "password flag set without user name flag",
            ));
        }
        let keep_alive = r.u16()?;
        let properties = if protocol.is_v5() {
            ConnectProperties::decode(r)?
        } else {
            ConnectProperties::default()
        };
        // v5 [MQTT-3.1.3-3], v3.1.1 [MQTT-3.1.3-3]: the client id comes first in the payload.
        let client_id = r.string()?;
        let will = if will_flag {
            let properties = if protocol.is_v5() {
                WillProperties::decode(r)?
            } else {
                WillProperties::default()
            };
            let topic = TopicName::from_mqtt_str(r.string()?).map_err(|_| {
                DecodeError::TopicNameInvalid("will topic is not a valid topic name")
            })?;
            let payload = r.binary()?;
            Some(Will {
                topic,
                payload,
                qos: will_qos,
                retain: will_retain,
                properties,
            })
        } else {
            None
        };
        let username = if has_username {
            Some(r.string()?)
        } else {
            None
        };
        let password = if has_password {
            Some(r.binary()?)
        } else {
            None
        };
        Ok(Connect {
            protocol,
            clean_start,
            keep_alive,
            client_id,
            will,
            username,
            password,
            properties,
        })
    }
}

impl Body for Connect {
    fn first_byte(&self) -> u8 {
        0x10
    }

    fn write_body<W: Writer>(&self, _: ProtocolVersion, w: &mut W) -> Result<(), EncodeError> {
        let version = self.protocol;
        if !version.is_v5() && self.password.is_some() && self.username.is_none() {
            return Err(unsupported(version, "a password without a user name"));
        }
        w.put_binary(version.protocol_name().as_bytes());
        w.put_u8(version.level());
        let mut flags = 0u8;
        if self.clean_start {
            flags |= 0x02;
        }
        if let Some(will) = &self.will {
            flags |= 0x04 | (will.qos.as_u8() << 3);
            if will.retain {
                flags |= 0x20;
            }
        }
        if self.password.is_some() {
            flags |= 0x40;
        }
        if self.username.is_some() {
            flags |= 0x80;
        }
        w.put_u8(flags);
        w.put_u16(self.keep_alive);
        if version.is_v5() {
            self.properties.encode(w);
        }
        w.put_binary(self.client_id.as_bytes());
        if let Some(will) = &self.will {
            if version.is_v5() {
                will.properties.encode(w);
            }
            w.put_binary(will.topic.as_bytes());
            w.put_binary(&will.payload);
        }
        if let Some(username) = &self.username {
            w.put_binary(username.as_bytes());
        }
        if let Some(password) = &self.password {
            w.put_binary(password);
        }
        Ok(())
    }
}
