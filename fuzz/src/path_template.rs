//! Target `path_template`: arbitrary paths through the two places that map a
//! path to an endpoint: the proxy's route table (dot-segment and encoded
//! backslash refusal, then the radix-tree match over declared routes with
//! parameters and a catch-all), and the analytics templater that learns
//! templates from traffic (`/users/8812` → `/users/{id}`) within its bounds.
//! The input is a list of paths, one per line; the first byte picks the method.
//!
//! Asserts: a matched route is one the config declares; the templater stays
//! within `max_templates` (plus declared routes), names an object that is a
//! segment of the path, resolves a path to the same template when asked twice,
//! and never writes an id-like segment into a template.

use std::sync::{Arc, LazyLock};

use http::{HeaderMap, Method};
use palisade_analytics::template::{OVERFLOW, Templater, classify};
use palisade_models::Config;
use palisade_proxy::fuzzing::{Routed, Routes};

const ROUTES: &str = r#"
[upstream]
url = "http://127.0.0.1:1"
[routes]
unknown = "deny"
[[route]]
path = "/api/users/{id}"
methods = ["GET", "PUT"]
[[route]]
path = "/api/users/me"
methods = ["GET"]
[[route]]
path = "/api/users/{id}/orders/{order}"
[[route]]
path = "/files/{*rest}"
[[route]]
path = "/"
"#;

const DECLARED: [&str; 5] = [
    "/api/users/{id}",
    "/api/users/me",
    "/api/users/{id}/orders/{order}",
    "/files/{*rest}",
    "/",
];

static TABLE: LazyLock<Routes> = LazyLock::new(|| {
    // INVARIANT: a fixed config that the seed test proves valid.
    let config = Config::parse(ROUTES).expect("the routes config parses");
    Routes::build(&config, None).expect("the routes compile")
});

const METHODS: [Method; 4] = [Method::GET, Method::PUT, Method::POST, Method::DELETE];

/// Small bounds, so that collapsing and overflow are reached quickly.
const MAX_LITERALS: usize = 4;
const MAX_TEMPLATES: usize = 24;

pub fn run(data: &[u8]) {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let method = &METHODS[usize::from(m) % METHODS.len()];
    let text = String::from_utf8_lossy(rest);
    let headers = HeaderMap::new();
    let mut tp = Templater::new(MAX_LITERALS, MAX_TEMPLATES);
    let declared: Arc<str> = Arc::from(DECLARED[0]);
    for path in text.split('\n') {
        match TABLE.check(method, path, None, &headers, b"", true) {
            Routed::Route { template, report } => {
                assert!(DECLARED.contains(&&*template), "matched {template}");
                assert!(report.is_empty(), "a config route has nothing to validate");
            }
            Routed::Ambiguous | Routed::Undeclared { allowed: false } => {}
            Routed::Undeclared { allowed: true } => panic!("routes.unknown is deny"),
        }
        let r = tp.resolve(path);
        assert!((r.template as usize) < tp.len());
        if let Some(object) = r.object {
            assert!(path.split('/').any(|s| s == object), "object {object:?}");
        }
        let again = tp.resolve(path);
        assert_eq!(r.template, again.template, "{path:?} resolved twice");
        let d = tp.declared(&declared, path);
        assert_eq!(&**tp.template(d.template), DECLARED[0]);
        assert!(tp.len() <= MAX_TEMPLATES + 1, "{} templates", tp.len());
        if r.template != OVERFLOW {
            let t = tp.template(r.template).clone();
            assert!(t.starts_with('/'), "template {t:?}");
            for seg in t.split('/').filter(|s| !s.starts_with('{')) {
                assert!(classify(seg).is_none(), "id {seg:?} kept in {t:?}");
            }
        }
    }
}
