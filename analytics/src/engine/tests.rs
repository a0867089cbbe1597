//! Engine tests of single detectors, with hand-made events.

use std::net::IpAddr;
use std::sync::Arc;

use palisade_models::{Config, Finding, FindingKind, RequestEvent};

use super::{Engine, Output};

const T0_MS: u64 = 1_800_000_000_000;

fn engine(routes: &str) -> Engine {
    let toml = format!("[upstream]\nurl = \"http://127.0.0.1:9\"\n{routes}");
    let config = Config::parse(&toml).unwrap_or_else(|e| panic!("config: {e}"));
    Engine::new(&config)
}

fn event(ip: [u8; 4], ms: u64, path: &str, route: Option<&str>, status: u16) -> RequestEvent {
    RequestEvent {
        ts_unix_us: (T0_MS + ms) * 1000,
        client_ip: IpAddr::from(ip),
        path: path.into(),
        route: route.map(Arc::from),
        status,
        ..RequestEvent::example()
    }
}

fn probing(out: &Output) -> Vec<&Finding> {
    out.findings
        .iter()
        .filter(|f| f.kind == FindingKind::Probing)
        .collect()
}

#[test]
fn a_health_check_of_a_sensitive_looking_path_is_no_probe() {
    let routes = "[routes]\nunknown = \"allow\"\n[[route]]\npath = \"/actuator/health\"\n";
    let mut e = engine(routes);
    let mut out = Output::default();
    // A load balancer checks the declared route, and an undeclared one, every
    // second for ten minutes.
    for s in 0..600u64 {
        let declared = event(
            [10, 0, 0, 1],
            s * 1000,
            "/actuator/health",
            Some("/actuator/health"),
            200,
        );
        e.process(&declared, &mut out);
        let undeclared = event([10, 0, 0, 2], s * 1000, "/actuator/info", None, 200);
        e.process(&undeclared, &mut out);
    }
    assert!(probing(&out).is_empty(), "{:#?}", probing(&out));
}

#[test]
fn a_scanner_asking_for_a_few_sensitive_files_is_a_probe() {
    let mut e = engine("[routes]\nunknown = \"allow\"\n[[route]]\npath = \"/api/items\"\n");
    let mut out = Output::default();
    // Exactly the threshold (three), counted exactly: a bitmap of 64 bits read
    // three paths as two about one run in 22. Two are no probe yet.
    let paths = ["/.env", "/.git/config", "/backup.sql"];
    for (i, path) in paths.iter().enumerate() {
        e.process(
            &event([10, 0, 0, 9], i as u64 * 100, path, None, 404),
            &mut out,
        );
        if i == 1 {
            assert!(probing(&out).is_empty(), "{:#?}", out.findings);
        }
    }
    let found = probing(&out);
    assert_eq!(found.len(), 1, "{:#?}", out.findings);
    assert_eq!(found[0].severity, palisade_models::Severity::High);
    assert_eq!(found[0].evidence["sensitive_paths"], 3);
}
