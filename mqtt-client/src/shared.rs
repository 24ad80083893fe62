//! State shared by the handles and the driver, and the commands between them.

use crate::{Error, Event, Message, PublishOutcome, SubAck, UnsubAck};
use bytes::Bytes;
use starling_codec::{
    DisconnectProperties, ReasonCode, SubscribeProperties, SubscriptionOptions, TopicFilter,
    UnsubscribeProperties,
};
use starling_session::PublishRequest;
use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Mutex, MutexGuard},
    time::Duration,
};
use tokio::{
    sync::{broadcast, mpsc, oneshot},
    time::Instant,
};

/// Where incoming messages go.
#[derive(Debug)]
pub(crate) struct Route {
    /// Every message (a [`Messages`](crate::Messages) from `Client::messages`).
    pub(crate) global: bool,
    /// The filters of a stream subscription.
    pub(crate) filters: Vec<TopicFilter>,
    /// Its subscription identifier, when the server supports them.
    pub(crate) identifier: Option<NonZeroU32>,
    pub(crate) tx: mpsc::Sender<Message>,
}

impl Route {
    /// Whether `msg` belongs on this route: by subscription identifier when both carry one,
    /// by topic matching otherwise.
    pub(crate) fn wants(&self, msg: &Message) -> bool {
        if self.global {
            return true;
        }
        let ids = &msg.properties.subscription_identifiers;
        match self.identifier {
            Some(id) if !ids.is_empty() => ids.contains(&id),
            _ => self.filters.iter().any(|f| f.matches(msg.topic())),
        }
    }
}

/// Shared between [`Client`](crate::Client) handles and the driver.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) routes: Mutex<Vec<Route>>,
    pub(crate) events: broadcast::Sender<Event>,
    /// Request/response: waiters by correlation data.
    pub(crate) replies: Mutex<HashMap<Bytes, oneshot::Sender<Message>>>,
    /// The response topic of this client's requests, once subscribed.
    pub(crate) reply_topic: tokio::sync::OnceCell<String>,
    pub(crate) message_capacity: usize,
    /// The offline queue's default per-message expiry.
    pub(crate) queue_expiry: Option<Duration>,
}

impl Shared {
    pub(crate) fn routes(&self) -> MutexGuard<'_, Vec<Route>> {
        // A poisoned lock only means a panic elsewhere mid-push; the Vec is still valid.
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn replies(&self) -> MutexGuard<'_, HashMap<Bytes, oneshot::Sender<Message>>> {
        self.replies.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// A publish on its way.
#[derive(Debug)]
pub(crate) struct PublishCommand {
    pub(crate) request: PublishRequest,
    /// When it was made (for the v5 Message Expiry Interval countdown).
    pub(crate) created: Instant,
    /// Dropped with [`Error::Expired`] if not sent by then.
    pub(crate) expires: Option<Instant>,
    pub(crate) reply: Option<Reply<PublishOutcome>>,
}

impl PublishCommand {
    /// Bytes it holds in the offline queue.
    pub(crate) fn size(&self) -> usize {
        self.request.topic.len() + self.request.payload.len()
    }

    pub(crate) fn finish(self, result: Result<PublishOutcome, Error>) {
        if let Some(reply) = self.reply {
            // The caller may have dropped its future; the publish stands.
            let _ = reply.send(result);
        }
    }
}

/// A SUBSCRIBE on its way (from the application, or a resubscription).
#[derive(Debug)]
pub(crate) struct SubscribeCommand {
    pub(crate) filters: Vec<(TopicFilter, SubscriptionOptions)>,
    pub(crate) properties: SubscribeProperties,
    /// The stream of a `subscribe_stream`.
    pub(crate) stream: Option<mpsc::Sender<Message>>,
    pub(crate) reply: Option<Reply<SubAck>>,
}

/// An UNSUBSCRIBE on its way.
#[derive(Debug)]
pub(crate) struct UnsubscribeCommand {
    pub(crate) filters: Vec<TopicFilter>,
    pub(crate) properties: UnsubscribeProperties,
    pub(crate) reply: Option<Reply<UnsubAck>>,
}

/// SUBSCRIBE or UNSUBSCRIBE, which keep their relative order.
#[derive(Debug)]
pub(crate) enum SubCommand {
    Subscribe(SubscribeCommand),
    Unsubscribe(UnsubscribeCommand),
}

impl SubCommand {
    pub(crate) fn fail(self, e: Error) {
        match self {
            SubCommand::Subscribe(s) => {
                if let Some(r) = s.reply {
                    let _ = r.send(Err(e));
                }
            }
            SubCommand::Unsubscribe(u) => {
                if let Some(r) = u.reply {
                    let _ = r.send(Err(e));
                }
            }
        }
    }
}

/// `Client::disconnect`.
#[derive(Debug)]
pub(crate) struct DisconnectCommand {
    pub(crate) reason: ReasonCode,
    pub(crate) properties: DisconnectProperties,
    pub(crate) timeout: Duration,
    pub(crate) reply: oneshot::Sender<()>,
}

/// From handles to the driver.
#[derive(Debug)]
pub(crate) enum Command {
    Publish(PublishCommand),
    Sub(SubCommand),
    Disconnect(DisconnectCommand),
}
