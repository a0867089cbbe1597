//! The request-path phases, one file each, in the order `pipeline.rs` runs them.
//! Guard phases take the request context and the request head and return a `Flow`;
//! `forward` talks to the upstream; `record` writes the event.

pub(crate) mod accept;
pub(crate) mod authenticate;
pub(crate) mod authorize;
pub(crate) mod block;
pub(crate) mod forward;
pub(crate) mod identify;
pub(crate) mod inspect;
pub(crate) mod limit;
pub(crate) mod record;
pub(crate) mod route;
pub(crate) mod validate;
