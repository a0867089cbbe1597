//! Owns the web UI's files, compiled into the binary by rust-embed (also in debug
//! builds, so tests serve exactly what ships): `/` is `index.html`, everything
//! else is under `/assets/`. No CDN, no disk, no network at run time.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use crate::api::P;

#[derive(Embed)]
#[folder = "assets/"]
struct Assets;

pub async fn index() -> Response {
    file("index.html")
}

pub async fn asset(P(path): P<String>) -> Response {
    file(&path)
}

fn file(path: &str) -> Response {
    match Assets::get(path) {
        Some(f) => (
            [
                (header::CONTENT_TYPE, f.metadata.mimetype().to_string()),
                // Small files, same binary: always revalidate, so an upgrade shows at once.
                (header::CACHE_CONTROL, "no-cache".to_string()),
            ],
            f.data,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// Names of every embedded file (for tests).
pub fn names() -> impl Iterator<Item = String> {
    Assets::iter().map(|n| n.to_string())
}
