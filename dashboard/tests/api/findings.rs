use axum::http::StatusCode;
use palisade_models::{FindingKind, Severity};

use super::*;

fn seed(admin: &Admin) -> Vec<Finding> {
    let mut all = Vec::new();
    for i in 0..30u64 {
        let kind = if i % 3 == 0 {
            FindingKind::BolaEnumeration
        } else {
            FindingKind::Probing
        };
        let severity = if i % 2 == 0 {
            Severity::High
        } else {
            Severity::Low
        };
        let ip = if i < 10 { "10.0.0.1" } else { "10.0.0.2" };
        all.push(finding(
            NOW_MS - 100_000 + i * 1000,
            kind,
            severity,
            ip,
            "GET /api/orders/{id}",
        ));
    }
    admin.state.store.insert_findings(&all).unwrap();
    all
}

#[tokio::test]
async fn pages_follow_next_until_the_end_newest_first() {
    let admin = Admin::new();
    let all = seed(&admin);
    let mut seen = Vec::new();
    let mut uri = "/api/findings?limit=7".to_string();
    loop {
        let page = admin.get(&uri).await;
        for f in page["items"].as_array().unwrap() {
            seen.push(f["id"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(next) => uri = format!("/api/findings?limit=7&after={next}"),
            None => break,
        }
    }
    let expected: Vec<String> = all.iter().rev().map(|f| f.id.to_string()).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn filters_combine() {
    let admin = Admin::new();
    let all = seed(&admin);
    let page = admin
        .get("/api/findings?kind=bola_enumeration&severity=high&client=10.0.0.2&limit=100")
        .await;
    let got: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    let want: Vec<String> = all
        .iter()
        .rev()
        .filter(|f| f.kind == FindingKind::BolaEnumeration && f.severity >= Severity::High)
        .filter(|f| f.client.ip == Some("10.0.0.2".parse().unwrap()))
        .map(|f| f.id.to_string())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    let since = NOW_MS - 100_000 + 25_000;
    let page = admin
        .get(&format!("/api/findings?since={since}&limit=100"))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    let page = admin
        .get("/api/findings?endpoint=GET%20/api/users/%7Bid%7D")
        .await;
    assert!(page["items"].as_array().unwrap().is_empty());
    let page = admin.get("/api/findings?since=1h&limit=1000").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 30);
}

#[tokio::test]
async fn detail_has_the_evidence_and_the_blocks_it_caused() {
    let admin = Admin::new();
    let all = seed(&admin);
    let f = &all[3];
    admin
        .fake
        .block(
            NewBlock {
                scope: BlockScope::Ip("10.0.0.1".parse().unwrap()),
                reason: "bola_enumeration".into(),
                origin: palisade_models::BlockOrigin::Analytics,
                created_ms: NOW_MS,
                expires_ms: None,
                finding: Some(f.id),
            },
            "analytics",
        )
        .unwrap();
    let d = admin.get(&format!("/api/findings/{}", f.id)).await;
    assert_eq!(d["evidence"]["distinct_ids"], 42);
    assert_eq!(d["kind"], "bola_enumeration");
    assert_eq!(d["blocks"][0]["scope"], "ip:10.0.0.1");
    let other = admin.get(&format!("/api/findings/{}", all[4].id)).await;
    assert!(other["blocks"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn bad_queries_say_what_to_fix() {
    let admin = Admin::new();
    seed(&admin);
    for (uri, status, needle) in [
        (
            "/api/findings?kind=bola",
            StatusCode::BAD_REQUEST,
            "unknown kind `bola`",
        ),
        (
            "/api/findings?severity=urgent",
            StatusCode::BAD_REQUEST,
            "unknown severity",
        ),
        (
            "/api/findings?limit=0",
            StatusCode::BAD_REQUEST,
            "limit must be 1 to 1000",
        ),
        ("/api/findings?limit=-1", StatusCode::BAD_REQUEST, "limit"),
        (
            "/api/findings?since=yesterday",
            StatusCode::BAD_REQUEST,
            "RFC 3339",
        ),
        (
            "/api/findings?after=x",
            StatusCode::BAD_REQUEST,
            "`next` value",
        ),
        (
            "/api/findings?colour=red",
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        (
            "/api/findings/not-a-uuid",
            StatusCode::BAD_REQUEST,
            "not a finding id",
        ),
        (
            "/api/findings/0190b2f4-0000-7000-8000-000000000000",
            StatusCode::NOT_FOUND,
            "no finding",
        ),
        ("/api/nothing", StatusCode::NOT_FOUND, "openapi.json"),
    ] {
        let (s, json) = admin.call("GET", uri, None).await;
        assert_eq!(s, status, "{uri}: {json}");
        let msg = json["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{uri}: {msg}");
        assert!(json["error"].is_string());
    }
}
