//! SUBSCRIBE and SUBACK (v5 §3.8–3.9, v3.1.1 §3.8–3.9).

use super::{properties_len, unsupported, Body, PacketType};
use crate::{
    error::{DecodeError, EncodeError},
    io::{Reader, Writer, MAX_VARINT},
    properties::{AckProperties, Properties, SubscribeProperties},
    topic::TopicFilter,
    PacketId, ProtocolVersion, QoS, ReasonCode,
};

/// Retain Handling subscription option (v5 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe,
    /// 1: send retained messages only if the subscription does not already exist.
    SendAtSubscribeIfNew,
    /// 2: do not send retained messages at the time of the subscribe.
    DoNotSend,
}

/// The options of one subscription (v5 §3.8.3.1). MQTT 3.x carries only the QoS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SubscriptionOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local: do not send the client its own publications.
    pub no_local: bool,
    /// Retain As Published: keep the RETAIN flag when forwarding.
    pub retain_as_published: bool,
    /// Retain Handling.
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with `qos` and every MQTT 5 option at its default.
    pub fn new(qos: QoS) -> SubscriptionOptions {
        SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        }
    }

    fn decode(byte: u8, version: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
        let qos = QoS::from_u8(byte & 0x03).ok_or(if version.is_v5() {
            // v5 §3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3."
            DecodeError::ProtocolError("subscription QoS is 3")
        } else {
            // v3.1.1 [MQTT-3.8.3-4]: malformed.
            DecodeError::Malformed("subscription QoS is 3")
        })?;
        if !version.is_v5() {
            // v3.1.1 [MQTT-3.8.3-4]: the upper six bits are reserved and must be 0.
            if byte & 0xFC != 0 {
                return Err(DecodeError::Malformed("reserved bits set in requested QoS"));
            }
            return Ok(SubscriptionOptions::new(qos));
        }
        // v5 [MQTT-3.8.3-5]: bits 6 and 7 are reserved and must be 0.
        if byte & 0xC0 != 0 {
            return Err(DecodeError::Malformed(
                "reserved bits set in subscription options",
            ));
        }
        let retain_handling = match (byte >> 4) & 0x03 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendAtSubscribeIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(DecodeError::ProtocolError("retain handling is 3")),
        };
        Ok(SubscriptionOptions {
            qos,
            no_local: byte & 0x04 != 0,
            retain_as_published: byte & 0x08 != 0,
            retain_handling,
        })
    }

    fn encode(&self, version: ProtocolVersion) -> Result<u8, EncodeError> {
        if !version.is_v5() {
            if *self != SubscriptionOptions::new(self.qos) {
                return Err(unsupported(version, "MQTT 5 subscription options"));
            }
            return Ok(self.qos.as_u8());
        }
        let rh = match self.retain_handling {
            RetainHandling::SendAtSubscribe => 0,
            RetainHandling::SendAtSubscribeIfNew => 1,
            RetainHandling::DoNotSend => 2,
        };
        Ok(self.qos.as_u8()
            | (u8::from(self.no_local) << 2)
            | (u8::from(self.retain_as_published) << 3)
            | (rh << 4))
    }
}

pub(super) fn read_packet_id(r: &mut Reader) -> Result<PacketId, DecodeError> {
    // v5 [MQTT-2.2.1-3], v3.1.1 [MQTT-2.3.1-1]: non-zero packet identifier.
    PacketId::new(r.u16()?).ok_or(DecodeError::ProtocolError("packet identifier is 0"))
}

pub(super) fn read_filter(r: &mut Reader) -> Result<TopicFilter, DecodeError> {
    // One scan validates it as a string and as a filter.
    TopicFilter::from_bytes(r.binary()?).map_err(|e| {
        use crate::string::StringError;
        use crate::topic::TopicError as E;
        DecodeError::TopicFilterInvalid(match e {
            E::String(StringError::ContainsNull) => {
                return DecodeError::Malformed("UTF-8 string contains U+0000")
            }
            E::String(_) => return DecodeError::Malformed("string is not well-formed UTF-8"),
            E::Empty => "empty topic filter",
            E::MisplacedMultiLevelWildcard => "'#' not alone in the last level",
            E::MisplacedSingleLevelWildcard => "'+' not alone in its level",
            E::InvalidShare => "malformed $share filter",
            _ => "invalid topic filter",
        })
    })
}

/// A SUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// Topic filters with their options, at least one.
    pub filters: Vec<(TopicFilter, SubscriptionOptions)>,
    /// MQTT 5 properties.
    pub properties: SubscribeProperties,
}

impl Subscribe {
    pub(crate) fn decode(
        version: ProtocolVersion,
        r: &mut Reader,
    ) -> Result<Subscribe, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = if version.is_v5() {
            SubscribeProperties::decode(r)?
        } else {
            SubscribeProperties::default()
        };
        // Room for the filters the rest could hold (each takes at least 4 bytes), at most 16 up
        // front: no regrowth for the usual few, and no allocation sized by the peer.
        let mut filters = Vec::with_capacity((r.remaining() / 4).min(16));
        while !r.is_empty() {
            let filter = read_filter(r)?;
            let options = SubscriptionOptions::decode(r.u8()?, version)?;
            // v5 [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error.
            if options.no_local && filter.is_shared() {
                return Err(DecodeError::ProtocolError(
                    "no local set on a shared subscription",
                ));
            }
            filters.push((filter, options));
        }
        // v5 [MQTT-3.8.3-2], v3.1.1 [MQTT-3.8.3-3]: at least one filter.
        if filters.is_empty() {
            return Err(DecodeError::ProtocolError(
                "SUBSCRIBE without topic filters",
            ));
        }
        Ok(Subscribe {
            packet_id,
            filters,
            properties,
        })
    }
}

impl Body for Subscribe {
    fn first_byte(&self) -> u8 {
        0x82
    }

    fn write_body<W: Writer>(
        &self,
        version: ProtocolVersion,
        w: &mut W,
    ) -> Result<(), EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::Invalid("SUBSCRIBE without topic filters"));
        }
        w.put_u16(self.packet_id.get());
        if version.is_v5() {
            self.properties.encode(w);
        } else if self.properties.subscription_identifier.is_some() {
            return Err(unsupported(version, "a subscription identifier"));
        }
        for (filter, options) in &self.filters {
            w.put_binary(filter.as_mqtt_str().as_bytes());
            w.put_u8(options_byte(filter, options, version)?);
        }
        Ok(())
    }

    /// A direct sum (a SUBSCRIBE may hold many filters, and a counting pass costs as much as
    /// writing them), with the same checks as `write_body`.
    fn remaining_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::Invalid("SUBSCRIBE without topic filters"));
        }
        let mut len = 2;
        if version.is_v5() {
            len += properties_len(&self.properties)?;
        } else if self.properties.subscription_identifier.is_some() {
            return Err(unsupported(version, "a subscription identifier"));
        }
        for (filter, options) in &self.filters {
            options_byte(filter, options, version)?;
            // A filter is an MQTT string: at most 65,535 bytes.
            len += 3 + filter.as_mqtt_str().as_bytes().len();
        }
        if len > MAX_VARINT as usize {
            return Err(EncodeError::TooLarge(len));
        }
        Ok(len)
    }
}

/// The options byte of one filter, refusing what cannot be sent.
#[inline]
fn options_byte(
    filter: &TopicFilter,
    options: &SubscriptionOptions,
    version: ProtocolVersion,
) -> Result<u8, EncodeError> {
    // v5 [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error.
    if options.no_local && filter.is_shared() {
        return Err(EncodeError::Invalid(
            "no local set on a shared subscription",
        ));
    }
    options.encode(version)
}

/// A SUBACK packet: one reason code per filter of the SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet identifier of the SUBSCRIBE.
    pub packet_id: PacketId,
    /// Granted QoS (0x00–0x02) or a failure, per filter in order.
    pub reason_codes: Vec<ReasonCode>,
    /// MQTT 5 properties; dropped when encoding for 3.x.
    pub properties: AckProperties,
}

impl SubAck {
    pub(crate) fn decode(version: ProtocolVersion, r: &mut Reader) -> Result<SubAck, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = if version.is_v5() {
            AckProperties::decode(r)?
        } else {
            AckProperties::default()
        };
        let mut reason_codes = Vec::new();
        while !r.is_empty() {
            let b = r.u8()?;
            let rc = if version.is_v5() {
                ReasonCode::from_u8(b).filter(|rc| rc.is_valid_for(PacketType::SubAck))
            } else {
                // v3.1.1 [MQTT-3.9.3-2]: only 0x00, 0x01, 0x02 and 0x80.
                match b {
                    0x00 => Some(ReasonCode::Success),
                    0x01 => Some(ReasonCode::GrantedQoS1),
                    0x02 => Some(ReasonCode::GrantedQoS2),
                    0x80 => Some(ReasonCode::UnspecifiedError),
                    _ => None,
                }
            };
            reason_codes.push(rc.ok_or(DecodeError::Malformed("invalid SUBACK reason code"))?);
        }
        if reason_codes.is_empty() {
            return Err(DecodeError::ProtocolError("SUBACK without reason codes"));
        }
        Ok(SubAck {
            packet_id,
            reason_codes,
            properties,
        })
    }
}

impl Body for SubAck {
    fn first_byte(&self) -> u8 {
        0x90
    }

    fn write_body<W: Writer>(
        &self,
        version: ProtocolVersion,
        w: &mut W,
    ) -> Result<(), EncodeError> {
        if self.reason_codes.is_empty() {
            return Err(EncodeError::Invalid("SUBACK without reason codes"));
        }
        w.put_u16(self.packet_id.get());
        if version.is_v5() {
            self.properties.encode(w);
        }
        for rc in &self.reason_codes {
            if !rc.is_valid_for(PacketType::SubAck) {
                return Err(EncodeError::Invalid("reason code not valid for SUBACK"));
            }
            // MQTT 3.x has one failure code, 0x80, for every refusal.
            let b = if !version.is_v5() && rc.is_error() {
                0x80
            } else {
                rc.as_u8()
            };
            w.put_u8(b);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{RetainHandling, Subscribe, SubscriptionOptions};
    use crate::packet::{counted_len, Body};
    use crate::properties::SubscribeProperties;
    use crate::{MqttStr, PacketId, ProtocolVersion, QoS, TopicFilter};
    use std::num::NonZeroU32;

    fn subscribe(filters: &[(&'static str, SubscriptionOptions)]) -> Subscribe {
        Subscribe {
            packet_id: PacketId::new(9).unwrap(),
            filters: filters
                .iter()
                .map(|&(f, o)| (TopicFilter::from_static(f).unwrap(), o))
                .collect(),
            properties: SubscribeProperties::default(),
        }
    }

    #[test]
    fn the_direct_length_agrees_with_the_counting_pass() {
        let v5_options = SubscriptionOptions {
            qos: QoS::ExactlyOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: RetainHandling::DoNotSend,
        };
        let shared = ("$share/g/a/+", SubscriptionOptions::new(QoS::AtLeastOnce));
        let plain = ("a/b/#", SubscriptionOptions::new(QoS::AtMostOnce));
        let mut cases = vec![
            // Valid in both versions.
            subscribe(&[plain]),
            subscribe(&[
                plain,
                shared,
                ("+", SubscriptionOptions::new(QoS::ExactlyOnce)),
            ]),
            // No filters: refused by both versions.
            subscribe(&[]),
            // MQTT 5 options: refused by 3.1.1 only.
            subscribe(&[plain, ("x", v5_options)]),
            // v5 [MQTT-3.8.3-4]: No Local on a shared subscription.
            subscribe(&[(shared.0, v5_options)]),
        ];
        // A subscription identifier: MQTT 5 only; above a variable byte integer: never.
        for sid in [7, 268_435_455, 268_435_456] {
            let mut s = subscribe(&[plain]);
            s.properties.subscription_identifier = NonZeroU32::new(sid);
            s.properties.user_properties = vec![(
                MqttStr::from_static("k").unwrap(),
                MqttStr::from_static("v").unwrap(),
            )];
            cases.push(s);
        }
        for s in &cases {
            for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
                assert_eq!(
                    s.remaining_len(version),
                    counted_len(s, version),
                    "{version:?} {s:?}"
                );
            }
        }
        // Every outcome above occurs: the comparison is not between two successes only.
        let outcomes = cases
            .iter()
            .flat_map(|s| {
                [ProtocolVersion::V3_1_1, ProtocolVersion::V5].map(|v| s.remaining_len(v))
            })
            .collect::<Vec<_>>();
        assert!(outcomes.iter().any(|r| r.is_ok()));
        assert!(outcomes.iter().filter(|r| r.is_err()).count() >= 6);
    }
}
