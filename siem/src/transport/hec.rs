//! Owns Splunk HEC delivery: batches of events concatenated (not a JSON array),
//! gzip, `Authorization: Splunk <token>`, the answer's `code`, and indexer
//! acknowledgement when the token has it enabled.
//!
//! Must never log or expose the token: it lives in this struct only, and Debug
//! leaves it out.

use std::io::Write;
use std::time::Duration;

use palisade_models::{SiemRecord, SiemSource};
use reqwest::Url;
use serde::Deserialize;

use super::{SendError, classify, excerpt};
use crate::format::hec::{HecOptions, batch, event};

/// How often the ack endpoint is asked while waiting for the indexer.
const ACK_POLL: Duration = Duration::from_millis(250);

/// A Splunk HTTP Event Collector.
pub struct Hec {
    client: reqwest::Client,
    event_url: Url,
    ack_url: Url,
    token: String,
    /// `X-Splunk-Request-Channel`: one per sink and run, as acks are per channel.
    channel: String,
    gzip: bool,
    ack: bool,
    timeout: Duration,
    options: HecOptions,
    source: SiemSource,
}

impl std::fmt::Debug for Hec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hec")
            .field("event_url", &self.event_url.as_str())
            .field("gzip", &self.gzip)
            .field("ack", &self.ack)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default, rename = "ackId")]
    ack_id: Option<u64>,
}

#[derive(Deserialize)]
struct AckAnswer {
    acks: std::collections::HashMap<String, bool>,
}

/// The HEC settings a sink resolves from its config.
#[derive(Debug)]
pub struct HecSettings {
    pub base: Url,
    pub gzip: bool,
    pub ack: bool,
    pub timeout: Duration,
    pub options: HecOptions,
    pub source: SiemSource,
}

impl Hec {
    /// `base` is either the collector's base URL or its full `/event` URL.
    pub fn new(client: reqwest::Client, token: String, s: HecSettings) -> Result<Self, String> {
        let event_url = collector_url(&s.base, "event")?;
        let ack_url = collector_url(&s.base, "ack")?;
        Ok(Self {
            client,
            event_url,
            ack_url,
            token,
            channel: uuid::Uuid::new_v4().to_string(),
            gzip: s.gzip,
            ack: s.ack,
            timeout: s.timeout,
            options: s.options,
            source: s.source,
        })
    }

    pub async fn send(&mut self, records: &[SiemRecord]) -> Result<(), SendError> {
        let events: Vec<_> = records
            .iter()
            .map(|r| event(r, &self.source, &self.options))
            .collect();
        let mut body = batch(&events);
        let mut request = self
            .client
            .post(self.event_url.clone())
            .header("authorization", format!("Splunk {}", self.token))
            .header("x-splunk-request-channel", &self.channel)
            .header("content-type", "application/json");
        if self.gzip {
            body = gzip(&body).map_err(|e| SendError::Retry(format!("gzip: {e}")))?;
            request = request.header("content-encoding", "gzip");
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Retry(format!("HEC {}: {e}", self.event_url)))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| {
            SendError::Retry(format!("HEC {}: reading the answer: {e}", self.event_url))
        })?;
        classify(status, &text).map_err(|e| match e {
            SendError::Retry(m) => SendError::Retry(format!("HEC {}: {m}", self.event_url)),
            SendError::Reject(m) => SendError::Reject(format!("HEC refused the batch: {m}")),
        })?;
        let answer: Answer = serde_json::from_str(&text).map_err(|_| {
            SendError::Retry(format!(
                "HEC {}: an answer that is not HEC's JSON: {}",
                self.event_url,
                excerpt(&text)
            ))
        })?;
        match answer.code {
            Some(0) => {}
            code => {
                return Err(SendError::Reject(format!(
                    "HEC refused the batch: code {}: {}",
                    code.map_or("none".into(), |c| c.to_string()),
                    answer.text.as_deref().unwrap_or("")
                )));
            }
        }
        if self.ack {
            let Some(id) = answer.ack_id else {
                return Err(SendError::Retry(
                    "HEC answered without an ackId: enable indexer acknowledgement on the token, \
                     or set ack = false"
                        .into(),
                ));
            };
            self.wait_for_ack(id).await?;
        }
        Ok(())
    }

    /// Asks the ack endpoint until the indexer has the batch, or `timeout` passes
    /// (then the batch is sent again: at least once).
    async fn wait_for_ack(&self, id: u64) -> Result<(), SendError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let body = serde_json::json!({ "acks": [id] }).to_string();
        loop {
            let response = self
                .client
                .post(self.ack_url.clone())
                .header("authorization", format!("Splunk {}", self.token))
                .header("x-splunk-request-channel", &self.channel)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| SendError::Retry(format!("HEC ack {}: {e}", self.ack_url)))?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            classify(status, &text)
                .map_err(|e| SendError::Retry(format!("HEC ack {}: {e}", self.ack_url)))?;
            let acked = serde_json::from_str::<AckAnswer>(&text)
                .ok()
                .and_then(|a| a.acks.get(&id.to_string()).copied())
                .unwrap_or(false);
            if acked {
                return Ok(());
            }
            if tokio::time::Instant::now() + ACK_POLL > deadline {
                return Err(SendError::Retry(format!(
                    "HEC: the indexer did not acknowledge batch {id} within {:?}",
                    self.timeout
                )));
            }
            tokio::time::sleep(ACK_POLL).await;
        }
    }
}

/// `base` with `/services/collector/<leaf>`, unless it already names an endpoint.
fn collector_url(base: &Url, leaf: &str) -> Result<Url, String> {
    let path = base.path().trim_end_matches('/');
    let root = path
        .strip_suffix("/services/collector/event")
        .or_else(|| path.strip_suffix("/services/collector"))
        .unwrap_or(path);
    let mut url = base.clone();
    url.set_path(&format!("{root}/services/collector/{leaf}"));
    Ok(url)
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_urls_from_a_base_or_a_full_url() {
        for base in [
            "https://splunk:8088",
            "https://splunk:8088/",
            "https://splunk:8088/services/collector",
            "https://splunk:8088/services/collector/event",
        ] {
            let base = Url::parse(base).unwrap();
            assert_eq!(
                collector_url(&base, "event").unwrap().as_str(),
                "https://splunk:8088/services/collector/event"
            );
            assert_eq!(
                collector_url(&base, "ack").unwrap().as_str(),
                "https://splunk:8088/services/collector/ack"
            );
        }
        let prefixed = Url::parse("https://proxy/splunk/services/collector/event").unwrap();
        assert_eq!(
            collector_url(&prefixed, "ack").unwrap().as_str(),
            "https://proxy/splunk/services/collector/ack"
        );
    }
}
