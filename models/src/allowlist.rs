//! Owns the allowlists of `[decisions]`: clients that analytics never blocks and
//! operators may not block by hand either. One type, so the analytics decisions
//! and the admin API judge a client alike.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::BlockScope;
use crate::config::DecisionsConfig;

/// `decisions.allow_cidrs`, `allow_subjects`, `allow_api_keys`.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    nets: Vec<IpNet>,
    subjects: HashSet<Box<str>>,
    api_keys: HashSet<Box<str>>,
}

impl Allowlist {
    /// The allowlists of a validated config.
    pub fn new(cfg: &DecisionsConfig) -> Self {
        Self {
            nets: cfg.allow_cidrs.iter().map(|n| n.get().0).collect(),
            subjects: cfg
                .allow_subjects
                .iter()
                .map(|s| s.as_str().into())
                .collect(),
            api_keys: cfg
                .allow_api_keys
                .iter()
                .map(|s| s.as_str().into())
                .collect(),
        }
    }

    /// Whether a client with these identities is allowlisted.
    pub fn allows(&self, ip: Option<IpAddr>, subject: Option<&str>, api_key: Option<&str>) -> bool {
        ip.is_some_and(|ip| self.nets.iter().any(|n| n.contains(&ip)))
            || subject.is_some_and(|s| self.subjects.contains(s))
            || api_key.is_some_and(|k| self.api_keys.contains(k))
    }

    /// Whether a block on `scope` would cover an allowlisted client; a network
    /// that overlaps an allowlisted one would.
    pub fn covers(&self, scope: &BlockScope) -> bool {
        match scope {
            BlockScope::Ip(ip) => self.allows(Some(*ip), None, None),
            BlockScope::Cidr(net) => self.nets.iter().any(|n| n.contains(net) || net.contains(n)),
            BlockScope::Subject(s) => self.allows(None, Some(s), None),
            BlockScope::ApiKey(k) => self.allows(None, None, Some(k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn addresses_networks_subjects_and_keys() {
        let c = Config::parse(
            "[upstream]\nurl = \"http://127.0.0.1:9\"\n[routes]\nunknown = \"allow\"\n\
             [decisions]\nallow_cidrs = [\"10.1.0.0/16\"]\nallow_subjects = [\"ops\"]\nallow_api_keys = [\"k1\"]\n",
        )
        .expect("config");
        let a = Allowlist::new(&c.decisions);
        assert!(a.allows(Some("10.1.2.3".parse().unwrap()), None, None));
        assert!(!a.allows(Some("10.2.0.1".parse().unwrap()), Some("alice"), None));
        let scope = |k: &str, v: &str| BlockScope::parse(k, v).unwrap();
        assert!(
            a.covers(&scope("cidr", "10.0.0.0/8")),
            "overlaps from above"
        );
        assert!(a.covers(&scope("cidr", "10.1.9.0/24")), "inside");
        assert!(!a.covers(&scope("cidr", "10.2.0.0/16")));
        assert!(a.covers(&scope("subject", "ops")));
        assert!(a.covers(&scope("api_key", "k1")));
        assert!(!a.covers(&scope("ip", "10.2.0.1")));
    }
}
