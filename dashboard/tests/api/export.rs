use axum::body::Body;
use axum::http::Request;
use palisade_dashboard::Export;

use super::*;

#[tokio::test]
async fn events_export_is_a_parquet_attachment_over_the_asked_span() {
    let admin = Admin::new();
    let resp = admin
        .send(
            Request::get("/api/export?since=1h")
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.apache.parquet"
    );
    let cd = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cd.starts_with("attachment; filename=\"palisade-events-") && cd.ends_with(".parquet\""),
        "{cd}"
    );
    assert_eq!(resp.headers()["x-palisade-rows"], "7");
    assert!(text(resp).await.starts_with("PAR1"));
    assert_eq!(
        admin.fake.exports.lock().unwrap()[0],
        Export::Events {
            since_ms: NOW_MS - 3_600_000,
            until_ms: NOW_MS + 1,
        }
    );
}

#[tokio::test]
async fn findings_export_takes_kinds_and_absolute_times() {
    let admin = Admin::new();
    let (status, _) = admin
        .call(
            "GET",
            "/api/export?data=findings&kind=scraping,unusual_client&since=2026-09-21T00:00:00Z&until=1790000000000",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        admin.fake.exports.lock().unwrap()[0],
        Export::Findings {
            // 2026-09-21T00:00:00Z; NOW_MS is 14:13:20 that day.
            since_ms: 1_789_948_800_000,
            until_ms: 1_790_000_000_000,
            kinds: vec![FindingKind::Scraping, FindingKind::UnusualClient],
        }
    );
}

#[tokio::test]
async fn bad_export_requests_say_what_to_fix() {
    let admin = Admin::new();
    for (uri, needle) in [
        ("/api/export?kind=scraping", "data=findings"),
        ("/api/export?data=logs", "not events or findings"),
        (
            "/api/export?data=findings&kind=bola",
            "unknown finding kind",
        ),
        ("/api/export?since=soon", "is not a time"),
        ("/api/export?since=1h&until=2h", "before until"),
        ("/api/export?format=csv", "unknown field"),
    ] {
        let (status, json) = admin.call("GET", uri, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {json}");
        let message = json["message"].as_str().unwrap();
        assert!(message.contains(needle), "{uri}: {message}");
    }
    assert!(admin.fake.exports.lock().unwrap().is_empty());
    let resp = admin
        .send(Request::get("/api/export").body(Body::empty()).unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
