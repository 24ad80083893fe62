//! Authentication and authorization hooks, with Mosquitto-compatible password and ACL files.
//!
//! Hooks are small object-safe async traits ([`Authenticator`], [`Authorizer`]) returning a
//! [`BoxFuture`], so they can be stored as `Arc<dyn …>` and may do I/O. One convention for
//! every hook: `&self` and borrowed arguments in, a boxed `Send` future of a small answer
//! type out, no `async-trait` crate.
//!
//! Built-ins:
//! - [`PasswordFile`]: Mosquitto's `password_file` (`$7$` PBKDF2-SHA512 and `$6$` SHA-512
//!   lines from `mosquitto_passwd`) plus argon2id PHC lines; [`set_user`] and [`remove_user`]
//!   edit the text, [`hash_password_pbkdf2`] and [`hash_password_argon2id`] make the hashes.
//! - [`AclFile`]: Mosquitto's `acl_file` (`user`, `topic`, `pattern` with `%c`/`%u`).
//! - [`AllowAll`] and [`DenyAnonymous`].
//!
//! Both files reload in place (`reload`, for SIGHUP): clones share the parsed contents.
//!
//! ```
//! use starling_broker::auth::{
//!     hash_password_argon2id, set_user, Access, AclFile, AuthDecision, Authenticator,
//!     Authorizer, ClientIdentity, ConnectCredentials, PasswordFile,
//! };
//! use starling_codec::{ProtocolVersion, TopicName};
//!
//! # tokio_test_block_on(async {
//! let passwords = set_user("", "alice", &hash_password_argon2id("secret")).unwrap();
//! let passwords = PasswordFile::parse(&passwords).unwrap();
//! let mut connect = ConnectCredentials::new("sensor-1", ProtocolVersion::V5);
//! connect.username = Some("alice".into());
//! connect.password = Some("secret".into());
//! assert_eq!(passwords.authenticate(&connect).await, AuthDecision::Allow);
//!
//! let acl = AclFile::parse("user alice\ntopic write sensors/#\npattern read cmd/%c").unwrap();
//! let alice = ClientIdentity::new("sensor-1", Some("alice".into()));
//! let topic = TopicName::from_static("sensors/t").unwrap();
//! assert_eq!(acl.authorize_publish(&alice, &topic).await, Access::Allow);
//! # });
//! # fn tokio_test_block_on(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Runtime::new().unwrap().block_on(f)
//! # }
//! ```

mod acl;
mod builtin;
mod password;
mod source;

pub use acl::{AclError, AclFile};
pub use builtin::{AllowAll, DenyAnonymous};
pub use password::{
    hash_password_argon2id, hash_password_pbkdf2, remove_user, set_user, PasswordError,
    PasswordFile, MOSQUITTO_DEFAULT_ITERATIONS,
};

use starling_codec::{ProtocolVersion, ReasonCode, TopicFilter, TopicName};
use std::{future::Future, net::SocketAddr, pin::Pin};

/// A boxed, sendable future: the return type of every hook.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a CONNECT presents for authentication.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectCredentials {
    /// Client identifier (empty when the broker will assign one).
    pub client_id: String,
    /// User Name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<bytes::Bytes>,
    /// The client's address, when known.
    pub remote_addr: Option<SocketAddr>,
    /// Protocol version.
    pub protocol: ProtocolVersion,
}

impl ConnectCredentials {
    /// Credentials with a client identifier only (no user name, password or address); set
    /// the public fields for the rest. For tests of a hook and for callers outside the
    /// broker.
    pub fn new(client_id: impl Into<String>, protocol: ProtocolVersion) -> ConnectCredentials {
        ConnectCredentials {
            client_id: client_id.into(),
            username: None,
            password: None,
            remote_addr: None,
            protocol,
        }
    }
}

/// The answer of an [`Authenticator`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthDecision {
    /// Admit the client.
    Allow,
    /// Refuse with this CONNACK reason code (0x86 bad user name or password, 0x87 not
    /// authorized, 0x8A banned…; a 3.x client gets the matching return code).
    Deny(ReasonCode),
}

/// Who a connected client is, for authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientIdentity {
    /// Client identifier.
    pub client_id: String,
    /// Authenticated user name.
    pub username: Option<String>,
}

impl ClientIdentity {
    /// The identity of client `client_id`, authenticated as `username`.
    pub fn new(client_id: impl Into<String>, username: Option<String>) -> ClientIdentity {
        ClientIdentity {
            client_id: client_id.into(),
            username,
        }
    }
}

/// Access decision of an [`Authorizer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Allowed.
    Allow,
    /// Denied: a SUBSCRIBE filter gets 0x87 (0x80 for 3.x); a PUBLISH is dropped (answered
    /// 0x87 for MQTT 5 QoS > 0); a delivery is skipped.
    Deny,
}

/// Decides whether a client may connect.
///
/// The broker applies the listener's anonymous policy first (clients without a user name are
/// refused with 0x87 unless the listener allows anonymous clients, as `allow_anonymous` in
/// Mosquitto 2), then asks the authenticator about clients that present a user name.
pub trait Authenticator: Send + Sync + 'static {
    /// Checks the credentials of a CONNECT.
    fn authenticate<'a>(
        &'a self,
        credentials: &'a ConnectCredentials,
    ) -> BoxFuture<'a, AuthDecision>;
}

/// Decides what a connected client may publish, subscribe to and receive.
pub trait Authorizer: Send + Sync + 'static {
    /// May `client` publish to `topic`?
    fn authorize_publish<'a>(
        &'a self,
        client: &'a ClientIdentity,
        topic: &'a TopicName,
    ) -> BoxFuture<'a, Access>;

    /// May `client` subscribe to `filter`? Implementations check the filter proper: for
    /// `$share/g/f`, `f` ([`TopicFilter::filter`]).
    fn authorize_subscribe<'a>(
        &'a self,
        client: &'a ClientIdentity,
        filter: &'a TopicFilter,
    ) -> BoxFuture<'a, Access>;

    /// May `client` receive a message published to `topic` (through a subscription it was
    /// allowed, or a retained message)? Mosquitto checks read access here, on every delivery;
    /// it matters when a `deny` rule covers only part of an allowed subscription. The default
    /// allows: an authorizer whose subscription check is complete need not implement it.
    fn authorize_delivery<'a>(
        &'a self,
        client: &'a ClientIdentity,
        topic: &'a TopicName,
    ) -> BoxFuture<'a, Access> {
        let _ = (client, topic);
        Box::pin(async { Access::Allow })
    }
}
