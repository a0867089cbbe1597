//! Owns the tee: the bounded, lock-free ring that carries `RequestEvent`s from the
//! proxy workers to the analytics worker.
//!
//! Must never make the proxy wait: when the ring is full the newest event is dropped
//! and counted (the operator sees the count and can raise `tee.capacity`).

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;

use crate::event::RequestEvent;

/// The ring between proxy and analytics.
#[derive(Debug)]
pub struct Tee {
    // ArrayQueue: bounded, lock-free MPMC; `push` fails instead of blocking when full.
    ring: ArrayQueue<RequestEvent>,
    // Relaxed atomic: only ever summed for reporting.
    dropped: AtomicU64,
}

impl Tee {
    /// A ring that holds at most `capacity` events (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: ArrayQueue::new(capacity.max(1)),
            dropped: AtomicU64::new(0),
        }
    }

    /// Offers an event without waiting; returns false (and counts a drop) when full.
    pub fn push(&self, event: RequestEvent) -> bool {
        match self.ring.push(event) {
            Ok(()) => true,
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
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
}
