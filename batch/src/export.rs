//! Owns the Parquet form of events and findings (arrow-rs), and the export: the
//! events between two times from the rolling segments on disk and the window's
//! chunks not yet in one, or the findings between two times (of some kinds) from
//! the store, written as one Parquet file that polars, pandas and DuckDB read.
//!
//! Must not write a secret: an event's columns are what `RequestEvent` carries,
//! without the username hash, token id or scopes; a finding's are what the store
//! keeps (which never holds a secret).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float32Builder, StringBuilder, TimestampMicrosecondBuilder, UInt16Builder,
    UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use palisade_analytics::window::{Chunk, WindowReader};
use palisade_models::{Finding, FindingKind};
use palisade_store::{FindingFilter, MAX_PAGE, PageRequest, Store};

use crate::BatchError;
use crate::segments;

/// The events schema: one row per exchange.
pub fn event_schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        Field::new("ts", ts, false),
        s("request_id", false),
        s("client_ip", false),
        s("peer_ip", false),
        s("subject", true),
        s("api_key_id", true),
        s("method", false),
        s("host", true),
        s("path", false),
        s("query_keys", true),
        s("route", true),
        s("endpoint", true),
        Field::new("status", DataType::UInt16, false),
        s("deny_phase", true),
        s("deny_code", true),
        Field::new("latency_us", DataType::UInt64, false),
        Field::new("upstream_latency_us", DataType::UInt64, true),
        Field::new("bytes_in", DataType::UInt64, false),
        Field::new("bytes_out", DataType::UInt64, false),
        s("user_agent", true),
        s("protocol", false),
        Field::new("tls", DataType::Boolean, false),
        s("login", true),
        Field::new("signature_score", DataType::UInt32, true),
        s("signature_rules", true),
    ]))
}

/// The findings schema: one row per finding; `evidence` is its JSON object.
pub fn finding_schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        s("id", false),
        Field::new("ts", ts(), false),
        s("kind", false),
        s("severity", false),
        Field::new("confidence", DataType::Float32, false),
        s("client_ip", true),
        s("subject", true),
        s("api_key_id", true),
        s("endpoint", true),
        Field::new("window_start", ts(), false),
        Field::new("window_end", ts(), false),
        s("summary", false),
        s("evidence", false),
        s("request_method", true),
        s("request_path", true),
        Field::new("request_status", DataType::UInt16, true),
    ]))
}

/// The rows of `c` whose time is in `since_us..until_us`, as a record batch.
pub fn chunk_batch(c: &Chunk, since_us: u64, until_us: u64) -> Result<RecordBatch, BatchError> {
    let rows: Vec<usize> = (0..c.len())
        .filter(|&i| (since_us..until_us).contains(&c.ts_us[i]))
        .collect();
    let n = rows.len();
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let strs = || StringBuilder::with_capacity(n, n * 16);
    let (mut request_id, mut client_ip, mut peer_ip) = (strs(), strs(), strs());
    let (mut subject, mut api_key_id, mut method, mut host) = (strs(), strs(), strs(), strs());
    let (mut path, mut query_keys, mut route, mut endpoint) = (strs(), strs(), strs(), strs());
    let mut status = UInt16Builder::with_capacity(n);
    let (mut deny_phase, mut deny_code) = (strs(), strs());
    let mut latency = UInt64Builder::with_capacity(n);
    let mut upstream = UInt64Builder::with_capacity(n);
    let mut bytes_in = UInt64Builder::with_capacity(n);
    let mut bytes_out = UInt64Builder::with_capacity(n);
    let (mut user_agent, mut protocol, mut login, mut rules) = (strs(), strs(), strs(), strs());
    let mut tls = BooleanBuilder::with_capacity(n);
    let mut score = UInt32Builder::with_capacity(n);
    for &i in &rows {
        ts.append_value(c.ts_us[i] as i64);
        request_id.append_value(c.request_id.get(i));
        client_ip.append_value(c.client_ip[i].to_string());
        peer_ip.append_value(c.peer_ip[i].to_string());
        subject.append_option(c.subject.get(i));
        api_key_id.append_option(c.api_key_id.get(i));
        method.append_value(c.method.get(i).unwrap_or(""));
        host.append_option(c.host.get(i));
        path.append_value(c.path.get(i));
        query_keys.append_option(c.query_keys.get(i));
        route.append_option(c.route.get(i));
        endpoint.append_option(c.endpoint.get(i));
        status.append_value(c.status[i]);
        deny_phase.append_option(c.deny[i].map(|d| d.phase.as_str()));
        deny_code.append_option(c.deny[i].map(|d| d.code.as_str()));
        latency.append_value(c.latency_us[i]);
        upstream.append_option(c.upstream_latency_us[i]);
        bytes_in.append_value(c.bytes_in[i]);
        bytes_out.append_value(c.bytes_out[i]);
        user_agent.append_option(c.user_agent.get(i));
        protocol.append_value(c.protocol[i].as_str());
        tls.append_value(c.tls[i]);
        login.append_option(c.login[i].map(|l| l.as_str()));
        score.append_option(c.signature_score[i]);
        rules.append_option(c.signature_rules.get(i));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ts.finish()),
        Arc::new(request_id.finish()),
        Arc::new(client_ip.finish()),
        Arc::new(peer_ip.finish()),
        Arc::new(subject.finish()),
        Arc::new(api_key_id.finish()),
        Arc::new(method.finish()),
        Arc::new(host.finish()),
        Arc::new(path.finish()),
        Arc::new(query_keys.finish()),
        Arc::new(route.finish()),
        Arc::new(endpoint.finish()),
        Arc::new(status.finish()),
        Arc::new(deny_phase.finish()),
        Arc::new(deny_code.finish()),
        Arc::new(latency.finish()),
        Arc::new(upstream.finish()),
        Arc::new(bytes_in.finish()),
        Arc::new(bytes_out.finish()),
        Arc::new(user_agent.finish()),
        Arc::new(protocol.finish()),
        Arc::new(tls.finish()),
        Arc::new(login.finish()),
        Arc::new(score.finish()),
        Arc::new(rules.finish()),
    ];
    Ok(RecordBatch::try_new(event_schema(), columns)?)
}

/// Findings as a record batch.
pub fn findings_batch(findings: &[Finding]) -> Result<RecordBatch, BatchError> {
    let n = findings.len();
    let strs = || StringBuilder::with_capacity(n, n * 16);
    let ts = || TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let (mut id, mut kind, mut severity) = (strs(), strs(), strs());
    let (mut at, mut start, mut end) = (ts(), ts(), ts());
    let mut confidence = Float32Builder::with_capacity(n);
    let (mut ip, mut subject, mut key, mut endpoint) = (strs(), strs(), strs(), strs());
    let (mut summary, mut evidence, mut rmethod, mut rpath) = (strs(), strs(), strs(), strs());
    let mut rstatus = UInt16Builder::with_capacity(n);
    for f in findings {
        id.append_value(f.id.to_string());
        at.append_value((f.id.unix_ms() * 1000) as i64);
        kind.append_value(f.kind.as_str());
        severity.append_value(f.severity.as_str());
        confidence.append_value(f.confidence);
        ip.append_option(f.client.ip.map(|i| i.to_string()));
        subject.append_option(f.client.subject.as_deref());
        key.append_option(f.client.api_key_id.as_deref());
        endpoint.append_option(f.endpoint.as_deref());
        start.append_value((f.window_start_ms * 1000) as i64);
        end.append_value((f.window_end_ms * 1000) as i64);
        summary.append_value(&f.summary);
        evidence.append_value(serde_json::Value::Object(f.evidence.clone()).to_string());
        rmethod.append_option(f.request.as_ref().map(|r| &*r.method));
        rpath.append_option(f.request.as_ref().map(|r| &*r.path));
        rstatus.append_option(f.request.as_ref().map(|r| r.status));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(at.finish()),
        Arc::new(kind.finish()),
        Arc::new(severity.finish()),
        Arc::new(confidence.finish()),
        Arc::new(ip.finish()),
        Arc::new(subject.finish()),
        Arc::new(key.finish()),
        Arc::new(endpoint.finish()),
        Arc::new(start.finish()),
        Arc::new(end.finish()),
        Arc::new(summary.finish()),
        Arc::new(evidence.finish()),
        Arc::new(rmethod.finish()),
        Arc::new(rpath.finish()),
        Arc::new(rstatus.finish()),
    ];
    Ok(RecordBatch::try_new(finding_schema(), columns)?)
}

/// A Parquet writer with the settings every file of ours uses: Snappy (read by
/// every Parquet reader without extra codecs), one row group per million rows.
pub fn writer<W: Write + Send>(out: W, schema: SchemaRef) -> Result<ArrowWriter<W>, BatchError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .set_created_by(format!("palisade {}", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(ArrowWriter::try_new(out, schema, Some(props))?)
}

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportQuery {
    /// Events with `since_ms <= time < until_ms`.
    Events { since_ms: u64, until_ms: u64 },
    /// Findings made with `since_ms <= time < until_ms`, of these kinds (all when
    /// empty).
    Findings {
        since_ms: u64,
        until_ms: u64,
        kinds: Vec<FindingKind>,
    },
}

/// Where exports read from.
#[derive(Debug, Clone)]
pub struct Exporter {
    /// The rolling segments, when they are on.
    pub segments: Option<PathBuf>,
    /// The running worker's window (None offline).
    pub window: Option<WindowReader>,
    /// This process's segment boot id: the window's chunks already in a segment
    /// of this boot are read from the segment.
    pub boot: u64,
    pub store: Option<Arc<Store>>,
}

impl Exporter {
    /// Writes the rows `q` asks for to `out` as one Parquet file; returns how many.
    pub fn export<W: Write + Send>(&self, q: &ExportQuery, out: W) -> Result<u64, BatchError> {
        match q {
            ExportQuery::Events { since_ms, until_ms } => {
                self.events(since_ms * 1000, until_ms * 1000, out)
            }
            ExportQuery::Findings {
                since_ms,
                until_ms,
                kinds,
            } => self.findings(*since_ms, *until_ms, kinds, out),
        }
    }

    fn events<W: Write + Send>(&self, since: u64, until: u64, out: W) -> Result<u64, BatchError> {
        let mut w = writer(out, event_schema())?;
        let mut rows = 0u64;
        let mut written_seq = 0;
        if let Some(dir) = &self.segments {
            for seg in segments::list(dir)? {
                if seg.boot == self.boot {
                    written_seq = written_seq.max(seg.seq_to);
                }
                if seg.last_ms * 1000 < since || seg.first_ms * 1000 >= until {
                    continue;
                }
                for batch in segments::read(&seg.path, since, until)? {
                    rows += batch.num_rows() as u64;
                    w.write(&batch)?;
                }
            }
        }
        if let Some(window) = &self.window {
            let view = window.load_full();
            for c in view.chunks.iter().filter(|c| c.seq > written_seq) {
                let (first, last) = c.span_us();
                if last < since || first >= until {
                    continue;
                }
                let batch = chunk_batch(c, since, until)?;
                rows += batch.num_rows() as u64;
                w.write(&batch)?;
            }
        }
        w.close()?;
        Ok(rows)
    }

    fn findings<W: Write + Send>(
        &self,
        since_ms: u64,
        until_ms: u64,
        kinds: &[FindingKind],
        out: W,
    ) -> Result<u64, BatchError> {
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| BatchError::BadRequest("no store to export findings from".into()))?;
        let filter = FindingFilter {
            kind: (kinds.len() == 1).then(|| kinds[0]),
            since_ms: Some(since_ms),
            ..FindingFilter::default()
        };
        let mut w = writer(out, finding_schema())?;
        let mut rows = 0u64;
        let mut after = None;
        loop {
            let page = store.findings(
                &filter,
                PageRequest {
                    after,
                    limit: MAX_PAGE,
                },
            )?;
            let keep: Vec<Finding> = page
                .items
                .into_iter()
                .filter(|f| f.id.unix_ms() < until_ms)
                .filter(|f| kinds.is_empty() || kinds.contains(&f.kind))
                .collect();
            if !keep.is_empty() {
                rows += keep.len() as u64;
                w.write(&findings_batch(&keep)?)?;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        w.close()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests;
