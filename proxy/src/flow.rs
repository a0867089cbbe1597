//! Owns `Flow`: what a guard phase answers. A denial is a value, not an error; only
//! `respond::denial` turns it into an HTTP response.

use palisade_models::{Denial, DenyCode, Phase};

/// The outcome of one guard phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Flow {
    /// Go on to the next phase.
    Continue,
    /// Stop here and answer with this denial.
    Deny(Denial),
}

impl Flow {
    /// A denial by `phase` for `code`.
    pub fn deny(phase: Phase, code: DenyCode) -> Flow {
        Flow::Deny(Denial { phase, code })
    }
}
