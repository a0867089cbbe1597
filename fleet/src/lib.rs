//! Owns the fleet link: what the sidecars of one service share through Redis so
//! that they act as one (DESIGN.md, "Fleet"). Blocks and unblocks made on any
//! sidecar reach every other one through keys with the block's TTL and a pub/sub
//! channel, and a sidecar that (re)connects reconciles the whole set.
//!
//! Must never be waited on by the request path: everything here runs on the
//! control runtime's tasks, and the sidecar keeps enforcing its own blocks and
//! limits while Redis is away. Must not log the Redis password.

mod blocks;
mod keys;
mod limits;
mod status;
mod tally;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo};

use palisade_models::config::FleetConfig;

pub use blocks::{BlockLink, LocalBlocks};
pub use keys::Keys;
pub use status::FleetStatus;

/// The fleet link's errors: all of them are the operator's to fix.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("fleet.url `{url}` is not a Redis URL: {reason}")]
    Url { url: String, reason: String },
    #[error("fleet.ca_file: cannot read {path}: {source}")]
    Ca {
        path: String,
        source: std::io::Error,
    },
    #[error("connecting to Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer within {0:?} (fleet.command_timeout × 4)")]
    Timeout(Duration),
    #[error("Redis is not reachable (fleet sync is degraded)")]
    Down,
}

/// Settings taken from the config once.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub command_timeout: Duration,
    pub heartbeat: Duration,
}

/// A sidecar's link to its fleet. Cheap to clone.
#[derive(Clone)]
pub struct Fleet {
    client: Client,
    conn: ConnectionManager,
    keys: Arc<Keys>,
    instance: Arc<str>,
    settings: Settings,
    status: Arc<FleetStatus>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the password: never print it.
        f.debug_struct("Fleet")
            .field("service", &self.keys.service())
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// The link for a validated, enabled `[fleet]` section. Connects lazily: Redis
    /// being down at start is a degraded fleet, not a failed start. Must run
    /// inside a tokio runtime.
    pub fn build(config: &FleetConfig) -> Result<Fleet, FleetError> {
        let url_error = |reason: String| FleetError::Url {
            url: config.url.clone(),
            reason,
        };
        let mut info = config
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| url_error(e.to_string()))?;
        if let Ok(password) = std::env::var(&config.password_env)
            && !password.is_empty()
        {
            let redis = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(redis);
        }
        let client = match &config.ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|source| FleetError::Ca {
                    path: path.clone(),
                    source,
                })?;
                Client::build_with_tls(
                    info,
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem),
                    },
                )?
            }
            None => Client::open(info)?,
        };
        let settings = Settings {
            command_timeout: config.command_timeout.duration(),
            heartbeat: config.heartbeat.duration(),
        };
        let conn = ConnectionManager::new_lazy_with_config(
            client.clone(),
            ConnectionManagerConfig::new()
                .set_connection_timeout(Some(settings.command_timeout.max(Duration::from_secs(1))))
                .set_response_timeout(Some(settings.command_timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_secs(2)),
        )?;
        let instance: Arc<str> = config
            .instance
            .clone()
            .unwrap_or_else(default_instance)
            .into();
        Ok(Fleet {
            client,
            conn,
            keys: Arc::new(Keys::new(&config.service)),
            instance,
            settings,
            status: Arc::new(FleetStatus::default()),
        })
    }

    /// This sidecar's name in the fleet.
    pub fn instance(&self) -> &Arc<str> {
        &self.instance
    }

    /// The link's health, for `/readyz`, the admin API and `/metrics`.
    pub fn status(&self) -> &Arc<FleetStatus> {
        &self.status
    }

    /// A copy of the link's health and counts.
    pub fn report(&self) -> palisade_models::FleetLinkStatus {
        self.status.snapshot(self.keys.service(), &self.instance)
    }
}

/// `host:pid`: unique among the sidecars of one service while they run.
fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "sidecar".into());
    format!("{host}:{}", std::process::id())
}
