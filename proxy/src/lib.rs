//! The data plane: listeners (plain and TLS; HTTP/1.1 and HTTP/2), the phase
//! pipeline (DESIGN.md, "Request path"), forwarding to the upstream, and the tee
//! that records every exchange.
//!
//! Must not depend on analytics or the dashboard: it only writes events into the
//! tee and reads the block table. Must never wait on anything but the client and
//! the upstream.

mod auth;
mod body;
mod conn;
mod context;
mod deny;
mod encoded;
mod error;
mod flow;
#[doc(hidden)]
pub mod fuzzing;
mod headers;
mod jwt;
mod limits;
mod login;
mod openapi;
mod phases;
mod pipeline;
mod respond;
mod routes;
mod server;
mod settings;
mod stats;
mod tls;
mod upstream;

pub use body::ProxyBody;
pub use conn::ConnInfo;
pub use error::ProxyError;
pub use flow::Flow;
pub use jwt::{Identity, JwtError, JwtUpstreamHeaders, JwtVerifier};
pub use openapi::{Reload, SpecHandle, SpecStatus};
pub use server::{Proxy, ProxyDeps, RunningProxy, build_signature_engine, preflight};
pub use settings::Settings;
pub use stats::ProxyStats;
pub use upstream::ResponseBodyError;
