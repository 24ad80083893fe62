//! Output with large payloads attached instead of copied: both sessions write a PUBLISH's
//! header into their output buffer and, from [`ZERO_COPY_MIN_PAYLOAD`] bytes on, keep its
//! payload aside (shared with the message) with the offset it goes at.

use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Payloads at least this long are not copied into a session's output buffer: they are handed
/// out shared with the message, after the PUBLISH header that precedes them, for a vectored
/// write ([`ServerSession::transmit_chunks`](crate::ServerSession::transmit_chunks),
/// [`ClientSession::transmit_chunks`](crate::ClientSession::transmit_chunks)). Below it,
/// copying costs less than the extra chunk (a reference count update, an I/O vector entry).
pub const ZERO_COPY_MIN_PAYLOAD: usize = 4096;

/// Payloads not copied into the output: each goes after the first `.0` bytes of it (offsets
/// in order).
pub(crate) type Attached = Vec<(usize, Bytes)>;

/// Sends a PUBLISH's payload right after its header, already in `transmit`: copied when small,
/// attached uncopied (`shared()`) from [`ZERO_COPY_MIN_PAYLOAD`] bytes on. `attached` is only
/// called then (the server keeps the list in a lazily made box).
pub(crate) fn put_payload<'a>(
    transmit: &mut BytesMut,
    payload: &[u8],
    shared: impl FnOnce() -> Bytes,
    attached: impl FnOnce() -> &'a mut Attached,
) {
    if payload.len() < ZERO_COPY_MIN_PAYLOAD {
        transmit.extend_from_slice(payload);
    } else {
        attached().push((transmit.len(), shared()));
    }
}

/// Copies the attached payloads into `transmit` where they go, for callers that take the
/// output as one buffer.
pub(crate) fn splice(transmit: &mut BytesMut, attached: &mut Attached) {
    if attached.is_empty() {
        return;
    }
    let extra: usize = attached.iter().map(|(_, p)| p.len()).sum();
    let mut out = BytesMut::with_capacity(transmit.len() + extra);
    let mut from = 0;
    for (at, payload) in attached.drain(..) {
        out.extend_from_slice(transmit.get(from..at).unwrap_or_default());
        out.extend_from_slice(&payload);
        from = at;
    }
    out.extend_from_slice(transmit.get(from..).unwrap_or_default());
    *transmit = out;
}

/// Takes the output as chunks to write in order: the encoded bytes, split where an attached
/// payload goes, and those payloads themselves. Appends to `out`.
pub(crate) fn take_chunks(
    transmit: &mut BytesMut,
    attached: &mut Attached,
    out: &mut VecDeque<Bytes>,
) {
    let mut taken = 0;
    for (at, payload) in attached.drain(..) {
        if at > taken {
            out.push_back(transmit.split_to(at - taken).freeze());
            taken = at;
        }
        out.push_back(payload);
    }
    if !transmit.is_empty() {
        out.push_back(transmit.split().freeze());
    }
}
