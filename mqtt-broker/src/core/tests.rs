//! Scenarios in a simulated world: the core driven by inputs with virtual time.

use super::*;
use bytes::Bytes;
use starling_codec::{SubscriptionOptions, TopicName};

fn t0() -> Instant {
    Instant::now()
}

fn msg(topic: &str, qos: QoS, retain: bool) -> Message {
    Message::new(
        TopicName::try_from(topic).unwrap(),
        Bytes::from_static(b"p"),
        qos,
        retain,
    )
}

fn sub(filter: &str, qos: QoS) -> Subscription {
    Subscription {
        filter: TopicFilter::try_from(filter).unwrap(),
        options: SubscriptionOptions::new(qos),
        identifier: None,
    }
}

fn req(id: &str, clean: bool) -> ConnectRequest {
    ConnectRequest {
        client_id: id.to_owned(),
        clean_start: clean,
        will: None,
        session_expiry_interval: if clean { 0 } else { u32::MAX },
    }
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

fn drain(core: &mut Core) -> Vec<Output> {
    std::iter::from_fn(|| core.poll_output()).collect()
}

fn connect(
    core: &mut Core,
    now: Instant,
    conn: ConnId,
    id: &str,
    clean: bool,
) -> Option<SessionState> {
    core.handle(
        now,
        Input::Connect {
            conn,
            request: Box::new(req(id, clean)),
        },
    );
    match drain(core).pop() {
        Some(Output::Accept { resume, .. }) => resume.map(|s| *s),
        other => panic!("expected accept, got {other:?}"),
    }
}

fn subscribe(core: &mut Core, now: Instant, conn: ConnId, subs: Vec<Subscription>) -> Vec<Output> {
    let n = subs.len();
    core.handle(
        now,
        Input::Subscribe {
            conn,
            packet_id: pid(1),
            subscriptions: subs,
            denied: vec![None; n],
        },
    );
    drain_no_store(core)
}

fn drain_no_store(core: &mut Core) -> Vec<Output> {
    drain(core)
        .into_iter()
        .filter(|o| !matches!(o, Output::Store(_)))
        .collect()
}

fn deliveries(outputs: &[Output]) -> Vec<(ConnId, &Message, &DeliveryOptions)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Deliver {
                conn,
                message,
                options,
            } => Some((*conn, &**message, options)),
            _ => None,
        })
        .collect()
}

fn close(core: &mut Core, now: Instant, conn: ConnId, will: Option<Will>, sei: u32) {
    core.handle(
        now,
        Input::Closed {
            conn,
            state: Box::default(),
            will: will.map(Box::new),
            session_expiry_interval: sei,
        },
    );
}

#[test]
fn overlapping_subscriptions_deliver_once_at_max_qos_with_all_ids() {
    let now = t0();
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, now, 1, "a", true);
    let mut s1 = sub("x/+", QoS::AtMostOnce);
    s1.identifier = NonZeroU32::new(7);
    let mut s2 = sub("x/#", QoS::ExactlyOnce);
    s2.identifier = NonZeroU32::new(9);
    subscribe(&mut core, now, 1, vec![s1, s2]);
    core.handle(
        now,
        Input::Publish {
            from: None,
            message: msg("x/y", QoS::ExactlyOnce, false),
        },
    );
    let out = drain(&mut core);
    let d = deliveries(&out);
    // v5 [MQTT-3.3.4-2], v5 [MQTT-3.3.4-3], v5 [MQTT-3.3.4-4]: one copy, highest QoS, every identifier.
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].2.qos, QoS::ExactlyOnce);
    let mut ids: Vec<u32> = d[0]
        .2
        .subscription_identifiers
        .iter()
        .map(|i| i.get())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![7, 9]);
}

#[test]
fn no_local_skips_the_publisher() {
    let now = t0();
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, now, 1, "a", true);
    let mut s = sub("t", QoS::AtLeastOnce);
    s.options.no_local = true;
    subscribe(&mut core, now, 1, vec![s]);
    // v5 [MQTT-3.8.3-3]: not sent back to the connection that published it.
    core.handle(
        now,
        Input::Publish {
            from: Some(1),
            message: msg("t", QoS::AtLeastOnce, false),
        },
    );
    assert!(deliveries(&drain(&mut core)).is_empty());
    core.handle(
        now,
        Input::Publish {
            from: None,
            message: msg("t", QoS::AtLeastOnce, false),
        },
    );
    assert_eq!(deliveries(&drain(&mut core)).len(), 1);
}

#[test]
fn retained_messages_follow_retain_handling() {
    let now = t0();
    let mut core = Core::new(CoreConfig::default());
    core.handle(
        now,
        Input::Publish {
            from: None,
            message: msg("r/1", QoS::AtLeastOnce, true),
        },
    );
    connect(&mut core, now, 1, "a", true);
    let out = subscribe(&mut core, now, 1, vec![sub("r/#", QoS::AtLeastOnce)]);
    // SUBACK first, then the retained message flagged as such (v3.1.1 [MQTT-3.3.1-6]).
    assert!(matches!(out[0], Output::SubAck { .. }));
    let d = deliveries(&out);
    assert_eq!(d.len(), 1);
    assert!(d[0].2.from_retained);
    // Retain handling 1: only for a new subscription (v5 [MQTT-3.3.1-10]).
    let mut again = sub("r/#", QoS::AtLeastOnce);
    again.options.retain_handling = RetainHandling::SendAtSubscribeIfNew;
    assert!(deliveries(&subscribe(&mut core, now, 1, vec![again])).is_empty());
    // Retain handling 2: never (v5 [MQTT-3.3.1-11]).
    let mut never = sub("r/+", QoS::AtLeastOnce);
    never.options.retain_handling = RetainHandling::DoNotSend;
    assert!(deliveries(&subscribe(&mut core, now, 1, vec![never])).is_empty());
    // An empty retained payload clears the topic.
    let mut clear = msg("r/1", QoS::AtMostOnce, true);
    clear.payload = Bytes::new();
    core.handle(
        now,
        Input::Publish {
            from: None,
            message: clear,
        },
    );
    drain(&mut core);
    assert!(core.retained().is_empty());
}

#[test]
fn takeover_closes_the_old_connection_then_resumes_on_the_new() {
    let now = t0();
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, now, 1, "a", false);
    subscribe(&mut core, now, 1, vec![sub("t", QoS::AtLeastOnce)]);
    core.handle(
        now,
        Input::Connect {
            conn: 2,
            request: Box::new(req("a", false)),
        },
    );
    // v5 [MQTT-3.1.4-3]: the existing connection gets DISCONNECT 0x8E.
    assert_eq!(
        drain(&mut core),
        vec![Output::Disconnect {
            conn: 1,
            reason: ReasonCode::SessionTakenOver
        }]
    );
    let mut state = SessionState::default();
    state.inbound_qos2.insert(5);
    core.handle(
        now,
        Input::Closed {
            conn: 1,
            state: Box::new(state.clone()),
            will: None,
            session_expiry_interval: u32::MAX,
        },
    );
    match drain(&mut core).as_slice() {
        [Output::Accept {
            conn: 2,
            resume: Some(s),
            ..
        }] => assert_eq!(**s, state),
        other => panic!("{other:?}"),
    }
    // Subscriptions survived the takeover.
    core.handle(
        now,
        Input::Publish {
            from: None,
            message: msg("t", QoS::AtLeastOnce, false),
        },
    );
    assert_eq!(deliveries(&drain(&mut core))[0].0, 2);
}

fn will(topic: &str, delay: Option<u32>) -> Will {
    let mut will = Will::new(TopicName::try_from(topic).unwrap(), "gone", QoS::AtMostOnce);
    will.properties.will_delay_interval = delay;
    will
}

#[test]
fn wills_are_published_on_close_after_their_delay_unless_the_client_returns() {
    let now = t0();
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, now, 9, "watcher", true);
    subscribe(&mut core, now, 9, vec![sub("w/#", QoS::AtMostOnce)]);

    connect(&mut core, now, 1, "a", false);
    close(&mut core, now, 1, Some(will("w/a", None)), 100);
    assert_eq!(
        deliveries(&drain(&mut core)).len(),
        1,
        "delay 0: published at once"
    );

    connect(&mut core, now, 2, "b", false);
    close(&mut core, now, 2, Some(will("w/b", Some(10))), 100);
    assert!(deliveries(&drain(&mut core)).is_empty());
    assert_eq!(core.poll_timeout(), Some(now + Duration::from_secs(10)));
    // v5 [MQTT-3.1.3-9]: a reconnection before the delay cancels it.
    connect(&mut core, now + Duration::from_secs(5), 3, "b", false);
    core.handle_timeout(now + Duration::from_secs(10));
    assert!(deliveries(&drain(&mut core)).is_empty());

    connect(&mut core, now, 4, "c", false);
    close(&mut core, now, 4, Some(will("w/c", Some(10))), 100);
    core.handle_timeout(now + Duration::from_secs(9));
    assert!(deliveries(&drain(&mut core)).is_empty());
    // v5 [MQTT-3.1.2-8]: published once the delay elapsed.
    core.handle_timeout(now + Duration::from_secs(10));
    assert_eq!(deliveries(&drain(&mut core)).len(), 1);

    // The session ending first publishes the will at that moment.
    connect(&mut core, now, 5, "d", false);
    close(&mut core, now, 5, Some(will("w/d", Some(60))), 3);
    core.handle_timeout(now + Duration::from_secs(3));
    assert_eq!(deliveries(&drain(&mut core)).len(), 1);
    assert_eq!(core.stats().wills_published, 3);
}

#[test]
fn offline_sessions_queue_qos1_until_they_return_or_expire() {
    let now = t0();
    let mut core = Core::new(CoreConfig {
        max_offline_queue: 2,
        ..CoreConfig::default()
    });
    connect(&mut core, now, 1, "a", false);
    subscribe(&mut core, now, 1, vec![sub("t", QoS::AtLeastOnce)]);
    close(&mut core, now, 1, None, 60);
    for qos in [
        QoS::AtLeastOnce,
        QoS::AtMostOnce,
        QoS::AtLeastOnce,
        QoS::AtLeastOnce,
    ] {
        core.handle(
            now,
            Input::Publish {
                from: None,
                message: msg("t", qos, false),
            },
        );
    }
    assert_eq!(core.stats().dropped_offline_qos0, 1);
    assert_eq!(core.stats().dropped_queue_full, 1);
    let state = connect(&mut core, now + Duration::from_secs(30), 2, "a", false).unwrap();
    assert_eq!(state.queued.len(), 2);
    // Expiry: gone after the interval, subscriptions included.
    close(&mut core, now, 2, None, 60);
    core.handle_timeout(now + Duration::from_secs(60));
    assert_eq!(core.session_count(), 0);
    assert_eq!(core.subscription_count(), 0);
    assert!(connect(&mut core, now + Duration::from_secs(61), 3, "a", false).is_none());
}

#[test]
fn clean_start_discards_the_old_session() {
    let now = t0();
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, now, 1, "a", false);
    subscribe(&mut core, now, 1, vec![sub("t", QoS::AtLeastOnce)]);
    close(&mut core, now, 1, None, u32::MAX);
    // v5 [MQTT-3.1.2-4]: Clean Start 1 starts a new session.
    assert!(connect(&mut core, now, 2, "a", true).is_none());
    core.handle(
        now,
        Input::Publish {
            from: None,
            message: msg("t", QoS::AtLeastOnce, false),
        },
    );
    assert!(deliveries(&drain(&mut core)).is_empty());
}

#[test]
fn shared_subscriptions_load_balance_and_prefer_online_members() {
    let now = t0();
    let mut core = Core::new(CoreConfig::default());
    for (conn, id) in [(1, "a"), (2, "b"), (3, "c")] {
        connect(&mut core, now, conn, id, false);
        subscribe(
            &mut core,
            now,
            conn,
            vec![sub("$share/g/s/#", QoS::AtLeastOnce)],
        );
    }
    let mut seen = Vec::new();
    for _ in 0..6 {
        core.handle(
            now,
            Input::Publish {
                from: None,
                message: msg("s/x", QoS::AtLeastOnce, false),
            },
        );
        let out = drain(&mut core);
        let d = deliveries(&out);
        assert_eq!(d.len(), 1, "one member per message");
        seen.push(d[0].0);
    }
    assert_eq!(seen, vec![1, 2, 3, 1, 2, 3]);
    close(&mut core, now, 2, None, u32::MAX);
    for _ in 0..4 {
        core.handle(
            now,
            Input::Publish {
                from: None,
                message: msg("s/x", QoS::AtLeastOnce, false),
            },
        );
        assert_ne!(deliveries(&drain(&mut core))[0].0, 2);
    }
}

#[test]
fn assigned_client_ids_are_unique() {
    let now = t0();
    let mut core = Core::new(CoreConfig::default());
    let mut ids = std::collections::HashSet::new();
    for conn in 0..10 {
        core.handle(
            now,
            Input::Connect {
                conn,
                request: Box::new(req("", true)),
            },
        );
        match drain(&mut core).pop() {
            // v5 [MQTT-3.2.2-16]: a new identifier not used by any other session.
            Some(Output::Accept {
                client_id,
                assigned: true,
                ..
            }) => assert!(ids.insert(client_id)),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn store_ops_let_a_new_core_recover_retained_and_persistent_sessions() {
    use crate::store::{MemoryStore, Store};
    let now = t0();
    let mut store = MemoryStore::new();
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, now, 1, "p", false);
    let outputs = {
        core.handle(
            now,
            Input::Subscribe {
                conn: 1,
                packet_id: pid(1),
                subscriptions: vec![sub("q/#", QoS::AtLeastOnce)],
                denied: vec![None],
            },
        );
        core.handle(
            now,
            Input::Publish {
                from: None,
                message: msg("r", QoS::AtMostOnce, true),
            },
        );
        // The connection hands back its session state, subscriptions included.
        let mut state = SessionState::default();
        state
            .subscriptions
            .insert("q/#".into(), sub("q/#", QoS::AtLeastOnce));
        core.handle(
            now,
            Input::Closed {
                conn: 1,
                state: Box::new(state),
                will: None,
                session_expiry_interval: u32::MAX,
            },
        );
        core.handle(
            now,
            Input::Publish {
                from: None,
                message: msg("q/1", QoS::AtLeastOnce, false),
            },
        );
        drain(&mut core)
    };
    for o in outputs {
        if let Output::Store(op) = o {
            store.apply(*op).unwrap();
        }
    }
    // A fresh core (a restarted broker) restores from the store.
    let mut core2 = Core::new(CoreConfig::default());
    core2.restore(store.load().unwrap());
    assert_eq!(core2.retained().len(), 1);
    assert_eq!(core2.subscription_count(), 1);
    let state = connect(&mut core2, now, 7, "p", false).expect("session resumed");
    assert_eq!(state.queued.len(), 1);
    assert!(state.subscriptions.contains_key("q/#"));
    core2.handle(
        now,
        Input::Publish {
            from: None,
            message: msg("q/2", QoS::AtLeastOnce, false),
        },
    );
    assert_eq!(deliveries(&drain(&mut core2))[0].0, 7);
}

#[test]
fn unacknowledged_shared_messages_go_to_another_member_when_one_disconnects() {
    let now = t0();
    let mut core = Core::new(CoreConfig::default());
    for (conn, id) in [(1, "a"), (2, "b")] {
        connect(&mut core, now, conn, id, false);
        subscribe(
            &mut core,
            now,
            conn,
            vec![sub("$share/g/s", QoS::AtLeastOnce)],
        );
    }
    core.handle(
        now,
        Input::Publish {
            from: None,
            message: msg("s", QoS::AtLeastOnce, false),
        },
    );
    let out = drain(&mut core);
    let (conn, message, options) = deliveries(&out)[0];
    assert_eq!(conn, 1);
    assert!(options.shared_group.is_some());
    // Member "a" received it but went away before acknowledging: its session hands it back.
    let mut state = SessionState::default();
    state.inflight.push(starling_session::InflightPublish {
        publish: starling_codec::Publish::new(
            message.topic.clone(),
            starling_codec::QosPid::AtLeastOnce(pid(1)),
            message.payload.clone(),
        ),
        stage: starling_session::OutboundStage::AwaitingPubAck,
        shared_group: options.shared_group.clone(),
    });
    core.handle(
        now,
        Input::Closed {
            conn: 1,
            state: Box::new(state),
            will: None,
            session_expiry_interval: u32::MAX,
        },
    );
    let out = drain(&mut core);
    let d = deliveries(&out);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].0, 2, "redelivered to the other member");
}

#[test]
fn subscriptions_beyond_the_per_client_limit_get_quota_exceeded() {
    let now = t0();
    let mut core = Core::new(CoreConfig {
        max_subscriptions_per_client: 2,
        ..CoreConfig::default()
    });
    connect(&mut core, now, 1, "a", true);
    let out = subscribe(
        &mut core,
        now,
        1,
        vec![
            sub("a", QoS::AtMostOnce),
            sub("b", QoS::AtMostOnce),
            sub("c", QoS::AtMostOnce),
            sub("a", QoS::AtLeastOnce),
        ],
    );
    match &out[0] {
        Output::SubAck { reason_codes, .. } => assert_eq!(
            reason_codes,
            &vec![
                ReasonCode::Success,
                ReasonCode::Success,
                ReasonCode::QuotaExceeded,
                ReasonCode::GrantedQoS1
            ]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_shared_qos2_delivery_in_progress_stays_with_its_member() {
    let now = t0();
    let mut core = Core::new(CoreConfig::default());
    for (conn, id) in [(1, "a"), (2, "b")] {
        connect(&mut core, now, conn, id, false);
        subscribe(
            &mut core,
            now,
            conn,
            vec![sub("$share/g/s", QoS::ExactlyOnce)],
        );
    }
    let message = msg("s", QoS::ExactlyOnce, false);
    let mut state = SessionState::default();
    state.inflight.push(starling_session::InflightPublish {
        publish: starling_codec::Publish::new(
            message.topic.clone(),
            starling_codec::QosPid::ExactlyOnce(pid(1)),
            message.payload.clone(),
        ),
        stage: starling_session::OutboundStage::AwaitingPubRec,
        shared_group: Some(Arc::from("$share/g/s")),
    });
    core.handle(
        now,
        Input::Closed {
            conn: 1,
            state: Box::new(state),
            will: None,
            session_expiry_interval: u32::MAX,
        },
    );
    // v5 [MQTT-4.8.2-4], v5 [MQTT-4.8.2-5]: not sent to the other member...
    assert!(deliveries(&drain(&mut core)).is_empty());
    // ...but completed with this one when it reconnects.
    let resumed = connect(&mut core, now, 3, "a", false).unwrap();
    assert_eq!(resumed.inflight.len(), 1);
}

#[test]
fn retained_messages_change_only_with_retain_and_outlive_sessions() {
    let now = t0();
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, now, 1, "p", true);
    let mut first = msg("r", QoS::AtLeastOnce, true);
    first.payload = bytes::Bytes::from_static(b"first");
    core.handle(
        now,
        Input::Publish {
            from: Some(1),
            message: first,
        },
    );
    // v5 [MQTT-3.3.1-8], v3.1.1 [MQTT-3.3.1-12]: RETAIN 0 neither stores nor replaces.
    let mut live = msg("r", QoS::AtLeastOnce, false);
    live.payload = bytes::Bytes::from_static(b"live");
    core.handle(
        now,
        Input::Publish {
            from: Some(1),
            message: live,
        },
    );
    assert_eq!(&core.retained().get("r").unwrap().payload[..], b"first");
    // v3.1.1 [MQTT-3.3.1-7]: a retained QoS 0 message replaces the previous one.
    let mut q0 = msg("r", QoS::AtMostOnce, true);
    q0.payload = bytes::Bytes::from_static(b"q0");
    core.handle(
        now,
        Input::Publish {
            from: Some(1),
            message: q0,
        },
    );
    assert_eq!(&core.retained().get("r").unwrap().payload[..], b"q0");
    // v3.1.1 [MQTT-3.1.2-7]: retained messages are not part of the session: they stay when it
    // ends.
    close(&mut core, now, 1, None, 0);
    assert_eq!(core.session_count(), 0);
    assert_eq!(core.retained().len(), 1);
}

#[test]
fn the_subscription_count_follows_subscribe_unsubscribe_and_session_ends() {
    let now = t0();
    let mut core = Core::new(CoreConfig::default());
    connect(&mut core, now, 1, "a", false);
    connect(&mut core, now, 2, "b", false);
    subscribe(
        &mut core,
        now,
        1,
        vec![sub("x/#", QoS::AtMostOnce), sub("y", QoS::AtLeastOnce)],
    );
    // The same filter again replaces, it does not add.
    subscribe(&mut core, now, 1, vec![sub("y", QoS::ExactlyOnce)]);
    subscribe(
        &mut core,
        now,
        2,
        vec![
            sub("$share/g/z", QoS::AtMostOnce),
            sub("x/#", QoS::AtMostOnce),
        ],
    );
    assert_eq!(core.subscription_count(), 4);
    core.handle(
        now,
        Input::Unsubscribe {
            conn: 1,
            packet_id: pid(9),
            filters: vec![
                TopicFilter::try_from("y").unwrap(),
                TopicFilter::try_from("never").unwrap(),
            ],
        },
    );
    assert_eq!(core.subscription_count(), 3);
    // A clean start ends b's session, and its subscriptions with it.
    close(&mut core, now, 2, None, 0);
    connect(&mut core, now, 3, "b", true);
    assert_eq!(core.subscription_count(), 1);
    drain(&mut core);
}
