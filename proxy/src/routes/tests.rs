use std::path::Path;

use palisade_models::SystemClock;
use palisade_openapi::SpecOptions;

use super::*;

fn config(routes: &str) -> Config {
    let text = format!("[upstream]\nurl = \"http://127.0.0.1:1\"\n{routes}");
    Config::parse(&text).unwrap()
}

fn limits(config: &Config) -> RateLimits {
    RateLimits::build(config, Arc::new(SystemClock::new())).unwrap()
}

fn table(routes: &str) -> RouteTable {
    let config = config(routes);
    RouteTable::build(&config, &limits(&config)).unwrap()
}

#[test]
fn methods_templates_and_wildcards() {
    let t = table(
        r#"
        [[route]]
        path = "/api/users/{id}"
        methods = ["GET", "PUT"]
        [[route]]
        path = "/api/users/me"
        methods = ["GET"]
        [[route]]
        path = "/files/{*rest}"
        [[route]]
        path = "/api/users/{id}"
        methods = ["DELETE"]
        max_body_bytes = 0
        "#,
    );
    let at = |m: Method, p: &str| t.lookup(&m, p).map(|i| &*t.get(i).template);
    assert_eq!(at(Method::GET, "/api/users/42"), Some("/api/users/{id}"));
    assert_eq!(at(Method::PUT, "/api/users/42"), Some("/api/users/{id}"));
    assert_eq!(at(Method::GET, "/api/users/me"), Some("/api/users/me"));
    assert_eq!(at(Method::POST, "/api/users/42"), None);
    assert_eq!(at(Method::GET, "/api/users/42/extra"), None);
    assert_eq!(at(Method::POST, "/files/a/b/c.txt"), Some("/files/{*rest}"));
    assert_eq!(at(Method::GET, "/nope"), None);
    let del = t.lookup(&Method::DELETE, "/api/users/1").unwrap();
    assert_eq!(t.get(del).max_body, 0);
    let get = t.lookup(&Method::GET, "/api/users/1").unwrap();
    assert_eq!(t.get(get).max_body, 1024 * 1024);
}

fn shop_path() -> String {
    palisade_models::crate_dir!()
        .join("../openapi/fixtures/shop.yaml")
        .display()
        .to_string()
}

/// A table for the shop spec with `extra` TOML (routes, auth) added; lines
/// starting `openapi.` go into the `[openapi]` table.
fn shop_table(extra: &str) -> Result<RouteTable, ProxyError> {
    let (openapi, rest): (Vec<&str>, Vec<&str>) = extra
        .lines()
        .partition(|l| l.trim_start().starts_with("openapi."));
    let openapi: Vec<&str> = openapi
        .iter()
        .map(|l| l.trim_start().trim_start_matches("openapi."))
        .collect();
    let config = config(&format!(
        "[openapi]\nspec = \"{}\"\n{}\n{}",
        shop_path(),
        openapi.join("\n"),
        rest.join("\n")
    ));
    let spec = Spec::load(
        config.openapi.spec.as_deref().unwrap(),
        &SpecOptions::from_config(&config.openapi),
    )
    .unwrap();
    RouteTable::build_from(
        &RouteSource::from_config(&config),
        Some(Arc::new(spec)),
        &limits(&config),
        None,
    )
}

const API_KEY: &str = r#"
[[auth.api_keys.key]]
id = "ci"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
"#;

#[test]
fn spec_operations_are_routes_with_the_spec_credentials() {
    let t = shop_table(API_KEY).unwrap();
    let route = |m: Method, p: &str| t.lookup(&m, p).map(|i| t.get(i));
    let get = route(Method::GET, "/api/users/42").unwrap();
    assert_eq!(&*get.template, "/api/users/{userId}");
    assert_eq!(get.auth, RouteAuth::None);
    let v = get.validation.unwrap();
    assert!(!v.block, "openapi.validation defaults to detect");
    assert_eq!(v.unknown_query, UnknownPolicy::Flag);
    assert_eq!(
        t.operation(&v).unwrap().operation_id.as_deref(),
        Some("getUser")
    );
    assert_eq!(
        route(Method::DELETE, "/api/users/42").unwrap().auth,
        RouteAuth::ApiKey
    );
    assert_eq!(
        route(Method::GET, "/api/orders/x").unwrap().auth,
        RouteAuth::JwtOrApiKey
    );
    assert!(
        route(Method::PUT, "/api/users/42").is_none(),
        "PUT is not in the spec"
    );
    assert!(
        route(Method::GET, "/users/42").is_none(),
        "the base path is part of the route"
    );
    assert_eq!(t.len(), 11);
}

#[test]
fn config_entries_set_an_operations_policy_by_id_or_by_path() {
    let t = shop_table(&format!(
        r#"openapi.validation = "block"
        {API_KEY}
        [[route]]
        operation_id = "createUser"
        unknown_fields = "reject"
        rate_limit = {{ client = "5/min" }}
        [[route]]
        path = "/api/users/{{userId}}"
        methods = ["PATCH"]
        validation = "off"
        auth = "api_key"
        [[route]]
        path = "/internal/metrics"
        methods = ["GET"]
        "#
    ))
    .unwrap();
    let route = |m: Method, p: &str| t.get(t.lookup(&m, p).unwrap());
    let create = route(Method::POST, "/api/users");
    let v = create.validation.unwrap();
    assert!(v.block);
    assert_eq!(v.unknown_fields, UnknownPolicy::Reject);
    assert!(create.limiter.is_some());
    let patch = route(Method::PATCH, "/api/users/1");
    assert!(patch.validation.is_none(), "validation = off");
    assert_eq!(patch.auth, RouteAuth::ApiKey);
    assert!(route(Method::GET, "/api/users/1").validation.unwrap().block);
    let plain = route(Method::GET, "/internal/metrics");
    assert!(plain.validation.is_none(), "a plain route has no operation");
    assert_eq!(&*plain.template, "/internal/metrics");
}

#[test]
fn spec_policy_problems_name_their_key() {
    let err = |extra: &str| match shop_table(extra) {
        Err(ProxyError::OpenApi { key, message, .. }) => format!("{key}: {message}"),
        other => panic!("expected an OpenAPI error, got {other:?}"),
    };
    let e = err("");
    assert!(e.starts_with("openapi.spec: operation "), "{e}");
    assert!(e.contains("requires") && e.contains("is configured"), "{e}");
    let e = err(&format!("{API_KEY}\n[[route]]\noperation_id = \"nope\""));
    assert!(
        e.starts_with("route[0].operation_id: the spec has no operation `nope`"),
        "{e}"
    );
    let e = err(&format!(
        "{API_KEY}\n[[route]]\noperation_id = \"getUser\"\n[[route]]\npath = \"/api/users/{{userId}}\"\nmethods = [\"GET\"]"
    ));
    assert!(
        e.starts_with("route[1]: sets the policy of GET /api/users/{userId}"),
        "{e}"
    );
    let e = err(&format!(
        "{API_KEY}\n[[route]]\npath = \"/other\"\nvalidation = \"block\""
    ));
    assert!(e.starts_with("route[0]: sets OpenAPI validation"), "{e}");
    // Without credential mapping, no credential is needed.
    assert!(shop_table("openapi.auth_from_spec = false").is_ok());
}

#[test]
fn a_rebuilt_table_keeps_each_routes_limiter() {
    let config = config(&format!(
        "[openapi]\nspec = \"{}\"\n[routes]\nrate_limit = {{ client = \"1/min\" }}\n{API_KEY}",
        shop_path()
    ));
    let limits = limits(&config);
    let src = RouteSource::from_config(&config);
    let spec = || {
        Some(Arc::new(
            Spec::load(Path::new(&shop_path()), &SpecOptions::default()).unwrap(),
        ))
    };
    let first = RouteTable::build_from(&src, spec(), &limits, None).unwrap();
    let second = RouteTable::build_from(&src, spec(), &limits, Some(&first)).unwrap();
    let limiter = |t: &RouteTable, m: Method, p: &str| {
        t.get(t.lookup(&m, p).unwrap()).limiter.clone().unwrap()
    };
    let a = limiter(&first, Method::GET, "/api/users/1");
    assert!(Arc::ptr_eq(
        &a,
        &limiter(&second, Method::GET, "/api/users/1")
    ));
    assert!(!Arc::ptr_eq(
        &a,
        &limiter(&second, Method::POST, "/api/users")
    ));
}
