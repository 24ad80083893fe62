//! The embeddable Starling MQTT broker.
//!
//! Work in progress. What exists: the deterministic [`core`] (trie, retained store, sessions,
//! takeover, wills, expiry, shared groups) and a tokio runtime ([`Broker`] → [`BrokerHandle`])
//! with TCP listeners, one task per connection driving a `ServerSession`, a router task owning
//! the core, bounded per-connection outboxes, `$SYS` topics and graceful shutdown. Not yet:
//! WebSocket, password/ACL files, TOML configuration, the `starling broker` command, durable
//! storage.

pub mod auth;
pub mod config;
pub mod core;
mod hash;
mod runtime;
pub mod store;

pub use runtime::{
    Broker, BrokerBuilder, BrokerConfig, BrokerHandle, ConfigError, ListenerConfig, ListenerKind,
    Metrics,
};
