//! Owns findings: written in batches, read back newest first, page by page, with
//! filters. Keys are `FindingId`s (UUIDv7), so key order is time order and a page
//! is one reverse range scan.
//!
//! Must not build secondary indexes: filters are applied while scanning, which
//! retention keeps bounded. Must not read the clock.

use std::net::IpAddr;

use palisade_models::{Finding, FindingId, FindingKind, Severity, SiemEvent};
use redb::ReadableTableMetadata;

use crate::Store;
use crate::error::{Context, StoreError};
use crate::outbox::OutboxWriter;
use crate::schema::{FINDINGS, decode, encode};

/// The most findings one page returns.
pub const MAX_PAGE: usize = 1000;

/// The highest time a `FindingId` can hold (48 bits of milliseconds).
const MAX_ID_MS: u64 = 0xFFFF_FFFF_FFFF;

/// Which findings to list; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    pub kind: Option<FindingKind>,
    /// This severity or worse.
    pub min_severity: Option<Severity>,
    /// An IP address, JWT subject or API key id, as text.
    pub client: Option<String>,
    /// `METHOD /template`, exactly.
    pub endpoint: Option<String>,
    /// Made at or after this time (milliseconds since the Unix epoch, by id).
    pub since_ms: Option<u64>,
}

/// Where a page starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// The last id of the previous page; `None` for the newest findings.
    pub after: Option<FindingId>,
    /// Clamped to 1..=`MAX_PAGE`.
    pub limit: usize,
}

/// One page of findings, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingPage {
    pub items: Vec<Finding>,
    /// What to pass as `after` for the next page; `None` when this is the last.
    pub next: Option<FindingId>,
}

impl FindingFilter {
    /// True if `f` passes every set field.
    pub fn matches(&self, f: &Finding) -> bool {
        self.kind.is_none_or(|k| f.kind == k)
            && self.min_severity.is_none_or(|s| f.severity >= s)
            && self.since_ms.is_none_or(|ms| f.id.unix_ms() >= ms)
            && self
                .endpoint
                .as_deref()
                .is_none_or(|e| f.endpoint.as_deref() == Some(e))
            && self.client.as_deref().is_none_or(|c| client_matches(f, c))
    }
}

/// An address is compared as an address, so `::1` and `0:0::1` are one client.
fn client_matches(f: &Finding, client: &str) -> bool {
    let ip = client.parse::<IpAddr>().ok();
    (ip.is_some() && f.client.ip == ip)
        || f.client.subject.as_deref() == Some(client)
        || f.client.api_key_id.as_deref() == Some(client)
}

impl Store {
    /// Stores findings in one transaction, on disk when it returns, and queues them
    /// for the SIEM sinks in the same transaction. A finding whose id is already
    /// stored replaces it, so a retried batch does not duplicate.
    pub fn insert_findings(&self, findings: &[Finding]) -> Result<(), StoreError> {
        if findings.is_empty() {
            return Ok(());
        }
        let r = self.insert_findings_inner(findings);
        self.adding(r)
    }

    fn insert_findings_inner(&self, findings: &[Finding]) -> Result<(), StoreError> {
        const WHAT: &str = "inserting findings";
        let mut added = 0u64;
        let txn = self.begin_write(WHAT)?;
        let mut outbox = OutboxWriter::open(self, &txn)?;
        {
            let mut table = txn.open_table(FINDINGS).context(WHAT)?;
            for f in findings {
                let bytes = encode(f, "a finding")?;
                // Counted twice: the outbox holds a copy.
                added += 2 * bytes.len() as u64;
                let replaced = table
                    .insert(f.id.0, bytes.as_slice())
                    .context(WHAT)?
                    .is_some();
                // A retried batch is not queued twice.
                if !replaced {
                    let event = SiemEvent::Finding { finding: f.clone() };
                    outbox.push(event, f.window_end_ms)?;
                }
            }
        }
        let pushed = outbox.finish();
        self.admit(&txn, added)?;
        self.commit_counting(txn, pushed, WHAT)
    }

    /// The finding `id`, if stored.
    pub fn finding(&self, id: FindingId) -> Result<Option<Finding>, StoreError> {
        const WHAT: &str = "reading a finding";
        let txn = self.begin_read(WHAT)?;
        let table = txn.open_table(FINDINGS).context(WHAT)?;
        match table.get(id.0).context(WHAT)? {
            Some(v) => Ok(Some(decode(v.value(), "a finding")?)),
            None => Ok(self.memory_findings(|f| f.id == id).pop()),
        }
    }

    /// One page of the findings that match `filter`, newest first.
    pub fn findings(
        &self,
        filter: &FindingFilter,
        page: PageRequest,
    ) -> Result<FindingPage, StoreError> {
        const WHAT: &str = "listing findings";
        let limit = page.limit.clamp(1, MAX_PAGE);
        let empty = FindingPage {
            items: Vec::new(),
            next: None,
        };
        // `since_ms` bounds the scan itself: ids made before it sort below this key.
        let lower = match filter.since_ms {
            None => 0,
            Some(ms) if ms > MAX_ID_MS => return Ok(empty),
            Some(ms) => u128::from(ms) << 80,
        };
        let upper = page.after.map(|a| a.0);
        if upper.is_some_and(|u| u <= lower) {
            return Ok(empty);
        }

        let txn = self.begin_read(WHAT)?;
        let table = txn.open_table(FINDINGS).context(WHAT)?;
        let range = match upper {
            Some(u) => table.range(lower..u),
            None => table.range(lower..),
        }
        .context(WHAT)?;

        let mut items: Vec<Finding> = Vec::new();
        // The key, not the decoded id, is where the next page resumes.
        let mut last_key = None;
        let mut next = None;
        for entry in range.rev() {
            let (k, v) = entry.context(WHAT)?;
            let f: Finding = decode(v.value(), "a finding")?;
            if !filter.matches(&f) {
                continue;
            }
            if items.len() == limit {
                next = last_key.map(FindingId);
                break;
            }
            last_key = Some(k.value());
            items.push(f);
        }
        let held = self.memory_findings(|f| {
            filter.matches(f) && f.id.0 >= lower && upper.is_none_or(|u| f.id.0 < u)
        });
        if held.is_empty() {
            return Ok(FindingPage { items, next });
        }
        // Findings held in memory (the store refused them) are listed as if stored.
        items.extend(held);
        items.sort_by_key(|f| std::cmp::Reverse(f.id.0));
        items.dedup_by_key(|f| f.id.0);
        let more = next.is_some() || items.len() > limit;
        items.truncate(limit);
        let next = if more {
            items.last().map(|f| f.id)
        } else {
            None
        };
        Ok(FindingPage { items, next })
    }

    /// How many findings are stored, or held in memory while the store refuses
    /// writes.
    pub fn count_findings(&self) -> Result<u64, StoreError> {
        const WHAT: &str = "counting findings";
        let txn = self.begin_read(WHAT)?;
        let table = txn.open_table(FINDINGS).context(WHAT)?;
        Ok(table.len().context(WHAT)? + self.health().memory_findings)
    }
}
