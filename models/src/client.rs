//! Owns `ClientKeys`: every identity a request is known by (address, JWT subject,
//! API key id). The block table and, later, limits and baselines are keyed by these.
//! Must never hold a credential, only identifiers derived after verification.

use std::net::IpAddr;

/// The identities of one request's client, as far as the proxy knows them.
/// Borrowed, so looking a client up allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientKeys<'a> {
    /// The client address (trusted-proxy aware).
    pub ip: IpAddr,
    /// The verified JWT subject.
    pub subject: Option<&'a str>,
    /// The verified API key's id.
    pub api_key_id: Option<&'a str>,
}
