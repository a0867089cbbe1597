//! Owns the rate-limit settings: the `[rate_limits]` section (how clients are
//! keyed, how the limiter's memory stays bounded) and the per-route
//! `rate_limit = { client = "100/min", global = "2000/s" }` policy with its
//! `Rate` value type.
//!
//! Must not decide anything at request time: the proxy's limiter owns that.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use super::Problems;
use super::value::Parsed;

/// `[rate_limits]`: how the per-client limiters key clients and stay bounded.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// Which identity a client is counted by, first present wins: "subject" (the
    /// JWT subject), "api_key" (the key id), "ip" (the client address; IPv6
    /// clients by their /64). Default: ["subject", "api_key", "ip"].
    #[serde(default = "default_client_key")]
    pub client_key: Vec<ClientKeyKind>,
    /// New clients each per-client limiter admits to its table per
    /// `sweep_interval`. Beyond it, further new clients share one bucket until
    /// the next sweep, so an attacker rotating addresses cannot grow memory
    /// without bound (they are limited together instead). Default: 100000.
    #[serde(default = "default_new_keys")]
    pub new_keys_per_interval: u32,
    /// How often idle clients are dropped from the limiters' tables and the
    /// tables shrunk. Default: "10s".
    #[serde(default = "default_sweep")]
    pub sweep_interval: Parsed<humantime::Duration>,
}

/// One way of naming a client for rate limiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKeyKind {
    Subject,
    ApiKey,
    Ip,
}

/// `rate_limit = { … }` on a route (or `[routes.rate_limit]` for the default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRateLimit {
    /// Requests one client may make, e.g. "100/min", "10/s", "5/10s".
    /// Default: no per-client limit.
    #[serde(default)]
    pub client: Option<Parsed<Rate>>,
    /// Requests a client may make at once after being idle. Default: the
    /// count in `client` (so "100/min" allows a burst of 100).
    #[serde(default)]
    pub client_burst: Option<u32>,
    /// Requests all clients together may make on the route, e.g. "2000/s".
    /// Default: no global limit.
    #[serde(default)]
    pub global: Option<Parsed<Rate>>,
    /// Burst for `global`. Default: the count in `global`.
    #[serde(default)]
    pub global_burst: Option<u32>,
    /// "local": each sidecar counts on its own. "cluster": the limits hold across
    /// every sidecar of the fleet (needs `[fleet]`): each sidecar takes small
    /// leases of tokens from one bucket in Redis, so clean traffic rarely waits
    /// for it. Default: "local".
    #[serde(default)]
    pub scope: LimitScope,
}

/// `rate_limit.scope`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    #[default]
    Local,
    Cluster,
}

/// A number of requests per period, written "100/min", "10/s" or "5/10s".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (count, per) = s
            .split_once('/')
            .ok_or_else(|| "expected <count>/<period>, such as 100/min".to_string())?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{}` is not a whole number", count.trim()))?;
        if count == 0 {
            return Err("the count must be at least 1".into());
        }
        let per = per.trim();
        let period = match per {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            _ => humantime::parse_duration(per).map_err(|e| format!("period `{per}`: {e}"))?,
        };
        if period.is_zero() {
            return Err("the period must be longer than zero".into());
        }
        if period > Duration::from_secs(86_400) {
            return Err("the period must be at most a day".into());
        }
        Ok(Rate { count, per: period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.count, self.per.as_secs_f64())
    }
}

fn default_client_key() -> Vec<ClientKeyKind> {
    vec![
        ClientKeyKind::Subject,
        ClientKeyKind::ApiKey,
        ClientKeyKind::Ip,
    ]
}

fn default_new_keys() -> u32 {
    100_000
}

fn default_sweep() -> Parsed<humantime::Duration> {
    Parsed::new("10s")
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        Self {
            client_key: default_client_key(),
            new_keys_per_interval: default_new_keys(),
            sweep_interval: default_sweep(),
        }
    }
}

const RATE_HINT: &str = "write <count>/<period>, such as \"100/min\", \"10/s\" or \"5/10s\"";

impl RateLimitsConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        if !self.client_key.contains(&ClientKeyKind::Ip) {
            p.push(
                "rate_limits.client_key",
                "\"ip\" is missing, so clients without a credential would not be limited",
                "end the list with \"ip\", such as [\"subject\", \"api_key\", \"ip\"]",
            );
        }
        if self.new_keys_per_interval == 0 {
            p.push(
                "rate_limits.new_keys_per_interval",
                "0 would put every client in one shared bucket",
                "allow at least as many new clients per interval as you expect, such as 100000",
            );
        }
        self.sweep_interval
            .check("rate_limits.sweep_interval", "a duration such as 10s", p);
        if let Some(d) = self.sweep_interval.ok()
            && !(Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&(*d).into())
        {
            p.push(
                "rate_limits.sweep_interval",
                format!("`{}` is outside 100ms..1h", self.sweep_interval.raw()),
                "sweep often enough to bound memory, such as every 10s",
            );
        }
    }
}

impl RouteRateLimit {
    pub(crate) fn validate(&self, at: &str, p: &mut Problems) {
        if let Some(r) = &self.client {
            r.check(format!("{at}.client"), RATE_HINT, p);
        }
        if let Some(r) = &self.global {
            r.check(format!("{at}.global"), RATE_HINT, p);
        }
        for (name, burst, rate) in [
            ("client_burst", self.client_burst, &self.client),
            ("global_burst", self.global_burst, &self.global),
        ] {
            match (burst, rate) {
                (Some(0), _) => p.push(
                    format!("{at}.{name}"),
                    "a burst of 0 would refuse every request",
                    "use at least 1, or leave it out to use the rate's count",
                ),
                (Some(_), None) => p.push(
                    format!("{at}.{name}"),
                    "a burst without its rate does nothing",
                    "set the rate too, or remove the burst",
                ),
                _ => {}
            }
        }
        if self.client.is_none() && self.global.is_none() {
            p.push(
                at.to_string(),
                "neither `client` nor `global` is set",
                "set client = \"100/min\" and/or global = \"2000/s\", or remove rate_limit",
            );
        }
    }
}

/// Checks each route's head caps against the proxy-wide ones, which apply first.
pub(crate) fn validate_route_caps(
    declared: &[super::RouteConfig],
    proxy: &super::LimitsConfig,
    p: &mut Problems,
) {
    for (i, r) in declared.iter().enumerate() {
        if let Some(n) = r.max_header_bytes
            && !(1..=proxy.max_header_bytes).contains(&n)
        {
            p.push(
                format!("route[{i}].max_header_bytes"),
                format!(
                    "{n} is outside 1..={} (proxy.limits.max_header_bytes)",
                    proxy.max_header_bytes
                ),
                "a route can lower the proxy-wide cap, not raise it",
            );
        }
        if let Some(n) = r.max_url_bytes
            && !(1..=proxy.max_url_bytes).contains(&n)
        {
            p.push(
                format!("route[{i}].max_url_bytes"),
                format!(
                    "{n} is outside 1..={} (proxy.limits.max_url_bytes)",
                    proxy.max_url_bytes
                ),
                "a route can lower the proxy-wide cap, not raise it",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_several_forms() {
        let r = |s: &str| s.parse::<Rate>();
        assert_eq!(
            r("100/min"),
            Ok(Rate {
                count: 100,
                per: Duration::from_secs(60)
            })
        );
        assert_eq!(r("10/s").map(|r| r.per), Ok(Duration::from_secs(1)));
        assert_eq!(r("5/10s").map(|r| r.per), Ok(Duration::from_secs(10)));
        assert_eq!(r(" 7 / 1h ").map(|r| r.count), Ok(7));
        assert!(r("0/s").is_err());
        assert!(r("100").is_err());
        assert!(r("x/s").is_err());
        assert!(r("1/0s").is_err());
        assert!(r("1/fortnight").is_err());
        assert!(r("1/2d").is_err());
    }
}
