//! `Serialize`/`Deserialize` for the validated types (feature `serde`).
//!
//! Strings serialize as plain strings and packet identifiers as their `u16`. Deserializing goes
//! through the same validating constructors as decoding a packet, so an invalid value (a topic
//! filter with a misplaced wildcard, a topic name with one, U+0000, packet identifier 0) is a
//! deserialization error, never a panic or an unchecked value.

use crate::{MqttStr, PacketId, TopicFilter, TopicName};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

impl Serialize for PacketId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.get())
    }
}

impl<'de> Deserialize<'de> for PacketId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u16::deserialize(deserializer)?;
        PacketId::new(value).ok_or_else(|| {
            de::Error::invalid_value(de::Unexpected::Unsigned(0), &"a non-zero packet identifier")
        })
    }
}

impl Serialize for MqttStr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MqttStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        MqttStr::try_from(s).map_err(de::Error::custom)
    }
}

impl Serialize for TopicName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TopicName {
    /// The empty string gives [`TopicName::empty`] (an alias-only PUBLISH); anything else must
    /// be a valid topic name.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = MqttStr::deserialize(deserializer)?;
        if s.is_empty() {
            return Ok(TopicName::empty());
        }
        TopicName::from_mqtt_str(s).map_err(de::Error::custom)
    }
}

impl Serialize for TopicFilter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TopicFilter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = MqttStr::deserialize(deserializer)?;
        TopicFilter::from_mqtt_str(s).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Publish, PublishProperties, QoS, QosPid, SubscriptionOptions};
    use bytes::Bytes;

    fn json<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    #[test]
    fn strings_round_trip_as_strings() {
        let s = MqttStr::try_from("\u{FEFF}héllo").unwrap();
        assert_eq!(json(&s), "\"\u{FEFF}héllo\"");
        assert_eq!(serde_json::from_str::<MqttStr>(&json(&s)).unwrap(), s);

        let name = TopicName::try_from("a/b/$c").unwrap();
        assert_eq!(json(&name), "\"a/b/$c\"");
        assert_eq!(
            serde_json::from_str::<TopicName>("\"a/b/$c\"").unwrap(),
            name
        );
        // The empty name of an alias-only PUBLISH survives.
        assert_eq!(json(&TopicName::empty()), "\"\"");
        assert_eq!(
            serde_json::from_str::<TopicName>("\"\"").unwrap(),
            TopicName::empty()
        );

        for f in ["a/+/#", "$share/g/a/+", "#", "$SYS/x"] {
            let filter = TopicFilter::try_from(f).unwrap();
            assert_eq!(json(&filter), format!("\"{f}\""));
            let back: TopicFilter = serde_json::from_str(&json(&filter)).unwrap();
            assert_eq!(back, filter);
            assert_eq!(back.share_name(), filter.share_name());
            assert_eq!(back.filter(), filter.filter());
        }
    }

    #[test]
    fn invalid_strings_are_errors() {
        // v5 [MQTT-1.5.4-2]: no U+0000.
        assert!(serde_json::from_str::<MqttStr>("\"a\\u0000b\"").is_err());
        assert!(serde_json::from_str::<TopicName>("\"a\\u0000\"").is_err());
        assert!(serde_json::from_str::<MqttStr>("7").is_err());
        let long = format!("\"{}\"", "x".repeat(crate::MAX_STRING_LEN + 1));
        assert!(serde_json::from_str::<MqttStr>(&long).is_err());
        // v5 [MQTT-3.3.2-2]: no wildcards in a topic name.
        for bad in ["\"a/+\"", "\"#\""] {
            assert!(serde_json::from_str::<TopicName>(bad).is_err(), "{bad}");
        }
        // v5 [MQTT-4.7.1-1], v5 [MQTT-4.7.1-2], v5 [MQTT-4.7.3-1], v5 [MQTT-4.8.2-1].
        for bad in [
            "\"a#\"",
            "\"a/b+\"",
            "\"\"",
            "\"$share/g\"",
            "\"$share//a\"",
        ] {
            assert!(serde_json::from_str::<TopicFilter>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn packet_ids_are_non_zero_u16() {
        let pid = PacketId::new(513).unwrap();
        assert_eq!(json(&pid), "513");
        assert_eq!(serde_json::from_str::<PacketId>("513").unwrap(), pid);
        // v5 [MQTT-2.2.1-3]: 0 is not a packet identifier.
        assert!(serde_json::from_str::<PacketId>("0").is_err());
        assert!(serde_json::from_str::<PacketId>("65536").is_err());
        assert!(serde_json::from_str::<QosPid>("{\"AtLeastOnce\":0}").is_err());
    }

    #[test]
    fn publish_round_trips() {
        let mut publish = Publish::new(
            TopicName::try_from("t/1").unwrap(),
            QosPid::new(QoS::ExactlyOnce, PacketId::new(9).unwrap()),
            Bytes::from_static(b"\x00\xffpayload"),
        );
        publish.retain = true;
        publish.properties = PublishProperties {
            payload_format_indicator: Some(crate::PayloadFormat::Utf8),
            message_expiry_interval: Some(30),
            response_topic: Some(TopicName::try_from("r").unwrap()),
            correlation_data: Some(Bytes::from_static(b"\x01\x02")),
            user_properties: vec![(
                MqttStr::try_from("k").unwrap(),
                MqttStr::try_from("v").unwrap(),
            )],
            content_type: Some(MqttStr::try_from("text/plain").unwrap()),
            ..PublishProperties::default()
        };
        let back: Publish = serde_json::from_str(&json(&publish)).unwrap();
        assert_eq!(back, publish);

        let options = SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: crate::RetainHandling::DoNotSend,
        };
        let back: SubscriptionOptions = serde_json::from_str(&json(&options)).unwrap();
        assert_eq!(back, options);
    }
}
