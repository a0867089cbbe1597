use super::*;

/// The key paths of a config error's problems, in order.
fn keys(err: &ConfigError) -> Vec<&str> {
    err.problems.iter().map(|p| p.key.as_str()).collect()
}

/// The smallest valid config: an upstream, and undeclared paths let through.
const MINIMAL: &str =
    "[upstream]\nurl = \"http://127.0.0.1:3000\"\n[routes]\nunknown = \"allow\"\n";

#[test]
fn minimal_config_gets_documented_defaults() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!(c.proxy.listen[0].get().to_string(), "0.0.0.0:8080");
    assert_eq!(c.proxy.timeouts.header_read.duration().as_secs(), 10);
    assert_eq!(c.proxy.timeouts.idle.duration().as_secs(), 60);
    assert_eq!(c.proxy.limits.max_header_bytes, 16384);
    assert_eq!(c.upstream.connect_timeout.duration().as_secs(), 3);
    assert_eq!(c.tee.capacity, 65536);
    assert_eq!(c.log.format, LogFormat::Auto);
    assert!(c.upstream.preserve_host);
    assert_eq!(c.routes.max_body_bytes, 1024 * 1024);
    assert!(c.route.is_empty());
}

#[test]
fn denying_undeclared_paths_needs_declared_routes() {
    let err = Config::parse("[upstream]\nurl = \"http://127.0.0.1:3000\"\n").unwrap_err();
    assert_eq!(err.problems[0].key, "routes.unknown");
}

#[test]
fn route_templates_methods_and_duplicates_are_checked() {
    let text = r#"
        [upstream]
        url = "http://127.0.0.1:3000"
        [[route]]
        path = "/api/users/{id}"
        methods = ["GET", "PUT"]
        [[route]]
        path = "/api/users/{name}"
        methods = ["GET"]
        [[route]]
        path = "api/orders"
        [[route]]
        path = "/files/{*rest}"
        methods = ["get"]
        [[route]]
        path = "/api/users/{id}"
        methods = ["PUT"]
        [[route]]
        path = "/api/login"
        methods = ["POST"]
        max_body_bytes = 4096
    "#;
    let err = Config::parse(text).unwrap_err();
    assert_eq!(
        keys(&err),
        vec![
            "route[1].path",
            "route[2].path",
            "route[3].methods[0]",
            "route[4].path",
        ],
        "{err}"
    );
    assert!(err.problems[0].message.contains("conflict"), "{err}");
    assert!(err.problems[3].message.contains("twice"), "{err}");
}

#[test]
fn every_semantic_problem_is_reported_with_its_key() {
    let text = r#"
        [proxy]
        listen = ["localhost:80", "127.0.0.1:8080"]
        trusted_proxies = ["10.0.0.0/8", "not-a-net"]
        max_connections = 0
        [proxy.timeouts]
        idle = "soon"
        [proxy.limits]
        max_url_bytes = 10
        [upstream]
        url = "ftp://example.com"
        [[blocks]]
        scope = "ip"
        value = "300.1.1.1"
        [[blocks]]
        scope = "user"
        value = "x"
    "#;
    let err = Config::parse(text).unwrap_err();
    assert_eq!(
        keys(&err),
        vec![
            "proxy.listen[0]",
            "proxy.trusted_proxies[1]",
            "proxy.max_connections",
            "proxy.timeouts.idle",
            "proxy.limits.max_url_bytes",
            "upstream.url",
            "routes.unknown",
            "blocks[0].value",
            "blocks[1].scope",
        ]
    );
    assert!(err.problems.iter().all(|p| !p.hint.is_empty()));
    let shown = err.to_string();
    assert!(shown.contains("9 problems"), "{shown}");
    assert!(shown.contains("hint:"), "{shown}");
}

#[test]
fn max_in_flight_defaults_on_allows_off_and_refuses_absurd() {
    let base = "[upstream]\nurl = \"http://127.0.0.1:9000\"\n[routes]\nunknown = \"allow\"\n";
    let c = Config::parse(base).unwrap();
    assert_eq!(c.proxy.limits.max_in_flight, 10_000);
    let off = Config::parse(&format!("[proxy.limits]\nmax_in_flight = 0\n{base}")).unwrap();
    assert_eq!(off.proxy.limits.max_in_flight, 0);
    let err =
        Config::parse(&format!("[proxy.limits]\nmax_in_flight = 5000000\n{base}")).unwrap_err();
    assert_eq!(keys(&err), vec!["proxy.limits.max_in_flight"]);
    assert!(err.to_string().contains("0 to turn shedding off"), "{err}");
}

#[test]
fn sensitive_path_threshold_stays_within_what_is_counted_exactly() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!(c.analytics.detectors.probing.sensitive_paths, 3);
    let at = |n: u32| {
        Config::parse(&format!(
            "[analytics.detectors.probing]\nsensitive_paths = {n}\n{MINIMAL}"
        ))
    };
    assert!(at(MAX_SENSITIVE_PATHS).is_ok());
    for n in [0, MAX_SENSITIVE_PATHS + 1] {
        let err = at(n).unwrap_err();
        assert_eq!(
            keys(&err),
            vec!["analytics.detectors.probing.sensitive_paths"]
        );
        assert!(err.to_string().contains("between 1 and 8"), "{err}");
    }
}

#[test]
fn max_blocks_defaults_and_refuses_zero() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!(c.decisions.max_blocks, 100_000);
    let err = Config::parse(&format!("[decisions]\nmax_blocks = 0\n{MINIMAL}")).unwrap_err();
    assert_eq!(keys(&err), vec!["decisions.max_blocks"]);
    assert!(err.to_string().contains("action = \"alert\""), "{err}");
}

#[test]
fn batch_nice_defaults_to_10_and_stays_within_0_to_19() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!(c.batch.nice, 10);
    let zero = Config::parse(&format!("[batch]\nnice = 0\n{MINIMAL}")).unwrap();
    assert_eq!(zero.batch.nice, 0);
    for bad in ["-1", "20"] {
        let err = Config::parse(&format!("[batch]\nnice = {bad}\n{MINIMAL}")).unwrap_err();
        assert_eq!(keys(&err), vec!["batch.nice"]);
        assert!(err.to_string().contains("outside 0..=19"), "{err}");
    }
}

#[test]
fn unknown_keys_name_their_path() {
    let err = Config::parse(
        "[upstream]\nurl = \"http://127.0.0.1:3000\"\n[routes]\nunknown = \"allow\"\n[proxy.timeouts]\nidel = \"5s\"\n",
    )
    .unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].key, "proxy.timeouts.idel");
    assert!(err.problems[0].message.contains("unknown field"));
    assert!(err.problems[0].hint.contains("palisade.example.toml"));
}

#[test]
fn missing_upstream_is_named() {
    let err = Config::parse("[proxy]\nworkers = 1\n").unwrap_err();
    assert!(err.problems[0].message.contains("upstream"), "{err}");
}

#[test]
fn syntax_errors_give_a_line() {
    let err = Config::parse("[upstream]\nurl = \"http://x\n").unwrap_err();
    assert!(err.problems[0].message.contains("line 2"), "{err}");
}

#[test]
fn tls_files_must_exist() {
    let err = Config::parse(
        "[upstream]\nurl = \"http://127.0.0.1:1\"\n[routes]\nunknown = \"allow\"\n[proxy.tls]\nlisten = [\"127.0.0.1:0\"]\ncert = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/k.pem\"\n",
    )
    .unwrap_err();
    assert_eq!(keys(&err), vec!["proxy.tls.cert", "proxy.tls.key"]);
}

#[test]
fn api_keys_and_route_auth_are_checked() {
    let text = r#"
        [upstream]
        url = "http://127.0.0.1:3000"
        [[route]]
        path = "/a"
        auth = "api_key"
        [[route]]
        path = "/b"
        auth = "jwt"
        [[route]]
        path = "/c"
        scopes = ["x"]
        [auth.api_keys]
        header = "X-Api-Key"
    "#;
    let err = Config::parse(text).unwrap_err();
    assert_eq!(
        keys(&err),
        vec![
            "auth.api_keys.header",
            "route[0].auth",
            "route[1].auth",
            "route[2].scopes",
        ],
        "{err}"
    );

    let text = r#"
        [upstream]
        url = "http://127.0.0.1:3000"
        [routes]
        unknown = "allow"
        [[auth.api_keys.key]]
        id = "a"
        sha256 = "not-hex"
        [[auth.api_keys.key]]
        id = "a"
        sha256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        [[auth.api_keys.key]]
        id = "b"
        sha256 = "2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE"
    "#;
    let err = Config::parse(text).unwrap_err();
    assert_eq!(
        keys(&err),
        vec![
            "auth.api_keys.key[0].sha256",
            "auth.api_keys.key[1].id",
            "auth.api_keys.key[2].sha256",
        ],
        "{err}"
    );
    assert!(err.problems[0].hint.contains("sha256sum"));
}

#[test]
fn rate_limits_and_route_caps_are_checked() {
    let text = format!(
        "{MINIMAL}{}",
        r#"
        [rate_limits]
        client_key = ["subject"]
        new_keys_per_interval = 0
        sweep_interval = "1ms"
        [[route]]
        path = "/a"
        rate_limit = { client = "100/fortnight", global_burst = 5 }
        max_header_bytes = 1000000
        [[route]]
        path = "/b"
        rate_limit = { client = "0/s", client_burst = 0 }
        max_url_bytes = 0
        [[route]]
        path = "/c"
        rate_limit = {}
        "#
    );
    let err = Config::parse(&text).unwrap_err();
    assert_eq!(
        keys(&err),
        [
            "route[0].rate_limit.client",
            "route[0].rate_limit.global_burst",
            "route[1].rate_limit.client",
            "route[1].rate_limit.client_burst",
            "route[2].rate_limit",
            "rate_limits.client_key",
            "rate_limits.new_keys_per_interval",
            "rate_limits.sweep_interval",
            "route[0].max_header_bytes",
            "route[1].max_url_bytes",
        ]
    );
    assert!(
        err.to_string().contains("100/min"),
        "the hint shows the form"
    );
}

#[test]
fn login_routes_are_checked() {
    let text = format!(
        "{MINIMAL}{}",
        r#"
        [[route]]
        path = "/a"
        login = { failed_status = [99], failed_header = "bad header", failed_body = "(", body_bytes = 0, username_field = " " }
        [[route]]
        path = "/b"
        login = { failed_status = [] }
        [[route]]
        path = "/c"
        login = {}
        "#
    );
    let err = Config::parse(&text).unwrap_err();
    assert_eq!(
        keys(&err),
        [
            "route[0].login.failed_status[0]",
            "route[0].login.failed_header",
            "route[0].login.failed_body",
            "route[0].login.body_bytes",
            "route[0].login.username_field",
            "route[1].login",
        ]
    );
}

#[test]
fn fleet_mode_needs_a_service_and_keeps_the_password_out_of_the_file() {
    let base = MINIMAL;
    // Off by default, and off it checks nothing beyond its durations.
    let c = Config::parse(base).unwrap();
    assert!(!c.fleet.enabled);
    let err = Config::parse(&format!(
        "{base}[fleet]\nenabled = true\nurl = \"redis://:hunter2@redis:6379/0\"\nheartbeat = \"0s\"\n"
    ))
    .unwrap_err();
    assert_eq!(
        keys(&err),
        ["fleet.heartbeat", "fleet.url", "fleet.service"],
        "{err}"
    );
    assert!(err.problems[1].hint.contains("password_env"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = Config::parse(&format!(
        "{base}[fleet]\nenabled = true\nurl = \"http://redis:6379\"\nservice = \"orders api\"\n"
    ))
    .unwrap_err();
    assert_eq!(keys(&err), ["fleet.url", "fleet.service"], "{err}");
    let ok = Config::parse(&format!(
        "{base}[fleet]\nenabled = true\nurl = \"rediss://palisade@redis:6380/2\"\nservice = \"orders-api\"\n"
    ))
    .unwrap();
    assert_eq!(
        ok.fleet.command_timeout.duration(),
        std::time::Duration::from_millis(250)
    );
}

#[test]
fn a_cluster_scoped_limit_needs_the_fleet() {
    let base = MINIMAL;
    let limits = "[routes.rate_limit]\nclient = \"10/s\"\nscope = \"cluster\"\n[[route]]\npath = \"/a\"\nrate_limit = { global = \"5/s\", scope = \"cluster\" }\n[[route]]\npath = \"/b\"\nrate_limit = { global = \"5/s\" }\n";
    let err = Config::parse(&format!("{base}{limits}")).unwrap_err();
    assert_eq!(
        keys(&err),
        ["routes.rate_limit.scope", "route[0].rate_limit.scope"],
        "{err}"
    );
    assert!(err.problems[0].hint.contains("[fleet]"), "{err}");
    let ok = Config::parse(&format!(
        "{base}{limits}[fleet]\nenabled = true\nservice = \"orders\"\n"
    ))
    .unwrap();
    assert_eq!(
        ok.route[0].rate_limit.as_ref().unwrap().scope,
        LimitScope::Cluster
    );
    assert_eq!(
        ok.route[1].rate_limit.as_ref().unwrap().scope,
        LimitScope::Local
    );
}

#[test]
fn the_store_quota_has_a_default_and_a_floor() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!(c.store.max_bytes, 1024 * 1024 * 1024);
    let err = Config::parse(&format!("{MINIMAL}[store]\nmax_bytes = 4096\n")).unwrap_err();
    assert_eq!(keys(&err), vec!["store.max_bytes"]);
    assert!(err.to_string().contains("1048576"), "{err}");
    let c = Config::parse(&format!("{MINIMAL}[store]\nmax_bytes = 1048576\n")).unwrap();
    assert_eq!(c.store.max_bytes, 1048576);
}
