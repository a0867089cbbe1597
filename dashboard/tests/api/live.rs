use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::StreamExt as _;
use palisade_models::{EndpointInfo, FindingKind, Severity};

use super::*;

fn endpoint(template: &str, declared: bool) -> EndpointInfo {
    EndpointInfo {
        method: "GET".into(),
        template: template.into(),
        declared,
        first_seen_ms: NOW_MS - 10_000,
        last_seen_ms: NOW_MS,
        requests: 10,
        status_classes: [0, 8, 0, 2, 0],
        unauthorized: 2,
        forbidden: 0,
        not_found: 0,
        auth_none: 10,
        auth_jwt: 0,
        auth_api_key: 0,
        rate_1m: 0.5,
        rate_10m: 0.1,
        rate_1h: 0.01,
        latency_p50_us: 900,
        latency_p95_us: 3000,
        latency_p99_us: 9000,
        bytes_out_avg: 100.0,
        latency_counts: vec![7, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        latency_sum_us: 12_000,
        upstream_answered: 0,
        params_seen: Vec::new(),
    }
}

fn live() -> LiveView {
    LiveView {
        at_ms: NOW_MS,
        endpoints: vec![
            endpoint("/api/users/{id}", true),
            endpoint("/internal/debug", false),
        ],
        top_talkers: vec![
            summary("ip:10.0.0.1", 50, 0),
            summary("subject:alice", 20, 5),
        ],
        top_failing: vec![summary("subject:alice", 20, 5)],
        clients_tracked: 2,
    }
}

#[tokio::test]
async fn endpoints_mark_shadow_ones() {
    let admin = Admin::with(Vec::new(), live());
    let e = admin.get("/api/endpoints").await;
    let items = e["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["shadow"], false);
    assert_eq!(items[1]["template"], "/internal/debug");
    assert_eq!(items[1]["shadow"], true);
    assert_eq!(items[1]["latency_p95_us"], 3000);
}

#[tokio::test]
async fn clients_top_lists_and_one_clients_history() {
    let admin = Admin::with(Vec::new(), live());
    let f = finding(
        NOW_MS - 5000,
        FindingKind::Probing,
        Severity::High,
        "10.0.0.1",
        "GET /x",
    );
    admin
        .state
        .store
        .insert_findings(std::slice::from_ref(&f))
        .unwrap();
    let (s, b) = admin
        .call(
            "POST",
            "/api/blocks",
            Some(r#"{"scope":"ip","value":"10.0.0.1","reason":"probe"}"#),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let top = admin.get("/api/clients").await;
    assert_eq!(top["tracked"], 2);
    assert_eq!(top["top_talkers"][0]["key"], "ip:10.0.0.1");
    assert_eq!(top["top_talkers"][0]["blocked"], true);
    assert_eq!(top["top_talkers"][1]["blocked"], false);
    assert_eq!(top["top_failing"][0]["key"], "subject:alice");

    let c = admin.get("/api/clients/ip%3A10.0.0.1").await;
    assert_eq!(c["key"], "ip:10.0.0.1");
    assert_eq!(c["live"]["requests"], 50);
    assert_eq!(c["findings"][0]["id"], f.id.to_string());
    assert_eq!(c["blocks"][0]["id"], b["id"]);
    let kinds: Vec<&str> = c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["block_created", "finding"], "newest first");

    let other = admin.get("/api/clients/subject%3Abob").await;
    assert!(other["live"].is_null());
    assert!(other["findings"].as_array().unwrap().is_empty());
    let (s, json) = admin.call("GET", "/api/clients/10.0.0.1", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(json["message"].as_str().unwrap().contains("ip:<address>"));
}

#[tokio::test]
async fn stats_and_metrics_count_without_naming_clients() {
    let admin = Admin::with(Vec::new(), live());
    let f = finding(
        NOW_MS,
        FindingKind::Probing,
        Severity::High,
        "10.0.0.1",
        "GET /x",
    );
    admin.state.stats.found(&f);
    admin
        .state
        .stats
        .sample(&admin.fake.counters(), NOW_MS - 1000);
    let stats = admin.get("/api/stats").await;
    assert_eq!(stats["requests_total"], 1000);
    assert_eq!(stats["denies"]["blocked"], 30);
    assert_eq!(stats["tee"]["dropped"], 3);
    assert_eq!(stats["findings_by_kind"]["probing"], 1);
    assert_eq!(stats["findings_total"], 1);
    assert_eq!(stats["endpoints"], 2);
    assert_eq!(stats["uptime_s"], 60);
    assert!(stats["series"].is_array());

    let resp = admin
        .send(
            Request::get("/metrics")
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let m = text(resp).await;
    for needle in [
        r#"palisade_requests_total{method="GET",route="/api/users/{id}",class="2xx"} 8"#,
        r#"palisade_denied_requests_total{reason="blocked"} 30"#,
        r#"palisade_findings_total{kind="probing"} 1"#,
        r#"palisade_tee_dropped_events_total 3"#,
        r#"palisade_request_duration_seconds_bucket{le="0.001",method="GET",route="/api/users/{id}"} 7"#,
        r#"palisade_request_duration_seconds_count{method="GET",route="/api/users/{id}"} 10"#,
        "palisade_active_blocks 0",
        "# EOF",
    ] {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
    assert!(
        !m.contains("10.0.0.1") && !m.contains("alice"),
        "no client in metrics:\n{m}"
    );
}

/// Reads SSE frames from a response body until `n` non-comment events arrived.
async fn events(body: Body, n: usize) -> Vec<(String, Option<String>, String)> {
    let mut stream = body.into_data_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("an event within 10 s")
            .expect("stream open")
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let (mut event, mut id, mut data) = (String::new(), None, String::new());
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().into();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !event.is_empty() && event != "stats" {
                out.push((event, id, data));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_stream_sends_live_events_and_resumes_after_last_event_id() {
    let admin = Admin::new();
    let req = || Request::get("/api/stream").header("authorization", format!("Bearer {TOKEN}"));
    let resp = admin.send(req().body(Body::empty()).unwrap()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let f = finding(
        NOW_MS,
        FindingKind::BolaEnumeration,
        Severity::High,
        "10.0.0.1",
        "GET /x",
    );
    admin.state.feed.finding(&f);
    let (s, b) = admin
        .call(
            "POST",
            "/api/blocks",
            Some(r#"{"scope":"ip","value":"10.0.0.1"}"#),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let block: Block = serde_json::from_value(b).unwrap();
    admin.state.feed.block(&block);
    admin
        .state
        .feed
        .unblock(&block, "admin@local", "done", false);
    let got = events(resp.into_body(), 3).await;
    assert_eq!(got[0].0, "finding");
    assert!(got[0].2.contains(&f.id.to_string()));
    assert_eq!(got[1].0, "block");
    assert_eq!(got[2].0, "unblock");
    let first_id = got[0].1.clone().expect("findings have ids");

    // Reconnect after the first: the two missed events come first.
    let resp = admin
        .send(
            req()
                .header("last-event-id", &first_id)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let again = events(resp.into_body(), 2).await;
    assert_eq!(again[0].0, "block");
    assert_eq!(again[1].0, "unblock");
    assert_eq!(again[1].1, got[2].1);

    // An id from another run: reset.
    let resp = admin
        .send(
            req()
                .header("last-event-id", "1-5")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(events(resp.into_body(), 1).await[0].0, "reset");
}
