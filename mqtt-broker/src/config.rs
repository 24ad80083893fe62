//! The broker's TOML configuration file (see `docs/broker.toml` for every option).

use crate::{
    core::CoreConfig,
    runtime::{BrokerConfig, ListenerConfig, ListenerKind},
};
use serde::{Deserialize, Serialize};
use starling_codec::QoS;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// One `[[listeners]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileListener {
    /// Address to bind, e.g. `"127.0.0.1:1883"` or `"[::1]:1883"`.
    pub addr: SocketAddr,
    /// `"tcp"` (default) or `"ws"` (MQTT over WebSocket on path `/mqtt`).
    #[serde(default = "default_kind")]
    pub kind: String,
}

fn default_kind() -> String {
    "tcp".to_owned()
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// The password and ACL files a broker was built with; clones share their contents with the
/// broker's, so a reload here changes what the running broker checks.
#[derive(Debug, Clone, Default)]
pub struct AuthFiles {
    /// The password file, if configured.
    pub password: Option<crate::auth::PasswordFile>,
    /// The ACL file, if configured.
    pub acl: Option<crate::auth::AclFile>,
}

impl AuthFiles {
    /// Re-reads both files. On an error the old contents stay in force.
    pub fn reload(&self) -> Result<(), FileConfigError> {
        if let Some(p) = &self.password {
            p.reload()
                .map_err(|e| FileConfigError::Invalid(format!("password file: {e}")))?;
        }
        if let Some(a) = &self.acl {
            a.reload()
                .map_err(|e| FileConfigError::Invalid(format!("ACL file: {e}")))?;
        }
        Ok(())
    }
}

/// The configuration file. Every field has a safe default; unknown keys are errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Listeners. None configured: 127.0.0.1:1883 with anonymous access, as Mosquitto 2.
    pub listeners: Vec<FileListener>,
    /// Admit clients without a user name on configured listeners (the zero-configuration
    /// loopback listener always admits them, as in Mosquitto 2).
    pub allow_anonymous: bool,
    /// Mosquitto-format password file (`user:$7$…` PBKDF2-SHA512 or argon2id lines).
    pub password_file: Option<PathBuf>,
    /// Mosquitto-format ACL file.
    pub acl_file: Option<PathBuf>,
    /// Most simultaneous connections (over it: CONNACK 0x97, 3.x 0x03).
    pub max_connections: usize,
    /// Most new connections per second, broker-wide; 0: no limit (over it: CONNACK 0x9F,
    /// 3.x 0x03).
    pub max_connection_rate: u32,
    /// Largest packet accepted, bytes.
    pub max_packet_size: u32,
    /// Unacknowledged QoS 1/2 messages a client may send at once (MQTT 5 Receive Maximum).
    pub receive_maximum: u16,
    /// Highest topic alias clients may use (0: none).
    pub topic_alias_maximum: u16,
    /// Largest keep alive accepted, seconds.
    pub max_keep_alive: u16,
    /// Seconds a new connection has to send its CONNECT.
    pub connect_timeout: u64,
    /// Messages queued per connected session beyond its send quota.
    pub max_queued_messages: usize,
    /// Unacknowledged QoS 1/2 messages sent to a client at once (at most the client's MQTT 5
    /// Receive Maximum); like Mosquitto's `max_inflight_messages`.
    pub max_inflight_messages: u16,
    /// Messages queued per offline session.
    pub max_offline_queue: usize,
    /// Subscriptions per client.
    pub max_subscriptions_per_client: usize,
    /// Deliveries waiting in a connection's outbox before QoS 0 ones are dropped.
    pub max_outbox_qos0: usize,
    /// Deliveries waiting in a connection's outbox before any is dropped.
    pub max_outbox: usize,
    /// Highest QoS granted (0, 1 or 2).
    pub maximum_qos: u8,
    /// Seconds between `$SYS` updates (0: no `$SYS` topics).
    pub sys_interval: u64,
    /// Log format.
    pub log_format: LogFormat,
}

impl Default for FileConfig {
    fn default() -> Self {
        let b = BrokerConfig::default();
        FileConfig {
            listeners: Vec::new(),
            allow_anonymous: false,
            password_file: None,
            acl_file: None,
            max_connections: b.max_connections,
            max_connection_rate: b.max_connection_rate.unwrap_or(0),
            max_packet_size: b.session.max_packet_size,
            receive_maximum: b.session.receive_maximum,
            topic_alias_maximum: b.session.topic_alias_maximum,
            max_keep_alive: b.session.max_keep_alive,
            connect_timeout: b.session.connect_timeout.as_secs(),
            max_queued_messages: b.session.max_queued_messages,
            max_inflight_messages: b.session.max_inflight,
            max_offline_queue: b.core.max_offline_queue,
            max_subscriptions_per_client: b.core.max_subscriptions_per_client,
            max_outbox_qos0: b.max_outbox_qos0,
            max_outbox: b.max_outbox,
            maximum_qos: 2,
            sys_interval: b.sys_interval.map_or(0, |d| d.as_secs()),
            log_format: LogFormat::Human,
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The TOML is invalid or has unknown keys.
    #[error("invalid configuration: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl FileConfig {
    /// Reads and parses a TOML file.
    pub fn load(path: &std::path::Path) -> Result<FileConfig, FileConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| FileConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        FileConfig::parse(&text)
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<FileConfig, FileConfigError> {
        Ok(toml::from_str(text)?)
    }

    /// The configuration as TOML (for `--print-config`). With no listeners configured, a
    /// leading comment says what the broker will listen on, since `listeners = []` alone does
    /// not.
    pub fn to_toml(&self) -> String {
        let body =
            toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"));
        if self.listeners.is_empty() {
            format!(
                "# No listeners configured: the broker listens on 127.0.0.1:1883 only and admits\n\
                 # anonymous clients there (as Mosquitto 2 does with no configuration).\n{body}"
            )
        } else {
            body
        }
    }

    /// A broker builder for this configuration, with the password and ACL files loaded.
    pub fn to_builder(&self) -> Result<crate::BrokerBuilder, FileConfigError> {
        self.to_builder_with_files().map(|(builder, _)| builder)
    }

    /// [`to_builder`](Self::to_builder), plus handles on the loaded password and ACL files
    /// to [`reload`](AuthFiles::reload) them in place (on SIGHUP, as Mosquitto does).
    pub fn to_builder_with_files(
        &self,
    ) -> Result<(crate::BrokerBuilder, AuthFiles), FileConfigError> {
        let mut builder = crate::Broker::builder().config(self.to_broker_config()?);
        let mut files = AuthFiles::default();
        if let Some(path) = &self.password_file {
            let file = crate::auth::PasswordFile::load(path)
                .map_err(|e| FileConfigError::Invalid(format!("{}: {e}", path.display())))?;
            builder = builder.authenticator(std::sync::Arc::new(file.clone()));
            files.password = Some(file);
        }
        if let Some(path) = &self.acl_file {
            let file = crate::auth::AclFile::load(path)
                .map_err(|e| FileConfigError::Invalid(format!("{}: {e}", path.display())))?;
            builder = builder.authorizer(std::sync::Arc::new(file.clone()));
            files.acl = Some(file);
        }
        Ok((builder, files))
    }

    /// The broker configuration this file describes.
    pub fn to_broker_config(&self) -> Result<BrokerConfig, FileConfigError> {
        let invalid = |s: &str| FileConfigError::Invalid(s.to_owned());
        let maximum_qos = QoS::from_u8(self.maximum_qos)
            .ok_or_else(|| invalid("maximum_qos must be 0, 1 or 2"))?;
        if self.receive_maximum == 0 {
            return Err(invalid("receive_maximum must be at least 1"));
        }
        if self.max_packet_size < 16 {
            return Err(invalid("max_packet_size must be at least 16"));
        }
        let mut listeners = Vec::new();
        for l in &self.listeners {
            let kind = match l.kind.as_str() {
                "tcp" => ListenerKind::Tcp,
                "ws" | "websocket" => ListenerKind::WebSocket,
                other => {
                    return Err(FileConfigError::Invalid(format!(
                        "unknown listener kind {other:?}"
                    )))
                }
            };
            listeners.push(ListenerConfig {
                addr: l.addr,
                kind,
                allow_anonymous: self.allow_anonymous,
            });
        }
        let mut b = BrokerConfig {
            listeners,
            max_connections: self.max_connections,
            max_connection_rate: (self.max_connection_rate > 0).then_some(self.max_connection_rate),
            max_outbox_qos0: self.max_outbox_qos0,
            max_outbox: self.max_outbox,
            sys_interval: (self.sys_interval > 0).then(|| Duration::from_secs(self.sys_interval)),
            ..BrokerConfig::default()
        };
        let s = &mut b.session;
        s.max_packet_size = self.max_packet_size;
        s.receive_maximum = self.receive_maximum;
        s.topic_alias_maximum = self.topic_alias_maximum;
        s.max_keep_alive = self.max_keep_alive;
        s.connect_timeout = Duration::from_secs(self.connect_timeout.max(1));
        s.max_queued_messages = self.max_queued_messages;
        s.max_inflight = self.max_inflight_messages.max(1);
        s.maximum_qos = maximum_qos;
        b.core = CoreConfig {
            maximum_qos,
            max_offline_queue: self.max_offline_queue,
            max_subscriptions_per_client: self.max_subscriptions_per_client,
            ..CoreConfig::default()
        };
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_map() {
        let c = FileConfig::default();
        let again = FileConfig::parse(&c.to_toml()).unwrap();
        assert_eq!(c, again);
        let b = c.to_broker_config().unwrap();
        assert!(b.listeners.is_empty());
    }

    #[test]
    fn listeners_and_limits() {
        let c = FileConfig::parse(
            "allow_anonymous = true\nmax_connections = 5\nmaximum_qos = 1\n\n[[listeners]]\naddr = \"127.0.0.1:1884\"\n\n[[listeners]]\naddr = \"[::1]:9001\"\nkind = \"ws\"\n",
        )
        .unwrap();
        let b = c.to_broker_config().unwrap();
        assert_eq!(b.listeners.len(), 2);
        assert_eq!(b.listeners[1].kind, ListenerKind::WebSocket);
        assert!(b.listeners[0].allow_anonymous);
        assert_eq!(b.max_connections, 5);
        assert_eq!(b.session.maximum_qos, QoS::AtLeastOnce);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(FileConfig::parse("bogus = 1").is_err());
        assert!(FileConfig::parse("maximum_qos = 3")
            .unwrap()
            .to_broker_config()
            .is_err());
        assert!(
            FileConfig::parse("[[listeners]]\naddr = \"127.0.0.1:1\"\nkind = \"udp\"")
                .unwrap()
                .to_broker_config()
                .is_err()
        );
    }

    #[test]
    fn the_documented_example_file_parses_and_maps_every_limit() {
        let f = FileConfig::parse(include_str!("../../docs/broker.toml")).unwrap();
        assert_eq!(f.max_connection_rate, 0);
        let mut f = f;
        f.max_connection_rate = 50;
        let b = f.to_broker_config().unwrap();
        assert_eq!(b.max_connection_rate, Some(50));
        assert_eq!(b.max_connections, f.max_connections);
    }
}
