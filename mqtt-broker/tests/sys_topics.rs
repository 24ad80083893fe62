//! `$SYS` topics with Mosquitto's names, published retained at the configured interval.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{test_config, Raw, TestBroker};
use starling_codec::{
    Packet, PacketId, ProtocolVersion, QoS, Subscribe, SubscribeProperties, SubscriptionOptions,
    TopicFilter,
};
use std::{collections::BTreeMap, time::Duration};

#[tokio::test]
async fn sys_topics_report_clients_messages_bytes_uptime_and_version() {
    let mut config = test_config();
    config.sys_interval = Some(Duration::from_millis(50));
    let broker = TestBroker::with_config(config).await;
    let mut c = Raw::connect_ok(broker.addr, ProtocolVersion::V5, "sys").await;
    c.send(Packet::Subscribe(Subscribe {
        packet_id: PacketId::new(1).unwrap(),
        filters: vec![(
            TopicFilter::try_from("$SYS/#").unwrap(),
            SubscriptionOptions::new(QoS::AtMostOnce),
        )],
        properties: SubscribeProperties::default(),
    }))
    .await;
    let mut seen = BTreeMap::new();
    let wanted = [
        "$SYS/broker/version",
        "$SYS/broker/uptime",
        "$SYS/broker/clients/connected",
        "$SYS/broker/clients/total",
        "$SYS/broker/messages/received",
        "$SYS/broker/messages/sent",
        "$SYS/broker/bytes/received",
        "$SYS/broker/bytes/sent",
        "$SYS/broker/subscriptions/count",
        "$SYS/broker/retained messages/count",
    ];
    while !wanted.iter().all(|t| seen.contains_key(*t)) {
        if let Packet::Publish(p) = c.recv().await {
            seen.insert(
                p.topic().to_string(),
                String::from_utf8(p.payload().to_vec()).unwrap(),
            );
        }
    }
    assert!(seen["$SYS/broker/version"].starts_with("starling "));
    assert!(seen["$SYS/broker/uptime"].ends_with(" seconds"));
    for t in &wanted[2..] {
        assert!(seen[*t].parse::<u64>().is_ok(), "{t} = {:?}", seen[*t]);
    }
    broker.shutdown().await;
}
