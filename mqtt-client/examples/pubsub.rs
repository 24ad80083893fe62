//! Publish and subscribe with acknowledgements.
//!
//! ```text
//! cargo run -p starling-cli -- broker &          # or any MQTT broker
//! cargo run -p starling-client --example pubsub -- mqtt://127.0.0.1:1883
//! ```

use futures::StreamExt;
use starling_client::{codec::QoS, Client, ConnectOptions, Event};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mqtt://127.0.0.1:1883".into());
    let client = Client::connect(
        ConnectOptions::new(&url)?
            .keep_alive(30)
            .session_expiry(600),
    )
    .await?;

    // Connection events, for applications that care.
    let mut events = client.events();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            match event {
                Event::Connected { session_present } => {
                    println!("connected (session present: {session_present})")
                }
                Event::Disconnected { reason } => println!("disconnected: {reason:?}"),
                other => println!("{other:?}"),
            }
        }
    });

    let mut readings = client
        .subscribe_stream("demo/sensors/#", QoS::AtLeastOnce)
        .await?;
    println!("subscribed, granted {:?}", readings.suback().granted_qos());

    for i in 0..5 {
        let outcome = client
            .publish(format!("demo/sensors/{i}"), format!("reading {i}"))
            .qos(QoS::ExactlyOnce)
            .await?; // resolves on PUBCOMP
        println!("published #{i}: {:?}", outcome.reason);
    }
    for _ in 0..5 {
        match tokio::time::timeout(Duration::from_secs(5), readings.next()).await {
            Ok(Some(m)) => println!(
                "received {} = {}",
                m.topic(),
                String::from_utf8_lossy(&m.payload)
            ),
            _ => break,
        }
    }
    client.disconnect().await?;
    Ok(())
}
