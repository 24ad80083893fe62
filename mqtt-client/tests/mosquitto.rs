//! Interop with a real Mosquitto 2 broker (Debian package `mosquitto`, installed by
//! `scripts/install-test-deps.sh`), started by each test on a port the OS picked, for MQTT
//! 3.1.1 and 5. The last test kills and restarts Mosquitto (SIGTERM, persistence on) while a
//! QoS 1/2 stream is under way: nothing is lost and no QoS 2 message arrives twice.

// Test helpers panic on unexpected results by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::{stream::FuturesUnordered, StreamExt};
use starling_client::{
    codec::{ProtocolVersion, QoS, ReasonCode},
    Client, ConnectOptions, Event, Message, Reconnect,
};
use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};
use tokio::time::timeout;

const T: Duration = Duration::from_secs(20);

/// A Mosquitto process with its config and persistence directory.
struct Mosquitto {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

fn binary() -> PathBuf {
    for p in [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("mosquitto not found: run scripts/install-test-deps.sh (Debian package mosquitto)");
}

impl Mosquitto {
    async fn start() -> Mosquitto {
        // A port the OS picked, released for Mosquitto to bind.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!(
            "starling-client-mosquitto-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // Started as root, Mosquitto drops to the `mosquitto` user, which must be able to
        // write its persistence file here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
                 persistence_location {}/\nmax_queued_messages 10000\n",
                dir.display()
            ),
        )
        .unwrap();
        let mut m = Mosquitto {
            child: None,
            port,
            dir,
        };
        m.spawn().await;
        m
    }

    async fn spawn(&mut self) {
        let child = Command::new(binary())
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        // Ready when it accepts connections (polled under a deadline: there is no other
        // signal from another process).
        timeout(T, async {
            while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("mosquitto listening");
    }

    /// SIGTERM (Mosquitto saves its persistence file) and wait for the exit.
    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let waited = tokio::task::spawn_blocking(move || {
                let r = child.wait();
                (child, r)
            });
            let (mut child, r) = timeout(T, waited).await.unwrap().unwrap();
            if r.is_err() {
                let _ = child.kill();
            }
        }
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn options(m: &Mosquitto, id: &str, version: ProtocolVersion) -> ConnectOptions {
    ConnectOptions::new(&m.url())
        .unwrap()
        .client_id(id)
        .version(version)
        .reconnect(Reconnect::backoff(
            Duration::from_millis(50),
            Duration::from_millis(500),
        ))
}

async fn next(s: &mut (impl futures::Stream<Item = Message> + Unpin)) -> Message {
    timeout(T, s.next())
        .await
        .expect("message in time")
        .expect("stream open")
}

#[tokio::test]
async fn pub_sub_retained_and_will_with_mosquitto_in_both_versions() {
    let m = Mosquitto::start().await;
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let tag = format!("{version:?}");
        let sub = Client::connect(options(&m, &format!("sub-{tag}"), version))
            .await
            .unwrap();
        let publ = Client::connect(options(&m, &format!("pub-{tag}"), version))
            .await
            .unwrap();
        let mut s = sub
            .subscribe_stream(&format!("{tag}/#"), QoS::ExactlyOnce)
            .await
            .unwrap();
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let outcome = publ
                .publish(format!("{tag}/q"), format!("{qos:?}"))
                .qos(qos)
                .await
                .unwrap();
            assert!(!outcome.reason.is_error());
            let got = next(&mut s).await;
            assert_eq!(got.qos, qos);
            assert_eq!(&got.payload[..], format!("{qos:?}").as_bytes());
        }
        // Retained: set, seen by a later subscriber, cleared.
        publ.publish(format!("{tag}/ret"), "r")
            .qos(QoS::AtLeastOnce)
            .retain(true)
            .await
            .unwrap();
        let late = Client::connect(options(&m, &format!("late-{tag}"), version))
            .await
            .unwrap();
        let mut ls = late
            .subscribe_stream(&format!("{tag}/ret"), QoS::AtLeastOnce)
            .await
            .unwrap();
        let r = next(&mut ls).await;
        assert!(r.retain);
        publ.publish(format!("{tag}/ret"), "")
            .qos(QoS::AtLeastOnce)
            .retain(true)
            .await
            .unwrap();
        // Will: a client closing abnormally (v5: DISCONNECT 0x04) has its will published.
        let willing = Client::connect(
            options(&m, &format!("will-{tag}"), version)
                .last_will(&format!("{tag}/will"), "gone", QoS::AtLeastOnce, false)
                .unwrap()
                .reconnect(Reconnect::disabled()),
        )
        .await
        .unwrap();
        if version.is_v5() {
            willing
                .disconnect_with(
                    Duration::from_secs(1),
                    ReasonCode::DisconnectWithWillMessage,
                    Default::default(),
                )
                .await
                .unwrap();
            let w = loop {
                let w = next(&mut s).await;
                if w.topic().ends_with("/will") {
                    break w;
                }
            };
            assert_eq!(&w.payload[..], b"gone");
        } else {
            // A normal DISCONNECT discards the will.
            willing.disconnect().await.unwrap();
        }
        late.disconnect().await.unwrap();
        publ.disconnect().await.unwrap();
        sub.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn v5_request_response_and_subscription_identifiers_through_mosquitto() {
    let m = Mosquitto::start().await;
    let responder = Client::connect(options(&m, "responder", ProtocolVersion::V5))
        .await
        .unwrap();
    let mut requests = responder
        .subscribe_stream("rr/service", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut others = responder
        .subscribe_stream("rr/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let r = responder.clone();
    tokio::spawn(async move {
        while let Some(req) = requests.next().await {
            // Mosquitto supports subscription identifiers: routed by the one we assigned.
            assert_eq!(req.properties.subscription_identifiers.len(), 1);
            let _ = r
                .respond(&req, [b"re:".as_slice(), &req.payload].concat())
                .unwrap()
                .qos(QoS::AtLeastOnce)
                .await;
        }
    });
    let requester = Client::connect(options(&m, "requester", ProtocolVersion::V5))
        .await
        .unwrap();
    let answer = requester
        .request("rr/service", "ping")
        .timeout(T)
        .await
        .unwrap();
    assert_eq!(&answer.payload[..], b"re:ping");
    // The wider stream saw the request too (overlapping subscriptions, one copy each).
    assert_eq!(next(&mut others).await.topic(), "rr/service");
}

#[tokio::test]
async fn qos1_and_qos2_streams_survive_repeated_mosquitto_restarts() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut m = Mosquitto::start().await;
        let persistent = |id: &str| {
            let o = options(&m, id, version).clean_start(false);
            if version.is_v5() {
                o.session_expiry(3600)
            } else {
                o
            }
        };
        let sub = Client::connect(persistent("chaos-sub")).await.unwrap();
        let mut stream = sub
            .subscribe_stream("chaos/#", QoS::ExactlyOnce)
            .await
            .unwrap();
        let publ = Client::connect(persistent("chaos-pub")).await.unwrap();
        let mut events = publ.events();

        const N: u32 = 400;
        const WINDOW: usize = 16;
        let publisher = {
            let publ = publ.clone();
            tokio::spawn(async move {
                let mut inflight = FuturesUnordered::new();
                let mut acked = 0u32;
                for i in 0..N {
                    let qos = if i % 2 == 0 {
                        QoS::AtLeastOnce
                    } else {
                        QoS::ExactlyOnce
                    };
                    let publ = publ.clone();
                    inflight.push(async move {
                        publ.publish(format!("chaos/{}", i % 4), i.to_be_bytes().to_vec())
                            .qos(qos)
                            .await
                            .map(|_| i)
                    });
                    if inflight.len() >= WINDOW {
                        inflight.next().await.unwrap().expect("acknowledged");
                        acked += 1;
                    }
                }
                while let Some(r) = inflight.next().await {
                    r.expect("acknowledged");
                    acked += 1;
                }
                acked
            })
        };

        // Restart Mosquitto three times while the stream flows.
        let mut seen: HashMap<u32, u32> = HashMap::new();
        let mut restarts = 0;
        let collect = timeout(Duration::from_secs(120), async {
            while seen.len() < N as usize {
                let msg = next(&mut stream).await;
                let i = u32::from_be_bytes(msg.payload[..4].try_into().unwrap());
                *seen.entry(i).or_default() += 1;
                if restarts < 3 && seen.len() as u32 >= (restarts + 1) * N / 4 {
                    restarts += 1;
                    m.stop().await;
                    m.spawn().await;
                }
            }
        })
        .await;
        assert!(
            collect.is_ok(),
            "{version:?}: only {} of {N} messages after restarts",
            seen.len()
        );
        assert_eq!(restarts, 3);
        assert_eq!(timeout(T, publisher).await.unwrap().unwrap(), N);
        // Exactly once for QoS 2 (odd sequence numbers); QoS 1 may repeat.
        for (i, count) in &seen {
            if i % 2 == 1 {
                assert_eq!(
                    *count, 1,
                    "{version:?}: QoS 2 message {i} delivered {count} times"
                );
            }
        }
        // The publisher did see the broker go away and come back (two restarts may fall in
        // one of its backoff waits, so at least once).
        let mut reconnects = 0;
        while reconnects < 1 {
            match timeout(T, events.recv())
                .await
                .expect("reconnected in time")
            {
                Ok(Event::Connected { .. }) => reconnects += 1,
                Ok(_) => {}
                Err(e) => panic!("{version:?}: events: {e}"),
            }
        }
        publ.disconnect().await.unwrap();
        sub.disconnect().await.unwrap();
    }
}
