//! Owns `Parsed<T>`: a config value kept as the operator wrote it together with the
//! result of parsing it. Deserialisation never fails on a bad value, so validation
//! can report every bad value at once, each with its key path and a hint, instead
//! of stopping at the first.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use super::Problems;

/// A string from the config file and what it parsed to.
#[derive(Clone)]
pub struct Parsed<T> {
    raw: String,
    value: Result<T, String>,
}

impl<T: FromStr> Parsed<T>
where
    T::Err: fmt::Display,
{
    /// Parses `raw`, keeping the error for validation to report.
    pub fn new(raw: impl Into<String>) -> Self {
        let raw = raw.into();
        let value = raw.trim().parse::<T>().map_err(|e| e.to_string());
        Self { raw, value }
    }
}

impl<T> Parsed<T> {
    /// The value as written in the file.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The parsed value.
    pub fn get(&self) -> &T {
        match &self.value {
            Ok(v) => v,
            // INVARIANT: `Config::parse`, the only way the program obtains a `Config`,
            // rejects any config in which a `Parsed` value failed to parse.
            Err(e) => panic!("config value `{}` used unvalidated: {e}", self.raw),
        }
    }

    /// The parsed value, or None when it did not parse (validation reports
    /// that through `check`); for checks beyond parsing.
    pub fn ok(&self) -> Option<&T> {
        self.value.as_ref().ok()
    }

    /// Reports a parse failure under `key`, with `hint` saying what is expected.
    pub(crate) fn check(&self, key: impl Into<String>, hint: &str, problems: &mut Problems) {
        if let Err(e) = &self.value {
            problems.push(key, format!("`{}` is not valid: {e}", self.raw), hint);
        }
    }
}

/// A duration field in human form (`30s`, `10m`), checked by `validate`.
pub(super) type Dur = Parsed<humantime::Duration>;

/// A duration field's default, such as `dur("10m")`.
pub(super) fn dur(s: &str) -> Dur {
    Parsed::new(s)
}

impl Parsed<humantime::Duration> {
    /// The duration as a `std::time::Duration`.
    pub fn duration(&self) -> Duration {
        (*self.get()).into()
    }
}

impl<T> fmt::Debug for Parsed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.raw)
    }
}

impl<'de, T: FromStr> Deserialize<'de> for Parsed<T>
where
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Parsed::new)
    }
}

/// A network in CIDR form; a bare address means just that address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network(pub IpNet);

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Network(net.trunc()));
        }
        s.parse::<IpAddr>()
            .map(|ip| Network(IpNet::from(ip)))
            .map_err(|_| "expected an address or a network such as 10.0.0.0/8".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_raw_and_error() {
        let ok: Parsed<humantime::Duration> = Parsed::new("1m 30s");
        assert_eq!(ok.duration(), Duration::from_secs(90));
        let bad: Parsed<humantime::Duration> = Parsed::new("soon");
        let mut p = Problems::default();
        bad.check("proxy.timeouts.idle", "a duration such as 30s", &mut p);
        let problems = p.into_vec();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].key, "proxy.timeouts.idle");
        assert!(problems[0].message.contains("soon"));
    }

    #[test]
    fn network_accepts_bare_addresses() {
        assert_eq!(
            "10.1.2.3".parse::<Network>().unwrap().0,
            "10.1.2.3/32".parse::<IpNet>().unwrap()
        );
        assert_eq!(
            "10.1.2.3/8".parse::<Network>().unwrap().0,
            "10.0.0.0/8".parse::<IpNet>().unwrap()
        );
        assert!("10.1.2".parse::<Network>().is_err());
    }
}
