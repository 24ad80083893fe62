//! The header at the start of every benchmark payload.
//!
//! ```text
//! offset  size  field
//!      0     7  magic "STRLBEN"
//!      7     1  version (1)
//!      8     8  send time, nanoseconds since the UNIX epoch (big endian)
//!     16     4  publisher index (big endian)
//!     20     8  sequence number within the publisher, from 0 (big endian)
//!     28     …  zero padding up to the payload size
//! ```
//!
//! The send time is wall-clock time, so a subscriber in another process on the same machine
//! (or on a machine with a synchronised clock) can compute end-to-end latency.

use bytes::{BufMut, BytesMut};
use std::time::{SystemTime, UNIX_EPOCH};

/// Magic and version: the first 8 bytes of every benchmark payload.
pub const MAGIC: [u8; 8] = *b"STRLBEN\x01";

/// Bytes of the header; payloads are never shorter.
pub const HEADER_LEN: usize = 28;

/// What a benchmark payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Send time in nanoseconds since the UNIX epoch.
    pub sent_ns: u64,
    /// Index of the publishing client.
    pub publisher: u32,
    /// Sequence number of the message within its publisher, from 0.
    pub seq: u64,
}

impl Header {
    /// Appends the header to `buf`, then zeros up to `size` bytes in all (at least the header).
    pub fn write(&self, buf: &mut BytesMut, size: usize) {
        let start = buf.len();
        buf.reserve(size.max(HEADER_LEN));
        buf.put_slice(&MAGIC);
        buf.put_u64(self.sent_ns);
        buf.put_u32(self.publisher);
        buf.put_u64(self.seq);
        buf.resize(start + size.max(HEADER_LEN), 0);
    }

    /// Reads the header at the start of `payload`; `None` when it is not a benchmark payload
    /// (too short, or another magic or version).
    pub fn read(payload: &[u8]) -> Option<Header> {
        let head = payload.get(..HEADER_LEN)?;
        if head[..8] != MAGIC {
            return None;
        }
        let u64_at = |i: usize| head[i..i + 8].try_into().ok().map(u64::from_be_bytes);
        let u32_at = |i: usize| head[i..i + 4].try_into().ok().map(u32::from_be_bytes);
        Some(Header {
            sent_ns: u64_at(8)?,
            publisher: u32_at(16)?,
            seq: u64_at(20)?,
        })
    }
}

/// Now, in nanoseconds since the UNIX epoch (0 if the clock is before it).
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_pads_to_the_payload_size() {
        let h = Header {
            sent_ns: 1_700_000_000_123_456_789,
            publisher: 7,
            seq: 0x0102_0304_0506_0708,
        };
        for size in [0, HEADER_LEN, 64, 1024] {
            let mut buf = BytesMut::new();
            h.write(&mut buf, size);
            assert_eq!(buf.len(), size.max(HEADER_LEN));
            assert_eq!(Header::read(&buf), Some(h));
            assert!(buf[HEADER_LEN..].iter().all(|b| *b == 0));
        }
    }

    #[test]
    fn header_layout_is_big_endian_after_the_magic() {
        let mut buf = BytesMut::new();
        Header {
            sent_ns: 1,
            publisher: 2,
            seq: 3,
        }
        .write(&mut buf, 0);
        let mut expected = b"STRLBEN\x01".to_vec();
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(&buf[..], &expected[..]);
    }

    #[test]
    fn foreign_or_short_payloads_have_no_header() {
        assert_eq!(Header::read(b"hello"), None);
        assert_eq!(Header::read(&[0u8; 64]), None);
        let mut buf = BytesMut::new();
        Header {
            sent_ns: 1,
            publisher: 1,
            seq: 1,
        }
        .write(&mut buf, 64);
        assert_eq!(Header::read(&buf[..HEADER_LEN - 1]), None);
        let mut other_version = buf.clone();
        other_version[7] = 2;
        assert_eq!(Header::read(&other_version), None);
    }

    #[test]
    fn unix_nanos_is_after_2020() {
        assert!(unix_nanos() > 1_577_836_800_000_000_000);
    }
}
