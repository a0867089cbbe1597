//! What HEC and the webhooks receive, field by field.

use palisade_models::{BlockOrigin, BlockScope, NewBlock};
use palisade_store::AuditInfo;
use serde_json::Value;

use super::{HOSTILE, Receiver, finding, now_ms, start, store};

fn s<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) => &v[i],
        Err(_) => &v[k],
    })
}

#[tokio::test]
async fn hec_gets_gzipped_concatenated_batches_with_its_token() {
    let rx = Receiver::start().await;
    let (_dir, store) = store();
    let (siem, stop) = start(
        &format!(
            "[[siem.sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nurl = \"http://{}\"\n\
             token_env = \"TEST_HEC_TOKEN\"\nforward = [\"findings\", \"blocks\"]\n\
             index = \"security\"\nack = true\n",
            rx.addr
        ),
        &store,
    );
    let now = now_ms();
    // Three records in one commit: they go out in one batch (with the block, if
    // it is queued before the forwarder looks).
    store
        .insert_findings(&[finding(now, 1), finding(now, 2), finding(now, 3)])
        .unwrap();
    let block = NewBlock {
        scope: BlockScope::Ip("198.51.100.7".parse().unwrap()),
        reason: "bola_enumeration".into(),
        origin: BlockOrigin::Analytics,
        created_ms: now,
        expires_ms: Some(now + 600_000),
        finding: None,
    };
    let audit = AuditInfo {
        actor: "analytics".into(),
        reason: "bola_enumeration".into(),
        at_ms: now,
    };
    store.insert_block(block, &audit).unwrap();
    let events = rx.wait_for(4).await;
    super::settled(&siem, 4, 0).await;
    stop.cancel();

    let requests = rx.got.requests.lock().unwrap().clone();
    let (headers, body) = &requests[0];
    assert_eq!(headers["authorization"], "Splunk hec-secret-1");
    assert_eq!(headers["content-encoding"], "gzip");
    assert!(headers.contains_key("x-splunk-request-channel"));
    let text = super::decoded(headers, body);
    assert!(
        !text.trim_start().starts_with('['),
        "not a JSON array: {text}"
    );
    let in_first = serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .count();
    assert!(
        in_first >= 3,
        "the findings of one commit go in one request: {in_first}"
    );
    // Indexer acknowledgement was asked for.
    assert!(
        requests
            .iter()
            .any(|(h, b)| super::decoded(h, b).starts_with("{\"acks\":[0]"))
    );

    let e = &events[0];
    assert_eq!(e["index"], "security");
    assert_eq!(e["source"], "palisade");
    assert_eq!(e["sourcetype"], "palisade:ocsf");
    assert!(e["time"].as_f64().unwrap() > 1.7e9);
    assert!(e["fields"]["palisade_id"].as_str().unwrap().ends_with("-1"));
    assert_eq!(e["event"]["class_uid"], 2004);
    assert_eq!(events[3]["fields"]["palisade_type"], "block");
    // No secret anywhere in what was sent.
    assert!(!text.contains("hec-secret-1"));
}

#[tokio::test]
async fn ocsf_webhook_documents_are_detection_findings() {
    let rx = Receiver::start().await;
    let (_dir, store) = store();
    let (_siem, stop) = start(
        &format!(
            "[[siem.sinks]]\nname = \"hook\"\ntype = \"http\"\nurl = \"http://{}/ingest\"\nschema = \"ocsf\"\n",
            rx.addr
        ),
        &store,
    );
    let now = now_ms();
    let f = finding(now, 7);
    store.insert_findings(std::slice::from_ref(&f)).unwrap();
    let events = rx.wait_for(1).await;
    stop.cancel();
    let d = &events[0];
    assert_eq!(d["class_uid"], 2004);
    assert_eq!(d["category_uid"], 2);
    assert_eq!(d["activity_id"], 1);
    assert_eq!(d["type_uid"], 200_401);
    assert_eq!(d["severity_id"], 4, "high");
    assert_eq!(d["time"], now);
    assert_eq!(s(d, "finding_info.uid"), &Value::from(f.id.to_string()));
    assert_eq!(s(d, "finding_info.types.0"), "bola_enumeration");
    assert_eq!(s(d, "finding_info.first_seen_time"), now - 60_000);
    assert!(s(d, "finding_info.title").as_str().is_some());
    assert_eq!(s(d, "metadata.product.name"), "Palisade");
    assert!(s(d, "metadata.version").as_str().unwrap().starts_with("1."));
    assert!(s(d, "metadata.uid").as_str().unwrap().ends_with("-1"));
    assert_eq!(s(d, "evidences.0.http_request.http_method"), "GET");
    assert_eq!(
        s(d, "evidences.0.http_request.url.path"),
        "/api/orders/1042"
    );
    assert_eq!(
        s(d, "evidences.0.http_request.user_agent"),
        &Value::from(format!("curl/8 {HOSTILE}")),
        "JSON keeps hostile text exactly"
    );
    assert_eq!(s(d, "evidences.0.src_endpoint.ip"), "198.51.100.7");
    assert_eq!(s(d, "evidences.0.src_endpoint.port"), 50_123);
    assert_eq!(
        s(d, "evidences.0.actor.user.uid"),
        &Value::from(format!("user-{HOSTILE}"))
    );
    assert_eq!(s(d, "evidences.0.data.distinct_ids"), 42);
    assert_eq!(s(d, "unmapped.palisade_endpoint"), "GET /api/orders/{id}");
}

#[tokio::test]
async fn ecs_webhook_documents_are_alerts() {
    let rx = Receiver::start().await;
    let (_dir, store) = store();
    let (_siem, stop) = start(
        &format!(
            "[[siem.sinks]]\nname = \"elastic\"\ntype = \"http\"\nurl = \"http://{}/\"\nschema = \"ecs\"\nbatch_max = 10\n",
            rx.addr
        ),
        &store,
    );
    let now = now_ms();
    let f = finding(now, 9);
    store.insert_findings(std::slice::from_ref(&f)).unwrap();
    let events = rx.wait_for(1).await;
    stop.cancel();
    let body = rx.got.requests.lock().unwrap()[0].1.clone();
    assert!(body.starts_with(b"["), "batch_max > 1 sends an array");
    let d = &events[0];
    assert_eq!(s(d, "event.kind"), "alert");
    assert_eq!(
        s(d, "event.category"),
        &serde_json::json!(["api", "intrusion_detection"])
    );
    assert!(s(d, "event.id").as_str().unwrap().ends_with("-1"));
    assert_eq!(s(d, "event.action"), "bola_enumeration");
    assert!(s(d, "@timestamp").as_str().unwrap().ends_with('Z'));
    assert_eq!(s(d, "http.request.method"), "GET");
    assert_eq!(s(d, "http.response.status_code"), 200);
    assert_eq!(s(d, "url.path"), "/api/orders/1042");
    assert_eq!(s(d, "source.ip"), "198.51.100.7");
    assert_eq!(s(d, "source.port"), 50_123);
    assert_eq!(s(d, "user.id"), &Value::from(format!("user-{HOSTILE}")));
    assert_eq!(
        s(d, "user_agent.original"),
        &Value::from(format!("curl/8 {HOSTILE}"))
    );
    assert_eq!(s(d, "rule.id"), "bola_enumeration");
    assert_eq!(s(d, "observer.product"), "Palisade");
    assert_eq!(s(d, "observer.vendor"), "Palisade");
    assert!(s(d, "ecs.version").as_str().unwrap().starts_with("8."));
    assert!(
        d.as_object().unwrap().keys().all(|k| !k.contains('.')),
        "nested, not dotted"
    );
}
