//! Owns `DenyEvent`: every denial as a typed value with one `emit()` that writes
//! one structured log line (target `palisade::deny`) and bumps the per-reason
//! counter. Nothing else logs or counts a denial.
//!
//! Must never carry a credential or a query value: the path is logged without
//! its query, and the client is named by address and key id only.

use std::net::IpAddr;

use palisade_models::{DenyCode, Phase};

use crate::stats::ProxyStats;

/// One denial, as it is logged.
#[derive(Debug)]
pub(crate) struct DenyEvent<'a> {
    pub(crate) phase: Phase,
    pub(crate) code: DenyCode,
    pub(crate) client: IpAddr,
    /// The request id (empty for a connection timed out before any request).
    pub(crate) request_id: &'a str,
    /// Method and path without query, when a request head was read.
    pub(crate) method: Option<&'a str>,
    pub(crate) path: Option<&'a str>,
    pub(crate) api_key_id: Option<&'a str>,
    /// Operator-only detail, e.g. which block matched. Never sent to the client.
    pub(crate) detail: Option<&'a str>,
}

impl DenyEvent<'_> {
    /// Logs the denial once and counts it.
    pub(crate) fn emit(&self, stats: &ProxyStats) {
        stats.count_denial(self.code);
        // Upstream failures and shed requests are the operator's problem, not an
        // attack signal, and are summarised by a throttled warning (forward phase,
        // pipeline): a line per shed request would add load just when there is
        // too much.
        if matches!(
            self.code,
            DenyCode::UpstreamUnavailable | DenyCode::UpstreamTimeout | DenyCode::Overloaded
        ) {
            tracing::debug!(
                target: "palisade::deny",
                phase = self.phase.as_str(),
                reason = self.code.as_str(),
                client = %self.client,
                request_id = self.request_id,
                "request failed upstream"
            );
            return;
        }
        tracing::info!(
            target: "palisade::deny",
            phase = self.phase.as_str(),
            reason = self.code.as_str(),
            client = %self.client,
            request_id = self.request_id,
            method = self.method,
            path = self.path,
            api_key_id = self.api_key_id,
            detail = self.detail,
            "request denied"
        );
    }
}
