//! Owns the fleet link's health as the rest of the sidecar sees it: up or
//! degraded, whether the first synchronisation happened, the last error, and the
//! counts `/metrics` exports. Written by the link's tasks, read by anyone.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use palisade_models::FleetLinkStatus;

/// Shared health of the link.
#[derive(Debug, Default)]
pub struct FleetStatus {
    up: AtomicBool,
    /// A failure was logged since the link was last up (so a retry loop logs once).
    down_logged: AtomicBool,
    joined: AtomicBool,
    reconnects: AtomicU64,
    blocks_sent: AtomicU64,
    blocks_received: AtomicU64,
    lifts_sent: AtomicU64,
    lifts_received: AtomicU64,
    resyncs: AtomicU64,
    last_error: Mutex<Option<String>>,
    joined_now: tokio::sync::Notify,
}

/// The counters that `FleetStatus::count` bumps.
#[derive(Debug, Clone, Copy)]
pub enum Counter {
    BlocksSent,
    BlocksReceived,
    LiftsSent,
    LiftsReceived,
}

impl FleetStatus {
    /// True while Redis answers.
    pub fn up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// True once this sidecar synchronised with the fleet at least once.
    pub fn joined(&self) -> bool {
        self.joined.load(Ordering::Acquire)
    }

    /// A copy for the admin API and `/metrics`.
    pub fn snapshot(&self, service: &str, instance: &str) -> FleetLinkStatus {
        FleetLinkStatus {
            enabled: true,
            service: service.into(),
            instance: instance.into(),
            up: self.up(),
            joined: self.joined(),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            blocks_sent: self.blocks_sent.load(Ordering::Relaxed),
            blocks_received: self.blocks_received.load(Ordering::Relaxed),
            lifts_sent: self.lifts_sent.load(Ordering::Relaxed),
            lifts_received: self.lifts_received.load(Ordering::Relaxed),
            resyncs: self.resyncs.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }

    /// Returns once this sidecar has synchronised with the fleet.
    pub async fn wait_joined(&self) {
        let notified = self.joined_now.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.joined() {
            return;
        }
        notified.await;
    }

    pub(crate) fn synced(&self) {
        self.resyncs.fetch_add(1, Ordering::Relaxed);
        if !self.joined.swap(true, Ordering::AcqRel) {
            self.joined_now.notify_waiters();
        }
        self.down_logged.store(false, Ordering::Release);
        if !self.up.swap(true, Ordering::AcqRel) {
            tracing::info!("fleet sync is up: blocks are shared with the other sidecars");
        }
    }

    /// Marks the link down; logs when it goes down, not on every retry.
    pub(crate) fn failed(&self, error: &str) {
        let was_up = self.up.swap(false, Ordering::AcqRel);
        if was_up {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        if !self.down_logged.swap(true, Ordering::AcqRel) {
            tracing::error!(
                error,
                "fleet sync degraded: Redis cannot be reached; local blocks and limits are \
                 still enforced, and the fleet is reconciled when Redis is back"
            );
        }
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error.to_string());
    }

    pub(crate) fn count(&self, c: Counter) {
        let n = match c {
            Counter::BlocksSent => &self.blocks_sent,
            Counter::BlocksReceived => &self.blocks_received,
            Counter::LiftsSent => &self.lifts_sent,
            Counter::LiftsReceived => &self.lifts_received,
        };
        n.fetch_add(1, Ordering::Relaxed);
    }
}
