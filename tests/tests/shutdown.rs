//! SIGTERM on the real binary: it stops accepting at once, lets an in-flight
//! request finish, and exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::StatusCode;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use palisade_tests::upstream::{Upstream, text};
use tokio::sync::Notify;

/// Starts `palisade run` and returns it with the address it logged.
fn spawn(config: &str) -> (Child, std::net::SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("palisade.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["run", "--config", path.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("palisade exited before listening")
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "proxy listening" {
            break v["addr"].as_str().unwrap().parse().unwrap();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_an_in_flight_request_and_exits_zero() {
    let arrived = Arc::new(AtomicBool::new(false));
    let release = Arc::new(Notify::new());
    let (a, r) = (arrived.clone(), release.clone());
    let up = Upstream::start(move |_req| {
        let (a, r) = (a.clone(), r.clone());
        async move {
            let released = r.notified();
            a.store(true, Ordering::SeqCst);
            released.await;
            text(StatusCode::OK, "finished after SIGTERM")
        }
    })
    .await;
    let (mut child, addr, _dir) = spawn(&format!(
        r#"
        [proxy]
        workers = 2
        listen = ["127.0.0.1:0"]
        [proxy.timeouts]
        shutdown_grace = "20s"
        [upstream]
        url = "{}"
        [log]
        format = "json"
        "#,
        up.url()
    ));

    let in_flight = tokio::spawn(reqwest::get(format!("http://{addr}/slow")));
    palisade_tests::eventually("the request reaches the upstream", || {
        arrived.load(Ordering::SeqCst)
    })
    .await;

    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    palisade_tests::eventually("new connections are refused", || {
        std::net::TcpStream::connect(addr).is_err()
    })
    .await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );

    release.notify_waiters();
    let resp = in_flight.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "finished after SIGTERM");

    let mut status = None;
    palisade_tests::eventually("palisade exits", || {
        status = child.try_wait().unwrap();
        status.is_some()
    })
    .await;
    assert_eq!(status.unwrap().code(), Some(0));
}
