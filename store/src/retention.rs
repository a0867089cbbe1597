//! Owns retention: the bounds on how much the store keeps, which are what bound its
//! disk use. Findings go by age and by count, audit records by count; blocks need no
//! bound here, since removed and swept blocks are deleted at once.
//!
//! Must not compact the file: redb reuses freed pages, so the file stops growing
//! once retention holds it steady. Must not read the clock.

use redb::{ReadableTableMetadata, Table};

use crate::Store;
use crate::error::{Context, StoreError};
use crate::schema::{AUDIT, FINDINGS};

/// How much the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Findings made longer ago than this (by id time), in milliseconds, are
    /// deleted; `u64::MAX` keeps them whatever their age.
    pub max_age_ms: u64,
    /// The most findings kept; the oldest go first.
    pub max_findings: u64,
    /// The most audit records kept; the oldest go first.
    pub max_audit: u64,
}

impl Store {
    /// Deletes what `r` no longer allows at `now_ms`, in one transaction, and returns
    /// how many records went. Commits (and fsyncs) only when something was deleted.
    pub fn apply_retention(&self, now_ms: u64, r: &Retention) -> Result<usize, StoreError> {
        const WHAT: &str = "applying retention";
        let txn = self.begin_write(WHAT)?;
        let deleted = {
            let mut findings = txn.open_table(FINDINGS).context(WHAT)?;
            let before = findings.len().context(WHAT)?;
            // Ids made before the cutoff time sort below this key.
            let cutoff_ms = now_ms.saturating_sub(r.max_age_ms).min(0xFFFF_FFFF_FFFF);
            let cutoff = u128::from(cutoff_ms) << 80;
            findings.retain_in(..cutoff, |_, _| false).context(WHAT)?;
            trim_oldest(&mut findings, r.max_findings)?;
            let after = findings.len().context(WHAT)?;

            let mut audit = txn.open_table(AUDIT).context(WHAT)?;
            let audit_before = audit.len().context(WHAT)?;
            trim_oldest(&mut audit, r.max_audit)?;
            let audit_after = audit.len().context(WHAT)?;

            (before - after) + (audit_before - audit_after)
        };
        if deleted == 0 {
            self.abort(txn, WHAT)?;
        } else {
            self.commit(txn, WHAT)?;
            self.freed();
        }
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }
}

/// Deletes the first (oldest) entries until at most `max` remain.
fn trim_oldest<K: redb::Key + 'static>(
    table: &mut Table<'_, K, &'static [u8]>,
    max: u64,
) -> Result<(), StoreError> {
    const WHAT: &str = "trimming to the retention bound";
    while table.len().context(WHAT)? > max {
        if table.pop_first().context(WHAT)?.is_none() {
            break;
        }
    }
    Ok(())
}
