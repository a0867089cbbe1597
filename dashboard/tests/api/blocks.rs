use axum::http::StatusCode;

use super::*;

#[tokio::test]
async fn a_manual_block_is_audited_listed_and_lifted() {
    let admin = Admin::new();
    let (s, b) = admin
        .call(
            "POST",
            "/api/blocks",
            Some(r#"{"scope":"ip","value":"198.51.100.7","ttl":"10m","reason":"walking orders"}"#),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["scope"], "ip:198.51.100.7");
    assert_eq!(b["origin"], "manual");
    assert_eq!(b["expires_ms"], NOW_MS + 600_000);
    let id = b["id"].as_u64().unwrap();
    let list = admin.get("/api/blocks").await;
    assert_eq!(list["items"][0]["id"], id);

    let (s, r) = admin
        .call(
            "DELETE",
            &format!("/api/blocks/{id}?reason=false%20positive"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["removed"]["id"], id);
    assert!(
        admin.get("/api/blocks").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (s, _) = admin
        .call("DELETE", &format!("/api/blocks/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "already lifted");

    let audit = admin.get("/api/audit").await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["action"], "block_removed");
    assert_eq!(items[0]["actor"], "admin:alice@local");
    assert_eq!(items[0]["reason"], "false positive");
    assert_eq!(items[1]["action"], "block_created");
    assert_eq!(items[1]["reason"], "walking orders");
}

#[tokio::test]
async fn ttls_in_seconds_and_permanent_blocks() {
    let admin = Admin::new();
    let (s, b) = admin
        .call(
            "POST",
            "/api/blocks",
            Some(r#"{"scope":"subject","value":"mallory","ttl":90}"#),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(b["expires_ms"], NOW_MS + 90_000);
    assert_eq!(b["reason"], "manual block");
    let (s, b) = admin
        .call(
            "POST",
            "/api/blocks",
            Some(r#"{"scope":"cidr","value":"203.0.113.7/24"}"#),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(b["scope"], "cidr:203.0.113.0/24");
    assert!(b["expires_ms"].is_null());
}

#[tokio::test]
async fn bad_blocks_are_refused_with_a_reason() {
    let admin = Admin::with(
        vec![BlockScope::Ip("10.9.9.9".parse().unwrap())],
        LiveView::default(),
    );
    for (body, status, code, needle) in [
        ("{not json", StatusCode::BAD_REQUEST, "bad_request", "JSON"),
        (
            r#"{"scope":"user","value":"x"}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "unknown scope `user`",
        ),
        (
            r#"{"scope":"ip","value":"10.0.0.300"}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "not an IP address",
        ),
        (
            r#"{"scope":"ip","value":"10.0.0.3","ttl":-5}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "positive number of seconds",
        ),
        (
            r#"{"scope":"ip","value":"10.0.0.3","ttl":"soon"}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "not a duration",
        ),
        (
            r#"{"scope":"cidr","value":"0.0.0.0/0"}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "too broad",
        ),
        (
            r#"{"scope":"ip","value":"10.0.0.3","until":"never"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            "unknown field `until`",
        ),
        (
            r#"{"scope":"ip","value":"10.9.9.9"}"#,
            StatusCode::CONFLICT,
            "allowlisted",
            "allowlisted",
        ),
    ] {
        let (s, json) = admin.call("POST", "/api/blocks", Some(body)).await;
        assert_eq!(s, status, "{body}: {json}");
        assert_eq!(json["error"], code, "{body}");
        let msg = json["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    assert!(admin.fake.active_blocks().is_empty(), "nothing was blocked");

    // Not JSON at all.
    let resp = admin
        .send(
            Request::post("/api/blocks")
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(Body::from("scope=ip"))
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, json) = admin.call("DELETE", "/api/blocks/abc", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(json["message"].as_str().unwrap().contains("not a block id"));
    let resp = admin
        .send(
            Request::post("/api/blocks")
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "application/json")
                .header("x-palisade-operator", "bob\"><script>")
                .body(Body::from(r#"{"scope":"ip","value":"10.0.0.4"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "operator names are checked"
    );
}
