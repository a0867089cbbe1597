//! API keys: configured as SHA-256 digests; a route that requires one answers 401
//! without a valid key and 403 without the route's scopes; the upstream and the
//! event learn the key's id, never the key; keys can be blocked by id.

use http::StatusCode;
use palisade_models::{BlockOrigin, BlockScope, DenyCode, NewBlock, Phase};
use palisade_tests::sha256_hex;
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

const BILLING_KEY: &str = "pk_live_billing_5d41402abc4b2a76";
const INTERN_KEY: &str = "pk_live_intern_7d793037a0760186";

fn config() -> String {
    format!(
        r#"
        [routes]
        unknown = "deny"
        [[route]]
        path = "/api/orders/{{id}}"
        methods = ["GET"]
        auth = "api_key"
        scopes = ["orders:read"]
        [[route]]
        path = "/public"
        [[auth.api_keys.key]]
        id = "billing"
        sha256 = "{}"
        scopes = ["orders:read"]
        [[auth.api_keys.key]]
        id = "intern"
        sha256 = "{}"
        "#,
        sha256_hex(BILLING_KEY),
        sha256_hex(INTERN_KEY).to_uppercase()
    )
}

async fn get(side: &Sidecar, path: &str, key: Option<&str>) -> (StatusCode, String) {
    let mut req = reqwest::Client::new().get(side.url(path));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn routes_requiring_a_key_check_it_and_its_scopes() {
    let up = Upstream::echo().await;
    let side = Sidecar::start_with(
        &up.url(),
        &config(),
        Options {
            no_analytics: true,
            ..Options::default()
        },
    );
    let (status, body) = get(&side, "/api/orders/1000", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("unauthenticated"), "{body}");
    let (status, _) = get(&side, "/api/orders/1000", Some("pk_live_guess")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = get(&side, "/api/orders/1000", Some(INTERN_KEY)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("forbidden"), "{body}");
    assert_eq!(up.count(), 0, "no denied request reaches the upstream");

    let (status, _) = get(&side, "/api/orders/1000", Some(BILLING_KEY)).await;
    assert_eq!(status, StatusCode::OK);
    let seen = up.seen().pop().unwrap();
    assert_eq!(seen.headers["x-palisade-api-key-id"], "billing");

    let events = side.recorded_events().await;
    let denials: Vec<_> = events
        .iter()
        .filter_map(|e| e.deny.map(|d| (d.phase, d.code)))
        .collect();
    assert_eq!(
        denials,
        vec![
            (Phase::Authenticate, DenyCode::Unauthenticated),
            (Phase::Authenticate, DenyCode::Unauthenticated),
            (Phase::Authorize, DenyCode::Forbidden),
        ]
    );
    assert_eq!(events[2].api_key_id.as_deref(), Some("intern"));
    assert_eq!(events[3].api_key_id.as_deref(), Some("billing"));
    let all = format!("{events:?}");
    assert!(!all.contains("pk_live"), "a key reached an event: {all}");
}

#[tokio::test]
async fn a_client_cannot_claim_a_key_id_and_keys_can_be_blocked() {
    let up = Upstream::echo().await;
    let side = Sidecar::start(&up.url(), &config());
    let resp = reqwest::Client::new()
        .get(side.url("/public"))
        .header("x-palisade-api-key-id", "billing")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(up.seen()[0].headers.get("x-palisade-api-key-id").is_none());

    side.palisade.blocks().publish(NewBlock {
        scope: BlockScope::ApiKey("billing".into()),
        reason: "test: leaked key".into(),
        origin: BlockOrigin::Manual,
        created_ms: 0,
        expires_ms: None,
        finding: None,
    });
    let (status, body) = get(&side, "/public", Some(BILLING_KEY)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("blocked"), "{body}");
    let (status, _) = get(&side, "/public", Some(INTERN_KEY)).await;
    assert_eq!(status, StatusCode::OK);
}
