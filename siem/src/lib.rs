//! Forwards findings, blocks, unblocks and denied-request summaries to SIEMs: CEF in
//! RFC 5424 syslog over TCP, TLS or UDP, Splunk HEC, and OCSF / ECS JSON webhooks,
//! each from the store's durable outbox (the store writes a record in the same
//! transaction as the fact it reports; this crate delivers and acknowledges it).
//!
//! `Siem::build` turns the `[siem]` section into one runner per sink (reading the
//! secrets it names from the environment); `Siem::spawn` runs them. Must never
//! forward or log a secret, and must never acknowledge a record its receiver has
//! not accepted.

pub mod format;
mod forwarder;
mod tls;
pub mod transport;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use palisade_models::config::{SiemConfig, SinkConfig, SinkType, SyslogTransport};
use palisade_models::{SharedClock, SiemSource, SiemStatus};
use palisade_store::{OutboxPolicy, Store};
use rustls::pki_types::ServerName;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use format::hec::HecOptions;
use format::syslog::SyslogOptions;
use forwarder::SinkRunner;
pub use forwarder::{SinkStats, backoff};
use transport::{Hec, Syslog, SyslogMode, Transport, Webhook};

/// How often the outbox's depths are measured for the status view.
const MONITOR_EVERY: Duration = Duration::from_secs(2);

/// Errors of the SIEM forwarders, each naming the config key to fix.
#[derive(Debug, thiserror::Error)]
pub enum SiemError {
    #[error("{key}: {message}")]
    Config { key: String, message: String },
    #[error("the SIEM outbox: {0}")]
    Store(#[from] palisade_store::StoreError),
}

/// The sinks of one config, built and ready to run.
pub struct Siem {
    runners: Vec<SinkRunner>,
    store: Arc<Store>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Siem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Siem")
            .field("sinks", &self.shared.sinks.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Shared {
    sinks: Vec<Arc<SinkStats>>,
    outbox_len: AtomicU64,
    outbox_max: u64,
    when_full: &'static str,
}

/// A running forwarder: its status, and its stop.
#[derive(Debug, Clone)]
pub struct SiemHandle {
    shared: Arc<Shared>,
    store: Arc<Store>,
}

impl Siem {
    /// Builds every sink of `cfg`, with secrets from the process environment, and
    /// sets the store's outbox to queue what they forward (forgetting sinks no
    /// longer configured). Errors name the key.
    pub fn build(cfg: &SiemConfig, store: Arc<Store>) -> Result<Siem, SiemError> {
        Self::build_with_env(cfg, store, &|var| std::env::var(var).ok())
    }

    /// `build`, reading the variables secrets are named by through `env`.
    pub fn build_with_env(
        cfg: &SiemConfig,
        store: Arc<Store>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Siem, SiemError> {
        let mut runners = Vec::with_capacity(cfg.sinks.len());
        for (i, s) in cfg.sinks.iter().enumerate() {
            runners.push(build_sink(&format!("siem.sinks[{i}]"), s, env)?);
        }
        let policy = OutboxPolicy {
            mask: cfg.forward_mask(),
            max_records: cfg.max_outbox_records,
            when_full: cfg.when_full,
        };
        let names: Vec<&str> = cfg.sinks.iter().map(|s| s.name.as_str()).collect();
        let forgotten = store.configure_outbox(policy, &names)?;
        for name in forgotten {
            tracing::warn!(
                sink = %name,
                "a SIEM sink is no longer configured: what it had not sent is dropped"
            );
        }
        let wakes: Vec<Arc<Notify>> = runners.iter().map(|r| r.wake.clone()).collect();
        if !wakes.is_empty() {
            store.set_outbox_waker(Arc::new(move || {
                for w in &wakes {
                    w.notify_one();
                }
            }));
        }
        let shared = Arc::new(Shared {
            sinks: runners.iter().map(|r| r.stats.clone()).collect(),
            outbox_len: AtomicU64::new(0),
            outbox_max: cfg.max_outbox_records,
            when_full: cfg.when_full.as_str(),
        });
        Ok(Siem {
            runners,
            store,
            shared,
        })
    }

    /// Starts one task per sink and the monitor, on the current runtime; they stop
    /// with `stop`.
    pub fn spawn(self, clock: SharedClock, stop: CancellationToken) -> SiemHandle {
        for runner in self.runners {
            tokio::spawn(forwarder::run(
                runner,
                self.store.clone(),
                clock.clone(),
                stop.clone(),
            ));
        }
        let handle = SiemHandle {
            shared: self.shared,
            store: self.store,
        };
        if !handle.shared.sinks.is_empty() {
            tokio::spawn(monitor(handle.clone(), stop));
        }
        handle
    }
}

impl SiemHandle {
    /// The sinks and the outbox as operators see them.
    pub fn status(&self) -> SiemStatus {
        SiemStatus {
            sinks: self.shared.sinks.iter().map(|s| s.status()).collect(),
            outbox_len: self.shared.outbox_len.load(Ordering::Relaxed),
            outbox_max: self.shared.outbox_max,
            outbox_dropped: self.store.outbox_dropped(),
            when_full: self.shared.when_full.into(),
        }
    }

    /// Measures the outbox now (a store read; call off the runtime's threads).
    pub fn measure(&self) -> Result<(), palisade_store::StoreError> {
        let depths = self.store.outbox_depths()?;
        let len = self.store.outbox_len()?;
        self.shared.outbox_len.store(len, Ordering::Relaxed);
        for d in depths {
            if let Some(s) = self.shared.sinks.iter().find(|s| s.name == d.sink) {
                s.depth.store(d.depth, Ordering::Relaxed);
                s.oldest_ms
                    .store(d.oldest_ms.unwrap_or(0), Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

/// Keeps the depths current and reports a full outbox.
async fn monitor(handle: SiemHandle, stop: CancellationToken) {
    let mut reported = 0;
    loop {
        let h = handle.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || h.measure()).await {
            tracing::error!(error = %e, "cannot measure the SIEM outbox");
        }
        let dropped = handle.store.outbox_dropped();
        if dropped > reported {
            let lagging: Vec<_> = handle
                .shared
                .sinks
                .iter()
                .filter(|s| s.depth.load(Ordering::Relaxed) > 0)
                .map(|s| s.name.to_string())
                .collect();
            tracing::error!(
                dropped = dropped - reported,
                max = handle.shared.outbox_max,
                when_full = handle.shared.when_full,
                lagging = ?lagging,
                "the SIEM outbox is full and records were dropped; fix or remove the lagging \
                 sink, or raise siem.max_outbox_records"
            );
            reported = dropped;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(MONITOR_EVERY) => {}
        }
    }
}

fn build_sink(
    key: &str,
    s: &SinkConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SinkRunner, SiemError> {
    let bad = |what: &str, message: String| SiemError::Config {
        key: format!("{key}.{what}"),
        message,
    };
    let source = SiemSource {
        hostname: s.hostname.clone().unwrap_or_else(hostname).into(),
        product: "Palisade".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let timeout = s.timeout.duration();
    let tls_client = || {
        let client = s
            .client_cert_file
            .as_deref()
            .zip(s.client_key_file.as_deref());
        tls::client_config(key, s.ca_file.as_deref(), client)
    };
    let (kind, target, transport) = match s.kind {
        SinkType::Syslog => {
            let address = s.address.clone().unwrap_or_default();
            let mode = match s.transport {
                SyslogTransport::Tcp => SyslogMode::Tcp,
                SyslogTransport::Udp => SyslogMode::Udp,
                SyslogTransport::Tls => {
                    let host = s.server_name.clone().unwrap_or_else(|| host_of(&address));
                    let name = ServerName::try_from(host.clone())
                        .map_err(|e| bad("server_name", format!("`{host}`: {e}")))?;
                    Syslog::tls(tls_client()?, name)
                }
            };
            let options = SyslogOptions {
                facility: s.facility_code(),
                app_name: s.app_name.clone().into(),
            };
            let t = Syslog::new(address.clone(), mode, timeout, source, options);
            ("syslog", address, Transport::Syslog(t))
        }
        SinkType::SplunkHec | SinkType::Http => {
            let Some(url) = s.url.as_ref().map(|u| u.get().clone()) else {
                return Err(bad("url", "missing".into()));
            };
            let mut builder = reqwest::Client::builder()
                .connect_timeout(timeout)
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("palisade/", env!("CARGO_PKG_VERSION")));
            if url.scheme() == "https" {
                builder = builder.tls_backend_preconfigured((*tls_client()?).clone());
            }
            let client = builder
                .build()
                .map_err(|e| bad("url", format!("cannot build the HTTP client: {e}")))?;
            let schema = s.schema;
            let target = display_url(&url);
            if s.kind == SinkType::SplunkHec {
                let var = s.token_env.clone().unwrap_or_default();
                let token = secret(env, &var).map_err(|m| bad("token_env", m))?;
                let settings = transport::HecSettings {
                    base: url,
                    gzip: s.gzip,
                    ack: s.ack,
                    timeout,
                    options: HecOptions {
                        index: s.index.clone().map(Into::into),
                        source: s.source.clone().unwrap_or_else(|| "palisade".into()).into(),
                        sourcetype: s
                            .sourcetype
                            .clone()
                            .unwrap_or_else(|| format!("palisade:{}", schema.as_str()))
                            .into(),
                        schema,
                    },
                    source,
                };
                let hec = Hec::new(client, token, settings).map_err(|m| bad("url", m))?;
                ("splunk_hec", target, Transport::Hec(hec))
            } else {
                let mut headers = reqwest::header::HeaderMap::new();
                for (name, var) in &s.headers_env {
                    let value = secret(env, var).map_err(|m| bad("headers_env", m))?;
                    let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|e| bad("headers_env", format!("`{name}`: {e}")))?;
                    let mut value =
                        reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                            bad(
                                "headers_env",
                                format!("the value of {var} is not a valid header value"),
                            )
                        })?;
                    value.set_sensitive(true);
                    headers.insert(name, value);
                }
                let array = s.batch() > 1;
                let hook = Webhook::new(client, url, headers, schema, source, timeout, array);
                ("http", target, Transport::Webhook(hook))
            }
        }
    };
    let stats = Arc::new(SinkStats::new(&s.name, kind, &target));
    Ok(SinkRunner {
        name: s.name.clone().into(),
        mask: s.forward_mask(),
        batch: s.batch(),
        backoff_min: s.backoff_min.duration(),
        backoff_max: s.backoff_max.duration(),
        transport,
        stats,
        wake: Arc::new(Notify::new()),
    })
}

/// The value of environment variable `var`: a secret, never logged.
fn secret(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Result<String, String> {
    match env(var) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        Some(_) => Err(format!(
            "environment variable {var} is empty; export the secret there"
        )),
        None => Err(format!(
            "environment variable {var} is not set; export the secret there"
        )),
    }
}

/// The URL for display: no credentials, no query.
fn display_url(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// The host part of "host:port" (brackets of an IPv6 literal removed).
fn host_of(address: &str) -> String {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

/// This machine's name, for syslog's HOSTNAME.
fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "palisade".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials() {
        let u = reqwest::Url::parse("https://user:pw@siem.example:8088/hook?token=x").unwrap();
        assert_eq!(display_url(&u), "https://siem.example:8088/hook");
        assert_eq!(host_of("[::1]:6514"), "::1");
        assert_eq!(host_of("siem.example.com:6514"), "siem.example.com");
    }
}
