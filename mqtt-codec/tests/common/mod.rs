//! Helpers shared by the byte-vector tests: tiny wire builders written independently of the
//! codec (so a vector does not trust the encoder it checks), value builders, and the table
//! runners that check a whole table and report every failing row at once.
#![allow(dead_code, unreachable_pub)]

use bytes::{Bytes, BytesMut};
use starling_codec::{
    DecodeError, EncodeError, MqttStr, Packet, PacketId, ProtocolVersion, QosPid, TopicFilter,
    TopicName, MAX_PACKET_SIZE,
};
use std::{
    fmt::Write as _,
    num::{NonZeroU16, NonZeroU32},
};

#[allow(unused_imports)]
pub use ProtocolVersion::{V3_1, V3_1_1, V5};

/// Concatenates byte-like values (`&[u8]`, `[u8; N]`, `Vec<u8>`, `b"…"`) into one `Vec<u8>`.
macro_rules! cat {
    ($($part:expr),* $(,)?) => {{
        let mut v: Vec<u8> = Vec::new();
        $(v.extend_from_slice(AsRef::<[u8]>::as_ref(&$part));)*
        v
    }};
}

/// A variable byte integer, written the way v5 §1.5.5 describes it.
pub fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

/// A whole packet: first byte, remaining length, body.
pub fn frame(first: u8, body: Vec<u8>) -> Vec<u8> {
    cat![[first], varint(body.len()), body]
}

/// A length-prefixed UTF-8 string.
pub fn s(text: &str) -> Vec<u8> {
    bin(text.as_bytes())
}

/// Length-prefixed binary data.
pub fn bin(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).unwrap();
    cat![len.to_be_bytes(), data]
}

/// A property block: its variable byte integer length, then the properties.
pub fn props(block: Vec<u8>) -> Vec<u8> {
    cat![varint(block.len()), block]
}

/// A User Property (0x26).
pub fn user_prop(k: &str, v: &str) -> Vec<u8> {
    cat![[0x26], s(k), s(v)]
}

pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

pub fn topic(t: &str) -> TopicName {
    TopicName::try_from(t).unwrap()
}

pub fn filter(f: &str) -> TopicFilter {
    TopicFilter::try_from(f).unwrap()
}

pub fn ms(t: &str) -> MqttStr {
    MqttStr::try_from(t).unwrap()
}

pub fn user(k: &str, v: &str) -> (MqttStr, MqttStr) {
    (ms(k), ms(v))
}

pub fn nz16(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

pub fn nz32(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

pub fn b(data: &'static [u8]) -> Bytes {
    Bytes::from_static(data)
}

pub fn q1(n: u16) -> QosPid {
    QosPid::AtLeastOnce(pid(n))
}

pub fn q2(n: u16) -> QosPid {
    QosPid::ExactlyOnce(pid(n))
}

/// A default-constructed value changed by `f` (the property structs are `#[non_exhaustive]`).
pub fn with<T: Default>(f: impl FnOnce(&mut T)) -> T {
    let mut t = T::default();
    f(&mut t);
    t
}

/// The reason codes each packet may carry, copied from the tables of v5 §3.2.2.2, §3.4.2.1,
/// §3.5.2.1, §3.6.2.1, §3.7.2.1, §3.9.3, §3.11.3, §3.14.2.1 and §3.15.2.1.
pub const CONNACK_CODES: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];
pub const PUBACK_CODES: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
pub const PUBREL_CODES: &[u8] = &[0x00, 0x92];
pub const SUBACK_CODES: &[u8] = &[
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];
pub const UNSUBACK_CODES: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
pub const DISCONNECT_CODES: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];
pub const AUTH_CODES: &[u8] = &[0x00, 0x18, 0x19];

/// A valid byte vector: `bytes` decode (in `version`) to exactly `packet`.
pub struct Valid {
    pub name: &'static str,
    pub version: ProtocolVersion,
    pub bytes: Vec<u8>,
    pub packet: Packet,
    /// What the encoder writes for `packet` when it is not `bytes` (a non-canonical but valid
    /// input form, such as an explicit Success reason code or zero-length property block).
    pub canonical: Option<Vec<u8>>,
}

/// A vector whose canonical encoding is the vector itself.
pub fn ok(name: &'static str, version: ProtocolVersion, bytes: Vec<u8>, packet: Packet) -> Valid {
    Valid {
        name,
        version,
        bytes,
        packet,
        canonical: None,
    }
}

/// A valid input that the encoder writes in a shorter, canonical form.
pub fn ok_decode_only(
    name: &'static str,
    version: ProtocolVersion,
    bytes: Vec<u8>,
    packet: Packet,
    canonical: Vec<u8>,
) -> Valid {
    Valid {
        name,
        version,
        bytes,
        packet,
        canonical: Some(canonical),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, b) in bytes.iter().enumerate().take(64) {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02X}");
    }
    if bytes.len() > 64 {
        let _ = write!(out, " … ({} bytes)", bytes.len());
    }
    out
}

/// Bytes appended after each vector: decoding must leave them untouched.
const NEXT: &[u8] = b"\xC0\x00";

fn check_one_valid(v: &Valid) -> Result<(), String> {
    // Decodes exactly the packet and consumes exactly the vector.
    let mut buf = BytesMut::from(&cat![v.bytes, NEXT][..]);
    let got = Packet::decode(v.version, &mut buf, MAX_PACKET_SIZE)
        .map_err(|e| format!("decode failed: {e:?}"))?;
    if got.as_ref() != Some(&v.packet) {
        return Err(format!(
            "decoded\n    {got:?}\n  expected\n    {:?}",
            v.packet
        ));
    }
    if &buf[..] != NEXT {
        return Err(format!("consumed wrongly, left {}", hex(&buf)));
    }
    // Every strict prefix is `Ok(None)` and consumes nothing. Past the fixed header this is
    // decided by the remaining length alone, so a few body prefixes suffice for big vectors.
    let cut_points: Vec<usize> = if v.bytes.len() <= 512 {
        (0..v.bytes.len()).collect()
    } else {
        (0..16)
            .chain([v.bytes.len() / 2, v.bytes.len() - 1])
            .collect()
    };
    for cut in cut_points {
        let mut part = BytesMut::from(&v.bytes[..cut]);
        match Packet::decode(v.version, &mut part, MAX_PACKET_SIZE) {
            Ok(None) if part.len() == cut => {}
            other => return Err(format!("prefix of {cut} bytes gave {other:?}")),
        }
    }
    // Encodes to the canonical bytes, with a matching `encoded_len`.
    let expected = v.canonical.as_ref().unwrap_or(&v.bytes);
    let mut out = BytesMut::new();
    v.packet
        .encode(v.version, &mut out)
        .map_err(|e| format!("encode failed: {e:?}"))?;
    if out[..] != expected[..] {
        return Err(format!(
            "encoded\n    {}\n  expected\n    {}",
            hex(&out),
            hex(expected)
        ));
    }
    let len = v
        .packet
        .encoded_len(v.version)
        .map_err(|e| format!("encoded_len failed: {e:?}"))?;
    if len != expected.len() {
        return Err(format!("encoded_len {len} != {}", expected.len()));
    }
    // The canonical form is itself a valid vector of the same packet.
    if v.canonical.is_some() {
        let mut buf = BytesMut::from(&expected[..]);
        let again = Packet::decode(v.version, &mut buf, MAX_PACKET_SIZE);
        if again != Ok(Some(v.packet.clone())) || !buf.is_empty() {
            return Err(format!("canonical form decodes to {again:?}"));
        }
    }
    Ok(())
}

/// Checks every valid vector of a table; panics listing all failing rows.
pub fn check_valid(table: &[Valid]) {
    let failures: Vec<String> = table
        .iter()
        .filter_map(|v| {
            check_one_valid(v).err().map(|e| {
                format!(
                    "[{}] ({:?}) {}\n  bytes {}\n  {e}",
                    v.name,
                    v.version,
                    v.name,
                    hex(&v.bytes)
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} valid vectors failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

/// A malformed or forbidden byte vector and the error it must produce.
pub struct Bad {
    pub name: &'static str,
    pub version: ProtocolVersion,
    pub bytes: Vec<u8>,
    pub error: DecodeError,
    pub max_packet_size: u32,
}

pub fn bad(
    name: &'static str,
    version: ProtocolVersion,
    bytes: Vec<u8>,
    error: DecodeError,
) -> Bad {
    Bad {
        name,
        version,
        bytes,
        error,
        max_packet_size: MAX_PACKET_SIZE,
    }
}

/// Expected errors. Only the variant (and so the reason code) is compared, not the message.
pub const MALFORMED: DecodeError = DecodeError::Malformed("");
pub const PROTOCOL: DecodeError = DecodeError::ProtocolError("");
pub const TOPIC_NAME: DecodeError = DecodeError::TopicNameInvalid("");
pub const TOPIC_FILTER: DecodeError = DecodeError::TopicFilterInvalid("");
pub const TOPIC_ALIAS: DecodeError = DecodeError::TopicAliasInvalid("");

pub fn unsupported_level(level: u8) -> DecodeError {
    DecodeError::UnsupportedProtocolVersion { level }
}

/// Whether `got` is the expected error: same variant and reason code; for the variants that
/// carry data (not a message), the same data.
pub fn same_error(got: &DecodeError, expected: &DecodeError) -> bool {
    let data_matches = match (got, expected) {
        (DecodeError::PacketTooLarge { .. }, DecodeError::PacketTooLarge { .. })
        | (
            DecodeError::UnsupportedProtocolVersion { .. },
            DecodeError::UnsupportedProtocolVersion { .. },
        ) => got == expected,
        _ => true,
    };
    std::mem::discriminant(got) == std::mem::discriminant(expected)
        && got.reason_code() == expected.reason_code()
        && data_matches
}

/// Checks every malformed vector of a table; panics listing all failing rows.
pub fn check_bad(table: &[Bad]) {
    let failures: Vec<String> = table
        .iter()
        .filter_map(|v| {
            let mut buf = BytesMut::from(&v.bytes[..]);
            match Packet::decode(v.version, &mut buf, v.max_packet_size) {
                Err(e) if same_error(&e, &v.error) => None,
                other => Some(format!(
                    "[{}] ({:?})\n  bytes {}\n  gave {other:?}, expected {:?} ({:?})",
                    v.name,
                    v.version,
                    hex(&v.bytes),
                    v.error,
                    v.error.reason_code()
                )),
            }
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} malformed vectors failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

/// Encodes `packet` into a buffer that already holds some bytes, expecting `expected`; checks
/// that nothing was written and that `encoded_len` agrees.
pub fn assert_encode_error(
    name: &str,
    packet: &Packet,
    version: ProtocolVersion,
    expected: EncodeError,
) {
    let mut buf = BytesMut::from(&b"prior"[..]);
    let got = packet.encode(version, &mut buf);
    assert_eq!(got, Err(expected), "[{name}] encode");
    assert_eq!(&buf[..], b"prior", "[{name}] bytes written on error");
    assert_eq!(
        packet.encoded_len(version),
        Err(expected),
        "[{name}] encoded_len"
    );
}

/// Encodes `packet` for `version`, expecting exactly `expected`.
pub fn assert_encodes(name: &str, packet: &Packet, version: ProtocolVersion, expected: &[u8]) {
    let mut buf = BytesMut::new();
    packet
        .encode(version, &mut buf)
        .unwrap_or_else(|e| panic!("[{name}] encode failed: {e:?}"));
    assert_eq!(hex(&buf), hex(expected), "[{name}] encoded bytes");
    assert_eq!(
        packet.encoded_len(version).unwrap(),
        expected.len(),
        "[{name}] encoded_len"
    );
}
