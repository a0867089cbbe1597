//! Owns the running OpenAPI spec: loading it at start, reloading it when the
//! file changes (a watcher thread compares modification time and size every
//! `openapi.reload_interval`, then the content's hash), and swapping in the
//! route table built from it. A spec that does not load or route is reported
//! and ignored: the running one stays in force.
//!
//! Must not run on the request path: requests only load the table.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use palisade_openapi::{OpenApiError, Spec, SpecOptions};

use crate::error::ProxyError;
use crate::limits::RateLimits;
use crate::routes::{RouteSource, RouteTable};

/// Loads the spec at `path`, as a config error naming `openapi.spec`.
pub(crate) fn load(path: &Path, options: &SpecOptions) -> Result<(Spec, Stamp), ProxyError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        spec_error(&OpenApiError::Read {
            path: path.to_path_buf(),
            source,
        })
    })?;
    let stamp = Stamp::of(path, &text);
    let spec = Spec::parse(path, text, options).map_err(|e| spec_error(&e))?;
    for op in &spec.unchecked_security {
        tracing::warn!(
            target: "palisade::openapi",
            operation = %op,
            "the spec asks for a credential Palisade does not check (HTTP basic, a cookie or \
             query API key, mutual TLS): the route takes no credential unless a [[route]] sets auth"
        );
    }
    Ok((spec, stamp))
}

fn spec_error(e: &OpenApiError) -> ProxyError {
    ProxyError::OpenApi {
        key: "openapi.spec".into(),
        message: e.to_string(),
        hint: e.hint(),
    }
}

/// What identifies one version of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    hash: u64,
}

impl Stamp {
    fn of(path: &Path, text: &str) -> Stamp {
        let meta = std::fs::metadata(path).ok();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        Stamp {
            modified: meta.as_ref().and_then(|m| m.modified().ok()),
            len: text.len() as u64,
            hash: h.finish(),
        }
    }
}

/// The spec's state, for the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecStatus {
    pub path: PathBuf,
    /// Operations in the spec in force.
    pub operations: usize,
    /// Successful reloads since start (the first load not counted).
    pub reloads: u64,
    /// Reloads refused (the file did not load or route).
    pub failures: u64,
    /// Why the last refused reload was refused; None once one succeeds.
    pub last_error: Option<String>,
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The file holds what is already in force.
    Unchanged,
    /// A new spec is in force, with this many operations.
    Replaced { operations: usize },
}

/// The running spec and the means to replace it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SpecHandle(Arc<SpecState>);

#[derive(Debug)]
struct SpecState {
    path: PathBuf,
    options: SpecOptions,
    source: RouteSource,
    routes: Arc<ArcSwap<RouteTable>>,
    limits: Arc<RateLimits>,
    /// Held through a whole reload: reloads never interleave.
    stamp: Mutex<Stamp>,
    status: Mutex<SpecStatus>,
}

impl SpecHandle {
    pub(crate) fn new(
        path: PathBuf,
        options: SpecOptions,
        source: RouteSource,
        routes: Arc<ArcSwap<RouteTable>>,
        limits: Arc<RateLimits>,
        stamp: Stamp,
    ) -> SpecHandle {
        let operations = routes
            .load()
            .spec
            .as_ref()
            .map_or(0, |s| s.operations.len());
        SpecHandle(Arc::new(SpecState {
            status: Mutex::new(SpecStatus {
                path: path.clone(),
                operations,
                ..SpecStatus::default()
            }),
            path,
            options,
            source,
            routes,
            limits,
            stamp: Mutex::new(stamp),
        }))
    }

    /// The spec in force.
    pub fn spec(&self) -> Option<Arc<Spec>> {
        self.0.routes.load().spec.clone()
    }

    pub fn status(&self) -> SpecStatus {
        self.0
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the file and, if it changed, puts the new spec in force. On an
    /// error the running spec stays, and the error is kept in the status.
    pub fn reload(&self) -> Result<Reload, ProxyError> {
        let s = &self.0;
        let mut stamp = s.stamp.lock().unwrap_or_else(PoisonError::into_inner);
        let outcome = self.reload_locked(&mut stamp);
        if outcome.is_err()
            && let Ok(m) = std::fs::metadata(&s.path)
        {
            // The watcher then waits for the next change instead of retrying
            // (and logging) the same broken file on every tick. The hash stays
            // the running spec's, so any other content reloads.
            stamp.len = m.len();
            stamp.modified = m.modified().ok();
        }
        let mut status = s.status.lock().unwrap_or_else(PoisonError::into_inner);
        match &outcome {
            Ok(Reload::Replaced { operations }) => {
                status.operations = *operations;
                status.reloads += 1;
                status.last_error = None;
            }
            Ok(Reload::Unchanged) => {}
            Err(e) => {
                status.failures += 1;
                status.last_error = Some(e.to_string());
            }
        }
        outcome
    }

    fn reload_locked(&self, stamp: &mut Stamp) -> Result<Reload, ProxyError> {
        let s = &self.0;
        let (spec, new) = load(&s.path, &s.options)?;
        if new.hash == stamp.hash {
            *stamp = new;
            return Ok(Reload::Unchanged);
        }
        let operations = spec.operations.len();
        let current = s.routes.load_full();
        let table =
            RouteTable::build_from(&s.source, Some(Arc::new(spec)), &s.limits, Some(&current))?;
        s.routes.store(Arc::new(table));
        *stamp = new;
        Ok(Reload::Replaced { operations })
    }

    /// True when the file's modification time or size differ from the spec
    /// in force (or it cannot be read: the reload reports why).
    fn changed_on_disk(&self) -> bool {
        let stamp = *self.0.stamp.lock().unwrap_or_else(PoisonError::into_inner);
        match std::fs::metadata(&self.0.path) {
            Ok(m) => m.len() != stamp.len || m.modified().ok() != stamp.modified,
            Err(_) => true,
        }
    }

    /// One watcher tick: reloads when the file looks changed, and logs.
    pub fn poll(&self) {
        if !self.changed_on_disk() {
            return;
        }
        match self.reload() {
            Ok(Reload::Unchanged) => {}
            Ok(Reload::Replaced { operations }) => tracing::info!(
                target: "palisade::openapi",
                path = %self.0.path.display(),
                operations,
                "OpenAPI spec reloaded"
            ),
            Err(e) => {
                let hint = match &e {
                    ProxyError::OpenApi { hint, .. } => hint,
                    _ => "",
                };
                tracing::warn!(
                    target: "palisade::openapi",
                    error = %e,
                    hint,
                    "OpenAPI spec not reloaded; the running spec stays in force"
                );
            }
        }
    }
}

/// Runs `poll` every `interval` on its own thread until the returned handle
/// is dropped.
pub(crate) fn start_watcher(
    handle: SpecHandle,
    interval: Duration,
) -> Result<WatcherHandle, ProxyError> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("palisade-openapi".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(interval)
            {
                handle.poll();
            }
        })
        .map(|_| WatcherHandle { _stop: stop })
        .map_err(ProxyError::Worker)
}

/// Stops the watcher when dropped.
#[derive(Debug)]
pub(crate) struct WatcherHandle {
    _stop: std::sync::mpsc::Sender<()>,
}
