//! Owns the checks of the Kubernetes example (deploy/kubernetes/): the
//! ConfigMap's palisade.toml against the Deployment, Service, Secret and
//! kustomization around it. Each check returns a problem naming the file and
//! what to fix; it never stops at the first one.

use std::net::SocketAddr;
use std::path::Path;

use palisade_models::Config;
use serde_json::Value;

use super::{config_env_vars, memory_estimate, read};

/// The ConfigMap key holding the config.
pub const CONFIG_KEY: &str = "palisade.toml";
/// The container that runs Palisade.
pub const CONTAINER: &str = "palisade";
/// What Palisade itself takes to stop after the proxy's grace: the SIEM outbox's
/// drain (`siem::DRAIN_GRACE`).
pub const EXIT_AFTER_GRACE_S: u64 = 2;

/// The example's manifests, as parsed YAML.
#[derive(Debug, Clone)]
pub struct Kube {
    pub configmap: Value,
    pub deployment: Value,
    pub service: Value,
    pub secret: Value,
    pub kustomization: Value,
    /// redis-dev.yaml: its Deployment and Service.
    pub redis: Vec<Value>,
}

impl Kube {
    pub fn load(dir: &Path) -> Kube {
        let one = |f: &str| -> Value {
            serde_saphyr::from_str(&read(&dir.join(f))).unwrap_or_else(|e| panic!("{f}: {e}"))
        };
        Kube {
            configmap: one("configmap.yaml"),
            deployment: one("deployment.yaml"),
            service: one("service.yaml"),
            secret: one("secret.yaml"),
            kustomization: one("kustomization.yaml"),
            redis: serde_saphyr::from_multiple(&read(&dir.join("redis-dev.yaml")))
                .unwrap_or_else(|e| panic!("redis-dev.yaml: {e}")),
        }
    }

    /// palisade.toml as the ConfigMap holds it.
    pub fn config_text(&self) -> Option<&str> {
        self.configmap["data"][CONFIG_KEY].as_str()
    }

    pub fn pod(&self) -> &Value {
        &self.deployment["spec"]["template"]["spec"]
    }

    pub fn container(&self) -> Option<&Value> {
        self.pod()["containers"]
            .as_array()?
            .iter()
            .find(|c| c["name"] == CONTAINER)
    }
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[][..], Vec::as_slice)
}

fn port_of(addr: &str) -> Option<u16> {
    addr.parse::<SocketAddr>().ok().map(|a| a.port())
}

/// A container port given by name or number, as its number.
fn resolve_port(container: &Value, port: &Value) -> Option<u16> {
    match port {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(name) => list(&container["ports"])
            .iter()
            .find(|p| p["name"] == name.as_str())
            .and_then(|p| p["containerPort"].as_u64())
            .and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
}

/// Bytes of a Kubernetes quantity ("512Mi", "1G", "1048576").
pub fn quantity_bytes(q: &str) -> Option<u64> {
    let split = q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len());
    let (n, unit) = q.split_at(split);
    let mul: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => return None,
    };
    n.parse::<u64>().ok()?.checked_mul(mul)
}

/// Every problem of the example; empty when it is sound.
pub fn problems(k: &Kube, dir: &Path) -> Vec<String> {
    let mut p = Vec::new();
    let Some(text) = k.config_text() else {
        return vec![format!("configmap.yaml: no data.\"{CONFIG_KEY}\"")];
    };
    let config = match Config::parse(text) {
        Ok(c) => c,
        Err(e) => return vec![format!("configmap.yaml: palisade.toml does not load: {e}")],
    };
    let Some(c) = k.container() else {
        return vec![format!("deployment.yaml: no container named {CONTAINER}")];
    };
    config_mount(k, c, &mut p);
    service(k, c, &config, &mut p);
    probes(c, &config, &mut p);
    secrets(k, c, text, &config, &mut p);
    grace(k, c, &config, &mut p);
    hardening(k, c, &mut p);
    store(k, c, &config, &mut p);
    resources(c, &config, &mut p);
    redis(k, &config, &mut p);
    kustomization(k, dir, &mut p);
    p
}

/// `--config` names the file the ConfigMap volume puts in the container.
fn config_mount(k: &Kube, c: &Value, p: &mut Vec<String>) {
    let argv: Vec<&str> = list(&c["command"])
        .iter()
        .chain(list(&c["args"]))
        .filter_map(Value::as_str)
        .collect();
    if !argv.contains(&"run") {
        p.push("deployment.yaml: the palisade container does not run `palisade run`".into());
    }
    let path = argv
        .iter()
        .position(|a| *a == "--config")
        .and_then(|i| argv.get(i + 1).copied());
    let cm = &k.configmap["metadata"]["name"];
    let mounted = list(&k.pod()["volumes"])
        .iter()
        .filter(|v| &v["configMap"]["name"] == cm)
        .flat_map(|v| {
            list(&c["volumeMounts"])
                .iter()
                .filter(move |m| m["name"] == v["name"])
        })
        .filter_map(|m| m["mountPath"].as_str())
        .map(|dir| format!("{}/{CONFIG_KEY}", dir.trim_end_matches('/')))
        .collect::<Vec<_>>();
    if !path.is_some_and(|path| mounted.iter().any(|m| *m == path)) {
        p.push(format!(
            "deployment.yaml: --config {path:?} is not where the ConfigMap {cm} is mounted ({mounted:?})"
        ));
    }
}

/// The Service reaches the proxy's listener; the listeners face the pod network.
fn service(k: &Kube, c: &Value, config: &Config, p: &mut Vec<String>) {
    let listen: Vec<u16> = config
        .proxy
        .listen
        .iter()
        .filter_map(|a| port_of(a.raw()))
        .collect();
    for sp in list(&k.service["spec"]["ports"]) {
        let target = resolve_port(c, &sp["targetPort"]);
        if !target.is_some_and(|t| listen.contains(&t)) {
            p.push(format!(
                "service.yaml: targetPort {} is port {target:?} of the palisade container, not proxy.listen {listen:?}",
                sp["targetPort"]
            ));
        }
    }
    let selector = k.service["spec"]["selector"].as_object();
    let labels = &k.deployment["spec"]["template"]["metadata"]["labels"];
    if !selector.is_some_and(|s| !s.is_empty() && s.iter().all(|(key, v)| &labels[key] == v)) {
        p.push("service.yaml: the selector does not match the Deployment's pod labels".into());
    }
    let addrs = config
        .proxy
        .listen
        .iter()
        .map(|a| a.raw())
        .chain([config.admin.listen.raw()]);
    for a in addrs {
        if a.parse::<SocketAddr>().is_ok_and(|a| a.ip().is_loopback()) {
            p.push(format!(
                "configmap.yaml: {a} is loopback: the Service and the kubelet come over the pod's address"
            ));
        }
    }
}

/// Probes go to the admin listener, on the two paths it serves without a token.
fn probes(c: &Value, config: &Config, p: &mut Vec<String>) {
    let admin = port_of(config.admin.listen.raw());
    if !config.admin.enabled {
        p.push("configmap.yaml: admin.enabled = false, but the probes need it".into());
    }
    for (probe, paths) in [
        ("livenessProbe", &["/healthz"][..]),
        ("readinessProbe", &["/readyz"][..]),
        ("startupProbe", &["/healthz", "/readyz"][..]),
    ] {
        let get = &c[probe]["httpGet"];
        if c[probe].is_null() && probe == "startupProbe" {
            continue;
        }
        let port = resolve_port(c, &get["port"]);
        if port.is_none() || port != admin {
            p.push(format!(
                "deployment.yaml: {probe} goes to port {port:?}, admin.listen is {admin:?}"
            ));
        }
        if !get["path"]
            .as_str()
            .is_some_and(|path| paths.contains(&path))
        {
            p.push(format!(
                "deployment.yaml: {probe} asks {}, the admin listener answers it on {paths:?}",
                get["path"]
            ));
        }
    }
}

/// Every variable the config names comes from the Secret, never a literal.
fn secrets(k: &Kube, c: &Value, text: &str, config: &Config, p: &mut Vec<String>) {
    let secret = &k.secret["metadata"]["name"];
    let secret_keys: Vec<String> = ["stringData", "data"]
        .iter()
        .filter_map(|d| k.secret[d].as_object())
        .flat_map(|o| o.keys().cloned())
        .collect();
    for var in config_env_vars(text, config) {
        let from_env = list(&c["env"]).iter().find(|e| e["name"] == var.as_str());
        let from_secret = from_env.is_some_and(|e| {
            let r = &e["valueFrom"]["secretKeyRef"];
            &r["name"] == secret
                && r["key"]
                    .as_str()
                    .is_some_and(|key| secret_keys.iter().any(|s| s == key))
        });
        let from_env_from = list(&c["envFrom"])
            .iter()
            .any(|e| &e["secretRef"]["name"] == secret)
            && secret_keys.contains(&var);
        if !(from_secret || from_env_from) {
            p.push(format!(
                "deployment.yaml: {var} (named by the config) is not set from a key of the Secret {secret}"
            ));
        }
    }
    // The placeholders must be refused, so a copy applied by mistake fails.
    for key in ["admin-token", "login-salt"] {
        if k.secret["stringData"][key]
            .as_str()
            .is_some_and(|v| v.len() >= 16)
        {
            p.push(format!(
                "secret.yaml: the placeholder {key} is 16 characters or more: Palisade would accept it"
            ));
        }
    }
}

/// The kubelet's SIGKILL comes after the preStop pause, the drain and the exit.
fn grace(k: &Kube, c: &Value, config: &Config, p: &mut Vec<String>) {
    let pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap_or(0);
    let drain = config.proxy.timeouts.shutdown_grace.duration().as_secs();
    let needed = pre_stop + drain + EXIT_AFTER_GRACE_S;
    let given = k.pod()["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap_or(30);
    if given <= needed {
        p.push(format!(
            "deployment.yaml: terminationGracePeriodSeconds {given} is not above preStop {pre_stop}s + shutdown_grace {drain}s + {EXIT_AFTER_GRACE_S}s of SIEM drain"
        ));
    }
}

fn hardening(k: &Kube, c: &Value, p: &mut Vec<String>) {
    let sc = &c["securityContext"];
    let non_root = sc["runAsNonRoot"] == true
        || (sc["runAsNonRoot"].is_null() && k.pod()["securityContext"]["runAsNonRoot"] == true);
    let checks = [
        (non_root, "runAsNonRoot: true"),
        (
            sc["readOnlyRootFilesystem"] == true,
            "readOnlyRootFilesystem: true",
        ),
        (
            sc["allowPrivilegeEscalation"] == false,
            "allowPrivilegeEscalation: false",
        ),
        (
            list(&sc["capabilities"]["drop"]).iter().any(|d| d == "ALL"),
            "capabilities.drop: [ALL]",
        ),
    ];
    for (ok, what) in checks {
        if !ok {
            p.push(format!(
                "deployment.yaml: the palisade container lacks {what}"
            ));
        }
    }
}

/// The store (the root file system is read-only) is on a writable, bounded volume.
fn store(k: &Kube, c: &Value, config: &Config, p: &mut Vec<String>) {
    let path = &config.store.path;
    let volume = list(&c["volumeMounts"])
        .iter()
        .filter(|m| m["readOnly"] != true)
        .filter(|m| {
            m["mountPath"]
                .as_str()
                .is_some_and(|d| path.starts_with(&format!("{}/", d.trim_end_matches('/'))))
        })
        .find_map(|m| {
            list(&k.pod()["volumes"])
                .iter()
                .find(|v| v["name"] == m["name"])
        });
    let bounded = volume.is_some_and(|v| {
        !v["emptyDir"]["sizeLimit"].is_null() || !v["persistentVolumeClaim"].is_null()
    });
    if !bounded {
        p.push(format!(
            "deployment.yaml: store.path {path} is not on a writable emptyDir with a sizeLimit or a PVC"
        ));
    }
}

fn resources(c: &Value, config: &Config, p: &mut Vec<String>) {
    let r = &c["resources"];
    for (key, what) in [
        ("/requests/cpu", "requests.cpu"),
        ("/requests/memory", "requests.memory"),
        ("/limits/memory", "limits.memory"),
    ] {
        if r.pointer(key).is_none() {
            p.push(format!(
                "deployment.yaml: the palisade container has no {what}"
            ));
        }
    }
    let limit = r["limits"]["memory"].as_str().and_then(quantity_bytes);
    let needed = memory_estimate(config);
    if limit.is_some_and(|l| l < needed) {
        p.push(format!(
            "deployment.yaml: limits.memory {} is below the {} MiB the config's caps add up to",
            r["limits"]["memory"],
            needed >> 20
        ));
    }
}

/// The throwaway Redis answers at fleet.url.
fn redis(k: &Kube, config: &Config, p: &mut Vec<String>) {
    if !config.fleet.enabled {
        p.push("configmap.yaml: the example is of fleet mode, but fleet.enabled is false".into());
        return;
    }
    let url = config.fleet.url.parse::<http::Uri>().ok();
    let host = url.as_ref().and_then(|u| u.host().map(str::to_string));
    let port = url.as_ref().and_then(http::Uri::port_u16).unwrap_or(6379);
    let found = k.redis.iter().filter(|d| d["kind"] == "Service").any(|s| {
        let name = format!(
            "{}.{}.svc",
            s["metadata"]["name"].as_str().unwrap_or(""),
            s["metadata"]["namespace"].as_str().unwrap_or("")
        );
        host.as_deref()
            .is_some_and(|h| h == name || h == format!("{name}.cluster.local"))
            && list(&s["spec"]["ports"])
                .iter()
                .any(|sp| sp["port"] == port)
    });
    if !found {
        p.push(format!(
            "redis-dev.yaml: no Service answers at fleet.url {}",
            config.fleet.url
        ));
    }
}

fn kustomization(k: &Kube, dir: &Path, p: &mut Vec<String>) {
    let resources: Vec<&str> = list(&k.kustomization["resources"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for needed in ["configmap.yaml", "deployment.yaml", "service.yaml"] {
        if !resources.contains(&needed) {
            p.push(format!(
                "kustomization.yaml: {needed} is not among the resources"
            ));
        }
    }
    for r in resources {
        if !dir.join(r).is_file() {
            p.push(format!("kustomization.yaml: {r} does not exist"));
        }
        if r == "secret.yaml" {
            p.push(
                "kustomization.yaml: secret.yaml would put its placeholders back on every apply"
                    .into(),
            );
        }
    }
}
