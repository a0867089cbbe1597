//! Owns `palisade spec diff`: the stored endpoint inventory against an OpenAPI
//! spec, printed for an operator (or as JSON): what traffic shows that the spec
//! does not (shadow endpoints, undeclared parameters sent), deprecated
//! operations still called, and operations nobody called in the window.
//!
//! Must not start anything or write to the store: it opens it read-only, so it
//! runs beside a stopped Palisade or on a copy of a running one's store.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use palisade_models::{Config, EndpointInfo, unix_ms};
use palisade_openapi::{Drift, DriftStatus, Spec, SpecOptions};

/// What `spec diff` was asked to do.
#[derive(Debug)]
pub(crate) struct SpecDiff {
    pub(crate) spec: PathBuf,
    /// The config: its store path, retention and `[openapi]` options.
    pub(crate) config: Option<PathBuf>,
    /// The store file, overriding the config's.
    pub(crate) store: Option<PathBuf>,
    /// Operations not called within this long are unused.
    pub(crate) window: Option<Duration>,
    pub(crate) json: bool,
}

/// Runs it: exit 2 for an unusable spec or config, 1 for a store that cannot be
/// read, 0 otherwise (drift is a report, not a failure).
pub(crate) fn diff(args: &SpecDiff) -> ExitCode {
    let config = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(c) => Some(c),
            Err(e) => {
                eprint!("{}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let options = config
        .as_ref()
        .map(|c| SpecOptions::from_config(&c.openapi))
        .unwrap_or_default();
    let spec = match Spec::load(&args.spec, &options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("spec diff: {e}\n    hint: {}", e.hint());
            return ExitCode::from(2);
        }
    };
    let store = args
        .store
        .clone()
        .or_else(|| config.as_ref().map(|c| PathBuf::from(&c.store.path)))
        .unwrap_or_else(|| PathBuf::from(palisade_models::config::StoreConfig::default().path));
    let inventory = match palisade_store::read_inventory(&store) {
        Ok(i) => i,
        Err(e) => {
            eprintln!(
                "spec diff: {e}\n    hint: a running Palisade holds its store: GET /api/endpoints on its \
                 admin listener shows the same drift live; or pass --store with a copy of the file"
            );
            return ExitCode::from(1);
        }
    };
    let window = args
        .window
        .or_else(|| config.as_ref().map(|c| c.store.retention.duration()))
        .unwrap_or(Duration::from_secs(30 * 24 * 3600));
    let since = unix_ms(std::time::SystemTime::now()).saturating_sub(window.as_millis() as u64);
    let drift = palisade_openapi::drift(&spec, &inventory, since);
    if args.json {
        match serde_json::to_string_pretty(&drift) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("spec diff: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!(
            "{}",
            report(&spec, &args.spec, &store, &inventory, &drift, window)
        );
    }
    ExitCode::SUCCESS
}

/// The text report.
fn report(
    spec: &Spec,
    spec_path: &Path,
    store: &Path,
    inventory: &[EndpointInfo],
    drift: &Drift,
    window: Duration,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "spec {} ({}): {} operations; inventory {}: {} endpoints",
        spec_path.display(),
        if spec.title.is_empty() {
            "untitled"
        } else {
            &spec.title
        },
        spec.operations.len(),
        store.display(),
        inventory.len()
    );
    let width = drift
        .entries
        .iter()
        .map(|e| e.method.len() + 1 + e.template.len())
        .chain(
            drift
                .unused
                .iter()
                .map(|u| u.method.len() + 1 + u.path.len()),
        )
        .max()
        .unwrap_or(0);
    let name = |m: &str, p: &str| format!("{m} {p}");

    section(
        &mut out,
        "In traffic, not in the spec (shadow: answered by the service)",
    );
    let shadows: Vec<_> = drift.with(DriftStatus::Shadow).collect();
    for e in &shadows {
        let _ = writeln!(
            out,
            "  {:width$}  {} requests",
            name(&e.method, &e.template),
            e.requests
        );
    }
    none_if(&mut out, shadows.is_empty());

    section(&mut out, "Parameters sent that the spec does not declare");
    let mut any = false;
    for e in drift.entries.iter().filter(|e| {
        !e.undeclared_params.is_empty()
            && matches!(e.status, DriftStatus::InSpec | DriftStatus::Zombie)
    }) {
        any = true;
        let _ = writeln!(
            out,
            "  {:width$}  {}",
            name(&e.method, &e.template),
            e.undeclared_params.join(", ")
        );
    }
    none_if(&mut out, !any);

    section(&mut out, "Deprecated in the spec, still called (zombie)");
    let zombies: Vec<_> = drift.with(DriftStatus::Zombie).collect();
    for e in &zombies {
        let _ = writeln!(
            out,
            "  {:width$}  {} requests{}",
            name(&e.method, &e.template),
            e.requests,
            e.operation_id
                .as_deref()
                .map(|id| format!("  ({id})"))
                .unwrap_or_default()
        );
    }
    none_if(&mut out, zombies.is_empty());

    section(
        &mut out,
        &format!(
            "In the spec, not called in the last {} (unused)",
            humantime::format_duration(window)
        ),
    );
    for u in &drift.unused {
        let _ = writeln!(
            out,
            "  {:width$}  {}{}",
            name(&u.method, &u.path),
            u.operation_id.as_deref().unwrap_or(""),
            if u.deprecated { "  deprecated" } else { "" }
        );
    }
    none_if(&mut out, drift.unused.is_empty());

    let probed = drift.with(DriftStatus::Probed).count();
    if probed > 0 {
        let _ = writeln!(
            out,
            "\n{probed} more paths outside the spec were only ever answered 404 (probing, not drift)."
        );
    }
    out
}

fn section(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n{title}:");
}

fn none_if(out: &mut String, empty: bool) {
    if empty {
        out.push_str("  none\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(method: &str, template: &str, requests: u64, answered: u64) -> EndpointInfo {
        EndpointInfo {
            method: method.into(),
            template: template.into(),
            declared: false,
            first_seen_ms: 1,
            last_seen_ms: u64::MAX / 2,
            requests,
            status_classes: [0; 5],
            unauthorized: 0,
            forbidden: 0,
            not_found: requests - answered,
            auth_none: requests,
            auth_jwt: 0,
            auth_api_key: 0,
            rate_1m: 0.0,
            rate_10m: 0.0,
            rate_1h: 0.0,
            latency_p50_us: 0,
            latency_p95_us: 0,
            latency_p99_us: 0,
            bytes_out_avg: 0.0,
            latency_counts: Vec::new(),
            latency_sum_us: 0,
            upstream_answered: answered,
            params_seen: Vec::new(),
        }
    }

    #[test]
    fn the_report_lists_each_kind_of_drift() {
        let path = palisade_models::crate_dir!().join("openapi/fixtures/shop.yaml");
        let spec = Spec::load(&path, &SpecOptions::default()).unwrap();
        let mut users = endpoint("GET", "/api/users/{id}", 40, 40);
        users.params_seen = vec!["query.debug".into(), "body/role".into()];
        let inventory = vec![
            users,
            endpoint("GET", "/api/internal/debug", 9, 9),
            endpoint("GET", "/wp-login.php", 3, 0),
            endpoint("POST", "/api/orders/{id}/cancel", 5, 5),
        ];
        let drift = palisade_openapi::drift(&spec, &inventory, 0);
        let text = report(
            &spec,
            &path,
            Path::new("p.redb"),
            &inventory,
            &drift,
            Duration::from_secs(86_400),
        );
        assert!(text.contains("Shop API"), "{text}");
        let shadow = text.split("In traffic").nth(1).unwrap();
        assert!(shadow.contains("GET /api/internal/debug"), "{text}");
        assert!(
            !shadow
                .split("Parameters")
                .next()
                .unwrap()
                .contains("wp-login"),
            "{text}"
        );
        assert!(text.contains("query.debug, body/role"), "{text}");
        assert!(
            text.contains("POST /api/orders/{id}/cancel") && text.contains("(cancelOrder)"),
            "{text}"
        );
        let unused = text.split("(unused):").nth(1).unwrap();
        assert!(unused.contains("DELETE /api/users/{userId}"), "{text}");
        assert!(
            !unused.contains("GET /api/users/{userId}"),
            "called, so used: {text}"
        );
        assert!(text.contains("1 more paths outside the spec"), "{text}");
    }
}
