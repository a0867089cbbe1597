//! The built-in sample API that `palisade demo` puts behind Palisade: a small
//! shop (users, orders, a paginated catalog, a login endpoint) served in-process
//! so a fresh machine can try Palisade without any external service.
//!
//! Deliberately vulnerable to BOLA: it returns any object to anyone and never
//! checks the token it hands out; Palisade is what notices. It must not grow
//! real security (rate limits, authorization) or the demos of BOLA, credential
//! stuffing, scraping and path probing would have nothing to detect.

mod data;
#[cfg(test)]
mod tests;

use std::io;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{
        Path, Query, State,
        rejection::{PathRejection, QueryRejection},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use data::{DATASET, Dataset, Product};

/// The demo users' credentials, for the demo's printed instructions: (username, password).
pub const DEMO_LOGIN: (&str, &str) = ("alice", "alice-demo-pass");

/// Every demo account as (user id, username, password), for the demo's simulated
/// shoppers (`demo::traffic`), so they log in with what this API really accepts.
pub fn accounts() -> Vec<(u64, &'static str, String)> {
    (1..)
        .map_while(|id| DATASET.user(id))
        .map(|u| (u.id, u.username, data::password_for(u.username)))
        .collect()
}

const DEFAULT_PER_PAGE: usize = 20;
const MAX_PER_PAGE: usize = 100;

type Data = &'static Dataset;

/// The sample API's router (pure: test it with tower::ServiceExt::oneshot, no sockets).
pub fn router() -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/login", post(login))
        .route("/api/users/{id}", get(user))
        .route("/api/users/{id}/orders", get(user_orders))
        .route("/api/orders/{id}", get(order))
        .route("/api/catalog", get(catalog))
        .route("/api/catalog/{id}", get(product))
        // Must come after the routes: it only applies to those already added.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(&*DATASET)
}

/// Serves the sample API on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) -> io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::debug!(%addr, "sample API listening");
    }
    axum::serve(listener, router())
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

fn error(status: StatusCode, code: &'static str) -> Response {
    (status, Json(json!({ "error": code }))).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found")
}

async fn method_not_allowed() -> Response {
    // axum still adds the `Allow` header to this response.
    error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct LoginResponse {
    token: String,
    user_id: u64,
}

/// Raw bytes rather than `Json`: a missing or wrong content-type should be a
/// plain 400 like any other malformed body, not axum's 415.
async fn login(State(data): State<Data>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<LoginRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "bad_request");
    };
    // One answer for unknown user and wrong password alike, as real services
    // do, so credential stuffing looks the same here as in the wild.
    match data.user_by_username(&request.username) {
        Some(user) if request.password == data::password_for(user.username) => {
            Json(LoginResponse {
                token: data::token_for(user.username),
                user_id: user.id,
            })
            .into_response()
        }
        _ => error(StatusCode::UNAUTHORIZED, "invalid_credentials"),
    }
}

/// Any id that is not a non-negative integer names nothing, so it is a 404
/// like an unknown number rather than a 400 that would reveal the id format.
fn parse_id(path: Result<Path<String>, PathRejection>) -> Option<u64> {
    let Path(raw) = path.ok()?;
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

fn found<T: Serialize>(object: Option<T>) -> Response {
    match object {
        Some(object) => Json(object).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found"),
    }
}

async fn user(State(data): State<Data>, id: Result<Path<String>, PathRejection>) -> Response {
    found(parse_id(id).and_then(|id| data.user(id)))
}

async fn user_orders(
    State(data): State<Data>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    found(
        parse_id(id)
            .and_then(|id| data.orders_of(id))
            .map(Vec::from_iter),
    )
}

async fn order(State(data): State<Data>, id: Result<Path<String>, PathRejection>) -> Response {
    found(parse_id(id).and_then(|id| data.order(id)))
}

async fn product(State(data): State<Data>, id: Result<Path<String>, PathRejection>) -> Response {
    found(parse_id(id).and_then(|id| data.product(id)))
}

#[derive(Deserialize)]
struct CatalogQuery {
    page: Option<usize>,
    per_page: Option<usize>,
}

#[derive(Serialize)]
struct CatalogPage<'a> {
    items: &'a [Product],
    page: usize,
    per_page: usize,
    total: usize,
    next: Option<usize>,
}

async fn catalog(
    State(data): State<Data>,
    query: Result<Query<CatalogQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error(StatusCode::BAD_REQUEST, "bad_request");
    };
    let page = query.page.unwrap_or(1);
    let per_page = query.per_page.unwrap_or(DEFAULT_PER_PAGE);
    // Pages are 1-based; the cap is what a scraper has to page around.
    if page == 0 || per_page == 0 || per_page > MAX_PER_PAGE {
        return error(StatusCode::BAD_REQUEST, "bad_request");
    }
    let all = &data.products;
    let start = (page - 1).saturating_mul(per_page).min(all.len());
    let end = start.saturating_add(per_page).min(all.len());
    Json(CatalogPage {
        items: &all[start..end],
        page,
        per_page,
        total: all.len(),
        next: (page.saturating_mul(per_page) < all.len()).then(|| page + 1),
    })
    .into_response()
}
