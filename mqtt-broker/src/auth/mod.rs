//! Authentication and authorization hooks, with Mosquitto-compatible password and ACL files.
//!
//! Hooks are small object-safe async traits ([`Authenticator`], [`Authorizer`]) returning a
//! boxed future, so they can be stored as `Arc<dyn …>` and may do I/O. The built-ins read the
//! files a Mosquitto user already has: [`PasswordFile`] (Mosquitto 2's `$7$` PBKDF2-SHA512 lines
//! and argon2id PHC lines) and [`AclFile`] (`user`, `topic`, `pattern` with `%c`/`%u`).

mod acl;
mod password;

pub use acl::{AclError, AclFile};
pub use password::{hash_password_argon2id, hash_password_pbkdf2, PasswordError, PasswordFile};

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

/// The answer of an [`Authenticator`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthDecision {
    /// Admit the client.
    Allow,
    /// Refuse with this CONNACK reason code (0x86 bad user name or password, 0x87 not
    /// authorized, 0x8A banned…).
    Deny(ReasonCode),
}

/// Who a connected client is, for authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Client identifier.
    pub client_id: String,
    /// Authenticated user name.
    pub username: Option<String>,
}

/// Access decision of an [`Authorizer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Allowed.
    Allow,
    /// Denied: a SUBSCRIBE filter gets 0x87 (0x80 for 3.x); a PUBLISH is dropped (answered
    /// 0x87 for MQTT 5 QoS > 0).
    Deny,
}

/// Decides whether a client may connect. Called only for clients that present a user name or
/// when anonymous access is allowed; the anonymous policy is the listener's.
pub trait Authenticator: Send + Sync + 'static {
    /// Checks the credentials of a CONNECT.
    fn authenticate<'a>(
        &'a self,
        credentials: &'a ConnectCredentials,
    ) -> BoxFuture<'a, AuthDecision>;
}

/// Decides what a connected client may publish and subscribe to.
pub trait Authorizer: Send + Sync + 'static {
    /// May `client` publish to `topic`?
    fn authorize_publish<'a>(
        &'a self,
        client: &'a ClientIdentity,
        topic: &'a TopicName,
    ) -> BoxFuture<'a, Access>;
    /// May `client` subscribe to `filter` (for `$share/g/f`, `f` is checked)?
    fn authorize_subscribe<'a>(
        &'a self,
        client: &'a ClientIdentity,
        filter: &'a TopicFilter,
    ) -> BoxFuture<'a, Access>;
}
