//! The example config parses and checks clean; `palisade check` prints every
//! problem with its key path and binds nothing; `palisade run` refuses a bad config
//! before binding.

use std::path::PathBuf;
use std::process::Command;

use palisade_models::Config;

fn example() -> PathBuf {
    palisade_models::crate_dir!().join("../palisade.example.toml")
}

fn palisade(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_palisade-e2e"))
        .args(args)
        .output()
        .expect("run palisade")
}

#[test]
fn the_annotated_example_parses_with_its_documented_defaults() {
    let c = Config::load(&example()).expect("example config");
    assert_eq!(c.proxy.workers, 0);
    assert_eq!(c.proxy.listen[0].raw(), "0.0.0.0:8080");
    assert_eq!(c.proxy.timeouts.header_read.duration().as_secs(), 10);
    assert_eq!(c.upstream.url.raw(), "http://127.0.0.1:3000");
    assert_eq!(c.tee.capacity, 65536);
    let text = std::fs::read_to_string(example()).unwrap();
    // Optional sections are shown, commented out, with every key.
    for key in [
        "[proxy.tls]",
        "min_version",
        "ca_bundle",
        "[[blocks]]",
        "ttl",
        "[[siem.sinks]]",
        "when_full",
        "token_env",
        "headers_env",
        "client_key_file",
    ] {
        assert!(text.contains(key), "the example does not document {key}");
    }
}

#[test]
fn check_accepts_the_example_without_binding() {
    // Hold the example's port: a check that tried to bind would fail.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replace("0.0.0.0:8080", &held.local_addr().unwrap().to_string());
    std::fs::write(&path, text).unwrap();
    let out = palisade(&["check", "--config", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
}

#[test]
fn check_prints_every_problem_with_its_key_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
        [proxy]
        listen = ["nowhere:80"]
        trusted_proxies = ["10.0.0.0/33"]
        [proxy.timeouts]
        idle = "0s"
        [proxy.tls]
        listen = ["127.0.0.1:8443"]
        cert = "/does/not/exist.pem"
        key = "/does/not/exist.key"
        [upstream]
        url = "http://127.0.0.1:3000/with/path"
        [log]
        level = "info,=="
        "#,
    )
    .unwrap();
    let out = palisade(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "proxy.listen[0]",
        "proxy.trusted_proxies[0]",
        "proxy.timeouts.idle",
        "proxy.tls.cert",
        "proxy.tls.key",
        "upstream.url",
        "log.level",
    ] {
        assert!(err.contains(key), "{key} missing from:\n{err}");
    }
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn run_refuses_an_invalid_config_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[upstream]\nurl = \"ftp://x\"\n[proxy]\nlisten = [\"127.0.0.1:0\"]\n",
    )
    .unwrap();
    let out = palisade(&["run", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("upstream.url"), "{err}");
    assert!(!err.contains("listening"), "{err}");
}

#[test]
fn unknown_keys_and_unreadable_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(
        &path,
        "[upstream]\nurl = \"http://127.0.0.1:1\"\n[proxy]\nworkerz = 2\n",
    )
    .unwrap();
    let out = palisade(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("proxy.workerz"));

    let out = palisade(&["check", "--config", "/no/such/palisade.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}
