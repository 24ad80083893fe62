//! Core policy.

use starling_codec::QoS;

/// Policy of the deterministic core.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CoreConfig {
    /// Highest QoS granted to subscriptions.
    pub maximum_qos: QoS,
    /// Most messages queued for an offline session; further ones are dropped and counted.
    pub max_offline_queue: usize,
    /// Prefix of assigned client identifiers.
    pub assigned_id_prefix: String,
    /// Most subscriptions one session may hold; more are refused with 0x97 (Quota exceeded;
    /// 0x80 for 3.x).
    pub max_subscriptions_per_client: usize,
    /// Whether QoS 0 messages are queued for offline sessions (Mosquitto's
    /// `queue_qos0_messages`, off by default).
    pub queue_qos0_offline: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            maximum_qos: QoS::ExactlyOnce,
            max_offline_queue: 1000,
            assigned_id_prefix: "auto-".to_owned(),
            queue_qos0_offline: false,
            max_subscriptions_per_client: 10_000,
        }
    }
}
