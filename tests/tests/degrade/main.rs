//! Overload of what lies behind the request path (issue 10, "Overload"): an
//! analytics worker slower than the traffic, or one that crashes, never touches
//! the answers clients get; the loss is counted on `/metrics` and a crash is
//! logged, flagged (`palisade_analytics_up 0`), counted and healed by a restart.
//! The store filling its quota is in `quota.rs`.
//!
//! The worker is stalled or crashed through the one seam the sidecar already
//! takes from a test: its clock (`TestClock`), which misbehaves only when called
//! on the analytics thread. No production setting can make Palisade panic.

mod blocks;
mod quota;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use http::StatusCode;
use palisade_models::{Clock, SystemClock};
use palisade_tests::sidecar::{Options, Sidecar};
use palisade_tests::upstream::Upstream;

const TOKEN: &str = "degrade-admin-token-0123456789abcdef";

/// The analytics worker's thread name (analytics/src/worker.rs).
const ANALYTICS_THREAD: &str = "palisade-analytics";

/// The system clock, except on the analytics thread, where it can be told to
/// hold the caller (a worker slower than any traffic) or to panic (a bug in it).
#[derive(Debug, Default)]
pub struct TestClock {
    inner: SystemClock,
    hold: Mutex<bool>,
    released: Condvar,
    /// True while the analytics thread waits in `hold`.
    holding: AtomicBool,
    /// Panics left to raise on the analytics thread.
    panics: AtomicU32,
}

impl TestClock {
    fn misbehave(&self) {
        if std::thread::current().name() != Some(ANALYTICS_THREAD) {
            return;
        }
        if self
            .panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("injected by the test clock");
        }
        let mut held = self.hold.lock().unwrap();
        while *held {
            self.holding.store(true, Ordering::SeqCst);
            // Bounded: a test that forgets to release does not hang the suite.
            let (h, t) = self
                .released
                .wait_timeout(held, Duration::from_secs(30))
                .unwrap();
            held = h;
            if t.timed_out() {
                *held = false;
            }
        }
        self.holding.store(false, Ordering::SeqCst);
    }

    fn stall(&self, on: bool) {
        *self.hold.lock().unwrap() = on;
        self.released.notify_all();
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        self.misbehave();
        self.inner.now()
    }

    fn monotonic(&self) -> Duration {
        self.misbehave();
        self.inner.monotonic()
    }
}

/// Every log line of this test binary (the subscriber is process-wide, since
/// the worker logs from its own thread).
pub fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .init();
        buf
    })
}

pub fn log_text() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A sidecar with a known admin token and `extra` config.
pub fn start(up: &Upstream, clock: Arc<TestClock>, extra: &str) -> Sidecar {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let side = Sidecar::start_with(
        &up.url(),
        &format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_env = \"PALISADE_DEGRADE_UNSET\"\ntoken_file = \"{}\"\n{extra}",
            token.display()
        ),
        Options {
            clock: Some(clock),
            ..Options::default()
        },
    );
    // The token file is read at start; the directory may go.
    drop(dir);
    side
}

/// GETs an admin path with the token; the body as text.
pub async fn admin(side: &Sidecar, path: &str) -> (u16, String) {
    let addr = side.palisade.admin_addr().unwrap();
    let r = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the unlabelled metric `name` on `/metrics`.
pub async fn metric(side: &Sidecar, name: &str) -> Option<f64> {
    let (status, text) = admin(side, "/metrics").await;
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Waits until `name` on `/metrics` satisfies `ok`.
pub async fn metric_until(side: &Sidecar, name: &str, ok: impl Fn(f64) -> bool) -> f64 {
    palisade_tests::eventually_async(name, || async {
        metric(side, name).await.filter(|v| ok(*v))
    })
    .await
}

async fn all_answered(side: &Sidecar, n: usize) {
    let c = reqwest::Client::new();
    for _ in 0..n {
        let r = c.get(side.url("/")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.text().await.unwrap(), "ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_worker_drops_and_counts_while_requests_are_answered() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let clock = Arc::new(TestClock::default());
    let side = start(&up, clock.clone(), "[tee]\ncapacity = 4\n");
    clock.stall(true);
    palisade_tests::eventually("the worker is stalled", || {
        clock.holding.load(Ordering::SeqCst)
    })
    .await;

    all_answered(&side, 40).await;
    assert_eq!(up.count(), 40);
    // The ring holds 4; the other 36 events are dropped, and say so.
    metric_until(&side, "palisade_tee_dropped_events_total", |v| v == 36.0).await;
    assert_eq!(side.tee().len(), 4);
    // Slow is not down: the worker is alive.
    assert_eq!(metric(&side, "palisade_analytics_up").await, Some(1.0));

    clock.stall(false);
    palisade_tests::eventually("the worker drains the ring again", || side.tee().is_empty()).await;
    all_answered(&side, 3).await;
    let totals = side.palisade.analytics_totals().unwrap().clone();
    palisade_tests::eventually("the worker counts new events", || {
        totals.snapshot().events == 4 + 3
    })
    .await;
    assert_eq!(
        metric(&side, "palisade_tee_dropped_events_total").await,
        Some(36.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_worker_is_loud_never_felt_by_clients_and_restarted() {
    let up = Upstream::fixed(StatusCode::OK, "ok").await;
    let clock = Arc::new(TestClock::default());
    let side = start(&up, clock.clone(), "[tee]\ncapacity = 4\n");
    assert_eq!(metric(&side, "palisade_analytics_up").await, Some(1.0));
    assert_eq!(
        metric(&side, "palisade_analytics_restarts_total").await,
        Some(0.0)
    );

    // Enough panics to keep it down for a few backoffs (100 ms, 200 ms, ...):
    // the worker crashes, and so does each restart and each engine rebuild.
    clock.panics.store(6, Ordering::SeqCst);
    metric_until(&side, "palisade_analytics_up", |v| v == 0.0).await;
    all_answered(&side, 20).await;
    assert_eq!(up.count(), 20);

    // Healed: the worker runs again on a rebuilt engine and drains the tee.
    // Up for good only once every injected panic is spent (between two of
    // them it is up for a moment).
    palisade_tests::eventually_async("the worker is up with no panic left", || async {
        // In this order: once none is left, `up` can no longer flip back.
        let spent = clock.panics.load(Ordering::SeqCst) == 0;
        let up = metric(&side, "palisade_analytics_up").await == Some(1.0);
        (spent && up).then_some(())
    })
    .await;
    let restarts = metric(&side, "palisade_analytics_restarts_total")
        .await
        .unwrap();
    assert!(restarts >= 1.0, "restarts: {restarts}");
    palisade_tests::eventually("the restarted worker drains the tee", || {
        side.tee().is_empty()
    })
    .await;
    let events_before = side.palisade.analytics_totals().unwrap().snapshot().events;
    // Three, fewer than the ring holds (4): a busy machine may not drain between
    // requests, and a fifth would then be dropped, not counted.
    all_answered(&side, 3).await;
    let totals = side.palisade.analytics_totals().unwrap().clone();
    let deadline = std::time::Instant::now() + palisade_tests::EVENTUALLY;
    while totals.snapshot().events < events_before + 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the restarted worker does not count new events: {:?}, before {events_before}, tee {} dropped {}\n{}",
            totals.snapshot(),
            side.tee().len(),
            side.tee().dropped(),
            log_text()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let dropped = metric(&side, "palisade_tee_dropped_events_total")
        .await
        .unwrap();
    let counted = totals.snapshot().events as f64;
    assert_eq!(
        dropped + counted,
        23.0,
        "every exchange is counted or dropped"
    );

    let log = log_text();
    assert!(
        log.contains("the analytics worker crashed") && log.contains("injected by the test clock"),
        "the crash is logged with its cause:\n{log}"
    );
    assert!(log.contains("ERROR"), "as an error:\n{log}");
    assert!(log.contains("the analytics worker restarted"), "{log}");
}
