//! The secret-leak audit: the real binary, every palisade crate logging at
//! trace, with JWT and API-key auth, signatures, login tracking, analytics
//! (findings and blocks), the store on disk and SIEM sinks of every format
//! (CEF over syslog TCP, OCSF, ECS and native JSON over HTTP) to receivers that
//! keep every byte. Clients put unique random markers everywhere a client puts
//! a secret (bearer JWT, Basic, cookies, X-API-Key, Proxy-Authorization,
//! `?token=` and `?api_key=`, `password` and `secret` in JSON and form bodies,
//! a login's username), in allowed requests, denied ones (bad token, signature
//! hit, blocked client) and ones that make findings (a 401 burst, probing).
//! Then every log line, the store (its raw file bytes and its records through
//! the store's API), every SIEM payload and every admin API response is
//! searched for each marker in every encoding (`secrets.rs`): none may appear.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use futures_util::StreamExt as _;
use http::StatusCode;
use nix::sys::signal::Signal;
use palisade_models::FindingKind;
use palisade_store::{FindingFilter, PageRequest, Store};
use palisade_tests::binary::Running;
use palisade_tests::recording::RecordingUpstream;
use palisade_tests::secrets::{Marker, find_leaks, form_encode};
use palisade_tests::{eventually, eventually_async, sha256_hex};

use palisade_tests::jws::Es256;

const TOKEN: &str = "audit-admin-token-0123456789abcdef";

/// Bytes kept by a receiver.
type Kept = Arc<Mutex<Vec<u8>>>;

/// The sidecar's config, with `{placeholders}`.
const CONFIG: &str = include_str!("../fixtures/secret_audit/palisade.toml");
/// One operation with a password of at most 8 characters, an integer secret
/// and no other properties: validation sees the secrets.
const SPEC: &str = include_str!("../fixtures/secret_audit/openapi.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_store_siem_or_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let key = Es256::generate();
    let pem = dir.path().join("jwt.pem");
    std::fs::write(&pem, &key.public_pem).unwrap();
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let db = dir.path().join("data/palisade.redb");
    // An OpenAPI operation whose validation sees the secrets: violation reports
    // name fields and rules, never values.
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, SPEC).unwrap();

    let api_key = Marker::new("valid X-API-Key");
    let (jwt_value, jwt_sig) = key.token(&serde_json::json!({
        "sub": "audit-user", "scope": "read", "jti": "audit-jti",
        "exp": 4_000_000_000u64, "iat": 1_700_000_000u64,
    }));
    let markers = vec![
        Marker::with_core("valid bearer JWT", &jwt_value, &jwt_sig),
        Marker::new("invalid bearer token"),
        Marker::new("401-burst bearer token"),
        Marker::new("Basic password"),
        Marker::new("session cookie"),
        api_key.clone(),
        Marker::new("invalid X-API-Key"),
        Marker::new("?token="),
        Marker::new("?api_key="),
        Marker::new("JSON password"),
        Marker::new("JSON secret"),
        Marker::new("form password"),
        Marker::new("form secret"),
        Marker::new("login username"),
        Marker::new("Proxy-Authorization"),
        // A well-formed ES256 signature (64 bytes) that does not verify.
        {
            use base64::Engine as _;
            let mut raw = [0u8; 64];
            aws_lc_rs::rand::fill(&mut raw).unwrap();
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
            Marker::with_core("tampered JWT signature", &sig, &sig)
        },
        Marker::new("schema-violating password"),
        Marker::new("schema-violating secret"),
        Marker::new("mass-assigned field value"),
        Marker::new("signature-hit query value"),
        Marker::new("signature-hit body value"),
    ];
    let m = |name: &str| {
        markers
            .iter()
            .find(|m| m.name == name)
            .unwrap()
            .value
            .clone()
    };

    // The service itself: it is owed the secrets, and is the positive control.
    let up = RecordingUpstream::start().await;
    let (syslog_addr, syslog) = palisade_tests::recording::keep_bytes().await;
    let hook = RecordingUpstream::start().await;
    let config = [
        ("{up}", up.url()),
        ("{pem}", pem.display().to_string()),
        ("{key_sha}", sha256_hex(&api_key.value)),
        ("{db}", db.display().to_string()),
        ("{token_file}", token_file.display().to_string()),
        ("{syslog_addr}", syslog_addr.to_string()),
        ("{hook}", hook.url()),
        ("{spec}", spec.display().to_string()),
    ]
    .iter()
    .fold(CONFIG.to_string(), |c, (k, v)| c.replace(k, v));
    let palisade = Running::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_palisade-e2e")),
        &config,
    );
    let admin_addr: SocketAddr = palisade.admin_addr().await;
    let admin = reqwest::Client::new();
    let admin_get = |path: &str| {
        admin
            .get(format!("http://{admin_addr}{path}"))
            .bearer_auth(TOKEN)
    };
    // The live feed, read from the start to the end of the test.
    let feed: Kept = Arc::default();
    let stream = admin_get("/api/stream").send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let f = feed.clone();
    tokio::spawn(async move {
        let mut s = stream.bytes_stream();
        while let Some(Ok(b)) = s.next().await {
            f.lock().unwrap().extend_from_slice(&b);
        }
    });

    let c = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", palisade.addr);
    let enc = form_encode;
    // Every place a client puts a secret, from one client address each round.
    let everything = |client: &'static str| {
        let c = c.clone();
        let (jwt, basic, cookie, key, bad_key, tok, qkey, jpw, jsec, fpw, fsec, user, proxy) = (
            m("valid bearer JWT"),
            STANDARD.encode(format!("alice:{}", m("Basic password"))),
            m("session cookie"),
            m("valid X-API-Key"),
            m("invalid X-API-Key"),
            m("?token="),
            m("?api_key="),
            m("JSON password"),
            m("JSON secret"),
            m("form password"),
            m("form secret"),
            m("login username"),
            m("Proxy-Authorization"),
        );
        async move {
            let mut statuses = Vec::new();
            let send = |r: reqwest::RequestBuilder| async move {
                r.header("x-forwarded-for", client)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            };
            statuses.push(send(c.get(url("/api/me")).bearer_auth(&jwt)).await);
            statuses.push(send(c.get(url("/api/keyed")).header("x-api-key", &key)).await);
            statuses.push(send(c.get(url("/api/keyed")).header("x-api-key", &bad_key)).await);
            statuses.push(
                send(
                    c.get(url(&format!(
                        "/search?token={}&api_key={}&q=ok",
                        enc(&tok),
                        enc(&qkey)
                    )))
                    .header("authorization", format!("Basic {basic}"))
                    .header("cookie", format!("session={cookie}; theme=dark"))
                    .header("proxy-authorization", format!("Basic {proxy}")),
                )
                .await,
            );
            statuses.push(
                send(
                    c.post(url("/profile"))
                        .header("content-type", "application/json")
                        .body(
                            serde_json::json!({"password": jpw, "secret": jsec, "name": "a"})
                                .to_string(),
                        ),
                )
                .await,
            );
            statuses.push(
                send(
                    c.post(url("/profile"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(format!(
                            "password={}&secret={}&name=a",
                            enc(&fpw),
                            enc(&fsec)
                        )),
                )
                .await,
            );
            statuses.push(
                send(
                    c.post(url("/login"))
                        .header("content-type", "application/json")
                        .body(serde_json::json!({"email": user, "password": jpw}).to_string()),
                )
                .await,
            );
            statuses
        }
    };

    // Allowed (the bad API key on /api/keyed is a 401).
    assert_eq!(
        everything("198.51.100.1").await,
        [200, 200, 401, 200, 200, 200, 200]
    );
    // Schema violations (detect mode: forwarded, recorded, logged) and a mass
    // assignment (a finding) carrying secrets.
    let r = c
        .post(url("/signup"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", "198.51.100.5")
        .body(
            serde_json::json!({
                "password": m("schema-violating password"),
                "secret": m("schema-violating secret"),
                "is_admin": m("mass-assigned field value"),
                "name": "a",
            })
            .to_string(),
        );
    assert_eq!(r.send().await.unwrap().status(), 200);
    // Denied: a bad token, a JWT with a forged signature, and signature hits
    // carrying secrets.
    let forged = format!(
        "{}.{}",
        jwt_value.rsplit_once('.').unwrap().0,
        m("tampered JWT signature")
    );
    let r = c
        .get(url("/api/me"))
        .bearer_auth(&forged)
        .header("x-forwarded-for", "198.51.100.2");
    assert_eq!(r.send().await.unwrap().status(), 401);
    let bad = m("invalid bearer token");
    let r = c
        .get(url("/api/me"))
        .bearer_auth(&bad)
        .header("x-forwarded-for", "198.51.100.2");
    assert_eq!(r.send().await.unwrap().status(), 401);
    let sqli = format!(
        "/items?id=1%27%20OR%201=1--%20{}",
        enc(&m("signature-hit query value"))
    );
    let r = c.get(url(&sqli)).header("x-forwarded-for", "198.51.100.2");
    assert_eq!(r.send().await.unwrap().status(), 403);
    let body = format!(
        "q=<script>alert('{}')</script>",
        m("signature-hit body value")
    );
    let r = c
        .post(url("/comment"))
        .body(body)
        .header("x-forwarded-for", "198.51.100.2");
    assert_eq!(r.send().await.unwrap().status(), 403);
    // A 401 burst: a finding (auth_failure_spike) and a block of that client.
    let burst = m("401-burst bearer token");
    for i in 0..30 {
        let r = c
            .get(url("/api/me"))
            .bearer_auth(&burst)
            .header("x-forwarded-for", "198.51.100.3");
        let status = r.send().await.unwrap().status();
        // Past the detector's 20 failures the block may already be in force.
        assert!(status == 401 || (i >= 20 && status == 403), "{i}: {status}");
    }
    // Probing from a fourth client: another finding and block.
    for p in [
        "/.env",
        "/.git/config",
        "/backup.sql",
        "/wp-admin/install.php",
    ] {
        let r = c.get(url(p)).header("x-forwarded-for", "198.51.100.4");
        r.send().await.unwrap();
    }
    eventually_async("the three findings", || {
        let r = admin_get("/api/findings").send();
        async move {
            let kinds = item_fields(r, "kind").await?;
            [
                FindingKind::AuthFailureSpike,
                FindingKind::Probing,
                FindingKind::MassAssignment,
            ]
            .iter()
            .all(|k| kinds.iter().any(|x| x == k.as_str()))
            .then_some(())
        }
    })
    .await;
    // A finding is listed as soon as analytics stores it; its block reaches
    // the proxy's table a moment later. Wait for both blocks to be in force.
    eventually_async("both clients blocked", || {
        let r = admin_get("/api/blocks").send();
        async move {
            let scopes = item_fields(r, "scope").await?;
            ["ip:198.51.100.3", "ip:198.51.100.4"]
                .iter()
                .all(|s| scopes.iter().any(|x| x == s))
                .then_some(())
        }
    })
    .await;
    // The blocked clients send every secret again: all refused.
    let denied = everything("198.51.100.3").await;
    assert!(denied.iter().all(|&s| s == 403), "{denied:?}");
    let denied = everything("198.51.100.4").await;
    assert!(denied.iter().all(|&s| s == 403), "{denied:?}");
    // Every sink has the findings, whose records say most about a client.
    eventually("SIEM records of every finding, in every sink", || {
        let hooks = String::from_utf8_lossy(&hook.all_bytes()).into_owned();
        let sinks = ["/ocsf", "/ecs", "/native"]
            .iter()
            .all(|p| hooks.contains(p));
        let kinds = ["auth_failure_spike", "probing", "mass_assignment"]
            .iter()
            .all(|k| hooks.contains(k));
        sinks && kinds && !syslog.lock().unwrap().is_empty()
    })
    .await;

    // The analytics worker publishes its live view (clients) once a second.
    eventually_async("the clients are listed", || {
        let r = admin_get("/api/clients").send();
        async move {
            let v: serde_json::Value =
                serde_json::from_slice(&r.await.ok()?.bytes().await.ok()?).ok()?;
            (!v["top_talkers"].as_array()?.is_empty()).then_some(())
        }
    })
    .await;
    // Every admin API response, while running.
    let answers = palisade_tests::admin::walk(
        &admin,
        admin_addr,
        TOKEN,
        palisade_dashboard::assets::names(),
    )
    .await;
    assert!(
        answers
            .iter()
            .any(|a| a.place.starts_with("GET /api/findings/"))
    );
    assert!(
        answers
            .iter()
            .any(|a| a.place.starts_with("GET /api/clients/"))
    );
    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.place);
        haystacks.push((a.place.clone(), a.bytes()));
    }
    palisade.signal(Signal::SIGTERM);
    eventually("the binary stops", || {
        palisade.log().contains("\"message\":\"stopped\"")
    })
    .await;
    // What must hold something of this run (checked below), then the rest.
    let all_answers: Vec<u8> = answers.iter().flat_map(|a| a.bytes()).collect();
    let mut full = vec![
        ("every admin API answer".to_string(), all_answers),
        ("the log".into(), palisade.log().into_bytes()),
        ("/api/stream".into(), feed.lock().unwrap().clone()),
        (
            "the syslog (CEF) sink".into(),
            syslog.lock().unwrap().clone(),
        ),
        ("the HTTP sinks".into(), hook.all_bytes()),
    ];
    // The store: every file's raw bytes, then every record through its API.
    for entry in walk_files(db.parent().unwrap()) {
        full.push((entry.display().to_string(), std::fs::read(&entry).unwrap()));
    }
    let store = Store::open(&db).unwrap();
    let page = PageRequest {
        after: None,
        limit: 10_000,
    };
    let records = format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        store.blocks().unwrap(),
        store.audit(usize::MAX).unwrap(),
        store
            .findings(&FindingFilter::default(), page)
            .unwrap()
            .items,
        store.endpoints().unwrap(),
        store.dead_letters(None, 10_000).unwrap(),
    );
    full.push(("the store's records".into(), records.into_bytes()));
    // Control: each place holds the blocked client's address (not a secret),
    // so an empty or unread place cannot pass for a clean one.
    let control = Marker::with_core("control", "198.51.100.3", "198.51.100.3");
    for (place, bytes) in &full {
        if place.ends_with(".redb") || !place.starts_with('/') {
            assert!(
                !find_leaks(bytes, place, std::slice::from_ref(&control)).is_empty(),
                "{place} holds nothing of this run"
            );
        }
    }
    println!(
        "searched {} places, {} bytes",
        full.len() + haystacks.len(),
        full.iter()
            .chain(&haystacks)
            .map(|(_, b)| b.len())
            .sum::<usize>()
    );
    let mut leaks = Vec::new();
    for (place, bytes) in full.iter().chain(&haystacks) {
        leaks.extend(find_leaks(bytes, place, &markers));
    }

    // Positive controls: trace logging was on, and the search finds exactly the
    // secrets that were forwarded in what the service received (the denied
    // ones and Proxy-Authorization, which is ours, never reach it).
    let log = palisade.log();
    assert!(log.lines().count() > 100, "trace logging is on");
    assert!(log.contains("\"level\":\"TRACE\""), "trace logging is on");
    // The paths that see secret-bearing values ran: schema violations logged,
    // the forged JWT refused for its signature, signatures matched.
    for seen in ["palisade::schema", "/password", "bad_signature", "rules "] {
        assert!(
            log.contains(seen),
            "no {seen:?} in the log's denials:\n{}",
            log.lines()
                .filter(|l| l.contains("palisade::deny"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let received = find_leaks(&up.all_bytes(), "the service", &markers);
    let forwarded: std::collections::BTreeSet<&str> = markers
        .iter()
        .filter(|m| {
            received
                .iter()
                .any(|r| r.starts_with(&format!("{} (", m.name)))
        })
        .map(|m| m.name.as_str())
        .collect();
    let expected: std::collections::BTreeSet<&str> = [
        "valid bearer JWT",
        "Basic password",
        "session cookie",
        "valid X-API-Key",
        "?token=",
        "?api_key=",
        "JSON password",
        "JSON secret",
        "form password",
        "form secret",
        "login username",
        "schema-violating password",
        "schema-violating secret",
        "mass-assigned field value",
    ]
    .into();
    assert_eq!(forwarded, expected);
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}

/// Every file under `dir`, recursively.
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The string `field` of every item an admin list answered with; None while
/// the request fails or the answer is not a list.
async fn item_fields(
    response: impl std::future::Future<Output = reqwest::Result<reqwest::Response>>,
    field: &str,
) -> Option<Vec<String>> {
    let v: serde_json::Value =
        serde_json::from_slice(&response.await.ok()?.bytes().await.ok()?).ok()?;
    Some(
        v["items"]
            .as_array()?
            .iter()
            .filter_map(|i| i[field].as_str().map(str::to_owned))
            .collect(),
    )
}
