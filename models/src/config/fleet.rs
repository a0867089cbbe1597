//! Owns the `[fleet]` section: whether this sidecar shares blocks, cluster-wide
//! limits and detection counters with the other sidecars of its service through
//! Redis, and how it reaches Redis. The Redis password never appears in the file
//! (it comes from an environment variable).

use serde::Deserialize;

use super::{Parsed, Problems};

type Duration = Parsed<humantime::Duration>;

/// `[fleet]`: absent or `enabled = false`, the sidecar needs nothing but itself.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// Join the fleet. Default: false.
    #[serde(default)]
    pub enabled: bool,
    /// Redis to meet the fleet at: `redis://host:port/db`, or `rediss://` for TLS.
    /// A user name may be given in the URL; the password may not (see
    /// `password_env`). Default: "redis://127.0.0.1:6379/0".
    #[serde(default = "default_url")]
    pub url: String,
    /// Environment variable holding the Redis password (AUTH). Default:
    /// "PALISADE_REDIS_PASSWORD"; unset means no password.
    #[serde(default = "default_password_env")]
    pub password_env: String,
    /// PEM file of the CA that signed Redis' certificate, for `rediss://` URLs
    /// with a private CA. Default: none (the system's roots).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The service this sidecar protects: every key and channel is namespaced by
    /// it, so one Redis can serve several fleets. Required when enabled.
    #[serde(default)]
    pub service: String,
    /// This sidecar's name in findings, audit records and logs. Default: the host
    /// name and the process id ("web-7f9c:4121").
    #[serde(default)]
    pub instance: Option<String>,
    /// How long one Redis command may take before it counts as failed. Redis is
    /// never waited on by the request path except for a cluster limit whose local
    /// lease ran out, and then for at most this long. Default: 250ms.
    #[serde(default = "default_command_timeout")]
    pub command_timeout: Duration,
    /// How often the link checks Redis when nothing else happens; a failed check
    /// marks fleet sync degraded. Default: 1s.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: Duration,
    /// At start, how long `/readyz` waits for the first synchronisation with the
    /// fleet before reporting ready anyway (degraded, logged). Default: 5s.
    #[serde(default = "default_join_timeout")]
    pub join_timeout: Duration,
    /// How often fleet-wide detection counters are sent and read back. Default: 1s.
    #[serde(default = "default_counter_interval")]
    pub counter_interval: Duration,
    /// What a `scope = "cluster"` limit does while Redis cannot be reached:
    /// "open" falls back to the route's local limit, "closed" refuses with 429.
    /// Default: "open".
    #[serde(default)]
    pub cluster_limit_failure: ClusterLimitFailure,
}

/// `fleet.cluster_limit_failure`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterLimitFailure {
    #[default]
    Open,
    Closed,
}

fn default_url() -> String {
    "redis://127.0.0.1:6379/0".into()
}

fn default_password_env() -> String {
    "PALISADE_REDIS_PASSWORD".into()
}

fn default_command_timeout() -> Duration {
    Parsed::new("250ms")
}

fn default_heartbeat() -> Duration {
    Parsed::new("1s")
}

fn default_join_timeout() -> Duration {
    Parsed::new("5s")
}

fn default_counter_interval() -> Duration {
    Parsed::new("1s")
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            url: default_url(),
            password_env: default_password_env(),
            ca_file: None,
            service: String::new(),
            instance: None,
            command_timeout: default_command_timeout(),
            heartbeat: default_heartbeat(),
            join_timeout: default_join_timeout(),
            counter_interval: default_counter_interval(),
            cluster_limit_failure: ClusterLimitFailure::Open,
        }
    }
}

impl FleetConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        let durations = [
            ("fleet.command_timeout", &self.command_timeout, "250ms"),
            ("fleet.heartbeat", &self.heartbeat, "1s"),
            ("fleet.join_timeout", &self.join_timeout, "5s"),
            ("fleet.counter_interval", &self.counter_interval, "1s"),
        ];
        for (key, d, example) in durations {
            d.check(key, &format!("a duration such as {example}"), p);
            if d.ok()
                .is_some_and(|d| std::time::Duration::from(*d).is_zero())
            {
                p.push(
                    key,
                    "must be more than zero",
                    &format!("{example} is a good default"),
                );
            }
        }
        if !self.enabled {
            return;
        }
        match url::Url::parse(&self.url) {
            Err(e) => p.push(
                "fleet.url",
                format!("`{}` is not a URL: {e}", self.url),
                "redis://host:6379/0, or rediss://host:6380/0 for TLS",
            ),
            Ok(u) if !matches!(u.scheme(), "redis" | "rediss") => p.push(
                "fleet.url",
                format!("scheme `{}` is not redis or rediss", u.scheme()),
                "redis://host:6379/0, or rediss://host:6380/0 for TLS",
            ),
            Ok(u) if u.password().is_some() => p.push(
                "fleet.url",
                "the URL holds a password",
                "remove it from the URL and put it in the variable named by fleet.password_env",
            ),
            Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                p.push("fleet.url", "the URL names no host", "redis://host:6379/0")
            }
            Ok(_) => {}
        }
        if self.service.trim().is_empty() {
            p.push(
                "fleet.service",
                "no service name: the fleet's keys are namespaced by it",
                "name the service the sidecars protect, e.g. \"orders-api\"",
            );
        } else if !self
            .service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            p.push(
                "fleet.service",
                format!(
                    "`{}` holds characters other than letters, digits, - _ .",
                    self.service
                ),
                "use a plain name such as \"orders-api\"",
            );
        }
        if self.password_env.trim().is_empty() {
            p.push(
                "fleet.password_env",
                "the variable name is empty",
                "name an environment variable, e.g. \"PALISADE_REDIS_PASSWORD\"",
            );
        }
        if self.ca_file.as_deref().is_some_and(|f| f.trim().is_empty()) {
            p.push(
                "fleet.ca_file",
                "the path is empty",
                "give the path of a PEM file, or remove the key",
            );
        }
        if self
            .instance
            .as_deref()
            .is_some_and(|i| i.trim().is_empty())
        {
            p.push(
                "fleet.instance",
                "the name is empty",
                "give this sidecar a name, or remove the key to use host:pid",
            );
        }
    }
}
