//! Owns the Splunk HTTP Event Collector envelope of a record and the body of a
//! batch for `/services/collector/event`.
//!
//! Must not add anything the record does not hold; index-time `fields` carry only
//! the record's id, type and kind (strings, as HEC requires). Does no I/O.

use serde_json::{Map, Value, json};

use super::{Facts, Schema, SiemRecord, SiemSource, document, record_type};

/// How a HEC sink labels its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HecOptions {
    /// The target index; None leaves it to the token's default.
    pub index: Option<Box<str>>,
    pub source: Box<str>,
    pub sourcetype: Box<str>,
    /// Which document goes in `event`.
    pub schema: Schema,
}

/// One HEC event envelope:
/// `{"time": <secs.millis>, "host", "source", "sourcetype", "index"?, "event",
/// "fields": {"palisade_id", "palisade_type", "palisade_kind"}}`.
pub fn event(record: &SiemRecord, src: &SiemSource, opts: &HecOptions) -> Value {
    let mut env = Map::new();
    env.insert("time".into(), json!(epoch_seconds(record.created_ms)));
    env.insert("host".into(), json!(&*src.hostname));
    env.insert("source".into(), json!(&*opts.source));
    env.insert("sourcetype".into(), json!(&*opts.sourcetype));
    if let Some(index) = &opts.index {
        env.insert("index".into(), json!(&**index));
    }
    env.insert("event".into(), document(opts.schema, record, src));
    env.insert(
        "fields".into(),
        json!({
            "palisade_id": &*record.id,
            "palisade_type": record_type(record),
            "palisade_kind": Facts::of(record).kind,
        }),
    );
    Value::Object(env)
}

/// Milliseconds as HEC's `time`: seconds since the epoch with a millisecond
/// fraction (serialised in shortest form, e.g. `1700000000.123`).
fn epoch_seconds(ms: u64) -> f64 {
    // Exact below 2^53 ms (year 287396); the division rounds to the nearest
    // double, whose shortest form is the decimal seconds.millis.
    ms as f64 / 1000.0
}

/// A batch body: each event's JSON, one after the other, separated by `\n` (not
/// a JSON array), as `/services/collector/event` takes it.
pub fn batch(events: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.len() * 1024);
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        // Writing a Value into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, event);
    }
    out
}
