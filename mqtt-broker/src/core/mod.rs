//! The deterministic broker core: no tokio, no I/O, no clock. Driven by inputs carrying `now`.

pub mod retained;
pub mod trie;
