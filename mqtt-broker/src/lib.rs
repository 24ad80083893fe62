//! The embeddable Starling MQTT broker.
//!
//! Work in progress: only the deterministic core's subscription trie exists so far
//! ([`core::trie::TopicTrie`]). The runtime, listeners, retained store, sessions, auth and the
//! `starling broker` command are not implemented yet.

pub mod core;
