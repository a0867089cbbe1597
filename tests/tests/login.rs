//! Login routes: the outcome (`login_ok` / `login_failed`) read from the status,
//! a response header, or a pattern in the response body, as each route declares;
//! a salted hash of the username from JSON or form bodies, never the username.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use palisade_models::{LoginOutcome, RequestEvent};
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::{Body, Upstream};

const CONFIG: &str = r#"
    [routes]
    unknown = "deny"
    [[route]]
    path = "/by-status"
    login = { username_field = "email" }
    [[route]]
    path = "/by-header"
    login = { failed_status = [], failed_header = "x-login-failed", username_field = "user" }
    [[route]]
    path = "/by-body"
    login = { failed_body = "(?i)invalid (user|password)", username_field = "email" }
    [[route]]
    path = "/plain"
"#;

/// A login API that accepts only password "right", answering failures in the
/// style each route expects: 401, 200 with a header, or 200 with a message.
async fn api(req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let compressed_ok = req.headers().contains_key("accept-encoding");
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let right = body.windows(5).any(|w| w == b"right");
    let mut resp = Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}")).boxed());
    if !right {
        match path.as_str() {
            "/by-status" => *resp.status_mut() = StatusCode::UNAUTHORIZED,
            "/by-header" => {
                resp.headers_mut()
                    .insert("x-login-failed", "1".parse().unwrap());
            }
            _ => {
                *resp.body_mut() =
                    Full::new(Bytes::from_static(b"{\"error\":\"Invalid password\"}")).boxed();
            }
        }
    }
    if path == "/by-body" && compressed_ok {
        // Palisade must ask for an uncompressed answer on body-matched routes.
        *resp.status_mut() = StatusCode::NOT_ACCEPTABLE;
    }
    resp
}

async fn login(side: &Sidecar, path: &str, body: &'static str, form: bool) -> StatusCode {
    let ct = if form {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    reqwest::Client::new()
        .post(side.url(path))
        .header("content-type", ct)
        .header("accept-encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

fn outcomes(events: &[RequestEvent]) -> Vec<(String, Option<LoginOutcome>, Option<String>)> {
    events
        .iter()
        .map(|e| {
            let login = e.login;
            (
                e.path.to_string(),
                login.map(|l| l.outcome),
                login.and_then(|l| l.username_hash).map(|h| h.to_string()),
            )
        })
        .collect()
}

#[tokio::test]
async fn outcomes_are_read_as_each_route_declares() {
    let up = Upstream::start(api).await;
    let side = Sidecar::start_with(
        &up.url(),
        CONFIG,
        Options {
            no_analytics: true,
            ..Options::default()
        },
    );
    let alice = r#"{"email":"alice@example.com","password":"wrong"}"#;
    let alice_ok = r#"{"email":"Alice@Example.com","password":"right"}"#;
    assert_eq!(
        login(&side, "/by-status", alice, false).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&side, "/by-status", alice_ok, false).await,
        StatusCode::OK
    );
    assert_eq!(
        login(&side, "/by-header", "user=bob&password=wrong", true).await,
        StatusCode::OK
    );
    assert_eq!(
        login(&side, "/by-header", "user=bob&password=right", true).await,
        StatusCode::OK
    );
    assert_eq!(login(&side, "/by-body", alice, false).await, StatusCode::OK);
    assert_eq!(
        login(&side, "/by-body", alice_ok, false).await,
        StatusCode::OK
    );
    assert_eq!(login(&side, "/plain", alice, false).await, StatusCode::OK);

    let events = side.recorded_events().await;
    let got = outcomes(&events);
    use LoginOutcome::{Failed, Ok};
    let kinds: Vec<_> = got.iter().map(|(p, o, _)| (p.as_str(), *o)).collect();
    assert_eq!(
        kinds,
        [
            ("/by-status", Some(Failed)),
            ("/by-status", Some(Ok)),
            ("/by-header", Some(Failed)),
            ("/by-header", Some(Ok)),
            ("/by-body", Some(Failed)),
            ("/by-body", Some(Ok)),
            ("/plain", None),
        ]
    );
    let alice_hash = got[0].2.clone().expect("alice's username is hashed");
    assert_eq!(
        got[1].2.as_ref(),
        Some(&alice_hash),
        "case and route do not matter"
    );
    assert_eq!(got[4].2.as_ref(), Some(&alice_hash));
    let bob_hash = got[2].2.clone().expect("form usernames are hashed too");
    assert_ne!(alice_hash, bob_hash);
    assert_eq!(got[6].2, None, "not a login route");
    // Nothing of the credentials reaches the event.
    let dump = format!("{events:?}");
    for secret in ["alice", "Alice", "bob", "wrong", "right"] {
        assert!(!dump.contains(secret), "{secret} leaked into an event");
    }
}
