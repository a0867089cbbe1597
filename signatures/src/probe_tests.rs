//! The third round of rules: SQL probes and fragments (function heads, JSON
//! breakouts, quoted value lists, statements and quoted identifiers in names)
//! and URLs on a lookalike of the request's own host. Each must block, and
//! the nearest benign shapes must not.

use crate::tests::{engine, query};
use crate::{Class, Engine, EngineOptions, Request, Scratch, Verdict};

fn query_to(e: &Engine, host: &str, q: &str) -> Verdict {
    let headers = [("Host", host.as_bytes())];
    e.inspect(
        &Request::new("GET", b"/api/items")
            .query(q.as_bytes())
            .headers(&headers),
        &mut Scratch::default(),
    )
}

#[track_caller]
fn assert_rule(v: &Verdict, rule: &str, input: &str) {
    assert!(v.blocked, "not blocked: {input} -> {v:?}");
    assert!(
        v.hits.iter().any(|h| &*h.rule_id == rule),
        "{rule} did not hit: {input} -> {v:?}"
    );
}

#[test]
fn sql_probes_and_fragments_are_blocked() {
    let e = engine();
    for (q, rule) in [
        ("pay=length%7C%7C%28", "sqli-function-head-value"), // length||(
        ("pay=IN%2F%2A%2A%2F%28", "sqli-function-head-value"), // IN/**/(
        ("pay=version%3D%28", "sqli-function-head-value"),   // version=(
        ("q=%22%3A60", "sqli-json-breakout"),                // ":60
        ("q=%22%3A%5B%2200", "sqli-json-breakout"),          // ":["00
        ("q=%22%3B%7D", "sqli-json-breakout"),               // ";}
        ("q=%27%2C+2%2C+1", "sqli-quote-value-list"),        // ', 2, 1
        ("q=%27%27%2C+%27%27%2C+13", "sqli-quote-value-list"), // '', '', 13
        ("q=%222562*23", "sqli-quote-arithmetic-probe"),
        ("execute+monthly_report", "sqli-execute-name"),
        ("%27bla%27", "sqli-quoted-name"),
        ("%60bla%60=1", "sqli-quoted-name"),
        ("v=%29like%28", "sqli-parenthesised-pattern-operator"),
        ("v=x%29+xor+%28y", "sqli-parenthesised-pattern-operator"),
        ("v=%40.%3D+%28+SELECT", "sqli-open-subquery"),
        ("id=2%7C%7Cthis.password", "sqli-nosql-where-this"),
        ("a=1%20is%20not%202", "sqli-bare-tautology"),
    ] {
        let v = query(&e, q);
        assert_rule(&v, rule, q);
        assert!(v.hits.iter().any(|h| h.class == Class::Sqli), "{q}: {v:?}");
    }
}

#[test]
fn shapes_near_the_sql_probes_pass() {
    let e = engine();
    for q in [
        "q=in+(brackets)+we+trust",
        "note=length+(in+metres)",
        "q=%22quoted%22+text",
        "q=%22a%22%3A+is+how+JSON+writes+a+key",
        "q=it%27s%2C+2+or+3",
        "expr=2*3",
        "q=%22Hello%22%2C+she+said",
        "execution_id=42",
        "exec=true",
        "q=(select+one)+of+these",
        "q=this.value",
        "max=2147483647&size=4294967296",
        "season=%2716%2F17",
    ] {
        let v = query(&e, q);
        assert!(!v.blocked, "blocked benign {q}: {v:?}");
    }
}

#[test]
fn a_url_on_a_lookalike_of_the_own_host_is_blocked() {
    let e = engine();
    let rule = "rfi-own-host-lookalike";
    for q in [
        "next=https://example.com.evil.com/",
        "next=https://EXAMPLE.com.attacker.net/login",
        "next=https://example.com.evil.co.in/",
        "url=http://example.com.evil.com?x=1",
    ] {
        assert_rule(&query_to(&e, "example.com", q), rule, q);
    }
    // HTTP/2 carries the host as :authority, which the proxy passes apart.
    let v = e.inspect(
        &Request::new("GET", b"/")
            .query(b"next=https://example.com.evil.com/")
            .host(b"example.com:443"),
        &mut Scratch::default(),
    );
    assert_rule(&v, rule, "host from :authority");
    for q in [
        "next=https://example.com/account",
        "next=https://www.example.com/a/b",
        "next=https://example.com.au/shop",
        "next=https://example.com.co.uk/",
        "next=https://other.org/example.com.evil.com",
    ] {
        let v = query_to(&e, "example.com", q);
        assert!(!v.hits.iter().any(|h| &*h.rule_id == rule), "{q}: {v:?}");
        assert!(!v.blocked, "blocked benign {q}: {v:?}");
    }
    // A service called by a one-label name inside a cluster.
    let v = query_to(
        &e,
        "orders:8080",
        "callback=https://orders.partner.com/hook",
    );
    assert!(!v.hits.iter().any(|h| &*h.rule_id == rule), "{v:?}");
    // Without a host there is nothing to compare with.
    let v = query(&e, "next=https://example.com.evil.com/");
    assert!(!v.hits.iter().any(|h| &*h.rule_id == rule), "{v:?}");
}

#[test]
fn the_host_detector_is_refused_on_parts_remembered_clean() {
    let toml = r#"
[[rule]]
id = "acme-host"
class = "rfi"
severity = "critical"
description = "lookalike host in a header"
targets = ["headers"]
detector = "own_host_lookalike"
keywords = ["://"]
"#;
    let err = Engine::with_rules(toml, EngineOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("acme-host") && err.contains("own_host_lookalike"),
        "{err}"
    );
}
