//! Owns fleet-wide detection counters in Redis: per counter window, one
//! HyperLogLog per principal and endpoint for the distinct object ids it touched
//! (all, refused, owned by others), and per address and login endpoint one for
//! the usernames that failed plus counters of failures and successes. An
//! exchange adds what one sidecar saw and reads back what the fleet saw over the
//! current and the previous window, in one pipelined round trip; it also settles
//! claims, so a finding the fleet's counts reveal is reported by one sidecar.
//!
//! Runs on the control runtime, never on the request path; a failed exchange
//! loses one interval's observations for the fleet view only (each sidecar's own
//! detectors are unaffected).

use std::time::{Duration, SystemTime};

use redis::Value;

use palisade_models::tally::{LoginCounts, ObjectCounts, TallyBatch, TallyCounts};

use crate::{Fleet, FleetError};

impl Fleet {
    /// Adds `batch` to the fleet's counters of the window `now` falls in (windows
    /// of `window`, aligned on the Unix epoch so every sidecar agrees on them)
    /// and returns the fleet's counts over this window and the previous one.
    pub async fn exchange(
        &self,
        batch: &TallyBatch,
        window: Duration,
        now: SystemTime,
    ) -> Result<TallyCounts, FleetError> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let now_ms = palisade_models::unix_ms(now);
        let cur = now_ms / window_ms;
        let prev = cur.saturating_sub(1);
        // Kept through the next window, when they are the previous one.
        let ttl = 2 * window_ms + 1000;
        let k = |w: u64, name: &str| self.keys.tally(w, name);
        let mut pipe = redis::pipe();
        for o in &batch.objects {
            for (part, hashes) in [("ids", &o.ids), ("den", &o.denied), ("for", &o.foreign)] {
                let name = format!("obj:{}:{}:{part}", o.principal, o.endpoint);
                if !hashes.is_empty() {
                    pipe.cmd("PFADD").arg(k(cur, &name)).arg(hashes).ignore();
                    pipe.cmd("PEXPIRE").arg(k(cur, &name)).arg(ttl).ignore();
                }
                pipe.cmd("PFCOUNT").arg(k(cur, &name)).arg(k(prev, &name));
            }
        }
        for l in &batch.logins {
            let name = |part: &str| format!("login:{}:{}:{part}", l.ip, l.endpoint);
            let users = name("users");
            if !l.failed_usernames.is_empty() {
                pipe.cmd("PFADD")
                    .arg(k(cur, &users))
                    .arg(&l.failed_usernames)
                    .ignore();
                pipe.cmd("PEXPIRE").arg(k(cur, &users)).arg(ttl).ignore();
            }
            for (part, n) in [("fail", l.failures), ("ok", l.successes)] {
                if n > 0 {
                    pipe.cmd("INCRBY").arg(k(cur, &name(part))).arg(n).ignore();
                    pipe.cmd("PEXPIRE")
                        .arg(k(cur, &name(part)))
                        .arg(ttl)
                        .ignore();
                }
            }
            pipe.cmd("PFCOUNT").arg(k(cur, &users)).arg(k(prev, &users));
            for part in ["fail", "ok"] {
                pipe.cmd("GET").arg(k(cur, &name(part)));
                pipe.cmd("GET").arg(k(prev, &name(part)));
            }
        }
        for c in &batch.claims {
            pipe.cmd("SET")
                .arg(self.keys.claim(&c.key))
                .arg(self.instance.as_ref())
                .arg("NX")
                .arg("PX")
                .arg(c.ttl_ms.max(1));
        }
        let mut conn = self.conn.clone();
        // A pipeline of many commands: more than one command's timeout, bounded.
        let limit = self.settings.command_timeout * 4;
        let values: Vec<Value> = tokio::time::timeout(limit, pipe.query_async(&mut conn))
            .await
            .map_err(|_| FleetError::Timeout(limit))??;
        let mut it = values.into_iter();
        let mut next = || it.next().map_or(0, |v| number(&v));
        let objects = batch
            .objects
            .iter()
            .map(|_| ObjectCounts {
                ids: next(),
                denied: next(),
                foreign: next(),
            })
            .collect();
        let logins = batch
            .logins
            .iter()
            .map(|_| LoginCounts {
                failed_usernames: next(),
                failures: next().saturating_add(next()),
                successes: next().saturating_add(next()),
            })
            .collect();
        let won = batch
            .claims
            .iter()
            .zip(it)
            .filter(|(_, v)| !matches!(v, Value::Nil))
            .map(|(c, _)| c.key.clone())
            .collect();
        Ok(TallyCounts {
            objects,
            logins,
            won,
        })
    }
}

/// A count as Redis answers it (an integer, a number in a string, or nothing).
fn number(v: &Value) -> u32 {
    let n = match v {
        Value::Int(n) => *n,
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    };
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}
