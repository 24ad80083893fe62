//! The subscription trie: topic filters indexed level by level, so routing a message visits
//! only the branches its topic can match, never a list of every filter.

use crate::hash::HashMap;
use std::hash::Hash;

/// Filters stored level by level, each with the subscribers (`K`) that hold it and their data
/// (`V`).
#[derive(Debug, Clone)]
pub struct TopicTrie<K, V> {
    root: Node<K, V>,
    len: usize,
}

#[derive(Debug, Clone)]
struct Node<K, V> {
    /// Children by literal level.
    children: HashMap<Box<str>, Node<K, V>>,
    /// The `+` child.
    plus: Option<Box<Node<K, V>>>,
    /// Subscribers of `<this level>/#`.
    hash: HashMap<K, V>,
    /// Subscribers of the filter ending exactly here.
    exact: HashMap<K, V>,
}

impl<K, V> Default for Node<K, V> {
    fn default() -> Self {
        Node {
            children: HashMap::default(),
            plus: None,
            hash: HashMap::default(),
            exact: HashMap::default(),
        }
    }
}

impl<K, V> Node<K, V> {
    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.plus.is_none()
            && self.hash.is_empty()
            && self.exact.is_empty()
    }
}

impl<K, V> Default for TopicTrie<K, V> {
    fn default() -> Self {
        TopicTrie {
            root: Node::default(),
            len: 0,
        }
    }
}

impl<K: Eq + Hash + Clone, V> TopicTrie<K, V> {
    /// An empty trie.
    pub fn new() -> Self {
        TopicTrie::default()
    }

    /// Number of (filter, subscriber) entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds or replaces `key`'s entry for `filter` (a valid filter without `$share/` prefix);
    /// returns the replaced value.
    pub fn insert(&mut self, filter: &str, key: K, value: V) -> Option<V> {
        let mut node = &mut self.root;
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            if level == "#" {
                let old = node.hash.insert(key, value);
                self.len += usize::from(old.is_none());
                return old;
            }
            node = if level == "+" {
                node.plus.get_or_insert_with(Box::default)
            } else {
                node.children.entry(level.into()).or_default()
            };
            if levels.peek().is_none() {
                break;
            }
        }
        let old = node.exact.insert(key, value);
        self.len += usize::from(old.is_none());
        old
    }

    /// Removes `key`'s entry for `filter`, pruning empty branches.
    pub fn remove(&mut self, filter: &str, key: &K) -> Option<V> {
        let levels: Vec<&str> = filter.split('/').collect();
        let removed = remove_in(&mut self.root, &levels, key);
        self.len -= usize::from(removed.is_some());
        removed
    }

    /// Calls `visit` for every entry whose filter matches `topic` (v5 §4.7): `#` matches the
    /// parent level and everything below, `+` one level, and topics starting with `$` are not
    /// matched by a leading wildcard (v5 [MQTT-4.7.2-1]).
    pub fn for_each_match(&self, topic: &str, mut visit: impl FnMut(&K, &V)) {
        let dollar = topic.starts_with('$');
        let levels: Vec<&str> = topic.split('/').collect();
        walk(&self.root, &levels, dollar, &mut visit);
    }
}

fn walk<K, V>(
    node: &Node<K, V>,
    levels: &[&str],
    skip_wildcards: bool,
    visit: &mut impl FnMut(&K, &V),
) {
    if !skip_wildcards {
        node.hash.iter().for_each(|(k, v)| visit(k, v));
    }
    let Some((first, rest)) = levels.split_first() else {
        node.exact.iter().for_each(|(k, v)| visit(k, v));
        return;
    };
    if let Some(child) = node.children.get(*first) {
        walk(child, rest, false, visit);
    }
    if !skip_wildcards {
        if let Some(plus) = &node.plus {
            walk(plus, rest, false, visit);
        }
    }
}

fn remove_in<K: Eq + Hash, V>(node: &mut Node<K, V>, levels: &[&str], key: &K) -> Option<V> {
    let Some((first, rest)) = levels.split_first() else {
        return node.exact.remove(key);
    };
    if *first == "#" {
        return node.hash.remove(key);
    }
    if *first == "+" {
        let plus = node.plus.as_mut()?;
        let removed = remove_in(plus, rest, key);
        if plus.is_empty() {
            node.plus = None;
        }
        return removed;
    }
    let child = node.children.get_mut(*first)?;
    let removed = remove_in(child, rest, key);
    if child.is_empty() {
        node.children.remove(*first);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use starling_codec::TopicFilter;

    fn matches(trie: &TopicTrie<u32, ()>, topic: &str) -> Vec<u32> {
        let mut v = Vec::new();
        trie.for_each_match(topic, |k, _| v.push(*k));
        v.sort_unstable();
        v
    }

    #[test]
    fn wildcards_and_dollar_topics() {
        let mut t = TopicTrie::new();
        for (i, f) in ["a/b", "a/+", "a/#", "#", "+/b", "$SYS/#", "+/+", "a/b/#"]
            .iter()
            .enumerate()
        {
            t.insert(f, i as u32, ());
        }
        assert_eq!(matches(&t, "a/b"), vec![0, 1, 2, 3, 4, 6, 7]);
        assert_eq!(matches(&t, "a"), vec![2, 3]);
        // v5 [MQTT-4.7.2-1], v3.1.1 [MQTT-4.7.2-1]: '$' topics skip leading wildcards.
        assert_eq!(matches(&t, "$SYS/x"), vec![5]);
        assert!(t.remove("a/#", &2).is_some());
        assert!(t.remove("a/#", &2).is_none());
        assert_eq!(matches(&t, "a"), vec![3]);
        assert_eq!(t.len(), 7);
    }

    #[test]
    fn removing_everything_prunes_the_tree() {
        let mut t = TopicTrie::new();
        t.insert("x/+/y/#", 1u32, ());
        t.insert("x/+/y", 2u32, ());
        t.remove("x/+/y/#", &1);
        t.remove("x/+/y", &2);
        assert!(t.root.is_empty());
        assert!(t.is_empty());
    }

    fn level() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("".to_owned()),
            Just("$s".to_owned())
        ]
    }

    fn filter() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(prop_oneof![level(), Just("+".to_owned())], 1..4),
            any::<bool>(),
        )
            .prop_map(|(mut levels, hash)| {
                if hash {
                    levels.push("#".into());
                }
                levels.join("/")
            })
            .prop_filter("filters are never empty", |f| !f.is_empty())
    }

    proptest! {
        /// The trie agrees with the naive level-by-level matcher of the codec on every topic.
        #[test]
        fn trie_matches_like_naive_matcher(
            filters in prop::collection::vec(filter(), 1..20),
            topics in prop::collection::vec(prop::collection::vec(level(), 1..5).prop_map(|l| l.join("/")), 1..20),
            removals in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let mut trie = TopicTrie::new();
            let mut live: Vec<(u32, String)> = Vec::new();
            for (i, f) in filters.iter().enumerate() {
                trie.insert(f, i as u32, ());
                live.push((i as u32, f.clone()));
            }
            for r in removals {
                if live.is_empty() { break; }
                let (k, f) = live.remove(r.index(live.len()));
                prop_assert!(trie.remove(&f, &k).is_some());
            }
            prop_assert_eq!(trie.len(), live.len());
            for topic in &topics {
                let mut expected: Vec<u32> = live
                    .iter()
                    .filter(|(_, f)| TopicFilter::try_from(f.as_str()).unwrap().matches(topic))
                    .map(|(k, _)| *k)
                    .collect();
                expected.sort_unstable();
                prop_assert_eq!(matches(&trie, topic), expected, "topic {}", topic);
            }
        }
    }
}
