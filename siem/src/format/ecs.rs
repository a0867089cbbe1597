//! Owns the ECS (Elastic Common Schema 8.11) document of a record, with nested
//! objects (never dotted keys).
//!
//! Must not add anything the record does not hold, and must keep every field's
//! type the same across records, so an index never meets a mapping conflict: the
//! detector-specific evidence goes as JSON text in `palisade.evidence`, not as an
//! object whose keys and types vary by detector. Does no I/O.
//!
//! Categorisation: `event.category` is always `["api", "intrusion_detection"]`;
//!
//! | record         | event.kind | event.type    | event.outcome | event.dataset     |
//! |----------------|------------|---------------|---------------|-------------------|
//! | finding        | alert      | ["info"]      | -             | palisade.finding  |
//! | block          | event      | ["denied"]    | success       | palisade.block    |
//! | unblock        | event      | ["allowed"]   | success       | palisade.unblock  |
//! | denied summary | metric     | ["denied"]    | -             | palisade.denied   |
//!
//! `event.severity` is the CEF severity (0-10, see `format`), as Elastic's CEF
//! integration maps it; `event.action` is the finding kind or `block`,
//! `unblock`, `denied_summary`.

use serde_json::{Map, Value, json};

use super::{Facts, SiemRecord, SiemSource, cef_severity, ocsf, record_type, rfc3339_ms};
use palisade_models::SiemEvent;

/// The ECS version the documents follow.
pub const ECS_VERSION: &str = "8.11.0";

/// One ECS document for `record`.
pub fn document(record: &SiemRecord, src: &SiemSource) -> Value {
    let f = Facts::of(record);
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), json!(rfc3339_ms(record.created_ms)));
    doc.insert("ecs".into(), json!({ "version": ECS_VERSION }));
    doc.insert("message".into(), json!(f.message));
    doc.insert("event".into(), event(record, &f));
    if let SiemEvent::Finding { finding } = &record.event {
        let (_, analytic) = ocsf::analytic_type(finding.kind);
        doc.insert(
            "rule".into(),
            json!({
                "id": f.kind,
                "name": f.kind,
                "category": analytic.to_ascii_lowercase(),
                "ruleset": "palisade",
            }),
        );
    }
    insert_request(&mut doc, &f);
    insert_client(&mut doc, &f);
    doc.insert("observer".into(), observer(src));
    let labels = labels(&f);
    if !labels.is_empty() {
        doc.insert("labels".into(), Value::Object(labels));
    }
    doc.insert("palisade".into(), palisade(record, &f));
    Value::Object(doc)
}

/// The `event` object.
fn event(record: &SiemRecord, f: &Facts<'_>) -> Value {
    let (kind, types, outcome) = match &record.event {
        SiemEvent::Finding { .. } => ("alert", "info", None),
        SiemEvent::Block { .. } => ("event", "denied", Some("success")),
        SiemEvent::Unblock { .. } => ("event", "allowed", Some("success")),
        SiemEvent::Denied(_) => ("metric", "denied", None),
    };
    let mut ev = Map::new();
    ev.insert("kind".into(), json!(kind));
    ev.insert("category".into(), json!(["api", "intrusion_detection"]));
    ev.insert("type".into(), json!([types]));
    ev.insert("id".into(), json!(&*record.id));
    ev.insert("severity".into(), json!(cef_severity(record)));
    ev.insert("action".into(), json!(f.kind));
    ev.insert("created".into(), json!(rfc3339_ms(record.created_ms)));
    ev.insert("module".into(), json!("palisade"));
    ev.insert(
        "dataset".into(),
        json!(format!("palisade.{}", record_type(record))),
    );
    if let Some(o) = outcome {
        ev.insert("outcome".into(), json!(o));
    }
    if let Some(r) = f.reason {
        ev.insert("reason".into(), json!(r));
    }
    if let Some((start, end)) = f.window {
        ev.insert("start".into(), json!(rfc3339_ms(start)));
        ev.insert("end".into(), json!(rfc3339_ms(end)));
    } else if let Some(b) = f.block {
        ev.insert("start".into(), json!(rfc3339_ms(b.created_ms)));
        if let Some(e) = b.expires_ms {
            ev.insert("end".into(), json!(rfc3339_ms(e)));
        }
    }
    Value::Object(ev)
}

/// `http`, `url` and `user_agent` of the triggering request (or endpoint).
fn insert_request(doc: &mut Map<String, Value>, f: &Facts<'_>) {
    let mut http = Map::new();
    if let Some(m) = f.method {
        http.insert("request".into(), json!({ "method": m }));
    }
    if let Some(s) = f.status {
        http.insert("response".into(), json!({ "status_code": s }));
    }
    if !http.is_empty() {
        doc.insert("http".into(), Value::Object(http));
    }
    if let Some(p) = f.path {
        doc.insert("url".into(), json!({ "path": p, "original": p }));
    }
    if let Some(ua) = f.user_agent {
        doc.insert("user_agent".into(), json!({ "original": ua }));
    }
}

/// `source`, `user` and `related` of the client.
fn insert_client(doc: &mut Map<String, Value>, f: &Facts<'_>) {
    let mut related = Map::new();
    if let Some(ip) = f.ip {
        let mut source = Map::new();
        source.insert("ip".into(), json!(ip.to_string()));
        if let Some(port) = f.port {
            source.insert("port".into(), json!(port));
        }
        doc.insert("source".into(), Value::Object(source));
        related.insert("ip".into(), json!([ip.to_string()]));
    }
    if let Some(s) = f.subject {
        doc.insert("user".into(), json!({ "id": s }));
        related.insert("user".into(), json!([s]));
    }
    if !related.is_empty() {
        doc.insert("related".into(), Value::Object(related));
    }
}

/// `observer`: this sidecar.
fn observer(src: &SiemSource) -> Value {
    json!({
        "name": &*src.hostname,
        "hostname": &*src.hostname,
        "product": "Palisade",
        "vendor": "Palisade",
        "version": &*src.version,
        "type": "waf",
    })
}

/// `labels` (keyword values) for pivots ECS has no field for.
fn labels(f: &Facts<'_>) -> Map<String, Value> {
    let mut l = Map::new();
    l.insert("palisade_kind".into(), json!(f.kind));
    if let Some(e) = f.endpoint {
        l.insert("palisade_endpoint".into(), json!(e));
    }
    if let Some(id) = f.finding_id {
        l.insert("palisade_finding_id".into(), json!(id.to_string()));
    }
    if let Some(k) = f.api_key {
        l.insert("palisade_api_key_id".into(), json!(k));
    }
    if let Some(b) = f.block {
        l.insert("palisade_block_id".into(), json!(b.id.to_string()));
        l.insert("palisade_block_scope".into(), json!(b.scope.to_string()));
    }
    l
}

/// `palisade`: the custom field set (fixed types whatever the record).
fn palisade(record: &SiemRecord, f: &Facts<'_>) -> Value {
    let mut p = Map::new();
    p.insert("type".into(), json!(record_type(record)));
    if let Some(c) = f.confidence {
        p.insert("confidence".into(), json!(c));
    }
    if let Some(ev) = f.evidence {
        p.insert(
            "evidence".into(),
            json!(Value::Object(ev.clone()).to_string()),
        );
    }
    if let Some(b) = f.block {
        let mut block = Map::new();
        block.insert("id".into(), json!(b.id));
        block.insert("scope".into(), json!(b.scope.to_string()));
        block.insert("origin".into(), json!(b.origin.as_str()));
        if let Some(e) = b.expires_ms {
            block.insert("expires".into(), json!(rfc3339_ms(e)));
        }
        p.insert("block".into(), Value::Object(block));
    }
    if let Some(a) = f.actor {
        p.insert("actor".into(), json!(a));
    }
    if let Some(d) = f.denied {
        p.insert(
            "denied".into(),
            json!({ "total": d.total, "by_reason": d.by_reason }),
        );
    }
    Value::Object(p)
}
