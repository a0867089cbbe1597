//! Batch analytics in the real binary: polars' pool is as wide as `batch.threads`
//! (the binary restarts itself once with `POLARS_MAX_THREADS` set) and runs, with
//! the batch thread, at `batch.nice` while the proxy's workers stay at 0, the batch
//! thread writes the events to Parquet segments, the admin API exports them while
//! it runs, and `palisade export --offline` reads them back after it stops.

use std::process::Command;

use http::StatusCode;
use palisade_tests::binary::Running;
use palisade_tests::upstream::Upstream;

/// Threads of `pid` that polars' pool started (named `polars-<n>`).
fn polars_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.starts_with("polars-"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// The nice value of every thread of `pid` whose name starts with `prefix`.
fn nice_of(pid: u32, prefix: &str) -> Vec<i64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix))
        })
        .filter_map(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
            // Fields after the parenthesised name start at the third (state);
            // the nice value is the nineteenth.
            let after = &stat[stat.rfind(')')? + 2..];
            after.split(' ').nth(19 - 3)?.parse().ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polars_is_capped_and_events_reach_segments_and_exports() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let data = tempfile::tempdir().unwrap();
    let seg = data.path().join("events");
    let config = format!(
        r#"
        [proxy]
        workers = 1
        listen = ["127.0.0.1:0"]
        [upstream]
        url = "{}"
        [routes]
        unknown = "allow"
        [store]
        path = "{}"
        [log]
        format = "json"
        [admin]
        listen = "127.0.0.1:0"
        # Forty ids in a row from one address is a walk: analytics may report it,
        # but this test is about the batch jobs, so it must not block the client.
        [decisions]
        allow_cidrs = ["127.0.0.0/8"]
        [batch]
        interval = "1s"
        threads = 1
        nice = 12
        [batch.segments]
        enabled = true
        dir = "{}"
        "#,
        up.url(),
        data.path().join("palisade.redb").display(),
        seg.display()
    );
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_palisade-e2e"));
    let mut run = Running::start(bin, &config);
    let pid = run.child.id();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|v| v == b"POLARS_MAX_THREADS=1"),
        "the binary set POLARS_MAX_THREADS for itself"
    );
    let c = reqwest::Client::new();
    for i in 0..40 {
        let r = c
            .get(format!("http://{}/items/{i}", run.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    palisade_tests::eventually("a batch run starts polars' pool", || {
        polars_threads(pid) > 0
    })
    .await;
    assert_eq!(
        polars_threads(pid),
        1,
        "batch.threads = 1: one polars thread"
    );
    palisade_tests::eventually("the batch threads run at batch.nice", || {
        nice_of(pid, "polars-") == [12]
    })
    .await;
    assert_eq!(nice_of(pid, "palisade-batch"), [12], "batch.nice = 12");
    assert_eq!(
        nice_of(pid, "palisade-proxy"),
        [0],
        "the proxy's worker keeps its priority"
    );
    palisade_tests::eventually("the events reach a segment", || {
        std::fs::read_dir(&seg).is_ok_and(|d| {
            d.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
        })
    })
    .await;

    // While it runs: the admin API's export, with the generated token.
    let log = run.log();
    let admin = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("admin listening"))
        })
        .and_then(|v| v["addr"].as_str().map(str::to_string))
        .expect("the admin listener logs its address");
    let token = std::fs::read_to_string(data.path().join("admin-token")).unwrap();
    // Events are exported once their chunk is sealed (within seconds).
    let deadline = tokio::time::Instant::now() + palisade_tests::EVENTUALLY;
    loop {
        let resp = c
            .get(format!("http://{admin}/api/export?since=1h"))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let rows = resp.headers()["x-palisade-rows"]
            .to_str()
            .unwrap()
            .to_string();
        let body = resp.bytes().await.unwrap();
        assert!(body.starts_with(b"PAR1"));
        if rows == "40" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the export has {rows} rows, not 40"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    run.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(run.child.wait().unwrap().success());

    // Stopped: the command reads the segments itself.
    let path = data.path().join("palisade.toml");
    std::fs::write(&path, &config).unwrap();
    let out_file = data.path().join("events.parquet");
    let out = Command::new(bin)
        .args(["export", "--offline", "--since", "1h", "--config"])
        .arg(&path)
        .arg("--out")
        .arg(&out_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("40 rows written"), "{stdout}");
    assert!(std::fs::read(&out_file).unwrap().starts_with(b"PAR1"));
}
