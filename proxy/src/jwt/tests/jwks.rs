//! `jwks_url` key sets against a real HTTP server on 127.0.0.1:0 whose JWKS,
//! Cache-Control and status the test swaps, and which counts and can hold
//! requests. Fetches are awaited on the source's fetch counter, with a bound.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::jwt::JwtError;
use crate::jwt::jwks::{Refetch, max_age, next_refresh};

const WAIT: Duration = Duration::from_secs(10);

/// What the server answers, swappable while it runs.
struct Served {
    status: u16,
    body: String,
    cache_control: Option<String>,
}

struct JwksServer {
    addr: SocketAddr,
    served: Arc<Mutex<Served>>,
    /// Requests received (counted before any hold).
    hits: watch::Receiver<u64>,
    /// While false, requests wait before answering.
    open: watch::Sender<bool>,
}

impl JwksServer {
    async fn start(body: String) -> Self {
        let served = Arc::new(Mutex::new(Served {
            status: 200,
            body,
            cache_control: None,
        }));
        let (hits_tx, hits) = watch::channel(0u64);
        let hits_tx = Arc::new(hits_tx);
        let open = watch::Sender::new(true);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (s, o) = (served.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (s, o, h) = (s.clone(), o.clone(), hits_tx.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |_req: Request<Incoming>| {
                        let (s, mut gate, h) = (s.clone(), o.subscribe(), h.clone());
                        async move {
                            h.send_modify(|n| *n += 1);
                            let _ = gate.wait_for(|open| *open).await;
                            let (status, body, cc) = {
                                let s = s.lock().unwrap();
                                (s.status, s.body.clone(), s.cache_control.clone())
                            };
                            let mut resp = Response::builder()
                                .status(status)
                                .header("content-type", "application/json");
                            if let Some(cc) = cc {
                                resp = resp.header("cache-control", cc);
                            }
                            Ok::<_, Infallible>(resp.body(Full::new(Bytes::from(body))).unwrap())
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            addr,
            served,
            hits,
            open,
        }
    }

    fn serve(&self, body: String) {
        self.served.lock().unwrap().body = body;
    }

    fn hits(&self) -> u64 {
        *self.hits.borrow()
    }

    async fn wait_hits(&mut self, n: u64) {
        tokio::time::timeout(WAIT, self.hits.wait_for(|h| *h >= n))
            .await
            .expect("the JWKS request never arrived")
            .unwrap();
    }
}

/// A verifier of ES256 tokens from the server's JWKS, its refresher running.
async fn verifier(
    server: &JwksServer,
    clock: &Arc<ManualClock>,
) -> (JwtVerifier, CancellationToken) {
    let v = build(
        &format!(
            "[auth.jwt]\n[[auth.jwt.key]]\nalgorithms = [\"ES256\"]\n\
             jwks_url = \"http://{}/jwks.json\"\nrefresh = \"10m\"\nmin_refetch_interval = \"30s\"\n",
            server.addr
        ),
        clock,
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(v.jwks_refresher(shutdown.clone()));
    tokio::time::timeout(WAIT, v.jwks_loaded())
        .await
        .expect("the first JWKS fetch did not finish");
    (v, shutdown)
}

/// Waits until the source has completed `n` fetches.
async fn fetched(v: &JwtVerifier, n: u64) {
    let mut rx = v.inner.jwks[0].fetches.subscribe();
    tokio::time::timeout(WAIT, rx.wait_for(|c| *c >= n))
        .await
        .expect("the JWKS fetch did not finish")
        .unwrap();
}

fn fetches(v: &JwtVerifier) -> u64 {
    *v.inner.jwks[0].fetches.borrow()
}

fn es(key: &TestKey, kid: &str) -> String {
    bearer(&key.signing, JwtAlgorithm::ES256, Some(kid), &claims())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_fetched_after_one_refusal() {
    let (a, b) = (new_ec(JwtAlgorithm::ES256), new_ec(JwtAlgorithm::ES256));
    let server = JwksServer::start(jwks(&[(&a, "a")])).await;
    let clock = manual_clock();
    let (v, shutdown) = verifier(&server, &clock).await;
    assert_eq!(server.hits(), 1);
    assert!(v.verify(es(&a, "a").as_bytes()).is_ok());

    server.serve(jwks(&[(&a, "a"), (&b, "b")]));
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        v.verify(es(&b, "b").as_bytes()),
        Err(JwtError::UnknownKid),
        "refused at once, never waiting on the fetch"
    );
    fetched(&v, 2).await;
    assert_eq!(server.hits(), 2);
    assert!(v.verify(es(&b, "b").as_bytes()).is_ok());
    assert!(v.verify(es(&a, "a").as_bytes()).is_ok());
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_unknown_kids_fetch_once() {
    let (a, b) = (new_ec(JwtAlgorithm::ES256), new_ec(JwtAlgorithm::ES256));
    let mut server = JwksServer::start(jwks(&[(&a, "a")])).await;
    let clock = manual_clock();
    let (v, shutdown) = verifier(&server, &clock).await;
    server.serve(jwks(&[(&a, "a"), (&b, "b")]));
    server.open.send_replace(false);
    clock.advance(Duration::from_secs(31));

    let token = es(&b, "b");
    let burst = |v: &JwtVerifier| {
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..4 {
                        assert_eq!(v.verify(token.as_bytes()), Err(JwtError::UnknownKid));
                    }
                });
            }
        });
    };
    burst(&v);
    server.wait_hits(2).await; // the one fetch is now held at the server
    burst(&v);
    assert_eq!(
        v.inner.jwks[0].request_refetch(clock.now_ms()),
        Refetch::InFlight
    );
    server.open.send_replace(true);
    fetched(&v, 2).await;
    assert!(v.verify(token.as_bytes()).is_ok());
    assert_eq!(server.hits(), 2, "64 refusals, one fetch");
    assert_eq!(fetches(&v), 2);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refetches_are_rate_limited() {
    let (a, c) = (new_ec(JwtAlgorithm::ES256), new_ec(JwtAlgorithm::ES256));
    let server = JwksServer::start(jwks(&[(&a, "a")])).await;
    let clock = manual_clock();
    let (v, shutdown) = verifier(&server, &clock).await;
    let source = v.inner.jwks[0].clone();

    // Within min_refetch_interval of the first fetch: refused, nothing fetched.
    clock.advance(Duration::from_secs(29));
    assert_eq!(v.verify(es(&c, "c").as_bytes()), Err(JwtError::UnknownKid));
    assert_eq!(source.rate_limited.load(Ordering::Relaxed), 1);
    assert_eq!(source.request_refetch(clock.now_ms()), Refetch::RateLimited);
    clock.advance(Duration::from_secs(1));
    assert_eq!(v.verify(es(&c, "c").as_bytes()), Err(JwtError::UnknownKid));
    fetched(&v, 2).await;
    // The kid is still unknown after that fetch; the next refetch waits again.
    assert_eq!(v.verify(es(&c, "c").as_bytes()), Err(JwtError::UnknownKid));
    assert_eq!(source.request_refetch(clock.now_ms()), Refetch::RateLimited);
    server.serve(jwks(&[(&a, "a"), (&c, "c")]));
    clock.advance(Duration::from_secs(30));
    assert_eq!(v.verify(es(&c, "c").as_bytes()), Err(JwtError::UnknownKid));
    fetched(&v, 3).await;
    assert!(v.verify(es(&c, "c").as_bytes()).is_ok());
    assert_eq!(server.hits(), 3);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_max_age_sets_the_next_refresh_within_bounds() {
    let a = new_ec(JwtAlgorithm::ES256);
    let server = JwksServer::start(jwks(&[(&a, "a")])).await;
    server.served.lock().unwrap().cache_control = Some("public, max-age=120".into());
    let clock = manual_clock();
    let (v, shutdown) = verifier(&server, &clock).await;
    let next = || v.inner.jwks[0].next_refresh_ms.load(Ordering::Acquire);
    assert_eq!(next(), 120_000);

    for (cc, want, n) in [
        (Some("max-age=5"), 30_000, 2), // never below min_refetch_interval
        (Some("max-age=86400"), 600_000, 3), // never beyond refresh
        (None, 600_000, 4),
    ] {
        server.served.lock().unwrap().cache_control = cc.map(Into::into);
        clock.advance(Duration::from_secs(30));
        assert_eq!(
            v.inner.jwks[0].request_refetch(clock.now_ms()),
            Refetch::Requested
        );
        fetched(&v, n).await;
        assert_eq!(next(), want, "{cc:?}");
    }
    shutdown.cancel();
}

/// The schedule itself, on paused time: the next fetch comes `max-age` after
/// the last, not `refresh`.
#[tokio::test(start_paused = true)]
async fn the_next_fetch_comes_after_max_age() {
    let a = new_ec(JwtAlgorithm::ES256);
    let mut server = JwksServer::start(jwks(&[(&a, "a")])).await;
    server.served.lock().unwrap().cache_control = Some("max-age=120".into());
    let clock = manual_clock();
    let (v, shutdown) = verifier(&server, &clock).await;
    assert_eq!(server.hits(), 1);
    tokio::time::advance(Duration::from_secs(119)).await;
    // Half a (virtual) second in which a fetch already due would complete.
    let early = tokio::time::timeout(
        Duration::from_millis(500),
        server.hits.wait_for(|h| *h >= 2),
    );
    assert!(early.await.is_err(), "fetched before max-age");
    tokio::time::advance(Duration::from_millis(500)).await;
    server.wait_hits(2).await;
    fetched(&v, 2).await;
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fetch_keeps_the_last_good_set() {
    let (a, b) = (new_ec(JwtAlgorithm::ES256), new_ec(JwtAlgorithm::ES256));
    let server = JwksServer::start(jwks(&[(&a, "a")])).await;
    let clock = manual_clock();
    let (v, shutdown) = verifier(&server, &clock).await;
    for (status, body) in [
        (500, jwks(&[(&b, "b")])),
        (200, "<html>maintenance</html>".to_string()),
        (200, "{\"keys\": []}".to_string()),
    ] {
        {
            let mut s = server.served.lock().unwrap();
            s.status = status;
            s.body = body;
        }
        clock.advance(Duration::from_secs(30));
        let before = fetches(&v);
        assert_eq!(v.verify(es(&b, "b").as_bytes()), Err(JwtError::UnknownKid));
        fetched(&v, before + 1).await;
        assert!(
            v.verify(es(&a, "a").as_bytes()).is_ok(),
            "status {status}: the old key still verifies"
        );
        assert_eq!(
            v.inner.jwks[0].next_refresh_ms.load(Ordering::Acquire),
            30_000,
            "a failure is retried after min_refetch_interval"
        );
    }
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_key_is_not_served_from_the_cache() {
    let (a, b) = (new_ec(JwtAlgorithm::ES256), new_ec(JwtAlgorithm::ES256));
    let server = JwksServer::start(jwks(&[(&a, "a")])).await;
    let clock = manual_clock();
    let (v, shutdown) = verifier(&server, &clock).await;
    let old = es(&a, "a");
    assert!(v.verify(old.as_bytes()).is_ok());
    assert!(v.verify(old.as_bytes()).is_ok());
    assert_eq!(v.signature_checks(), 1, "cached");

    // The issuer withdraws `a`; a token naming `b` brings the new set in.
    server.serve(jwks(&[(&b, "b")]));
    clock.advance(Duration::from_secs(30));
    assert_eq!(v.verify(es(&b, "b").as_bytes()), Err(JwtError::UnknownKid));
    fetched(&v, 2).await;
    assert_eq!(v.verify(old.as_bytes()), Err(JwtError::UnknownKid));
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_outside_the_allowlist_are_left_out_of_a_fetched_set() {
    let (a, b) = (new_ec(JwtAlgorithm::ES256), new_ec(JwtAlgorithm::ES384));
    let mut doc: Value = serde_json::from_str(&jwks(&[(&a, "a"), (&b, "b")])).unwrap();
    doc["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0", "alg": "HS256"}));
    let server = JwksServer::start(doc.to_string()).await;
    let clock = manual_clock();
    let (v, shutdown) = verifier(&server, &clock).await;
    assert_eq!(v.inner.jwks[0].keys.load().len(), 1);
    assert!(v.verify(es(&a, "a").as_bytes()).is_ok());
    let es384 = bearer(&b.signing, JwtAlgorithm::ES384, Some("b"), &claims());
    assert_eq!(
        v.verify(es384.as_bytes()),
        Err(JwtError::AlgorithmNotAllowed)
    );
    let hs = bearer(
        &EncodingKey::from_secret(b"secret"),
        JwtAlgorithm::HS256,
        Some("s"),
        &claims(),
    );
    assert_eq!(v.verify(hs.as_bytes()), Err(JwtError::AlgorithmNotAllowed));
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresher_stops_on_shutdown() {
    let a = new_ec(JwtAlgorithm::ES256);
    let server = JwksServer::start(jwks(&[(&a, "a")])).await;
    let v = build(
        &format!(
            "[auth.jwt]\n[[auth.jwt.key]]\nalgorithms = [\"ES256\"]\njwks_url = \"http://{}/j\"\n",
            server.addr
        ),
        &manual_clock(),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(v.jwks_refresher(shutdown.clone()));
    tokio::time::timeout(WAIT, v.jwks_loaded()).await.unwrap();
    shutdown.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .expect("the refresher did not stop")
        .unwrap();
}

#[test]
fn max_age_and_the_refresh_bounds() {
    assert_eq!(max_age("max-age=300"), Some(Duration::from_secs(300)));
    assert_eq!(
        max_age("public, Max-Age=\"60\", must-revalidate"),
        Some(Duration::from_secs(60))
    );
    assert_eq!(max_age("no-cache"), None);
    assert_eq!(max_age("s-maxage=10"), None);
    assert_eq!(max_age("max-age=soon"), None);
    let (r, m) = (Duration::from_secs(600), Duration::from_secs(30));
    assert_eq!(next_refresh(None, r, m), r);
    assert_eq!(
        next_refresh(Some(Duration::from_secs(120)), r, m),
        Duration::from_secs(120)
    );
    assert_eq!(next_refresh(Some(Duration::ZERO), r, m), m);
    assert_eq!(next_refresh(Some(Duration::from_secs(9999)), r, m), r);
}
