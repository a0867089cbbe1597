//! Owns `ConnState`: what one client connection is doing (waiting for a head,
//! serving, idle), shared between its reader, its requests and its driver. The
//! driver reads it when a timer fires to decide between 408, idle close, or waiting.
//!
//! Must stay cheap: touched on every read and twice per request.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use tokio::time::Sleep;

/// What the connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Receiving a request head (or, on a new connection, waiting for the first).
    Head,
    /// At least one request is being served.
    Busy,
    /// Kept alive between requests.
    Idle,
}

/// Why the framing guard refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// An ambiguous request head: answer 400, then close.
    Ambiguous = 1,
    /// Broken chunked framing: hyper answers the request; then close.
    Close = 2,
    /// Framing the guard will not follow (a chunk or trailer line past its
    /// limit): hyper gets end-of-stream after the bytes before it, so its body
    /// fails (400) at once instead of waiting for more; then close.
    Cut = 3,
}

/// Facts about a connection that every request on it shares.
#[derive(Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// The peer address as a header value, formatted once per connection.
    pub(crate) peer_value: http::HeaderValue,
    /// The peer is one of `proxy.trusted_proxies` (decided once per connection).
    pub(crate) peer_trusted: bool,
    pub tls: bool,
    pub(crate) state: ConnState,
    /// The upstream-response timer, kept between the connection's requests.
    /// Resetting a registered tokio timer to a later deadline only updates it;
    /// a new timer per request was inserted into the runtime's timer wheel
    /// and removed again each time (about 1k instructions a request).
    upstream_timer: Mutex<Option<Pin<Box<Sleep>>>>,
}

/// The live state of one connection.
#[derive(Debug)]
pub(crate) struct ConnState {
    epoch: Instant,
    // Atomics, not a mutex: the h2 requests of one connection run on other tasks.
    phase: AtomicU8,
    /// When `phase` began, in ms since `epoch`.
    since_ms: AtomicU64,
    in_flight: AtomicU32,
    /// 0, or the `Refusal` that ends the connection.
    refused: AtomicU8,
    /// Wakes the driver when the guard refuses, and when the last in-flight
    /// request of a refused connection ends. An AtomicWaker, not a Notify: the
    /// driver re-polls it on every wake of the connection, and registering an
    /// unchanged waker costs next to nothing.
    driver: AtomicWaker,
    poked: AtomicBool,
    /// 0, or 1 + the ms since `epoch` at which a write to the client began to
    /// wait (the socket's send buffer full: the client is not reading).
    write_blocked: AtomicU64,
    /// True for HTTP/1 connections: reads start a head only there.
    h1: bool,
}

impl ConnInfo {
    pub(crate) fn new(peer: SocketAddr, peer_trusted: bool, tls: bool, h1: bool) -> Self {
        Self {
            peer,
            peer_value: crate::headers::ip_value(peer.ip()),
            peer_trusted,
            tls,
            state: ConnState::new(h1),
            upstream_timer: Mutex::new(None),
        }
    }

    /// A timer that fires at `deadline`: the connection's own if free (HTTP/2
    /// requests overlap, and the second takes a new one), reset to it.
    pub(crate) fn upstream_timer(&self, deadline: tokio::time::Instant) -> Pin<Box<Sleep>> {
        let kept = self
            .upstream_timer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match kept {
            Some(mut timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// Keeps a request's upstream timer for the connection's next request.
    pub(crate) fn keep_upstream_timer(&self, timer: Pin<Box<Sleep>>) {
        *self
            .upstream_timer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(timer);
    }
}

impl ConnState {
    fn new(h1: bool) -> Self {
        // A new HTTP/1 connection owes us a head from the start; an HTTP/2 one is
        // idle until it opens a stream.
        let phase = if h1 { Phase::Head } else { Phase::Idle };
        Self {
            epoch: Instant::now(),
            phase: AtomicU8::new(phase as u8),
            since_ms: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            refused: AtomicU8::new(0),
            driver: AtomicWaker::new(),
            poked: AtomicBool::new(false),
            write_blocked: AtomicU64::new(0),
            h1,
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn set(&self, phase: Phase, at: Instant) {
        let since = at.saturating_duration_since(self.epoch).as_millis() as u64;
        self.since_ms.store(since, Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// The current phase and how long it has lasted.
    pub(crate) fn phase(&self) -> (Phase, Duration) {
        let phase = match self.phase.load(Ordering::Acquire) {
            0 => Phase::Head,
            1 => Phase::Busy,
            _ => Phase::Idle,
        };
        let since = self.since_ms.load(Ordering::Relaxed);
        (
            phase,
            Duration::from_millis(self.now_ms().saturating_sub(since)),
        )
    }

    /// Bytes arrived: on an idle HTTP/1 connection they start the next head.
    pub(crate) fn on_read(&self) {
        if self.h1 && self.phase.load(Ordering::Relaxed) == Phase::Idle as u8 {
            self.set(Phase::Head, Instant::now());
        }
    }

    /// A request was dispatched. (Busy needs no start time: it never times out.)
    pub(crate) fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.phase.store(Phase::Busy as u8, Ordering::Release);
    }

    /// A request's response ended (or was abandoned) at `at`.
    pub(crate) fn request_ended(&self, at: Instant) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.set(Phase::Idle, at);
            if self.refused().is_some() {
                self.poke();
            }
        }
    }

    /// A write to the client could not proceed: the stall starts now unless it
    /// already had.
    pub(crate) fn on_write_blocked(&self) {
        if self.write_blocked.load(Ordering::Relaxed) == 0 {
            self.write_blocked
                .store(self.now_ms() + 1, Ordering::Relaxed);
        }
    }

    /// A write to the client made progress.
    pub(crate) fn on_write_progress(&self) {
        if self.write_blocked.load(Ordering::Relaxed) != 0 {
            self.write_blocked.store(0, Ordering::Relaxed);
        }
    }

    /// How long the current write to the client has waited, if one is waiting.
    pub(crate) fn write_stall(&self) -> Option<Duration> {
        match self.write_blocked.load(Ordering::Relaxed) {
            0 => None,
            at => Some(Duration::from_millis(self.now_ms().saturating_sub(at - 1))),
        }
    }

    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// The guard refused the connection.
    pub(crate) fn refuse(&self, why: Refusal) {
        self.refused.store(why as u8, Ordering::Release);
        self.poke();
    }

    fn poke(&self) {
        self.poked.store(true, Ordering::Release);
        self.driver.wake();
    }

    /// Ready once something the driver must look at has happened.
    pub(crate) fn poll_poked(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.driver.register(cx.waker());
        if self.poked.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    pub(crate) fn refused(&self) -> Option<Refusal> {
        match self.refused.load(Ordering::Acquire) {
            0 => None,
            1 => Some(Refusal::Ambiguous),
            2 => Some(Refusal::Close),
            _ => Some(Refusal::Cut),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_upstream_timer_is_reused_and_rearmed() {
        let info = ConnInfo::new(([127, 0, 0, 1], 1).into(), false, false, true);
        let now = tokio::time::Instant::now();
        let mut first = info.upstream_timer(now + Duration::from_secs(1));
        // The paused clock jumps to the deadline.
        first.as_mut().await;
        assert!(first.is_elapsed());
        let kept: *const Sleep = &*first;
        info.keep_upstream_timer(first);

        let later = tokio::time::Instant::now() + Duration::from_secs(60);
        let again = info.upstream_timer(later);
        assert_eq!(
            &*again as *const Sleep, kept,
            "the kept timer, not a new one"
        );
        assert_eq!(again.deadline(), later);
        assert!(!again.is_elapsed(), "rearmed for the new deadline");
        // While one request holds it, another (HTTP/2 streams overlap) gets its own.
        let other = info.upstream_timer(later);
        assert_ne!(&*other as *const Sleep, kept);
    }
}
