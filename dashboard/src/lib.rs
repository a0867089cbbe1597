//! The admin surface: a listener separate from the proxy (127.0.0.1 by default,
//! bearer-token protected) serving the JSON API (`api`), the embedded web UI
//! (`assets`), the SSE live feed (`feed`, `api::stream`), `/metrics` (`metrics`),
//! `/healthz` and `/readyz` (the two probes, public; DESIGN.md, "Admin surface").
//!
//! Reaches the running sidecar only through `state::Control`, which the binary
//! implements; never exposes a secret (the token is never logged or echoed, and
//! nothing here sees request headers or bodies of proxied traffic), and is never
//! reachable through the proxy's listeners.

pub mod api;
pub mod assets;
pub mod auth;
pub mod feed;
pub mod guard;
pub mod metrics;
pub mod state;
pub mod stats;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;

pub use auth::{Token, TokenError};
pub use feed::Feed;
pub use guard::AuthGuard;
pub use state::{
    AdminState, BlockRefused, Control, Counters, Export, ExportError, ExportFile, Readiness,
    SpecView,
};
pub use stats::StatsKeeper;

/// The Content-Security-Policy of every response: nothing inline, nothing from
/// elsewhere, never framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The whole admin router: public `/healthz`, `/readyz` and UI files, everything
/// else behind the token. Every response, errors and 404s too, carries the
/// security headers (CSP, X-Frame-Options, nosniff, Referrer-Policy) and, unless
/// it is a UI file, `Cache-Control: no-store`. No CORS: no `Access-Control-*`
/// header is ever set, so a browser page from another origin cannot read an
/// answer.
pub fn router(state: AdminState) -> Router {
    let protected = api::routes()
        .route("/metrics", get(metrics::metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    // The probes are public because a kubelet's httpGet probe (or a load
    // balancer's health check) cannot carry a secret without writing it into the
    // pod spec. They say only whether each check passed: no address, no count, no
    // error text.
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/readyz",
            get(readyz).layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            )),
        )
        .route("/", get(assets::index))
        .route("/assets/{*path}", get(assets::asset))
        .merge(protected)
        .with_state(state)
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        // Everything not cached on purpose (the UI's files say `no-cache`):
        // health, errors and 404s included, so no proxy keeps an admin answer.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(State(s): State<AdminState>) -> Response {
    let store = s.store.count_findings().is_ok();
    let upstream = s.ready.upstream().await;
    let fleet = !s
        .ready
        .fleet_joining
        .load(std::sync::atomic::Ordering::Acquire);
    // Reported, never a reason to be unready: with the store memory-only the
    // proxy still enforces every policy and block, and taking it out of rotation
    // would hurt the service it protects. `palisade_store_degraded` alerts.
    let store_writes = !s.store.health().degraded;
    let ready = store && upstream && fleet;
    let body = serde_json::json!({
        "ready": ready,
        "checks": {"config": true, "store": store, "upstream": upstream, "fleet": fleet, "store_writes": store_writes},
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// A bound admin listener.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    state: AdminState,
}

impl AdminServer {
    /// An admin server on a bound listener; `serve` starts it.
    pub fn new(listener: TcpListener, state: AdminState) -> Self {
        Self { listener, state }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `state.stopping` is cancelled; the stats ticker runs alongside.
    pub async fn serve(self) -> std::io::Result<()> {
        let stop = self.state.stopping.clone();
        tokio::spawn(stats::run_ticker(self.state.clone(), stop.clone()));
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    }
}
