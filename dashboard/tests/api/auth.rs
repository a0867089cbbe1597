use axum::body::Body;
use axum::http::{Request, StatusCode};

use super::*;

/// Every route of the API, with its path parameters filled in.
fn every_route() -> Vec<(String, String)> {
    palisade_dashboard::api::ROUTES
        .iter()
        .map(|(m, p)| {
            let p = p.replace("{id}", "1").replace("{key}", "ip%3A10.0.0.1");
            (m.to_uppercase(), p)
        })
        .chain([("GET".to_string(), "/metrics".to_string())])
        .collect()
}

#[tokio::test]
async fn every_route_but_the_probes_needs_the_token() {
    let admin = Admin::new();
    for (method, uri) in every_route() {
        for auth in [
            None,
            Some("Bearer wrong-token-0123456789"),
            Some("Basic dGVzdA=="),
        ] {
            let mut req = Request::builder().method(method.as_str()).uri(&uri);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = admin.send(req.body(Body::empty()).unwrap()).await;
            assert_eq!(
                resp.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {uri} {auth:?}"
            );
            assert_eq!(
                resp.headers()["www-authenticate"],
                "Bearer realm=\"palisade\""
            );
            let body = text(resp).await;
            assert!(body.contains("\"error\":\"unauthorized\""), "{body}");
            assert!(!body.contains(TOKEN));
        }
    }
    let resp = admin
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn security_headers_on_everything_and_no_store_on_the_api() {
    let admin = Admin::new();
    for (uri, auth) in [
        ("/", false),
        ("/healthz", false),
        ("/api/stats", true),
        ("/metrics", true),
    ] {
        let mut req = Request::get(uri);
        if auth {
            req = req.header("authorization", format!("Bearer {TOKEN}"));
        }
        let resp = admin.send(req.body(Body::empty()).unwrap()).await;
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(h["x-frame-options"], "DENY", "{uri}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.get("set-cookie").is_none());
        if auth {
            assert_eq!(h["cache-control"], "no-store", "{uri}");
        }
    }
}

#[tokio::test]
async fn the_ui_is_embedded_with_no_inline_script_and_no_remote_asset() {
    let admin = Admin::new();
    let resp = admin
        .send(Request::get("/").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = text(resp).await;
    assert!(html.contains("/assets/app.js"), "{html}");
    let names: Vec<String> = palisade_dashboard::assets::names().collect();
    assert!(names.iter().any(|n| n == "app.js"));
    for name in &names {
        let resp = admin
            .send(
                Request::get(format!("/assets/{name}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "{name}");
        let body = text(resp).await;
        for remote in ["http://", "https://", "//cdn", "@import url("] {
            // SVG namespaces are identifiers, not fetches.
            let fetches = body
                .match_indices(remote)
                .any(|(i, _)| !body[i..].starts_with("http://www.w3.org/"));
            assert!(!fetches, "{name} refers to {remote}");
        }
        if name.ends_with(".html") {
            assert!(
                !body.contains("<script>") && !body.contains(" onclick="),
                "{name}"
            );
            assert!(
                !body.contains(" style=\""),
                "{name}: inline style breaks the CSP"
            );
        }
    }
    let resp = admin
        .send(Request::get("/assets/nope.js").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// A kubelet's httpGet probe carries no secret, so both probes answer without the
/// token; what `/readyz` says is only which check passed.
#[tokio::test]
async fn the_probes_answer_without_the_token_and_say_only_which_check_passed() {
    let admin = Admin::new();
    for auth in [None, Some("Bearer wrong-token-0123456789")] {
        let mut req = Request::get("/readyz");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = admin.send(req.body(Body::empty()).unwrap()).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{auth:?}");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let body = text(resp).await;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["checks", "ready"], "{body}");
        let checks = json["checks"].as_object().unwrap();
        let mut names: Vec<&str> = checks.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["config", "fleet", "store", "store_writes", "upstream"],
            "{body}"
        );
        assert!(checks.values().all(serde_json::Value::is_boolean), "{body}");
        assert!(!body.contains(TOKEN));
    }
    admin.state.ready.upstream_reached();
    let resp = admin
        .send(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = admin
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn readyz_waits_for_the_upstream() {
    let admin = Admin::new();
    let (status, json) = admin.call("GET", "/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json["checks"]["upstream"], false);
    assert_eq!(json["checks"]["store"], true);
    admin.state.ready.upstream_reached();
    let (status, json) = admin.call("GET", "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["ready"], true);
}
