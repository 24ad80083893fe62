//! Topic aliases (v5 §3.3.2.3.4): the inbound map and outbound allocation with LRU reuse.
//! Aliases live for one network connection only (v5 [MQTT-3.3.2-7]).

use starling_codec::TopicName;
use std::{collections::HashMap, num::NonZeroU16};

/// Aliases the peer set up for the topics it sends us.
#[derive(Debug, Default, Clone)]
pub(crate) struct InboundAliases {
    max: u16,
    map: HashMap<u16, TopicName>,
}

/// Why an inbound alias could not be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AliasError {
    /// Above the maximum we announced (or we announced none).
    OutOfRange,
    /// Empty topic with an alias never set up.
    Unknown,
}

impl InboundAliases {
    pub(crate) fn new(max: u16) -> InboundAliases {
        InboundAliases {
            max,
            map: HashMap::new(),
        }
    }

    /// Resolves the topic of a received PUBLISH, updating the map when a topic comes with an alias.
    pub(crate) fn resolve(
        &mut self,
        topic: &TopicName,
        alias: Option<NonZeroU16>,
    ) -> Result<TopicName, AliasError> {
        let Some(alias) = alias else {
            return Ok(topic.clone());
        };
        // v5 [MQTT-3.2.2-17], v5 [MQTT-3.2.2-18], v5 [MQTT-3.1.2-26], v5 [MQTT-3.1.2-27].
        if alias.get() > self.max {
            return Err(AliasError::OutOfRange);
        }
        if topic.is_empty() {
            self.map
                .get(&alias.get())
                .cloned()
                .ok_or(AliasError::Unknown)
        } else {
            self.map.insert(alias.get(), topic.clone());
            Ok(topic.clone())
        }
    }
}

/// Aliases we assign to the topics we send.
#[derive(Debug, Default, Clone)]
pub(crate) struct OutboundAliases {
    max: u16,
    by_topic: HashMap<TopicName, (u16, u64)>,
    by_alias: HashMap<u16, TopicName>,
    clock: u64,
}

/// How to send a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AliasUse {
    /// No alias.
    None,
    /// Send the topic and set up this alias.
    Establish(NonZeroU16),
    /// Send an empty topic with this established alias.
    Reuse(NonZeroU16),
}

impl OutboundAliases {
    pub(crate) fn new(max: u16) -> OutboundAliases {
        OutboundAliases {
            max,
            ..OutboundAliases::default()
        }
    }

    /// Chooses how to send `topic`; once all aliases are taken the least recently used is
    /// reassigned.
    pub(crate) fn assign(&mut self, topic: &TopicName) -> AliasUse {
        if self.max == 0 {
            return AliasUse::None;
        }
        self.clock += 1;
        if let Some((alias, used)) = self.by_topic.get_mut(topic) {
            *used = self.clock;
            return NonZeroU16::new(*alias).map_or(AliasUse::None, AliasUse::Reuse);
        }
        let alias = if self.by_alias.len() < usize::from(self.max) {
            self.by_alias.len() as u16 + 1
        } else {
            let Some((old_topic, (alias, _))) = self
                .by_topic
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(t, v)| (t.clone(), *v))
            else {
                return AliasUse::None;
            };
            self.by_topic.remove(&old_topic);
            alias
        };
        self.by_topic.insert(topic.clone(), (alias, self.clock));
        self.by_alias.insert(alias, topic.clone());
        NonZeroU16::new(alias).map_or(AliasUse::None, AliasUse::Establish)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &'static str) -> TopicName {
        TopicName::from_static(s).unwrap()
    }

    #[test]
    fn inbound_alias_rules() {
        let mut a = InboundAliases::new(2);
        let one = NonZeroU16::new(1);
        assert_eq!(
            a.resolve(&TopicName::empty(), one),
            Err(AliasError::Unknown)
        );
        assert_eq!(a.resolve(&t("a/b"), one).unwrap(), t("a/b"));
        assert_eq!(a.resolve(&TopicName::empty(), one).unwrap(), t("a/b"));
        // v5 [MQTT-3.3.2-12]: accept 1..=max; above is invalid.
        assert_eq!(
            a.resolve(&t("x"), NonZeroU16::new(3)),
            Err(AliasError::OutOfRange)
        );
    }

    #[test]
    fn outbound_alias_lru() {
        let mut a = OutboundAliases::new(2);
        let n = |v| NonZeroU16::new(v).unwrap();
        assert_eq!(a.assign(&t("a")), AliasUse::Establish(n(1)));
        assert_eq!(a.assign(&t("b")), AliasUse::Establish(n(2)));
        assert_eq!(a.assign(&t("a")), AliasUse::Reuse(n(1)));
        // "b" is least recently used: its alias goes to "c".
        assert_eq!(a.assign(&t("c")), AliasUse::Establish(n(2)));
        assert_eq!(a.assign(&t("a")), AliasUse::Reuse(n(1)));
        // v5 [MQTT-3.1.2-27]: no aliases when the client allows none.
        assert_eq!(OutboundAliases::new(0).assign(&t("a")), AliasUse::None);
    }
}
