//! Authentication and authorization as the connection tasks see them.

use super::ListenerInfo;
use starling_codec::{ReasonCode, TopicFilter, TopicName};
use starling_session::ConnectInfo;

/// Who a connection is, once authenticated.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) client_id: String,
    pub(crate) username: Option<String>,
}

/// The hooks of a broker: anonymous policy per listener, then the configured authenticator
/// and authorizer.
#[derive(Default)]
pub(crate) struct Hooks {}

impl Hooks {
    pub(crate) async fn authenticate(
        &self,
        info: &ConnectInfo,
        listener: &ListenerInfo,
    ) -> Result<Identity, ReasonCode> {
        let username = info.username.as_ref().map(|u| u.to_string());
        if username.is_none() && !listener.allow_anonymous {
            return Err(ReasonCode::NotAuthorized);
        }
        Ok(Identity {
            client_id: info.client_id.to_string(),
            username,
        })
    }

    pub(crate) async fn authorize_publish(&self, _id: &Identity, _topic: &TopicName) -> bool {
        true
    }

    pub(crate) async fn authorize_subscribe(&self, _id: &Identity, _filter: &TopicFilter) -> bool {
        true
    }
}
