use std::path::{Path, PathBuf};

use http::HeaderMap;
use palisade_models::ViolationKind;
use palisade_models::config::UnknownPolicy::{self, Flag, Reject};

use super::*;
use crate::body::BodyInput;

fn fixture() -> PathBuf {
    palisade_models::crate_dir!().join("fixtures/shop.yaml")
}

fn shop() -> Spec {
    let options = SpecOptions {
        base_path: None,
        mass_assignment_fields: vec!["role".into(), "is_admin".into(), "balance".into()],
    };
    Spec::load(&fixture(), &options).unwrap()
}

fn op<'a>(spec: &'a Spec, id: &str) -> &'a Operation {
    spec.by_id(id).unwrap()
}

/// Checks a head; path params as (name, raw) pairs.
fn head(
    op: &Operation,
    path: &[(&str, &str)],
    query: &str,
    headers: &[(&str, &str)],
    unknown: UnknownPolicy,
) -> Report {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let mut out = Report::default();
    let query = (!query.is_empty()).then_some(query);
    op.check_head(
        |name| path.iter().find(|(k, _)| *k == name).map(|(_, v)| *v),
        query,
        &h,
        unknown,
        &mut out,
    );
    out
}

fn body(op: &Operation, json: &str, unknown: UnknownPolicy) -> Report {
    let mut out = Report::default();
    op.check_body(
        BodyInput {
            content_type: Some(b"application/json"),
            bytes: json.as_bytes(),
            complete: true,
        },
        unknown,
        &mut out,
    );
    out
}

/// The violations as "location name rule" strings.
fn named(r: &Report) -> Vec<String> {
    r.violations()
        .iter()
        .map(|v| format!("{} {} {}", v.location.as_str(), v.name, v.rule))
        .collect()
}

#[test]
fn operations_become_routes_with_the_server_base_path() {
    let spec = shop();
    assert_eq!(spec.version, Version::V30);
    assert_eq!(spec.title, "Shop API");
    assert_eq!(spec.base_path, "/api");
    let names: Vec<String> = spec.operations.iter().map(Operation::name).collect();
    for want in [
        "GET /api/health",
        "GET /api/users",
        "POST /api/users",
        "GET /api/users/{userId}",
        "PATCH /api/users/{userId}",
        "DELETE /api/users/{userId}",
        "GET /api/orders",
        "POST /api/orders",
        "GET /api/orders/{orderId}",
        "POST /api/orders/{orderId}/cancel",
        "GET /api/products/{sku}",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    assert_eq!(spec.operations.len(), 11);
    assert!(op(&spec, "cancelOrder").deprecated);
    assert!(!op(&spec, "getOrder").deprecated);
    assert_eq!(op(&spec, "getUser").spec_path, "/users/{userId}");
    assert_eq!(
        op(&spec, "listUsers").query_params,
        ["page", "limit", "role", "tag"]
    );
}

#[test]
fn security_requirements_map_to_credentials() {
    let spec = shop();
    assert_eq!(op(&spec, "deleteUser").security.auth, RouteAuth::ApiKey);
    assert_eq!(op(&spec, "getOrder").security.auth, RouteAuth::JwtOrApiKey);
    assert_eq!(op(&spec, "health").security.auth, RouteAuth::None);
    assert_eq!(op(&spec, "listUsers").security.auth, RouteAuth::None);
    let options = SpecOptions {
        base_path: Some("/v2".into()),
        ..SpecOptions::default()
    };
    let text = r#"{"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
      "security": [{"oauth": ["orders:read", "orders:write"]}],
      "components": {"securitySchemes": {
        "oauth": {"type": "oauth2", "flows": {}},
        "basic": {"type": "http", "scheme": "basic"}}},
      "paths": {"/a": {"get": {"responses": {}}},
                "/b": {"get": {"security": [{"basic": []}], "responses": {}}}}}"#;
    let spec = Spec::parse(Path::new("t.json"), text.into(), &options).unwrap();
    let a = &spec.operations[0];
    assert_eq!(a.path, "/v2/a");
    assert_eq!(a.security.auth, RouteAuth::Jwt);
    assert_eq!(a.security.scopes, ["orders:read", "orders:write"]);
    assert_eq!(spec.operations[1].security.auth, RouteAuth::None);
    assert_eq!(spec.unchecked_security, ["GET /v2/b (basic)"]);
}

#[test]
fn valid_heads_pass_without_a_report() {
    let spec = shop();
    let r = head(
        op(&spec, "listUsers"),
        &[],
        "page=2&limit=50&role=admin&tag=a&tag=b",
        &[],
        Reject,
    );
    assert!(r.is_empty(), "{:?}", named(&r));
    let r = head(
        op(&spec, "getUser"),
        &[("userId", "42")],
        "",
        &[("x-client-version", "2.17")],
        Reject,
    );
    assert!(r.is_empty(), "{:?}", named(&r));
    let r = head(
        op(&spec, "getOrder"),
        &[("orderId", "0b9c2a52-8f1e-4c55-9a43-3d7e5f1a2b6c")],
        "",
        &[],
        Reject,
    );
    assert!(r.is_empty(), "{:?}", named(&r));
    let r = head(
        op(&spec, "listOrders"),
        &[],
        "status=paid&created_after=2026-01-02T03:04:05Z",
        &[],
        Reject,
    );
    assert!(r.is_empty(), "{:?}", named(&r));
    let r = head(
        op(&spec, "getProduct"),
        &[("sku", "ABC-1234")],
        "",
        &[],
        Reject,
    );
    assert!(r.is_empty(), "{:?}", named(&r));
}

/// Name-value pairs: path parameters or headers.
type Pairs<'a> = &'a [(&'a str, &'a str)];

#[test]
fn each_parameter_rule_is_named() {
    let spec = shop();
    let cases: &[(&str, Pairs, &str, Pairs, &str)] = &[
        ("getUser", &[("userId", "abc")], "", &[], "path userId type"),
        (
            "getUser",
            &[("userId", "0")],
            "",
            &[],
            "path userId minimum",
        ),
        (
            "getUser",
            &[("userId", "7")],
            "",
            &[("x-client-version", "latest")],
            "header x-client-version pattern",
        ),
        (
            "getOrder",
            &[("orderId", "12345")],
            "",
            &[],
            "path orderId format",
        ),
        (
            "getProduct",
            &[("sku", "abc-12")],
            "",
            &[],
            "path sku pattern",
        ),
        ("listUsers", &[], "limit=500", &[], "query limit maximum"),
        ("listUsers", &[], "page=0", &[], "query page minimum"),
        ("listUsers", &[], "page=two", &[], "query page type"),
        ("listUsers", &[], "role=root", &[], "query role enum"),
        (
            "listUsers",
            &[],
            "tag=a&tag=b&tag=c&tag=d",
            &[],
            "query tag maxItems",
        ),
        ("listOrders", &[], "", &[], "query status missing"),
        ("listOrders", &[], "status=lost", &[], "query status enum"),
        (
            "listOrders",
            &[],
            "status=paid&created_after=yesterday",
            &[],
            "query created_after format",
        ),
    ];
    for (id, path, query, headers, want) in cases {
        let r = head(op(&spec, id), path, query, headers, Flag);
        assert_eq!(named(&r), [*want], "{id} {query}");
        assert!(r.denies(), "{want} denies in block mode");
    }
}

#[test]
fn undeclared_query_parameters_are_flagged_or_rejected() {
    let spec = shop();
    let list = op(&spec, "listUsers");
    let flagged = head(list, &[], "page=1&debug=1", &[], Flag);
    assert_eq!(named(&flagged), ["query debug unknown"]);
    assert_eq!(flagged.violations()[0].kind, ViolationKind::Unknown);
    assert!(!flagged.denies(), "flag never denies");
    let rejected = head(list, &[], "page=1&debug=1", &[], Reject);
    assert!(rejected.denies());
    assert_eq!(rejected.violations()[0].kind, ViolationKind::Invalid);
    assert!(head(list, &[], "debug=1", &[], UnknownPolicy::Allow).is_empty());
}

#[test]
fn valid_bodies_pass_without_a_report() {
    let spec = shop();
    let user = r#"{"email": "ada@example.com", "name": "Ada", "birthday": null,
        "address": {"street": "1 Main St", "city": "Springfield", "zip": "12345"}, "newsletter": true}"#;
    let r = body(op(&spec, "createUser"), user, Reject);
    assert!(r.is_empty(), "{:?}", named(&r));
    let order = r#"{"items": [{"sku": "ABC-1234", "quantity": 2}], "currency": "EUR",
        "shipping": {"address": {"street": "a", "city": "b", "zip": "01234"}, "express": false},
        "placed_at": "2026-03-01T10:00:00Z", "customer_id": "0b9c2a52-8f1e-4c55-9a43-3d7e5f1a2b6c"}"#;
    let r = body(op(&spec, "createOrder"), order, Reject);
    assert!(r.is_empty(), "{:?}", named(&r));
    let r = body(op(&spec, "updateUser"), r#"{"name": "Grace"}"#, Reject);
    assert!(r.is_empty(), "{:?}", named(&r));
}

#[test]
fn each_body_rule_is_named_by_pointer() {
    let spec = shop();
    let cases = [
        ("createUser", r#"{"name": "Ada"}"#, "body /email required"),
        (
            "createUser",
            r#"{"email": "not-an-email", "name": "Ada"}"#,
            "body /email format",
        ),
        (
            "createUser",
            r#"{"email": "a@b.co", "name": ""}"#,
            "body /name minLength",
        ),
        (
            "createUser",
            r#"{"email": "a@b.co", "name": "A", "newsletter": "yes"}"#,
            "body /newsletter type",
        ),
        (
            "createUser",
            r#"{"email": "a@b.co", "name": "A", "address": {"street": "s", "city": "c", "zip": "ABCDE"}}"#,
            "body /address/zip pattern",
        ),
        (
            "createOrder",
            r#"{"items": [{"sku": "ABC-1234", "quantity": 0}], "currency": "EUR"}"#,
            "body /items/0/quantity minimum",
        ),
        (
            "createOrder",
            r#"{"items": [], "currency": "EUR"}"#,
            "body /items minItems",
        ),
        (
            "createOrder",
            r#"{"items": [{"sku": "ABC-1234", "quantity": 1}], "currency": "JPY"}"#,
            "body /currency enum",
        ),
        (
            "createOrder",
            r#"{"items": [{"sku": "ABC-1234", "quantity": 1}], "currency": "EUR", "placed_at": "noon"}"#,
            "body /placed_at format",
        ),
        (
            "createOrder",
            r#"{"items": [{"sku": "ABC-1234", "quantity": 1}], "currency": "EUR", "customer_id": "42"}"#,
            "body /customer_id format",
        ),
        (
            "createOrder",
            r#"{"items": [{"sku": "ABC-1234", "quantity": 1}], "currency": "EUR", "note": "NOTE"}"#,
            "",
        ),
        ("createUser", r#"{"email": "a@b.co", "#, "body  json"),
    ];
    for (id, json, want) in cases {
        let r = body(op(&spec, id), json, Flag);
        let want: Vec<&str> = if want.is_empty() { vec![] } else { vec![want] };
        assert_eq!(named(&r), want, "{id} {json}");
    }
    let long = format!(
        r#"{{"items": [{{"sku": "ABC-1234", "quantity": 1}}], "currency": "EUR", "note": "{}"}}"#,
        "x".repeat(201)
    );
    assert_eq!(
        named(&body(op(&spec, "createOrder"), &long, Flag)),
        ["body /note maxLength"]
    );
}

#[test]
fn body_presence_media_type_and_size() {
    let spec = shop();
    let create = op(&spec, "createUser");
    let check = |ct: Option<&'static [u8]>, bytes: &[u8], complete: bool| {
        let mut out = Report::default();
        create.check_body(
            BodyInput {
                content_type: ct,
                bytes,
                complete,
            },
            Flag,
            &mut out,
        );
        named(&out)
    };
    assert_eq!(
        check(Some(b"application/json"), b"", true),
        ["body  missing"]
    );
    assert_eq!(
        check(Some(b"text/plain"), b"hello", true),
        ["body  content_type"]
    );
    assert_eq!(check(None, b"{}", true), ["body  content_type"]);
    assert_eq!(
        check(
            Some(b"application/json; charset=utf-8"),
            b"{\"name\":",
            false
        ),
        ["body  max_body_bytes"]
    );
    assert!(create.wants_json_body(Some(b"application/json; charset=utf-8")));
    assert!(!create.wants_json_body(Some(b"text/plain")));
    assert!(!op(&spec, "getUser").has_body());
}

#[test]
fn mass_assignment_is_told_from_plain_unknown_fields() {
    let spec = shop();
    // createUser accepts no role, is_admin or balance, and returns a User that has them.
    let sent =
        r#"{"email": "a@b.co", "name": "A", "is_admin": true, "nickname": "x", "balance": 1e6}"#;
    let r = body(op(&spec, "createUser"), sent, Flag);
    let mut kinds: Vec<(String, ViolationKind)> = r
        .violations()
        .iter()
        .map(|v| (v.name.to_string(), v.kind))
        .collect();
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        kinds,
        [
            ("/balance".to_string(), ViolationKind::MassAssignment),
            ("/is_admin".to_string(), ViolationKind::MassAssignment),
            ("/nickname".to_string(), ViolationKind::Unknown),
        ]
    );
    assert!(!r.denies(), "flag records, never denies");
    assert!(body(op(&spec, "createUser"), sent, Reject).denies());
    assert!(body(op(&spec, "createUser"), sent, UnknownPolicy::Allow).is_empty());

    // A field the response names (`id`, declared readOnly there) counts too.
    let r = body(
        op(&spec, "createUser"),
        r#"{"email": "a@b.co", "name": "A", "id": 1}"#,
        Flag,
    );
    assert_eq!(r.violations()[0].kind, ViolationKind::MassAssignment);

    // Nested: an unknown field inside the address is found by its pointer.
    let r = body(
        op(&spec, "createUser"),
        r#"{"email": "a@b.co", "name": "A", "address": {"street": "s", "city": "c", "zip": "12345", "role": "admin"}}"#,
        Flag,
    );
    assert_eq!(named(&r), ["body /address/role unknown"]);
    assert_eq!(r.violations()[0].kind, ViolationKind::MassAssignment);
}

#[test]
fn additional_properties_false_rejects_in_every_policy() {
    let spec = shop();
    let r = body(
        op(&spec, "updateUser"),
        r#"{"name": "A", "role": "admin"}"#,
        UnknownPolicy::Allow,
    );
    assert_eq!(named(&r), ["body /role additionalProperties"]);
    assert_eq!(r.violations()[0].kind, ViolationKind::MassAssignment);
    assert!(r.denies());
    let r = body(
        op(&spec, "updateUser"),
        r#"{"name": "A", "colour": "red"}"#,
        Flag,
    );
    assert_eq!(named(&r), ["body /colour additionalProperties"]);
    assert_eq!(r.violations()[0].kind, ViolationKind::Invalid);
}

#[test]
fn openapi_31_schemas_are_json_schema_2020_12() {
    let text = r#"{"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
      "paths": {"/items/{id}": {"put": {
        "parameters": [{"name": "id", "in": "path", "required": true,
                        "schema": {"type": "string", "format": "uuid"}}],
        "requestBody": {"content": {"application/json": {"schema": {
          "type": "object", "required": ["label"],
          "properties": {"label": {"type": ["string", "null"], "maxLength": 4},
                         "count": {"type": "integer", "exclusiveMinimum": 0}}}}}},
        "responses": {}}}}}"#;
    let spec = Spec::parse(Path::new("t.json"), text.into(), &SpecOptions::default()).unwrap();
    assert_eq!(spec.version, Version::V31);
    let put = &spec.operations[0];
    assert!(
        head(
            put,
            &[("id", "0b9c2a52-8f1e-4c55-9a43-3d7e5f1a2b6c")],
            "",
            &[],
            Flag
        )
        .is_empty()
    );
    assert_eq!(
        named(&head(put, &[("id", "nope")], "", &[], Flag)),
        ["path id format"]
    );
    assert!(body(put, r#"{"label": null}"#, Flag).is_empty());
    assert_eq!(
        named(&body(put, r#"{"label": "toolong"}"#, Flag)),
        ["body /label maxLength"]
    );
    assert_eq!(
        named(&body(put, r#"{"label": "a", "count": 0}"#, Flag)),
        ["body /count exclusiveMinimum"]
    );
}

fn load_error(text: &str, name: &str) -> OpenApiError {
    Spec::parse(Path::new(name), text.into(), &SpecOptions::default()).unwrap_err()
}

#[test]
fn malformed_specs_name_the_line() {
    let yaml = "openapi: 3.0.3\ninfo:\n  title: t\n  version: '1'\npaths:\n  /a:\n    get: {responses: {}\n  /b: x\n";
    let e = load_error(yaml, "broken.yaml");
    assert!(matches!(e, OpenApiError::Syntax { .. }), "{e}");
    assert!(e.line().is_some_and(|l| (7..=8).contains(&l)), "{e}");
    assert!(e.to_string().contains("broken.yaml"), "{e}");

    let json = "{\n  \"openapi\": \"3.1.0\",\n  \"paths\": {\n    \"/a\": {,}\n  }\n}";
    let e = load_error(json, "broken.json");
    assert_eq!(e.line(), Some(4), "{e}");

    let bad_ref = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      parameters:\n        - $ref: '#/components/parameters/Nope'\n      responses: {}\n";
    let e = load_error(bad_ref, "ref.yaml");
    assert_eq!(e.line(), Some(7), "{e}");
    assert!(
        e.to_string().contains("#/components/parameters/Nope"),
        "{e}"
    );

    let bad_pattern = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      parameters:\n        - name: q\n          in: query\n          schema:\n            type: string\n            pattern: '(unclosed'\n      responses: {}\n";
    let e = load_error(bad_pattern, "pattern.yaml");
    assert_eq!(e.line(), Some(9), "{e}");
    assert!(e.to_string().contains("parameters.0.schema"), "{e}");

    let e = load_error("swagger: '2.0'\npaths: {}\n", "old.yaml");
    assert!(e.to_string().contains("Swagger 2.0"), "{e}");
    assert!(e.hint().contains("3.0 and 3.1"));
    let e = load_error(
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n",
        "empty.yaml",
    );
    assert!(e.to_string().contains("paths"), "{e}");
}
