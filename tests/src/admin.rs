//! The admin listener as a client sees it: every route it serves, walked with
//! the token, path parameters filled from what the API itself lists, for tests
//! that must look at every response (the secret audit, the security headers).

use std::net::SocketAddr;

/// What one admin request got: `METHOD path`, status, headers and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub place: String,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// Headers and body as one haystack.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = format!("{:?}\n", self.headers).into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// GETs `path` with `token` (if any).
pub async fn get(
    http: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> Answer {
    let mut r = http.get(format!("http://{addr}{path}"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.expect("admin request");
    Answer {
        place: format!("GET {path}"),
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
    }
}

/// Every GET route the admin listener serves (but the endless `/api/stream`),
/// with real ids filled in: each finding, each listed client, the exports, the
/// UI and its assets. `assets` are the embedded files' names.
pub async fn walk(
    http: &reqwest::Client,
    addr: SocketAddr,
    token: &str,
    assets: impl IntoIterator<Item = String>,
) -> Vec<Answer> {
    let mut paths: Vec<String> = [
        "/",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/findings",
        "/api/blocks",
        "/api/audit",
        "/api/endpoints",
        "/api/clients",
        "/api/stats",
        "/api/siem",
        "/api/siem/dead-letters",
        "/api/fleet",
        "/api/openapi.json",
        "/api/export?data=events&since=1h",
        "/api/export?data=findings&since=1h",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    paths.extend(assets.into_iter().map(|a| format!("/assets/{a}")));
    let mut out = Vec::new();
    for p in &paths {
        out.push(get(http, addr, p, Some(token)).await);
    }
    let json = |path: &str| -> serde_json::Value {
        out.iter()
            .find(|a| a.place == format!("GET {path}"))
            .and_then(|a| serde_json::from_slice(&a.body).ok())
            .unwrap_or_default()
    };
    let mut more = Vec::new();
    for f in json("/api/findings")["items"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(id) = f["id"].as_str() {
            more.push(format!("/api/findings/{id}"));
        }
    }
    let clients = json("/api/clients");
    for list in ["top_talkers", "top_failing"] {
        for c in clients[list].as_array().into_iter().flatten() {
            if let Some(k) = c["key"].as_str() {
                more.push(format!("/api/clients/{}", k.replace(':', "%3A")));
            }
        }
    }
    for p in &more {
        out.push(get(http, addr, p, Some(token)).await);
    }
    out
}
