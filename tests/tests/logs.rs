//! The real binary's logs, access log on, never carry a secret a client sent:
//! tokens, API keys, cookies, passwords in bodies, query values.

use http::StatusCode;
use nix::sys::signal::Signal;
use palisade_tests::binary::Running;
use palisade_tests::upstream::Upstream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_and_logs_hold_no_secrets() {
    let up = Upstream::echo().await;
    let palisade = Running::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_palisade-e2e")),
        &format!(
            "[proxy]\nworkers = 1\nlisten = [\"127.0.0.1:0\"]\n[upstream]\nurl = \"{}\"\n[routes]\nunknown = \"allow\"\n\
             [log]\nformat = \"json\"\nlevel = \"debug\"\naccess_log = true\n",
            up.url()
        ),
    );
    let c = reqwest::Client::new();
    let url = format!(
        "http://{}/login?user=SECRET-USER&api_key=SECRET-QUERY",
        palisade.addr
    );
    let resp = c
        .post(&url)
        .header("authorization", "Bearer SECRET-TOKEN")
        .header("cookie", "session=SECRET-COOKIE")
        .header("x-api-key", "SECRET-APIKEY")
        .body("{\"password\":\"SECRET-PASSWORD\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // A denied request is logged too (smuggling shape, raw).
    let raw = "POST /x?token=SECRET-RAW HTTP/1.1\r\nHost: x\r\nAuthorization: Basic SECRET-BASIC\r\n\
               Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let refused = palisade_tests::raw::exchange(palisade.addr, raw.as_bytes()).await;
    assert_eq!(palisade_tests::raw::status(&refused), 400);

    palisade_tests::eventually("the access line is logged", || {
        palisade.log().contains("palisade::access")
    })
    .await;
    palisade.signal(Signal::SIGTERM);
    palisade_tests::eventually("the stop line is logged", || {
        palisade.log().contains("\"message\":\"stopped\"")
    })
    .await;
    let log = palisade.log();
    assert!(log.contains("\"path\":\"/login\""), "{log}");
    // The refused request is one typed deny line, with its reason.
    let denies: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"target\":\"palisade::deny\"") && l.contains("request denied"))
        .collect();
    assert_eq!(denies.len(), 1, "{log}");
    assert!(
        denies[0].contains("\"reason\":\"bad_request\""),
        "{}",
        denies[0]
    );
    assert!(denies[0].contains("\"path\":\"/x\""), "{}", denies[0]);
    assert!(!log.contains("SECRET"), "a secret reached the logs:\n{log}");
}
