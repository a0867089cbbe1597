//! Owns the proxy's own counters: connections, denials by reason, protocol-level
//! rejections. Per-request totals are counted by analytics from the tee, so the
//! request path bumps a shared counter only when something is refused.
//! Client identifiers never appear here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use palisade_models::DenyCode;

/// Counters shared by all workers. Relaxed atomics: read only for reporting.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Client connections currently open.
    pub connections_open: AtomicU64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Connections closed at once because `max_connections` were open.
    pub connections_rejected: AtomicU64,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures: AtomicU64,
    /// Connections cut because a response write made no progress for
    /// `proxy.timeouts.send` (a client not reading).
    pub send_timeouts: AtomicU64,
    /// Requests admitted and not yet answered to their end (`max_in_flight`).
    pub requests_in_flight: AtomicU64,
    denied: [AtomicU64; DenyCode::ALL.len()],
}

impl ProxyStats {
    /// Takes a connection slot, or None when `max` connections are open.
    pub(crate) fn open_connection(self: &Arc<Self>, max: usize) -> Option<ConnSlot> {
        let open = self.connections_open.fetch_add(1, Ordering::AcqRel);
        if open >= max as u64 {
            self.connections_open.fetch_sub(1, Ordering::AcqRel);
            self.connections_rejected.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        Some(ConnSlot(self.clone()))
    }

    /// Admits one request, or None when `max` are in flight (0: no cap). One
    /// atomic add on the hot path, no lock: over the cap, the add is undone, so
    /// a burst can refuse a few more than strictly needed, never admit more.
    pub(crate) fn admit_request(self: &Arc<Self>, max: usize) -> Option<InFlight> {
        // Relaxed: the count guards no other memory, it only has to be exact.
        let before = self.requests_in_flight.fetch_add(1, Ordering::Relaxed);
        if max != 0 && before >= max as u64 {
            self.requests_in_flight.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(InFlight(self.clone()))
    }

    pub(crate) fn count_tls_failure(&self) {
        self.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_send_timeout(&self) {
        self.send_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one denial.
    pub fn count_denial(&self, code: DenyCode) {
        self.denied[index(code)].fetch_add(1, Ordering::Relaxed);
    }

    /// Denials for `code` since start.
    pub fn denied(&self, code: DenyCode) -> u64 {
        self.denied[index(code)].load(Ordering::Relaxed)
    }
}

/// One open connection; frees its slot when dropped.
#[derive(Debug)]
pub(crate) struct ConnSlot(Arc<ProxyStats>);

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One admitted request; leaves the in-flight count when dropped (with the
/// exchange's recorder, at the end of the response body or when the client goes).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<ProxyStats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.requests_in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Lets a repetitive warning through at most once a second.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    last_sec: AtomicU64,
}

impl Throttle {
    pub(crate) fn allow(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.last_sec.swap(now, Ordering::Relaxed) != now
    }
}

fn index(code: DenyCode) -> usize {
    code as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_codes_list_every_code_in_declaration_order() {
        for (i, code) in DenyCode::ALL.iter().enumerate() {
            assert_eq!(*code as usize, i, "{code}");
        }
        let stats = ProxyStats::default();
        stats.count_denial(DenyCode::UpstreamTimeout);
        assert_eq!(stats.denied(DenyCode::UpstreamTimeout), 1);
        assert_eq!(stats.denied(DenyCode::BadRequest), 0);
    }

    #[test]
    fn connection_slots_are_capped_and_freed() {
        let stats = Arc::new(ProxyStats::default());
        let a = stats.open_connection(2).unwrap();
        let _b = stats.open_connection(2).unwrap();
        assert!(stats.open_connection(2).is_none());
        assert_eq!(stats.connections_rejected.load(Ordering::Relaxed), 1);
        drop(a);
        assert!(stats.open_connection(2).is_some());
        assert_eq!(stats.connections_open.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn requests_in_flight_are_capped_and_freed() {
        let stats = Arc::new(ProxyStats::default());
        let a = stats.admit_request(2).unwrap();
        let _b = stats.admit_request(2).unwrap();
        assert!(stats.admit_request(2).is_none());
        assert_eq!(stats.requests_in_flight.load(Ordering::Relaxed), 2);
        drop(a);
        assert!(stats.admit_request(2).is_some());
        // 0 is no cap, but the count still shows what is in flight.
        let held: Vec<_> = (0..5).map(|_| stats.admit_request(0).unwrap()).collect();
        assert_eq!(stats.requests_in_flight.load(Ordering::Relaxed), 6);
        drop(held);
        assert_eq!(stats.requests_in_flight.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn throttle_lets_one_through_per_second() {
        let t = Throttle::default();
        assert!(t.allow());
        // Same second (a test run cannot straddle many): the rest are held back.
        let later: Vec<bool> = (0..10).map(|_| t.allow()).collect();
        assert!(later.iter().filter(|a| **a).count() <= 1);
    }
}
