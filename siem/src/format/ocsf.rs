//! Owns the OCSF document of a record: a Detection Finding (class_uid 2004,
//! category_uid 2 Findings) of OCSF schema 1.4.0, the first version whose
//! Evidence Artifacts carry `http_request` and `http_response`.
//!
//! Must use only attributes of that schema (Palisade-specific facts go in
//! `unmapped`), and must not add anything the record does not hold. Does no I/O.
//!
//! Activities and statuses:
//!
//! | record         | activity_id | status_id       | finding_info.uid              |
//! |----------------|-------------|-----------------|-------------------------------|
//! | finding        | 1 Create    | 1 New           | the finding id                |
//! | block          | 2 Update    | 2 In Progress   | its finding id, else record id |
//! | unblock        | 3 Close     | 4 Resolved      | its finding id, else record id |
//! | denied summary | 1 Create    | 1 New           | the record id                 |
//!
//! A block updates the finding that caused it (mitigation under way, described in
//! `remediation`); an unblock closes it. `type_uid` is `200400 + activity_id`.
//! `metadata.uid` is always the record id, the key a receiver deduplicates on.

use palisade_models::FindingKind;
use serde_json::{Map, Value, json};

use super::{Facts, SiemRecord, SiemSource, ocsf_severity_id};
use palisade_models::SiemEvent;

/// The OCSF schema version the documents follow.
pub const OCSF_VERSION: &str = "1.4.0";
const CLASS_UID: u32 = 2004;
const CATEGORY_UID: u32 = 2;

/// One OCSF Detection Finding for `record`.
pub fn document(record: &SiemRecord, src: &SiemSource) -> Value {
    let f = Facts::of(record);
    let (activity_id, activity) = activity(record);
    let (status_id, status) = status(record);
    let severity_id = ocsf_severity_id(record);
    let mut doc = Map::new();
    doc.insert("activity_id".into(), json!(activity_id));
    doc.insert("activity_name".into(), json!(activity));
    doc.insert("category_uid".into(), json!(CATEGORY_UID));
    doc.insert("category_name".into(), json!("Findings"));
    doc.insert("class_uid".into(), json!(CLASS_UID));
    doc.insert("class_name".into(), json!("Detection Finding"));
    doc.insert("type_uid".into(), json!(CLASS_UID * 100 + activity_id));
    doc.insert(
        "type_name".into(),
        json!(format!("Detection Finding: {activity}")),
    );
    doc.insert("time".into(), json!(record.created_ms));
    doc.insert("severity_id".into(), json!(severity_id));
    doc.insert("severity".into(), json!(severity_name(severity_id)));
    doc.insert("message".into(), json!(f.message));
    doc.insert("status_id".into(), json!(status_id));
    doc.insert("status".into(), json!(status));
    if let Some(reason) = f.reason.filter(|_| f.kind == "unblock") {
        doc.insert("status_detail".into(), json!(reason));
    }
    if activity_id == 1 && f.denied.is_none() {
        doc.insert("is_alert".into(), json!(true));
    }
    if let Some(c) = f.confidence {
        doc.insert("confidence_score".into(), json!(c));
    }
    if let Some((start, end)) = f.window {
        doc.insert("start_time".into(), json!(start));
        doc.insert("end_time".into(), json!(end));
    }
    if let Some(d) = f.denied {
        doc.insert("count".into(), json!(d.total));
    }
    doc.insert("finding_info".into(), finding_info(record, &f));
    if let Some(evidence) = evidence(&f) {
        doc.insert("evidences".into(), json!([evidence]));
    }
    if let Some(endpoint) = f.endpoint {
        doc.insert(
            "resources".into(),
            json!([{ "name": endpoint, "type": "API Endpoint" }]),
        );
    }
    if let SiemEvent::Block { .. } = &record.event {
        doc.insert("remediation".into(), json!({ "desc": f.message }));
    }
    let observables = observables(&f);
    if !observables.is_empty() {
        doc.insert("observables".into(), Value::Array(observables));
    }
    doc.insert("metadata".into(), metadata(record, src));
    doc.insert("unmapped".into(), unmapped(&f));
    Value::Object(doc)
}

/// `activity_id` and its caption.
fn activity(record: &SiemRecord) -> (u32, &'static str) {
    match &record.event {
        SiemEvent::Finding { .. } | SiemEvent::Denied(_) => (1, "Create"),
        SiemEvent::Block { .. } => (2, "Update"),
        SiemEvent::Unblock { .. } => (3, "Close"),
    }
}

/// The finding `status_id` and its caption.
fn status(record: &SiemRecord) -> (u32, &'static str) {
    match &record.event {
        SiemEvent::Finding { .. } | SiemEvent::Denied(_) => (1, "New"),
        SiemEvent::Block { .. } => (2, "In Progress"),
        SiemEvent::Unblock { .. } => (4, "Resolved"),
    }
}

/// The caption of a `severity_id`.
fn severity_name(id: u8) -> &'static str {
    match id {
        1 => "Informational",
        2 => "Low",
        3 => "Medium",
        4 => "High",
        5 => "Critical",
        _ => "Unknown",
    }
}

/// `finding_info`: what was found, by which analytic, over which window.
fn finding_info(record: &SiemRecord, f: &Facts<'_>) -> Value {
    let uid = f
        .finding_id
        .map_or_else(|| record.id.to_string(), |id| id.to_string());
    let mut info = Map::new();
    info.insert("uid".into(), json!(uid));
    info.insert("title".into(), json!(f.title));
    info.insert("desc".into(), json!(f.message));
    info.insert("types".into(), json!([f.kind]));
    let created = f.block.map_or(record.created_ms, |b| b.created_ms);
    info.insert("created_time".into(), json!(created));
    if let Some((start, end)) = f.window {
        info.insert("first_seen_time".into(), json!(start));
        info.insert("last_seen_time".into(), json!(end));
    }
    if let SiemEvent::Finding { finding } = &record.event {
        let (type_id, kind) = analytic_type(finding.kind);
        info.insert(
            "analytic".into(),
            json!({ "uid": f.kind, "name": f.kind, "type_id": type_id, "type": kind }),
        );
    }
    if record_is_block_or_unblock(record) {
        info.insert("modified_time".into(), json!(record.created_ms));
    }
    Value::Object(info)
}

fn record_is_block_or_unblock(record: &SiemRecord) -> bool {
    matches!(
        record.event,
        SiemEvent::Block { .. } | SiemEvent::Unblock { .. }
    )
}

/// The OCSF analytic type of a detector: signatures are rules, the anomaly
/// detectors statistical, the others behavioural.
pub(crate) fn analytic_type(kind: FindingKind) -> (u32, &'static str) {
    match kind {
        FindingKind::Signature | FindingKind::MassAssignment => (1, "Rule"),
        FindingKind::VolumeAnomaly
        | FindingKind::LatencyAnomaly
        | FindingKind::ErrorBurst
        | FindingKind::UnusualClient => (3, "Statistical"),
        FindingKind::AuthFailureSpike
        | FindingKind::BolaEnumeration
        | FindingKind::CredentialStuffing
        | FindingKind::BruteForce
        | FindingKind::Scraping
        | FindingKind::Probing
        | FindingKind::NewEndpoint => (2, "Behavioral"),
    }
}

/// The one Evidence Artifacts object: the triggering request, who sent it, and
/// the detector's evidence as `data`. None when there is nothing to show.
fn evidence(f: &Facts<'_>) -> Option<Value> {
    let mut ev = Map::new();
    if f.method.is_some() || f.path.is_some() || f.user_agent.is_some() {
        let mut req = Map::new();
        if let Some(m) = f.method {
            req.insert("http_method".into(), json!(m));
        }
        if let Some(p) = f.path {
            req.insert("url".into(), json!({ "path": p }));
        }
        if let Some(ua) = f.user_agent {
            req.insert("user_agent".into(), json!(ua));
        }
        ev.insert("http_request".into(), Value::Object(req));
    }
    if let Some(status) = f.status {
        ev.insert("http_response".into(), json!({ "code": status }));
    }
    if let Some(ip) = f.ip {
        let mut endpoint = Map::new();
        endpoint.insert("ip".into(), json!(ip.to_string()));
        if let Some(port) = f.port {
            endpoint.insert("port".into(), json!(port));
        }
        ev.insert("src_endpoint".into(), Value::Object(endpoint));
    }
    if f.subject.is_some() || f.api_key.is_some() {
        let mut user = Map::new();
        if let Some(s) = f.subject {
            user.insert("uid".into(), json!(s));
        }
        if let Some(k) = f.api_key {
            user.insert("credential_uid".into(), json!(k));
        }
        ev.insert("actor".into(), json!({ "user": user }));
    }
    if let Some(data) = f.evidence.filter(|e| !e.is_empty()) {
        ev.insert("data".into(), Value::Object(data.clone()));
    }
    (!ev.is_empty()).then_some(Value::Object(ev))
}

/// Pivot points: the client's address (type 2, IP Address), named by its place
/// in `evidences`.
fn observables(f: &Facts<'_>) -> Vec<Value> {
    f.ip.map(|ip| {
        json!({
            "name": "evidences[0].src_endpoint.ip",
            "type_id": 2,
            "type": "IP Address",
            "value": ip.to_string(),
        })
    })
    .into_iter()
    .collect()
}

/// `metadata`: schema version, the record id, the product.
fn metadata(record: &SiemRecord, src: &SiemSource) -> Value {
    json!({
        "version": OCSF_VERSION,
        "uid": &*record.id,
        "logged_time": record.created_ms,
        "product": {
            "name": "Palisade",
            "vendor_name": "Palisade",
            "version": &*src.version,
        },
    })
}

/// Palisade's own names for what OCSF has no attribute for.
fn unmapped(f: &Facts<'_>) -> Value {
    let mut u = Map::new();
    u.insert("palisade_kind".into(), json!(f.kind));
    if let Some(e) = f.endpoint {
        u.insert("palisade_endpoint".into(), json!(e));
    }
    if let Some(b) = f.block {
        u.insert("palisade_block_id".into(), json!(b.id));
        u.insert("palisade_block_scope".into(), json!(b.scope.to_string()));
        u.insert("palisade_block_origin".into(), json!(b.origin.as_str()));
        u.insert("palisade_block_reason".into(), json!(&*b.reason));
        if let Some(e) = b.expires_ms {
            u.insert("palisade_block_expires_time".into(), json!(e));
        }
    }
    if let Some(actor) = f.actor {
        u.insert("palisade_actor".into(), json!(actor));
    }
    if let Some(d) = f.denied {
        u.insert("palisade_denied_total".into(), json!(d.total));
        u.insert("palisade_denied_by_reason".into(), json!(d.by_reason));
    }
    Value::Object(u)
}
