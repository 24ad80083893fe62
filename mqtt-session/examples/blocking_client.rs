//! A blocking MQTT client: [`ClientSession`] driven over a `std::net::TcpStream`, with no async
//! runtime. The session never reads a clock or touches the socket; this loop does both, and
//! derives each read timeout from `poll_timeout`.
//!
//! It connects, subscribes to a topic, publishes one QoS 1 message to it, waits for the
//! message to come back and for its PUBACK, then disconnects, printing each step.
//!
//! ```text
//! cargo run -p starling-session --example blocking_client -- [--v311] [HOST:PORT] [TOPIC]
//! ```
//!
//! Defaults: MQTT 5, `127.0.0.1:1883`, topic `starling/example`.

use bytes::BytesMut;
use starling_codec::{
    DisconnectProperties, MqttStr, ProtocolVersion, QoS, ReasonCode, SubscribeProperties,
    SubscriptionOptions, TopicFilter, TopicName,
};
use starling_session::{ClientConfig, ClientEvent, ClientPhase, ClientSession, PublishRequest};
use std::{
    error::Error,
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

/// How long the whole exchange may take before we give up.
const DEADLINE: Duration = Duration::from_secs(10);

/// The socket, the session and the bytes received but not yet decoded.
struct Connection {
    stream: TcpStream,
    session: ClientSession,
    rx: BytesMut,
    deadline: Instant,
}

impl Connection {
    /// Writes what the session wants sent.
    fn flush(&mut self) -> Result<(), Box<dyn Error>> {
        while let Some(bytes) = self.session.poll_transmit() {
            self.stream.write_all(&bytes)?;
        }
        Ok(())
    }

    /// Blocks until the session has an event, serving its timers meanwhile.
    fn next_event(&mut self) -> Result<ClientEvent, Box<dyn Error>> {
        loop {
            if let Some(event) = self.session.poll_event() {
                return Ok(event);
            }
            self.flush()?;
            let now = Instant::now();
            if now >= self.deadline {
                return Err("no answer from the broker in time".into());
            }
            // Sleep in `read` no longer than the session's next deadline (keep alive, response
            // timeout) or ours.
            let wake = self
                .session
                .poll_timeout()
                .map_or(self.deadline, |t| t.min(self.deadline));
            let wait = wake
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(wait))?;
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => self.session.handle_transport_closed(Instant::now()),
                Ok(n) => {
                    self.rx.extend_from_slice(&buf[..n]);
                    self.session.handle_bytes(Instant::now(), &mut self.rx);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    self.session.handle_timeout(Instant::now());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut version = ProtocolVersion::V5;
    let mut positional = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--v311" => version = ProtocolVersion::V3_1_1,
            "--v5" => version = ProtocolVersion::V5,
            _ => positional.push(arg),
        }
    }
    let addr = positional
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:1883".to_owned());
    let topic = positional
        .get(1)
        .cloned()
        .unwrap_or_else(|| "starling/example".to_owned());

    let stream = TcpStream::connect(&addr)?;
    stream.set_nodelay(true)?;
    println!("connected to {addr} over TCP, speaking {version}");

    let mut config = ClientConfig::new(version, MqttStr::try_from("starling-blocking-example")?);
    config.keep_alive = 30;
    let start = Instant::now();
    let mut conn = Connection {
        stream,
        session: ClientSession::new(start, config),
        rx: BytesMut::new(),
        deadline: start + DEADLINE,
    };

    // CONNECT was queued by the constructor.
    match conn.next_event()? {
        ClientEvent::Connected {
            session_present, ..
        } => println!("CONNACK: accepted (session present: {session_present})"),
        other => return Err(format!("no CONNACK: {other:?}").into()),
    }

    let filter = TopicFilter::try_from(topic.as_str())?;
    let sub_id = conn.session.subscribe(
        vec![(filter, SubscriptionOptions::new(QoS::AtLeastOnce))],
        None,
        SubscribeProperties::default(),
    )?;
    println!("SUBSCRIBE {topic} QoS 1 (packet id {})", sub_id.get());
    loop {
        match conn.next_event()? {
            ClientEvent::SubAck {
                packet_id,
                reason_codes,
            } if packet_id == sub_id => {
                println!("SUBACK: {reason_codes:?}");
                if reason_codes.iter().any(|rc| rc.is_error()) {
                    return Err("subscription refused".into());
                }
                break;
            }
            other => println!("(event: {other:?})"),
        }
    }

    let payload = format!(
        "hello from a blocking starling client, pid {}",
        std::process::id()
    );
    let request = PublishRequest::new(
        TopicName::try_from(topic.as_str())?,
        payload.clone().into_bytes(),
        QoS::AtLeastOnce,
    );
    let Some(pub_id) = conn.session.publish(Instant::now(), request)? else {
        return Err("a QoS 1 publish has a packet id".into());
    };
    println!(
        "PUBLISH {topic} QoS 1 (packet id {}): {payload:?}",
        pub_id.get()
    );

    let (mut acked, mut received) = (false, false);
    while !(acked && received) {
        match conn.next_event()? {
            ClientEvent::Published { packet_id, reason } if packet_id == pub_id => {
                println!("PUBACK for packet id {}: {reason:?}", packet_id.get());
                acked = true;
            }
            ClientEvent::Message { publish } => {
                let text = String::from_utf8_lossy(publish.payload());
                println!(
                    "message on {} (QoS {}): {text:?}",
                    publish.topic(),
                    publish.qos_pid.qos().as_u8()
                );
                received |= publish.payload() == payload.as_bytes();
            }
            ClientEvent::Closed { reason } => {
                return Err(format!("connection closed: {reason:?}").into())
            }
            other => println!("(event: {other:?})"),
        }
    }

    conn.session
        .disconnect(ReasonCode::Success, DisconnectProperties::default());
    conn.flush()?;
    conn.stream.shutdown(std::net::Shutdown::Both)?;
    assert_eq!(conn.session.phase(), ClientPhase::Closed);
    println!(
        "DISCONNECT sent; done in {:?}, no async runtime involved",
        start.elapsed()
    );
    Ok(())
}
