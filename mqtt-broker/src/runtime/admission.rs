//! Admission of new connections: the connection limit and the connection rate limit.
//!
//! A connection over either limit is not just dropped: a short-lived task (at most
//! [`MAX_REFUSING`] at once, so a flood cannot grow them) reads its CONNECT and answers CONNACK
//! 0x97 *Quota exceeded* (limit) or 0x9F *Connection rate exceeded* (rate) in MQTT 5, 0x03
//! *Server unavailable* in 3.x, then closes. Beyond that, sockets are closed at once.

use super::Shared;
use bytes::BytesMut;
use starling_codec::{ConnAck, Decoder, Packet, ReasonCode};
use std::{
    sync::{atomic::Ordering, Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    sync::OwnedSemaphorePermit,
};

/// Most connections being refused at once.
pub(crate) const MAX_REFUSING: usize = 64;
/// Largest CONNECT read from a refused connection.
const REFUSE_MAX_PACKET: u32 = 64 << 10;
/// Longest a refused connection is kept.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The decision for a new connection.
pub(crate) enum Admission {
    /// Serve it; the permit counts it against the connection limit.
    Admit(OwnedSemaphorePermit),
    /// Answer its CONNECT with this (v5) reason code and close.
    Refuse(ReasonCode, OwnedSemaphorePermit),
}

/// A token bucket: `rate` connections per second, bursts up to `rate`.
#[derive(Debug)]
pub(crate) struct RateLimit {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    pub(crate) fn new(per_second: u32) -> RateLimit {
        let rate = f64::from(per_second.max(1));
        RateLimit {
            rate,
            state: Mutex::new((rate, Instant::now())),
        }
    }

    /// Takes a token if one is available at `now`.
    pub(crate) fn allow(&self, now: Instant) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = &mut *s;
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.rate).min(self.rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Decides; `None` means close at once (too many refusals already in progress).
pub(crate) fn admit(shared: &Arc<Shared>) -> Option<Admission> {
    let refusal = |code| {
        shared
            .metrics
            .connections_refused
            .fetch_add(1, Ordering::Relaxed);
        match shared.refusing.clone().try_acquire_owned() {
            Ok(p) => Some(Admission::Refuse(code, p)),
            Err(_) => {
                tracing::debug!("refusing too many connections; closing at once");
                None
            }
        }
    };
    if let Some(rate) = &shared.rate_limit {
        if !rate.allow(Instant::now()) {
            tracing::debug!("connection rate limit reached");
            return refusal(ReasonCode::ConnectionRateExceeded);
        }
    }
    match shared.permits.clone().try_acquire_owned() {
        Ok(p) => Some(Admission::Admit(p)),
        Err(_) => {
            tracing::warn!("connection limit reached; refusing a new connection");
            refusal(ReasonCode::QuotaExceeded)
        }
    }
}

/// Reads the CONNECT of a refused connection and answers CONNACK with `code` (v5) or 0x03
/// Server unavailable (3.x), then closes.
pub(crate) async fn refuse<IO>(mut io: IO, code: ReasonCode, _permit: OwnedSemaphorePermit)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut decoder = Decoder::server(REFUSE_MAX_PACKET);
    let mut buf = BytesMut::with_capacity(512);
    let _ = tokio::time::timeout(REFUSE_TIMEOUT, async {
        let version = loop {
            match decoder.decode(&mut buf) {
                Ok(Some(Packet::Connect(c))) => break c.protocol,
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => return,
            }
            match io.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let code = if version.is_v5() {
            code
        } else {
            ReasonCode::ServerUnavailable
        };
        let mut out = BytesMut::new();
        if Packet::ConnAck(Box::new(ConnAck::new(code)))
            .encode(version, &mut out)
            .is_ok()
        {
            let _ = io.write_all(&out).await;
            let _ = io.shutdown().await;
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_refills_at_its_rate() {
        let r = RateLimit::new(2);
        let t0 = Instant::now();
        assert!(r.allow(t0));
        assert!(r.allow(t0));
        assert!(!r.allow(t0));
        assert!(r.allow(t0 + Duration::from_millis(500)));
        assert!(!r.allow(t0 + Duration::from_millis(600)));
        // Bursts never exceed the rate.
        let later = t0 + Duration::from_secs(60);
        assert!(r.allow(later) && r.allow(later) && !r.allow(later));
    }
}
