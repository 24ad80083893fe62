//! Retained messages, stored by topic level so a wildcard subscription finds its retained
//! messages without scanning every topic.

use crate::hash::HashMap;
use starling_codec::TopicFilter;
use starling_session::Message;
use std::time::Instant;

/// The retained message store.
#[derive(Debug, Default, Clone)]
pub struct RetainedStore {
    root: Level,
    len: usize,
}

#[derive(Debug, Default, Clone)]
struct Level {
    children: HashMap<Box<str>, Level>,
    message: Option<Message>,
}

impl RetainedStore {
    /// An empty store.
    pub fn new() -> RetainedStore {
        RetainedStore::default()
    }

    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `message` as the retained message of its topic, or clears the topic when the
    /// payload is empty (v5 [MQTT-3.3.1-6], v5 [MQTT-3.3.1-7]; v3.1.1 [MQTT-3.3.1-10], v3.1.1 [MQTT-3.3.1-11]).
    pub fn set(&mut self, message: Message) {
        let topic = message.topic.as_str().to_owned();
        if message.payload.is_empty() {
            let levels: Vec<&str> = topic.split('/').collect();
            if remove(&mut self.root, &levels) {
                self.len -= 1;
            }
            return;
        }
        let mut node = &mut self.root;
        for level in topic.split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        if node.message.replace(message).is_none() {
            self.len += 1;
        }
    }

    /// The retained message of exactly `topic`.
    pub fn get(&self, topic: &str) -> Option<&Message> {
        let mut node = &self.root;
        for level in topic.split('/') {
            node = node.children.get(level)?;
        }
        node.message.as_ref()
    }

    /// Calls `visit` with every unexpired retained message whose topic matches `filter`.
    pub fn for_each_match(
        &self,
        filter: &TopicFilter,
        now: Instant,
        mut visit: impl FnMut(&Message),
    ) {
        let levels: Vec<&str> = filter.filter().split('/').collect();
        collect(&self.root, &levels, true, now, &mut visit);
    }

    /// Drops expired messages; returns how many.
    pub fn remove_expired(&mut self, now: Instant) -> usize {
        let n = prune_expired(&mut self.root, now);
        self.len -= n;
        n
    }
}

fn collect(
    node: &Level,
    filter: &[&str],
    root: bool,
    now: Instant,
    visit: &mut impl FnMut(&Message),
) {
    let Some((first, rest)) = filter.split_first() else {
        if let Some(m) = &node.message {
            if !m.is_expired(now) {
                visit(m);
            }
        }
        return;
    };
    match *first {
        "#" => {
            // '#' also matches the parent level itself ("a/#" matches "a").
            if let Some(m) = &node.message {
                if !root && !m.is_expired(now) {
                    visit(m);
                }
            }
            for (name, child) in &node.children {
                // v5 [MQTT-4.7.2-1]: a leading wildcard does not match '$' topics.
                if root && name.starts_with('$') {
                    continue;
                }
                all(child, now, visit);
            }
        }
        "+" => {
            for (name, child) in &node.children {
                if root && name.starts_with('$') {
                    continue;
                }
                collect(child, rest, false, now, visit);
            }
        }
        literal => {
            if let Some(child) = node.children.get(literal) {
                collect(child, rest, false, now, visit);
            }
        }
    }
}

fn all(node: &Level, now: Instant, visit: &mut impl FnMut(&Message)) {
    if let Some(m) = &node.message {
        if !m.is_expired(now) {
            visit(m);
        }
    }
    for child in node.children.values() {
        all(child, now, visit);
    }
}

fn remove(node: &mut Level, levels: &[&str]) -> bool {
    let Some((first, rest)) = levels.split_first() else {
        return node.message.take().is_some();
    };
    let Some(child) = node.children.get_mut(*first) else {
        return false;
    };
    let removed = remove(child, rest);
    if child.message.is_none() && child.children.is_empty() {
        node.children.remove(*first);
    }
    removed
}

fn prune_expired(node: &mut Level, now: Instant) -> usize {
    let mut n = 0;
    if node.message.as_ref().is_some_and(|m| m.is_expired(now)) {
        node.message = None;
        n += 1;
    }
    node.children.retain(|_, child| {
        n += prune_expired(child, now);
        child.message.is_some() || !child.children.is_empty()
    });
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use starling_codec::{QoS, TopicName};
    use std::time::Duration;

    fn msg(topic: &str, payload: &'static [u8]) -> Message {
        Message::new(
            TopicName::try_from(topic).unwrap(),
            Bytes::from_static(payload),
            QoS::AtMostOnce,
            true,
        )
    }

    fn topics(store: &RetainedStore, filter: &str, now: Instant) -> Vec<String> {
        let mut v = Vec::new();
        store.for_each_match(&TopicFilter::try_from(filter).unwrap(), now, |m| {
            v.push(m.topic.to_string())
        });
        v.sort();
        v
    }

    #[test]
    fn set_replace_clear_and_match() {
        let now = Instant::now();
        let mut s = RetainedStore::new();
        s.set(msg("a/b", b"1"));
        s.set(msg("a/b", b"2"));
        s.set(msg("a", b"3"));
        s.set(msg("$SYS/x", b"4"));
        assert_eq!(s.len(), 3);
        assert_eq!(&s.get("a/b").unwrap().payload[..], b"2");
        assert_eq!(topics(&s, "a/#", now), vec!["a", "a/b"]);
        assert_eq!(topics(&s, "#", now), vec!["a", "a/b"]);
        assert_eq!(topics(&s, "+/b", now), vec!["a/b"]);
        assert_eq!(topics(&s, "$SYS/#", now), vec!["$SYS/x"]);
        // v3.1.1 [MQTT-3.3.1-10]: an empty retained payload clears the topic.
        s.set(msg("a/b", b""));
        assert_eq!(topics(&s, "#", now), vec!["a"]);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn expired_messages_are_not_sent_and_pruned() {
        let now = Instant::now();
        let mut s = RetainedStore::new();
        let mut m = msg("t", b"x");
        m.expires_at = Some(now + Duration::from_secs(5));
        s.set(m);
        assert_eq!(topics(&s, "t", now), vec!["t"]);
        let later = now + Duration::from_secs(5);
        assert!(topics(&s, "t", later).is_empty());
        assert_eq!(s.remove_expired(later), 1);
        assert!(s.is_empty());
    }
}
