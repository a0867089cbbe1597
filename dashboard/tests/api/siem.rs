use axum::body::Body;
use axum::http::Request;
use palisade_models::config::WhenFull;
use palisade_models::{FindingKind, Severity, SiemCategory, SiemStatus, SinkStatus};
use palisade_store::OutboxPolicy;

use super::*;

fn sink(name: &str, depth: u64, healthy: bool) -> SinkStatus {
    SinkStatus {
        name: name.into(),
        kind: "syslog".into(),
        target: "siem.example:6514".into(),
        depth,
        oldest_ms: Some(NOW_MS - 5_000),
        delivered: 40,
        retries: 3,
        dead_letters: 1,
        healthy,
        last_error: Some("syslog siem.example:6514: connection refused".into()),
        last_delivery_ms: Some(NOW_MS - 60_000),
        latency_counts: vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0],
        latency_sum_ms: 1234,
    }
}

#[tokio::test]
async fn status_dead_letters_and_metrics_show_the_sinks() {
    let admin = Admin::new();
    *admin.fake.siem.lock().unwrap() = SiemStatus {
        sinks: vec![sink("soc", 17, false)],
        outbox_len: 17,
        outbox_max: 100_000,
        outbox_dropped: 2,
        when_full: "drop_oldest".into(),
    };
    // One dead letter in the real store.
    let store = &admin.state.store;
    let policy = OutboxPolicy {
        mask: SiemCategory::Findings.bit(),
        max_records: 10,
        when_full: WhenFull::DropOldest,
    };
    store.configure_outbox(policy, &["soc"]).unwrap();
    let f = finding(
        NOW_MS,
        FindingKind::Probing,
        Severity::High,
        "10.0.0.1",
        "GET /x",
    );
    store.insert_findings(std::slice::from_ref(&f)).unwrap();
    let record = store
        .outbox_batch("soc", SiemCategory::Findings.bit(), 1)
        .unwrap()
        .records
        .remove(0);
    store
        .outbox_dead_letter("soc", &record, "HTTP 400: bad event", NOW_MS)
        .unwrap();

    let status = admin.get("/api/siem").await;
    assert_eq!(status["sinks"][0]["name"], "soc");
    assert_eq!(status["sinks"][0]["depth"], 17);
    assert_eq!(status["sinks"][0]["healthy"], false);
    assert_eq!(status["outbox_dropped"], 2);
    assert_eq!(status["dead_letters"], 1);

    let dead = admin.get("/api/siem/dead-letters?sink=soc").await;
    assert_eq!(dead["items"][0]["reason"], "HTTP 400: bad event");
    assert_eq!(
        dead["items"][0]["record"]["event"]["finding"]["id"],
        f.id.to_string()
    );
    assert_eq!(
        admin.get("/api/siem/dead-letters?sink=other").await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let (code, err) = admin
        .call("GET", "/api/siem/dead-letters?limit=0", None)
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");

    let resp = admin
        .send(
            Request::get("/metrics")
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let text = text(resp).await;
    for line in [
        "palisade_siem_outbox_records 17",
        "palisade_siem_outbox_dropped_total 2",
        "palisade_siem_sink_depth{sink=\"soc\"} 17",
        "palisade_siem_sink_up{sink=\"soc\"} 0",
        "palisade_siem_delivered_records_total{sink=\"soc\"} 40",
        "palisade_siem_retries_total{sink=\"soc\"} 3",
        "palisade_siem_dead_letters_total{sink=\"soc\"} 1",
        "palisade_siem_delivery_latency_seconds_bucket{le=\"+Inf\",sink=\"soc\"} 78",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
}
