//! Owns the `[openapi]` section: where the service's OpenAPI document is, how
//! often it is re-read, and the validation policy its operations default to
//! (each `[[route]]` that names an operation may override it).
//!
//! Must not read the document: the proxy loads and compiles it, and its
//! preflight (run by `palisade check`) reports a bad spec with its line.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{Parsed, Problems};

/// `[openapi]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenApiConfig {
    /// The service's OpenAPI 3.0 or 3.1 document, YAML or JSON. Each of its
    /// operations becomes a declared route. Default: none (no spec).
    #[serde(default)]
    pub spec: Option<PathBuf>,
    /// Request validation against the operation: "block" (400 `schema`),
    /// "detect" (let through, the violation recorded and logged) or "off".
    /// Default: "detect".
    #[serde(default)]
    pub validation: ValidationMode,
    /// Query parameters the operation does not declare: "allow", "flag"
    /// (recorded in the event, let through) or "reject" (a violation, denied in
    /// block mode). Default: "flag".
    #[serde(default)]
    pub unknown_query: UnknownPolicy,
    /// JSON body properties the operation's schema does not declare (where it
    /// does not say `additionalProperties: false`, which is always a violation):
    /// "allow", "flag" or "reject". Default: "flag".
    #[serde(default)]
    pub unknown_fields: UnknownPolicy,
    /// Largest JSON request body validated, in bytes; a larger one on a route
    /// that validates bodies is a violation (`max_body_bytes`). Default: 65536.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How often the spec file is checked for changes (modification time, size
    /// and content); a changed, valid spec replaces the running one without a
    /// restart, a malformed one is reported and ignored. "0s" turns the check
    /// off. Default: "2s".
    #[serde(default = "default_reload")]
    pub reload_interval: Parsed<humantime::Duration>,
    /// Body properties that make an undeclared field a `mass_assignment`
    /// finding rather than a plain unknown field (case-insensitive). A property
    /// the operation marks `readOnly`, or that the spec's schemas declare
    /// elsewhere but this operation does not accept, counts too.
    /// Default: ["role", "roles", "is_admin", "isAdmin", "admin", "balance",
    /// "permissions", "owner_id", "verified", "credits"].
    #[serde(default = "default_mass_fields")]
    pub mass_assignment_fields: Vec<String>,
    /// Take each operation's credential from the spec's security requirements
    /// (HTTP bearer, OAuth2 and OpenID Connect as "jwt", an API key in a header
    /// as "api_key") unless its `[[route]]` sets `auth`. Default: true.
    #[serde(default = "default_true")]
    pub auth_from_spec: bool,
    /// Prefix of every spec path as clients call it, such as "/api/v1".
    /// Default: the path of the spec's first `servers` URL (none without one).
    #[serde(default)]
    pub base_path: Option<String>,
}

/// What the validate phase does on a route.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationMode {
    Off,
    #[default]
    Detect,
    Block,
}

/// What happens to a query parameter or body property nobody declared.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownPolicy {
    Allow,
    #[default]
    Flag,
    Reject,
}

fn default_max_body() -> usize {
    64 * 1024
}

fn default_reload() -> Parsed<humantime::Duration> {
    Parsed::new("2s")
}

fn default_true() -> bool {
    true
}

fn default_mass_fields() -> Vec<String> {
    [
        "role",
        "roles",
        "is_admin",
        "isAdmin",
        "admin",
        "balance",
        "permissions",
        "owner_id",
        "verified",
        "credits",
    ]
    .map(String::from)
    .to_vec()
}

impl Default for OpenApiConfig {
    fn default() -> Self {
        Self {
            spec: None,
            validation: ValidationMode::default(),
            unknown_query: UnknownPolicy::default(),
            unknown_fields: UnknownPolicy::default(),
            max_body_bytes: default_max_body(),
            reload_interval: default_reload(),
            mass_assignment_fields: default_mass_fields(),
            auth_from_spec: true,
            base_path: None,
        }
    }
}

/// Largest validated body: bodies are buffered whole to be validated.
const MAX_VALIDATED_BODY: usize = 16 * 1024 * 1024;

impl OpenApiConfig {
    /// The reload period; None when reloading is off.
    pub fn reload_every(&self) -> Option<Duration> {
        Some(self.reload_interval.duration()).filter(|d| !d.is_zero())
    }

    pub(crate) fn validate(&self, p: &mut Problems) {
        self.reload_interval
            .check("openapi.reload_interval", "a duration such as 2s, or 0s", p);
        if let Some(d) = self.reload_interval.ok() {
            let d: Duration = (*d).into();
            if !d.is_zero() && d < Duration::from_millis(100) {
                p.push(
                    "openapi.reload_interval",
                    format!("`{}` is under 100ms", self.reload_interval.raw()),
                    "check for changes every second or so, such as 2s (0s turns it off)",
                );
            }
        }
        if self.max_body_bytes == 0 || self.max_body_bytes > MAX_VALIDATED_BODY {
            p.push(
                "openapi.max_body_bytes",
                format!("{} is outside 1..16 MiB", self.max_body_bytes),
                "bodies are held whole while validated: pick a size such as 65536",
            );
        }
        if let Some(b) = &self.base_path
            && (!b.starts_with('/') || b.ends_with('/') || b.contains('{'))
        {
            p.push(
                "openapi.base_path",
                format!("`{b}` is not a path prefix"),
                "write a prefix such as \"/api/v1\": a leading /, no trailing /, no {params}",
            );
        }
        if self.spec.is_none() && self.base_path.is_some() {
            p.push(
                "openapi.base_path",
                "a base path is set but no spec is",
                "set openapi.spec to the service's OpenAPI document, or remove base_path",
            );
        }
        for (i, f) in self.mass_assignment_fields.iter().enumerate() {
            if f.is_empty() {
                p.push(
                    format!("openapi.mass_assignment_fields[{i}]"),
                    "an empty name",
                    "list body property names, such as \"role\"",
                );
            }
        }
    }
}
