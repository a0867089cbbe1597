//! Owns the binary's side of batch analytics (issue 7, crate `palisade-batch`):
//! the cap on polars' thread pool (applied before polars starts), the event window
//! handed to the analytics worker, the batch thread, exports for the admin API,
//! and `palisade export`.
//!
//! Must not hold batch logic: it wires and converts.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use futures_util::future::BoxFuture;

use palisade_analytics::batch::{BatchReader, batch_reader};
use palisade_analytics::window::{Window, WindowLimits};
use palisade_batch::export::{ExportQuery, Exporter};
use palisade_batch::{BatchHandle, BatchRunner};
use palisade_dashboard::{Export, ExportError, ExportFile};
use palisade_models::config::BatchConfig;
use palisade_models::{Config, SharedClock};
use palisade_store::Store;

/// Set in the environment of the process Palisade restarts itself as, so it
/// never restarts twice.
const REEXEC_MARK: &str = "PALISADE_POLARS_THREADS_SET";

/// Makes polars' pool `batch.threads` wide. polars sizes its pool once, from
/// `POLARS_MAX_THREADS` when it first runs, and offers no other knob; setting an
/// environment variable in a running multi-threaded process is unsound, so when
/// the variable differs Palisade replaces itself (exec: same pid, arguments and
/// descriptors) with the variable set. Call before anything else starts.
pub fn cap_polars_threads(batch: &BatchConfig) {
    if !batch.enabled {
        return;
    }
    let want = batch.threads.to_string();
    if std::env::var("POLARS_MAX_THREADS").ok().as_deref() == Some(want.as_str()) {
        return;
    }
    if std::env::var_os(REEXEC_MARK).is_some() {
        eprintln!(
            "palisade: POLARS_MAX_THREADS is not {want} after a restart to set it; polars' pool keeps its own size"
        );
        return;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "palisade: cannot find this executable to cap polars' threads ({e}); polars' pool keeps its own size"
            );
            return;
        }
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("POLARS_MAX_THREADS", &want)
        .env(REEXEC_MARK, "1")
        .exec();
    eprintln!(
        "palisade: cannot restart to cap polars' threads ({err}); polars' pool keeps its own size"
    );
}

/// The event window for the analytics worker and where the batch results go,
/// when batch analytics are on.
pub fn window(config: &Config) -> Option<(Window, BatchReader)> {
    let b = &config.batch;
    b.enabled.then(|| {
        (
            Window::new(WindowLimits {
                max_bytes: usize::try_from(b.window_bytes).unwrap_or(usize::MAX),
                max_age_ms: b.window_age.duration().as_millis() as u64,
            }),
            batch_reader(),
        )
    })
}

/// Starts the batch thread over `window`'s chunks.
pub fn start(
    config: &Config,
    window: &Window,
    out: BatchReader,
    store: Arc<Store>,
    clock: SharedClock,
) -> anyhow::Result<(BatchHandle, Exporter)> {
    let boot = clock.now_ms();
    let runner = BatchRunner::new(config, window.reader(), out, Some(store), clock, boot)
        .context("setting up batch analytics (batch.segments.dir)")?;
    let exporter = runner.exporter();
    let handle = runner.spawn().context("starting batch analytics")?;
    Ok((handle, exporter))
}

/// `Control::export` for the admin API: the file is built on a blocking thread.
pub fn export(
    exporter: Option<Exporter>,
    what: Export,
) -> BoxFuture<'static, Result<ExportFile, ExportError>> {
    Box::pin(async move {
        let Some(exporter) = exporter else {
            return Err(ExportError::Unavailable(
                "exports need batch analytics: set [batch] enabled = true".into(),
            ));
        };
        let q = query(what);
        tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            exporter
                .export(&q, &mut bytes)
                .map(|rows| ExportFile { bytes, rows })
                .map_err(|e| ExportError::Failed(e.to_string()))
        })
        .await
        .unwrap_or_else(|e| Err(ExportError::Failed(e.to_string())))
    })
}

fn query(what: Export) -> ExportQuery {
    match what {
        Export::Events { since_ms, until_ms } => ExportQuery::Events { since_ms, until_ms },
        Export::Findings {
            since_ms,
            until_ms,
            kinds,
        } => ExportQuery::Findings {
            since_ms,
            until_ms,
            kinds,
        },
    }
}

/// `palisade export`'s arguments.
#[derive(Debug)]
pub struct ExportArgs {
    pub since: String,
    pub until: Option<String>,
    pub findings: bool,
    pub kinds: Vec<String>,
    pub out: PathBuf,
    pub offline: bool,
}

/// `palisade export`: asks the running sidecar's admin API (so the newest events,
/// still in memory, are included); when nothing listens there (or `--offline`),
/// reads the segments and the store itself. Returns the rows written.
pub async fn export_command(config: &Config, a: &ExportArgs) -> anyhow::Result<u64> {
    let now = palisade_models::unix_ms(std::time::SystemTime::now());
    let since = palisade_dashboard::api::export::parse_time(&a.since, now)
        .map_err(anyhow::Error::msg)
        .context("--since")?;
    let until = match &a.until {
        Some(u) => palisade_dashboard::api::export::parse_time(u, now)
            .map_err(anyhow::Error::msg)
            .context("--until")?,
        None => now + 1,
    };
    anyhow::ensure!(since < until, "--since must be before --until");
    let kinds = palisade_dashboard::api::export::parse_kinds(&a.kinds.join(","))
        .map_err(anyhow::Error::msg)
        .context("--kind")?;
    let findings = a.findings || !kinds.is_empty();
    if !a.offline && config.admin.enabled {
        match online(config, since, until, findings, &a.kinds, &a.out).await {
            Ok(bytes) => return Ok(bytes),
            Err(Online::NotRunning) => {}
            Err(Online::Failed(e)) => return Err(e),
        }
    }
    let q = if findings {
        ExportQuery::Findings {
            since_ms: since,
            until_ms: until,
            kinds,
        }
    } else {
        ExportQuery::Events {
            since_ms: since,
            until_ms: until,
        }
    };
    offline(config, &q, &a.out)
}

enum Online {
    NotRunning,
    Failed(anyhow::Error),
}

async fn online(
    config: &Config,
    since: u64,
    until: u64,
    findings: bool,
    kinds: &[String],
    out: &Path,
) -> Result<u64, Online> {
    let mut addr = *config.admin.listen.get();
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{addr}/api/export");
    let mut query = vec![
        (
            "data",
            if findings { "findings" } else { "events" }.to_string(),
        ),
        ("since", since.to_string()),
        ("until", until.to_string()),
    ];
    if !kinds.is_empty() {
        query.push(("kind", kinds.join(",")));
    }
    let token = admin_token(config);
    let url = reqwest::Url::parse_with_params(&url, &query)
        .map_err(|e| Online::Failed(anyhow::Error::new(e).context("the admin listener's URL")))?;
    let client = reqwest::Client::new();
    let mut req = client.get(url.clone());
    if let Some(t) = &token {
        req = req.bearer_auth(t);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Err(Online::NotRunning),
        Err(e) => {
            return Err(Online::Failed(
                anyhow::Error::new(e).context(url.to_string()),
            ));
        }
    };
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        let hint = if status == reqwest::StatusCode::UNAUTHORIZED {
            format!(
                " (set {} to the admin token, or use --offline with the sidecar stopped)",
                config.admin.token_env
            )
        } else {
            String::new()
        };
        return Err(Online::Failed(anyhow::anyhow!(
            "the running sidecar at {addr} refused the export: {status} {body}{hint}"
        )));
    }
    let rows = resp
        .headers()
        .get("x-palisade-rows")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| Online::Failed(anyhow::Error::new(e).context("downloading the export")))?;
    write_file(out, &bytes).map_err(Online::Failed)?;
    Ok(rows)
}

/// The admin token as the sidecar found it: the variable, the file, or the one it
/// generated and wrote beside the store.
fn admin_token(config: &Config) -> Option<String> {
    let first_line = |p: &Path| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| t.lines().next().map(|l| l.trim().to_string()))
            .filter(|t| !t.is_empty())
    };
    if let Ok(t) = std::env::var(&config.admin.token_env)
        && !t.trim().is_empty()
    {
        return Some(t.trim().to_string());
    }
    if let Some(f) = &config.admin.token_file {
        return first_line(Path::new(f));
    }
    let dir = Path::new(&config.store.path)
        .parent()
        .unwrap_or(Path::new("."));
    first_line(&dir.join("admin-token"))
}

fn offline(config: &Config, q: &ExportQuery, out: &Path) -> anyhow::Result<u64> {
    let store = match q {
        ExportQuery::Findings { .. } => Some(Arc::new(
            Store::open(Path::new(&config.store.path)).with_context(|| {
                format!(
                    "opening the store at {} (store.path); while the sidecar runs, export through it (admin.enabled)",
                    config.store.path
                )
            })?,
        )),
        ExportQuery::Events { .. } => None,
    };
    let segments = config
        .batch
        .segments
        .enabled
        .then(|| PathBuf::from(&config.batch.segments.dir));
    if segments.is_none() && matches!(q, ExportQuery::Events { .. }) {
        anyhow::bail!(
            "no sidecar answers at admin.listen and batch.segments is off: events are only in a running sidecar's memory"
        );
    }
    let exporter = Exporter {
        segments,
        window: None,
        boot: 0,
        store,
    };
    let mut buf = Vec::new();
    let rows = exporter.export(q, &mut buf).context("exporting")?;
    write_file(out, &buf)?;
    Ok(rows)
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}
