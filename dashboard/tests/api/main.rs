//! The admin API's handlers, driven with `oneshot` against a temp store and a fake
//! sidecar (`Fake`, implementing `Control` the way the binary does: store and
//! audit first, then the table).

// Helpers of a test crate: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::new_without_default)]

mod auth;
mod blocks;
mod export;
mod findings;
mod live;
mod openapi;
mod siem;

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use futures_util::future::BoxFuture;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use palisade_dashboard::{
    AdminState, BlockRefused, Control, Counters, Feed, Readiness, StatsKeeper, Token,
};
use palisade_models::{
    Block, BlockId, BlockScope, ClientName, ClientSummary, Finding, FindingClient, FindingId,
    FindingKind, LiveView, ManualClock, NewBlock, Severity,
};
use palisade_store::{AuditInfo, Store};

pub const TOKEN: &str = "test-admin-token-0123456789";
pub const NOW_MS: u64 = 1_790_000_000_000;

/// A sidecar without a proxy: blocks live in the store and a list.
#[derive(Debug)]
pub struct Fake {
    pub store: Arc<Store>,
    pub blocks: Mutex<Vec<Arc<Block>>>,
    pub allow: Vec<BlockScope>,
    pub clients: Vec<ClientSummary>,
    pub siem: Mutex<palisade_models::SiemStatus>,
    /// Exports asked for; answered with `PAR1` bytes.
    pub exports: Mutex<Vec<palisade_dashboard::Export>>,
}

impl Control for Fake {
    fn siem(&self) -> palisade_models::SiemStatus {
        self.siem.lock().unwrap().clone()
    }

    fn active_blocks(&self) -> Vec<Arc<Block>> {
        self.blocks.lock().unwrap().clone()
    }

    fn block(&self, block: NewBlock, actor: &str) -> Result<Block, BlockRefused> {
        let audit = AuditInfo {
            actor: actor.into(),
            reason: block.reason.clone(),
            at_ms: NOW_MS,
        };
        let b = self.store.insert_block(block, &audit).unwrap();
        self.blocks.lock().unwrap().push(Arc::new(b.clone()));
        Ok(b)
    }

    fn unblock(&self, id: BlockId, actor: &str, reason: &str) -> Option<Block> {
        let mut blocks = self.blocks.lock().unwrap();
        let i = blocks.iter().position(|b| b.id == id)?;
        let b = blocks.remove(i);
        let audit = AuditInfo {
            actor: actor.into(),
            reason: reason.into(),
            at_ms: NOW_MS + 1,
        };
        self.store.remove_block(id, &audit).unwrap();
        Some((*b).clone())
    }

    fn allowlisted(&self, scope: &BlockScope) -> bool {
        self.allow.contains(scope)
    }

    fn client(&self, who: ClientName) -> BoxFuture<'static, Option<ClientSummary>> {
        let found = self.clients.iter().find(|c| c.key == who).cloned();
        Box::pin(async move { found })
    }

    fn export(
        &self,
        what: palisade_dashboard::Export,
    ) -> BoxFuture<'static, Result<palisade_dashboard::ExportFile, palisade_dashboard::ExportError>>
    {
        self.exports.lock().unwrap().push(what);
        Box::pin(async {
            Ok(palisade_dashboard::ExportFile {
                bytes: b"PAR1 not really PAR1".to_vec(),
                rows: 7,
            })
        })
    }

    fn counters(&self) -> Counters {
        Counters {
            requests_total: 1000,
            denied_total: 40,
            denies: vec![("blocked", 30), ("signature", 10)],
            tee_capacity: 4096,
            tee_dropped: 3,
            connections_open: 2,
            send_timeouts: 1,
            requests_in_flight: 1,
            ..Counters::default()
        }
    }
}

/// A router over a fresh store, and what the test may poke.
#[allow(missing_debug_implementations)]
pub struct Admin {
    pub state: AdminState,
    pub fake: Arc<Fake>,
    _dir: tempfile::TempDir,
}

impl Admin {
    pub fn new() -> Self {
        Self::with(Vec::new(), LiveView::default())
    }

    pub fn with(allow: Vec<BlockScope>, live: LiveView) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("p.redb")).unwrap());
        let fake = Arc::new(Fake {
            store: store.clone(),
            blocks: Mutex::default(),
            allow,
            clients: live.top_talkers.clone(),
            siem: Mutex::default(),
            exports: Mutex::default(),
        });
        let clock = Arc::new(ManualClock::new(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(NOW_MS),
        ));
        let state = AdminState {
            store,
            control: fake.clone(),
            feed: Arc::new(Feed::new(NOW_MS)),
            stats: Arc::new(StatsKeeper::new(NOW_MS - 60_000)),
            live: Arc::new(ArcSwap::from_pointee(live)),
            ready: Arc::new(Readiness::default()),
            token: Arc::new(Token::new(TOKEN, "test").unwrap()),
            // Generous: the tests that walk every route with a wrong token must
            // see 401s; the lockout has its own tests.
            guard: Arc::new(palisade_dashboard::AuthGuard::with(
                1000,
                std::time::Duration::from_secs(60),
                100,
                clock.clone(),
            )),
            clock,
            stopping: tokio_util::sync::CancellationToken::new(),
        };
        Admin {
            state,
            fake,
            _dir: dir,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        palisade_dashboard::router(self.state.clone())
            .oneshot(req)
            .await
            .unwrap()
    }

    /// An authorised request.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        body: Option<&str>,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("x-palisade-operator", "alice");
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let resp = self
            .send(
                req.body(Body::from(body.unwrap_or("").to_string()))
                    .unwrap(),
            )
            .await;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    pub async fn get(&self, uri: &str) -> serde_json::Value {
        let (status, json) = self.call("GET", uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {json}");
        json
    }
}

pub fn finding(
    ms: u64,
    kind: FindingKind,
    severity: Severity,
    ip: &str,
    endpoint: &str,
) -> Finding {
    let mut evidence = serde_json::Map::new();
    evidence.insert("distinct_ids".into(), 42.into());
    Finding {
        instance: None,
        id: FindingId::new(ms, u128::from(ms)),
        kind,
        severity,
        confidence: 0.9,
        client: FindingClient {
            ip: Some(ip.parse().unwrap()),
            subject: None,
            api_key_id: None,
        },
        endpoint: Some(endpoint.into()),
        window_start_ms: ms - 60_000,
        window_end_ms: ms,
        summary: format!("{kind} from {ip}").into(),
        evidence,
        request: None,
    }
}

pub fn summary(key: &str, requests: u64, unauthorized: u64) -> ClientSummary {
    ClientSummary {
        key: key.parse().unwrap(),
        requests,
        unauthorized,
        forbidden: 0,
        not_found: 0,
        server_errors: 0,
        login_failed: 0,
        signature_hits: 0,
        first_seen_ms: NOW_MS - 5000,
        last_seen_ms: NOW_MS,
    }
}

pub async fn text(resp: Response<Body>) -> String {
    String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}
