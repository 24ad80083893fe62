//! Heap allocations on the PUBLISH hot paths, counted by a wrapping global allocator.
//!
//! Claims proven here:
//! - decoding PUBLISH packets (3.1.1 and 5, QoS 0/1/2, with and without MQTT 5 properties that
//!   are plain values or slices: no user properties, no subscription identifiers) from a
//!   `BytesMut` holding many frames allocates nothing per packet: topic, payload and string
//!   properties are slices of the frame. The only allocation over a whole buffer is the one
//!   `bytes` makes the first time a `Vec`-backed `BytesMut` is split (`split_to` promotes it to
//!   a shared, reference-counted buffer); every later frame is a reference-count increment;
//! - encoding a PUBLISH (`Publish::encode`, `Packet::encode`, `Publish::encode_header`,
//!   `encoded_len`) into a `BytesMut` with enough capacity allocates nothing.
//!
//! The counting allocator is `starling-alloc-count` (a dev-dependency): only allocations made on
//! the thread that asked for counting are counted, so other tests cannot disturb the numbers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use starling_alloc_count::allocations;
use starling_codec::{
    Decoder, MqttStr, Packet, PacketId, PayloadFormat, ProtocolVersion, Publish, PublishProperties,
    QosPid, TopicName, MAX_PACKET_SIZE,
};
use std::num::NonZeroU16;

const N: usize = 1000;
const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

fn qos_pids() -> [QosPid; 3] {
    let pid = PacketId::new(0x1234).unwrap();
    [
        QosPid::AtMostOnce,
        QosPid::AtLeastOnce(pid),
        QosPid::ExactlyOnce(pid),
    ]
}

/// Every MQTT 5 PUBLISH property that decodes without allocating: everything but user
/// properties and subscription identifiers (each a `Vec`).
fn slice_only_properties() -> PublishProperties {
    let mut p = PublishProperties::default();
    p.payload_format_indicator = Some(PayloadFormat::Utf8);
    p.message_expiry_interval = Some(3600);
    p.topic_alias = NonZeroU16::new(3);
    p.response_topic = Some(TopicName::from_static("replies/gateway-0042").unwrap());
    p.correlation_data = Some(Bytes::from_static(b"\x00\x01request-77"));
    p.content_type = Some(MqttStr::from_static("application/json").unwrap());
    p
}

fn publishes(version: ProtocolVersion) -> Vec<Publish> {
    let mut out = Vec::new();
    for qos_pid in qos_pids() {
        for with_properties in [false, true] {
            if with_properties && !version.is_v5() {
                continue;
            }
            for payload_len in [0usize, 64, 1500] {
                let mut p = Publish::new(
                    TopicName::from_static("sensors/building-1/floor-2/temperature").unwrap(),
                    qos_pid,
                    Bytes::from(vec![0x5Au8; payload_len]),
                );
                p.retain = payload_len == 64;
                p.dup = qos_pid.packet_id().is_some() && payload_len == 0;
                if with_properties {
                    p.properties = slice_only_properties();
                }
                out.push(p);
            }
        }
    }
    out
}

/// `N` frames cycling through `packets`, in one `Vec`-backed `BytesMut`.
fn stream(version: ProtocolVersion, packets: &[Publish]) -> BytesMut {
    let mut buf = BytesMut::new();
    for p in packets.iter().cycle().take(N) {
        p.encode(version, &mut buf).unwrap();
    }
    buf
}

#[test]
fn decoding_publish_allocates_only_to_share_the_receive_buffer() {
    for version in VERSIONS {
        let packets = publishes(version);
        let mut buf = stream(version, &packets);
        let (decoded, count) = allocations(|| {
            let mut decoded = 0;
            let mut expected = packets.iter().cycle();
            while let Some(packet) = Packet::decode(version, &mut buf, MAX_PACKET_SIZE).unwrap() {
                // Compared in place (no clone: cloning a `Vec`-backed `Bytes` may allocate)
                // and dropped: nothing is kept, nothing is formatted.
                let Packet::Publish(p) = packet else {
                    panic!("not a PUBLISH");
                };
                assert!(&p == expected.next().unwrap());
                decoded += 1;
            }
            decoded
        });
        assert_eq!(decoded, N);
        assert!(buf.is_empty());
        // The one allocation: the first `split_to` on a `Vec`-backed `BytesMut` promotes it to
        // a shared buffer (a small header). Then `split_to`, `freeze` and `Bytes::slice` only
        // bump the reference count.
        assert!(
            count <= 1,
            "{version}: {count} allocations decoding {N} PUBLISH packets"
        );
    }
}

#[test]
fn decoding_publish_keeps_payloads_in_the_receive_buffer() {
    let version = ProtocolVersion::V5;
    let packets = publishes(version);
    let mut buf = stream(version, &packets);
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();
    let (_, count) = allocations(|| {
        for _ in 0..N {
            let Some(Packet::Publish(p)) =
                Packet::decode(version, &mut buf, MAX_PACKET_SIZE).unwrap()
            else {
                panic!("not a PUBLISH");
            };
            // Zero copy: topic, payload and string properties point into the frame.
            // The owned forms too: `into_parts` shares the frame instead of copying.
            let (topic, payload) = p.clone().into_parts();
            for slice in [p.payload(), p.topic_bytes(), &payload, topic.as_bytes()] {
                let at = slice.as_ptr() as usize;
                assert!(slice.is_empty() || (start..end).contains(&at));
            }
            if let Some(ct) = &p.properties.content_type {
                assert!((start..end).contains(&(ct.as_bytes().as_ptr() as usize)));
            }
        }
    });
    assert!(count <= 1, "{count} allocations");
}

#[test]
fn a_connection_decoder_adds_no_allocation() {
    // The client side of a connection receiving a stream of PUBLISH packets from its server.
    for version in VERSIONS {
        let packets = publishes(version);
        let mut buf = stream(version, &packets);
        let mut decoder = Decoder::client(version, MAX_PACKET_SIZE);
        let (decoded, count) = allocations(|| {
            let mut decoded = 0;
            while let Some(packet) = decoder.decode(&mut buf).unwrap() {
                assert!(matches!(packet, Packet::Publish(_)));
                decoded += 1;
            }
            decoded
        });
        assert_eq!(decoded, N);
        assert!(count <= 1, "{version}: {count} allocations");
    }
}

#[test]
fn a_buffer_already_shared_decodes_with_no_allocation_at_all() {
    // Once the buffer is shared (as it is after the first frame on a connection), refilling it
    // and decoding more frames costs nothing: each frame is a reference-count increment.
    let version = ProtocolVersion::V3_1_1;
    let packets = publishes(version);
    let mut buf = stream(version, &packets);
    let _first = Packet::decode(version, &mut buf, MAX_PACKET_SIZE)
        .unwrap()
        .unwrap();
    let (decoded, count) = allocations(|| {
        let mut decoded = 1;
        while Packet::decode(version, &mut buf, MAX_PACKET_SIZE)
            .unwrap()
            .is_some()
        {
            decoded += 1;
        }
        decoded
    });
    assert_eq!(decoded, N);
    assert_eq!(count, 0);
}

#[test]
fn encoding_publish_into_reserved_space_allocates_nothing() {
    for version in VERSIONS {
        let packets = publishes(version);
        let wrapped: Vec<Packet> = packets.iter().cloned().map(Packet::Publish).collect();
        let total: usize = packets
            .iter()
            .map(|p| p.encoded_len(version).unwrap())
            .sum();
        let mut buf = BytesMut::with_capacity(3 * total);
        let (written, count) = allocations(|| {
            let mut written = 0;
            for (p, packet) in packets.iter().zip(&wrapped) {
                let len = p.encoded_len(version).unwrap();
                let before = buf.len();
                p.encode(version, &mut buf).unwrap();
                packet.encode(version, &mut buf).unwrap();
                assert_eq!(packet.encoded_len(version).unwrap(), len);
                // The vectored path: header only, the payload stays in its `Bytes`.
                p.encode_header(version, &mut buf).unwrap();
                assert_eq!(buf.len() - before, 3 * len - p.payload().len());
                written += 1;
            }
            written
        });
        assert_eq!(written, packets.len());
        assert_eq!(count, 0, "{version}: {count} allocations encoding");
    }
}

#[test]
fn encoding_publish_in_a_loop_reuses_the_buffer() {
    // A writer that clears its buffer after each flush never allocates again.
    let version = ProtocolVersion::V5;
    let packets = publishes(version);
    let max = packets
        .iter()
        .map(|p| p.encoded_len(version).unwrap())
        .max()
        .unwrap();
    let mut buf = BytesMut::with_capacity(max);
    let (_, count) = allocations(|| {
        for p in packets.iter().cycle().take(N) {
            buf.clear();
            p.encode(version, &mut buf).unwrap();
        }
    });
    assert_eq!(count, 0);
}
