//! The async Starling MQTT client (MQTT 3.1, 3.1.1 and 5.0) for tokio.
//!
//! - [`Client`] is a cheap `Clone` handle; a driver task owns the
//!   [`ClientSession`](starling_session::ClientSession), the transport and the timers, so
//!   nothing waits for the application to poll an event loop.
//! - [`Client::publish`] resolves when *your* message is written (QoS 0), acknowledged by
//!   PUBACK (QoS 1) or completed by PUBCOMP (QoS 2), with the reason code;
//!   [`Client::subscribe`] resolves with the granted QoS.
//! - Incoming messages arrive on bounded [`futures::Stream`]s: [`Client::messages`] for
//!   everything, [`Client::subscribe_stream`] per subscription. A full stream stops the client
//!   reading the socket: backpressure instead of unbounded buffering.
//! - Reconnection with exponential backoff and jitter ([`Reconnect`]), session resume with DUP
//!   resend, republish and resubscribe when the server lost the session, a bounded offline
//!   queue with per-message expiry ([`OfflineQueue`]), connection [`Event`]s, and
//!   [`Client::disconnect`] that drains in-flight work before sending DISCONNECT.
//! - Transports: `mqtt://` (TCP), `ws://` (WebSocket), or any `AsyncRead + AsyncWrite`
//!   ([`ConnectOptions::with_connector`]).
//! - Request/response over MQTT 5 response topic and correlation data: [`Client::request`],
//!   [`Client::respond`].
//!
//! # Example
//!
//! ```
//! use futures::StreamExt;
//! use starling_client::{Client, ConnectOptions};
//! use starling_codec::QoS;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let broker = starling_broker::Broker::builder()
//! #     .listen_tcp("127.0.0.1:0".parse()?, true)
//! #     .build()?
//! #     .spawn()
//! #     .await?;
//! # let url = format!("mqtt://{}", broker.local_addrs()[0]);
//! // let url = "mqtt://127.0.0.1:1883";
//! let client = Client::connect(ConnectOptions::new(&url)?.client_id("example")).await?;
//!
//! let mut temperatures = client.subscribe_stream("sensors/+/temperature", QoS::AtLeastOnce).await?;
//! let outcome = client
//!     .publish("sensors/kitchen/temperature", "21.5")
//!     .qos(QoS::AtLeastOnce)
//!     .await?; // PUBACK received
//! println!("acknowledged: {:?}", outcome.reason);
//!
//! let message = temperatures.next().await.ok_or("stream ended")?;
//! assert_eq!(message.topic(), "sensors/kitchen/temperature");
//! assert_eq!(&message.payload[..], b"21.5");
//!
//! client.disconnect().await?;
//! # broker.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod backoff;
mod client;
mod driver;
mod error;
pub mod format;
mod message;
mod options;
mod outgoing;
mod shared;
mod transport;

pub use client::{Client, Driving, PublishBuilder, RequestBuilder};
pub use error::{DisconnectReason, Error};
pub use message::{Event, Message, Messages, PublishOutcome, SubAck, Subscription, UnsubAck};
pub use options::{AuthHandler, ConnectOptions, OfflineQueue, ParsedUrl, QueueFull, Reconnect};
pub use transport::{BoxedIo, Connector, Io};

/// The codec types that appear in this crate's API (QoS, properties, reason codes…).
pub use starling_codec as codec;
