//! Measuring an engine against corpora, for `palisade rules test` and CI: the
//! CRS regression corpus (per-class detection over its attack tests) and a
//! benign text file (each line as a query value and as a JSON string value; any
//! block is a false positive). Reports serialise to JSON and print as tables.
//!
//! Must not be used on the request path: it reads files and allocates freely.

mod raw;
pub mod samples;

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

pub use raw::RawRequest;

use crate::engine::{Engine, Scratch, Verdict};
use crate::error::SignatureError;
use crate::request::Request;

/// One test of the CRS regression corpus.
#[derive(Debug, Clone)]
pub struct CrsTest {
    /// The CRS rule the test was written for.
    pub rule_id: u64,
    /// The test's number within its rule.
    pub test_id: u64,
    /// The attack class of the rule's file (`sqli`, `protocol`, ...).
    pub class: String,
    /// `attack`, `neg` or `other`.
    pub label: String,
    /// Whether the test is about the response (skipped).
    pub response_test: bool,
    /// The raw request of each stage.
    pub stages: Vec<Vec<u8>>,
}

/// Which CRS tests a report covers: all, or a half split by rule family
/// (`rule_id / 10` even or odd, so a rule and its variants stay together), for
/// tuning on one half and checking on the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Every test.
    All,
    /// Rule families with `rule_id / 10` even (the tuning half).
    Even,
    /// Rule families with `rule_id / 10` odd (the held-out half).
    Odd,
}

/// Detection over one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassRow {
    /// The class name.
    pub class: String,
    /// Attack tests.
    pub total: usize,
    /// Tests blocked.
    pub detected: usize,
    /// `detected / total`.
    pub rate: f64,
}

/// Per-class detection over a corpus.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorpusReport {
    /// Which tests were counted.
    pub split: Split,
    /// One row per class, the engine's classes first.
    pub classes: Vec<ClassRow>,
}

/// False positives over benign lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenignReport {
    /// Lines sent.
    pub lines: usize,
    /// Lines blocked either way.
    pub blocked: usize,
    /// Lines blocked as a query parameter value.
    pub blocked_query: usize,
    /// Lines blocked as a JSON string value.
    pub blocked_json: usize,
    /// `blocked / lines`.
    pub fp_rate: f64,
}

/// One benign line that was blocked, with the rules that fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FalsePositive {
    /// The line.
    pub line: String,
    /// The hits, as a query value then as a JSON value.
    pub rules: Vec<String>,
}

#[derive(Deserialize)]
struct JsonTest {
    rule_id: u64,
    #[serde(default)]
    test_id: u64,
    class: String,
    label: String,
    #[serde(default)]
    response_test: bool,
    stages: Vec<JsonStage>,
}

#[derive(Deserialize)]
struct JsonStage {
    raw_b64: String,
}

impl CrsTest {
    /// Whether the test counts for detection: an attack about the request.
    pub fn is_request_attack(&self) -> bool {
        self.label == "attack" && !self.response_test
    }

    /// Whether the test is in `split`.
    pub fn in_split(&self, split: Split) -> bool {
        match split {
            Split::All => true,
            Split::Even => (self.rule_id / 10).is_multiple_of(2),
            Split::Odd => (self.rule_id / 10) % 2 == 1,
        }
    }

    /// The engine's verdict on each stage.
    pub fn verdicts(&self, engine: &Engine, scratch: &mut Scratch) -> Vec<Verdict> {
        self.stages
            .iter()
            .map(|s| RawRequest::parse(s).inspect(engine, scratch))
            .collect()
    }

    /// Whether any stage is blocked.
    pub fn detected(&self, engine: &Engine, scratch: &mut Scratch) -> bool {
        self.stages
            .iter()
            .any(|s| RawRequest::parse(s).inspect(engine, scratch).blocked)
    }
}

/// Reads a CRS regression corpus (JSON lines; see the corpus README).
pub fn load_crs(path: &Path) -> Result<Vec<CrsTest>, SignatureError> {
    let text = read(path)?;
    let mut tests = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| SignatureError::Corpus {
            path: path.to_path_buf(),
            line: n + 1,
            message,
        };
        let t: JsonTest = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let mut stages = Vec::with_capacity(t.stages.len());
        for s in t.stages {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(s.raw_b64.as_bytes())
                .map_err(|e| bad(format!("raw_b64: {e}")))?;
            stages.push(raw);
        }
        tests.push(CrsTest {
            rule_id: t.rule_id,
            test_id: t.test_id,
            class: t.class,
            label: t.label,
            response_test: t.response_test,
            stages,
        });
    }
    Ok(tests)
}

/// Reads a benign text file: one sample per non-empty line.
pub fn load_benign(path: &Path) -> Result<Vec<String>, SignatureError> {
    Ok(read(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect())
}

fn read(path: &Path) -> Result<String, SignatureError> {
    let bytes = std::fs::read(path).map_err(|source| SignatureError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Per-class detection over the request attack tests in `split`.
pub fn crs_report(engine: &Engine, tests: &[CrsTest], split: Split) -> CorpusReport {
    let mut scratch = Scratch::default();
    let mut rows: Vec<ClassRow> = Vec::new();
    for t in tests
        .iter()
        .filter(|t| t.is_request_attack() && t.in_split(split))
    {
        let detected = t.detected(engine, &mut scratch);
        let row = match rows.iter_mut().position(|r| r.class == t.class) {
            Some(i) => &mut rows[i],
            None => {
                rows.push(ClassRow {
                    class: t.class.clone(),
                    total: 0,
                    detected: 0,
                    rate: 0.0,
                });
                let last = rows.len() - 1;
                &mut rows[last]
            }
        };
        row.total += 1;
        row.detected += usize::from(detected);
    }
    for r in &mut rows {
        r.rate = r.detected as f64 / r.total.max(1) as f64;
    }
    let order = |c: &str| {
        crate::Class::ALL
            .iter()
            .position(|k| k.as_str() == c)
            .unwrap_or(usize::MAX)
    };
    rows.sort_by(|a, b| (order(&a.class), &a.class).cmp(&(order(&b.class), &b.class)));
    CorpusReport {
        split,
        classes: rows,
    }
}

/// `line` as `GET /search?q=<urlencoded>` and as `POST` with `{"q": line}`.
pub fn benign_verdicts(engine: &Engine, line: &str, scratch: &mut Scratch) -> (Verdict, Verdict) {
    let mut query = b"q=".to_vec();
    for &b in line.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            query.push(b);
        } else if b == b' ' {
            query.push(b'+');
        } else {
            query.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    let headers: [(&str, &[u8]); 2] = [
        ("host", b"api.example.com"),
        (
            "user-agent",
            b"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        ),
    ];
    let get = Request::new("GET", b"/search")
        .query(&query)
        .headers(&headers);
    let as_query = engine.inspect(&get, scratch);
    let body = serde_json::json!({ "q": line }).to_string();
    let post = Request::new("POST", b"/search")
        .headers(&headers)
        .body("application/json", body.as_bytes());
    let as_json = engine.inspect(&post, scratch);
    (as_query, as_json)
}

/// False positives over `lines`, and the lines that were blocked.
pub fn benign_report(engine: &Engine, lines: &[String]) -> (BenignReport, Vec<FalsePositive>) {
    let mut scratch = Scratch::default();
    let mut report = BenignReport {
        lines: lines.len(),
        blocked: 0,
        blocked_query: 0,
        blocked_json: 0,
        fp_rate: 0.0,
    };
    let mut fps = Vec::new();
    for line in lines {
        let (q, j) = benign_verdicts(engine, line, &mut scratch);
        report.blocked_query += usize::from(q.blocked);
        report.blocked_json += usize::from(j.blocked);
        if q.blocked || j.blocked {
            report.blocked += 1;
            fps.push(FalsePositive {
                line: line.clone(),
                rules: q
                    .hits
                    .iter()
                    .chain(&j.hits)
                    .map(|h| h.rule_id.to_string())
                    .collect(),
            });
        }
    }
    report.fp_rate = report.blocked as f64 / report.lines.max(1) as f64;
    (report, fps)
}

impl fmt::Display for CorpusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let split = match self.split {
            Split::All => "all tests",
            Split::Even => "tuning half (rule_id/10 even)",
            Split::Odd => "held-out half (rule_id/10 odd)",
        };
        writeln!(f, "attack detection, {split}")?;
        writeln!(
            f,
            "{:<18} {:>7} {:>9} {:>8}",
            "class", "tests", "detected", "rate"
        )?;
        for r in &self.classes {
            writeln!(
                f,
                "{:<18} {:>7} {:>9} {:>7.1}%",
                r.class,
                r.total,
                r.detected,
                r.rate * 100.0
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for BenignReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "false positives on benign lines")?;
        writeln!(
            f,
            "lines {}  blocked {} (as query {}, as JSON {})  FP rate {:.3}%",
            self.lines,
            self.blocked,
            self.blocked_query,
            self.blocked_json,
            self.fp_rate * 100.0
        )
    }
}
