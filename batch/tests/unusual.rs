//! The client-behaviour model end to end: synthetic traffic through the engine
//! into the window, a batch run fitting KMeans and scoring every client, the
//! `unusual_client` detector reporting what the run found through the engine's
//! findings and decisions, and the stored model scoring at once after a restart.

// A failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use palisade_analytics::Output;
use palisade_analytics::batch::batch_reader;
use palisade_batch::BatchRunner;
use palisade_models::{ClientName, FindingKind, Severity};
use palisade_store::Store;

#[test]
fn planted_scrapers_are_reported_as_unusual_and_browsing_users_are_not() {
    let config = config("");
    let (evs, planted) = traffic(200, 6, 42);
    let (engine, window) = run_engine(&config, &evs);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("p.redb")).unwrap());
    let view = batch_reader();
    let end = T0_MS + 30 * 60_000;
    let mut runner = BatchRunner::new(
        &config,
        window.reader(),
        view.clone(),
        Some(store.clone()),
        clock_at(end),
        end,
    )
    .unwrap();
    let report = runner.run_once().unwrap();
    assert!(report.fitted, "{report:?}");
    assert_eq!(
        report.scored, 206,
        "every client with 20 requests is scored"
    );

    let unusual: Vec<String> = view
        .load()
        .unusual
        .iter()
        .map(|u| u.client.value())
        .collect();
    let tp = unusual.iter().filter(|c| planted.contains(c)).count();
    let precision = tp as f64 / unusual.len().max(1) as f64;
    let recall = tp as f64 / planted.len() as f64;
    println!("precision {precision:.2}, recall {recall:.2}: flagged {unusual:?}");
    assert!(
        precision >= 0.9 && recall == 1.0,
        "precision {precision:.2}, recall {recall:.2}: flagged {unusual:?}"
    );

    // The detector turns the run into low-severity findings, alert only.
    let mut engine = engine.with_batch(view.clone());
    let mut out = Output::default();
    engine.batch_tick(end, &mut out);
    assert_eq!(out.findings.len(), unusual.len());
    assert!(
        out.blocks.is_empty(),
        "low severity blocks nobody by default"
    );
    let f = &out.findings[0];
    assert_eq!(f.kind, FindingKind::UnusualClient);
    assert_eq!(f.severity, Severity::Low);
    assert!(f.client.subject.is_some());
    let named = f.evidence["features"].as_array().unwrap();
    assert!(!named.is_empty() && named.len() <= 3, "{named:?}");
    assert!(f.summary.contains("typical"), "{}", f.summary);
    // The same run is not reported twice.
    let mut again = Output::default();
    engine.batch_tick(end + 1000, &mut again);
    assert!(again.findings.is_empty());

    // A restart: a new runner reads the stored model and scores at once, without
    // fitting (the refit is an hour away).
    let view2 = batch_reader();
    let mut restarted = BatchRunner::new(
        &config,
        window.reader(),
        view2.clone(),
        Some(store),
        clock_at(end + 60_000),
        end + 60_000,
    )
    .unwrap();
    assert!(restarted.model().is_some(), "the model was stored");
    let report = restarted.run_once().unwrap();
    assert!(!report.fitted);
    let again: Vec<ClientName> = view2
        .load()
        .unusual
        .iter()
        .map(|u| u.client.clone())
        .collect();
    assert_eq!(
        again,
        view.load()
            .unusual
            .iter()
            .map(|u| u.client.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn with_the_model_off_nothing_is_scored() {
    let config = config("[batch.model]\nenabled = false\n");
    let (evs, _) = traffic(60, 3, 7);
    let (_, window) = run_engine(&config, &evs);
    let view = batch_reader();
    let end = T0_MS + 30 * 60_000;
    let mut runner = BatchRunner::new(
        &config,
        window.reader(),
        view.clone(),
        None,
        clock_at(end),
        end,
    )
    .unwrap();
    let report = runner.run_once().unwrap();
    assert_eq!(report.scored, 0);
    assert!(view.load().unusual.is_empty());
    assert!(
        !view.load().endpoints.is_empty(),
        "baselines still computed"
    );
}
