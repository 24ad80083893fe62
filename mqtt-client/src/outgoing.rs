//! The driver's output: bytes waiting to be written, in order.

use bytes::{Buf, Bytes, BytesMut};
use starling_session::ClientSession;
use std::{
    collections::VecDeque,
    io::{self, IoSlice},
};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// At most this many pieces per vectored write.
const MAX_SLICES: usize = 64;

/// What the session encoded and the transport has not taken yet. Small packets are copied
/// together into one buffer; a large PUBLISH payload stays shared with the caller's message
/// (the session attaches it instead of copying it) and goes out by a vectored write.
#[derive(Default)]
pub(crate) struct Outgoing {
    /// Written first, in order: large payloads and the bytes before them.
    chunks: VecDeque<Bytes>,
    /// Written after `chunks`.
    tail: BytesMut,
}

impl Outgoing {
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.tail.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.tail.clear();
    }

    /// Takes everything `session` has encoded; returns how many bytes that added.
    pub(crate) fn take_from(&mut self, session: &mut ClientSession) -> usize {
        if session.has_attached_payloads() {
            if !self.tail.is_empty() {
                self.chunks.push_back(self.tail.split().freeze());
            }
            let start = self.chunks.len();
            session.transmit_chunks(&mut self.chunks);
            self.chunks.range(start..).map(Bytes::len).sum()
        } else if let Some(bytes) = session.poll_transmit() {
            self.tail.extend_from_slice(&bytes);
            bytes.len()
        } else {
            0
        }
    }

    /// One write of the transport (vectored when there are chunks); the bytes it took, which
    /// the caller then [`advance`](Self::advance)s past.
    pub(crate) async fn write_some<W: AsyncWrite + Unpin>(&self, wr: &mut W) -> io::Result<usize> {
        if self.chunks.is_empty() {
            return wr.write(&self.tail).await;
        }
        let mut slices: Vec<IoSlice<'_>> = self
            .chunks
            .iter()
            .take(MAX_SLICES)
            .map(|c| IoSlice::new(c))
            .collect();
        if slices.len() < MAX_SLICES && !self.tail.is_empty() {
            slices.push(IoSlice::new(&self.tail));
        }
        wr.write_vectored(&slices).await
    }

    /// Drops the first `n` bytes (written).
    pub(crate) fn advance(&mut self, mut n: usize) {
        while let Some(front) = self.chunks.front_mut() {
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.chunks.pop_front();
        }
        self.tail.advance(n.min(self.tail.len()));
    }

    /// Writes everything.
    pub(crate) async fn write_all<W: AsyncWrite + Unpin>(&mut self, wr: &mut W) -> io::Result<()> {
        while !self.is_empty() {
            match self.write_some(wr).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => self.advance(n),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Outgoing;
    use bytes::Bytes;

    /// A writer that takes at most `max` bytes per call, vectored or not.
    struct Short {
        written: Vec<u8>,
        max: usize,
    }

    impl tokio::io::AsyncWrite for Short {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.max);
            self.written.extend_from_slice(&buf[..n]);
            std::task::Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let mut left = self.max;
            for b in bufs {
                let n = b.len().min(left);
                self.written.extend_from_slice(&b[..n]);
                left -= n;
            }
            std::task::Poll::Ready(Ok(self.max - left))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn chunks_then_tail_in_order_through_short_writes() {
        let mut expected = Vec::new();
        for max in [1, 3, 7, 100, 10_000] {
            let mut out = Outgoing::default();
            expected.clear();
            // Three chunks then a tail, more chunks than one vectored write takes.
            for i in 0..70u8 {
                let chunk = Bytes::from(vec![i; usize::from(i % 5) + 1]);
                expected.extend_from_slice(&chunk);
                out.chunks.push_back(chunk);
            }
            out.tail.extend_from_slice(b"tail");
            expected.extend_from_slice(b"tail");
            let mut w = Short {
                written: Vec::new(),
                max,
            };
            out.write_all(&mut w).await.unwrap();
            assert!(out.is_empty());
            assert_eq!(w.written, expected, "max {max}");
        }
    }
}
