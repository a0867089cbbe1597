//! Owns webhook delivery: OCSF, ECS or native JSON documents POSTed to an HTTP(S)
//! URL, one object per request or, with a larger batch, a JSON array.
//!
//! Must never log or expose the header values it sends (they carry credentials):
//! Debug leaves them out.

use std::time::Duration;

use palisade_models::{SiemRecord, SiemSource};
use reqwest::Url;

use super::{SendError, classify};
use crate::format::{Schema, document};

/// A JSON webhook.
pub struct Webhook {
    client: reqwest::Client,
    url: Url,
    headers: reqwest::header::HeaderMap,
    schema: Schema,
    source: SiemSource,
    timeout: Duration,
    /// A JSON array per request (batch_max > 1), else one object.
    array: bool,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url.as_str())
            .field("schema", &self.schema)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Webhook {
    pub fn new(
        client: reqwest::Client,
        url: Url,
        headers: reqwest::header::HeaderMap,
        schema: Schema,
        source: SiemSource,
        timeout: Duration,
        array: bool,
    ) -> Self {
        Self {
            client,
            url,
            headers,
            schema,
            source,
            timeout,
            array,
        }
    }

    pub async fn send(&mut self, records: &[SiemRecord]) -> Result<(), SendError> {
        let docs: Vec<_> = records
            .iter()
            .map(|r| document(self.schema, r, &self.source))
            .collect();
        let body = match docs.as_slice() {
            [one] if !self.array => serde_json::to_vec(one),
            many => serde_json::to_vec(many),
        }
        .map_err(|e| SendError::Reject(format!("encoding the documents: {e}")))?;
        let response = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header("content-type", "application/json")
            .timeout(self.timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Retry(format!("webhook {}: {e}", self.url)))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        classify(status, &text).map_err(|e| match e {
            SendError::Retry(m) => SendError::Retry(format!("webhook {}: {m}", self.url)),
            SendError::Reject(m) => SendError::Reject(format!("webhook refused: {m}")),
        })
    }
}
