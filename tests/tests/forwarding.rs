//! Methods, headers and bodies pass intact; request ids; the event of every
//! exchange carries no secret.

use http::StatusCode;
use palisade_tests::sidecar::{Options, Sidecar, client};
use palisade_tests::upstream::Upstream;

#[tokio::test]
async fn methods_headers_and_bodies_pass_intact() {
    let up = Upstream::echo().await;
    let side = Sidecar::start(&up.url(), "");
    let c = client();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let body = format!("{{\"method\":\"{method}\",\"bytes\":[0,1,2,255]}}");
        let resp = c
            .request(method.parse().unwrap(), side.url("/api/things/42?b=2&a=1"))
            .header("x-custom", "kept as is")
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::OK, "{method}");
        assert!(resp.headers().contains_key("x-request-id"));
        assert_eq!(resp.text().await.unwrap(), body, "{method}");
    }
    let seen = up.seen();
    assert_eq!(seen.len(), 6);
    for (s, m) in seen
        .iter()
        .zip(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    {
        assert_eq!(s.method.as_str(), m);
        assert_eq!(
            s.uri.path_and_query().unwrap().as_str(),
            "/api/things/42?b=2&a=1"
        );
        assert_eq!(s.headers["x-custom"], "kept as is");
        assert_eq!(s.headers["content-type"], "application/json");
        assert_eq!(s.headers["host"], side.addr.to_string().as_str());
    }

    let head = c.head(side.url("/x")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
}

#[tokio::test]
async fn request_ids_are_generated_kept_and_returned() {
    let up = Upstream::echo().await;
    let side = Sidecar::start(&up.url(), "");
    let c = client();
    let generated = c.get(side.url("/a")).send().await.unwrap();
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(up.seen()[0].headers["x-request-id"], id.as_str());

    let kept = c
        .get(side.url("/b"))
        .header("x-request-id", "client-trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "client-trace-123");
    assert_eq!(up.seen()[1].headers["x-request-id"], "client-trace-123");

    // An id that could break logs or JSON is replaced.
    let replaced = c
        .get(side.url("/c"))
        .header("x-request-id", "evil\"id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "evil\"id with spaces");
}

#[tokio::test]
async fn hop_by_hop_headers_do_not_cross() {
    let up = Upstream::start(|_req| async {
        let mut r = palisade_tests::upstream::text(StatusCode::OK, "ok");
        r.headers_mut()
            .insert("x-upstream-hop", "secret".parse().unwrap());
        r.headers_mut()
            .insert("connection", "x-upstream-hop".parse().unwrap());
        r.headers_mut()
            .insert("keep-alive", "timeout=5".parse().unwrap());
        r
    })
    .await;
    let side = Sidecar::start(&up.url(), "");
    let resp = client()
        .get(side.url("/"))
        .header("connection", "x-client-hop")
        .header("x-client-hop", "1")
        .header("te", "trailers")
        .header("proxy-authorization", "Basic c2VjcmV0")
        .header("x-palisade-client-ip", "6.6.6.6")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("x-upstream-hop").is_none());
    assert!(resp.headers().get("keep-alive").is_none());
    let seen = &up.seen()[0];
    assert!(seen.headers.get("x-client-hop").is_none());
    assert!(seen.headers.get("te").is_none());
    assert!(seen.headers.get("proxy-authorization").is_none());
    assert_eq!(seen.headers["x-palisade-client-ip"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
}

#[tokio::test]
async fn every_exchange_is_one_event_without_secrets() {
    let up = Upstream::echo().await;
    let side = Sidecar::start_with(
        &up.url(),
        "",
        Options {
            no_analytics: true,
            ..Options::default()
        },
    );
    let resp = client()
        .post(side.url("/login?user=alice&token=SECRET-QUERY-VALUE"))
        .header("authorization", "Bearer SECRET-BEARER")
        .header("cookie", "session=SECRET-COOKIE")
        .header("x-api-key", "SECRET-API-KEY")
        .header("user-agent", "tester/1.0")
        .body("password=SECRET-BODY")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "password=SECRET-BODY");
    let events = side.recorded_events().await;
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(ev.status, 200);
    assert_eq!(ev.method, http::Method::POST);
    assert_eq!(&*ev.path, "/login");
    assert_eq!(ev.query_keys.as_deref(), Some("user&token"));
    assert_eq!(ev.user_agent.as_deref(), Some("tester/1.0"));
    assert_eq!(ev.bytes_in, 20);
    assert_eq!(ev.bytes_out, 20);
    assert!(ev.deny.is_none());
    assert!(ev.upstream_latency_us.is_some());
    assert!(ev.latency_us >= ev.upstream_latency_us.unwrap());
    let all = format!("{ev:?}");
    for secret in ["SECRET", "alice"] {
        assert!(!all.contains(secret), "event leaks {secret}: {all}");
    }
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_and_reused() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let side = Sidecar::start(&up.url(), "");
    let c = client();
    for _ in 0..20 {
        assert_eq!(c.get(side.url("/")).send().await.unwrap().status(), 200);
    }
    assert_eq!(up.count(), 20);
    assert_eq!(
        up.connections(),
        1,
        "sequential requests share one upstream connection"
    );
}

#[tokio::test]
async fn an_upstream_that_closes_every_connection_is_handled() {
    // The upstream answers and closes; the pooled connection is dead by the next
    // request, which must go out on a fresh one rather than fail.
    let up = Upstream::start(|_req| async {
        let mut r = palisade_tests::upstream::text(StatusCode::OK, "ok");
        r.headers_mut()
            .insert("connection", "close".parse().unwrap());
        r
    })
    .await;
    let side = Sidecar::start(&up.url(), "");
    let c = client();
    for i in 0..10 {
        let resp = c.get(side.url("/")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "request {i}");
        assert!(resp.headers().get("connection").is_none());
    }
    assert_eq!(up.count(), 10);
    assert_eq!(up.connections(), 10);
}
