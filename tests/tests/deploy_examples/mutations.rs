//! Owns the proof that every check of `kube` and `systemd` can fail: the real
//! examples, each with one mistake an operator could make, must each be
//! caught with the problem that names it. A mutation that no longer applies
//! (the example changed under it) fails too, instead of passing vacuously.

use serde_json::{Value, json};

use super::kube::{self, CONFIG_KEY, Kube};
use super::systemd::{self, Unit};
use super::{deploy, load_unit};

type KubeEdit = fn(&mut Kube);

fn toml(k: &mut Kube, from: &str, to: &str) {
    let text = k.config_text().expect("config").to_string();
    assert!(text.contains(from), "mutation does not apply: {from}");
    k.configmap["data"][CONFIG_KEY] = Value::String(text.replacen(from, to, 1));
}

fn set(v: &mut Value, pointer: &str, new: Value) {
    *v.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("mutation does not apply: {pointer}")) = new;
}

fn palisade(k: &mut Kube) -> &mut Value {
    k.deployment["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .expect("containers")
        .iter_mut()
        .find(|c| c["name"] == kube::CONTAINER)
        .expect("palisade container")
}

fn env_of<'a>(k: &'a mut Kube, name: &str) -> &'a mut Value {
    palisade(k)["env"]
        .as_array_mut()
        .expect("env")
        .iter_mut()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("mutation does not apply: env {name}"))
}

const KUBE: &[(&str, &str, KubeEdit)] = &[
    ("a config that does not load", "does not load", |k| {
        toml(k, "[proxy]", "[proxy]\nlisten_typo = 1")
    }),
    ("proxy.listen moved", "targetPort", |k| {
        toml(k, "0.0.0.0:8000", "0.0.0.0:8001")
    }),
    ("the container port moved", "targetPort", |k| {
        set(palisade(k), "/ports/0/containerPort", json!(8001))
    }),
    ("the Service targets the admin port", "targetPort", |k| {
        set(&mut k.service, "/spec/ports/0/targetPort", json!("admin"))
    }),
    ("the Service selects other pods", "selector", |k| {
        set(
            &mut k.service,
            "/spec/selector",
            json!({"app.kubernetes.io/name": "other"}),
        )
    }),
    ("admin on loopback", "is loopback", |k| {
        toml(k, "0.0.0.0:9901", "127.0.0.1:9901")
    }),
    ("readiness on /healthz", "readinessProbe asks", |k| {
        set(
            palisade(k),
            "/readinessProbe/httpGet/path",
            json!("/healthz"),
        )
    }),
    (
        "liveness on the proxy port",
        "livenessProbe goes to port",
        |k| set(palisade(k), "/livenessProbe/httpGet/port", json!("http")),
    ),
    (
        "startup probe on /metrics (needs the token)",
        "startupProbe asks",
        |k| set(palisade(k), "/startupProbe/httpGet/path", json!("/metrics")),
    ),
    (
        "the login salt not provided",
        "PALISADE_LOGIN_SALT (named by the config)",
        |k| {
            palisade(k)["env"]
                .as_array_mut()
                .expect("env")
                .retain(|e| e["name"] != "PALISADE_LOGIN_SALT");
        },
    ),
    (
        "the Redis password from a missing key",
        "PALISADE_REDIS_PASSWORD",
        |k| {
            set(
                env_of(k, "PALISADE_REDIS_PASSWORD"),
                "/valueFrom/secretKeyRef/key",
                json!("nope"),
            )
        },
    ),
    (
        "the admin token as a literal",
        "PALISADE_ADMIN_TOKEN",
        |k| {
            *env_of(k, "PALISADE_ADMIN_TOKEN") =
                json!({"name": "PALISADE_ADMIN_TOKEN", "value": "literal-token-0123456789"});
        },
    ),
    (
        "admin.token_env renamed",
        "OTHER_TOKEN (named by the config)",
        |k| {
            toml(
                k,
                "token_env = \"PALISADE_ADMIN_TOKEN\"",
                "token_env = \"OTHER_TOKEN\"",
            )
        },
    ),
    (
        "a SIEM sink whose token nobody sets",
        "PALISADE_HEC_TOKEN (named by the config)",
        |k| {
            toml(
                k,
                "[fleet]",
                "[[siem.sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nurl = \"https://splunk.example.com:8088\"\ntoken_env = \"PALISADE_HEC_TOKEN\"\n\n[fleet]",
            )
        },
    ),
    (
        "a placeholder Palisade would accept",
        "placeholder admin-token",
        |k| {
            set(
                &mut k.secret,
                "/stringData/admin-token",
                json!("CHANGE-ME-0123456789"),
            )
        },
    ),
    (
        "grace period exactly preStop + drain + exit",
        "terminationGracePeriodSeconds",
        |k| {
            set(
                &mut k.deployment,
                "/spec/template/spec/terminationGracePeriodSeconds",
                json!(27),
            )
        },
    ),
    (
        "shutdown_grace raised alone",
        "terminationGracePeriodSeconds",
        |k| toml(k, "shutdown_grace = \"20s\"", "shutdown_grace = \"40s\""),
    ),
    (
        "a writable root file system",
        "readOnlyRootFilesystem",
        |k| {
            set(
                palisade(k),
                "/securityContext/readOnlyRootFilesystem",
                json!(false),
            )
        },
    ),
    ("capabilities kept", "capabilities.drop", |k| {
        set(palisade(k), "/securityContext/capabilities/drop", json!([]))
    }),
    (
        "privilege escalation allowed",
        "allowPrivilegeEscalation",
        |k| {
            set(
                palisade(k),
                "/securityContext/allowPrivilegeEscalation",
                json!(true),
            )
        },
    ),
    ("root allowed", "runAsNonRoot", |k| {
        set(palisade(k), "/securityContext/runAsNonRoot", json!(false))
    }),
    ("the store on the read-only root", "store.path", |k| {
        toml(k, "/var/lib/palisade/palisade.redb", "/srv/palisade.redb")
    }),
    ("an unbounded emptyDir", "store.path", |k| {
        set(
            &mut k.deployment,
            "/spec/template/spec/volumes/1/emptyDir",
            json!({}),
        )
    }),
    ("--config elsewhere", "--config", |k| {
        set(palisade(k), "/args/2", json!("/etc/palisade.toml"))
    }),
    ("the ConfigMap mounted elsewhere", "--config", |k| {
        set(palisade(k), "/volumeMounts/0/mountPath", json!("/config"))
    }),
    ("a memory limit below the caps", "limits.memory", |k| {
        set(palisade(k), "/resources/limits/memory", json!("256Mi"))
    }),
    ("more clients, same limit", "limits.memory", |k| {
        toml(k, "max_clients = 100000", "max_clients = 1000000")
    }),
    ("no memory request", "requests.memory", |k| {
        palisade(k)["resources"]["requests"]
            .as_object_mut()
            .expect("requests")
            .remove("memory");
    }),
    ("Redis elsewhere", "redis-dev.yaml", |k| {
        toml(k, "redis.palisade.svc", "redis.other.svc")
    }),
    ("fleet off", "fleet.enabled", |k| {
        toml(k, "enabled = true", "enabled = false")
    }),
    (
        "the Secret in the kustomization",
        "secret.yaml would put",
        |k| {
            k.kustomization["resources"]
                .as_array_mut()
                .expect("resources")
                .push(json!("secret.yaml"));
        },
    ),
    ("a missing resource", "does not exist", |k| {
        k.kustomization["resources"]
            .as_array_mut()
            .expect("resources")
            .push(json!("missing.yaml"));
    }),
];

/// (what, expected problem, file, from, to): a text edit of the systemd example.
const UNIT: &[(&str, &str, &str, &str, &str)] = &[
    (
        "ExecStart on another file",
        "ExecStart is not",
        "unit",
        "palisade run --config /etc/palisade/palisade.toml",
        "palisade run --config /etc/palisade/other.toml",
    ),
    (
        "no ExecStartPre check",
        "no ExecStartPre",
        "unit",
        "palisade check --config",
        "palisade run --config",
    ),
    (
        "installed elsewhere",
        "ExecStart is not",
        "unit",
        "palisade.toml /etc/palisade/palisade.toml",
        "palisade.toml /etc/palisade.toml",
    ),
    (
        "TimeoutStopSec just the drain",
        "TimeoutStopSec",
        "unit",
        "TimeoutStopSec=45s",
        "TimeoutStopSec=32s",
    ),
    (
        "TimeoutStopSec left to the default",
        "TimeoutStopSec",
        "unit",
        "TimeoutStopSec=45s\n",
        "",
    ),
    (
        "shutdown_grace raised alone",
        "TimeoutStopSec",
        "config",
        "shutdown_grace = \"30s\"",
        "shutdown_grace = \"60s\"",
    ),
    (
        "KillSignal SIGKILL",
        "KillSignal",
        "unit",
        "KillSignal=SIGTERM",
        "KillSignal=SIGKILL",
    ),
    (
        "Restart always",
        "Restart is not",
        "unit",
        "Restart=on-failure",
        "Restart=always",
    ),
    (
        "as root",
        "runs as root",
        "unit",
        "DynamicUser=yes",
        "DynamicUser=no",
    ),
    (
        "ProtectSystem full",
        "ProtectSystem",
        "unit",
        "ProtectSystem=strict",
        "ProtectSystem=full",
    ),
    (
        "new privileges",
        "NoNewPrivileges",
        "unit",
        "NoNewPrivileges=yes",
        "NoNewPrivileges=no",
    ),
    (
        "another state directory",
        "StateDirectory",
        "unit",
        "StateDirectory=palisade",
        "StateDirectory=palisade-state",
    ),
    (
        "the store outside it",
        "not in the StateDirectory",
        "config",
        "/var/lib/palisade/palisade.redb",
        "/srv/palisade.redb",
    ),
    (
        "port 443 without the capability",
        "below 1024 needs",
        "config",
        "0.0.0.0:8000",
        "0.0.0.0:443",
    ),
    (
        "a capability kept",
        "must be present and empty",
        "unit",
        "CapabilityBoundingSet=\n",
        "CapabilityBoundingSet=CAP_NET_ADMIN\n",
    ),
    (
        "another environment file",
        "EnvironmentFile",
        "unit",
        "EnvironmentFile=/etc/palisade/palisade.env",
        "EnvironmentFile=/etc/palisade/other.env",
    ),
    (
        "the salt missing from it",
        "PALISADE_LOGIN_SALT (named by the config)",
        "env",
        "PALISADE_LOGIN_SALT=CHANGE-ME",
        "",
    ),
    (
        "a secret in the unit",
        "keep it out of Environment=",
        "unit",
        "KillSignal=SIGTERM",
        "Environment=PALISADE_ADMIN_TOKEN=literal\nKillSignal=SIGTERM",
    ),
    (
        "too few descriptors",
        "LimitNOFILE",
        "unit",
        "LimitNOFILE=32768",
        "LimitNOFILE=4096",
    ),
    (
        "MemoryMax below the caps",
        "MemoryMax",
        "unit",
        "MemoryMax=2G",
        "MemoryMax=512M",
    ),
];

#[test]
fn every_check_catches_its_mistake() {
    let dir = deploy().join("kubernetes");
    let base = Kube::load(&dir);
    assert!(
        kube::problems(&base, &dir).is_empty(),
        "the example itself is sound"
    );
    for (what, expected, edit) in KUBE {
        let mut k = base.clone();
        edit(&mut k);
        let problems = kube::problems(&k, &dir);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "kubernetes, {what}: no problem says {expected:?}: {problems:#?}"
        );
    }
    let base = load_unit();
    assert!(
        systemd::problems(&base).is_empty(),
        "the example itself is sound"
    );
    for (what, expected, file, from, to) in UNIT {
        let mut u: Unit = base.clone();
        let text = match *file {
            "unit" => &mut u.unit,
            "config" => &mut u.config,
            _ => &mut u.env_example,
        };
        assert!(text.contains(from), "mutation does not apply: {from}");
        *text = text.replacen(from, to, 1);
        let problems = systemd::problems(&u);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "systemd, {what}: no problem says {expected:?}: {problems:#?}"
        );
    }
}
