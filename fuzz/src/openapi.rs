//! Target `openapi`: arbitrary requests against a fixed, realistic spec
//! (`openapi/fixtures/shop.yaml`: integer and uuid path ids, enums, patterns,
//! nested JSON bodies, `additionalProperties: false`) through the proxy's
//! route table and the validators the validate phase runs: path, query and
//! header parameters, then the JSON body (media type, syntax, schema, undeclared
//! and mass-assignment properties). The input is a request head in HTTP/1.1
//! form without the version (`PATCH /api/users/7?x=1`, header lines, a blank
//! line) and the body.
//!
//! Asserts the report stays within its bounds and holds only cleaned names:
//! printable ASCII, at most `SCHEMA_NAME_MAX` bytes, at most
//! `SCHEMA_VIOLATIONS_MAX` kept.

use std::path::Path;
use std::sync::LazyLock;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use palisade_models::Config;
use palisade_models::event::{SCHEMA_NAME_MAX, SCHEMA_VIOLATIONS_MAX};
use palisade_openapi::{Spec, SpecOptions};
use palisade_proxy::fuzzing::{Routed, Routes};

/// The spec, relative to the crate (`fuzz/` or `tests/`, both one level down).
fn spec_path() -> String {
    palisade_models::crate_dir!()
        .join("../openapi/fixtures/shop.yaml")
        .display()
        .to_string()
}

/// The largest body validated whole (`openapi.max_body_bytes`, as configured).
const MAX_BODY: usize = 65536;

static TABLE: LazyLock<Routes> = LazyLock::new(|| {
    let spec_path = spec_path();
    let text = format!(
        r#"
[upstream]
url = "http://127.0.0.1:1"
[routes]
unknown = "allow"
[openapi]
spec = "{spec_path}"
validation = "block"
unknown_query = "reject"
unknown_fields = "flag"
max_body_bytes = {MAX_BODY}
[[auth.api_keys.key]]
id = "ci"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
[[route]]
operation_id = "createUser"
unknown_fields = "reject"
"#
    );
    // INVARIANT: a fixed config and spec that the seed test proves valid.
    let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let spec = Spec::load(
        Path::new(&spec_path),
        &SpecOptions::from_config(&config.openapi),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Routes::build(&config, Some(spec)).unwrap_or_else(|e| panic!("{e}"))
});

pub fn run(data: &[u8]) {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let mut lines = head.split(|&b| b == b'\n');
    let request_line = lines.next().unwrap_or_default();
    let Some(sp) = request_line.iter().position(|&b| b == b' ') else {
        return;
    };
    let (Ok(method), Ok(uri)) = (
        Method::from_bytes(&request_line[..sp]),
        Uri::try_from(&request_line[sp + 1..]),
    ) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) {
            headers.append(name, value);
        }
    }
    let whole = body.len() <= MAX_BODY;
    let body = &body[..body.len().min(MAX_BODY)];
    let routed = TABLE.check(&method, uri.path(), uri.query(), &headers, body, whole);
    let Routed::Route { report, .. } = routed else {
        return;
    };
    assert!(report.violations().len() <= SCHEMA_VIOLATIONS_MAX);
    if report.dropped() > 0 {
        assert_eq!(report.violations().len(), SCHEMA_VIOLATIONS_MAX);
    }
    for v in report.violations() {
        assert!(
            v.name.len() <= SCHEMA_NAME_MAX,
            "name of {} bytes",
            v.name.len()
        );
        assert!(
            v.name.bytes().all(|b| b.is_ascii_graphic()),
            "uncleaned name {:?}",
            v.name
        );
        assert!(!v.rule.is_empty());
    }
}
