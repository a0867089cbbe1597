//! Owns the configuration file: its types (one module per section, each field's doc
//! comment being the user documentation, with unit and default), parsing, and
//! validation that reports every problem with its key path and a hint.
//!
//! Must not bind sockets or start anything: `palisade check` runs all of this.
//! Checks that need another crate (TLS material, upstream CA) are that crate's
//! preflight, run by the binary after this.

mod admin;
mod analytics;
mod auth;
mod batch;
mod blocks;
mod decisions;
mod fleet;
mod jwt;
mod limits;
mod log;
mod login;
mod openapi;
mod proxy;
mod routes;
mod siem;
mod signatures;
mod tee;
mod upstream;
mod value;

use std::fmt;
use std::path::Path;

use serde::Deserialize;

pub use admin::AdminConfig;
pub use analytics::{
    AnalyticsConfig, AuthFailureSpikeConfig, BolaConfig, BruteForceConfig,
    CredentialStuffingConfig, DetectorsConfig, ErrorBurstConfig, LatencyAnomalyConfig,
    MAX_SENSITIVE_PATHS, MassAssignmentConfig, NewEndpointConfig, ProbingConfig, ScrapingConfig,
    SignatureDetectorConfig, StoreConfig, UnusualClientConfig, VolumeAnomalyConfig,
};
pub use auth::{ApiKeyConfig, ApiKeysConfig, AuthConfig, digest};
pub use batch::{BatchConfig, ModelConfig, SegmentsConfig};
pub use blocks::StaticBlock;
pub use decisions::{DecisionRule, DecisionsConfig};
pub use fleet::{ClusterLimitFailure, FleetConfig};
pub use jwt::{
    JwtAlgorithm, JwtConfig, JwtKeyConfig, JwtKeyFamily, JwtKeySource, JwtUpstreamHeaders,
};
pub use limits::{ClientKeyKind, LimitScope, Rate, RateLimitsConfig, RouteRateLimit};
pub use log::{LogConfig, LogFormat};
pub use login::{LoginConfig, Pattern};
pub use openapi::{OpenApiConfig, UnknownPolicy, ValidationMode};
pub use proxy::{LimitsConfig, ProxyConfig, TimeoutsConfig, TlsConfig, TlsVersion};
pub use routes::{RouteAuth, RouteConfig, RoutesConfig, UnknownRoutes};
pub use siem::{SchemaName, SiemConfig, SinkConfig, SinkType, SyslogTransport, WhenFull};
pub use signatures::{InspectMode, SignaturesConfig, UndecodableBodies};
pub use tee::TeeConfig;
pub use upstream::UpstreamConfig;
pub use value::{Network, Parsed};

/// The whole Palisade configuration (`palisade.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The inline proxy: listeners, TLS, timeouts, caps, header handling.
    #[serde(default)]
    pub proxy: ProxyConfig,
    /// The protected service. Required.
    pub upstream: UpstreamConfig,
    /// Defaults for routes, and what happens to undeclared paths.
    #[serde(default)]
    pub routes: RoutesConfig,
    /// The service's declared endpoints.
    #[serde(default)]
    pub route: Vec<RouteConfig>,
    /// The service's OpenAPI document: routes and request validation.
    #[serde(default)]
    pub openapi: OpenApiConfig,
    /// The attack-signature engine.
    #[serde(default)]
    pub signatures: SignaturesConfig,
    /// How rate limits key clients and keep their memory bounded.
    #[serde(default)]
    pub rate_limits: RateLimitsConfig,
    /// Credentials Palisade verifies.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The ring between the proxy and the analytics worker.
    #[serde(default)]
    pub tee: TeeConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Static blocks, enforced from start-up.
    #[serde(default)]
    pub blocks: Vec<StaticBlock>,
    /// The analytics worker: baselines and detectors.
    #[serde(default)]
    pub analytics: AnalyticsConfig,
    /// What findings lead to: blocks or alerts.
    #[serde(default)]
    pub decisions: DecisionsConfig,
    /// Durable state.
    #[serde(default)]
    pub store: StoreConfig,
    /// The admin listener: JSON API, dashboard, `/metrics`.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Forwarding to SIEMs through the store's outbox.
    #[serde(default)]
    pub siem: SiemConfig,
    /// Sharing blocks, cluster-wide limits and detection counters with the other
    /// sidecars of the service, through Redis.
    #[serde(default)]
    pub fleet: FleetConfig,
    /// Batch analytics: the event window, baselines, client model, segments.
    #[serde(default)]
    pub batch: BatchConfig,
}

impl Config {
    /// Parses and validates a config; on failure returns every problem found.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| syntax_error(text, &e))?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let mut problem = ConfigProblem {
                key: if key == "." { String::new() } else { key },
                message: inner.message().to_string(),
                hint: hint_for_serde_message(inner.message()).to_string(),
            };
            if let Some(line) = inner.span().map(|s| line_of(text, s.start)) {
                problem.message = format!("{} (line {line})", problem.message);
            }
            ConfigError {
                problems: vec![problem],
            }
        })?;
        let mut problems = Problems::default();
        config.validate(&mut problems);
        if problems.0.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError {
                problems: problems.0,
            })
        }
    }

    /// Reads, parses and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            problems: vec![ConfigProblem {
                key: String::new(),
                message: format!("cannot read {}: {e}", path.display()),
                hint: "pass the path of an existing, readable file with --config".into(),
            }],
        })?;
        Config::parse(&text)
    }

    fn validate(&self, p: &mut Problems) {
        self.proxy.validate(p);
        self.upstream.validate(p);
        routes::validate(&self.routes, &self.route, self.openapi.spec.is_some(), p);
        self.openapi.validate(p);
        self.auth.validate(p);
        routes::validate_auth(&self.route, &self.auth, self.openapi.spec.is_some(), p);
        self.rate_limits.validate(p);
        self.signatures.validate(p);
        limits::validate_route_caps(&self.route, &self.proxy.limits, p);
        self.tee.validate(p);
        self.log.validate(p);
        self.analytics.validate(p);
        self.decisions.validate(p);
        self.store.validate(p);
        self.admin.validate(p);
        self.siem.validate(p);
        self.fleet.validate(p);
        self.batch.validate(p);
        if !self.fleet.enabled {
            let cluster = |l: &Option<RouteRateLimit>| {
                l.as_ref().is_some_and(|l| l.scope == LimitScope::Cluster)
            };
            if cluster(&self.routes.rate_limit) {
                p.push(
                    "routes.rate_limit.scope",
                    "\"cluster\" needs the fleet, and [fleet] is not enabled",
                    "enable [fleet] (Redis shared by the sidecars), or use scope = \"local\"",
                );
            }
            for (i, r) in self.route.iter().enumerate() {
                if cluster(&r.rate_limit) {
                    p.push(
                        format!("route[{i}].rate_limit.scope"),
                        "\"cluster\" needs the fleet, and [fleet] is not enabled",
                        "enable [fleet] (Redis shared by the sidecars), or use scope = \"local\"",
                    );
                }
            }
        }
        for (i, b) in self.blocks.iter().enumerate() {
            b.validate(&format!("blocks[{i}]"), p);
        }
    }
}

/// One thing wrong with a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Where: a dotted key path such as `proxy.timeouts.idle` (empty for the file).
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_empty() {
            "(file)"
        } else {
            &self.key
        };
        write!(f, "{key}: {}\n    hint: {}", self.message, self.hint)
    }
}

/// Every problem that made a config unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "invalid configuration ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// Collects problems during validation.
#[derive(Debug, Default)]
pub struct Problems(Vec<ConfigProblem>);

impl Problems {
    /// Records a problem at `key`.
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>, hint: &str) {
        self.0.push(ConfigProblem {
            key: key.into(),
            message: message.into(),
            hint: hint.to_string(),
        });
    }

    pub fn into_vec(self) -> Vec<ConfigProblem> {
        self.0
    }
}

fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let at = e
        .span()
        .map(|s| format!(" (line {})", line_of(text, s.start)))
        .unwrap_or_default();
    ConfigError {
        problems: vec![ConfigProblem {
            key: String::new(),
            message: format!("not valid TOML: {}{at}", e.message().trim()),
            hint: "fix the TOML syntax; compare with palisade.example.toml".into(),
        }],
    }
}

fn hint_for_serde_message(message: &str) -> &'static str {
    if message.starts_with("unknown field") {
        "remove or rename the key; every key is listed in palisade.example.toml"
    } else if message.starts_with("missing field") {
        "add the key; palisade.example.toml shows it with its default"
    } else if message.starts_with("invalid type") {
        "use the type shown in palisade.example.toml (strings in quotes, numbers bare)"
    } else {
        "see palisade.example.toml for the accepted values"
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests;
