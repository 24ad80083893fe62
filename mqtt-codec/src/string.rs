//! UTF-8 encoded strings as MQTT defines them.

use bytes::Bytes;
use std::{fmt, ops::Deref};

/// The longest string MQTT can carry: a two-byte length prefix.
pub const MAX_STRING_LEN: usize = u16::MAX as usize;

/// Why a string is not a valid MQTT UTF-8 string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StringError {
    /// Longer than 65,535 bytes.
    #[error("string longer than 65535 bytes")]
    TooLong,
    /// Contains U+0000 (v5 [MQTT-1.5.4-2], v3.1.1 [MQTT-1.5.3-2]).
    #[error("string contains U+0000")]
    ContainsNull,
    /// Not well-formed UTF-8 (v5 [MQTT-1.5.4-1], v3.1.1 [MQTT-1.5.3-1]).
    #[error("string is not well-formed UTF-8")]
    InvalidUtf8,
}

/// An MQTT UTF-8 encoded string: well-formed UTF-8, no U+0000, at most 65,535 bytes.
///
/// Backed by [`Bytes`], so strings decoded from a packet share the packet's buffer. Cloning is
/// cheap. Dereferences to `str`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MqttStr(Bytes);

impl MqttStr {
    /// The empty string.
    pub const fn empty() -> MqttStr {
        MqttStr(Bytes::new())
    }

    /// Validates `bytes` as an MQTT string without copying.
    pub fn from_bytes(bytes: Bytes) -> Result<MqttStr, StringError> {
        validate(&bytes)?;
        Ok(MqttStr(bytes))
    }

    /// A validated string from a static `str` (no copy).
    pub fn from_static(s: &'static str) -> Result<MqttStr, StringError> {
        MqttStr::from_bytes(Bytes::from_static(s.as_bytes()))
    }

    /// Wraps bytes the caller has already validated.
    pub(crate) fn from_validated(bytes: Bytes) -> MqttStr {
        MqttStr(bytes)
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // Invariant: the bytes were validated as UTF-8 when the value was built. Re-checking here
        // costs a scan; `from_utf8` on already-valid data cannot fail, so fall back to "" which
        // is unreachable in practice and never panics.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Consumes the string, returning its bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

/// Checks the rules of v5 §1.5.4 / v3.1.1 §1.5.3.
pub(crate) fn validate(bytes: &[u8]) -> Result<(), StringError> {
    validate_flagged(bytes).map(|_| ())
}

/// [`validate`], also telling whether the string may hold a wildcard (`+` or `#`): false means
/// it holds none.
pub(crate) fn validate_flagged(bytes: &[u8]) -> Result<bool, StringError> {
    if bytes.len() > MAX_STRING_LEN {
        return Err(StringError::TooLong);
    }
    // ASCII is UTF-8: the full validation only for strings with a non-ASCII byte, and the NUL
    // search only for those with a NUL or a wildcard (one pass finds both).
    let (special, high) = scan_topic(bytes);
    if high && std::str::from_utf8(bytes).is_err() {
        return Err(StringError::InvalidUtf8);
    }
    if special && bytes.contains(&0) {
        return Err(StringError::ContainsNull);
    }
    Ok(special)
}

/// The first position of a `+` or `#` in `s` for which `pred` holds, looking at the wildcards
/// only (in order), found eight bytes at a time.
#[inline]
pub(crate) fn find_wildcard(s: &[u8], mut pred: impl FnMut(usize) -> bool) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    // 0x80 in exactly the bytes of `v` equal to `c` (no false positives, unlike the
    // borrow-based test `scan_topic` uses for a yes/no answer).
    let equal = |v: u64, c: u8| {
        let x = v ^ (ONES * u64::from(c));
        !(((x & LOW7) + LOW7) | x | LOW7)
    };
    let mut words = s.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        // Words are eight bytes; the fallback (no wildcard) is unreachable.
        let v = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        let mut mask = equal(v, b'+') | equal(v, b'#');
        while mask != 0 {
            let i = base + (mask.trailing_zeros() / 8) as usize;
            if pred(i) {
                return Some(i);
            }
            mask &= mask - 1;
        }
        base += 8;
    }
    words
        .remainder()
        .iter()
        .zip(base..)
        .find(|&(&b, i)| (b == b'+' || b == b'#') && pred(i))
        .map(|(_, i)| i)
}

/// Whether `topic` holds a NUL, `+` or `#` byte, and whether it holds a non-ASCII byte: one pass,
/// eight bytes at a time (a topic is scanned on every PUBLISH received, and every string: UTF-8 validation only runs
/// when there is a non-ASCII byte). A topic of eight bytes
/// or more ends with an overlapping word instead of a byte loop.
#[inline]
pub(crate) fn scan_topic(topic: &[u8]) -> (bool, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Non-zero exactly when some byte of `v` is zero.
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut special = 0u64;
    let mut high = 0u64;
    let mut scan_word = |word: &[u8]| {
        // Words are eight bytes; the fallback (flagging a NUL) is unreachable.
        let v = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        special |= zero_byte(v)
            | zero_byte(v ^ (ONES * u64::from(b'+')))
            | zero_byte(v ^ (ONES * u64::from(b'#')));
        high |= v & HIGH;
    };
    let mut words = topic.chunks_exact(8);
    for word in &mut words {
        scan_word(word);
    }
    let tail = words.remainder();
    let mut tail_special = false;
    let mut tail_high = false;
    match topic.len().checked_sub(8) {
        Some(last) if !tail.is_empty() => scan_word(topic.get(last..).unwrap_or_default()),
        _ => {
            for &b in tail {
                tail_special |= b == 0 || b == b'+' || b == b'#';
                tail_high |= b & 0x80 != 0;
            }
        }
    }
    (special != 0 || tail_special, high != 0 || tail_high)
}

impl TryFrom<&str> for MqttStr {
    type Error = StringError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        MqttStr::from_bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl TryFrom<String> for MqttStr {
    type Error = StringError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        MqttStr::from_bytes(Bytes::from(s))
    }
}

impl Deref for MqttStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for MqttStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for MqttStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for MqttStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for MqttStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for MqttStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_null_and_bad_utf8() {
        // v5 [MQTT-1.5.4-2], v3.1.1 [MQTT-1.5.3-2]
        assert_eq!(MqttStr::try_from("a\0b"), Err(StringError::ContainsNull));
        // v5 [MQTT-1.5.4-1], v3.1.1 [MQTT-1.5.3-1]: surrogate halves are not well-formed.
        assert_eq!(
            MqttStr::from_bytes(Bytes::from_static(&[0xED, 0xA0, 0x80])),
            Err(StringError::InvalidUtf8)
        );
        let long = "x".repeat(MAX_STRING_LEN + 1);
        assert_eq!(MqttStr::try_from(long.as_str()), Err(StringError::TooLong));
    }

    #[test]
    fn keeps_bom_and_dereferences() {
        // v5 [MQTT-1.5.4-3], v3.1.1 [MQTT-1.5.3-3]: a leading BOM is kept, not stripped.
        let s = MqttStr::try_from("\u{FEFF}abc").unwrap();
        assert_eq!(s.as_bytes().len(), 6);
        assert!(s.starts_with('\u{FEFF}'));
        assert_eq!(s, "\u{FEFF}abc");
    }
}
