//! Owns the transports: how a batch of records reaches one receiver, and what the
//! receiver's answer means (accepted, worth retrying, or refused as malformed).
//!
//! Must not touch the outbox: the forwarder acknowledges what a transport reports
//! as accepted, and nothing else.

mod hec;
mod http;
mod syslog;

use palisade_models::SiemRecord;

pub use hec::{Hec, HecSettings};
pub use http::Webhook;
pub use syslog::{Mode as SyslogMode, Syslog};

/// Why a batch was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth retrying: the receiver is down, slow, overloaded or unauthorised.
    Retry(String),
    /// The receiver refused the batch as malformed; sending it again would not
    /// help (a record refused on its own becomes a dead letter).
    Reject(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Retry(m) | SendError::Reject(m) => f.write_str(m),
        }
    }
}

/// One receiver's transport.
#[derive(Debug)]
pub enum Transport {
    Syslog(Syslog),
    Hec(Hec),
    Webhook(Webhook),
}

impl Transport {
    /// Sends `records` (oldest first); `Ok` only once the receiver has them: a TCP
    /// or TLS write flushed, an HTTP 2xx, HEC's `code: 0` (and its ack, when on).
    pub async fn send(&mut self, records: &[SiemRecord]) -> Result<(), SendError> {
        match self {
            Transport::Syslog(t) => t.send(records).await,
            Transport::Hec(t) => t.send(records).await,
            Transport::Webhook(t) => t.send(records).await,
        }
    }
}

/// What an HTTP status means for a batch: 2xx accepted; 408, 429 and 5xx are worth
/// retrying; 401, 403 and 404 too, since they mean a wrong token or URL (fixing the
/// config must not find every record dead-lettered); any other 4xx refuses the
/// batch as malformed.
pub(crate) fn classify(status: reqwest::StatusCode, body: &str) -> Result<(), SendError> {
    let code = status.as_u16();
    let text = format!("HTTP {code}: {}", excerpt(body));
    match code {
        200..=299 => Ok(()),
        401 | 403 => Err(SendError::Retry(format!(
            "{text} (check the token or credentials)"
        ))),
        404 => Err(SendError::Retry(format!("{text} (check the URL)"))),
        408 | 429 => Err(SendError::Retry(text)),
        400..=499 => Err(SendError::Reject(text)),
        _ => Err(SendError::Retry(text)),
    }
}

/// The start of a receiver's answer, on one line, for logs and dead letters.
pub(crate) fn excerpt(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    one_line.trim().to_string()
}
