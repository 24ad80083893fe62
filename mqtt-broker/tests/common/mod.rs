//! Shared helpers of the broker's integration tests: a broker on an OS-chosen loopback port, a
//! raw-protocol client built on `starling_codec`, rumqttc wrappers that turn the event loop into
//! a stream of events, and bounded waits. Every wait is under [`TIMEOUT`]; nothing sleeps to
//! synchronise.

// Each test file uses a part of these helpers.
#![allow(dead_code, unreachable_pub, unused_imports)]

use bytes::{Bytes, BytesMut};
use starling_broker::{Broker, BrokerConfig, BrokerHandle};
use starling_codec::{
    ConnAck, Connect, MqttStr, Packet, ProtocolVersion, QoS, Will, MAX_PACKET_SIZE,
};
use std::{future::Future, net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc,
    task::JoinHandle,
};

mod driven;
pub use driven::{now, Driven};

/// Bound of every single wait in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Awaits `f` under [`TIMEOUT`], panicking with `what` if it does not finish.
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {TIMEOUT:?} waiting for {what}"),
    }
}

/// A broker configuration for tests: no listeners yet, no `$SYS` traffic.
pub fn test_config() -> BrokerConfig {
    let mut config = BrokerConfig::default();
    config.sys_interval = None;
    config
}

/// A running broker with one TCP listener on `127.0.0.1:0`.
pub struct TestBroker {
    pub handle: BrokerHandle,
    pub addr: SocketAddr,
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        TestBroker::with_config(test_config()).await
    }

    pub async fn with_config(config: BrokerConfig) -> TestBroker {
        let handle = Broker::builder()
            .config(config)
            .listen_tcp(SocketAddr::from(([127, 0, 0, 1], 0)), true)
            .build()
            .expect("valid config")
            .spawn()
            .await
            .expect("broker spawns");
        let addr = handle.local_addrs()[0];
        TestBroker { handle, addr }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits until the broker counts `n` open connections (a condition, polled; bounded).
    pub async fn wait_connections(&self, n: usize) {
        use std::sync::atomic::Ordering;
        within("connection count", async {
            while self.handle.metrics().connections.load(Ordering::SeqCst) != n {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
    }

    pub async fn shutdown(self) {
        within("broker shutdown", self.handle.shutdown()).await;
    }
}

// ----- raw protocol client -----

/// A CONNECT for `version` with client id `id`, clean start, keep alive 60 s.
pub fn connect_packet(version: ProtocolVersion, id: &str) -> Connect {
    Connect::new(version, MqttStr::try_from(id).expect("valid client id"))
}

/// A will on `topic` with `payload` at QoS 0.
pub fn will(topic: &str, payload: &'static [u8]) -> Will {
    Will {
        topic: starling_codec::TopicName::try_from(topic).expect("valid topic"),
        payload: Bytes::from_static(payload),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Default::default(),
    }
}

/// A client speaking the protocol through `starling_codec` over a real socket, for the cases
/// a well-behaved client library cannot produce.
pub struct Raw {
    pub stream: TcpStream,
    pub version: ProtocolVersion,
    buf: BytesMut,
}

impl Raw {
    /// A TCP connection that has sent nothing yet (answers decoded as `version`).
    pub async fn tcp(addr: SocketAddr, version: ProtocolVersion) -> Raw {
        let stream = within("tcp connect", TcpStream::connect(addr))
            .await
            .expect("tcp connect");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            version,
            buf: BytesMut::new(),
        }
    }

    /// Connects and returns the CONNACK (whatever its reason code).
    pub async fn connect(addr: SocketAddr, connect: Connect) -> (Raw, ConnAck) {
        let mut raw = Raw::tcp(addr, connect.protocol).await;
        raw.send(Packet::Connect(Box::new(connect))).await;
        match raw.recv().await {
            Packet::ConnAck(ack) => (raw, *ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with a default CONNECT and asserts success.
    pub async fn connect_ok(addr: SocketAddr, version: ProtocolVersion, id: &str) -> Raw {
        let (raw, ack) = Raw::connect(addr, connect_packet(version, id)).await;
        assert_eq!(ack.reason_code, starling_codec::ReasonCode::Success);
        raw
    }

    pub async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        packet.encode(self.version, &mut out).expect("encodable");
        self.send_bytes(&out).await;
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        within("write", self.stream.write_all(bytes))
            .await
            .expect("write");
    }

    /// The next packet, or `None` once the broker closed the connection.
    pub async fn next(&mut self) -> Option<Packet> {
        within("a packet from the broker", async {
            loop {
                match Packet::decode(self.version, &mut self.buf, MAX_PACKET_SIZE) {
                    Ok(Some(p)) => return Some(p),
                    Ok(None) => {}
                    Err(e) => panic!("broker sent undecodable bytes: {e}"),
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => {
                        assert!(self.buf.is_empty(), "partial packet before close");
                        return None;
                    }
                    Ok(_) => {}
                }
            }
        })
        .await
    }

    /// The next packet; the connection must still be open.
    pub async fn recv(&mut self) -> Packet {
        self.next()
            .await
            .expect("connection closed while waiting for a packet")
    }

    /// Reads until the broker closes the connection; returns what it sent before.
    pub async fn closed(&mut self) -> Vec<Packet> {
        let mut before = Vec::new();
        while let Some(p) = self.next().await {
            before.push(p);
        }
        before
    }

    /// Reads until the close and returns the DISCONNECT reason, if the broker sent one.
    pub async fn disconnect_reason(&mut self) -> Option<starling_codec::ReasonCode> {
        self.closed().await.into_iter().find_map(|p| match p {
            Packet::Disconnect(d) => Some(d.reason_code),
            _ => None,
        })
    }
}

// ----- rumqttc -----

/// What a rumqttc event loop produced; the loop stops at its first error.
pub enum Ev<E, X> {
    Event(E),
    Error(X),
}

/// Runs a rumqttc event loop in a task and forwards its events, stopping at the first error
/// (rumqttc would otherwise reconnect by itself).
pub struct Events<E, X> {
    rx: mpsc::UnboundedReceiver<Ev<E, X>>,
    task: JoinHandle<()>,
}

impl<E, X> Drop for Events<E, X> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<E, X> Events<E, X> {
    pub async fn next(&mut self) -> Option<Ev<E, X>> {
        within("a rumqttc event", self.rx.recv()).await
    }
}

pub mod v3 {
    use super::*;
    pub use rumqttc::{
        AsyncClient, ConnAck, ConnectionError, Event, Incoming, MqttOptions, Publish, QoS, SubAck,
        SubscribeReasonCode,
    };

    pub type Stream = Events<Event, ConnectionError>;

    pub fn options(addr: SocketAddr, id: &str) -> MqttOptions {
        let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        o.set_keep_alive(Duration::from_secs(30));
        o
    }

    /// Connects (waits for the CONNACK).
    pub async fn connect(options: MqttOptions) -> (AsyncClient, Stream, ConnAck) {
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let ev = match eventloop.poll().await {
                    Ok(e) => Ev::Event(e),
                    Err(e) => Ev::Error(e),
                };
                let stop = matches!(ev, Ev::Error(_));
                if tx.send(ev).is_err() || stop {
                    return;
                }
            }
        });
        let mut events = Events { rx, task };
        loop {
            match events.next().await {
                Some(Ev::Event(Event::Incoming(Incoming::ConnAck(ack)))) => {
                    return (client, events, ack)
                }
                Some(Ev::Event(_)) => {}
                Some(Ev::Error(e)) => panic!("rumqttc v3 connect failed: {e}"),
                None => panic!("rumqttc v3 event loop ended"),
            }
        }
    }

    pub async fn connect_clean(addr: SocketAddr, id: &str) -> (AsyncClient, Stream) {
        let (c, s, _) = connect(options(addr, id)).await;
        (c, s)
    }

    impl Stream {
        /// The next incoming packet (outgoing notifications skipped); panics on an error.
        pub async fn incoming(&mut self) -> Incoming {
            loop {
                match self.next().await {
                    Some(Ev::Event(Event::Incoming(p))) => return p,
                    Some(Ev::Event(Event::Outgoing(_))) => {}
                    Some(Ev::Error(e)) => panic!("rumqttc v3 error: {e}"),
                    None => panic!("rumqttc v3 event loop ended"),
                }
            }
        }

        /// The next incoming PUBLISH, skipping acknowledgements and pings.
        pub async fn publish(&mut self) -> Publish {
            loop {
                if let Incoming::Publish(p) = self.incoming().await {
                    return p;
                }
            }
        }

        pub async fn suback(&mut self) -> SubAck {
            loop {
                if let Incoming::SubAck(s) = self.incoming().await {
                    return s;
                }
            }
        }

        /// Waits for the PUBACK or PUBCOMP of a QoS 1/2 publish.
        pub async fn acked(&mut self) {
            loop {
                if matches!(
                    self.incoming().await,
                    Incoming::PubAck(_) | Incoming::PubComp(_)
                ) {
                    return;
                }
            }
        }

        /// Waits for the event loop's error (the connection ended); returns it.
        pub async fn error(&mut self) -> ConnectionError {
            loop {
                match self.next().await {
                    Some(Ev::Error(e)) => return e,
                    Some(Ev::Event(_)) => {}
                    None => panic!("rumqttc v3 event loop ended without an error"),
                }
            }
        }
    }

    /// Subscribes and waits for the SUBACK.
    pub async fn subscribe(c: &AsyncClient, s: &mut Stream, filter: &str, qos: QoS) -> SubAck {
        c.subscribe(filter, qos).await.expect("subscribe request");
        s.suback().await
    }
}

pub mod v5 {
    use super::*;
    pub use rumqttc::v5::{
        mqttbytes::{
            v5::{
                ConnAck, Filter, Packet as Incoming, Publish, PublishProperties, SubAck,
                SubscribeProperties, SubscribeReasonCode,
            },
            QoS,
        },
        AsyncClient, ConnectionError, Event, MqttOptions,
    };

    pub type Stream = Events<Event, ConnectionError>;

    pub fn options(addr: SocketAddr, id: &str) -> MqttOptions {
        let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        o.set_keep_alive(Duration::from_secs(30));
        o
    }

    pub async fn connect(options: MqttOptions) -> (AsyncClient, Stream, ConnAck) {
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let ev = match eventloop.poll().await {
                    Ok(e) => Ev::Event(e),
                    Err(e) => Ev::Error(e),
                };
                let stop = matches!(ev, Ev::Error(_));
                if tx.send(ev).is_err() || stop {
                    return;
                }
            }
        });
        let mut events = Events { rx, task };
        loop {
            match events.next().await {
                Some(Ev::Event(Event::Incoming(Incoming::ConnAck(ack)))) => {
                    return (client, events, ack)
                }
                Some(Ev::Event(_)) => {}
                Some(Ev::Error(e)) => panic!("rumqttc v5 connect failed: {e}"),
                None => panic!("rumqttc v5 event loop ended"),
            }
        }
    }

    pub async fn connect_clean(addr: SocketAddr, id: &str) -> (AsyncClient, Stream) {
        let (c, s, _) = connect(options(addr, id)).await;
        (c, s)
    }

    impl Stream {
        pub async fn incoming(&mut self) -> Incoming {
            loop {
                match self.next().await {
                    Some(Ev::Event(Event::Incoming(p))) => return p,
                    Some(Ev::Event(Event::Outgoing(_))) => {}
                    Some(Ev::Error(e)) => panic!("rumqttc v5 error: {e}"),
                    None => panic!("rumqttc v5 event loop ended"),
                }
            }
        }

        pub async fn publish(&mut self) -> Publish {
            loop {
                if let Incoming::Publish(p) = self.incoming().await {
                    return p;
                }
            }
        }

        pub async fn suback(&mut self) -> SubAck {
            loop {
                if let Incoming::SubAck(s) = self.incoming().await {
                    return s;
                }
            }
        }

        pub async fn acked(&mut self) {
            loop {
                if matches!(
                    self.incoming().await,
                    Incoming::PubAck(_) | Incoming::PubComp(_)
                ) {
                    return;
                }
            }
        }

        pub async fn error(&mut self) -> ConnectionError {
            loop {
                match self.next().await {
                    Some(Ev::Error(e)) => return e,
                    Some(Ev::Event(_)) => {}
                    None => panic!("rumqttc v5 event loop ended without an error"),
                }
            }
        }
    }

    pub async fn subscribe(c: &AsyncClient, s: &mut Stream, filter: &str, qos: QoS) -> SubAck {
        c.subscribe(filter, qos).await.expect("subscribe request");
        s.suback().await
    }

    /// Topic of a received v5 PUBLISH as text.
    pub fn topic(p: &Publish) -> &str {
        std::str::from_utf8(&p.topic).expect("utf-8 topic")
    }
}

// ----- child processes (mosquitto_pub / mosquitto_sub, python3 + paho-mqtt) -----

/// A child process whose stdout is read line by line; killed through its own handle if it does
/// not finish in time (and on drop).
pub struct Proc {
    what: String,
    child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
    stderr: JoinHandle<String>,
}

const INSTALL_HINT: &str = "run scripts/install-test-deps.sh to install the interop test peers";

impl Proc {
    /// Spawns `program` with `args`; a missing program fails the test with the install hint.
    pub fn spawn(program: &str, args: &[String]) -> Proc {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let what = format!("{program} {}", args.join(" "));
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{program}` ({e}): {INSTALL_HINT}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut r = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = r.next_line().await {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = tokio::spawn(async move {
            let mut s = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut s).await;
            s
        });
        Proc {
            what,
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    /// The next stdout line (`None` at the end of output).
    pub async fn line(&mut self) -> Option<String> {
        let line = match tokio::time::timeout(TIMEOUT, self.lines.recv()).await {
            Ok(l) => l,
            Err(_) => {
                let _ = self.child.start_kill();
                panic!(
                    "`{}`: no output line within {TIMEOUT:?}; so far: {:?}",
                    self.what, self.seen
                )
            }
        };
        if let Some(l) = &line {
            self.seen.push(l.clone());
        }
        line
    }

    /// Waits for a line satisfying `pred` and returns it.
    pub async fn line_where(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            match self.line().await {
                Some(l) if pred(&l) => return l,
                Some(_) => {}
                None => {
                    let stderr = self.stderr_now().await;
                    panic!(
                        "`{}` ended without the expected line; output: {:?}; stderr: {stderr}",
                        self.what, self.seen
                    )
                }
            }
        }
    }

    async fn stderr_now(&mut self) -> String {
        let _ = self.child.start_kill();
        match tokio::time::timeout(TIMEOUT, &mut self.stderr).await {
            Ok(Ok(s)) => s,
            _ => String::new(),
        }
    }

    /// Waits for the process to exit by itself (killing it after [`TIMEOUT`]) and asserts
    /// success; returns every stdout line it printed.
    pub async fn finish(mut self) -> Vec<String> {
        let status = match tokio::time::timeout(TIMEOUT, self.child.wait()).await {
            Ok(s) => s.expect("wait for child"),
            Err(_) => {
                let _ = self.child.kill().await;
                panic!(
                    "`{}` did not exit within {TIMEOUT:?}; output: {:?}",
                    self.what, self.seen
                )
            }
        };
        while let Some(l) = self.line().await {
            let _ = l;
        }
        let stderr = within("child stderr", &mut self.stderr)
            .await
            .unwrap_or_default();
        assert!(
            status.success(),
            "`{}` failed with {status}; output: {:?}; stderr: {stderr}",
            self.what,
            self.seen
        );
        std::mem::take(&mut self.seen)
    }

    /// Kills the process by its handle (SIGKILL: no DISCONNECT reaches the broker).
    pub async fn kill(mut self) {
        within("kill", self.child.kill()).await.expect("kill child");
    }
}

/// Fails the test with the install hint unless `program` is on `PATH`.
pub fn require_binary(program: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    assert!(found, "`{program}` is not on PATH: {INSTALL_HINT}");
}

/// Runs `program` to completion (bounded) and returns its stdout lines.
pub async fn run(program: &str, args: &[String]) -> Vec<String> {
    Proc::spawn(program, args).finish().await
}

/// `args!["-t", x, ...]` as a `Vec<String>`.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => { vec![$($a.to_string()),*] };
}
