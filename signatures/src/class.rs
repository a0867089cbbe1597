//! The vocabulary of a rule: its attack [`Class`] and its [`Severity`], each with
//! the string name used in rule files and reports.
//!
//! Must not know about requests or matching.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The attack class a rule detects. The names are the ones rule files and
/// reports use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// SQL injection.
    Sqli,
    /// Cross-site scripting.
    Xss,
    /// Local file inclusion and path traversal.
    Lfi,
    /// Remote command execution (Unix shell, Windows cmd and PowerShell).
    Rce,
    /// Remote file inclusion, including SSRF to internal or metadata addresses.
    Rfi,
    /// PHP code injection.
    Php,
    /// Java, JNDI, expression-language and OGNL injection, deserialization.
    Java,
    /// Everything else: SSTI, prototype pollution, Node.js injection, SSRF, ...
    Generic,
    /// Known scanner user agents.
    Scanner,
}

/// How much one hit adds to the anomaly score (the OWASP CRS scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// 5: blocks alone at the default threshold.
    Critical,
    /// 4.
    Error,
    /// 3.
    Warning,
    /// 2.
    Notice,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 9] = [
        Class::Sqli,
        Class::Xss,
        Class::Lfi,
        Class::Rce,
        Class::Rfi,
        Class::Php,
        Class::Java,
        Class::Generic,
        Class::Scanner,
    ];

    /// The name used in rule files and reports (`"sqli"`, `"xss"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Sqli => "sqli",
            Class::Xss => "xss",
            Class::Lfi => "lfi",
            Class::Rce => "rce",
            Class::Rfi => "rfi",
            Class::Php => "php",
            Class::Java => "java",
            Class::Generic => "generic",
            Class::Scanner => "scanner",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Class {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Class::ALL.into_iter().find(|c| c.as_str() == s).ok_or(())
    }
}

impl Severity {
    /// The anomaly score one hit adds.
    pub fn score(self) -> u32 {
        match self {
            Severity::Critical => 5,
            Severity::Error => 4,
            Severity::Warning => 3,
            Severity::Notice => 2,
        }
    }

    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        }
    }
}

impl FromStr for Severity {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        [
            Severity::Critical,
            Severity::Error,
            Severity::Warning,
            Severity::Notice,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or(())
    }
}
