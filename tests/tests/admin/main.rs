//! The admin listener of a real sidecar: a manual block through the API reaches
//! the proxy at once and is audited with who did it; lifting it lets the client
//! through again; the live stream carries both; `/metrics` counts by route;
//! `/readyz` turns ready once the upstream answered; and a non-loopback admin
//! listener without a token is refused at start.
//! The hardening of the admin surface itself is in `hardening.rs`.

use std::time::Duration;

use futures_util::StreamExt as _;
use http::StatusCode;
use palisade::PalisadeBuilder;
use palisade_tests::sidecar::{Sidecar, config};
use palisade_tests::upstream::Upstream;

const TOKEN: &str = "e2e-admin-token-0123456789abcdef";

struct Admin {
    base: String,
    http: reqwest::Client,
}

impl Admin {
    fn new(side: &Sidecar) -> Self {
        let addr = side.palisade.admin_addr().expect("admin listener");
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("x-palisade-operator", "e2e")
    }

    async fn json(&self, path: &str) -> serde_json::Value {
        let r = self.req(reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        serde_json::from_str(&r.text().await.unwrap()).unwrap()
    }
}

fn start(up: &Upstream, dir: &tempfile::TempDir) -> Sidecar {
    start_with(up, dir, "")
}

/// A sidecar whose `[admin]` section has `extra` keys too.
fn start_with(up: &Upstream, dir: &tempfile::TempDir, extra: &str) -> Sidecar {
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    Sidecar::start(
        &up.url(),
        &format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_env = \"PALISADE_E2E_UNSET_TOKEN\"\ntoken_file = \"{}\"\n{extra}",
            token.display()
        ),
    )
}

/// Reads the stream until an event named `name` arrives; returns its data.
async fn next_event(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
    name: &str,
) -> String {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if frame.lines().any(|l| {
                l.trim_end() == format!("event: {name}") || l.trim_end() == format!("event:{name}")
            }) {
                return frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim)
                    .collect();
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap_or_else(|_| panic!("no `{name}` event within 10 s"))
            .expect("stream open")
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn a_manual_block_reaches_the_proxy_at_once_and_is_audited() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let dir = tempfile::tempdir().unwrap();
    let side = start(&up, &dir);
    let admin = Admin::new(&side);
    let client = reqwest::Client::new();
    // The test's client is 127.0.0.1 (no trusted proxies are configured).
    let as_client = |path: &str| client.get(side.url(path));
    assert_eq!(as_client("/a").send().await.unwrap().status(), 200);

    let stream = admin
        .req(reqwest::Method::GET, "/api/stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut events = stream.bytes_stream();
    let mut buf = String::new();

    let r = admin
        .req(reqwest::Method::POST, "/api/blocks")
        .header("content-type", "application/json")
        .body(r#"{"scope": "ip", "value": "127.0.0.1", "ttl": "5m", "reason": "e2e: walking ids"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let block: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let id = block["id"].as_u64().unwrap();

    // No waiting: the very next request is refused.
    let denied = as_client("/b").send().await.unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert!(
        denied
            .text()
            .await
            .unwrap()
            .contains("\"reason\":\"blocked\"")
    );
    let seen = next_event(&mut events, &mut buf, "block").await;
    assert!(seen.contains(&format!("\"id\":{id}")), "{seen}");

    let r = admin
        .req(
            reqwest::Method::DELETE,
            &format!("/api/blocks/{id}?reason=e2e%20done"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(as_client("/c").send().await.unwrap().status(), 200);
    let seen = next_event(&mut events, &mut buf, "unblock").await;
    assert!(seen.contains("\"actor\":\"admin:e2e@127.0.0.1\""), "{seen}");

    let audit = admin.json("/api/audit").await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items[0]["action"], "block_removed");
    assert_eq!(items[0]["actor"], "admin:e2e@127.0.0.1");
    assert_eq!(items[0]["reason"], "e2e done");
    assert_eq!(items[1]["action"], "block_created");
    assert_eq!(items[1]["reason"], "e2e: walking ids");
    // The block is in the store too (so a restart would have enforced it).
    assert!(side.palisade.store().active_blocks(0).unwrap().is_empty());
    assert_eq!(
        up.count(),
        2,
        "the blocked request never reached the upstream"
    );
}

#[tokio::test]
async fn metrics_stats_and_readiness_of_a_running_sidecar() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let dir = tempfile::tempdir().unwrap();
    let side = start(&up, &dir);
    let admin = Admin::new(&side);
    let c = reqwest::Client::new();
    for i in 0..5 {
        let r = c
            .get(side.url(&format!("/api/items/{}", 1000 + i)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // The worker publishes its view once a second; readiness needs one upstream
    // connection, which the probe makes at start.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let r = admin
            .req(reqwest::Method::GET, "/metrics")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let text = r.text().await.unwrap();
        if text.contains("route=\"/api/items/{id}\"") {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no per-route metrics:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        metrics.contains(
            "palisade_requests_total{method=\"GET\",route=\"/api/items/{id}\",class=\"2xx\"} 5"
        ),
        "{metrics}"
    );
    assert!(!metrics.contains("127.0.0.1"), "no client in metrics");
    let endpoints = admin.json("/api/endpoints").await;
    let e = &endpoints["items"][0];
    assert_eq!(e["template"], "/api/items/{id}");
    assert_eq!(
        e["shadow"], true,
        "no routes are declared: discovered, not declared"
    );
    let ready = admin
        .req(reqwest::Method::GET, "/readyz")
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let unauth = c
        .get(format!("{}/api/stats", admin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), StatusCode::UNAUTHORIZED);
    let health = c
        .get(format!("{}/healthz", admin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_public_admin_listener_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        "http://127.0.0.1:9",
        &format!(
            "[admin]\nlisten = \"0.0.0.0:0\"\ntoken_env = \"PALISADE_E2E_UNSET_TOKEN\"\n[store]\npath = \"{}\"\n",
            dir.path().join("p.redb").display()
        ),
    );
    let err = PalisadeBuilder::new(cfg).start().expect_err("must refuse");
    let text = format!("{err:#}");
    assert!(text.contains("not a loopback address"), "{text}");
    assert!(text.contains("PALISADE_E2E_UNSET_TOKEN"), "{text}");
}

mod hardening;
