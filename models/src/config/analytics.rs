//! Owns the `[analytics]`, `[analytics.detectors.*]` and `[store]` sections: what
//! the analytics worker tracks, when each detector fires, and where state is
//! kept. What a finding leads to is `[decisions]` (decisions.rs).

use std::time::Duration;

use serde::Deserialize;

use super::Problems;
use super::value::{Dur, dur};

/// `[store]`: durable state (blocks, findings, inventory, baselines).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Path of the redb database file; its directory is created. Relative paths are
    /// relative to the working directory. Default: "palisade-data/palisade.redb".
    #[serde(default = "default_store_path")]
    pub path: String,
    /// Findings older than this are deleted. Default: 30d.
    #[serde(default = "default_retention")]
    pub retention: Dur,
    /// At most this many findings are kept (oldest deleted first). Default: 1000000.
    #[serde(default = "default_max_findings")]
    pub max_findings: u64,
    /// At most this many block audit records are kept. Default: 100000.
    #[serde(default = "default_max_audit")]
    pub max_audit: u64,
    /// How often the inventory and baselines are written. Default: 10s.
    #[serde(default = "default_persist_interval")]
    pub persist_interval: Dur,
    /// Quota on the bytes the store's records occupy in its file. Past it, new
    /// findings are kept in memory only (at most 10000, still shown and
    /// blocking), other new records are not written, `palisade_store_degraded`
    /// is 1 and the log says what to do; writes resume once retention frees
    /// space. The file itself may be larger by redb's last growth step
    /// (allocated sparsely). At least 1048576 (1 MiB). Default: 1073741824 (1 GiB).
    #[serde(default = "default_store_max_bytes")]
    pub max_bytes: u64,
}

/// The smallest `store.max_bytes`: an empty store already takes about this.
pub const MIN_STORE_BYTES: u64 = 1024 * 1024;

fn default_store_max_bytes() -> u64 {
    1024 * 1024 * 1024
}

fn default_store_path() -> String {
    "palisade-data/palisade.redb".into()
}
fn default_retention() -> Dur {
    dur("30d")
}
fn default_max_findings() -> u64 {
    1_000_000
}
fn default_max_audit() -> u64 {
    100_000
}
fn default_persist_interval() -> Dur {
    dur("10s")
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: default_store_path(),
            retention: default_retention(),
            max_findings: default_max_findings(),
            max_audit: default_max_audit(),
            persist_interval: default_persist_interval(),
            max_bytes: default_store_max_bytes(),
        }
    }
}

impl StoreConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        if self.path.trim().is_empty() {
            p.push(
                "store.path",
                "the path is empty",
                "name a file such as /var/lib/palisade/palisade.redb",
            );
        }
        self.retention
            .check("store.retention", "a duration such as 30d", p);
        self.persist_interval
            .check("store.persist_interval", "a duration such as 10s", p);
        if self.persist_interval.ok().is_some() && self.persist_interval.duration().is_zero() {
            p.push(
                "store.persist_interval",
                "must be more than zero",
                "10s is a good default",
            );
        }
        if self.max_bytes < MIN_STORE_BYTES {
            p.push(
                "store.max_bytes",
                format!("{} bytes is below 1 MiB", self.max_bytes),
                "give the store at least 1048576 bytes; 1073741824 (1 GiB) is the default",
            );
        }
    }
}

/// `[analytics]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Run the detectors. Off, the worker still drains the tee. Default: true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Clients (addresses and principals) tracked at once; about 1 KiB each.
    /// Beyond it, idle clients are evicted early and new ones go untracked (counted).
    /// Default: 1000000.
    #[serde(default = "default_max_clients")]
    pub max_clients: usize,
    /// A client unseen for this long is forgotten. Default: 10m.
    #[serde(default = "default_client_idle")]
    pub client_idle: Dur,
    /// The per-client counting window; detectors look at the last one to two
    /// windows. Default: 1m.
    #[serde(default = "default_client_window")]
    pub client_window: Dur,
    /// Endpoint counters roll over every bucket; volume, latency and error baselines
    /// learn from complete buckets. Default: 10s.
    #[serde(default = "default_endpoint_bucket")]
    pub endpoint_bucket: Dur,
    /// Endpoints (method and template) kept in the inventory. Default: 10000.
    #[serde(default = "default_max_endpoints")]
    pub max_endpoints: usize,
    /// Distinct literal values a path segment may take before it is treated as an
    /// id (`/users/alice`, `/users/bob`, … become `/users/{name}`). Default: 50.
    #[serde(default = "default_max_literals")]
    pub max_segment_literals: usize,
    /// Object ids whose owner (the principal that normally reads them) is
    /// remembered, for BOLA detection. Default: 1000000.
    #[serde(default = "default_max_objects")]
    pub max_objects: usize,
    /// Time after the first event during which undeclared endpoints are learned
    /// quietly and anomaly baselines warm up. Default: 10m.
    #[serde(default = "default_learning_period")]
    pub learning_period: Dur,
    /// Per-detector settings.
    #[serde(default)]
    pub detectors: DetectorsConfig,
}

fn yes() -> bool {
    true
}
fn default_max_clients() -> usize {
    1_000_000
}
fn default_client_idle() -> Dur {
    dur("10m")
}
fn default_client_window() -> Dur {
    dur("1m")
}
fn default_endpoint_bucket() -> Dur {
    dur("10s")
}
fn default_max_endpoints() -> usize {
    10_000
}
fn default_max_literals() -> usize {
    50
}
fn default_max_objects() -> usize {
    1_000_000
}
fn default_learning_period() -> Dur {
    dur("10m")
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_clients: default_max_clients(),
            client_idle: default_client_idle(),
            client_window: default_client_window(),
            endpoint_bucket: default_endpoint_bucket(),
            max_endpoints: default_max_endpoints(),
            max_segment_literals: default_max_literals(),
            max_objects: default_max_objects(),
            learning_period: default_learning_period(),
            detectors: DetectorsConfig::default(),
        }
    }
}

macro_rules! detector_config {
    (
        $(#[$doc:meta])* $name:ident {
            $( $(#[$fdoc:meta])* $field:ident : $ty:ty = $default:expr ),* $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            /// Whether the detector runs. Default: true.
            pub enabled: bool,
            $( $(#[$fdoc])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { enabled: true, $( $field: $default, )* }
            }
        }
    };
}

detector_config! {
    /// `[analytics.detectors.auth_failure_spike]`
    AuthFailureSpikeConfig {
        /// 401/403 answers to one address within one to two windows. Default: 20.
        client_failures: u32 = 20,
        /// …that are at least this share of its requests. Default: 0.5.
        client_ratio: f64 = 0.5,
        /// 401/403 answers on one endpoint within one bucket. Default: 30.
        endpoint_failures: u32 = 30,
        /// …that many standard deviations above the endpoint's baseline. Default: 4.
        endpoint_sigmas: f64 = 4.0,
        /// …from at least this many distinct clients. Default: 5.
        endpoint_clients: u32 = 5,
    }
}

detector_config! {
    /// `[analytics.detectors.bola_enumeration]`
    BolaConfig {
        /// Distinct object ids of one template answered 403/404 to one principal.
        /// Default: 10.
        denied_ids: u32 = 10,
        /// Distinct object ids of one template in a sequential or dense walk.
        /// Default: 20.
        walk_ids: u32 = 20,
        /// Share of steps between consecutive ids of at most 2 that makes a walk
        /// sequential. Default: 0.6.
        sequential_share: f64 = 0.6,
        /// Distinct ids read successfully that traffic shows belong to other
        /// principals. Default: 10.
        foreign_ids: u32 = 10,
        /// A template counts as owned (each id read by one principal) once this many
        /// successful reads were seen and at least `owned_share` of them by the id's
        /// owner. Defaults: 50 and 0.8.
        owned_min_reads: u32 = 50,
        owned_share: f64 = 0.8,
    }
}

detector_config! {
    /// `[analytics.detectors.credential_stuffing]`
    CredentialStuffingConfig {
        /// Distinct usernames failing from one address. Default: 10.
        usernames_per_client: u32 = 10,
        /// Largest share of successful logins an address may have and still be
        /// counted as stuffing. Default: 0.2.
        max_success_share: f64 = 0.2,
        /// A campaign: failures sharing one client shape (User-Agent) from at least
        /// this many addresses… Default: 10.
        campaign_clients: u32 = 10,
        /// …over at least this many usernames. Default: 20.
        campaign_usernames: u32 = 20,
        /// …with at least this share failing. Default: 0.9.
        campaign_failure_share: f64 = 0.9,
    }
}

detector_config! {
    /// `[analytics.detectors.brute_force]`
    BruteForceConfig {
        /// Failed logins from one address on at most two usernames. Default: 10.
        client_failures: u32 = 10,
        /// Failed logins on one username… Default: 20.
        username_failures: u32 = 20,
        /// …from at least this many addresses. Default: 5.
        username_clients: u32 = 5,
    }
}

detector_config! {
    /// `[analytics.detectors.scraping]`
    ScrapingConfig {
        /// Requests in one window never flagged below this. Default: 300.
        min_requests: u32 = 300,
        /// Times the 95th percentile of per-client volume per window. Default: 10.
        factor: f64 = 10.0,
        /// Distinct object ids of one shared (not owned) template in one to two
        /// windows. Default: 200.
        distinct_objects: u32 = 200,
    }
}

/// Highest `analytics.detectors.probing.sensitive_paths`: the analytics worker
/// counts that many distinct sensitive paths per client and window exactly, and
/// no more.
pub const MAX_SENSITIVE_PATHS: u32 = 8;

detector_config! {
    /// `[analytics.detectors.probing]`
    ProbingConfig {
        /// Distinct paths answered 404 to one address. Default: 20 (medium),
        /// twice that is high.
        not_found_paths: u32 = 20,
        /// Distinct well-known sensitive files (/.env, /.git/, backups, admin
        /// consoles) one address asked for, on paths no route declares or that
        /// were refused; 1 to `MAX_SENSITIVE_PATHS` (8), counted exactly.
        /// Default: 3 (high).
        sensitive_paths: u32 = 3,
    }
}

detector_config! {
    /// `[analytics.detectors.volume_anomaly]`
    VolumeAnomalyConfig {
        /// Requests in one bucket never flagged below this. Default: 100.
        min_requests: u32 = 100,
        /// Standard deviations above the endpoint's baseline. Default: 5.
        sigmas: f64 = 5.0,
        /// Times the baseline mean. Default: 3.
        factor: f64 = 3.0,
    }
}

detector_config! {
    /// `[analytics.detectors.latency_anomaly]`
    LatencyAnomalyConfig {
        /// Requests in a bucket needed to judge its latency. Default: 20.
        min_requests: u32 = 20,
        /// p95 at least this many times the baseline p95… Default: 3.
        factor: f64 = 3.0,
        /// …and at least this much above it, in milliseconds. Default: 100.
        min_increase_ms: u64 = 100,
    }
}

detector_config! {
    /// `[analytics.detectors.error_burst]`
    ErrorBurstConfig {
        /// 5xx answers in one bucket. Default: 20.
        min_errors: u32 = 20,
        /// …at least this share of the bucket's requests. Default: 0.2.
        min_share: f64 = 0.2,
        /// …and this many times the baseline share. Default: 5.
        factor: f64 = 5.0,
    }
}

detector_config! {
    /// `[analytics.detectors.new_endpoint]`
    NewEndpointConfig {
        /// Non-404 answers a new template needs before it is reported. Default: 5.
        min_requests: u32 = 5,
    }
}

detector_config! {
    /// `[analytics.detectors.signature]`
    SignatureDetectorConfig {
        /// Requests with signature hits from one client within one to two windows.
        /// Default: 5.
        hits: u32 = 5,
    }
}

detector_config! {
    /// `[analytics.detectors.mass_assignment]`: one request carrying body
    /// properties an OpenAPI operation does not accept and that grant
    /// privileges or set server-owned state (`openapi.mass_assignment_fields`,
    /// `readOnly`, the returned resource's own) is a finding, reported again for
    /// the same client after two windows at the earliest.
    MassAssignmentConfig {}
}

detector_config! {
    /// `[analytics.detectors.unusual_client]`: clients the client-behaviour model
    /// (`[batch.model]`) finds far from every cluster of ordinary clients.
    UnusualClientConfig {
        /// Score above which a client is reported: its distance to the nearest
        /// cluster centre over the distance within which 99% of that cluster's
        /// clients lie. Default: 2.
        min_score: f64 = 2.0,
        /// Requests a client needs in the window to be scored. Default: 20.
        min_requests: u32 = 20,
        /// The same client is reported again after this long at the earliest.
        /// Default: 1h.
        cooldown: Dur = dur("1h"),
    }
}

/// `[analytics.detectors]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorsConfig {
    #[serde(default)]
    pub auth_failure_spike: AuthFailureSpikeConfig,
    #[serde(default)]
    pub bola_enumeration: BolaConfig,
    #[serde(default)]
    pub credential_stuffing: CredentialStuffingConfig,
    #[serde(default)]
    pub brute_force: BruteForceConfig,
    #[serde(default)]
    pub scraping: ScrapingConfig,
    #[serde(default)]
    pub probing: ProbingConfig,
    #[serde(default)]
    pub volume_anomaly: VolumeAnomalyConfig,
    #[serde(default)]
    pub latency_anomaly: LatencyAnomalyConfig,
    #[serde(default)]
    pub error_burst: ErrorBurstConfig,
    #[serde(default)]
    pub new_endpoint: NewEndpointConfig,
    #[serde(default)]
    pub signature: SignatureDetectorConfig,
    #[serde(default)]
    pub mass_assignment: MassAssignmentConfig,
    #[serde(default)]
    pub unusual_client: UnusualClientConfig,
}

impl AnalyticsConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        for (key, d) in [
            ("analytics.client_idle", &self.client_idle),
            ("analytics.client_window", &self.client_window),
            ("analytics.endpoint_bucket", &self.endpoint_bucket),
            ("analytics.learning_period", &self.learning_period),
        ] {
            d.check(key, "a duration such as 1m", p);
        }
        for (key, d) in [
            ("analytics.client_window", &self.client_window),
            ("analytics.endpoint_bucket", &self.endpoint_bucket),
        ] {
            if d.ok().is_some() && d.duration() < Duration::from_secs(1) {
                p.push(key, "must be at least 1s", "the defaults are 1m and 10s");
            }
        }
        for (key, n) in [
            ("analytics.max_clients", self.max_clients),
            ("analytics.max_endpoints", self.max_endpoints),
            ("analytics.max_segment_literals", self.max_segment_literals),
            ("analytics.max_objects", self.max_objects),
        ] {
            if n == 0 {
                p.push(
                    key,
                    "must be more than zero",
                    "remove the key for the default",
                );
            }
        }
        let d = &self.detectors;
        let sensitive = d.probing.sensitive_paths;
        if !(1..=MAX_SENSITIVE_PATHS).contains(&sensitive) {
            p.push(
                "analytics.detectors.probing.sensitive_paths",
                format!("{sensitive} is not between 1 and {MAX_SENSITIVE_PATHS}"),
                &format!(
                    "distinct sensitive files are counted exactly up to {MAX_SENSITIVE_PATHS}; 3 is the default"
                ),
            );
        }
        let u = &d.unusual_client;
        u.cooldown.check(
            "analytics.detectors.unusual_client.cooldown",
            "a duration such as 1h",
            p,
        );
        if !(u.min_score.is_finite() && u.min_score > 0.0) {
            p.push(
                "analytics.detectors.unusual_client.min_score",
                format!("{} is not a positive number", u.min_score),
                "1 is the edge of a cluster; 2 (the default) twice as far out",
            );
        }
        for (key, share) in [
            (
                "analytics.detectors.auth_failure_spike.client_ratio",
                d.auth_failure_spike.client_ratio,
            ),
            (
                "analytics.detectors.bola_enumeration.sequential_share",
                d.bola_enumeration.sequential_share,
            ),
            (
                "analytics.detectors.bola_enumeration.owned_share",
                d.bola_enumeration.owned_share,
            ),
            (
                "analytics.detectors.credential_stuffing.max_success_share",
                d.credential_stuffing.max_success_share,
            ),
            (
                "analytics.detectors.credential_stuffing.campaign_failure_share",
                d.credential_stuffing.campaign_failure_share,
            ),
            (
                "analytics.detectors.error_burst.min_share",
                d.error_burst.min_share,
            ),
        ] {
            if !(0.0..=1.0).contains(&share) {
                p.push(
                    key,
                    format!("{share} is not a share"),
                    "write a number from 0 to 1",
                );
            }
        }
    }
}
