//! Validated topic names and topic filters (v5 §4.7, §4.8; v3.1.1 §4.7).

use crate::string::{MqttStr, StringError};
use bytes::Bytes;
use std::{fmt, ops::Deref};

/// Why a topic name or filter is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// Not a valid MQTT UTF-8 string.
    #[error(transparent)]
    String(#[from] StringError),
    /// Zero length (v5 [MQTT-4.7.3-1], v3.1.1 [MQTT-4.7.3-1]).
    #[error("topic is empty")]
    Empty,
    /// A topic name contains `+` or `#` (v5 [MQTT-3.3.2-2], v3.1.1 [MQTT-3.3.2-2]).
    #[error("topic name contains a wildcard")]
    WildcardInName,
    /// `#` is not alone in the last level (v5 [MQTT-4.7.1-1], v3.1.1 [MQTT-4.7.1-2]).
    #[error("multi-level wildcard not alone in the last level")]
    MisplacedMultiLevelWildcard,
    /// `+` does not occupy a whole level (v5 [MQTT-4.7.1-2], v3.1.1 [MQTT-4.7.1-3]).
    #[error("single-level wildcard not alone in its level")]
    MisplacedSingleLevelWildcard,
    /// `$share/` without a valid share name and filter (v5 [MQTT-4.8.2-1], v5 [MQTT-4.8.2-2]).
    #[error("malformed shared subscription")]
    InvalidShare,
}

/// A topic name, as carried by PUBLISH: valid UTF-8, no wildcards.
///
/// It is non-empty, except for the empty name of an MQTT 5 PUBLISH that relies on a topic alias
/// ([`TopicName::empty`]).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TopicName(MqttStr);

impl TopicName {
    /// Validates `bytes` as a topic name without copying.
    pub fn from_bytes(bytes: Bytes) -> Result<TopicName, TopicError> {
        let s = MqttStr::from_bytes(bytes)?;
        TopicName::from_mqtt_str(s)
    }

    /// A validated topic name from a static string (no copy).
    pub fn from_static(s: &'static str) -> Result<TopicName, TopicError> {
        TopicName::from_bytes(Bytes::from_static(s.as_bytes()))
    }

    /// Validates an MQTT string as a topic name.
    pub fn from_mqtt_str(s: MqttStr) -> Result<TopicName, TopicError> {
        if s.is_empty() {
            return Err(TopicError::Empty);
        }
        if s.as_bytes().iter().any(|&b| b == b'+' || b == b'#') {
            return Err(TopicError::WildcardInName);
        }
        Ok(TopicName(s))
    }

    /// Wraps a string the caller has checked for wildcards and emptiness.
    pub(crate) fn from_mqtt_str_unchecked(s: MqttStr) -> TopicName {
        TopicName(s)
    }

    /// The empty topic name of an MQTT 5 PUBLISH that names its topic by alias only.
    pub const fn empty() -> TopicName {
        TopicName(MqttStr::empty())
    }

    /// The topic as a string.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The underlying MQTT string.
    pub fn as_mqtt_str(&self) -> &MqttStr {
        &self.0
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// Whether the topic starts with `$` (such topics are not matched by a leading wildcard,
    /// v5 [MQTT-4.7.2-1]).
    pub fn is_dollar(&self) -> bool {
        self.0.as_bytes().first() == Some(&b'$')
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        TopicName::from_mqtt_str(MqttStr::try_from(s)?)
    }
}

impl Deref for TopicName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const SHARE_PREFIX: &[u8] = b"$share/";

/// A topic filter, as carried by SUBSCRIBE and UNSUBSCRIBE, possibly a shared subscription
/// `$share/{ShareName}/{filter}`.
///
/// `$share/` is recognised in every protocol version, as Mosquitto does, so 3.1.1 clients can
/// join shared groups too.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter {
    full: MqttStr,
    /// Byte offset of the filter proper; 0 when the filter is not shared.
    filter_start: u16,
}

impl TopicFilter {
    /// Validates `bytes` as a topic filter without copying: as an MQTT string and as a filter
    /// in one scan of the bytes.
    pub fn from_bytes(bytes: Bytes) -> Result<TopicFilter, TopicError> {
        let wildcard = crate::string::validate_flagged(&bytes)?;
        let filter_start = share_prefix_len(&bytes)?;
        check_filter(
            bytes.get(usize::from(filter_start)..).unwrap_or_default(),
            wildcard,
        )?;
        Ok(TopicFilter {
            full: MqttStr::from_validated(bytes),
            filter_start,
        })
    }

    /// A validated topic filter from a static string (no copy).
    pub fn from_static(s: &'static str) -> Result<TopicFilter, TopicError> {
        TopicFilter::from_bytes(Bytes::from_static(s.as_bytes()))
    }

    /// Validates an MQTT string as a topic filter.
    pub fn from_mqtt_str(full: MqttStr) -> Result<TopicFilter, TopicError> {
        let bytes = full.as_bytes();
        let filter_start = share_prefix_len(bytes)?;
        let filter = bytes.get(usize::from(filter_start)..).unwrap_or_default();
        check_filter(filter, crate::string::scan_topic(filter).0)?;
        Ok(TopicFilter { full, filter_start })
    }

    /// The whole filter as sent, `$share/…` prefix included.
    pub fn as_str(&self) -> &str {
        self.full.as_str()
    }

    /// The whole filter as an MQTT string.
    pub fn as_mqtt_str(&self) -> &MqttStr {
        &self.full
    }

    /// The filter to match topics against (without any `$share/{name}/` prefix).
    pub fn filter(&self) -> &str {
        self.as_str()
            .get(usize::from(self.filter_start)..)
            .unwrap_or_default()
    }

    /// The share name of a shared subscription.
    pub fn share_name(&self) -> Option<&str> {
        if self.filter_start == 0 {
            return None;
        }
        self.as_str()
            .get(SHARE_PREFIX.len()..usize::from(self.filter_start) - 1)
    }

    /// Whether this is a shared subscription.
    pub fn is_shared(&self) -> bool {
        self.filter_start != 0
    }

    /// Whether the filter (without share prefix) contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.filter().bytes().any(|b| b == b'+' || b == b'#')
    }

    /// Whether `topic` matches this filter (v5 §4.7; the share prefix is ignored).
    ///
    /// Topics starting with `$` are not matched by a filter starting with a wildcard
    /// (v5 [MQTT-4.7.2-1], v3.1.1 [MQTT-4.7.2-1]).
    pub fn matches(&self, topic: &str) -> bool {
        topic_matches(self.filter(), topic)
    }
}

/// Matches a topic against a filter without share prefix, level by level.
fn topic_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The length of a `$share/{ShareName}/` prefix (0 without one), after checking the share name
/// (v5 [MQTT-4.8.2-1], v5 [MQTT-4.8.2-2]) and that a filter follows it.
fn share_prefix_len(bytes: &[u8]) -> Result<u16, TopicError> {
    let Some(rest) = bytes.strip_prefix(SHARE_PREFIX) else {
        return Ok(0);
    };
    let name_len = rest
        .iter()
        .position(|&b| b == b'/')
        .ok_or(TopicError::InvalidShare)?;
    let name = &rest[..name_len];
    if name.is_empty() || name.iter().any(|&b| b == b'+' || b == b'#') {
        return Err(TopicError::InvalidShare);
    }
    let filter_start = SHARE_PREFIX.len() + name_len + 1;
    if filter_start >= bytes.len() {
        return Err(TopicError::InvalidShare);
    }
    // A string is at most 65535 bytes, so the offset fits.
    u16::try_from(filter_start).map_err(|_| TopicError::InvalidShare)
}

/// Checks the filter proper (after any share prefix): not empty, `#` only as the whole last
/// level, `+` only as a whole level. `wildcard` is false when a scan found neither `+` nor `#`
/// (most filters), which settles it without looking at the bytes again.
fn check_filter(filter: &[u8], wildcard: bool) -> Result<(), TopicError> {
    if filter.is_empty() {
        return Err(TopicError::Empty);
    }
    if !wildcard {
        return Ok(());
    }
    // Only the wildcards are looked at: each must have a `/` (or an end of the filter) on both
    // sides, and `#` must be the last byte.
    let last = filter.len() - 1;
    let misplaced = |i: usize| {
        let after = filter.get(i + 1).copied();
        let alone_before = i == 0 || filter.get(i - 1) == Some(&b'/');
        match filter.get(i) {
            Some(b'+') => !(alone_before && matches!(after, None | Some(b'/'))),
            _ => !(alone_before && i == last),
        }
    };
    match crate::string::find_wildcard(filter, misplaced) {
        None => Ok(()),
        // The first level with a misplaced wildcard decides the error; within it, a misplaced
        // `#` is reported before a misplaced `+`.
        Some(i) => {
            let start = filter[..i]
                .iter()
                .rposition(|&b| b == b'/')
                .map_or(0, |p| p + 1);
            let end = filter[i..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(filter.len(), |p| i + p);
            let level = &filter[start..end];
            if level.contains(&b'#') && (level.len() != 1 || end != filter.len()) {
                Err(TopicError::MisplacedMultiLevelWildcard)
            } else {
                Err(TopicError::MisplacedSingleLevelWildcard)
            }
        }
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        TopicFilter::from_mqtt_str(MqttStr::try_from(s)?)
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(s: &str) -> Result<TopicFilter, TopicError> {
        TopicFilter::try_from(s)
    }

    #[test]
    fn filter_wildcard_placement() {
        // v5 [MQTT-4.7.1-1], v3.1.1 [MQTT-4.7.1-2]: '#' alone and last.
        for ok in [
            "#", "a/#", "a/+/#", "+", "+/+", "a//b", "/", "/a/", "$SYS/#",
        ] {
            assert!(filter(ok).is_ok(), "{ok}");
        }
        for bad in ["a#", "a/#/b", "#/a", "a/b#", "##"] {
            assert_eq!(
                filter(bad),
                Err(TopicError::MisplacedMultiLevelWildcard),
                "{bad}"
            );
        }
        // v5 [MQTT-4.7.1-2], v3.1.1 [MQTT-4.7.1-3]: '+' occupies a whole level.
        for bad in ["a+", "a/+b", "++", "a/b+/c"] {
            assert_eq!(
                filter(bad),
                Err(TopicError::MisplacedSingleLevelWildcard),
                "{bad}"
            );
        }
        // v5 [MQTT-4.7.3-1], v3.1.1 [MQTT-4.7.3-1]: at least one character.
        assert_eq!(filter(""), Err(TopicError::Empty));
        // v5 [MQTT-4.7.3-2], v3.1.1 [MQTT-4.7.3-2]: no U+0000.
        assert!(filter("a\0").is_err());
    }

    #[test]
    fn shared_subscription_parsing() {
        // v5 [MQTT-4.8.2-1]: share name at least one character, no '/', '+' or '#'.
        // v5 [MQTT-4.8.2-2]: followed by '/' and a topic filter.
        let f = filter("$share/group/a/+/c").unwrap();
        assert!(f.is_shared());
        assert_eq!(f.share_name(), Some("group"));
        assert_eq!(f.filter(), "a/+/c");
        assert!(f.matches("a/b/c"));
        for bad in [
            "$share/",
            "$share//a",
            "$share/g",
            "$share/g/",
            "$share/g+/a",
            "$share/#/a",
        ] {
            assert!(filter(bad).is_err(), "{bad}");
        }
        assert!(filter("$share/g/a#").is_err());
        let plain = filter("$shared/a").unwrap();
        assert!(!plain.is_shared());
        assert_eq!(plain.share_name(), None);
    }

    #[test]
    fn topic_names_reject_wildcards() {
        // v5 [MQTT-3.3.2-2], v3.1.1 [MQTT-3.3.2-2]
        assert_eq!(TopicName::try_from("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::try_from("#"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::try_from(""), Err(TopicError::Empty));
        assert!(TopicName::try_from("a/b").is_ok());
    }

    #[test]
    fn matching_rules() {
        let m = |f: &str, t: &str| filter(f).unwrap().matches(t);
        assert!(m("a/#", "a"));
        assert!(m("a/#", "a/b/c"));
        assert!(m("a/+", "a/"));
        assert!(!m("a/+", "a"));
        assert!(m("+/+", "/a"));
        assert!(!m("a/b", "a/b/c"));
        // v5 [MQTT-4.7.2-1], v3.1.1 [MQTT-4.7.2-1]: '$' topics not matched by leading wildcards.
        assert!(!m("#", "$SYS/x"));
        assert!(!m("+/x", "$SYS/x"));
        assert!(m("$SYS/#", "$SYS/x"));
    }

    /// The straightforward rules, level by level, as the specification states them: what the
    /// wildcard-only check must agree with (result and error) on every input.
    fn reference(bytes: &[u8]) -> Result<u16, TopicError> {
        crate::string::validate(bytes)?;
        let mut start = 0;
        if let Some(rest) = bytes.strip_prefix(SHARE_PREFIX) {
            let name_len = rest
                .iter()
                .position(|&b| b == b'/')
                .ok_or(TopicError::InvalidShare)?;
            let name = &rest[..name_len];
            if name.is_empty() || name.contains(&b'+') || name.contains(&b'#') {
                return Err(TopicError::InvalidShare);
            }
            start = SHARE_PREFIX.len() + name_len + 1;
            if start >= bytes.len() {
                return Err(TopicError::InvalidShare);
            }
        }
        let filter = &bytes[start..];
        if filter.is_empty() {
            return Err(TopicError::Empty);
        }
        let levels: Vec<&[u8]> = filter.split(|&b| b == b'/').collect();
        for (n, level) in levels.iter().enumerate() {
            if level.contains(&b'#') && (level.len() != 1 || n + 1 != levels.len()) {
                return Err(TopicError::MisplacedMultiLevelWildcard);
            }
            if level.contains(&b'+') && level.len() != 1 {
                return Err(TopicError::MisplacedSingleLevelWildcard);
            }
        }
        Ok(start as u16)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// v5 [MQTT-4.7.1-1], v5 [MQTT-4.7.1-2], v3.1.1 [MQTT-4.7.1-2], v3.1.1 [MQTT-4.7.1-3],
        /// v5 [MQTT-4.8.2-1], v5 [MQTT-4.8.2-2]: the one-scan filter check, through both
        /// constructors, gives what the level-by-level rules give.
        #[test]
        fn filter_checks_agree_with_the_level_by_level_rules(
            share in proptest::option::of("[a+#/]{0,3}"),
            body in "[a/+#\\x00é]{0,24}",
        ) {
            let text = match share {
                Some(name) => format!("$share/{name}/{body}"),
                None => body,
            };
            let bytes = Bytes::from(text.into_bytes());
            let expected = reference(&bytes);
            let got = TopicFilter::from_bytes(bytes.clone()).map(|f| f.filter_start);
            proptest::prop_assert_eq!(got, expected);
            if let Ok(s) = MqttStr::from_bytes(bytes) {
                let got = TopicFilter::from_mqtt_str(s).map(|f| f.filter_start);
                proptest::prop_assert_eq!(got, expected);
            }
        }
    }

    #[test]
    fn wildcards_are_found_exactly_and_in_order() {
        let s = b"+a#b/++/x#yyyyyyyyyyyy+#\x80\xff##";
        let expected: Vec<usize> = (0..s.len())
            .filter(|&i| s[i] == b'+' || s[i] == b'#')
            .collect();
        let mut seen = Vec::new();
        let none = crate::string::find_wildcard(s, |i| {
            seen.push(i);
            false
        });
        assert_eq!((none, seen), (None, expected.clone()));
        for &i in &expected {
            assert_eq!(crate::string::find_wildcard(s, |j| j >= i), Some(i));
        }
        assert_eq!(crate::string::find_wildcard(b"", |_| true), None);
    }
}
