//! Drift between the OpenAPI spec and real traffic, through the real sidecar
//! and analytics: the admin API marks each endpoint in spec, zombie, shadow or
//! probed and lists the unused operations; a mass-assignment attempt becomes a
//! finding of its own; after a stop, `palisade spec diff` prints the same from
//! the stored inventory.

use std::path::PathBuf;
use std::process::Command;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use palisade_models::FindingKind;
use palisade_tests::sidecar::Sidecar;
use palisade_tests::upstream::{Body, Upstream, text};
use palisade_tests::{eventually, eventually_async};

const TOKEN: &str = "e2e-admin-token-openapi-0123456789";

fn fixture() -> PathBuf {
    palisade_models::crate_dir!().join("../openapi/fixtures/shop.yaml")
}

/// The service: knows its spec's paths and one it never documented.
async fn service() -> Upstream {
    Upstream::start(|req: Request<Incoming>| async move {
        let known = req.uri().path().starts_with("/api/") && req.uri().path() != "/api/nothing";
        let r: Response<Body> = if known {
            text(StatusCode::OK, "{}")
        } else {
            text(StatusCode::NOT_FOUND, "not found")
        };
        r
    })
    .await
}

#[tokio::test]
async fn the_admin_api_shows_drift_and_spec_diff_prints_it_from_the_store() {
    let up = service().await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let store = dir.path().join("palisade.redb");
    let side = Sidecar::start(
        &up.url(),
        &format!(
            r#"
[routes]
unknown = "allow"
[openapi]
spec = "{}"
auth_from_spec = false
[admin]
listen = "127.0.0.1:0"
token_env = "PALISADE_E2E_UNSET_TOKEN"
token_file = "{}"
[store]
path = "{}"
persist_interval = "1s"
"#,
            fixture().display(),
            token.display(),
            store.display(),
        ),
    );
    let c = reqwest::Client::new();
    let order = "0b9c2a52-8f1e-4c55-9a43-3d7e5f1a2b6c";
    for (method, path, body) in [
        ("GET", "/api/users/7?debug=1".to_string(), None),
        ("POST", format!("/api/orders/{order}/cancel"), None),
        ("GET", "/api/internal/debug".to_string(), None),
        ("GET", "/api/nothing".to_string(), None),
        (
            "POST",
            "/api/users".to_string(),
            Some(r#"{"email":"a@b.co","name":"A","role":"admin"}"#),
        ),
    ] {
        let mut req = c.request(method.parse().unwrap(), side.url(&path));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        req.send().await.unwrap();
    }

    let admin = side.palisade.admin_addr().unwrap();
    let get = |path: &'static str| {
        let c = c.clone();
        async move {
            let r = c
                .get(format!("http://{admin}{path}"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            serde_json::from_str::<serde_json::Value>(&r.text().await.unwrap()).unwrap()
        }
    };
    // Analytics publishes its live view each second.
    let endpoints = eventually_async("the live inventory holds the five endpoints", || async {
        let e = get("/api/endpoints").await;
        e["items"]
            .as_array()
            .is_some_and(|i| i.len() >= 5)
            .then_some(e)
    })
    .await;
    let drift_of = |method: &str, template: &str| -> String {
        endpoints["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["method"] == method && e["template"] == template)
            .map(|e| e["drift"].as_str().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("{method} {template} not in {endpoints:#}"))
    };
    assert_eq!(drift_of("GET", "/api/users/{userId}"), "in_spec");
    assert_eq!(drift_of("POST", "/api/orders/{orderId}/cancel"), "zombie");
    assert_eq!(drift_of("GET", "/api/internal/debug"), "shadow");
    assert_eq!(drift_of("GET", "/api/nothing"), "probed");
    let user = endpoints["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["template"] == "/api/users/{userId}")
        .unwrap();
    assert_eq!(
        user["undeclared_params"],
        serde_json::json!(["query.debug"])
    );
    assert_eq!(user["operation_id"], "getUser");
    let unused: Vec<&str> = endpoints["unused"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["operation_id"].as_str())
        .collect();
    assert!(unused.contains(&"deleteUser"), "{unused:?}");
    assert!(
        !unused.contains(&"getUser") && !unused.contains(&"createUser"),
        "{unused:?}"
    );
    assert_eq!(endpoints["spec"]["title"], "Shop API");
    assert_eq!(endpoints["spec"]["shadow"], 1);

    // The mass-assignment attempt is a finding.
    let store_handle = side.palisade.store().clone();
    eventually("a mass_assignment finding is stored", || {
        store_handle
            .findings(
                &Default::default(),
                palisade_store::PageRequest {
                    after: None,
                    limit: 100,
                },
            )
            .map(|p| {
                p.items
                    .iter()
                    .any(|f| f.kind == FindingKind::MassAssignment)
            })
            .unwrap_or(false)
    })
    .await;

    // Stopped, the store holds the inventory `spec diff` reads.
    drop(store_handle);
    let data = side.data;
    side.palisade.shutdown().await;
    let out = Command::new(env!("CARGO_BIN_EXE_palisade-e2e"))
        .args(["spec", "diff", "--spec"])
        .arg(fixture())
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    drop(data);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let section = |title: &str| -> String {
        text.split(title)
            .nth(1)
            .unwrap_or_else(|| panic!("no `{title}` in {text}"))
            .split("\n\n")
            .next()
            .unwrap()
            .to_string()
    };
    assert!(
        section("In traffic, not in the spec").contains("GET /api/internal/debug"),
        "{text}"
    );
    assert!(section("Parameters sent").contains("query.debug"), "{text}");
    assert!(section("Parameters sent").contains("body/role"), "{text}");
    assert!(section("still called").contains("cancelOrder"), "{text}");
    assert!(
        section("(unused)").contains("DELETE /api/users/{userId}"),
        "{text}"
    );
    assert!(
        !section("(unused)").contains("GET /api/users/{userId}"),
        "{text}"
    );
}
