//! MQTT 5 request/response: one client answers on `demo/time`, another asks.
//!
//! ```text
//! cargo run -p starling-cli -- broker &
//! cargo run -p starling-client --example request_response -- mqtt://127.0.0.1:1883
//! ```

use futures::StreamExt;
use starling_client::{codec::QoS, Client, ConnectOptions};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mqtt://127.0.0.1:1883".into());

    // The responder: answers every request on its response topic with its correlation data.
    let responder = Client::connect(ConnectOptions::new(&url)?).await?;
    let mut requests = responder
        .subscribe_stream("demo/time", QoS::AtLeastOnce)
        .await?;
    let answering = responder.clone();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if let Ok(reply) = answering.respond(&request, now.to_string()) {
                let _ = reply.qos(QoS::AtLeastOnce).await;
            }
        }
    });

    // The requester.
    let requester = Client::connect(ConnectOptions::new(&url)?).await?;
    let response = requester
        .request("demo/time", "what time is it?")
        .timeout(Duration::from_secs(5))
        .await?;
    println!(
        "the time is {} (answer on {})",
        String::from_utf8_lossy(&response.payload),
        response.topic()
    );
    requester.disconnect().await?;
    responder.disconnect().await?;
    Ok(())
}
