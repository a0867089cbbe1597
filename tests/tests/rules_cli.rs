//! `palisade rules test`: replays a CRS-format corpus and benign lines through
//! the engine and reports per-class detection and the false-positive rate, as a
//! table or as JSON; bad input is a clear error with exit code 2.

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

fn palisade(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_palisade-e2e"))
        .args(args)
        .output()
        .expect("run palisade")
}

fn test_line(class: &str, label: &str, raw: &str) -> String {
    serde_json::json!({
        "rule_id": 942100, "test_id": 1, "class": class, "label": label,
        "response_test": false, "stages": [{"raw_b64": STANDARD.encode(raw)}],
    })
    .to_string()
}

#[test]
fn reports_detection_per_class_and_false_positives() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    let lines = [
        test_line(
            "sqli",
            "attack",
            "GET /?id=1%27%20UNION%20SELECT%20password%20FROM%20users-- HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        test_line(
            "sqli",
            "attack",
            "GET /?name=blue%20shoes HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        test_line(
            "xss",
            "attack",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 38\r\n\r\nc=%3Cscript%3Ealert%281%29%3C%2Fscript%3E",
        ),
        test_line(
            "sqli",
            "neg",
            "GET /?id=1%27%20OR%201%3D1 HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
    ];
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let benign = dir.path().join("benign.txt");
    std::fs::write(
        &benign,
        "A fool and his money are soon parted.\nLook before you leap.\n",
    )
    .unwrap();

    let out = palisade(&[
        "rules",
        "test",
        "--corpus",
        corpus.to_str().unwrap(),
        "--benign",
        benign.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let class = |name: &str| {
        report["corpus"]["classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["class"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} row in {report}"))
    };
    assert_eq!(class("sqli")["total"], 2, "neg tests are not counted");
    assert_eq!(
        class("sqli")["detected"],
        1,
        "the benign-looking one is missed"
    );
    assert_eq!(class("xss")["detected"], 1);
    assert_eq!(report["benign"]["lines"], 2);
    assert_eq!(report["benign"]["blocked"], 0);

    let table = palisade(&["rules", "test", "--corpus", corpus.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("sqli") && text.contains("50.0%"), "{text}");

    let missing = palisade(&["rules", "test", "--corpus", "/does/not/exist.jsonl"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/does/not/exist.jsonl"));
    let nothing = palisade(&["rules", "test"]);
    assert_eq!(nothing.status.code(), Some(2));
}
