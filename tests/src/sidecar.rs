//! Starts the real sidecar in-process on 127.0.0.1:0 in front of a test upstream,
//! from a base config merged with the test's own TOML, through the same
//! `Config::parse` and wiring as `palisade run`.

use std::net::SocketAddr;
use std::sync::Arc;

use palisade::{Palisade, PalisadeBuilder};
use palisade_models::{Config, SharedClock};

/// The config every test starts from: one worker, loopback, short timeouts.
const BASE: &str = r#"
[proxy]
workers = 1
listen = ["127.0.0.1:0"]
[proxy.timeouts]
header_read = "2s"
idle = "10s"
shutdown_grace = "5s"
[upstream]
connect_timeout = "2s"
response_timeout = "5s"
[routes]
unknown = "allow"
[tee]
capacity = 4096
[log]
level = "warn"
[admin]
listen = "127.0.0.1:0"
"#;

/// The base config for `upstream` with `overrides` (TOML) merged over it.
pub fn config_text(upstream: &str, overrides: &str) -> String {
    let mut base: toml::Table = BASE.parse().expect("base config");
    let over: toml::Table = overrides.parse().expect("override TOML");
    merge(&mut base, over);
    let up = base
        .entry("upstream")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(t) = up {
        t.entry("url")
            .or_insert_with(|| toml::Value::String(upstream.to_string()));
    }
    toml::to_string(&base).expect("serialise config")
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// A config for `upstream` with `overrides`.
pub fn config(upstream: &str, overrides: &str) -> Config {
    let text = config_text(upstream, overrides);
    Config::parse(&text).unwrap_or_else(|e| panic!("test config invalid: {e}\n{text}"))
}

/// An HTTP client for talking to a sidecar: keep-alive, and never through a
/// proxy the environment may name.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// A running in-process sidecar.
#[derive(Debug)]
pub struct Sidecar {
    pub palisade: Palisade,
    pub addr: SocketAddr,
    /// Holds the store, unless the test named its own `store.path`.
    pub data: tempfile::TempDir,
}

/// Options for `Sidecar::start_with`.
#[derive(Debug, Default)]
pub struct Options {
    pub clock: Option<SharedClock>,
    /// Leave the tee without a consumer.
    pub no_analytics: bool,
}

impl Sidecar {
    /// Starts a sidecar in front of `upstream` with config `overrides`.
    pub fn start(upstream: &str, overrides: &str) -> Sidecar {
        Self::start_with(upstream, overrides, Options::default())
    }

    pub fn start_with(upstream: &str, overrides: &str, opts: Options) -> Sidecar {
        let data = tempfile::tempdir().expect("tempdir");
        let mut over: toml::Table = overrides.parse().expect("override TOML");
        let store = over
            .entry("store")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = store {
            t.entry("path").or_insert_with(|| {
                toml::Value::String(data.path().join("palisade.redb").display().to_string())
            });
        }
        let overrides = toml::to_string(&over).expect("serialise overrides");
        let mut b =
            PalisadeBuilder::new(config(upstream, &overrides)).analytics(!opts.no_analytics);
        if let Some(c) = opts.clock {
            b = b.clock(c);
        }
        let palisade = b.start().expect("start palisade");
        let addr = palisade
            .plain_addrs()
            .first()
            .or(palisade.tls_addrs().first())
            .copied()
            .expect("a listener");
        Sidecar {
            palisade,
            addr,
            data,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until at least one event is recorded, then returns all recorded so
    /// far (with `no_analytics`, which leaves them in the tee). The record phase
    /// runs when the response body ends, just after the client has it.
    pub async fn recorded_events(&self) -> Vec<palisade_models::RequestEvent> {
        let mut out = Vec::new();
        crate::eventually("an event is recorded", || {
            self.palisade.tee().drain_into(&mut out, usize::MAX);
            !out.is_empty()
        })
        .await;
        out
    }

    pub fn tee(&self) -> &Arc<palisade_models::Tee> {
        self.palisade.tee()
    }
}
