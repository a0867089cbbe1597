//! Owns the tee: the bounded, lock-free ring that carries `RequestEvent`s from the
//! proxy workers to the analytics worker.
//!
//! Must never make the proxy wait: when the ring is full the newest event is dropped
//! and counted (the operator sees the count and can raise `tee.capacity`).
//!
//! An idle consumer sleeps in `park_empty` until the next push rings its doorbell
//! (one `unpark` per quiet spell), instead of waking every few milliseconds to
//! look: an idle sidecar costs no CPU, and a burst after a quiet spell is drained
//! at once, whatever the ring's size.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Mutex, PoisonError};
use std::thread::{self, Thread};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use crate::event::RequestEvent;

/// The ring between proxy and analytics.
#[derive(Debug)]
pub struct Tee {
    // ArrayQueue: bounded, lock-free MPMC; `push` fails instead of blocking when full.
    ring: ArrayQueue<RequestEvent>,
    // Relaxed atomic: only ever summed for reporting.
    dropped: AtomicU64,
    /// The consumer is in `park_empty`, waiting for a push to wake it.
    sleeping: AtomicBool,
    /// The thread `park_empty` parked (locked only by the consumer going to sleep
    /// and by the one push that wakes it).
    sleeper: Mutex<Option<Thread>>,
    // Relaxed atomic: only ever read for reporting and tests.
    doorbells: AtomicU64,
}

impl Tee {
    /// A ring that holds at most `capacity` events (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: ArrayQueue::new(capacity.max(1)),
            dropped: AtomicU64::new(0),
            sleeping: AtomicBool::new(false),
            sleeper: Mutex::new(None),
            doorbells: AtomicU64::new(0),
        }
    }

    /// Offers an event without waiting; returns false (and counts a drop) when full.
    /// Wakes the consumer when it sleeps in `park_empty`.
    pub fn push(&self, event: RequestEvent) -> bool {
        match self.ring.push(event) {
            Ok(()) => {
                // Pairs with the fence in `park_empty`: either the consumer's
                // look at the ring sees this event, or this load sees it asleep.
                fence(Ordering::SeqCst);
                if self.sleeping.load(Ordering::Relaxed) {
                    self.wake_consumer();
                }
                true
            }
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    #[cold]
    fn wake_consumer(&self) {
        // Of the pushes that see it asleep, one wakes it.
        if self.sleeping.swap(false, Ordering::AcqRel) {
            self.doorbells.fetch_add(1, Ordering::Relaxed);
            if let Some(t) = &*self.lock_sleeper() {
                t.unpark();
            }
        }
    }

    /// For the consumer: parks the calling thread until an event is pushed, it is
    /// unparked, or `timeout` passes. Returns at once when the ring is not empty.
    pub fn park_empty(&self, timeout: Duration) {
        *self.lock_sleeper() = Some(thread::current());
        self.sleeping.store(true, Ordering::Relaxed);
        // Pairs with the fence in `push` (see there).
        fence(Ordering::SeqCst);
        if self.ring.is_empty() {
            thread::park_timeout(timeout);
        }
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// Times a push woke the consumer out of `park_empty`, since start.
    pub fn doorbells(&self) -> u64 {
        self.doorbells.load(Ordering::Relaxed)
    }

    fn lock_sleeper(&self) -> std::sync::MutexGuard<'_, Option<Thread>> {
        // A thread handle is whole whatever a panicking holder did.
        self.sleeper.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves up to `max` events into `out`; returns how many were moved.
    pub fn drain_into(&self, out: &mut Vec<RequestEvent>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            match self.ring.pop() {
                Some(ev) => {
                    out.push(ev);
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    /// Events dropped because the ring was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Events waiting in the ring.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> RequestEvent {
        RequestEvent {
            ts_unix_us: n,
            ..RequestEvent::example()
        }
    }

    #[test]
    fn full_ring_drops_newest_and_counts() {
        let tee = Tee::new(2);
        assert!(tee.push(event(1)));
        assert!(tee.push(event(2)));
        assert!(!tee.push(event(3)));
        assert_eq!(tee.dropped(), 1);
        let mut out = Vec::new();
        assert_eq!(tee.drain_into(&mut out, 10), 2);
        assert_eq!(
            out.iter().map(|e| e.ts_unix_us).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(tee.is_empty());
        assert!(tee.push(event(4)));
    }

    #[test]
    fn a_push_wakes_a_consumer_parked_on_an_empty_ring() {
        let tee = std::sync::Arc::new(Tee::new(4));
        // Not asleep: pushing rings nothing.
        assert!(tee.push(event(1)));
        assert_eq!(tee.doorbells(), 0);
        // A ring with an event in it is not slept on (an hour otherwise).
        tee.park_empty(Duration::from_secs(3600));
        assert!(!tee.sleeping.load(Ordering::SeqCst));
        let mut out = Vec::new();
        tee.drain_into(&mut out, 4);

        let consumer = {
            let tee = tee.clone();
            thread::spawn(move || {
                let mut out = Vec::new();
                // An hour: only the doorbell can end this wait within the test.
                while tee.drain_into(&mut out, 4) == 0 {
                    tee.park_empty(Duration::from_secs(3600));
                }
                out.len()
            })
        };
        // Push once the consumer is asleep, so that the wake is the doorbell's.
        while !tee.sleeping.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        assert!(tee.push(event(2)));
        assert_eq!(consumer.join().unwrap(), 1);
        assert_eq!(tee.doorbells(), 1);
        assert!(!tee.sleeping.load(Ordering::SeqCst));
    }
}
