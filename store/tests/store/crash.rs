//! kill -9 in the middle of writing, three times over on one file: every record the
//! writer was told is stored (it prints an id only after the commit returned) is
//! there after each reopen.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use palisade_models::FindingId;
use palisade_store::{Store, StoreError};

/// Acknowledged records to see before each kill.
const ACKED: usize = 200;
const ROUNDS: usize = 3;
/// How long the writer may take to print its next line before the test gives up: a
/// bound on a failure, never a way to wait for success.
const STALL: Duration = Duration::from_secs(60);

/// `cargo test` builds the examples next to `deps/`, where this test binary lives.
fn crash_writer() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir
        .join("examples")
        .join(format!("crash_writer{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run this test through `cargo test -p palisade-store`, which builds the \
         examples (`--test store` alone does not)",
        path.display()
    );
    path
}

/// Runs the writer on `path` until it has acknowledged `ACKED` records, kills it
/// with SIGKILL, and returns every line it printed, including those still in the
/// pipe at the kill.
fn write_until_killed(writer: &Path, path: &Path, check_lock: bool) -> Vec<String> {
    let mut child = Command::new(writer)
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the writer");
    let stdout = child.stdout.take().expect("piped stdout");

    // A reader thread turns the blocking pipe into a channel the test can wait on
    // with a bound.
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut lines = Vec::new();
    while lines.len() < ACKED {
        match rx.recv_timeout(STALL) {
            Ok(line) => lines.push(line),
            Err(e) => {
                let _ = child.kill();
                panic!("the writer stopped after {} lines: {e}", lines.len());
            }
        }
        if check_lock && lines.len() == 1 {
            // While the writer runs, its store is locked against this process too.
            let err = Store::open(path).expect_err("the writer holds the file");
            assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
        }
    }
    child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
    let status = child.wait().expect("reap the writer");
    assert!(!status.success(), "killed, not exited: {status:?}");
    reader.join().expect("reader thread");
    lines.extend(rx.try_iter());
    lines
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let writer = crash_writer();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("palisade.redb");
    let mut blocks = HashSet::new();
    let mut findings = HashSet::new();

    for round in 0..ROUNDS {
        for line in write_until_killed(&writer, &path, round == 0) {
            let fresh = match line.split_once(' ') {
                Some(("block", id)) => blocks.insert(id.parse::<u64>().unwrap()),
                Some(("finding", id)) => findings.insert(id.parse::<FindingId>().unwrap()),
                _ => panic!("unexpected line from the writer: {line:?}"),
            };
            assert!(fresh, "round {round}: {line} acknowledged twice");
        }

        let store = Store::open(&path).unwrap();
        let stored: HashSet<u64> = store.blocks().unwrap().iter().map(|b| b.id).collect();
        let lost: Vec<_> = blocks.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged blocks lost: {lost:?}"
        );
        for id in &findings {
            assert!(
                store.finding(*id).unwrap().is_some(),
                "round {round}: acknowledged finding {id} lost"
            );
        }
        assert!(store.count_findings().unwrap() >= findings.len() as u64);
    }
    assert!(
        blocks.len() >= ROUNDS * ACKED / 4,
        "{} blocks",
        blocks.len()
    );

    // The store goes on from where the writer was cut off.
    let store = Store::open(&path).unwrap();
    let newest = store.blocks().unwrap().iter().map(|b| b.id).max().unwrap();
    let next = store
        .insert_block(crate::new_block("after", 0, None), &crate::admin(0))
        .unwrap();
    assert!(next.id > newest);
}
