//! The deployment examples under deploy/ are what operators copy, so they are
//! checked like code: the Palisade config each holds (the Kubernetes
//! ConfigMap's palisade.toml, deploy/systemd/palisade.toml) passes the real
//! `palisade check`, and the manifests and the unit agree with it (ports, probe
//! paths, secrets, grace periods, writable paths, limits). A last test mutates
//! the examples one mistake at a time and requires each check to catch its
//! mistake, so none of them can pass vacuously.

mod kube;
mod mutations;
mod systemd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use palisade_models::Config;

use kube::Kube;
use systemd::Unit;

fn deploy() -> PathBuf {
    palisade_models::crate_dir!().join("../deploy")
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load_unit() -> Unit {
    let dir = deploy().join("systemd");
    Unit {
        unit: read(&dir.join("palisade.service")),
        config: read(&dir.join("palisade.toml")),
        env_example: read(&dir.join("palisade.env.example")),
    }
}

/// Every environment variable a config names: each `*_env` key of the file (a
/// name, or a table of names such as `headers_env`), and the defaults of the
/// sections in use (`admin.token_env`, `fleet.password_env`).
pub fn config_env_vars(text: &str, config: &Config) -> Vec<String> {
    fn walk(v: &toml::Value, out: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    match v {
                        toml::Value::String(s) if k.ends_with("_env") => out.push(s.clone()),
                        toml::Value::Table(names) if k.ends_with("_env") => out.extend(
                            names
                                .values()
                                .filter_map(|n| n.as_str().map(str::to_string)),
                        ),
                        other => walk(other, out),
                    }
                }
            }
            toml::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    let table: toml::Table = toml::from_str(text).expect("toml");
    walk(&toml::Value::Table(table), &mut out);
    if config.admin.enabled {
        out.push(config.admin.token_env.clone());
    }
    if config.fleet.enabled {
        out.push(config.fleet.password_env.clone());
    }
    out.sort();
    out.dedup();
    out
}

/// The memory a config's caps add up to, from README.md's measured figures:
/// the tee's ring (about 250 bytes an event, "The tee"), 936 bytes per tracked
/// client ("Analytics"), about 64 bytes per remembered object owner (two hash
/// maps of 24-byte entries; from the code, not measured), the event window and
/// the 70 MiB a batch run adds on one thread ("Batch analytics"), and 128 MiB
/// for the rest (a debug build idles at 94 MiB with the Kubernetes example's
/// config, its tee included).
pub fn memory_estimate(c: &Config) -> u64 {
    const MIB: u64 = 1 << 20;
    let tee = c.tee.capacity as u64 * 256;
    let clients = c.analytics.max_clients as u64 * 936;
    let objects = c.analytics.max_objects as u64 * 64;
    let batch = if c.batch.enabled {
        c.batch.window_bytes + 70 * MIB
    } else {
        0
    };
    tee + clients + objects + batch + 128 * MIB
}

/// `palisade check` on `config`, with exactly `env` set of the variables the
/// config names.
fn palisade_check(config: &str, env: &[(String, String)]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("palisade.toml");
    std::fs::write(&path, config).expect("write config");
    let parsed = Config::parse(config).expect("config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade-e2e"));
    for var in config_env_vars(config, &parsed) {
        cmd.env_remove(var);
    }
    cmd.args(["check", "--config"])
        .arg(&path)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run palisade check")
}

/// A value for a secret of the right shape (the placeholders are refused).
fn secret_value(name: &str) -> String {
    format!("{name}-0123456789abcdefghijklmnopqrstuv")
}

fn assert_sound(what: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[test]
fn the_kubernetes_example_agrees_with_its_config() {
    let dir = deploy().join("kubernetes");
    assert_sound(
        "deploy/kubernetes",
        &kube::problems(&Kube::load(&dir), &dir),
    );
}

#[test]
fn the_kubernetes_config_passes_palisade_check_with_the_secrets_the_pod_gets() {
    let k = Kube::load(&deploy().join("kubernetes"));
    let config = k.config_text().expect("palisade.toml in the ConfigMap");
    let c = k.container().expect("palisade container");
    // The variables the Deployment sets from the Secret, as an operator's
    // `kubectl create secret` would fill them.
    let env: Vec<(String, String)> = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter(|e| !e["valueFrom"]["secretKeyRef"].is_null())
        .map(|e| {
            let name = e["name"].as_str().expect("name").to_string();
            (name.clone(), secret_value(&name))
        })
        .collect();
    let out = palisade_check(config, &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("configuration OK"), "{stdout}");

    // secret.yaml's placeholders, applied by mistake, are refused.
    let placeholders: Vec<(String, String)> = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| {
            let key = e["valueFrom"]["secretKeyRef"]["key"].as_str()?;
            let value = k.secret["stringData"][key].as_str()?;
            Some((e["name"].as_str()?.to_string(), value.to_string()))
        })
        .collect();
    assert_eq!(placeholders.len(), env.len(), "every key in secret.yaml");
    let out = palisade_check(config, &placeholders);
    assert_eq!(out.status.code(), Some(2), "placeholders accepted");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("routes.login_salt_env"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_systemd_unit_agrees_with_its_config() {
    assert_sound("deploy/systemd", &systemd::problems(&load_unit()));
}

#[test]
fn the_systemd_config_passes_palisade_check_with_the_environment_file() {
    let u = load_unit();
    let env: Vec<(String, String)> = u
        .env_example
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| (k.trim().to_string(), secret_value(k.trim())))
        .collect();
    assert!(!env.is_empty());
    let out = palisade_check(&u.config, &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("configuration OK"), "{stdout}");
}

/// systemd's own reading of the unit, when systemd-analyze is installed. It
/// checks that ExecStart's binary exists, so the unit is verified with the
/// path of the palisade binary this test crate built.
#[test]
fn systemd_analyze_verifies_the_unit() {
    let probe = Command::new("systemd-analyze").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        println!("skipped: systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("palisade.service");
    let unit = load_unit().unit.replace(
        "/usr/local/bin/palisade",
        env!("CARGO_BIN_EXE_palisade-e2e"),
    );
    std::fs::write(&path, unit).expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // systemd prefixes what it finds in a unit with the unit's name; lines
    // about other units of the host are not ours to judge.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("palisade.service"))
        .collect();
    assert!(ours.is_empty(), "{stderr}");
    if !out.status.success() {
        println!("skipped: systemd-analyze cannot verify on this host: {stderr}");
    }
}

/// The manifests against the Kubernetes API's own schemas (strict: an unknown
/// or misspelt field fails), for 1.30, the oldest version with the `sleep`
/// preStop action the example uses. kubernetes-validate comes from PyPI
/// through `scripts/install-pytools.sh`, which `.ci/run` runs.
#[test]
fn the_manifests_match_the_kubernetes_api_schemas() {
    let root = std::env::var_os("PALISADE_PYTOOLS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/palisade-tools/py"))
        });
    let Some(tool) = root
        .map(|r| r.join("bin/kubernetes-validate"))
        .filter(|t| t.exists())
    else {
        println!("skipped: kubernetes-validate is not installed (scripts/install-pytools.sh)");
        return;
    };
    let dir = deploy().join("kubernetes");
    let files = [
        "namespace.yaml",
        "configmap.yaml",
        "secret.yaml",
        "deployment.yaml",
        "service.yaml",
        "redis-dev.yaml",
    ];
    let out = Command::new(tool)
        .args(["--strict", "--kubernetes-version", "1.30.0"])
        .args(files.iter().map(|f| dir.join(f)))
        .output()
        .expect("run kubernetes-validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    // One "passed" per resource: 7 (redis-dev.yaml holds two).
    assert_eq!(text.matches(" passed ").count(), 7, "{text}");
}
