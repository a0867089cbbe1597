//! Owns the `[siem]` section: the outbox's bound and the `[[siem.sinks]]` that
//! findings, blocks and unblocks are forwarded to. Secrets (HEC tokens, webhook
//! credentials) are never in the file: keys name the environment variables that
//! hold them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use super::Problems;
use super::value::Parsed;
use crate::SiemCategory;

type Duration = Parsed<humantime::Duration>;

/// `[siem]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiemConfig {
    /// The most records the outbox holds, over all sinks. Default: 100000.
    #[serde(default = "default_max_records")]
    pub max_outbox_records: u64,
    /// What happens to a record when the outbox is full: "drop_oldest" (the oldest
    /// undelivered record goes, default) or "refuse_new" (the new one is not
    /// queued). Either way a log line and `palisade_siem_outbox_dropped_total`.
    #[serde(default)]
    pub when_full: WhenFull,
    /// The interval denied-request summaries cover, for sinks that forward
    /// "denied". Default: "1m".
    #[serde(default = "default_denied_interval")]
    pub denied_interval: Duration,
    /// Where to send. Default: none (nothing is queued).
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
}

impl Default for SiemConfig {
    fn default() -> Self {
        Self {
            max_outbox_records: default_max_records(),
            when_full: WhenFull::default(),
            denied_interval: default_denied_interval(),
            sinks: Vec::new(),
        }
    }
}

/// `siem.when_full`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    #[default]
    DropOldest,
    RefuseNew,
}

/// `[[siem.sinks]] type`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkType {
    /// RFC 5424 syslog carrying CEF, over TCP, TLS or UDP.
    Syslog,
    /// Splunk's HTTP Event Collector.
    SplunkHec,
    /// A JSON webhook (OCSF, ECS or Palisade's own records).
    Http,
}

/// `[[siem.sinks]] transport`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogTransport {
    /// RFC 6587 octet counting over TCP.
    #[default]
    Tcp,
    /// RFC 5425: octet counting over TLS.
    Tls,
    /// RFC 5426: one message per datagram; no delivery guarantee.
    Udp,
}

/// `[[siem.sinks]] schema`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaName {
    /// OCSF 1.3 Detection Finding.
    #[default]
    Ocsf,
    /// Elastic Common Schema 8.
    Ecs,
    /// Palisade's outbox record as it is stored.
    Native,
}

impl SchemaName {
    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaName::Ocsf => "ocsf",
            SchemaName::Ecs => "ecs",
            SchemaName::Native => "native",
        }
    }
}

impl WhenFull {
    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            WhenFull::DropOldest => "drop_oldest",
            WhenFull::RefuseNew => "refuse_new",
        }
    }
}

/// `[[siem.sinks]]`: one receiver. Keys that do not apply to its type are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// A unique name: the sink's key in the outbox, metrics and the API. Renaming a
    /// sink starts it afresh (what the old name had not sent is dropped). Required.
    pub name: String,
    /// "syslog", "splunk_hec" or "http". Required.
    #[serde(rename = "type")]
    pub kind: SinkType,
    /// What to send: any of "findings", "blocks", "unblocks", "denied". Default:
    /// ["findings"].
    #[serde(default = "default_forward")]
    pub forward: Vec<SiemCategory>,

    /// syslog: the receiver's "host:port". Required for syslog.
    #[serde(default)]
    pub address: Option<String>,
    /// syslog: "tcp" (default), "tls" or "udp".
    #[serde(default)]
    pub transport: SyslogTransport,
    /// syslog: the facility name ("local0" .. "local7", "auth", "security",
    /// "daemon", "user", ...). Default: "local0".
    #[serde(default = "default_facility")]
    pub facility: String,
    /// syslog: APP-NAME. Default: "palisade".
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// syslog HOSTNAME and the observer name in every format. Default: this host's
    /// name.
    #[serde(default)]
    pub hostname: Option<String>,

    /// splunk_hec and http: where to POST. For splunk_hec the base URL
    /// ("https://splunk:8088") or the full collector URL.
    #[serde(default)]
    pub url: Option<Parsed<Url>>,
    /// splunk_hec: the environment variable holding the HEC token. Required.
    #[serde(default)]
    pub token_env: Option<String>,
    /// http: headers to send, by name, each valued from the environment variable
    /// named here (e.g. `{ Authorization = "WEBHOOK_AUTH" }`). Default: none.
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
    /// splunk_hec and http: the JSON document: "ocsf" (default), "ecs" or "native".
    #[serde(default)]
    pub schema: SchemaName,
    /// splunk_hec: the index. Default: the token's default index.
    #[serde(default)]
    pub index: Option<String>,
    /// splunk_hec: the event source. Default: "palisade".
    #[serde(default)]
    pub source: Option<String>,
    /// splunk_hec: the sourcetype. Default: "palisade:<schema>".
    #[serde(default)]
    pub sourcetype: Option<String>,
    /// splunk_hec: gzip request bodies. Default: true.
    #[serde(default = "yes")]
    pub gzip: bool,
    /// splunk_hec: wait for indexer acknowledgement before a record counts as
    /// delivered (the token must have it enabled). Default: false.
    #[serde(default)]
    pub ack: bool,
    /// Records per write or request, and per acknowledgement in the outbox (one
    /// fsync). Default: 100 for syslog (one flushed write of framed messages) and
    /// splunk_hec, 1 for http (one JSON object per request; more sends a JSON
    /// array).
    #[serde(default)]
    pub batch_max: Option<usize>,

    /// tls syslog and https: PEM bundle of CAs to trust instead of the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// tls syslog and https: a PEM client certificate chain, with `client_key_file`.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// tls syslog and https: the client certificate's PEM private key.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// tls syslog: the name to verify the receiver's certificate against. Default:
    /// the host of `address`.
    #[serde(default)]
    pub server_name: Option<String>,

    /// Time for one delivery attempt (connect, write, answer). Default: "10s".
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// First retry delay after a failure; doubles up to `backoff_max`, with jitter.
    /// Default: "500ms".
    #[serde(default = "default_backoff_min")]
    pub backoff_min: Duration,
    /// Longest retry delay. Default: "60s".
    #[serde(default = "default_backoff_max")]
    pub backoff_max: Duration,
}

fn yes() -> bool {
    true
}
fn default_max_records() -> u64 {
    100_000
}
fn default_denied_interval() -> Duration {
    Parsed::new("1m")
}
fn default_forward() -> Vec<SiemCategory> {
    vec![SiemCategory::Findings]
}
fn default_facility() -> String {
    "local0".into()
}
fn default_app_name() -> String {
    "palisade".into()
}
fn default_timeout() -> Duration {
    Parsed::new("10s")
}
fn default_backoff_min() -> Duration {
    Parsed::new("500ms")
}
fn default_backoff_max() -> Duration {
    Parsed::new("60s")
}

/// Syslog facility codes by name (RFC 5424 table 1).
const FACILITIES: [(&str, u8); 24] = [
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("ntp", 12),
    ("security", 13),
    ("console", 14),
    ("solaris-cron", 15),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

impl SinkConfig {
    /// The facility's code; validation guarantees the name is known.
    pub fn facility_code(&self) -> u8 {
        facility(&self.facility).unwrap_or(16)
    }

    /// Records per request for this sink.
    pub fn batch(&self) -> usize {
        self.batch_max.unwrap_or(match self.kind {
            SinkType::SplunkHec | SinkType::Syslog => 100,
            SinkType::Http => 1,
        })
    }

    /// The categories as a bit mask (`SiemCategory::bit`).
    pub fn forward_mask(&self) -> u8 {
        self.forward.iter().fold(0, |m, c| m | c.bit())
    }
}

fn facility(name: &str) -> Option<u8> {
    FACILITIES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

impl SiemConfig {
    /// The union of what the sinks forward, as a bit mask: what the outbox queues.
    pub fn forward_mask(&self) -> u8 {
        self.sinks.iter().fold(0, |m, s| m | s.forward_mask())
    }

    pub(crate) fn validate(&self, p: &mut Problems) {
        if self.max_outbox_records == 0 {
            p.push(
                "siem.max_outbox_records",
                "must be at least 1",
                "the outbox bound in records, e.g. 100000",
            );
        }
        self.denied_interval
            .check("siem.denied_interval", "a duration, e.g. \"1m\"", p);
        if self.denied_interval.ok().is_some_and(|d| d.as_secs() < 1) {
            p.push(
                "siem.denied_interval",
                "must be at least 1s",
                "a duration of a second or more, e.g. \"1m\"",
            );
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.sinks.iter().enumerate() {
            let key = format!("siem.sinks[{i}]");
            if !names.insert(s.name.as_str()) {
                p.push(
                    format!("{key}.name"),
                    format!("sink name `{}` is used twice", s.name),
                    "give every sink its own name",
                );
            }
            s.validate(&key, p);
        }
    }
}

impl SinkConfig {
    fn validate(&self, key: &str, p: &mut Problems) {
        let k = |f: &str| format!("{key}.{f}");
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !name_ok {
            p.push(
                k("name"),
                format!("`{}` is not a sink name", self.name),
                "1 to 64 characters among letters, digits, '-', '_' and '.'",
            );
        }
        if self.forward.is_empty() {
            p.push(
                k("forward"),
                "the list is empty: the sink would receive nothing",
                "list what to send: \"findings\", \"blocks\", \"unblocks\", \"denied\"",
            );
        }
        for (f, d, hint) in [
            ("timeout", &self.timeout, "a duration, e.g. \"10s\""),
            (
                "backoff_min",
                &self.backoff_min,
                "a duration, e.g. \"500ms\"",
            ),
            ("backoff_max", &self.backoff_max, "a duration, e.g. \"60s\""),
        ] {
            d.check(k(f), hint, p);
            if d.ok().is_some_and(|d| d.is_zero()) {
                p.push(k(f), "must not be zero", hint);
            }
        }
        if let (Some(lo), Some(hi)) = (self.backoff_min.ok(), self.backoff_max.ok())
            && lo > hi
        {
            p.push(
                k("backoff_max"),
                "is shorter than backoff_min",
                "make backoff_max at least backoff_min",
            );
        }
        if self.client_cert_file.is_some() != self.client_key_file.is_some() {
            p.push(
                k("client_cert_file"),
                "a client certificate needs both client_cert_file and client_key_file",
                "set both, or neither",
            );
        }
        if self.batch_max == Some(0) {
            p.push(k("batch_max"), "must be at least 1", "e.g. 100");
        }
        match self.kind {
            SinkType::Syslog => self.validate_syslog(&k, p),
            SinkType::SplunkHec | SinkType::Http => self.validate_http(&k, p),
        }
    }

    fn validate_syslog(&self, k: &dyn Fn(&str) -> String, p: &mut Problems) {
        match self.address.as_deref() {
            None => p.push(
                k("address"),
                "a syslog sink needs the receiver's address",
                "set address = \"host:port\", e.g. \"siem.example.com:6514\"",
            ),
            Some(a) if !valid_host_port(a) => p.push(
                k("address"),
                format!("`{a}` is not host:port"),
                "e.g. \"siem.example.com:6514\" or \"10.0.0.5:514\"",
            ),
            Some(_) => {}
        }
        if facility(&self.facility).is_none() {
            p.push(
                k("facility"),
                format!("unknown facility `{}`", self.facility),
                "one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, \
                 authpriv, ftp, ntp, security, console, solaris-cron, local0 .. local7",
            );
        }
        let tls_keys =
            self.ca_file.is_some() || self.client_cert_file.is_some() || self.server_name.is_some();
        if tls_keys && self.transport != SyslogTransport::Tls {
            p.push(
                k("transport"),
                "TLS keys are set but the transport is not tls",
                "set transport = \"tls\", or remove ca_file/client_*_file/server_name",
            );
        }
        self.refuse(
            k,
            p,
            &[
                ("url", self.url.is_some()),
                ("token_env", self.token_env.is_some()),
                ("headers_env", !self.headers_env.is_empty()),
                ("index", self.index.is_some()),
                ("source", self.source.is_some()),
                ("sourcetype", self.sourcetype.is_some()),
            ],
        );
    }

    fn validate_http(&self, k: &dyn Fn(&str) -> String, p: &mut Problems) {
        match &self.url {
            None => p.push(
                k("url"),
                "this sink needs the receiver's URL",
                "set url = \"https://...\"",
            ),
            Some(u) => {
                u.check(k("url"), "an http(s) URL, e.g. \"https://siem:8088\"", p);
                if let Some(url) = u.ok()
                    && !matches!(url.scheme(), "http" | "https")
                {
                    p.push(
                        k("url"),
                        format!("scheme `{}` is not supported", url.scheme()),
                        "use an http:// or https:// URL",
                    );
                }
            }
        }
        let hec = self.kind == SinkType::SplunkHec;
        if hec {
            match self.token_env.as_deref() {
                None | Some("") => p.push(
                    k("token_env"),
                    "a splunk_hec sink needs the name of the variable holding its token",
                    "set token_env = \"PALISADE_HEC_TOKEN\" and export the token there",
                ),
                Some(_) => {}
            }
        }
        for (header, var) in &self.headers_env {
            if http::HeaderName::from_bytes(header.as_bytes()).is_err() || var.is_empty() {
                p.push(
                    k("headers_env"),
                    format!("`{header}` = `{var}` is not a header name and a variable name"),
                    "e.g. headers_env = { Authorization = \"WEBHOOK_AUTH\" }",
                );
            }
        }
        self.refuse(
            k,
            p,
            &[
                ("address", self.address.is_some()),
                ("transport", self.transport != SyslogTransport::Tcp),
                ("server_name", self.server_name.is_some()),
                ("facility", self.facility != default_facility()),
                ("app_name", self.app_name != default_app_name()),
                ("token_env", !hec && self.token_env.is_some()),
                ("headers_env", hec && !self.headers_env.is_empty()),
                ("index", !hec && self.index.is_some()),
                ("source", !hec && self.source.is_some()),
                ("sourcetype", !hec && self.sourcetype.is_some()),
                ("gzip", !hec && !self.gzip),
                ("ack", !hec && self.ack),
            ],
        );
    }

    fn refuse(&self, k: &dyn Fn(&str) -> String, p: &mut Problems, keys: &[(&str, bool)]) {
        let kind = match self.kind {
            SinkType::Syslog => "syslog",
            SinkType::SplunkHec => "splunk_hec",
            SinkType::Http => "http",
        };
        for (key, set) in keys {
            if *set {
                p.push(
                    k(key),
                    format!("`{key}` does not apply to a {kind} sink"),
                    "remove the key, or change the sink's type",
                );
            }
        }
    }
}

/// "host:port" with a non-empty host and a port number (an IPv6 host in brackets).
fn valid_host_port(a: &str) -> bool {
    match a.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0) && !host.contains(' ')
        }
        None => false,
    }
}
