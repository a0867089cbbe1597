//! Owns the checks of the systemd example (deploy/systemd/): the unit against
//! the palisade.toml and the environment file it installs. Each check returns a
//! problem naming the file and what to fix.

use std::time::Duration;

use palisade_models::Config;

use super::kube::EXIT_AFTER_GRACE_S;
use super::{config_env_vars, memory_estimate};

/// The example's three files, as text.
#[derive(Debug, Clone)]
pub struct Unit {
    pub unit: String,
    pub config: String,
    pub env_example: String,
}

/// `(section, key, value)` of every assignment, in order.
pub fn parse(unit: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// The values of `[Service] key`, in order.
pub fn service<'a>(entries: &'a [(String, String, String)], key: &str) -> Vec<&'a str> {
    entries
        .iter()
        .filter(|(s, k, _)| s == "Service" && k == key)
        .map(|(_, _, v)| v.as_str())
        .collect()
}

/// The last value of `[Service] key` (a later assignment wins).
fn one<'a>(entries: &'a [(String, String, String)], key: &str) -> Option<&'a str> {
    service(entries, key).pop()
}

/// A systemd time span: plain seconds, or "45s", "1min 30s".
fn span(v: &str) -> Option<Duration> {
    match v.parse::<u64>() {
        Ok(s) => Some(Duration::from_secs(s)),
        Err(_) => humantime::parse_duration(v).ok(),
    }
}

/// A systemd size: bytes, or with K, M, G, T (powers of 1024).
fn size(v: &str) -> Option<u64> {
    let (n, mul) = match v.chars().last()? {
        'K' => (&v[..v.len() - 1], 1u64 << 10),
        'M' => (&v[..v.len() - 1], 1 << 20),
        'G' => (&v[..v.len() - 1], 1 << 30),
        'T' => (&v[..v.len() - 1], 1 << 40),
        _ => (v, 1),
    };
    n.parse::<u64>().ok()?.checked_mul(mul)
}

/// Where the unit's install comment puts `file` (`install ... <file> <dest>`).
fn installed_at<'a>(unit: &'a str, file: &str) -> Option<&'a str> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix('#'))
        .map(str::split_whitespace)
        .map(Iterator::collect::<Vec<_>>)
        .find(|w| w.first() == Some(&"install") && w.iter().any(|x| x.ends_with(file)))
        .and_then(|w| w.last().copied())
}

/// Every problem of the example; empty when it is sound.
pub fn problems(u: &Unit) -> Vec<String> {
    let config = match Config::parse(&u.config) {
        Ok(c) => c,
        Err(e) => return vec![format!("palisade.toml does not load: {e}")],
    };
    let e = parse(&u.unit);
    let mut p = Vec::new();
    exec(u, &e, &mut p);
    stop(&e, &config, &mut p);
    sandbox(&e, &config, &mut p);
    secrets(u, &e, &config, &mut p);
    limits(&e, &config, &mut p);
    p
}

/// ExecStartPre checks and ExecStart runs the config file the unit installs.
fn exec(u: &Unit, e: &[(String, String, String)], p: &mut Vec<String>) {
    let argv = |v: &str| -> Vec<String> {
        v.trim_start_matches(['-', '@', ':', '+', '!'])
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let start: Vec<Vec<String>> = service(e, "ExecStart").into_iter().map(argv).collect();
    let pre: Vec<Vec<String>> = service(e, "ExecStartPre").into_iter().map(argv).collect();
    let Some(installed) = installed_at(&u.unit, "deploy/systemd/palisade.toml") else {
        p.push(
            "palisade.service: no `install ... deploy/systemd/palisade.toml <path>` line".into(),
        );
        return;
    };
    let ok = |lines: &[Vec<String>], cmd: &str| {
        lines.iter().any(|a| {
            a.len() == 4
                && a[0].starts_with('/')
                && a[1] == cmd
                && a[2] == "--config"
                && a[3] == installed
        })
    };
    if start.len() != 1 || !ok(&start, "run") {
        p.push(format!(
            "palisade.service: ExecStart is not `<absolute path> run --config {installed}`: {start:?}"
        ));
    }
    if !ok(&pre, "check") {
        p.push(format!(
            "palisade.service: no ExecStartPre `<absolute path> check --config {installed}`: {pre:?}"
        ));
    }
    let bins: Vec<&String> = start.iter().chain(&pre).filter_map(|a| a.first()).collect();
    if bins.windows(2).any(|w| w[0] != w[1]) {
        p.push(format!(
            "palisade.service: ExecStart and ExecStartPre run different binaries: {bins:?}"
        ));
    }
}

/// SIGTERM, then long enough for the drain before systemd's SIGKILL.
fn stop(e: &[(String, String, String)], config: &Config, p: &mut Vec<String>) {
    if one(e, "KillSignal").is_some_and(|s| s != "SIGTERM") {
        p.push("palisade.service: KillSignal is not SIGTERM, which starts Palisade's drain".into());
    }
    let drain = config.proxy.timeouts.shutdown_grace.duration();
    let needed = drain + Duration::from_secs(EXIT_AFTER_GRACE_S);
    match one(e, "TimeoutStopSec").map(|v| (v, span(v))) {
        Some((_, Some(t))) if t > needed => {}
        other => p.push(format!(
            "palisade.service: TimeoutStopSec {other:?} is not above shutdown_grace {drain:?} + {EXIT_AFTER_GRACE_S}s of SIEM drain"
        )),
    }
    if one(e, "Restart") != Some("on-failure") {
        p.push("palisade.service: Restart is not on-failure".into());
    }
}

fn sandbox(e: &[(String, String, String)], config: &Config, p: &mut Vec<String>) {
    let yes = |k: &str| one(e, k).is_some_and(|v| matches!(v, "yes" | "true" | "on" | "1"));
    if !yes("DynamicUser") && one(e, "User").is_none_or(|u| u == "root" || u == "0") {
        p.push("palisade.service: runs as root: set DynamicUser=yes or a dedicated User=".into());
    }
    if one(e, "ProtectSystem") != Some("strict") {
        p.push("palisade.service: ProtectSystem is not strict".into());
    }
    if !yes("NoNewPrivileges") {
        p.push("palisade.service: NoNewPrivileges is not yes".into());
    }
    // ProtectSystem=strict: the state directory is the only writable place.
    let state = one(e, "StateDirectory").map(|d| format!("/var/lib/{d}/"));
    let segments = config
        .batch
        .segments
        .enabled
        .then_some(&config.batch.segments.dir);
    for path in std::iter::once(&config.store.path).chain(segments) {
        if !state.as_ref().is_some_and(|s| path.starts_with(s.as_str())) {
            p.push(format!(
                "palisade.service: {path} is not in the StateDirectory ({state:?}), the only writable path"
            ));
        }
    }
    let low_port = config
        .proxy
        .listen
        .iter()
        .chain(config.proxy.tls.iter().flat_map(|t| &t.listen))
        .chain([&config.admin.listen])
        .filter_map(|a| a.ok())
        .any(|a| a.port() < 1024);
    let caps = |k: &str| -> Vec<&str> {
        one(e, k)
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default()
    };
    let bounding = caps("CapabilityBoundingSet");
    let ambient = caps("AmbientCapabilities");
    let bind = "CAP_NET_BIND_SERVICE";
    if low_port && !(bounding.contains(&bind) && ambient.contains(&bind)) {
        p.push(format!("palisade.service: a listener below 1024 needs {bind} in CapabilityBoundingSet and AmbientCapabilities"));
    }
    if !low_port && (one(e, "CapabilityBoundingSet").is_none() || !bounding.is_empty()) {
        p.push(format!(
            "palisade.service: CapabilityBoundingSet must be present and empty (no listener below 1024): {bounding:?}"
        ));
    }
}

/// The variables the config names come from the EnvironmentFile, not the unit.
fn secrets(u: &Unit, e: &[(String, String, String)], config: &Config, p: &mut Vec<String>) {
    let file = one(e, "EnvironmentFile").map(|f| f.trim_start_matches('-'));
    let installed = installed_at(&u.unit, "deploy/systemd/palisade.env.example");
    if file.is_none() || file != installed {
        p.push(format!(
            "palisade.service: EnvironmentFile {file:?} is not where palisade.env.example is installed ({installed:?})"
        ));
    }
    let provided: Vec<&str> = u
        .env_example
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .collect();
    let inline = service(e, "Environment").join(" ");
    for var in config_env_vars(&u.config, config) {
        if !provided.contains(&var.as_str()) {
            p.push(format!(
                "palisade.env.example: {var} (named by the config) is missing"
            ));
        }
        if inline.contains(&format!("{var}=")) {
            p.push(format!(
                "palisade.service: {var} is a secret: keep it out of Environment="
            ));
        }
    }
}

fn limits(e: &[(String, String, String)], config: &Config, p: &mut Vec<String>) {
    let needed = 2 * config.proxy.max_connections as u64 + 1024;
    let nofile = one(e, "LimitNOFILE").and_then(|v| v.split(':').next()?.parse::<u64>().ok());
    if nofile.is_none_or(|n| n < needed) {
        p.push(format!(
            "palisade.service: LimitNOFILE {nofile:?} is below 2 x proxy.max_connections + 1024 = {needed}"
        ));
    }
    if let Some(max) = one(e, "MemoryMax") {
        let needed = memory_estimate(config);
        if size(max).is_none_or(|m| m < needed) {
            p.push(format!(
                "palisade.service: MemoryMax {max} is below the {} MiB the config's caps add up to",
                needed >> 20
            ));
        }
    }
}
