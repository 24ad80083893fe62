//! Embeds the broker in a program: listens on the address given as first argument (default
//! 127.0.0.1:1883), publishes a retained greeting, and shuts down cleanly on Ctrl-C.

use bytes::Bytes;
use starling_broker::Broker;
use starling_codec::{QoS, TopicName};
use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:1883".into())
        .parse()?;
    let broker = Broker::builder()
        .listen_tcp(addr, true)
        .build()?
        .spawn()
        .await?;
    println!("listening on {:?}", broker.local_addrs());
    let topic = TopicName::try_from("hello/starling")?;
    broker
        .publish(
            topic,
            Bytes::from_static(b"welcome"),
            QoS::AtLeastOnce,
            true,
        )
        .await;
    tokio::signal::ctrl_c().await?;
    broker.shutdown().await;
    Ok(())
}
