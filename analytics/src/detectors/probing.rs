//! `probing`: one address asking for many paths that do not exist (404), or for
//! well-known sensitive files (`/.env`, `/.git/config`, backups, admin consoles).

use std::net::IpAddr;

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use palisade_models::config::ProbingConfig;
use palisade_models::{FindingClient, FindingKind, Severity};

use super::{Ctx, Report, confidence, cooldown_s};
use crate::client::{ClientState, Reported};
use crate::evidence;

/// Path fragments only a scanner asks for (matched case-insensitively).
const SENSITIVE: &[&str] = &[
    "/.env",
    "/.git/",
    "/.git",
    "/.svn/",
    "/.hg/",
    "/.ds_store",
    "/wp-admin",
    "/wp-login.php",
    "/xmlrpc.php",
    "/phpmyadmin",
    "/server-status",
    "/actuator",
    "/.aws/",
    "/.ssh/",
    "id_rsa",
    "/etc/passwd",
    "web.config",
    "/.htaccess",
    "/.htpasswd",
    "/config.php",
    ".sql",
    ".bak",
    "/.npmrc",
    "/.dockerenv",
    "docker-compose.yml",
    "/cgi-bin/",
    "/vendor/phpunit",
    "/.vscode/",
    "/.idea/",
    "/backup.zip",
    "/backup.tar",
];

/// Recognises sensitive paths.
#[derive(Debug)]
pub struct Sensitive(AhoCorasick);

impl Sensitive {
    pub fn new() -> Self {
        // INVARIANT: a constant list of short literals always builds.
        Self(
            // A DFA: this runs over every request's path, and the list is small
            // enough that the DFA's memory (a few tens of KiB) buys the fewest
            // instructions per byte.
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .kind(Some(AhoCorasickKind::DFA))
                .build(SENSITIVE)
                .unwrap_or_else(|e| unreachable!("constant patterns: {e}")),
        )
    }

    pub fn matches(&self, path: &str) -> bool {
        self.0.is_match(path)
    }
}

impl Default for Sensitive {
    fn default() -> Self {
        Self::new()
    }
}

pub fn check(cfg: &ProbingConfig, ctx: &mut Ctx<'_>, ip: IpAddr, c: &mut ClientState) {
    if !cfg.enabled {
        return;
    }
    let missing = c.missing_paths.estimate();
    let sensitive = c.sensitive_paths.count();
    let high = sensitive >= cfg.sensitive_paths || missing >= 2 * cfg.not_found_paths;
    let medium = missing >= cfg.not_found_paths;
    let (severity, slot) = if high {
        (Severity::High, Reported::Probing)
    } else if medium {
        (Severity::Medium, Reported::ProbingMedium)
    } else {
        return;
    };
    if !c.should_report(slot, (ctx.now_ms / 1000) as u32, cooldown_s(ctx)) {
        return;
    }
    ctx.report(Report {
        kind: FindingKind::Probing,
        severity,
        confidence: confidence(
            0.6,
            f64::from(missing.max(sensitive * cfg.not_found_paths / cfg.sensitive_paths.max(1))),
            f64::from(cfg.not_found_paths),
        ),
        client: FindingClient {
            ip: Some(ip),
            ..FindingClient::default()
        },
        endpoint: None,
        window_start_ms: ctx.client_window_start(),
        summary: format!(
            "{ip} asked for {missing} distinct missing paths and {sensitive} sensitive files"
        ),
        evidence: evidence![
            "distinct_not_found" => missing,
            "sensitive_paths" => sensitive,
            "requests" => c.total(|k| k.requests),
            "threshold_not_found" => cfg.not_found_paths,
            "threshold_sensitive" => cfg.sensitive_paths,
        ],
    });
}
