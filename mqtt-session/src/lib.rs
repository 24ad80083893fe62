//! Sans-IO MQTT protocol state machines: every per-connection rule of MQTT 3.1, 3.1.1 and 5.0,
//! deterministic and testable without sockets or clocks.
//!
//! - [`ServerSession`]: the server side of one client connection. The broker feeds it bytes
//!   and decides policy (authentication, routing, session storage).
//! - [`ClientSession`]: the client side of a connection: keep-alive pings, QoS flows with
//!   packet-id allocation and the server's receive-maximum quota, exactly-once inbound QoS 2,
//!   topic aliases, resend on session resume.
//! - [`SessionState`]: the persistable part of a session, given up with `into_state` and taken
//!   back on resume, so reconnect, takeover and restart are one code path.
//!
//! Nothing here imports an async runtime, performs I/O or reads a clock: time is passed in as
//! `now`, and deadlines come out of `poll_timeout`. The driving contract (getters, `handle_*`
//! inputs, commands, `poll_*` outputs) is documented on [`ServerSession`].
//!
//! With the `serde` feature, [`SessionState`] and everything it holds implement `Serialize` and
//! `Deserialize`, so a broker can persist sessions. Message expiry instants are stored as
//! wall-clock UNIX milliseconds: converting them is the crate's one clock read, and it happens
//! only while (de)serializing, never in the state machines.
//!
//! # Example
//!
//! A server session taking a 3.1.1 CONNECT and a QoS 1 PUBLISH:
//!
//! ```
//! use bytes::BytesMut;
//! use starling_session::{Accept, ServerConfig, ServerEvent, ServerSession};
//! use starling_codec::ReasonCode;
//! use std::time::Instant;
//!
//! let now = Instant::now(); // the caller's clock; the session never reads one
//! let mut session = ServerSession::new(now, ServerConfig::default());
//! // CONNECT (client id "a", keep alive 60 s), then PUBLISH QoS 1 "t" id 1 payload "hi".
//! let mut rx = BytesMut::from(&b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01a\x32\x07\x00\x01t\x00\x01hi"[..]);
//! session.handle_bytes(now, &mut rx);
//! let Some(ServerEvent::Connect(info)) = session.poll_event() else { panic!() };
//! assert_eq!(info.client_id, "a");
//! session.accept(now, Accept::new())?;
//! session.handle_bytes(now, &mut rx); // the PUBLISH waited for the accept
//! let Some(ServerEvent::Publish { message, packet_id: Some(id) }) = session.poll_event() else { panic!() };
//! assert_eq!(&message.payload[..], b"hi");
//! session.ack_publish(id, ReasonCode::Success)?; // once routed (or persisted)
//! // CONNACK then PUBACK, in one buffer for one write.
//! assert_eq!(&session.poll_transmit().unwrap()[..], b"\x20\x02\x00\x00\x40\x02\x00\x01");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod alias;
mod auth;
mod client;
mod message;
mod outbound;
#[cfg(feature = "serde")]
mod serde_time;
mod server;
mod state;
mod timer;
mod transmit;

/// Fuzzing entry points, called by the cargo-fuzz targets in `fuzz/` and replayed over the
/// checked-in corpus by `cargo test`. Not part of the public API.
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(test)]
mod tests;

pub use auth::{AuthMethod, AuthStep};
pub use client::{
    ClientCloseReason, ClientConfig, ClientError, ClientEvent, ClientPhase, ClientSession,
    PublishRequest,
};
pub use message::{DeliveryOptions, Message, MessageProperties};
pub use outbound::{InflightPublish, OutboundStage};
pub use server::{
    Accept, CloseReason, ConnectInfo, Delivery, QueuePolicy, ServerConfig, ServerError,
    ServerEvent, ServerPhase, ServerSession,
};
pub use state::{QueuedMessage, SessionState, Subscription};
pub use transmit::ZERO_COPY_MIN_PAYLOAD;
