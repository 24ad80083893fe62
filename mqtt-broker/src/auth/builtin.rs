//! Built-in hooks that need no file.

use super::{
    Access, AuthDecision, Authenticator, Authorizer, BoxFuture, ClientIdentity, ConnectCredentials,
};
use starling_codec::{ReasonCode, TopicFilter, TopicName};

/// Admits every client and allows every publish, subscription and delivery: what the broker
/// does without hooks, as a value (for tests, or to combine with other hooks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllowAll;

impl Authenticator for AllowAll {
    fn authenticate<'a>(&'a self, _: &'a ConnectCredentials) -> BoxFuture<'a, AuthDecision> {
        Box::pin(async { AuthDecision::Allow })
    }
}

impl Authorizer for AllowAll {
    fn authorize_publish<'a>(
        &'a self,
        _: &'a ClientIdentity,
        _: &'a TopicName,
    ) -> BoxFuture<'a, Access> {
        Box::pin(async { Access::Allow })
    }

    fn authorize_subscribe<'a>(
        &'a self,
        _: &'a ClientIdentity,
        _: &'a TopicFilter,
    ) -> BoxFuture<'a, Access> {
        Box::pin(async { Access::Allow })
    }
}

/// Refuses clients without a user name (0x87 Not authorized, as Mosquitto 2 does with
/// `allow_anonymous false`) and asks the wrapped authenticator about the others.
///
/// The broker applies its per-listener anonymous policy before any authenticator; this
/// wrapper is for embedders that call an authenticator themselves or want the policy inside
/// one hook.
#[derive(Debug, Clone, Default)]
pub struct DenyAnonymous<A> {
    inner: A,
}

impl<A> DenyAnonymous<A> {
    /// Wraps `inner`.
    pub fn new(inner: A) -> DenyAnonymous<A> {
        DenyAnonymous { inner }
    }

    /// The wrapped authenticator.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// Unwraps the authenticator.
    pub fn into_inner(self) -> A {
        self.inner
    }
}

impl<A: Authenticator> Authenticator for DenyAnonymous<A> {
    fn authenticate<'a>(&'a self, c: &'a ConnectCredentials) -> BoxFuture<'a, AuthDecision> {
        if c.username.is_none() {
            return Box::pin(async { AuthDecision::Deny(ReasonCode::NotAuthorized) });
        }
        self.inner.authenticate(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use starling_codec::ProtocolVersion;
    use std::sync::Arc;

    #[test]
    fn allow_all_allows_everything() {
        let who = ClientIdentity::new("c", None);
        let hooks: (Arc<dyn Authenticator>, Arc<dyn Authorizer>) =
            (Arc::new(AllowAll), Arc::new(AllowAll));
        let c = ConnectCredentials::new("c", ProtocolVersion::V3_1_1);
        assert_eq!(block_on(hooks.0.authenticate(&c)), AuthDecision::Allow);
        let topic = TopicName::from_static("$SYS/x").unwrap();
        let filter = TopicFilter::from_static("#").unwrap();
        assert_eq!(
            block_on(hooks.1.authorize_publish(&who, &topic)),
            Access::Allow
        );
        assert_eq!(
            block_on(hooks.1.authorize_subscribe(&who, &filter)),
            Access::Allow
        );
        assert_eq!(
            block_on(hooks.1.authorize_delivery(&who, &topic)),
            Access::Allow
        );
    }

    #[test]
    fn deny_anonymous_refuses_only_clients_without_a_user_name() {
        let hook = DenyAnonymous::new(AllowAll);
        let mut c = ConnectCredentials::new("c", ProtocolVersion::V5);
        assert_eq!(
            block_on(hook.authenticate(&c)),
            AuthDecision::Deny(ReasonCode::NotAuthorized)
        );
        // A password alone does not make a client known.
        c.password = Some(bytes::Bytes::from_static(b"pw"));
        assert_eq!(
            block_on(hook.authenticate(&c)),
            AuthDecision::Deny(ReasonCode::NotAuthorized)
        );
        c.username = Some("u".into());
        assert_eq!(block_on(hook.authenticate(&c)), AuthDecision::Allow);
        assert_eq!(hook.into_inner(), AllowAll);
    }
}
