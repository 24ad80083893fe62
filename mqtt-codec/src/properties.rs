//! MQTT 5 properties (v5 §2.2.2): one plain struct per packet, `Default` meaning "none".
//!
//! Each struct accepts exactly the properties its packet allows. On decode an identifier not
//! allowed for the packet is a Malformed Packet (v5 §2.2.2.2), a repeated single-valued property
//! or an out-of-range value is a Protocol Error, as the property definitions in v5 §3 say.

use crate::{
    error::DecodeError,
    io::{Reader, Writer},
    string::MqttStr,
    topic::TopicName,
    QoS,
};
use bytes::Bytes;
use std::num::{NonZeroU16, NonZeroU32};

/// An ordered list of user properties (name, value); names may repeat (v5 §3.1.2.11.8).
pub type UserProperties = Vec<(MqttStr, MqttStr)>;

/// The Payload Format Indicator (v5 §3.3.2.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PayloadFormat {
    /// 0: unspecified bytes.
    Unspecified,
    /// 1: UTF-8 encoded character data.
    Utf8,
}

mod id {
    pub(super) const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub(super) const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub(super) const CONTENT_TYPE: u8 = 0x03;
    pub(super) const RESPONSE_TOPIC: u8 = 0x08;
    pub(super) const CORRELATION_DATA: u8 = 0x09;
    pub(super) const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub(super) const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub(super) const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub(super) const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub(super) const AUTHENTICATION_METHOD: u8 = 0x15;
    pub(super) const AUTHENTICATION_DATA: u8 = 0x16;
    pub(super) const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub(super) const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub(super) const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub(super) const RESPONSE_INFORMATION: u8 = 0x1A;
    pub(super) const SERVER_REFERENCE: u8 = 0x1C;
    pub(super) const REASON_STRING: u8 = 0x1F;
    pub(super) const RECEIVE_MAXIMUM: u8 = 0x21;
    pub(super) const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub(super) const TOPIC_ALIAS: u8 = 0x23;
    pub(super) const MAXIMUM_QOS: u8 = 0x24;
    pub(super) const RETAIN_AVAILABLE: u8 = 0x25;
    pub(super) const USER_PROPERTY: u8 = 0x26;
    pub(super) const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub(super) const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub(super) const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub(super) const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

const DUPLICATE: DecodeError = DecodeError::ProtocolError("property included more than once");
const NOT_ALLOWED: DecodeError =
    DecodeError::Malformed("property identifier not valid for this packet");

/// Reads a property block: its length, then `apply(id, reader)` for each property.
fn read_block(
    r: &mut Reader,
    mut apply: impl FnMut(u8, &mut Reader) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let len = r.varint()? as usize;
    if len == 0 {
        // The common case; spares slicing (and reference counting) an empty block.
        return Ok(());
    }
    let mut block = r.sub(len)?;
    while !block.is_empty() {
        let id = block.varint()?;
        let id = u8::try_from(id).map_err(|_| NOT_ALLOWED)?;
        apply(id, &mut block)?;
    }
    Ok(())
}

fn set<T>(slot: &mut Option<T>, value: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DUPLICATE);
    }
    *slot = Some(value);
    Ok(())
}

fn read_bool(r: &mut Reader, what: &'static str) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::ProtocolError(what)),
    }
}

fn read_user_property(r: &mut Reader, list: &mut UserProperties) -> Result<(), DecodeError> {
    let k = r.string()?;
    let v = r.string()?;
    list.push((k, v));
    Ok(())
}

fn read_response_topic(r: &mut Reader) -> Result<TopicName, DecodeError> {
    // v5 [MQTT-3.3.2-14]: the Response Topic is a topic name: no wildcards.
    TopicName::from_mqtt_str(r.string()?)
        .map_err(|_| DecodeError::ProtocolError("response topic is not a valid topic name"))
}

fn read_payload_format(r: &mut Reader) -> Result<PayloadFormat, DecodeError> {
    match r.u8()? {
        0 => Ok(PayloadFormat::Unspecified),
        1 => Ok(PayloadFormat::Utf8),
        _ => Err(DecodeError::ProtocolError(
            "payload format indicator not 0 or 1",
        )),
    }
}

fn read_nonzero_u16(r: &mut Reader, what: &'static str) -> Result<NonZeroU16, DecodeError> {
    NonZeroU16::new(r.u16()?).ok_or(DecodeError::ProtocolError(what))
}

fn read_nonzero_u32(r: &mut Reader, what: &'static str) -> Result<NonZeroU32, DecodeError> {
    NonZeroU32::new(r.u32()?).ok_or(DecodeError::ProtocolError(what))
}

fn read_subscription_id(r: &mut Reader) -> Result<NonZeroU32, DecodeError> {
    // v5 §3.3.2.3.8: a value of 0 is a Protocol Error.
    NonZeroU32::new(r.varint()?).ok_or(DecodeError::ProtocolError("subscription identifier is 0"))
}

// Writing helpers: each writes nothing for an absent property.

fn w_u8<W: Writer>(w: &mut W, id: u8, v: Option<u8>) {
    if let Some(v) = v {
        w.put_u8(id);
        w.put_u8(v);
    }
}

fn w_bool<W: Writer>(w: &mut W, id: u8, v: Option<bool>) {
    w_u8(w, id, v.map(u8::from));
}

fn w_u16<W: Writer>(w: &mut W, id: u8, v: Option<u16>) {
    if let Some(v) = v {
        w.put_u8(id);
        w.put_u16(v);
    }
}

fn w_u32<W: Writer>(w: &mut W, id: u8, v: Option<u32>) {
    if let Some(v) = v {
        w.put_u8(id);
        w.put_u32(v);
    }
}

fn w_str<W: Writer>(w: &mut W, id: u8, v: Option<&MqttStr>) {
    if let Some(v) = v {
        w.put_u8(id);
        w.put_binary(v.as_bytes());
    }
}

fn w_bin<W: Writer>(w: &mut W, id: u8, v: Option<&Bytes>) {
    if let Some(v) = v {
        w.put_u8(id);
        w.put_binary(v);
    }
}

fn w_users<W: Writer>(w: &mut W, list: &UserProperties) {
    for (k, v) in list {
        w.put_u8(id::USER_PROPERTY);
        w.put_binary(k.as_bytes());
        w.put_binary(v.as_bytes());
    }
}

fn w_payload_format<W: Writer>(w: &mut W, v: Option<PayloadFormat>) {
    w_u8(
        w,
        id::PAYLOAD_FORMAT_INDICATOR,
        v.map(|f| match f {
            PayloadFormat::Unspecified => 0,
            PayloadFormat::Utf8 => 1,
        }),
    );
}

/// Common behaviour of the per-packet property structs.
pub(crate) trait Properties: Default {
    fn read_one(&mut self, id: u8, r: &mut Reader) -> Result<(), DecodeError>;
    fn write<W: Writer>(&self, w: &mut W);

    /// Decodes a property block (length prefix included).
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        read_block(r, |id, r| p.read_one(id, r))?;
        Ok(p)
    }

    /// The encoded size of the properties, without the length prefix.
    fn body_len(&self) -> usize {
        let mut c = crate::io::Counter::default();
        self.write(&mut c);
        c.len
    }

    /// Encodes the property block with its length prefix.
    fn encode<W: Writer>(&self, w: &mut W) {
        w.put_properties(self);
    }
}

/// Properties of a CONNECT packet (v5 §3.1.2.11).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConnectProperties {
    /// Session Expiry Interval in seconds (0x11).
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum (0x21); 0 is a Protocol Error.
    pub receive_maximum: Option<NonZeroU16>,
    /// Maximum Packet Size (0x27); 0 is a Protocol Error.
    pub maximum_packet_size: Option<NonZeroU32>,
    /// Topic Alias Maximum (0x22).
    pub topic_alias_maximum: Option<u16>,
    /// Request Response Information (0x19).
    pub request_response_information: Option<bool>,
    /// Request Problem Information (0x17).
    pub request_problem_information: Option<bool>,
    /// User Properties (0x26).
    pub user_properties: UserProperties,
    /// Authentication Method (0x15).
    pub authentication_method: Option<MqttStr>,
    /// Authentication Data (0x16).
    pub authentication_data: Option<Bytes>,
}

impl Properties for ConnectProperties {
    fn read_one(&mut self, pid: u8, r: &mut Reader) -> Result<(), DecodeError> {
        match pid {
            id::SESSION_EXPIRY_INTERVAL => set(&mut self.session_expiry_interval, r.u32()?),
            id::RECEIVE_MAXIMUM => set(
                &mut self.receive_maximum,
                read_nonzero_u16(r, "receive maximum is 0")?,
            ),
            id::MAXIMUM_PACKET_SIZE => set(
                &mut self.maximum_packet_size,
                read_nonzero_u32(r, "maximum packet size is 0")?,
            ),
            id::TOPIC_ALIAS_MAXIMUM => set(&mut self.topic_alias_maximum, r.u16()?),
            id::REQUEST_RESPONSE_INFORMATION => set(
                &mut self.request_response_information,
                read_bool(r, "request response information not 0 or 1")?,
            ),
            id::REQUEST_PROBLEM_INFORMATION => set(
                &mut self.request_problem_information,
                read_bool(r, "request problem information not 0 or 1")?,
            ),
            id::USER_PROPERTY => read_user_property(r, &mut self.user_properties),
            id::AUTHENTICATION_METHOD => set(&mut self.authentication_method, r.string()?),
            id::AUTHENTICATION_DATA => set(&mut self.authentication_data, r.binary()?),
            _ => Err(NOT_ALLOWED),
        }
    }

    fn write<W: Writer>(&self, w: &mut W) {
        w_u32(w, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        w_u16(
            w,
            id::RECEIVE_MAXIMUM,
            self.receive_maximum.map(NonZeroU16::get),
        );
        w_u32(
            w,
            id::MAXIMUM_PACKET_SIZE,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
        w_u16(w, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        w_bool(
            w,
            id::REQUEST_RESPONSE_INFORMATION,
            self.request_response_information,
        );
        w_bool(
            w,
            id::REQUEST_PROBLEM_INFORMATION,
            self.request_problem_information,
        );
        w_users(w, &self.user_properties);
        w_str(
            w,
            id::AUTHENTICATION_METHOD,
            self.authentication_method.as_ref(),
        );
        w_bin(
            w,
            id::AUTHENTICATION_DATA,
            self.authentication_data.as_ref(),
        );
    }
}

/// Properties of the Will Message in a CONNECT payload (v5 §3.1.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WillProperties {
    /// Will Delay Interval in seconds (0x18).
    pub will_delay_interval: Option<u32>,
    /// Payload Format Indicator (0x01).
    pub payload_format_indicator: Option<PayloadFormat>,
    /// Message Expiry Interval in seconds (0x02).
    pub message_expiry_interval: Option<u32>,
    /// Content Type (0x03).
    pub content_type: Option<MqttStr>,
    /// Response Topic (0x08).
    pub response_topic: Option<TopicName>,
    /// Correlation Data (0x09).
    pub correlation_data: Option<Bytes>,
    /// User Properties (0x26).
    pub user_properties: UserProperties,
}

impl Properties for WillProperties {
    fn read_one(&mut self, pid: u8, r: &mut Reader) -> Result<(), DecodeError> {
        match pid {
            id::WILL_DELAY_INTERVAL => set(&mut self.will_delay_interval, r.u32()?),
            id::PAYLOAD_FORMAT_INDICATOR => {
                set(&mut self.payload_format_indicator, read_payload_format(r)?)
            }
            id::MESSAGE_EXPIRY_INTERVAL => set(&mut self.message_expiry_interval, r.u32()?),
            id::CONTENT_TYPE => set(&mut self.content_type, r.string()?),
            id::RESPONSE_TOPIC => set(&mut self.response_topic, read_response_topic(r)?),
            id::CORRELATION_DATA => set(&mut self.correlation_data, r.binary()?),
            id::USER_PROPERTY => read_user_property(r, &mut self.user_properties),
            _ => Err(NOT_ALLOWED),
        }
    }

    fn write<W: Writer>(&self, w: &mut W) {
        w_u32(w, id::WILL_DELAY_INTERVAL, self.will_delay_interval);
        w_payload_format(w, self.payload_format_indicator);
        w_u32(w, id::MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        w_str(w, id::CONTENT_TYPE, self.content_type.as_ref());
        w_str(
            w,
            id::RESPONSE_TOPIC,
            self.response_topic.as_ref().map(TopicName::as_mqtt_str),
        );
        w_bin(w, id::CORRELATION_DATA, self.correlation_data.as_ref());
        w_users(w, &self.user_properties);
    }
}

/// Properties of a CONNACK packet (v5 §3.2.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConnAckProperties {
    /// Session Expiry Interval in seconds (0x11).
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum (0x21).
    pub receive_maximum: Option<NonZeroU16>,
    /// Maximum QoS (0x24): only QoS 0 or 1 may be sent; absent means 2.
    pub maximum_qos: Option<QoS>,
    /// Retain Available (0x25).
    pub retain_available: Option<bool>,
    /// Maximum Packet Size (0x27).
    pub maximum_packet_size: Option<NonZeroU32>,
    /// Assigned Client Identifier (0x12).
    pub assigned_client_identifier: Option<MqttStr>,
    /// Topic Alias Maximum (0x22).
    pub topic_alias_maximum: Option<u16>,
    /// Reason String (0x1F).
    pub reason_string: Option<MqttStr>,
    /// User Properties (0x26).
    pub user_properties: UserProperties,
    /// Wildcard Subscription Available (0x28).
    pub wildcard_subscription_available: Option<bool>,
    /// Subscription Identifiers Available (0x29).
    pub subscription_identifiers_available: Option<bool>,
    /// Shared Subscription Available (0x2A).
    pub shared_subscription_available: Option<bool>,
    /// Server Keep Alive in seconds (0x13).
    pub server_keep_alive: Option<u16>,
    /// Response Information (0x1A).
    pub response_information: Option<MqttStr>,
    /// Server Reference (0x1C).
    pub server_reference: Option<MqttStr>,
    /// Authentication Method (0x15).
    pub authentication_method: Option<MqttStr>,
    /// Authentication Data (0x16).
    pub authentication_data: Option<Bytes>,
}

impl Properties for ConnAckProperties {
    fn read_one(&mut self, pid: u8, r: &mut Reader) -> Result<(), DecodeError> {
        match pid {
            id::SESSION_EXPIRY_INTERVAL => set(&mut self.session_expiry_interval, r.u32()?),
            id::RECEIVE_MAXIMUM => set(
                &mut self.receive_maximum,
                read_nonzero_u16(r, "receive maximum is 0")?,
            ),
            id::MAXIMUM_QOS => {
                let qos = match r.u8()? {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => return Err(DecodeError::ProtocolError("maximum QoS not 0 or 1")),
                };
                set(&mut self.maximum_qos, qos)
            }
            id::RETAIN_AVAILABLE => set(
                &mut self.retain_available,
                read_bool(r, "retain available not 0 or 1")?,
            ),
            id::MAXIMUM_PACKET_SIZE => set(
                &mut self.maximum_packet_size,
                read_nonzero_u32(r, "maximum packet size is 0")?,
            ),
            id::ASSIGNED_CLIENT_IDENTIFIER => {
                set(&mut self.assigned_client_identifier, r.string()?)
            }
            id::TOPIC_ALIAS_MAXIMUM => set(&mut self.topic_alias_maximum, r.u16()?),
            id::REASON_STRING => set(&mut self.reason_string, r.string()?),
            id::USER_PROPERTY => read_user_property(r, &mut self.user_properties),
            id::WILDCARD_SUBSCRIPTION_AVAILABLE => set(
                &mut self.wildcard_subscription_available,
                read_bool(r, "wildcard subscription available not 0 or 1")?,
            ),
            id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => set(
                &mut self.subscription_identifiers_available,
                read_bool(r, "subscription identifiers available not 0 or 1")?,
            ),
            id::SHARED_SUBSCRIPTION_AVAILABLE => set(
                &mut self.shared_subscription_available,
                read_bool(r, "shared subscription available not 0 or 1")?,
            ),
            id::SERVER_KEEP_ALIVE => set(&mut self.server_keep_alive, r.u16()?),
            id::RESPONSE_INFORMATION => set(&mut self.response_information, r.string()?),
            id::SERVER_REFERENCE => set(&mut self.server_reference, r.string()?),
            id::AUTHENTICATION_METHOD => set(&mut self.authentication_method, r.string()?),
            id::AUTHENTICATION_DATA => set(&mut self.authentication_data, r.binary()?),
            _ => Err(NOT_ALLOWED),
        }
    }

    fn write<W: Writer>(&self, w: &mut W) {
        w_u32(w, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        w_u16(
            w,
            id::RECEIVE_MAXIMUM,
            self.receive_maximum.map(NonZeroU16::get),
        );
        // Maximum QoS 2 is expressed by leaving the property out.
        w_u8(
            w,
            id::MAXIMUM_QOS,
            self.maximum_qos
                .filter(|q| *q != QoS::ExactlyOnce)
                .map(QoS::as_u8),
        );
        w_bool(w, id::RETAIN_AVAILABLE, self.retain_available);
        w_u32(
            w,
            id::MAXIMUM_PACKET_SIZE,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
        w_str(
            w,
            id::ASSIGNED_CLIENT_IDENTIFIER,
            self.assigned_client_identifier.as_ref(),
        );
        w_u16(w, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        w_str(w, id::REASON_STRING, self.reason_string.as_ref());
        w_users(w, &self.user_properties);
        w_bool(
            w,
            id::WILDCARD_SUBSCRIPTION_AVAILABLE,
            self.wildcard_subscription_available,
        );
        w_bool(
            w,
            id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            self.subscription_identifiers_available,
        );
        w_bool(
            w,
            id::SHARED_SUBSCRIPTION_AVAILABLE,
            self.shared_subscription_available,
        );
        w_u16(w, id::SERVER_KEEP_ALIVE, self.server_keep_alive);
        w_str(
            w,
            id::RESPONSE_INFORMATION,
            self.response_information.as_ref(),
        );
        w_str(w, id::SERVER_REFERENCE, self.server_reference.as_ref());
        w_str(
            w,
            id::AUTHENTICATION_METHOD,
            self.authentication_method.as_ref(),
        );
        w_bin(
            w,
            id::AUTHENTICATION_DATA,
            self.authentication_data.as_ref(),
        );
    }
}

/// Properties of a PUBLISH packet (v5 §3.3.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PublishProperties {
    /// Payload Format Indicator (0x01).
    pub payload_format_indicator: Option<PayloadFormat>,
    /// Message Expiry Interval in seconds (0x02).
    pub message_expiry_interval: Option<u32>,
    /// Topic Alias (0x23); 0 is invalid.
    pub topic_alias: Option<NonZeroU16>,
    /// Response Topic (0x08).
    pub response_topic: Option<TopicName>,
    /// Correlation Data (0x09).
    pub correlation_data: Option<Bytes>,
    /// User Properties (0x26).
    pub user_properties: UserProperties,
    /// Subscription Identifiers (0x0B), server to client only; may repeat.
    pub subscription_identifiers: Vec<NonZeroU32>,
    /// Content Type (0x03).
    pub content_type: Option<MqttStr>,
}

impl PublishProperties {
    /// Whether no property is set (field by field: no default value is built).
    pub fn is_empty(&self) -> bool {
        let PublishProperties {
            payload_format_indicator,
            message_expiry_interval,
            topic_alias,
            response_topic,
            correlation_data,
            user_properties,
            subscription_identifiers,
            content_type,
        } = self;
        // `&`, not `&&`: eight loads and one branch (this runs on every PUBLISH encoded).
        payload_format_indicator.is_none()
            & message_expiry_interval.is_none()
            & topic_alias.is_none()
            & response_topic.is_none()
            & correlation_data.is_none()
            & user_properties.is_empty()
            & subscription_identifiers.is_empty()
            & content_type.is_none()
    }
}

impl Properties for PublishProperties {
    fn read_one(&mut self, pid: u8, r: &mut Reader) -> Result<(), DecodeError> {
        match pid {
            id::PAYLOAD_FORMAT_INDICATOR => {
                set(&mut self.payload_format_indicator, read_payload_format(r)?)
            }
            id::MESSAGE_EXPIRY_INTERVAL => set(&mut self.message_expiry_interval, r.u32()?),
            id::TOPIC_ALIAS => {
                // v5 [MQTT-3.3.2-8]: a Topic Alias of 0 is not permitted.
                let alias = NonZeroU16::new(r.u16()?)
                    .ok_or(DecodeError::TopicAliasInvalid("topic alias is 0"))?;
                set(&mut self.topic_alias, alias)
            }
            id::RESPONSE_TOPIC => set(&mut self.response_topic, read_response_topic(r)?),
            id::CORRELATION_DATA => set(&mut self.correlation_data, r.binary()?),
            id::USER_PROPERTY => read_user_property(r, &mut self.user_properties),
            id::SUBSCRIPTION_IDENTIFIER => {
                self.subscription_identifiers.push(read_subscription_id(r)?);
                Ok(())
            }
            id::CONTENT_TYPE => set(&mut self.content_type, r.string()?),
            _ => Err(NOT_ALLOWED),
        }
    }

    fn write<W: Writer>(&self, w: &mut W) {
        w_payload_format(w, self.payload_format_indicator);
        w_u32(w, id::MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        w_u16(w, id::TOPIC_ALIAS, self.topic_alias.map(NonZeroU16::get));
        w_str(
            w,
            id::RESPONSE_TOPIC,
            self.response_topic.as_ref().map(TopicName::as_mqtt_str),
        );
        w_bin(w, id::CORRELATION_DATA, self.correlation_data.as_ref());
        w_users(w, &self.user_properties);
        for sid in &self.subscription_identifiers {
            w.put_u8(id::SUBSCRIPTION_IDENTIFIER);
            w.put_varint(sid.get() as usize);
        }
        w_str(w, id::CONTENT_TYPE, self.content_type.as_ref());
    }
}

/// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK: a reason string and user
/// properties (v5 §3.4.2.2 and the like).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AckProperties {
    /// Reason String (0x1F).
    pub reason_string: Option<MqttStr>,
    /// User Properties (0x26).
    pub user_properties: UserProperties,
}

impl AckProperties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

impl Properties for AckProperties {
    fn read_one(&mut self, pid: u8, r: &mut Reader) -> Result<(), DecodeError> {
        match pid {
            id::REASON_STRING => set(&mut self.reason_string, r.string()?),
            id::USER_PROPERTY => read_user_property(r, &mut self.user_properties),
            _ => Err(NOT_ALLOWED),
        }
    }

    fn write<W: Writer>(&self, w: &mut W) {
        w_str(w, id::REASON_STRING, self.reason_string.as_ref());
        w_users(w, &self.user_properties);
    }
}

/// Properties of a SUBSCRIBE packet (v5 §3.8.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SubscribeProperties {
    /// Subscription Identifier (0x0B); 0 is a Protocol Error.
    pub subscription_identifier: Option<NonZeroU32>,
    /// User Properties (0x26).
    pub user_properties: UserProperties,
}

impl Properties for SubscribeProperties {
    fn read_one(&mut self, pid: u8, r: &mut Reader) -> Result<(), DecodeError> {
        match pid {
            id::SUBSCRIPTION_IDENTIFIER => {
                set(&mut self.subscription_identifier, read_subscription_id(r)?)
            }
            id::USER_PROPERTY => read_user_property(r, &mut self.user_properties),
            _ => Err(NOT_ALLOWED),
        }
    }

    fn write<W: Writer>(&self, w: &mut W) {
        if let Some(sid) = self.subscription_identifier {
            w.put_u8(id::SUBSCRIPTION_IDENTIFIER);
            w.put_varint(sid.get() as usize);
        }
        w_users(w, &self.user_properties);
    }
}

/// Properties of an UNSUBSCRIBE packet (v5 §3.10.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct UnsubscribeProperties {
    /// User Properties (0x26).
    pub user_properties: UserProperties,
}

impl Properties for UnsubscribeProperties {
    fn read_one(&mut self, pid: u8, r: &mut Reader) -> Result<(), DecodeError> {
        match pid {
            id::USER_PROPERTY => read_user_property(r, &mut self.user_properties),
            _ => Err(NOT_ALLOWED),
        }
    }

    fn write<W: Writer>(&self, w: &mut W) {
        w_users(w, &self.user_properties);
    }
}

/// Properties of a DISCONNECT packet (v5 §3.14.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DisconnectProperties {
    /// Session Expiry Interval in seconds (0x11).
    pub session_expiry_interval: Option<u32>,
    /// Reason String (0x1F).
    pub reason_string: Option<MqttStr>,
    /// User Properties (0x26).
    pub user_properties: UserProperties,
    /// Server Reference (0x1C).
    pub server_reference: Option<MqttStr>,
}

impl DisconnectProperties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        *self == DisconnectProperties::default()
    }
}

impl Properties for DisconnectProperties {
    fn read_one(&mut self, pid: u8, r: &mut Reader) -> Result<(), DecodeError> {
        match pid {
            id::SESSION_EXPIRY_INTERVAL => set(&mut self.session_expiry_interval, r.u32()?),
            id::REASON_STRING => set(&mut self.reason_string, r.string()?),
            id::USER_PROPERTY => read_user_property(r, &mut self.user_properties),
            id::SERVER_REFERENCE => set(&mut self.server_reference, r.string()?),
            _ => Err(NOT_ALLOWED),
        }
    }

    fn write<W: Writer>(&self, w: &mut W) {
        w_u32(w, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        w_str(w, id::REASON_STRING, self.reason_string.as_ref());
        w_users(w, &self.user_properties);
        w_str(w, id::SERVER_REFERENCE, self.server_reference.as_ref());
    }
}

/// Properties of an AUTH packet (v5 §3.15.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AuthProperties {
    /// Authentication Method (0x15).
    pub authentication_method: Option<MqttStr>,
    /// Authentication Data (0x16).
    pub authentication_data: Option<Bytes>,
    /// Reason String (0x1F).
    pub reason_string: Option<MqttStr>,
    /// User Properties (0x26).
    pub user_properties: UserProperties,
}

impl AuthProperties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        *self == AuthProperties::default()
    }
}

impl Properties for AuthProperties {
    fn read_one(&mut self, pid: u8, r: &mut Reader) -> Result<(), DecodeError> {
        match pid {
            id::AUTHENTICATION_METHOD => set(&mut self.authentication_method, r.string()?),
            id::AUTHENTICATION_DATA => set(&mut self.authentication_data, r.binary()?),
            id::REASON_STRING => set(&mut self.reason_string, r.string()?),
            id::USER_PROPERTY => read_user_property(r, &mut self.user_properties),
            _ => Err(NOT_ALLOWED),
        }
    }

    fn write<W: Writer>(&self, w: &mut W) {
        w_str(
            w,
            id::AUTHENTICATION_METHOD,
            self.authentication_method.as_ref(),
        );
        w_bin(
            w,
            id::AUTHENTICATION_DATA,
            self.authentication_data.as_ref(),
        );
        w_str(w, id::REASON_STRING, self.reason_string.as_ref());
        w_users(w, &self.user_properties);
    }
}
