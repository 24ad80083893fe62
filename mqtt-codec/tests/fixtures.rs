//! Real-client captures (`tests/fixtures/*.bin`, see that folder's README): what mosquitto_pub,
//! mosquitto_sub 2.0.11 and paho-mqtt 2.2 sent to a server, decoded through
//! `Decoder::server`. Each capture must split into exactly the packet types of `manifest.tsv`,
//! in order, teach the decoder the listed version, leave nothing in the buffer, re-encode
//! (with the learned version) to bytes that decode to an equal packet, and give the same
//! packets when fed one byte at a time. Some captures are also checked for the contents
//! `capture.py` told the client to send.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use bytes::BytesMut;
use common::*;
use starling_codec::{
    Decoder, Packet, PacketType, PayloadFormat, ProtocolVersion, QoS, QosPid, ReasonCode,
    RetainHandling, SubscriptionOptions, MAX_PACKET_SIZE,
};
use std::{collections::BTreeMap, path::PathBuf};

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

struct Row {
    name: String,
    version: ProtocolVersion,
    types: Vec<PacketType>,
}

fn type_named(name: &str) -> PacketType {
    use PacketType as T;
    match name {
        "CONNECT" => T::Connect,
        "CONNACK" => T::ConnAck,
        "PUBLISH" => T::Publish,
        "PUBACK" => T::PubAck,
        "PUBREC" => T::PubRec,
        "PUBREL" => T::PubRel,
        "PUBCOMP" => T::PubComp,
        "SUBSCRIBE" => T::Subscribe,
        "SUBACK" => T::SubAck,
        "UNSUBSCRIBE" => T::Unsubscribe,
        "UNSUBACK" => T::UnsubAck,
        "PINGREQ" => T::PingReq,
        "PINGRESP" => T::PingResp,
        "DISCONNECT" => T::Disconnect,
        "AUTH" => T::Auth,
        other => panic!("unknown packet type {other:?} in manifest.tsv"),
    }
}

fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(fixtures_dir().join("manifest.tsv")).unwrap();
    let rows: Vec<Row> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 3, "manifest line {line:?}");
            let version = match cols[1] {
                "3.1" => V3_1,
                "3.1.1" => V3_1_1,
                "5" => V5,
                other => panic!("unknown version {other:?}"),
            };
            Row {
                name: cols[0].to_owned(),
                version,
                types: cols[2].split(',').map(type_named).collect(),
            }
        })
        .collect();
    assert!(rows.len() >= 34, "manifest has only {} rows", rows.len());
    rows
}

/// Feeds `bytes` to a fresh server decoder in chunks of `chunk` bytes; returns the packets and
/// the decoder. Panics on a decode error, or if bytes are left over.
fn decode_stream(name: &str, bytes: &[u8], chunk: usize) -> (Vec<Packet>, Decoder) {
    let mut decoder = Decoder::server(MAX_PACKET_SIZE);
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    for piece in bytes.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(p)) => packets.push(p),
                Ok(None) => {
                    assert_eq!(buf.len(), before, "{name}: Ok(None) consumed bytes");
                    break;
                }
                Err(e) => panic!("{name} (chunks of {chunk}): packet {}: {e}", packets.len()),
            }
        }
    }
    assert!(buf.is_empty(), "{name}: {} bytes left over", buf.len());
    (packets, decoder)
}

fn load(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(format!("{name}.bin"))).unwrap()
}

/// The decoded packets of one capture.
fn packets_of(name: &str) -> Vec<Packet> {
    decode_stream(name, &load(name), usize::MAX).0
}

#[test]
fn every_capture_decodes_as_the_manifest_says() {
    for row in manifest() {
        let bytes = load(&row.name);
        let (packets, decoder) = decode_stream(&row.name, &bytes, bytes.len().max(1));
        let types: Vec<PacketType> = packets.iter().map(Packet::packet_type).collect();
        assert_eq!(types, row.types, "{}: packet types", row.name);
        assert_eq!(
            decoder.version(),
            Some(row.version),
            "{}: version",
            row.name
        );
        let Packet::Connect(connect) = &packets[0] else {
            panic!("{}: first packet is not CONNECT", row.name)
        };
        assert_eq!(
            connect.protocol, row.version,
            "{}: CONNECT protocol",
            row.name
        );

        // Each packet re-encodes for the learned version to bytes that decode to it again.
        for (i, packet) in packets.iter().enumerate() {
            let mut out = BytesMut::new();
            packet
                .encode(row.version, &mut out)
                .unwrap_or_else(|e| panic!("{} packet {i}: encode: {e}", row.name));
            assert_eq!(
                packet.encoded_len(row.version).unwrap(),
                out.len(),
                "{} packet {i}: encoded_len",
                row.name
            );
            let again = Packet::decode(row.version, &mut out, MAX_PACKET_SIZE)
                .unwrap_or_else(|e| panic!("{} packet {i}: re-decode: {e}", row.name));
            assert_eq!(again.as_ref(), Some(packet), "{} packet {i}", row.name);
            assert!(out.is_empty());
        }

        // The same packets come out when the capture arrives one byte at a time.
        let (one_by_one, _) = decode_stream(&row.name, &bytes, 1);
        assert_eq!(one_by_one, packets, "{}: byte-at-a-time", row.name);
    }
}

#[test]
fn every_capture_is_in_the_manifest() {
    let listed: Vec<String> = manifest().into_iter().map(|r| r.name).collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".bin").map(str::to_owned)
        })
        .collect();
    on_disk.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(on_disk, sorted);
}

fn users(list: &[(&str, &str)]) -> Vec<(starling_codec::MqttStr, starling_codec::MqttStr)> {
    list.iter().map(|(k, v)| user(k, v)).collect()
}

#[test]
fn mosquitto_v5_properties_arrive_as_given() {
    // capture.py V5_PUB_PROPS.
    let packets = packets_of("mosq_pub_v5_props_qos1");
    let Packet::Connect(c) = &packets[0] else {
        panic!()
    };
    assert_eq!(c.client_id, "mp5props1");
    let cp = &c.properties;
    assert_eq!(cp.session_expiry_interval, Some(300));
    assert_eq!(cp.receive_maximum, Some(nz16(10)));
    assert_eq!(cp.maximum_packet_size, Some(nz32(100_000)));
    assert_eq!(cp.topic_alias_maximum, Some(4));
    assert_eq!(cp.request_response_information, Some(true));
    assert_eq!(cp.user_properties, users(&[("a", "b")]));

    let Packet::Publish(p) = &packets[1] else {
        panic!()
    };
    assert_eq!(p.topic(), "a/b");
    assert_eq!(p.qos_pid.qos(), QoS::AtLeastOnce);
    assert_eq!(p.payload(), b"hello");
    let pp = &p.properties;
    assert_eq!(pp.user_properties, users(&[("k", "v"), ("k2", "v2")]));
    assert_eq!(pp.message_expiry_interval, Some(60));
    assert_eq!(pp.content_type.as_deref(), Some("text/plain"));
    assert_eq!(pp.response_topic.as_deref(), Some("r/t"));
    assert_eq!(pp.correlation_data.as_deref(), Some(&b"abc"[..]));
    assert_eq!(pp.payload_format_indicator, Some(PayloadFormat::Utf8));
    assert!(pp.subscription_identifiers.is_empty());

    let Packet::Disconnect(d) = &packets[2] else {
        panic!()
    };
    assert_eq!(d.reason_code, ReasonCode::Success);
    assert_eq!(d.properties.session_expiry_interval, Some(0));
    assert_eq!(d.properties.user_properties, users(&[("bye", "now")]));
}

#[test]
fn mosquitto_v5_will_properties_arrive_as_given() {
    // capture.py V5_PUB_PROPS + V5_WILL_PROPS, -u alice -P s3cret -k 90 -q 2 -r.
    let packets = packets_of("mosq_pub_v5_props_will_qos2");
    let Packet::Connect(c) = &packets[0] else {
        panic!()
    };
    assert_eq!(c.keep_alive, 90);
    assert_eq!(c.username.as_deref(), Some("alice"));
    assert_eq!(c.password.as_deref(), Some(&b"s3cret"[..]));
    let will = c.will.as_ref().unwrap();
    assert_eq!(will.topic.as_str(), "will/t");
    assert_eq!(&will.payload[..], b"gone");
    assert_eq!(will.qos, QoS::AtLeastOnce);
    assert!(will.retain);
    let wp = &will.properties;
    assert_eq!(wp.will_delay_interval, Some(30));
    assert_eq!(wp.message_expiry_interval, Some(600));
    assert_eq!(wp.content_type.as_deref(), Some("text/plain"));
    assert_eq!(wp.response_topic.as_deref(), Some("will/resp"));
    assert_eq!(wp.correlation_data.as_deref(), Some(&b"wcd"[..]));
    assert_eq!(wp.payload_format_indicator, Some(PayloadFormat::Utf8));
    assert_eq!(wp.user_properties, users(&[("w", "1")]));
    let Packet::Publish(p) = &packets[1] else {
        panic!()
    };
    assert!(matches!(p.qos_pid, QosPid::ExactlyOnce(_)));
    assert!(p.retain);
}

#[test]
fn mosquitto_v5_topic_alias_and_shared_subscription() {
    let packets = packets_of("mosq_pub_v5_topic_alias");
    let Packet::Publish(p) = &packets[1] else {
        panic!()
    };
    assert_eq!(p.topic(), "alias/t");
    assert_eq!(p.properties.topic_alias, Some(nz16(1)));

    let packets = packets_of("mosq_sub_v5_wildcards_shared_qos1");
    let Packet::Connect(c) = &packets[0] else {
        panic!()
    };
    assert_eq!(c.properties.session_expiry_interval, Some(120));
    let Packet::Subscribe(s) = &packets[1] else {
        panic!()
    };
    let filters: Vec<&str> = s.filters.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(filters, ["a/+/c", "d/#", "$share/g/x/y"]);
    assert!(s
        .filters
        .iter()
        .all(|(_, o)| *o == SubscriptionOptions::new(QoS::AtLeastOnce)));
    let shared = &s.filters[2].0;
    assert!(shared.is_shared());
    assert_eq!(shared.share_name(), Some("g"));
    assert_eq!(shared.filter(), "x/y");
    assert_eq!(s.properties.user_properties, users(&[("s", "1")]));
}

#[test]
fn paho_v5_full_session() {
    let packets = packets_of("paho_v5_full");
    let Packet::Connect(c) = &packets[0] else {
        panic!()
    };
    assert_eq!(c.client_id, "paho-v5-full");
    assert_eq!(c.keep_alive, 45);
    assert_eq!(c.username.as_deref(), Some("bob"));
    assert_eq!(c.password.as_deref(), Some(&b"pa55"[..]));
    let cp = &c.properties;
    assert_eq!(cp.session_expiry_interval, Some(300));
    assert_eq!(cp.receive_maximum, Some(nz16(10)));
    assert_eq!(cp.maximum_packet_size, Some(nz32(65_536)));
    assert_eq!(cp.topic_alias_maximum, Some(5));
    assert_eq!(cp.request_problem_information, Some(true));
    assert_eq!(cp.user_properties, users(&[("a", "b"), ("client", "paho")]));
    let will = c.will.as_ref().unwrap();
    assert_eq!(will.topic.as_str(), "clients/paho-v5-full/status");
    assert_eq!(will.properties.will_delay_interval, Some(10));
    assert_eq!(will.properties.user_properties, users(&[("will", "yes")]));

    // Subscription options: no-local, retain-as-published, retain handling, and $share.
    let Packet::Subscribe(s) = &packets[1] else {
        panic!()
    };
    assert_eq!(s.properties.subscription_identifier, Some(nz32(7)));
    assert_eq!(s.properties.user_properties, users(&[("s", "1")]));
    let expected = [
        (
            "a/+/c",
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            },
        ),
        (
            "d/#",
            SubscriptionOptions {
                qos: QoS::ExactlyOnce,
                retain_handling: RetainHandling::SendAtSubscribeIfNew,
                ..SubscriptionOptions::default()
            },
        ),
        ("$share/g/x/y", SubscriptionOptions::new(QoS::AtMostOnce)),
    ];
    assert_eq!(s.filters.len(), 3);
    for ((f, o), (ef, eo)) in s.filters.iter().zip(expected) {
        assert_eq!(f.as_str(), ef);
        assert_eq!(*o, eo);
    }
    assert!(s.filters[2].0.is_shared());

    // The PUBLISH with every property, then the alias set and used.
    let publishes: Vec<_> = packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(publishes.len(), 5);
    let pp = &publishes[1].properties;
    assert_eq!(pp.content_type.as_deref(), Some("application/json"));
    assert_eq!(pp.response_topic.as_deref(), Some("resp/t"));
    assert_eq!(pp.correlation_data.as_deref(), Some(&b"\x00\x01corr"[..]));
    assert_eq!(pp.user_properties, users(&[("k", "v"), ("k", "v2")]));
    assert_eq!(publishes[3].topic(), "alias/topic");
    assert_eq!(publishes[3].properties.topic_alias, Some(nz16(1)));
    assert!(publishes[4].topic().is_empty());
    assert_eq!(publishes[4].properties.topic_alias, Some(nz16(1)));
    assert_eq!(publishes[4].payload(), b"use");

    let Packet::Disconnect(d) = packets.last().unwrap() else {
        panic!()
    };
    assert_eq!(d.reason_code, ReasonCode::DisconnectWithWillMessage);
    assert_eq!(d.properties.reason_string.as_deref(), Some("bye"));
    assert_eq!(d.properties.session_expiry_interval, Some(0));
}

#[test]
fn mqtt_3_1_captures() {
    let mut seen = BTreeMap::new();
    for row in manifest().into_iter().filter(|r| r.version == V3_1) {
        let packets = packets_of(&row.name);
        let Packet::Connect(c) = &packets[0] else {
            panic!()
        };
        assert_eq!(c.protocol, ProtocolVersion::V3_1, "{}", row.name);
        seen.insert(row.name, packets);
    }
    assert_eq!(seen.len(), 4);
    let Packet::Connect(c) = &seen["mosq_pub_v31_qos2_will_auth"][0] else {
        panic!()
    };
    assert_eq!(c.username.as_deref(), Some("alice"));
    assert_eq!(c.password.as_deref(), Some(&b"s3cret"[..]));
    let will = c.will.as_ref().unwrap();
    assert_eq!(
        (will.topic.as_str(), will.qos),
        ("will/t", QoS::AtLeastOnce)
    );
    let Packet::Subscribe(s) = &seen["paho_v31_basic"][1] else {
        panic!()
    };
    assert_eq!(s.filters[0].0.as_str(), "a/#");
    assert_eq!(s.filters[0].1, SubscriptionOptions::new(QoS::AtLeastOnce));
}

#[test]
fn mosquitto_v3_1_1_contents() {
    let packets = packets_of("mosq_pub_v311_utf8");
    let Packet::Publish(p) = &packets[1] else {
        panic!()
    };
    assert_eq!(p.topic(), "caf\u{e9}/\u{6e29}\u{5ea6}");
    assert_eq!(p.payload(), "\u{b0}C \u{2603}".as_bytes());

    // capture.py LARGE_PAYLOAD: 20,000 bytes, a 3-byte remaining length.
    let packets = packets_of("mosq_pub_v311_large");
    let Packet::Publish(p) = &packets[1] else {
        panic!()
    };
    let expected: Vec<u8> = (0..20_000u32).map(|i| ((i * 7 + 3) % 251) as u8).collect();
    assert_eq!(p.payload(), &expected[..]);

    let packets = packets_of("mosq_pub_v311_null_payload");
    let Packet::Publish(p) = &packets[1] else {
        panic!()
    };
    assert!(p.retain && p.payload().is_empty());

    let packets = packets_of("mosq_pub_v311_everything");
    let Packet::Connect(c) = &packets[0] else {
        panic!()
    };
    assert!(!c.clean_start);
    assert_eq!(c.keep_alive, 120);
    let will = c.will.as_ref().unwrap();
    assert_eq!(will.qos, QoS::ExactlyOnce);
    assert!(will.retain);
    let Packet::Publish(p) = &packets[1] else {
        panic!()
    };
    assert_eq!(p.topic(), "x/y/z");
    assert!(p.retain);

    let packets = packets_of("mosq_sub_v311_qos2_unsub_persistent");
    let unsubs: Vec<Vec<&str>> = packets
        .iter()
        .filter_map(|p| match p {
            Packet::Unsubscribe(u) => Some(u.filters.iter().map(|f| f.as_str()).collect()),
            _ => None,
        })
        .collect();
    assert_eq!(unsubs, [vec!["old/+/t"], vec!["older/#"]]);
}
