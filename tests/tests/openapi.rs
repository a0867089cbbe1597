//! OpenAPI positive security: the real sidecar in front of a real upstream,
//! routing and validating by a realistic spec (openapi/fixtures/shop.yaml).
//! Valid requests reach the upstream byte for byte; each kind of violation is
//! refused (block) or recorded (detect) with the parameter and rule named;
//! mass assignment is told apart; the spec reloads without a restart, and a
//! malformed one is refused with its line while the running one stays.

use std::path::{Path, PathBuf};

use http::StatusCode;
use palisade_models::{DenyCode, ParamLocation, Phase, RequestEvent, ViolationKind};
use palisade_proxy::Reload;
use palisade_tests::eventually;
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

const API_KEY: &str = "shop-ci-key";

fn fixture() -> PathBuf {
    palisade_models::crate_dir!().join("../openapi/fixtures/shop.yaml")
}

/// The config for the shop spec at `spec`, with `[openapi]` lines and more TOML.
fn config(spec: &Path, openapi: &str, extra: &str) -> String {
    format!(
        r#"
[routes]
unknown = "deny"
[openapi]
spec = "{}"
{openapi}
[[auth.api_keys.key]]
id = "ci"
sha256 = "{}"
{extra}
"#,
        spec.display(),
        palisade_tests::sha256_hex(API_KEY),
    )
}

fn start(up: &Upstream, openapi: &str, extra: &str) -> Sidecar {
    Sidecar::start_with(
        &up.url(),
        &config(&fixture(), openapi, extra),
        Options {
            no_analytics: true,
            ..Options::default()
        },
    )
}

/// Every event recorded so far, waiting for `n`.
async fn events(side: &Sidecar, n: usize) -> Vec<RequestEvent> {
    let mut out = Vec::new();
    eventually(&format!("{n} events are recorded"), || {
        side.tee().drain_into(&mut out, usize::MAX);
        out.len() >= n
    })
    .await;
    out
}

/// "location name rule" for each violation of an event.
fn violations(ev: &RequestEvent) -> Vec<String> {
    ev.schema
        .as_ref()
        .map(|r| {
            r.violations
                .iter()
                .map(|v| format!("{} {} {}", v.location.as_str(), v.name, v.rule))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn valid_requests_reach_the_upstream_untouched() {
    let up = Upstream::echo().await;
    let side = start(
        &up,
        "validation = \"block\"\nunknown_query = \"reject\"\nunknown_fields = \"reject\"",
        "",
    );
    let c = reqwest::Client::new();
    let user = r#"{"email":"ada@example.com","name":"Ada","address":{"street":"1 Main St","city":"Springfield","zip":"12345"},"newsletter":true}"#;
    let resp = c
        .post(side.url("/api/users"))
        .header("content-type", "application/json")
        .body(user)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.text().await.unwrap(),
        user,
        "the body arrives byte for byte"
    );

    let order = "0b9c2a52-8f1e-4c55-9a43-3d7e5f1a2b6c";
    let gets = [
        "/api/users?page=2&limit=10&role=member&tag=a&tag=b".to_string(),
        "/api/users/42".to_string(),
        format!("/api/orders/{order}"),
        "/api/orders?status=paid&created_after=2026-01-02T03:04:05Z".to_string(),
        "/api/products/ABC-1234".to_string(),
    ];
    for path in &gets {
        let resp = c
            .get(side.url(path))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let seen: Vec<String> = up.seen().iter().map(|s| s.uri.to_string()).collect();
    assert_eq!(seen[1..], gets[..], "paths and queries arrive as sent");
    let evs = events(&side, 6).await;
    assert!(
        evs.iter().all(|e| e.schema.is_none() && e.deny.is_none()),
        "{evs:?}"
    );
    assert_eq!(evs[0].route.as_deref(), Some("/api/users"));
    assert_eq!(evs[2].route.as_deref(), Some("/api/users/{userId}"));
}

#[tokio::test]
async fn each_violation_is_refused_with_the_parameter_and_rule_named() {
    let up = Upstream::echo().await;
    let side = start(&up, "validation = \"block\"", "");
    let c = reqwest::Client::new();
    let json = |path: &str, body: &'static str| {
        c.post(side.url(path))
            .header("content-type", "application/json")
            .body(body)
    };
    let cases = vec![
        (c.get(side.url("/api/users/abc")), "path userId type"),
        (c.get(side.url("/api/users/0")), "path userId minimum"),
        (
            c.get(side.url("/api/users/7"))
                .header("x-client-version", "latest"),
            "header x-client-version pattern",
        ),
        (
            c.get(side.url("/api/orders/12345"))
                .header("x-api-key", API_KEY),
            "path orderId format",
        ),
        (
            c.get(side.url("/api/users?limit=500")),
            "query limit maximum",
        ),
        (c.get(side.url("/api/users?role=root")), "query role enum"),
        (c.get(side.url("/api/orders")), "query status missing"),
        (
            c.get(side.url("/api/orders?status=paid&created_after=soon")),
            "query created_after format",
        ),
        (
            json("/api/users", r#"{"name":"Ada"}"#),
            "body /email required",
        ),
        (
            json("/api/users", r#"{"email":"nope","name":"Ada"}"#),
            "body /email format",
        ),
        (
            json(
                "/api/users",
                r#"{"email":"a@b.co","name":"A","address":{"street":"s","city":"c","zip":"ABCDE"}}"#,
            ),
            "body /address/zip pattern",
        ),
        (
            json(
                "/api/orders",
                r#"{"items":[{"sku":"ABC-1234","quantity":0}],"currency":"EUR"}"#,
            ),
            "body /items/0/quantity minimum",
        ),
        (
            json(
                "/api/orders",
                r#"{"items":[{"sku":"ABC-1234","quantity":1}],"currency":"JPY"}"#,
            ),
            "body /currency enum",
        ),
        (json("/api/users", r#"{"email":"#), "body  json"),
        (
            c.post(side.url("/api/users"))
                .header("content-type", "text/plain")
                .body("hi"),
            "body  content_type",
        ),
    ];
    let n = cases.len();
    for (req, want) in cases {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{want}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("\"reason\":\"schema\""), "{want}: {body}");
        assert!(
            !body.contains("userId") && !body.contains("email"),
            "the client is told nothing more: {body}"
        );
    }
    assert_eq!(up.count(), 0, "no refused request reached the upstream");
    let evs = events(&side, n).await;
    let wants = [
        "path userId type",
        "path userId minimum",
        "header x-client-version pattern",
        "path orderId format",
        "query limit maximum",
        "query role enum",
        "query status missing",
        "query created_after format",
        "body /email required",
        "body /email format",
        "body /address/zip pattern",
        "body /items/0/quantity minimum",
        "body /currency enum",
        "body  json",
        "body  content_type",
    ];
    for (ev, want) in evs.iter().zip(wants) {
        assert_eq!(violations(ev), [want]);
        let deny = ev.deny.expect("denied");
        assert_eq!((deny.phase, deny.code), (Phase::Validate, DenyCode::Schema));
        assert!(ev.schema.as_ref().unwrap().denied);
        assert_eq!(ev.status, 400);
    }
}

#[tokio::test]
async fn detect_mode_lets_violations_through_and_records_them() {
    let up = Upstream::echo().await;
    let side = start(&up, "validation = \"detect\"", "");
    let c = reqwest::Client::new();
    let resp = c
        .get(side.url("/api/users?limit=500&debug=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(up.count(), 1);
    let ev = &events(&side, 1).await[0];
    assert_eq!(
        violations(ev),
        ["query limit maximum", "query debug unknown"]
    );
    let r = ev.schema.as_ref().unwrap();
    assert!(!r.denied);
    assert_eq!(r.violations[1].kind, ViolationKind::Unknown);
    assert!(ev.deny.is_none());
}

#[tokio::test]
async fn mass_assignment_is_recorded_and_rejected_where_configured() {
    let up = Upstream::echo().await;
    let side = start(
        &up,
        "validation = \"block\"\nunknown_fields = \"flag\"",
        r#"
[[route]]
operation_id = "createOrder"
unknown_fields = "reject"
"#,
    );
    let c = reqwest::Client::new();
    // Flagged on createUser: let through, recorded as mass assignment.
    let sent = r#"{"email":"a@b.co","name":"A","is_admin":true,"nickname":"x"}"#;
    let resp = c
        .post(side.url("/api/users"))
        .header("content-type", "application/json")
        .body(sent)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // additionalProperties: false on updateUser refuses whatever the policy.
    let resp = c
        .patch(side.url("/api/users/9"))
        .header("content-type", "application/json")
        .body(r#"{"name":"A","role":"admin"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // createOrder rejects unknown fields: a balance is refused.
    let resp = c
        .post(side.url("/api/orders"))
        .header("content-type", "application/json")
        .body(r#"{"items":[{"sku":"ABC-1234","quantity":1}],"currency":"EUR","discount":100}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(up.count(), 1);

    let evs = events(&side, 3).await;
    let kinds = |ev: &RequestEvent| -> Vec<(String, ViolationKind)> {
        ev.schema
            .as_ref()
            .unwrap()
            .violations
            .iter()
            .map(|v| (v.name.to_string(), v.kind))
            .collect()
    };
    assert_eq!(
        kinds(&evs[0]),
        [
            ("/is_admin".to_string(), ViolationKind::MassAssignment),
            ("/nickname".to_string(), ViolationKind::Unknown),
        ]
    );
    assert!(evs[0].deny.is_none());
    assert_eq!(violations(&evs[1]), ["body /role additionalProperties"]);
    assert_eq!(kinds(&evs[1])[0].1, ViolationKind::MassAssignment);
    // `discount` is part of the Order the operation returns: setting it is mass assignment.
    assert_eq!(
        kinds(&evs[2]),
        [("/discount".to_string(), ViolationKind::MassAssignment)]
    );
    assert_eq!(
        evs[2].schema.as_ref().unwrap().violations[0].location,
        ParamLocation::Body
    );
}

#[tokio::test]
async fn spec_security_requirements_are_enforced() {
    let up = Upstream::echo().await;
    let side = start(&up, "", "");
    let c = reqwest::Client::new();
    let resp = c.delete(side.url("/api/users/3")).send().await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "deleteUser requires an API key"
    );
    let resp = c
        .delete(side.url("/api/users/3"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = c.get(side.url("/api/health")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "security: [] is open");
    let resp = c.get(side.url("/api/secret")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "not in the spec");
}

const WIDGETS: &str = r#"
  /widgets/{id}:
    get:
      operationId: getWidget
      parameters:
        - name: id
          in: path
          required: true
          schema: {type: integer, maximum: 10}
      responses:
        "200": {description: a widget}
"#;

/// The fixture with `more` added under `paths:`.
fn with_paths(more: &str) -> String {
    std::fs::read_to_string(fixture())
        .unwrap()
        .replacen("paths:\n", &format!("paths:{more}"), 1)
}

#[tokio::test]
async fn the_spec_reloads_without_a_restart() {
    let up = Upstream::echo().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("openapi.yaml");
    std::fs::copy(fixture(), &spec).unwrap();
    let side = Sidecar::start_with(
        &up.url(),
        &config(
            &spec,
            "validation = \"block\"\nreload_interval = \"100ms\"",
            "",
        ),
        Options {
            no_analytics: true,
            ..Options::default()
        },
    );
    let c = reqwest::Client::new();
    let status = |path: &'static str| {
        let c = c.clone();
        let url = side.url(path);
        async move { c.get(url).send().await.unwrap().status() }
    };
    assert_eq!(status("/api/widgets/3").await, StatusCode::NOT_FOUND);

    // The watcher picks the new file up by itself.
    std::fs::write(&spec, with_paths(WIDGETS)).unwrap();
    let handle = side.palisade.spec().expect("a spec is configured").clone();
    eventually("the watcher reloads the spec", || {
        handle.status().reloads == 1
    })
    .await;
    assert_eq!(status("/api/widgets/3").await, StatusCode::OK);
    assert_eq!(status("/api/widgets/11").await, StatusCode::BAD_REQUEST);
    assert_eq!(handle.status().operations, 12);

    // A reload of the same content changes nothing.
    assert_eq!(handle.reload().unwrap(), Reload::Unchanged);
}

#[tokio::test]
async fn a_malformed_spec_names_its_line_and_the_running_one_stays() {
    let up = Upstream::echo().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("openapi.yaml");
    std::fs::copy(fixture(), &spec).unwrap();
    // Reloaded by hand only: the test decides when.
    let side = Sidecar::start_with(
        &up.url(),
        &config(
            &spec,
            "validation = \"block\"\nreload_interval = \"0s\"",
            "",
        ),
        Options {
            no_analytics: true,
            ..Options::default()
        },
    );
    let handle = side.palisade.spec().unwrap().clone();
    let broken = with_paths("\n  /widgets:\n    get: {operationId: [unclosed\n");
    let line = broken
        .lines()
        .position(|l| l.contains("[unclosed"))
        .unwrap()
        + 1;
    std::fs::write(&spec, &broken).unwrap();
    let err = handle.reload().unwrap_err().to_string();
    assert!(err.contains("openapi.yaml"), "{err}");
    assert!(
        err.contains(&format!("line {line}")) || err.contains(&format!("line {}", line + 1)),
        "names the line ({line}): {err}"
    );
    let status = handle.status();
    assert_eq!((status.reloads, status.failures), (0, 1));
    assert!(status.last_error.unwrap().contains("line"));

    // The running spec still routes and validates.
    let c = reqwest::Client::new();
    let ok = c.get(side.url("/api/users/1")).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let bad = c.get(side.url("/api/users/0")).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // A spec that parses but cannot be enforced is refused too.
    std::fs::write(&spec, with_paths("\n  /wat:\n    get:\n      parameters:\n        - $ref: '#/components/parameters/Nope'\n      responses: {}\n")).unwrap();
    let err = handle.reload().unwrap_err().to_string();
    assert!(err.contains("#/components/parameters/Nope"), "{err}");
    assert!(err.contains("line "), "{err}");

    // Fixed: it loads.
    std::fs::write(&spec, with_paths(WIDGETS)).unwrap();
    assert_eq!(
        handle.reload().unwrap(),
        Reload::Replaced { operations: 12 }
    );
    assert_eq!(handle.status().last_error, None);
}

#[test]
fn check_reports_spec_problems_with_key_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("openapi.yaml");
    std::fs::write(
        &spec,
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get: [\n",
    )
    .unwrap();
    let text = palisade_tests::sidecar::config_text("http://127.0.0.1:1", &config(&spec, "", ""));
    let parsed = palisade_models::Config::parse(&text).unwrap();
    let problems = palisade::cli::preflight(&parsed);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key, "openapi.spec");
    assert!(problems[0].message.contains("line "), "{problems:?}");
    assert!(problems[0].hint.contains("fix the syntax"), "{problems:?}");

    std::fs::copy(fixture(), &spec).unwrap();
    let text = palisade_tests::sidecar::config_text(
        "http://127.0.0.1:1",
        &config(&spec, "", "[[route]]\noperation_id = \"getUsr\""),
    );
    let parsed = palisade_models::Config::parse(&text).unwrap();
    let problems = palisade::cli::preflight(&parsed);
    assert_eq!(problems[0].key, "route[0].operation_id", "{problems:?}");
    assert!(problems[0].hint.contains("operationId"), "{problems:?}");
}
