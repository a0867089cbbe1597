//! Palisade's attack-signature engine: rules as data (a bundled TOML file plus the
//! operator's own), an Aho-Corasick prefilter over normalised request parts,
//! regex and tokenizer checks, and CRS-style anomaly scoring.
//!
//! The proxy builds one [`Engine`] at start, shares it behind an `Arc`, and calls
//! [`Engine::inspect`] on every request with a per-worker [`Scratch`]. The engine
//! returns a [`Verdict`] (score, `blocked`, hits); whether a block is enforced or
//! only logged is the caller's decision.
//!
//! Must not depend on any other Palisade crate, take a lock, or do I/O on the
//! request path. The [`corpus`] module (tuning and CI figures) is the only place
//! that reads files.
//!
//! ```
//! use palisade_signatures::{Engine, EngineOptions, Request, Scratch};
//!
//! let engine = Engine::bundled(EngineOptions::default()).unwrap();
//! let mut scratch = Scratch::default();
//! let req = Request::new("GET", b"/search").query(b"q=1'+or+'1'%3D'1");
//! assert!(engine.inspect(&req, &mut scratch).blocked);
//! ```

mod body;
mod byteset;
mod class;
pub mod corpus;
mod decode;
mod detect;
mod engine;
mod error;
mod memo;
mod normalize;
mod parts;
mod placement;
mod prefilter;
mod request;
mod requires;
mod rules;

pub use class::{Class, Severity};
pub use engine::{Engine, EngineOptions, Hit, Scratch, Verdict};
pub use error::SignatureError;
#[doc(hidden)]
pub use normalize::{NormalForms, normal_forms};
pub use request::Request;
pub use rules::BUNDLED_RULES;

#[cfg(test)]
mod benign_tests;
#[cfg(test)]
mod needs_tests;
#[cfg(test)]
mod probe_tests;
#[cfg(test)]
mod soundness_tests;
#[cfg(test)]
mod tests;
