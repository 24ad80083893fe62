//! Bounds-checked reading of untrusted bytes and a writer that can also just count.

use crate::{
    error::DecodeError,
    properties::Properties,
    string::{self, MqttStr},
};
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The largest value of a variable byte integer (v5 §1.5.5).
pub const MAX_VARINT: u32 = 268_435_455;

/// Reads a packet body. Every method checks bounds and returns an error instead of panicking.
/// Slices share the body's buffer.
pub(crate) struct Reader {
    buf: Bytes,
    pos: usize,
}

const SHORT: DecodeError = DecodeError::Malformed("packet shorter than its contents");

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Reader {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(SHORT)?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.slice(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.slice(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// A variable byte integer, at most four bytes (v5 [MQTT-1.5.5-1]).
    pub(crate) fn varint(&mut self) -> Result<u32, DecodeError> {
        let (value, len) = read_varint(&self.buf[self.pos..])?.ok_or(SHORT)?;
        self.pos += len;
        Ok(value)
    }

    fn slice(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(SHORT)?;
        let s = self.buf.get(self.pos..end).ok_or(SHORT)?;
        self.pos = end;
        Ok(s)
    }

    /// `n` bytes, sharing the buffer. `n` is checked against what is left before anything else.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if n > self.remaining() {
            return Err(SHORT);
        }
        let b = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    /// Everything left. Takes the buffer rather than slicing it, which spares a reference-count
    /// increment (and the decrement when the reader drops); the reader is empty afterwards.
    pub(crate) fn rest(&mut self) -> Bytes {
        let mut b = std::mem::take(&mut self.buf);
        b.advance(self.pos);
        self.pos = 0;
        b
    }

    /// Binary data with a two-byte length prefix.
    pub(crate) fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.u16()?;
        self.bytes(usize::from(n))
    }

    /// A UTF-8 encoded string with a two-byte length prefix.
    pub(crate) fn string(&mut self) -> Result<MqttStr, DecodeError> {
        let b = self.binary()?;
        string::validate(&b).map_err(|e| match e {
            string::StringError::ContainsNull => {
                DecodeError::Malformed("UTF-8 string contains U+0000")
            }
            _ => DecodeError::Malformed("string is not well-formed UTF-8"),
        })?;
        Ok(MqttStr::from_validated(b))
    }

    /// A sub-reader over the next `n` bytes (for property blocks).
    pub(crate) fn sub(&mut self, n: usize) -> Result<Reader, DecodeError> {
        Ok(Reader::new(self.bytes(n)?))
    }
}

/// Decodes a variable byte integer from the start of `buf`: `Ok(None)` if more bytes are needed,
/// otherwise the value and the number of bytes used.
pub(crate) fn read_varint(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value = 0u32;
    for i in 0..4 {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        value |= u32::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            // v5 §1.5.5 notes the encoding uses the minimum number of bytes; a longer encoding
            // still decodes to the same value, which we accept as Mosquitto does.
            return Ok(Some((value, i + 1)));
        }
    }
    // v5 [MQTT-1.5.5-1]: at most four bytes.
    Err(DecodeError::Malformed(
        "variable byte integer longer than four bytes",
    ))
}

/// The number of bytes the variable byte integer `value` takes.
pub(crate) const fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Where encoders write. Implemented by [`BytesMut`] and by [`Counter`], so the length of a
/// packet is computed by the very code that writes it and the two cannot disagree.
pub(crate) trait Writer {
    fn put_u8(&mut self, v: u8);
    fn put_slice(&mut self, s: &[u8]);

    fn put_u16(&mut self, v: u16) {
        self.put_slice(&v.to_be_bytes());
    }

    fn put_u32(&mut self, v: u32) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Callers guarantee `v <= MAX_VARINT`.
    fn put_varint(&mut self, v: usize) {
        let mut v = v;
        loop {
            let mut b = (v % 128) as u8;
            v /= 128;
            if v > 0 {
                b |= 0x80;
            }
            self.put_u8(b);
            if v == 0 {
                break;
            }
        }
    }

    /// Binary data with a two-byte length; callers guarantee `s.len() <= 65535`.
    fn put_binary(&mut self, s: &[u8]) {
        self.put_u16(s.len() as u16);
        self.put_slice(s);
    }

    /// A property block: its length, then the properties.
    fn put_properties<P: Properties>(&mut self, p: &P)
    where
        Self: Sized,
    {
        self.put_varint(p.body_len());
        p.write(self);
    }
}

impl Writer for BytesMut {
    #[inline]
    fn put_u8(&mut self, v: u8) {
        BufMut::put_u8(self, v);
    }

    #[inline]
    fn put_slice(&mut self, s: &[u8]) {
        self.extend_from_slice(s);
    }

    /// One pass instead of two (count, then write): writes the block after a one-byte length
    /// placeholder and patches the length in. A block of 128 bytes or more (rare) is moved right
    /// to make room for its longer length. The caller reserved the space in its counting pass.
    fn put_properties<P: Properties>(&mut self, p: &P) {
        let at = self.len();
        BufMut::put_u8(self, 0);
        p.write(self);
        let len = self.len() - at - 1;
        if len < 128 {
            // The common case: the placeholder is the length.
            if let Some(b) = self.get_mut(at) {
                *b = len as u8;
            }
            return;
        }
        let n = varint_len(len);
        if n > 1 {
            self.put_bytes(0, n - 1);
            self.copy_within(at + 1..at + 1 + len, at + n);
        }
        let mut prefix = [0u8; 4];
        let mut v = len;
        for b in &mut prefix {
            *b = (v % 128) as u8;
            v /= 128;
            if v > 0 {
                *b |= 0x80;
            }
        }
        if let (Some(dst), Some(src)) = (self.get_mut(at..at + n), prefix.get(..n)) {
            dst.copy_from_slice(src);
        }
    }
}

/// A writer that only counts bytes, and notes binary data too long for its two-byte length
/// prefix, or a value too large for a variable byte integer (a Subscription Identifier is a
/// `NonZeroU32`), so the encoder can refuse it before writing anything.
#[derive(Default)]
pub(crate) struct Counter {
    pub(crate) len: usize,
    pub(crate) oversized_binary: bool,
    pub(crate) oversized_varint: bool,
}

impl Writer for Counter {
    #[inline]
    fn put_u8(&mut self, _: u8) {
        self.len += 1;
    }

    #[inline]
    fn put_slice(&mut self, s: &[u8]) {
        self.len += s.len();
    }

    #[inline]
    fn put_varint(&mut self, v: usize) {
        self.oversized_varint |= v > MAX_VARINT as usize;
        self.len += varint_len(v);
    }

    #[inline]
    fn put_binary(&mut self, s: &[u8]) {
        self.oversized_binary |= s.len() > usize::from(u16::MAX);
        self.len += 2 + s.len();
    }

    /// One counting pass over the properties instead of two.
    fn put_properties<P: Properties>(&mut self, p: &P) {
        let mut c = Counter::default();
        p.write(&mut c);
        self.put_varint(c.len);
        self.len += c.len;
        self.oversized_binary |= c.oversized_binary;
        self.oversized_varint |= c.oversized_varint;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_boundaries() {
        // v5 §1.5.5 table of boundaries.
        for (value, bytes) in [
            (0usize, &[0x00][..]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            let mut b = BytesMut::new();
            b.put_varint(value);
            assert_eq!(&b[..], bytes);
            assert_eq!(varint_len(value), bytes.len());
            assert_eq!(
                read_varint(bytes).unwrap(),
                Some((value as u32, bytes.len()))
            );
        }
        // v5 [MQTT-1.5.5-1]: a fifth byte is malformed.
        assert!(read_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]).is_err());
        assert_eq!(read_varint(&[0x80, 0x80]).unwrap(), None);
    }

    #[test]
    fn property_blocks_patch_their_length_in_place() {
        use crate::properties::{Properties, UnsubscribeProperties};
        // Blocks on both sides of every variable byte integer boundary (one user property is
        // 5 bytes plus its strings).
        for value_len in [0usize, 117, 118, 122, 123, 16_372, 16_373, 16_378, 16_379] {
            let mut p = UnsubscribeProperties::default();
            let value = MqttStr::try_from("v".repeat(value_len).as_str()).unwrap();
            p.user_properties
                .push((MqttStr::try_from("k").unwrap(), value));
            let len = p.body_len();
            let mut two_pass = BytesMut::from(&b"xy"[..]);
            two_pass.put_varint(len);
            p.write(&mut two_pass);
            let mut one_pass = BytesMut::from(&b"xy"[..]);
            one_pass.put_properties(&p);
            assert_eq!(one_pass, two_pass, "block of {len} bytes");
            let mut counter = Counter::default();
            counter.put_properties(&p);
            assert_eq!(counter.len, one_pass.len() - 2);
        }
    }

    #[test]
    fn reader_never_reads_past_the_end() {
        let mut r = Reader::new(Bytes::from_static(&[0x00, 0x05, b'a']));
        assert!(r.string().is_err());
        let mut r = Reader::new(Bytes::from_static(&[0x01]));
        assert!(r.u16().is_err());
        assert!(r.bytes(usize::MAX).is_err());
    }
}
