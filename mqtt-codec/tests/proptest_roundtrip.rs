//! Property tests of the codec over generated valid packets of every version (strategies in
//! `tests/strategies/`): encode/decode round trips, `encoded_len`, chunked streams through
//! `Packet::decode` and `Decoder`, robustness against arbitrary and mutated bytes, and what
//! encoding an MQTT 5 packet for a 3.x peer keeps, drops or refuses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod strategies;

use bytes::BytesMut;
use proptest::{collection::vec, prelude::*, sample::Index};
use starling_codec::{
    AckProperties, ConnAckProperties, Decoder, EncodeError, Packet, ProtocolVersion,
    PublishProperties, ReasonCode, SubscribeProperties, SubscriptionOptions, UnsubscribeProperties,
    MAX_PACKET_SIZE, MAX_VARINT,
};
use std::num::NonZeroU32;
use strategies::*;

fn encode(p: &Packet, v: ProtocolVersion) -> BytesMut {
    let mut buf = BytesMut::new();
    p.encode(v, &mut buf)
        .unwrap_or_else(|e| panic!("valid packet refused for {v}: {e}: {p:?}"));
    buf
}

fn encode_all(packets: &[Packet], v: ProtocolVersion) -> Vec<u8> {
    packets.iter().flat_map(|p| encode(p, v)).collect()
}

/// Splits `bytes` into consecutive chunks whose sizes cycle through `sizes` (all >= 1).
fn chunks<'a>(bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at((*size).min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

/// Decodes everything `decode` yields after each chunk arrives; checks that `Ok(None)` consumes
/// nothing. Returns the packets, and the error that ended the stream if any.
fn feed<F>(pieces: &[&[u8]], mut decode: F) -> (Vec<Packet>, Option<String>)
where
    F: FnMut(&mut BytesMut) -> Result<Option<Packet>, starling_codec::DecodeError>,
{
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.clone();
            match decode(&mut buf) {
                Ok(Some(p)) => packets.push(p),
                Ok(None) => {
                    assert_eq!(buf, before, "Ok(None) consumed bytes");
                    break;
                }
                Err(e) => return (packets, Some(e.to_string())),
            }
        }
    }
    (packets, None)
}

/// A decoded packet must re-encode (with a correct `encoded_len`) and decode to itself.
fn assert_reencodes(p: &Packet, v: ProtocolVersion) {
    let mut buf = encode(p, v);
    assert_eq!(p.encoded_len(v).unwrap(), buf.len());
    let again = Packet::decode(v, &mut buf, MAX_PACKET_SIZE).unwrap();
    assert_eq!(again.as_ref(), Some(p));
    assert!(buf.is_empty());
}

/// Decodes `bytes` through `Packet::decode` in every version and through server- and
/// client-side `Decoder`s, as far as they go; whatever decodes must re-encode equal.
fn decode_untrusted(bytes: &[u8], max: u32) {
    for v in VERSIONS {
        let (packets, _) = feed(&[bytes], |b| Packet::decode(v, b, max));
        for p in &packets {
            assert_reencodes(p, v);
        }
        let mut client = Decoder::client(v, max);
        let (packets, _) = feed(&[bytes], |b| client.decode(b));
        for p in &packets {
            assert_reencodes(p, v);
        }
    }
    let mut server = Decoder::server(max);
    let mut packets = Vec::new();
    let (_, _) = feed(&[bytes], |b| {
        let r = server.decode(b);
        if let Ok(Some(p)) = &r {
            packets.push((server.version().unwrap(), p.clone()));
        }
        r
    });
    for (v, p) in &packets {
        assert_reencodes(p, *v);
    }
}

/// A byte-level edit of a valid encoding.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0..8u8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), vec(any::<u8>(), 1..6)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), 1..8usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let len = bytes.len();
    match m {
        Mutation::FlipBit(i, bit) => bytes[i.index(len)] ^= 1 << bit,
        Mutation::SetByte(i, b) => bytes[i.index(len)] = *b,
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        Mutation::Insert(i, b) => {
            let at = i.index(bytes.len() + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let at = i.index(bytes.len());
            let end = (at + n).min(bytes.len());
            bytes.drain(at..end);
        }
    }
}

/// What a 3.x peer gets from a valid MQTT 5 packet: `None` when the encoder must refuse it
/// (it would change the meaning), otherwise the packet with its informational MQTT 5 data
/// stripped (see ARCHITECTURE.md, "Versions").
fn expected_v3(p: &Packet, v: ProtocolVersion) -> Option<Packet> {
    let mut p = p.clone();
    match &mut p {
        // CONNECT is encoded in the version it names itself.
        Packet::Connect(_) | Packet::PingReq | Packet::PingResp => {}
        Packet::ConnAck(c) => {
            let code = c.reason_code.to_v3_connack_return_code()?;
            c.reason_code = ReasonCode::from_v3_connack_return_code(code).unwrap();
            c.session_present &= v != ProtocolVersion::V3_1;
            c.properties = ConnAckProperties::default();
        }
        Packet::Publish(publish) => {
            if publish.topic().is_empty() {
                return None; // known by its alias only
            }
            publish.properties = PublishProperties::default();
        }
        Packet::PubAck(a) => {
            if a.reason_code.is_error() {
                return None;
            }
            (a.reason_code, a.properties) = (ReasonCode::Success, AckProperties::default());
        }
        Packet::PubRec(a) => {
            if a.reason_code.is_error() {
                return None;
            }
            (a.reason_code, a.properties) = (ReasonCode::Success, AckProperties::default());
        }
        Packet::PubRel(a) => {
            if a.reason_code.is_error() {
                return None;
            }
            (a.reason_code, a.properties) = (ReasonCode::Success, AckProperties::default());
        }
        Packet::PubComp(a) => {
            if a.reason_code.is_error() {
                return None;
            }
            (a.reason_code, a.properties) = (ReasonCode::Success, AckProperties::default());
        }
        Packet::Subscribe(s) => {
            let v5_options = s
                .filters
                .iter()
                .any(|(_, o)| *o != SubscriptionOptions::new(o.qos));
            if v5_options || s.properties.subscription_identifier.is_some() {
                return None;
            }
            s.properties = SubscribeProperties::default();
        }
        Packet::SubAck(s) => {
            for rc in &mut s.reason_codes {
                if rc.is_error() {
                    *rc = ReasonCode::UnspecifiedError; // 3.x has only 0x80
                }
            }
            s.properties = AckProperties::default();
        }
        Packet::Unsubscribe(u) => u.properties = UnsubscribeProperties::default(),
        Packet::UnsubAck(u) => {
            if u.reason_codes.iter().any(|rc| rc.is_error()) {
                return None;
            }
            u.reason_codes.clear();
            u.properties = AckProperties::default();
        }
        Packet::Disconnect(d) => {
            if d.reason_code != ReasonCode::NORMAL_DISCONNECTION {
                return None;
            }
            *d = Default::default();
        }
        Packet::Auth(_) => return None,
    }
    Some(p)
}

fn round_trip(v: ProtocolVersion, p: &Packet) {
    let mut buf = encode(p, v);
    let wire = buf.clone();
    let decoded = Packet::decode(v, &mut buf, MAX_PACKET_SIZE)
        .unwrap_or_else(|e| panic!("{v}: {e}: {wire:02x?}"));
    assert_eq!(decoded.as_ref(), Some(p), "{v}: {wire:02x?}");
    assert!(buf.is_empty(), "bytes left after the packet");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (a) decode(encode(p)) == p, MQTT 3.1.
    #[test]
    fn round_trip_v3_1(p in packet(ProtocolVersion::V3_1)) {
        round_trip(ProtocolVersion::V3_1, &p);
    }

    /// (a) decode(encode(p)) == p, MQTT 3.1.1.
    #[test]
    fn round_trip_v3_1_1(p in packet(ProtocolVersion::V3_1_1)) {
        round_trip(ProtocolVersion::V3_1_1, &p);
    }

    /// (a) decode(encode(p)) == p, MQTT 5.
    #[test]
    fn round_trip_v5(p in packet(ProtocolVersion::V5)) {
        round_trip(ProtocolVersion::V5, &p);
    }

    /// (b) `encoded_len` is the number of bytes `encode` appends (after existing contents), and
    /// `Publish::encode_header` followed by the payload is the whole packet.
    #[test]
    fn encoded_len_is_bytes_written(
        (v, p) in versioned_packet(),
        prefix in vec(any::<u8>(), 0..4),
    ) {
        let mut buf = BytesMut::from(&prefix[..]);
        p.encode(v, &mut buf).unwrap();
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
        prop_assert_eq!(p.encoded_len(v).unwrap(), buf.len() - prefix.len());
        if let Packet::Publish(publish) = &p {
            prop_assert_eq!(publish.encoded_len(v).unwrap(), buf.len() - prefix.len());
            let mut split = BytesMut::from(&prefix[..]);
            publish.encode_header(v, &mut split).unwrap();
            split.extend_from_slice(publish.payload());
            prop_assert_eq!(split, buf);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    /// (c) A stream of packets fed in arbitrary chunks through `Packet::decode` yields the same
    /// packets as fed whole; `Ok(None)` never consumes.
    #[test]
    fn chunked_stream_decodes_like_whole_stream(
        (v, packets) in version().prop_flat_map(|v| (Just(v), vec(packet(v), 1..6))),
        sizes in vec(1..64usize, 1..8),
    ) {
        let wire = encode_all(&packets, v);
        let whole = feed(&[&wire], |b| Packet::decode(v, b, MAX_PACKET_SIZE));
        prop_assert_eq!(&whole, &(packets.clone(), None));
        let chunked = feed(&chunks(&wire, &sizes), |b| Packet::decode(v, b, MAX_PACKET_SIZE));
        prop_assert_eq!(chunked, whole);
    }

    /// (c) A server-side `Decoder` fed a client's stream (CONNECT first) in arbitrary chunks
    /// learns the version and yields the packets, as when fed whole.
    #[test]
    fn server_decoder_reads_a_chunked_client_stream(
        (v, connect, packets) in version().prop_flat_map(|v| {
            (Just(v), connect(v), vec(client_to_server(v), 0..6))
        }),
        sizes in vec(1..64usize, 1..8),
    ) {
        let mut expected = vec![Packet::Connect(Box::new(connect))];
        expected.extend(packets);
        let wire = encode_all(&expected, v);
        let mut server = Decoder::server(MAX_PACKET_SIZE);
        let whole = feed(&[&wire], |b| server.decode(b));
        prop_assert_eq!(&whole, &(expected, None));
        prop_assert_eq!(server.version(), Some(v));
        let mut server = Decoder::server(MAX_PACKET_SIZE);
        let chunked = feed(&chunks(&wire, &sizes), |b| server.decode(b));
        prop_assert_eq!(chunked, whole);
    }

    /// (c) A client-side `Decoder` fed a server's stream in arbitrary chunks.
    #[test]
    fn client_decoder_reads_a_chunked_server_stream(
        (v, packets) in version().prop_flat_map(|v| (Just(v), vec(server_to_client(v), 1..6))),
        sizes in vec(1..64usize, 1..8),
    ) {
        let wire = encode_all(&packets, v);
        let mut client = Decoder::client(v, MAX_PACKET_SIZE);
        let chunked = feed(&chunks(&wire, &sizes), |b| client.decode(b));
        prop_assert_eq!(chunked, (packets, None));
    }

    /// (d) Arbitrary bytes never make any decoder panic; whatever decodes re-encodes equal.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..256),
        small_max in any::<bool>(),
    ) {
        decode_untrusted(&bytes, if small_max { 64 } else { MAX_PACKET_SIZE });
    }

    /// (d) Arbitrary bytes behind a plausible fixed header (so the body parsers see them).
    #[test]
    fn arbitrary_bodies_never_panic(
        first in 0x10..=0xFFu8,
        body in vec(any::<u8>(), 0..200),
    ) {
        let n = body.len();
        let mut bytes = if n < 128 {
            vec![first, n as u8]
        } else {
            vec![first, 0x80 | (n & 0x7F) as u8, (n >> 7) as u8]
        };
        bytes.extend_from_slice(&body);
        decode_untrusted(&bytes, MAX_PACKET_SIZE);
    }

    /// (d) Mutated valid encodings (bit flips, overwrites, truncations, insertions, deletions)
    /// never make any decoder panic; whatever decodes re-encodes equal.
    #[test]
    fn mutated_encodings_never_panic(
        (v, connect, packets) in version().prop_flat_map(|v| {
            (Just(v), connect(v), vec(packet(v), 0..4))
        }),
        mutations in vec(mutation(), 1..4),
    ) {
        let mut stream = vec![Packet::Connect(Box::new(connect))];
        stream.extend(packets);
        let mut bytes = encode_all(&stream, v);
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        decode_untrusted(&bytes, MAX_PACKET_SIZE);
    }

    /// (e) Encoding a valid MQTT 5 packet for a 3.x peer either refuses it, exactly when the
    /// packet carries a meaning 3.x cannot express, writing nothing; or the 3.x bytes decode to
    /// the packet with its MQTT 5-only informational data stripped.
    #[test]
    fn v5_packet_encoded_for_v3_is_refused_or_stripped(
        p in packet(ProtocolVersion::V5),
        target in prop_oneof![Just(ProtocolVersion::V3_1), Just(ProtocolVersion::V3_1_1)],
    ) {
        let mut buf = BytesMut::from(&b"xy"[..]);
        let result = p.encode(target, &mut buf);
        match expected_v3(&p, target) {
            None => {
                prop_assert!(
                    matches!(result, Err(EncodeError::UnsupportedByVersion { version, .. }) if version == target),
                    "expected a refusal, got {:?}", result
                );
                prop_assert_eq!(&buf[..], b"xy");
                prop_assert!(p.encoded_len(target).is_err());
            }
            Some(stripped) => {
                prop_assert_eq!(result, Ok(()));
                prop_assert_eq!(p.encoded_len(target).unwrap(), buf.len() - 2);
                let _ = buf.split_to(2);
                let decoded = Packet::decode(target, &mut buf, MAX_PACKET_SIZE).unwrap();
                prop_assert_eq!(decoded, Some(stripped));
                prop_assert!(buf.is_empty());
            }
        }
    }

    /// (b) Subscription Identifiers are `NonZeroU32`s but variable byte integers stop at
    /// 268,435,455: a larger one must be refused, writing nothing, rather than written in five
    /// bytes that `encoded_len` and the remaining length do not count.
    #[test]
    fn out_of_range_subscription_identifier_is_refused(
        p in publish(ProtocolVersion::V5, true),
        s in subscribe(ProtocolVersion::V5),
        id in any::<NonZeroU32>(),
    ) {
        let mut p = p;
        p.properties.subscription_identifiers.push(id);
        let mut s = s;
        s.properties.subscription_identifier = Some(id);
        for packet in [Packet::Publish(p), Packet::Subscribe(s)] {
            let mut buf = BytesMut::new();
            let result = packet.encode(ProtocolVersion::V5, &mut buf);
            if id.get() > MAX_VARINT {
                prop_assert!(matches!(result, Err(EncodeError::Invalid(_))), "{:?}", result);
                prop_assert!(buf.is_empty());
                prop_assert!(packet.encoded_len(ProtocolVersion::V5).is_err());
            } else {
                prop_assert_eq!(result, Ok(()));
                prop_assert_eq!(packet.encoded_len(ProtocolVersion::V5), Ok(buf.len()));
                round_trip(ProtocolVersion::V5, &packet);
            }
        }
    }

    /// The encoder refuses (`EncodeError::Invalid`, writing nothing) the two flag combinations
    /// its decoder rejects as protocol errors, instead of emitting them: Session Present on a
    /// refused CONNACK (v5 [MQTT-3.2.2-6], v3.1.1 [MQTT-3.2.2-4]; 3.1 has no such flag) and
    /// No Local on a shared subscription (v5 [MQTT-3.8.3-4]). Everything else round trips.
    #[test]
    fn encoder_refuses_what_the_decoder_rejects(
        (v, connack, subscribe) in version().prop_flat_map(|v| (Just(v), connack(v), subscribe(v))),
        session_present in any::<bool>(),
        no_local in vec(any::<bool>(), 4),
    ) {
        let mut c = connack;
        c.session_present = session_present;
        let refused = session_present
            && c.reason_code != ReasonCode::Success
            && v != ProtocolVersion::V3_1;
        let mut buf = BytesMut::new();
        let result = Packet::ConnAck(Box::new(c.clone())).encode(v, &mut buf);
        if refused {
            prop_assert!(matches!(result, Err(EncodeError::Invalid(_))), "{:?}", result);
            prop_assert!(buf.is_empty());
        } else {
            c.session_present &= v != ProtocolVersion::V3_1;
            round_trip(v, &Packet::ConnAck(Box::new(c)));
        }

        if v.is_v5() {
            let mut s = subscribe;
            for ((_, options), no_local) in s.filters.iter_mut().zip(&no_local) {
                options.no_local = *no_local;
            }
            let refused = s.filters.iter().any(|(f, o)| o.no_local && f.is_shared());
            let p = Packet::Subscribe(s);
            let mut buf = BytesMut::new();
            let result = p.encode(v, &mut buf);
            if refused {
                prop_assert!(matches!(result, Err(EncodeError::Invalid(_))), "{:?}", result);
                prop_assert!(buf.is_empty());
            } else {
                round_trip(v, &p);
            }
        }
    }
}
