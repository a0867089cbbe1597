//! `bola_enumeration`: a principal touching many distinct object ids of one
//! template. Three signals, any of which is enough:
//! - denied: ids it was refused (403/404) for;
//! - walk: ids in a sequential or dense walk (on templates not known to be shared);
//! - foreign: ids that traffic shows belong to other principals, read successfully,
//!   on a template whose objects each belong to one principal (a vulnerable API
//!   answers 200 for everyone's objects).
//!
//! Keyed by the authenticated principal when there is one, so rotating addresses
//! does not hide it.

use palisade_models::config::BolaConfig;
use palisade_models::{FindingKind, Severity};

use super::{Ctx, Report, Who, confidence, cooldown_s, round};
use crate::client::{ClientState, ObjectSlot, Reported};
use crate::evidence;

/// What traffic says about who reads a template's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Each object is read by its one owner.
    Owned,
    /// Objects are read by many principals (a catalog).
    Shared,
    /// Not enough reads yet.
    Unknown,
}

/// The slot's signals, for this detector and `scraping`.
#[derive(Debug, Clone, Copy)]
pub struct Signals {
    pub ids: u32,
    pub denied: u32,
    pub foreign: u32,
    pub sequential: u32,
    pub density: f64,
}

impl Signals {
    pub fn of(slot: &ObjectSlot) -> Self {
        let ids = slot.ids.estimate();
        let range = slot
            .max_num
            .saturating_sub(slot.min_num)
            .saturating_add(1)
            .max(1);
        Self {
            ids,
            denied: slot.denied.estimate(),
            foreign: slot.foreign.estimate(),
            sequential: slot.seq_steps.total(),
            density: if slot.last_num.is_some() {
                f64::from(ids) / range as f64
            } else {
                0.0
            },
        }
    }
}

pub fn check(
    cfg: &BolaConfig,
    ctx: &mut Ctx<'_>,
    c: &mut ClientState,
    slot: &ObjectSlot,
    who: Who<'_>,
    endpoint: &str,
    ownership: Ownership,
) {
    if !cfg.enabled {
        return;
    }
    let s = Signals::of(slot);
    let denied = s.denied >= cfg.denied_ids;
    let walk = ownership != Ownership::Shared
        && s.ids >= cfg.walk_ids
        && (f64::from(s.sequential) >= cfg.sequential_share * f64::from(s.ids - 1)
            || s.density >= 0.5);
    let foreign = ownership == Ownership::Owned && s.foreign >= cfg.foreign_ids;
    let signals = u8::from(denied) + u8::from(walk) + u8::from(foreign);
    if signals == 0 {
        return;
    }
    if !c.should_report(Reported::Bola, (ctx.now_ms / 1000) as u32, cooldown_s(ctx)) {
        return;
    }
    let mut why = Vec::new();
    if denied {
        why.push("denied");
    }
    if walk {
        why.push("walk");
    }
    if foreign {
        why.push("foreign");
    }
    let strongest = [
        (f64::from(s.denied), f64::from(cfg.denied_ids)),
        (f64::from(s.ids), f64::from(cfg.walk_ids)),
        (f64::from(s.foreign), f64::from(cfg.foreign_ids)),
    ]
    .into_iter()
    .map(|(o, t)| o / t)
    .fold(0.0, f64::max);
    ctx.report(Report {
        kind: FindingKind::BolaEnumeration,
        severity: Severity::High,
        confidence: confidence(0.55 + 0.15 * f32::from(signals), strongest, 1.0),
        client: who.client(),
        endpoint: Some(endpoint.into()),
        window_start_ms: ctx.client_window_start(),
        summary: format!(
            "{} distinct objects of {endpoint}: {} refused, {} owned by others, {} sequential steps ({})",
            s.ids,
            s.denied,
            s.foreign,
            s.sequential,
            why.join(", ")
        ),
        evidence: evidence![
            "signals" => why,
            "distinct_ids" => s.ids,
            "denied_ids" => s.denied,
            "foreign_ids" => s.foreign,
            "sequential_steps" => s.sequential,
            "density" => round(s.density),
            "sample_ids" => slot.sample_ids(),
            "ownership" => format!("{ownership:?}").to_lowercase(),
            "thresholds" => serde_json::json!({
                "denied_ids": cfg.denied_ids,
                "walk_ids": cfg.walk_ids,
                "foreign_ids": cfg.foreign_ids,
            }),
        ],
    });
}
