//! Owns the JSON API under `/api/`: one module per resource, the error body every
//! handler returns (`{"error": code, "message": what to fix}`), and the extractors
//! that turn axum's rejections into that body. Internal errors are logged with
//! their detail and answered with a generic message.

mod blocks;
mod clients;
pub mod export;
mod findings;
mod inventory;
mod siem;
mod stream;

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::de::DeserializeOwned;

use crate::state::AdminState;

/// The API's routes, as `(method, path)`; the OpenAPI document must list exactly
/// these (a test checks it).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/findings"),
    ("get", "/api/findings/{id}"),
    ("get", "/api/blocks"),
    ("post", "/api/blocks"),
    ("delete", "/api/blocks/{id}"),
    ("get", "/api/audit"),
    ("get", "/api/endpoints"),
    ("get", "/api/clients"),
    ("get", "/api/clients/{key}"),
    ("get", "/api/stats"),
    ("get", "/api/siem"),
    ("get", "/api/siem/dead-letters"),
    ("get", "/api/fleet"),
    ("get", "/api/export"),
    ("get", "/api/stream"),
    ("get", "/api/openapi.json"),
];

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The `/api` routes (auth is applied by the caller).
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/findings", get(findings::list))
        .route("/api/findings/{id}", get(findings::one))
        .route("/api/blocks", get(blocks::list).post(blocks::create))
        .route("/api/blocks/{id}", delete(blocks::remove))
        .route("/api/audit", get(blocks::audit))
        .route("/api/endpoints", get(inventory::endpoints))
        .route("/api/clients", get(clients::top))
        .route("/api/clients/{key}", get(clients::one))
        .route("/api/stats", get(inventory::stats))
        .route("/api/siem", get(siem::status))
        .route("/api/siem/dead-letters", get(siem::dead_letters))
        .route("/api/fleet", get(fleet))
        .route("/api/export", get(export::export))
        .route("/api/stream", get(stream::stream))
        .route("/api/openapi.json", get(openapi))
        .fallback(not_found)
}

/// `/api/fleet`: the fleet link's health and counts.
async fn fleet(
    axum::extract::State(s): axum::extract::State<AdminState>,
) -> axum::Json<palisade_models::FleetLinkStatus> {
    axum::Json(s.control.fleet())
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such API route; GET /api/openapi.json lists them",
    )
}

/// The error body of every API failure.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// An internal failure: the detail goes to the log, not to the client.
    pub fn internal(what: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "admin API: {what} failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{what} failed; Palisade's log has the detail"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({"error": self.code, "message": self.message})),
        )
            .into_response()
    }
}

impl From<palisade_store::StoreError> for ApiError {
    fn from(e: palisade_store::StoreError) -> Self {
        Self::internal("reading the store", e)
    }
}

/// `Json<T>` whose rejection is an `ApiError` saying what is wrong with the body.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(json_rejection(&e)),
        }
    }
}

fn json_rejection(e: &JsonRejection) -> ApiError {
    let status = e.status();
    let code = if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        "unsupported_media_type"
    } else {
        "bad_request"
    };
    ApiError::new(status, code, e.body_text())
}

/// `Query<T>` with an `ApiError` rejection.
#[derive(Debug)]
pub struct Q<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Q(q.0))
            .map_err(|e: QueryRejection| ApiError::bad_request(e.body_text()))
    }
}

/// `Path<T>` with an `ApiError` rejection.
#[derive(Debug)]
pub struct P<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| P(p.0))
            .map_err(|e: PathRejection| ApiError::bad_request(e.body_text()))
    }
}

/// Who made an admin change, for the audit trail: `admin@<peer address>`, or
/// `admin:<name>@<peer>` when the request names its operator in
/// `X-Palisade-Operator` (letters, digits, `.`, `_`, `-`, `@`; at most 64).
#[derive(Debug)]
pub struct Actor(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "local".into());
        let name = match parts.headers.get("x-palisade-operator") {
            None => None,
            Some(v) => {
                let ok = v.len() <= 64
                    && !v.is_empty()
                    && v.as_bytes()
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(b));
                if !ok {
                    return Err(ApiError::bad_request(
                        "X-Palisade-Operator must be 1 to 64 letters, digits, '.', '_', '-' or '@'",
                    ));
                }
                v.to_str().ok().map(str::to_owned)
            }
        };
        Ok(Actor(match name {
            Some(n) => format!("admin:{n}@{peer}"),
            None => format!("admin@{peer}"),
        }))
    }
}
