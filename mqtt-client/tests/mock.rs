//! The client against a scripted server over `tokio::io::duplex`, in paused time: reconnect
//! and backoff timing, DUP resend after a cut, resubscribe and republish when the session is
//! lost, offline queue limits and expiry, cancellation safety, backpressure, disconnect.

// Test helpers panic on unexpected results by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::BytesMut;
use futures::StreamExt;
use starling_client::{
    codec::{
        ConnAck, Decoder, Packet, ProtocolVersion, PubAck, PubComp, PubRec, Publish, QoS, QosPid,
        ReasonCode, SubAck, TopicName, UnsubAck,
    },
    Client, ConnectOptions, Driving, Error, Event, OfflineQueue, QueueFull, Reconnect,
};
use std::{io, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, DuplexStream},
    sync::{mpsc, Mutex},
    time::{timeout, Instant},
};

/// One accepted connection, from the server's side.
struct Peer {
    io: DuplexStream,
    decoder: Decoder,
    buf: BytesMut,
    version: ProtocolVersion,
}

impl Peer {
    async fn recv(&mut self) -> Option<Packet> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(p)) => {
                    if let Packet::Connect(c) = &p {
                        self.version = c.protocol;
                    }
                    return Some(p);
                }
                Ok(None) => {}
                Err(e) => panic!("client sent garbage: {e}"),
            }
            let mut chunk = [0u8; 4096];
            match self.io.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn expect(&mut self) -> Packet {
        timeout(Duration::from_secs(60), self.recv())
            .await
            .expect("packet in time")
            .expect("connection open")
    }

    async fn send(&mut self, p: Packet) {
        let mut out = BytesMut::new();
        p.encode(self.version, &mut out).unwrap();
        self.io.write_all(&out).await.unwrap();
    }

    async fn suback(&mut self, packet_id: starling_client::codec::PacketId, code: ReasonCode) {
        self.send(Packet::SubAck(SubAck {
            packet_id,
            reason_codes: vec![code],
            properties: Default::default(),
        }))
        .await;
    }

    /// Reads CONNECT, answers CONNACK; returns the CONNECT's clean start flag.
    async fn accept(&mut self, session_present: bool) -> bool {
        let Packet::Connect(c) = self.expect().await else {
            panic!("expected CONNECT")
        };
        let mut ack = ConnAck::new(ReasonCode::Success);
        ack.session_present = session_present;
        self.send(Packet::ConnAck(Box::new(ack))).await;
        c.clean_start
    }
}

/// Connections the client opens arrive here; `refuse` makes the next attempts fail.
struct Server {
    conns: mpsc::UnboundedReceiver<(Peer, Instant)>,
    failures: mpsc::UnboundedReceiver<Instant>,
    refuse: Arc<std::sync::atomic::AtomicU32>,
}

fn mock(options: impl FnOnce(ConnectOptions) -> ConnectOptions) -> (Client, Driving, Server) {
    let (tx, conns) = mpsc::unbounded_channel();
    let (ftx, failures) = mpsc::unbounded_channel();
    let refuse = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let r = refuse.clone();
    let connector = move || {
        let tx = tx.clone();
        let ftx = ftx.clone();
        let r = r.clone();
        async move {
            let left = r.load(std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                r.store(left - 1, std::sync::atomic::Ordering::SeqCst);
                let _ = ftx.send(Instant::now());
                return Err(io::Error::from(io::ErrorKind::ConnectionRefused));
            }
            let (client, server) = tokio::io::duplex(64 << 10);
            let _ = tx.send((
                Peer {
                    io: server,
                    decoder: Decoder::server(1 << 20),
                    buf: BytesMut::new(),
                    version: ProtocolVersion::V5,
                },
                Instant::now(),
            ));
            Ok(client)
        }
    };
    let base = ConnectOptions::with_connector(connector)
        .client_id("mock")
        .reconnect(
            Reconnect::backoff(Duration::from_secs(1), Duration::from_secs(8))
                .jitter(0.0)
                .seed(7),
        );
    let (client, driving) = Client::new(options(base));
    (
        client,
        driving,
        Server {
            conns,
            failures,
            refuse,
        },
    )
}

impl Server {
    /// Makes the next `n` connection attempts fail.
    fn refuse(&self, n: u32) {
        self.refuse.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Cuts `peer` and waits for the first refused reconnection attempt: the client is offline.
    async fn go_offline(&mut self, peer: Peer) {
        self.refuse(1000);
        drop(peer);
        self.failures.recv().await.unwrap();
    }

    async fn next(&mut self) -> Peer {
        timeout(Duration::from_secs(600), self.conns.recv())
            .await
            .expect("a connection in time")
            .expect("connector alive")
            .0
    }
}

#[tokio::test(start_paused = true)]
async fn reconnects_with_exponential_backoff_and_resends_unacknowledged_with_dup() {
    let (client, driving, mut server) = mock(|o| o.session_expiry(300));
    let mut events = client.events();
    tokio::spawn(driving);
    let mut peer = server.next().await;
    assert!(
        peer.accept(false).await,
        "first CONNECT asks for a clean start"
    );

    let c = client.clone();
    let publish =
        tokio::spawn(async move { c.publish("t/1", "hello").qos(QoS::AtLeastOnce).await });
    let Packet::Publish(first) = peer.expect().await else {
        panic!()
    };
    assert!(!first.dup);
    let id = first.qos_pid.packet_id().unwrap();

    // Cut the connection and refuse the next three attempts.
    server.refuse(3);
    let cut = Instant::now();
    drop(peer);
    let mut attempts = Vec::new();
    for _ in 0..3 {
        attempts.push(server.failures.recv().await.unwrap());
    }
    let (mut peer, connected_at) = server.conns.recv().await.unwrap();
    // Every retry waits: 1 s, then 2 s, 4 s, 8 s (jitter 0, capped at 8 s).
    let gaps: Vec<u64> = std::iter::once(cut)
        .chain(attempts.iter().copied())
        .chain(std::iter::once(connected_at))
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis() as u64)
        .collect();
    assert_eq!(gaps, vec![1000, 2000, 4000, 8000]);

    // v5 reconnection asks to resume; the server has the session: resend with DUP.
    assert!(!peer.accept(true).await, "reconnection resumes the session");
    // One Disconnected for the cut; each scheduled attempt is announced, failed ones included.
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(match e {
            Event::Connected { .. } => "connected".to_string(),
            Event::Disconnected { .. } => "disconnected".to_string(),
            Event::Reconnecting { attempt, delay } => {
                format!("retry {attempt} {}", delay.as_secs())
            }
            _ => "other".to_string(),
        });
    }
    // (The reconnection's own Connected may or may not have been handled yet.)
    assert_eq!(
        seen[..6.min(seen.len())],
        [
            "connected",
            "disconnected",
            "retry 1 1",
            "retry 2 2",
            "retry 3 4",
            "retry 4 8"
        ]
    );
    let Packet::Publish(again) = peer.expect().await else {
        panic!()
    };
    assert!(again.dup, "v5 [MQTT-4.4.0-1]: resent with DUP");
    assert_eq!(again.qos_pid.packet_id(), Some(id));
    assert_eq!(again.payload(), first.payload());
    peer.send(Packet::PubAck(PubAck::new(id))).await;
    let outcome = publish.await.unwrap().unwrap();
    assert_eq!(outcome.packet_id, Some(id));

    // After a success the backoff starts again from the initial delay.
    let cut = Instant::now();
    drop(peer);
    let (mut peer, at) = server.conns.recv().await.unwrap();
    assert_eq!((at - cut).as_millis(), 1000);
    peer.accept(true).await;
}

#[tokio::test(start_paused = true)]
async fn qos2_resend_after_pubrec_is_a_pubrel_and_completes_once() {
    let (client, driving, mut server) = mock(|o| o.session_expiry(300));
    tokio::spawn(driving);
    let mut peer = server.next().await;
    peer.accept(false).await;
    let c = client.clone();
    let publish = tokio::spawn(async move { c.publish("q2", "once").qos(QoS::ExactlyOnce).await });
    let Packet::Publish(p) = peer.expect().await else {
        panic!()
    };
    let id = p.qos_pid.packet_id().unwrap();
    peer.send(Packet::PubRec(PubRec::new(id))).await;
    assert!(matches!(peer.expect().await, Packet::PubRel(r) if r.packet_id == id));
    drop(peer);
    let mut peer = server.next().await;
    peer.accept(true).await;
    // v5 [MQTT-4.3.3-6]: after PUBREC the PUBLISH is never sent again; PUBREL is.
    assert!(matches!(peer.expect().await, Packet::PubRel(r) if r.packet_id == id));
    peer.send(Packet::PubComp(PubComp::new(id))).await;
    let outcome = publish.await.unwrap().unwrap();
    assert_eq!(outcome.reason, ReasonCode::Success);
}

#[tokio::test(start_paused = true)]
async fn lost_session_means_resubscribe_and_republish() {
    let (client, driving, mut server) = mock(|o| o.session_expiry(300));
    tokio::spawn(driving);
    let mut peer = server.next().await;
    peer.accept(false).await;
    // A subscription acknowledged on the first connection.
    let c = client.clone();
    let sub = tokio::spawn(async move { c.subscribe("s/#", QoS::AtLeastOnce).await });
    let Packet::Subscribe(s) = peer.expect().await else {
        panic!()
    };
    peer.suback(s.packet_id, ReasonCode::GrantedQoS1).await;
    sub.await.unwrap().unwrap();
    // A QoS 1 publish never acknowledged.
    let c = client.clone();
    let publish = tokio::spawn(async move { c.publish("p", "x").qos(QoS::AtLeastOnce).await });
    assert!(matches!(peer.expect().await, Packet::Publish(_)));
    drop(peer);

    // The server lost everything.
    let mut peer = server.next().await;
    peer.accept(false).await;
    let mut got_sub = false;
    let mut got_pub = false;
    while !(got_sub && got_pub) {
        match peer.expect().await {
            Packet::Subscribe(s) => {
                assert_eq!(s.filters[0].0.as_str(), "s/#");
                assert_eq!(s.filters[0].1.qos, QoS::AtLeastOnce);
                peer.suback(s.packet_id, ReasonCode::GrantedQoS1).await;
                got_sub = true;
            }
            Packet::Publish(p) => {
                // A new message for this session: not a DUP.
                assert!(!p.dup);
                assert_eq!(p.topic(), "p");
                peer.send(Packet::PubAck(PubAck::new(p.qos_pid.packet_id().unwrap())))
                    .await;
                got_pub = true;
            }
            other => panic!("{other:?}"),
        }
    }
    publish.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn unanswered_subscribe_is_sent_again_after_a_cut() {
    let (client, driving, mut server) = mock(|o| o);
    tokio::spawn(driving);
    let mut peer = server.next().await;
    peer.accept(false).await;
    let c = client.clone();
    let sub = tokio::spawn(async move { c.subscribe("again", QoS::AtMostOnce).await });
    assert!(matches!(peer.expect().await, Packet::Subscribe(_)));
    drop(peer);
    let mut peer = server.next().await;
    peer.accept(false).await;
    let Packet::Subscribe(s) = peer.expect().await else {
        panic!()
    };
    peer.suback(s.packet_id, ReasonCode::Success).await;
    assert_eq!(
        sub.await.unwrap().unwrap().granted_qos(),
        Some(QoS::AtMostOnce)
    );
    // Unsubscribe answered too.
    let c = client.clone();
    let unsub = tokio::spawn(async move { c.unsubscribe("again").await });
    let Packet::Unsubscribe(u) = peer.expect().await else {
        panic!()
    };
    peer.send(Packet::UnsubAck(UnsubAck {
        packet_id: u.packet_id,
        reason_codes: vec![ReasonCode::Success],
        properties: Default::default(),
    }))
    .await;
    unsub.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn offline_queue_holds_expires_and_applies_its_policy() {
    let (client, driving, mut server) =
        mock(|o| o.offline_queue(OfflineQueue::new(2).expiry(Duration::from_secs(30))));
    tokio::spawn(driving);
    let mut peer = server.next().await;
    peer.accept(false).await;
    // Offline: every attempt fails for a long while.
    server.go_offline(peer).await;

    let c = client.clone();
    let short = tokio::spawn(async move {
        c.publish("q/short", "a")
            .qos(QoS::AtLeastOnce)
            .queue_expiry(Duration::from_secs(5))
            .await
    });
    let c = client.clone();
    let long = tokio::spawn(async move { c.publish("q/long", "b").qos(QoS::AtLeastOnce).await });
    tokio::task::yield_now().await;
    // The queue holds two: a third is refused (RejectNew).
    let third = client.publish("q/third", "c").qos(QoS::AtLeastOnce).await;
    assert!(matches!(third, Err(Error::QueueFull)), "{third:?}");

    let before = Instant::now();
    assert!(matches!(short.await.unwrap(), Err(Error::Expired)));
    assert_eq!((Instant::now() - before).as_secs(), 5);
    // The v5 message expiry also bounds the wait.
    let c = client.clone();
    let mei = tokio::spawn(async move {
        c.publish("q/mei", "d")
            .qos(QoS::AtLeastOnce)
            .message_expiry(2)
            .await
    });
    assert!(matches!(mei.await.unwrap(), Err(Error::Expired)));
    // The server comes back: the survivor is sent.
    server.refuse(0);
    let mut peer = server.next().await;
    peer.accept(false).await;
    let Packet::Publish(p) = peer.expect().await else {
        panic!()
    };
    assert_eq!(p.topic(), "q/long");
    peer.send(Packet::PubAck(PubAck::new(p.qos_pid.packet_id().unwrap())))
        .await;
    long.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn drop_oldest_policy_evicts_the_oldest() {
    let (client, driving, mut server) =
        mock(|o| o.offline_queue(OfflineQueue::new(1).when_full(QueueFull::DropOldest)));
    tokio::spawn(driving);
    let mut peer = server.next().await;
    peer.accept(false).await;
    server.go_offline(peer).await;
    let c = client.clone();
    let old = tokio::spawn(async move { c.publish("old", "1").qos(QoS::AtLeastOnce).await });
    tokio::task::yield_now().await;
    let c = client.clone();
    let _new = tokio::spawn(async move { c.publish("new", "2").qos(QoS::AtLeastOnce).await });
    assert!(matches!(old.await.unwrap(), Err(Error::QueueFull)));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_publish_future_does_not_corrupt_the_session() {
    let (client, driving, mut server) = mock(|o| o);
    tokio::spawn(driving);
    let mut peer = server.next().await;
    peer.accept(false).await;
    // Give up on the first publish before its PUBACK.
    let r = timeout(
        Duration::from_millis(10),
        client.publish("c/1", "x").qos(QoS::AtLeastOnce),
    )
    .await;
    assert!(r.is_err());
    let Packet::Publish(p1) = peer.expect().await else {
        panic!()
    };
    let c = client.clone();
    let second = tokio::spawn(async move { c.publish("c/2", "y").qos(QoS::ExactlyOnce).await });
    let Packet::Publish(p2) = peer.expect().await else {
        panic!()
    };
    assert_ne!(p1.qos_pid.packet_id(), p2.qos_pid.packet_id());
    // The abandoned one's ack arrives later and is absorbed.
    peer.send(Packet::PubAck(PubAck::new(p1.qos_pid.packet_id().unwrap())))
        .await;
    let id2 = p2.qos_pid.packet_id().unwrap();
    peer.send(Packet::PubRec(PubRec::new(id2))).await;
    assert!(matches!(peer.expect().await, Packet::PubRel(_)));
    peer.send(Packet::PubComp(PubComp::new(id2))).await;
    second.await.unwrap().unwrap();
    // Dropped while waiting for channel room or before sending: nothing half-done either.
    drop(client.publish("c/3", "z").qos(QoS::AtLeastOnce));
    client.publish("c/4", "w").await.unwrap();
    let Packet::Publish(p4) = peer.expect().await else {
        panic!()
    };
    assert_eq!(p4.topic(), "c/4");
}

#[tokio::test(start_paused = true)]
async fn a_full_stream_stops_reading_the_socket_until_the_reader_catches_up() {
    let (client, driving, mut server) = mock(|o| o.message_capacity(4));
    tokio::spawn(driving);
    let mut peer = server.next().await;
    peer.accept(false).await;
    let mut messages = client.messages();
    const N: u16 = 2000;
    let mut writer_done = {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let peer = Arc::new(Mutex::new(peer));
        let p = peer.clone();
        tokio::spawn(async move {
            let mut peer = p.lock().await;
            for i in 0..N {
                let topic = TopicName::try_from(format!("bp/{i}").as_str()).unwrap();
                peer.send(Packet::Publish(Publish::new(
                    topic,
                    QosPid::AtMostOnce,
                    vec![0u8; 1000].into(),
                )))
                .await;
            }
            let _ = done_tx.send(());
        });
        done_rx
    };
    // Much time passes without reading: the server cannot finish writing (2 MB into a
    // 64 KiB pipe the client no longer drains).
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(writer_done.try_recv().is_err(), "the client kept reading");
    // Reading everything lets it finish, in order, nothing lost.
    for i in 0..N {
        let m = timeout(Duration::from_secs(60), messages.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.topic(), format!("bp/{i}"));
    }
    writer_done.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn disconnect_drains_in_flight_work_then_sends_disconnect() {
    let (client, driving, mut server) = mock(|o| o);
    let driver = tokio::spawn(driving);
    let mut peer = server.next().await;
    peer.accept(false).await;
    let c = client.clone();
    let publish = tokio::spawn(async move { c.publish("d", "x").qos(QoS::AtLeastOnce).await });
    let Packet::Publish(p) = peer.expect().await else {
        panic!()
    };
    let c = client.clone();
    let disconnect = tokio::spawn(async move { c.disconnect().await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Still waiting for the PUBACK: no DISCONNECT yet.
    assert!(!disconnect.is_finished());
    // New work is refused while closing.
    assert!(matches!(
        client.publish("late", "x").await,
        Err(Error::Closed)
    ));
    peer.send(Packet::PubAck(PubAck::new(p.qos_pid.packet_id().unwrap())))
        .await;
    assert!(matches!(peer.expect().await, Packet::Disconnect(_)));
    assert!(
        peer.recv().await.is_none(),
        "transport closed after DISCONNECT"
    );
    publish.await.unwrap().unwrap();
    disconnect.await.unwrap().unwrap();
    driver.await.unwrap().unwrap();
    assert!(client.is_closed());
    assert!(matches!(
        client.publish("after", "x").await,
        Err(Error::Closed)
    ));
}

#[tokio::test(start_paused = true)]
async fn disconnect_gives_up_on_unacknowledged_work_after_its_timeout() {
    let (client, driving, mut server) = mock(|o| o);
    tokio::spawn(driving);
    let mut peer = server.next().await;
    peer.accept(false).await;
    let c = client.clone();
    let publish = tokio::spawn(async move { c.publish("d", "x").qos(QoS::AtLeastOnce).await });
    assert!(matches!(peer.expect().await, Packet::Publish(_)));
    let start = Instant::now();
    client
        .disconnect_with(
            Duration::from_secs(3),
            ReasonCode::Success,
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!((Instant::now() - start).as_secs(), 3);
    assert!(matches!(peer.expect().await, Packet::Disconnect(_)));
    assert!(matches!(publish.await.unwrap(), Err(Error::Closed)));
}

#[tokio::test(start_paused = true)]
async fn keep_alive_pings_and_a_silent_server_is_left() {
    let (client, driving, mut server) = mock(|o| {
        o.keep_alive(10)
            .response_timeout(Duration::from_secs(5))
            .reconnect(Reconnect::disabled())
    });
    let mut events = client.events();
    let driver = tokio::spawn(driving);
    let mut peer = server.next().await;
    peer.accept(false).await;
    let start = Instant::now();
    assert!(matches!(peer.expect().await, Packet::PingReq));
    assert_eq!((Instant::now() - start).as_secs(), 10);
    peer.send(Packet::PingResp).await;
    assert!(matches!(peer.expect().await, Packet::PingReq));
    // No answer this time: the client gives up 5 s later.
    let r = driver.await.unwrap();
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    let mut saw = false;
    while let Ok(e) = events.try_recv() {
        if let Event::Disconnected { reason } = e {
            assert!(matches!(reason, starling_client::DisconnectReason::Timeout));
            saw = true;
        }
    }
    assert!(saw);
}

#[tokio::test(start_paused = true)]
async fn server_disconnect_with_reason_is_reported() {
    let (client, driving, mut server) = mock(|o| o);
    let mut events = client.events();
    tokio::spawn(driving);
    let mut peer = server.next().await;
    peer.accept(false).await;
    peer.send(Packet::Disconnect(starling_client::codec::Disconnect {
        reason_code: ReasonCode::SessionTakenOver,
        properties: Default::default(),
    }))
    .await;
    loop {
        match events.recv().await.unwrap() {
            Event::Disconnected { reason } => {
                assert!(matches!(
                    reason,
                    starling_client::DisconnectReason::Server(ReasonCode::SessionTakenOver)
                ));
                break;
            }
            _ => continue,
        }
    }
    // And it comes back.
    let mut peer = server.next().await;
    peer.accept(false).await;
}

#[tokio::test(start_paused = true)]
async fn qos2_inbound_exactly_once_even_when_the_server_resends_after_pubcomp() {
    let (client, driving, mut server) = mock(|o| o);
    tokio::spawn(driving);
    let mut messages = client.messages();
    let mut peer = server.next().await;
    peer.accept(false).await;
    let id = starling_client::codec::PacketId::new(1).unwrap();
    let msg = |dup: bool, payload: &'static str| {
        let mut p = Publish::new(
            TopicName::try_from("in/q2").unwrap(),
            QosPid::ExactlyOnce(id),
            payload.into(),
        );
        p.dup = dup;
        Packet::Publish(p)
    };
    peer.send(msg(false, "one")).await;
    // A DUP before PUBREL: acknowledged again, delivered once (v5 [MQTT-4.3.3-10]).
    peer.send(msg(true, "one")).await;
    assert!(matches!(peer.expect().await, Packet::PubRec(_)));
    assert!(matches!(peer.expect().await, Packet::PubRec(_)));
    peer.send(Packet::PubRel(starling_client::codec::PubRel::new(id)))
        .await;
    assert!(matches!(peer.expect().await, Packet::PubComp(_)));
    // A server that lost the flow's progress resends the PUBLISH after PUBCOMP (Mosquitto
    // restarted with persistence does): acknowledged, not delivered again.
    peer.send(msg(true, "one")).await;
    assert!(matches!(peer.expect().await, Packet::PubRec(_)));
    peer.send(Packet::PubRel(starling_client::codec::PubRel::new(id)))
        .await;
    assert!(matches!(peer.expect().await, Packet::PubComp(_)));
    // A new message reusing the id is delivered.
    peer.send(msg(false, "two")).await;
    assert!(matches!(peer.expect().await, Packet::PubRec(_)));
    assert_eq!(&messages.next().await.unwrap().payload[..], b"one");
    assert_eq!(&messages.next().await.unwrap().payload[..], b"two");
    // Nothing else was delivered.
    let extra = timeout(Duration::from_secs(5), messages.next()).await;
    assert!(extra.is_err(), "{extra:?}");
}

#[tokio::test(start_paused = true)]
async fn qos0_publishes_after_a_cut_with_unwritten_bytes_still_resolve() {
    let (client, driving, mut server) = mock(|o| o);
    tokio::spawn(driving);
    let mut peer = server.next().await;
    peer.accept(false).await;
    // The server stops reading: big QoS 0 messages fill the 64 KiB pipe and stay unwritten.
    let mut stuck = Vec::new();
    for i in 0..4 {
        let c = client.clone();
        stuck.push(tokio::spawn(async move {
            c.publish(format!("big/{i}"), vec![0u8; 40_000]).await
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(peer);
    for s in stuck {
        let r = s.await.unwrap();
        assert!(
            r.is_ok() || matches!(r, Err(Error::ConnectionLost)),
            "{r:?}"
        );
    }
    // On the next connection a QoS 0 publish resolves once written.
    let mut peer = server.next().await;
    peer.accept(false).await;
    let c = client.clone();
    let after = tokio::spawn(async move { c.publish("small", "x").await });
    let Packet::Publish(p) = peer.expect().await else {
        panic!()
    };
    assert_eq!(p.topic(), "small");
    timeout(Duration::from_secs(5), after)
        .await
        .expect("resolved")
        .unwrap()
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_stream_subscription_resent_after_a_cut_keeps_its_identifier() {
    let (client, driving, mut server) = mock(|o| o);
    tokio::spawn(driving);
    let mut peer = server.next().await;
    peer.accept(false).await;
    let c = client.clone();
    let sub = tokio::spawn(async move { c.subscribe_stream("ids/#", QoS::AtMostOnce).await });
    let Packet::Subscribe(first) = peer.expect().await else {
        panic!()
    };
    let id = first.properties.subscription_identifier.expect("assigned");
    drop(peer);
    let mut peer = server.next().await;
    peer.accept(false).await;
    let Packet::Subscribe(again) = peer.expect().await else {
        panic!()
    };
    assert_eq!(again.properties.subscription_identifier, Some(id));
    peer.suback(again.packet_id, ReasonCode::Success).await;
    let mut stream = sub.await.unwrap().unwrap();
    let mut p = Publish::new(
        TopicName::try_from("ids/x").unwrap(),
        QosPid::AtMostOnce,
        "v".into(),
    );
    p.properties.subscription_identifiers.push(id);
    peer.send(Packet::Publish(p)).await;
    let m = timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.topic(), "ids/x");
}
