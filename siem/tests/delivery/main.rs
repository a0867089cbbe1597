//! Delivery from a real store's outbox to local HTTP receivers on ephemeral ports:
//! Splunk HEC batches (gzip, token, concatenated events, ack), OCSF and ECS
//! webhooks field by field, a receiver that is down then back, and a receiver that
//! refuses one record as malformed.

mod faults;
mod formats;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use palisade_models::config::SiemConfig;
use palisade_models::{
    Finding, FindingClient, FindingId, FindingKind, FindingRequest, Severity, SystemClock,
};
use palisade_siem::{Siem, SiemHandle};
use palisade_store::Store;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A value with every character a format must escape, and some it must keep.
pub const HOSTILE: &str = "a|b=c\\d\"e]f[g\nh\ri é 日本";

/// What a receiver got and how it answers.
#[derive(Debug, Default)]
pub struct Received {
    pub requests: Mutex<Vec<(HeaderMap, Bytes)>>,
    pub changed: Notify,
    /// Answer 400 to any request whose body contains this.
    pub refuse: Mutex<Option<String>>,
}

/// An HTTP receiver on `addr` answering like HEC (`{"text":"Success","code":0}`)
/// on every path, or 400 to a body holding the refusal marker.
#[derive(Debug)]
pub struct Receiver {
    pub addr: std::net::SocketAddr,
    pub got: Arc<Received>,
    stop: CancellationToken,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[allow(clippy::unwrap_used)]
async fn record(State(got): State<Arc<Received>>, headers: HeaderMap, body: Bytes) -> Response {
    let text = decoded(&headers, &body);
    let refuse = got.refuse.lock().unwrap().clone();
    if refuse.is_some_and(|r| text.contains(&r)) {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"text":"Invalid data format","code":6}"#,
        )
            .into_response();
    }
    got.requests.lock().unwrap().push((headers, body));
    got.changed.notify_waiters();
    if text.starts_with("{\"acks\"") {
        return r#"{"acks":{"0":true}}"#.into_response();
    }
    r#"{"text":"Success","code":0,"ackId":0}"#.into_response()
}

impl Receiver {
    #[allow(clippy::unwrap_used)]
    pub async fn start() -> Receiver {
        Self::on(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            Arc::default(),
        )
    }

    #[allow(clippy::unwrap_used)]
    pub fn on(listener: TcpListener, got: Arc<Received>) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/", post(record))
            .route("/{*path}", post(record))
            .with_state(got.clone());
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { s.cancelled().await })
                .await
                .unwrap();
        });
        Receiver { addr, got, stop }
    }

    /// Every event received so far (HEC: one per concatenated object; webhook: one
    /// per object or array item), skipping ack polls.
    #[allow(clippy::unwrap_used)]
    pub fn events(&self) -> Vec<Value> {
        let requests = self.got.requests.lock().unwrap();
        let mut out = Vec::new();
        for (headers, body) in requests.iter() {
            let text = decoded(headers, body);
            if text.starts_with("{\"acks\"") {
                continue;
            }
            for v in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
                match v.unwrap() {
                    Value::Array(items) => out.extend(items),
                    one => out.push(one),
                }
            }
        }
        out
    }

    /// Waits until events with at least `n` distinct record ids arrived (delivery
    /// is at least once: a record can come twice); panics after 20 s with what did.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let changed = self.got.changed.notified();
            let events = self.events();
            let distinct: std::collections::BTreeSet<_> = events.iter().map(record_id).collect();
            if distinct.len() >= n {
                return events;
            }
            assert!(
                tokio::time::timeout_at(deadline, changed).await.is_ok(),
                "{} of {n} events arrived: {events:#?}",
                events.len()
            );
        }
    }
}

/// The outbox record id an event carries, whatever its format.
pub fn record_id(v: &Value) -> String {
    [
        &v["id"],
        &v["metadata"]["uid"],
        &v["event"]["id"],
        &v["fields"]["palisade_id"],
    ]
    .into_iter()
    .find_map(|v| v.as_str())
    .unwrap_or_default()
    .to_string()
}

/// Waits until `siem`'s only sink has `delivered` records acknowledged and
/// `dead` dead letters (the receiver sees a record before the outbox is told).
pub async fn settled(siem: &SiemHandle, delivered: u64, dead: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let s = siem.status().sinks[0].clone();
        if s.delivered >= delivered && s.dead_letters >= dead {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "not settled: {s:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The body as text, gunzipped when it says so.
#[allow(clippy::unwrap_used)]
pub fn decoded(headers: &HeaderMap, body: &[u8]) -> String {
    use std::io::Read;
    if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(body)
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        String::from_utf8(body.to_vec()).unwrap()
    }
}

/// A store in a temporary directory.
#[allow(clippy::unwrap_used)]
pub fn store() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("p.redb")).unwrap());
    (dir, store)
}

/// Parses a `[siem]` section.
#[allow(clippy::unwrap_used)]
pub fn siem_config(toml_text: &str) -> SiemConfig {
    let config = palisade_models::Config::parse(&format!(
        "[upstream]\nurl = \"http://127.0.0.1:1\"\n[routes]\nunknown = \"allow\"\n{toml_text}"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    config.siem
}

/// Builds and starts the forwarders of `toml_text` over `store`.
#[allow(clippy::unwrap_used)]
pub fn start(toml_text: &str, store: &Arc<Store>) -> (SiemHandle, CancellationToken) {
    let env = |var: &str| (var == "TEST_HEC_TOKEN").then(|| "hec-secret-1".to_string());
    let siem = Siem::build_with_env(&siem_config(toml_text), store.clone(), &env).unwrap();
    let stop = CancellationToken::new();
    let handle = siem.spawn(Arc::new(SystemClock::new()), stop.clone());
    (handle, stop)
}

/// A finding at `ms` whose every free-text field is hostile.
pub fn finding(ms: u64, n: u128) -> Finding {
    let mut evidence = serde_json::Map::new();
    evidence.insert("distinct_ids".into(), 42.into());
    evidence.insert("note".into(), HOSTILE.into());
    Finding {
        instance: None,
        id: FindingId::new(ms, n),
        kind: FindingKind::BolaEnumeration,
        severity: Severity::High,
        confidence: 0.9,
        client: FindingClient {
            ip: Some("198.51.100.7".parse().expect("ip")),
            subject: Some(format!("user-{HOSTILE}").into()),
            api_key_id: None,
        },
        endpoint: Some("GET /api/orders/{id}".into()),
        window_start_ms: ms - 60_000,
        window_end_ms: ms,
        summary: format!("walked 42 orders {HOSTILE}").into(),
        evidence,
        request: Some(FindingRequest {
            method: "GET".into(),
            path: "/api/orders/1042".into(),
            status: 200,
            peer_port: 50_123,
            user_agent: Some(format!("curl/8 {HOSTILE}").into()),
        }),
    }
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    palisade_models::unix_ms(std::time::SystemTime::now())
}
