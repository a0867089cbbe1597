//! Owns the `[signatures]` section: the attack-signature engine's settings
//! (paranoia level, anomaly threshold, inspected body bytes, extra rule files,
//! disabled rule ids) and the inspection mode routes default to.
//!
//! Must not load rules: the proxy builds the engine, and its preflight reports
//! a bad rule file.

use std::path::PathBuf;

use serde::Deserialize;

use super::Problems;

/// `[signatures]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignaturesConfig {
    /// Inspection for routes that set no `inspect`, and for undeclared paths:
    /// "block" (403 `signature` when the anomaly score reaches `threshold`),
    /// "detect" (let through, the matches recorded in the event and logged), or
    /// "off". Default: "block".
    #[serde(default)]
    pub mode: InspectMode,
    /// Paranoia level 1–4, as in OWASP CRS: higher levels add rules that catch
    /// more and misfire more. Default: 1.
    #[serde(default = "default_paranoia")]
    pub paranoia: u8,
    /// Anomaly score at which a request counts as an attack; each matched rule
    /// adds its severity (critical 5, error 4, warning 3, notice 2). Default: 5.
    #[serde(default = "default_threshold")]
    pub threshold: u32,
    /// Request body bytes inspected (urlencoded, multipart, JSON, or raw text);
    /// the rest streams uninspected. Default: 8192.
    #[serde(default = "default_body_bytes")]
    pub body_bytes: usize,
    /// What a route in `block` mode does with a request body whose
    /// Content-Encoding Palisade cannot decode for inspection (anything but
    /// `gzip`, `x-gzip`, `deflate` and `identity`, or more than one coding):
    /// "refuse" (415 `unsupported_encoding`) or "forward" (sent on with its body
    /// uninspected, and logged). Detect-mode routes always forward. Default: "refuse".
    #[serde(default)]
    pub undecodable_bodies: UndecodableBodies,
    /// Largest expansion of a compressed request body, decompressed bytes per
    /// compressed byte over the read-ahead window (at least 1 KiB of input
    /// counts): above it a route in `block` mode answers 413 `body_too_large`
    /// (a decompression bomb aimed at the upstream). Only the first `body_bytes`
    /// decompressed are ever kept. Default: 100.
    #[serde(default = "default_max_compression_ratio")]
    pub max_compression_ratio: u32,
    /// Extra rule files (TOML, the bundled rules' format), added to the bundled
    /// rules. Default: [].
    #[serde(default)]
    pub rules_files: Vec<PathBuf>,
    /// Rule ids to switch off, bundled or added. Default: [].
    #[serde(default)]
    pub disable: Vec<String>,
}

/// What the inspect phase does on a route.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InspectMode {
    Off,
    Detect,
    #[default]
    Block,
}

/// What block-mode routes do with a body they cannot decode for inspection.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UndecodableBodies {
    #[default]
    Refuse,
    Forward,
}

fn default_max_compression_ratio() -> u32 {
    100
}

fn default_paranoia() -> u8 {
    1
}

fn default_threshold() -> u32 {
    5
}

fn default_body_bytes() -> usize {
    8 * 1024
}

impl Default for SignaturesConfig {
    fn default() -> Self {
        Self {
            mode: InspectMode::default(),
            paranoia: default_paranoia(),
            threshold: default_threshold(),
            body_bytes: default_body_bytes(),
            undecodable_bodies: UndecodableBodies::default(),
            max_compression_ratio: default_max_compression_ratio(),
            rules_files: Vec::new(),
            disable: Vec::new(),
        }
    }
}

impl SignaturesConfig {
    pub(crate) fn validate(&self, p: &mut Problems) {
        if !(1..=4).contains(&self.paranoia) {
            p.push(
                "signatures.paranoia",
                format!("{} is not a paranoia level", self.paranoia),
                "use 1 (the default) to 4",
            );
        }
        if self.threshold == 0 {
            p.push(
                "signatures.threshold",
                "0 would flag every request",
                "use 5 (one critical rule), or more to need several matches",
            );
        }
        if self.body_bytes > 1024 * 1024 {
            p.push(
                "signatures.body_bytes",
                format!("{} is more than 1 MiB", self.body_bytes),
                "inspect the first few KiB, such as 8192; attacks sit near the start",
            );
        }
        if !(2..=100_000).contains(&self.max_compression_ratio) {
            p.push(
                "signatures.max_compression_ratio",
                format!("{} is outside 2..=100000", self.max_compression_ratio),
                "use 100 (the default); JSON and form bodies compress about 5 to 20 times",
            );
        }
        for (i, f) in self.rules_files.iter().enumerate() {
            if !f.is_file() {
                p.push(
                    format!("signatures.rules_files[{i}]"),
                    format!("{} is not a readable file", f.display()),
                    "give the path of a TOML rule file",
                );
            }
        }
    }
}
