//! Owns `Report`: what validating one request found, bounded, by name only.
//! A request that breaks nothing leaves it empty and unallocated.
//!
//! Must never hold a value the client sent: names are cut to printable ASCII.

use palisade_models::event::{SCHEMA_NAME_MAX, SCHEMA_VIOLATIONS_MAX};
use palisade_models::{ParamLocation, SchemaReport, Violation, ViolationKind};

/// Violations found so far in one request.
#[derive(Debug, Default)]
pub struct Report {
    violations: Vec<Violation>,
    /// True once something was found that block mode refuses.
    denies: bool,
    /// Violations past the cap, counted, not kept.
    dropped: usize,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    /// True when block mode must refuse the request.
    pub fn denies(&self) -> bool {
        self.denies
    }

    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Violations found beyond `SCHEMA_VIOLATIONS_MAX`.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// The report as the event carries it; None when nothing was found.
    pub fn into_event(self, denied: bool) -> Option<Box<SchemaReport>> {
        if self.violations.is_empty() {
            return None;
        }
        Some(Box::new(SchemaReport {
            violations: self.violations.into_boxed_slice(),
            denied,
        }))
    }

    /// Records one finding; `denies` says whether block mode refuses for it.
    pub(crate) fn push(
        &mut self,
        location: ParamLocation,
        name: &str,
        rule: &'static str,
        kind: ViolationKind,
        denies: bool,
    ) {
        self.denies |= denies;
        if self.violations.len() >= SCHEMA_VIOLATIONS_MAX {
            self.dropped += 1;
            return;
        }
        self.violations.push(Violation {
            location,
            name: clean_name(name),
            rule,
            kind,
        });
    }

    /// Records a broken rule (always refused in block mode).
    pub(crate) fn invalid(&mut self, location: ParamLocation, name: &str, rule: &'static str) {
        self.push(location, name, rule, ViolationKind::Invalid, true);
    }
}

/// A name fit for logs and events: printable ASCII (others become `?`), at most
/// `SCHEMA_NAME_MAX` bytes.
pub(crate) fn clean_name(name: &str) -> Box<str> {
    name.chars()
        .take(SCHEMA_NAME_MAX)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect::<String>()
        .into_boxed_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_violations_bounded() {
        let mut r = Report::default();
        assert!(r.is_empty() && !r.denies());
        r.push(
            ParamLocation::Query,
            "a b\u{7}é",
            "unknown",
            ViolationKind::Unknown,
            false,
        );
        assert!(!r.denies());
        assert_eq!(&*r.violations()[0].name, "a?b??");
        for _ in 0..20 {
            r.invalid(ParamLocation::Body, &"x".repeat(100), "type");
        }
        assert!(r.denies());
        assert_eq!(r.violations().len(), SCHEMA_VIOLATIONS_MAX);
        assert_eq!(r.dropped(), 21 - SCHEMA_VIOLATIONS_MAX);
        assert_eq!(r.violations()[1].name.len(), SCHEMA_NAME_MAX);
        let ev = r.into_event(true).unwrap();
        assert!(ev.denied);
    }
}
