//! Owns the rolling Parquet segments of events on disk: each batch run writes the
//! window's chunks sealed since the last run as one file (written aside, then
//! renamed, so a reader never sees half a file), and deletes the oldest files past
//! the age and size bounds. Events are kept nowhere else on disk; this is what
//! exports read beyond the in-memory window.
//!
//! A file is named `events-<first ms>-<last ms>-<boot>-<last chunk>.parquet`: the
//! time range lets an export skip files without opening them, and the boot id and
//! chunk number let it take the window's chunks that no file holds yet.
//!
//! Must run on the batch thread only, never on the worker's.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, BooleanArray, RecordBatch, TimestampMicrosecondArray};
use arrow_select::filter::filter_record_batch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use palisade_analytics::window::{Chunk, WindowView};

use crate::BatchError;
use crate::export::{chunk_batch, event_schema, writer};

/// One segment file, as its name describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub path: PathBuf,
    pub first_ms: u64,
    pub last_ms: u64,
    pub boot: u64,
    pub seq_to: u64,
    pub bytes: u64,
}

/// How segments are bounded.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Files whose newest event is older than this are deleted.
    pub max_age_ms: u64,
    /// The oldest files are deleted while all of them together are larger.
    pub max_bytes: u64,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BatchError + use<> {
    let path = path.to_path_buf();
    move |source| BatchError::Io { what, path, source }
}

fn parse(path: &Path) -> Option<(u64, u64, u64, u64)> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("events-")?.strip_suffix(".parquet")?;
    let mut parts = rest.split('-').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next()??,
        parts.next()??,
    ))
}

/// The segments in `dir`, oldest first; other files are ignored.
pub fn list(dir: &Path) -> Result<Vec<Segment>, BatchError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("reading the segment directory", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io("reading the segment directory", dir))?;
        let path = entry.path();
        if let Some((first_ms, last_ms, boot, seq_to)) = parse(&path) {
            let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(Segment {
                path,
                first_ms,
                last_ms,
                boot,
                seq_to,
                bytes,
            });
        }
    }
    out.sort_by_key(|s| (s.last_ms, s.first_ms));
    Ok(out)
}

/// Arrow timestamps are signed.
fn clamp(us: u64) -> i64 {
    i64::try_from(us).unwrap_or(i64::MAX)
}

/// The events of a segment with `since_us <= ts < until_us`.
pub fn read(path: &Path, since_us: u64, until_us: u64) -> Result<Vec<RecordBatch>, BatchError> {
    let file = File::open(path).map_err(io("opening a segment", path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch?;
        let keep =
            match batch
                .column_by_name("ts")
                .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
            {
                Some(ts) => BooleanArray::from_iter(ts.iter().map(|t| {
                    Some(t.is_some_and(|t| (clamp(since_us)..clamp(until_us)).contains(&t)))
                })),
                None => continue,
            };
        let batch = filter_record_batch(&batch, &keep)?;
        if batch.num_rows() > 0 {
            out.push(batch);
        }
    }
    Ok(out)
}

/// Writes new chunks as segments and keeps the directory within its bounds.
#[derive(Debug)]
pub struct SegmentWriter {
    dir: PathBuf,
    boot: u64,
    retention: Retention,
    written_seq: u64,
    /// Chunks the window let go before they were written (it is too small for
    /// `batch.interval`).
    pub missed_chunks: u64,
}

impl SegmentWriter {
    /// A writer into `dir` (created when missing) for this process's `boot` id.
    pub fn new(dir: PathBuf, boot: u64, retention: Retention) -> Result<Self, BatchError> {
        fs::create_dir_all(&dir).map_err(io("creating the segment directory", &dir))?;
        Ok(Self {
            dir,
            boot,
            retention,
            written_seq: 0,
            missed_chunks: 0,
        })
    }

    /// Writes the chunks of `view` not written yet as one segment; returns it.
    pub fn write_new(&mut self, view: &WindowView) -> Result<Option<Segment>, BatchError> {
        let new: Vec<&Arc<Chunk>> = view
            .chunks
            .iter()
            .filter(|c| c.seq > self.written_seq)
            .collect();
        let Some(last) = new.last() else {
            return Ok(None);
        };
        let skipped = new[0].seq - self.written_seq - 1;
        if skipped > 0 {
            self.missed_chunks += skipped;
            tracing::warn!(
                chunks = skipped,
                "events left the window before they were written to a segment; raise batch.window_bytes or lower batch.interval"
            );
        }
        let first_ms = new.iter().map(|c| c.span_us().0).min().unwrap_or(0) / 1000;
        let last_ms = new.iter().map(|c| c.span_us().1).max().unwrap_or(0) / 1000;
        let seq_to = last.seq;
        let name = format!("events-{first_ms}-{last_ms}-{}-{seq_to}.parquet", self.boot);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let file = File::create(&tmp).map_err(io("creating a segment", &tmp))?;
        let mut w = writer(file, event_schema())?;
        for c in &new {
            w.write(&chunk_batch(c, 0, u64::MAX)?)?;
        }
        let file = w.into_inner()?;
        file.sync_all().map_err(io("writing a segment", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("renaming a segment", &path))?;
        self.written_seq = seq_to;
        let bytes = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Ok(Some(Segment {
            path,
            first_ms,
            last_ms,
            boot: self.boot,
            seq_to,
            bytes,
        }))
    }

    /// Deletes segments past the age bound, then the oldest while over the size
    /// bound; returns how many.
    pub fn enforce_retention(&self, now_ms: u64) -> Result<usize, BatchError> {
        let segs = list(&self.dir)?;
        let mut total: u64 = segs.iter().map(|s| s.bytes).sum();
        let mut removed = 0;
        for s in &segs {
            let old = now_ms.saturating_sub(s.last_ms) > self.retention.max_age_ms;
            if old || total > self.retention.max_bytes {
                fs::remove_file(&s.path).map_err(io("deleting a segment", &s.path))?;
                total -= s.bytes;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
