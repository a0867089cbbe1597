//! Owns the live feed behind `GET /api/stream`: findings, blocks and unblocks as
//! they happen, each with an id, and the stats tick. Keeps the most recent events
//! so a client that reconnects with `Last-Event-ID` gets what it missed; when it
//! missed more than that (or the id is from before a restart), it is told to
//! reload (`reset`).
//!
//! Ids are `<boot>-<seq>`: `boot` is the start time in ms, so an id from another
//! run never resumes into this one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use tokio::sync::broadcast;

use palisade_models::{Block, Finding};

/// Events kept for resuming.
pub const BACKLOG: usize = 1024;
/// Events a slow subscriber may fall behind before it is told to reset.
const CHANNEL: usize = 4096;

/// One event of the feed, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    /// None for stats ticks: they are not replayed.
    pub id: Option<String>,
    pub event: &'static str,
    /// JSON.
    pub data: String,
}

/// An unblock as the feed tells it.
#[derive(Debug, Serialize)]
struct Unblock<'a> {
    block: &'a Block,
    actor: &'a str,
    reason: &'a str,
    expired: bool,
}

/// The feed.
#[derive(Debug)]
pub struct Feed {
    boot: u64,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<FeedEvent>>,
}

#[derive(Debug, Default)]
struct Inner {
    seq: u64,
    recent: VecDeque<(u64, Arc<FeedEvent>)>,
}

/// Where a subscriber starts: missed events first, then live ones.
#[derive(Debug)]
pub struct Subscription {
    /// Events to send before the live ones; starts with a `reset` when the
    /// requested id could not be resumed.
    pub backlog: Vec<Arc<FeedEvent>>,
    pub live: broadcast::Receiver<Arc<FeedEvent>>,
}

impl Feed {
    /// A feed for a process that started at `boot_ms`.
    pub fn new(boot_ms: u64) -> Self {
        Self {
            boot: boot_ms,
            inner: Mutex::default(),
            tx: broadcast::channel(CHANNEL).0,
        }
    }

    pub fn finding(&self, f: &Finding) {
        self.publish("finding", json(f));
    }

    pub fn block(&self, b: &Block) {
        self.publish("block", json(b));
    }

    pub fn unblock(&self, block: &Block, actor: &str, reason: &str, expired: bool) {
        self.publish(
            "unblock",
            json(&Unblock {
                block,
                actor,
                reason,
                expired,
            }),
        );
    }

    /// A stats tick: sent to subscribers now, never replayed.
    pub fn tick(&self, data: String) {
        let _ = self.tx.send(Arc::new(FeedEvent {
            id: None,
            event: "stats",
            data,
        }));
    }

    fn publish(&self, event: &'static str, data: String) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.seq += 1;
        let seq = inner.seq;
        let ev = Arc::new(FeedEvent {
            id: Some(format!("{}-{seq}", self.boot)),
            event,
            data,
        });
        if inner.recent.len() == BACKLOG {
            inner.recent.pop_front();
        }
        inner.recent.push_back((seq, ev.clone()));
        // Sent under the lock, so a subscriber (which subscribes under it too)
        // sees every event exactly once: in its backlog or live.
        let _ = self.tx.send(ev);
    }

    /// Subscribes, resuming after `last_id` (a `Last-Event-ID`) if given.
    pub fn subscribe(&self, last_id: Option<&str>) -> Subscription {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let live = self.tx.subscribe();
        let Some(last) = last_id else {
            return Subscription {
                backlog: Vec::new(),
                live,
            };
        };
        let resumable = last
            .split_once('-')
            .filter(|(boot, _)| boot.parse::<u64>().ok() == Some(self.boot))
            .and_then(|(_, seq)| seq.parse::<u64>().ok())
            .filter(|seq| {
                // Everything after `seq` must still be kept.
                let oldest = inner.recent.front().map_or(inner.seq + 1, |(s, _)| *s);
                *seq <= inner.seq && *seq + 1 >= oldest
            });
        let backlog = match resumable {
            Some(seq) => inner
                .recent
                .iter()
                .filter(|(s, _)| *s > seq)
                .map(|(_, e)| e.clone())
                .collect(),
            None => vec![reset()],
        };
        Subscription { backlog, live }
    }
}

/// Tells a subscriber to reload: it missed events the feed no longer has.
pub fn reset() -> Arc<FeedEvent> {
    Arc::new(FeedEvent {
        id: None,
        event: "reset",
        data: "{}".into(),
    })
}

fn json<T: Serialize>(v: &T) -> String {
    // Findings and blocks are plain data: serialising them cannot fail.
    serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_models::{BlockOrigin, BlockScope};

    fn block(id: u64) -> Block {
        Block {
            id,
            scope: BlockScope::Ip("10.0.0.1".parse().expect("ip")),
            reason: "r".into(),
            origin: BlockOrigin::Manual,
            created_ms: 1,
            expires_ms: None,
            finding: None,
        }
    }

    #[test]
    fn resumes_after_the_last_id_and_resets_when_it_cannot() {
        let feed = Feed::new(7);
        for i in 1..=3 {
            feed.block(&block(i));
        }
        let sub = feed.subscribe(Some("7-1"));
        let ids: Vec<_> = sub
            .backlog
            .iter()
            .map(|e| e.id.clone().expect("id"))
            .collect();
        assert_eq!(ids, ["7-2", "7-3"]);
        assert!(feed.subscribe(Some("7-3")).backlog.is_empty(), "up to date");
        for bad in ["6-1", "7-9", "nonsense", "7-x"] {
            let b = feed.subscribe(Some(bad)).backlog;
            assert_eq!(b.len(), 1, "{bad}");
            assert_eq!(b[0].event, "reset", "{bad}");
        }
        for i in 4..(BACKLOG as u64 + 10) {
            feed.block(&block(i));
        }
        assert_eq!(
            feed.subscribe(Some("7-1")).backlog[0].event,
            "reset",
            "fell out"
        );
    }

    #[tokio::test]
    async fn live_events_follow_the_backlog_without_gaps() {
        let feed = Feed::new(1);
        feed.block(&block(1));
        let mut sub = feed.subscribe(Some("1-0"));
        feed.unblock(&block(1), "admin", "done", false);
        assert_eq!(sub.backlog.len(), 1);
        let ev = sub.live.recv().await.expect("live");
        assert_eq!(ev.event, "unblock");
        assert_eq!(ev.id.as_deref(), Some("1-2"));
        assert!(ev.data.contains("\"actor\":\"admin\""));
    }
}
