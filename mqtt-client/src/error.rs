//! Errors and the reasons a connection ends.

use starling_codec::ReasonCode;
use starling_session::ClientError;
use std::{io, sync::Arc};

/// What can go wrong with a client operation.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transport could not be opened or failed.
    #[error("transport error: {0}")]
    Io(Arc<io::Error>),
    /// The server refused the connection (CONNACK reason code).
    #[error("connection refused by the server: {0:?}")]
    Refused(ReasonCode),
    /// The server answered with a failure reason code (PUBACK, PUBREC, SUBACK, UNSUBACK).
    #[error("rejected by the server: {0:?}")]
    Rejected(ReasonCode),
    /// No answer in time (connect, request).
    #[error("timed out")]
    Timeout,
    /// The client was disconnected (by [`Client::disconnect`](crate::Client::disconnect), or
    /// every handle was dropped, or reconnection gave up).
    #[error("the client is closed")]
    Closed,
    /// The connection was lost before a QoS 0 message was written.
    #[error("the connection was lost before the message was sent")]
    ConnectionLost,
    /// The offline queue is full and its policy refused (or evicted) this message.
    #[error("offline queue full")]
    QueueFull,
    /// The message waited longer than its expiry before it could be sent.
    #[error("the message expired before it could be sent")]
    Expired,
    /// The server discarded the session after the message's PUBREC: whether it reached the
    /// subscribers is unknown, and resending a QoS 2 message could deliver it twice.
    #[error("the server discarded the session while the QoS 2 flow was unfinished")]
    SessionLost,
    /// The session refused the request locally (server limits, packet too large, 3.x…).
    #[error(transparent)]
    Session(#[from] ClientError),
    /// The server broke the protocol; the client closed the connection with this code.
    #[error("protocol violation by the server ({0:?}): {1}")]
    Protocol(ReasonCode, &'static str),
    /// An argument is not valid (topic, filter, URL…).
    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(Arc::new(e))
    }
}

/// Why a connection ended (see [`Event::Disconnected`](crate::Event::Disconnected)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server sent DISCONNECT with this reason code (0x00 for 3.x).
    Server(ReasonCode),
    /// The transport closed or failed.
    Transport(Option<Arc<io::Error>>),
    /// The server did not answer a PINGREQ (or CONNECT) in time.
    Timeout,
    /// The server broke the protocol; we closed with this code.
    Protocol(ReasonCode, &'static str),
    /// The server refused the CONNECT.
    Refused(ReasonCode),
    /// We disconnected.
    Local,
}
