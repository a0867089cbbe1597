//! Tests of the sample API's HTTP surface through `router()` (no sockets), plus
//! one test of `serve()` on a real loopback listener.
//!
//! These pin the behaviour later detections rely on (sequential order ids,
//! uniform 401s, the catalog cap); they must not assert access control, since
//! the API deliberately has none.

use axum::{
    body::{Body, to_bytes},
    http::{Method, Request, StatusCode, header},
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

use super::*;

async fn call(method: Method, uri: &str, body: Body) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .expect("valid request");
    let response = router().oneshot(request).await.expect("infallible");
    let status = response.status();
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(&b"application/json"[..]),
        "{uri} answers JSON"
    );
    let bytes = to_bytes(response.into_body(), 1 << 20).await.expect("body");
    (status, serde_json::from_slice(&bytes).expect("JSON body"))
}

async fn get(uri: &str) -> (StatusCode, Value) {
    call(Method::GET, uri, Body::empty()).await
}

async fn login(body: &str) -> (StatusCode, Value) {
    call(Method::POST, "/api/login", Body::from(body.to_owned())).await
}

fn not_found() -> Value {
    json!({ "error": "not_found" })
}

#[tokio::test]
async fn healthz_is_ok() {
    assert_eq!(
        get("/healthz").await,
        (StatusCode::OK, json!({ "status": "ok" }))
    );
}

#[tokio::test]
async fn demo_login_succeeds_with_a_stable_token() {
    let (user, pass) = DEMO_LOGIN;
    let body = json!({ "username": user, "password": pass }).to_string();
    let (status, first) = login(&body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["user_id"], 1);
    let token = first["token"].as_str().expect("token is a string");
    assert!(token.starts_with("demo-") && token.len() == 21, "{token}");
    assert_eq!(login(&body).await.1, first, "deterministic");

    let (_, bob) = login(r#"{"username":"bob","password":"bob-demo-pass"}"#).await;
    assert_eq!(bob["user_id"], 2);
    assert_ne!(bob["token"], first["token"]);
}

#[tokio::test]
async fn wrong_credentials_are_401_whoever_the_user() {
    let expected = (
        StatusCode::UNAUTHORIZED,
        json!({ "error": "invalid_credentials" }),
    );
    // Another user's password must not work: passwords are per user.
    assert_eq!(
        login(r#"{"username":"alice","password":"bob-demo-pass"}"#).await,
        expected
    );
    assert_eq!(
        login(r#"{"username":"alice","password":""}"#).await,
        expected
    );
    assert_eq!(
        login(r#"{"username":"nobody","password":"nobody-demo-pass"}"#).await,
        expected
    );
}

#[tokio::test]
async fn malformed_login_is_400() {
    let expected = (StatusCode::BAD_REQUEST, json!({ "error": "bad_request" }));
    for body in [
        "",
        "not json",
        r#"{"username":"alice"}"#,
        r#"{"username":1,"password":"x"}"#,
    ] {
        assert_eq!(login(body).await, expected, "{body:?}");
    }
}

#[tokio::test]
async fn users_are_found_by_id() {
    let (status, user) = get("/api/users/1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["id"], 1);
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@example.com");
    assert!(user["name"].is_string() && user["created_at"].is_string());
    assert_eq!(get("/api/users/20").await.1["username"], "wendy");
}

#[tokio::test]
async fn unknown_or_non_numeric_user_ids_are_404() {
    for uri in [
        "/api/users/0",
        "/api/users/21",
        "/api/users/abc",
        "/api/users/-1",
        "/api/users/1.5",
    ] {
        assert_eq!(
            get(uri).await,
            (StatusCode::NOT_FOUND, not_found()),
            "{uri}"
        );
    }
    assert_eq!(
        get("/api/users/99999999999999999999999").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get("/api/users/abc/orders").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get("/api/users/21/orders").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_order_belongs_to_exactly_one_user_and_is_listed_there() {
    let mut owners = std::collections::HashMap::new();
    for user_id in 1..=20 {
        let (status, orders) = get(&format!("/api/users/{user_id}/orders")).await;
        assert_eq!(status, StatusCode::OK);
        for order in orders.as_array().expect("a list") {
            assert_eq!(order["user_id"], user_id);
            let previous = owners.insert(order["id"].as_u64().expect("numeric id"), user_id);
            assert_eq!(previous, None, "order {} listed twice", order["id"]);
        }
    }
    // Sequential ids with no gaps: exactly what a BOLA walk iterates over.
    let mut ids: Vec<u64> = owners.keys().copied().collect();
    ids.sort_unstable();
    assert_eq!(ids, (1000..1300).collect::<Vec<_>>());

    let (status, order) = get("/api/orders/1042").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order["id"], 1042);
    assert_eq!(order["user_id"], owners[&1042]);
    let items = order["items"].as_array().expect("items");
    assert!(!items.is_empty());
    let total: u64 = items
        .iter()
        .map(|i| i["qty"].as_u64().expect("qty") * i["price_cents"].as_u64().expect("price"))
        .sum();
    assert_eq!(order["total_cents"], total);
    assert!(order["status"].is_string() && order["created_at"].is_string());
}

#[tokio::test]
async fn unknown_orders_are_404() {
    for uri in [
        "/api/orders/999",
        "/api/orders/1300",
        "/api/orders/x",
        "/api/orders/0",
    ] {
        assert_eq!(
            get(uri).await,
            (StatusCode::NOT_FOUND, not_found()),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn catalog_pages_through_all_products() {
    let (status, first) = get("/api/catalog").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&first["page"], &first["per_page"], &first["next"]),
        (&json!(1), &json!(20), &json!(2))
    );
    assert_eq!(first["items"].as_array().expect("items").len(), 20);
    assert_eq!(first["items"][0]["id"], 1);
    let total = first["total"].as_u64().expect("total");
    assert_eq!(total, 250);

    let (_, last) = get("/api/catalog?page=3&per_page=100").await;
    assert_eq!(last["items"].as_array().expect("items").len(), 50);
    assert_eq!(last["next"], Value::Null);
    assert_eq!(last["items"][49]["id"], 250);

    let (_, exact) = get("/api/catalog?page=25&per_page=10").await;
    assert_eq!(
        (
            exact["items"].as_array().expect("items").len(),
            &exact["next"]
        ),
        (10, &Value::Null)
    );

    let (status, beyond) = get("/api/catalog?page=1000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&beyond["items"], &beyond["next"]),
        (&json!([]), &Value::Null)
    );
}

#[tokio::test]
async fn catalog_rejects_bad_paging() {
    let expected = (StatusCode::BAD_REQUEST, json!({ "error": "bad_request" }));
    for query in [
        "per_page=101",
        "per_page=0",
        "page=0",
        "page=two",
        "per_page=-5",
    ] {
        assert_eq!(
            get(&format!("/api/catalog?{query}")).await,
            expected,
            "{query}"
        );
    }
    assert_eq!(get("/api/catalog?per_page=100").await.0, StatusCode::OK);
}

#[tokio::test]
async fn products_are_found_by_id() {
    let (status, product) = get("/api/catalog/7").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(product["id"], 7);
    assert!(product["name"].is_string() && product["category"].is_string());
    assert!(product["price_cents"].as_u64().expect("price") > 0);
    assert_eq!(
        get("/api/catalog/251").await,
        (StatusCode::NOT_FOUND, not_found())
    );
    assert_eq!(
        get("/api/catalog/x").await,
        (StatusCode::NOT_FOUND, not_found())
    );
}

#[tokio::test]
async fn unknown_paths_are_json_404() {
    for uri in [
        "/",
        "/admin",
        "/.env",
        "/api/users",
        "/api/orders",
        "/wp-login.php",
    ] {
        assert_eq!(
            get(uri).await,
            (StatusCode::NOT_FOUND, not_found()),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn wrong_method_is_json_405() {
    let request = Request::builder()
        .uri("/api/login")
        .body(Body::empty())
        .expect("valid request");
    let response = router().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(response.headers().contains_key(header::ALLOW));
    let (status, body) = call(Method::DELETE, "/api/orders/1000", Body::empty()).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({ "error": "method_not_allowed" })
        )
    );
}

#[tokio::test]
async fn serve_answers_on_a_real_socket_and_stops_when_cancelled() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(listener, shutdown.clone()));

    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut response = String::new();
    // `Connection: close` makes the server end the stream after one response.
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{response}"
    );
    assert!(response.ends_with(r#"{"status":"ok"}"#), "{response}");

    shutdown.cancel();
    server
        .await
        .expect("serve task did not panic")
        .expect("serve returned Ok");
}
