//! SIGTERM on the real binary: it stops accepting at once, lets an in-flight
//! request finish, and exits 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::StatusCode;
use nix::sys::signal::Signal;
use palisade_tests::binary::Running;
use palisade_tests::upstream::{Upstream, text};
use tokio::sync::Notify;

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
    let mut palisade = Running::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_palisade-e2e")),
        &format!(
            r#"
        [proxy]
        workers = 2
        listen = ["127.0.0.1:0"]
        [proxy.timeouts]
        shutdown_grace = "20s"
        [upstream]
        url = "{}"
        [routes]
        unknown = "allow"
        [log]
        format = "json"
        "#,
            up.url()
        ),
    );
    let addr = palisade.addr;

    let in_flight = tokio::spawn(reqwest::get(format!("http://{addr}/slow")));
    palisade_tests::eventually("the request reaches the upstream", || {
        arrived.load(Ordering::SeqCst)
    })
    .await;

    palisade.signal(Signal::SIGTERM);
    palisade_tests::eventually("new connections are refused", || {
        std::net::TcpStream::connect(addr).is_err()
    })
    .await;
    assert!(
        palisade.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );

    release.notify_waiters();
    let resp = in_flight.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "finished after SIGTERM");

    let mut status = None;
    palisade_tests::eventually("palisade exits", || {
        status = palisade.child.try_wait().unwrap();
        status.is_some()
    })
    .await;
    assert_eq!(status.unwrap().code(), Some(0));
}
