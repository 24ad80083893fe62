//! Authentication and authorization as the connection tasks see them.

use super::ListenerInfo;
use crate::auth::{
    Access, AuthDecision, Authenticator, Authorizer, ClientIdentity, ConnectCredentials,
};
use starling_codec::{ReasonCode, TopicFilter, TopicName};
use starling_session::ConnectInfo;
use std::sync::Arc;

/// Who a connection is, once authenticated.
pub(crate) type Identity = ClientIdentity;

/// The hooks of a broker: the listener's anonymous policy, then the configured authenticator
/// and authorizer (none: everyone admitted, everything allowed).
#[derive(Default, Clone)]
pub(crate) struct Hooks {
    pub(crate) authenticator: Option<Arc<dyn Authenticator>>,
    pub(crate) authorizer: Option<Arc<dyn Authorizer>>,
}

impl Hooks {
    pub(crate) async fn authenticate(
        &self,
        info: &ConnectInfo,
        listener: &ListenerInfo,
    ) -> Result<Identity, ReasonCode> {
        let username = info.username.as_ref().map(|u| u.to_string());
        let identity = Identity {
            client_id: info.client_id.to_string(),
            username: username.clone(),
        };
        if username.is_none() {
            // As in Mosquitto 2: anonymous clients only where the listener allows them.
            return if listener.allow_anonymous {
                Ok(identity)
            } else {
                Err(ReasonCode::NotAuthorized)
            };
        }
        let Some(auth) = &self.authenticator else {
            return Ok(identity);
        };
        let credentials = ConnectCredentials {
            client_id: identity.client_id.clone(),
            username,
            password: info.password.clone(),
            remote_addr: None,
            protocol: info.version,
        };
        match auth.authenticate(&credentials).await {
            AuthDecision::Allow => Ok(identity),
            AuthDecision::Deny(reason) => Err(reason),
        }
    }

    pub(crate) async fn authorize_publish(&self, id: &Identity, topic: &TopicName) -> bool {
        match &self.authorizer {
            Some(a) => a.authorize_publish(id, topic).await == Access::Allow,
            None => true,
        }
    }

    pub(crate) async fn authorize_subscribe(&self, id: &Identity, filter: &TopicFilter) -> bool {
        match &self.authorizer {
            Some(a) => a.authorize_subscribe(id, filter).await == Access::Allow,
            None => true,
        }
    }
}
