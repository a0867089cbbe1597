//! Owns how a client is named for rate limiting: the first identity present in
//! `[rate_limits].client_key` order, as a small fixed-size key. Subjects and key
//! ids are hashed (with a per-process random seed) so the table never holds an
//! identity string and every key costs 16 bytes; IPv6 clients are keyed by their
//! /64, the block one subscriber usually gets, so one host cannot dodge its
//! limit by walking its own prefix.
//!
//! Must not allocate.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;

use palisade_models::ClientKeys;
use palisade_models::config::ClientKeyKind;

/// A client as the per-client limiters count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LimitKey {
    V4(u32),
    /// The upper 64 bits of an IPv6 address.
    V6(u64),
    Subject(u64),
    ApiKey(u64),
}

/// Derives limit keys in the configured order.
#[derive(Debug)]
pub(crate) struct KeyRule {
    order: Vec<ClientKeyKind>,
    seed: RandomState,
}

impl KeyRule {
    pub(crate) fn new(order: &[ClientKeyKind]) -> Self {
        Self {
            order: order.to_vec(),
            seed: RandomState::new(),
        }
    }

    /// `rate_limits.client_key`, for naming clients in the fleet's buckets.
    pub(crate) fn order(&self) -> &[ClientKeyKind] {
        &self.order
    }

    pub(crate) fn key(&self, client: &ClientKeys<'_>) -> LimitKey {
        for kind in &self.order {
            match kind {
                ClientKeyKind::Subject => {
                    if let Some(s) = client.subject {
                        return LimitKey::Subject(self.seed.hash_one(s));
                    }
                }
                ClientKeyKind::ApiKey => {
                    if let Some(k) = client.api_key_id {
                        return LimitKey::ApiKey(self.seed.hash_one(k));
                    }
                }
                ClientKeyKind::Ip => return ip_key(client.ip),
            }
        }
        // Validation requires "ip" in the list; this is only reached without it.
        ip_key(client.ip)
    }
}

fn ip_key(ip: IpAddr) -> LimitKey {
    match ip {
        IpAddr::V4(v4) => LimitKey::V4(v4.to_bits()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => LimitKey::V4(v4.to_bits()),
            None => LimitKey::V6((v6.to_bits() >> 64) as u64),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client<'a>(ip: &str, subject: Option<&'a str>, key: Option<&'a str>) -> ClientKeys<'a> {
        ClientKeys {
            ip: ip.parse().unwrap(),
            subject,
            api_key_id: key,
        }
    }

    #[test]
    fn first_present_identity_wins() {
        let rule = KeyRule::new(&[
            ClientKeyKind::Subject,
            ClientKeyKind::ApiKey,
            ClientKeyKind::Ip,
        ]);
        let a = rule.key(&client("10.0.0.1", Some("alice"), Some("k1")));
        let b = rule.key(&client("10.0.0.2", Some("alice"), None));
        assert_eq!(a, b, "the subject wins over key and address");
        assert!(matches!(a, LimitKey::Subject(_)));
        let k = rule.key(&client("10.0.0.1", None, Some("k1")));
        assert!(matches!(k, LimitKey::ApiKey(_)));
        assert_eq!(
            rule.key(&client("10.0.0.1", None, None)),
            LimitKey::V4(0x0a00_0001)
        );
        let ip_only = KeyRule::new(&[ClientKeyKind::Ip]);
        assert_eq!(
            ip_only.key(&client("10.0.0.1", Some("alice"), None)),
            LimitKey::V4(0x0a00_0001)
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let rule = KeyRule::new(&[ClientKeyKind::Ip]);
        let a = rule.key(&client("2001:db8:1:2::1", None, None));
        let b = rule.key(&client("2001:db8:1:2:ffff:ffff:ffff:ffff", None, None));
        let c = rule.key(&client("2001:db8:1:3::1", None, None));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            rule.key(&client("::ffff:10.0.0.1", None, None)),
            LimitKey::V4(0x0a00_0001)
        );
    }
}
