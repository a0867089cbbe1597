use super::*;
use palisade_models::{DenyCode, Login, Phase, SignatureMatch};

fn event(i: u64, ts_ms: u64) -> RequestEvent {
    RequestEvent {
        ts_unix_us: ts_ms * 1000,
        request_id: format!("req-{i}").into(),
        client_ip: IpAddr::from([10, 0, 0, (i % 7) as u8]),
        subject: i.is_multiple_of(2).then(|| format!("user{}", i % 3).into()),
        path: format!("/orders/{i}").into(),
        user_agent: Some("curl/8.0".into()),
        status: if i.is_multiple_of(5) { 404 } else { 200 },
        latency_us: 1000 + i,
        bytes_out: 10 * i,
        ..RequestEvent::example()
    }
}

fn limits(max_bytes: usize) -> WindowLimits {
    WindowLimits {
        max_bytes,
        max_age_ms: 3_600_000,
    }
}

#[test]
fn a_full_chunk_is_sealed_and_published_with_every_column() {
    let mut w = Window::new(limits(1 << 30));
    let reader = w.reader();
    for i in 0..CHUNK_EVENTS as u64 + 3 {
        w.push(&event(i, 1_000 + i), Some("GET /orders/{id}"));
    }
    let view = reader.load();
    assert_eq!(view.chunks.len(), 1, "one full chunk sealed");
    assert_eq!(w.len(), CHUNK_EVENTS + 3, "three still open");
    let c = &view.chunks[0];
    assert_eq!(c.seq, 1);
    assert_eq!(c.len(), CHUNK_EVENTS);
    assert_eq!(c.request_id.get(9), "req-9");
    assert_eq!(c.path.get(9), "/orders/9");
    assert_eq!(c.subject.get(4), Some("user1"));
    assert_eq!(c.subject.get(5), None);
    assert_eq!(c.user_agent.values.len(), 1, "one user agent, coded once");
    assert_eq!(c.endpoint.get(0), Some("GET /orders/{id}"));
    assert!(c.templated[0]);
    assert_eq!(c.status[5], 404);
    assert_eq!(c.latency_us[7], 1007);
    assert_eq!(
        c.span_us(),
        (1_000_000, (1_000 + CHUNK_EVENTS as u64 - 1) * 1000)
    );
    assert!(
        c.bytes() > CHUNK_EVENTS * 60,
        "bytes are counted: {}",
        c.bytes()
    );
}

#[test]
fn denials_logins_and_signatures_are_kept() {
    let mut w = Window::new(limits(1 << 30));
    let ev = RequestEvent {
        deny: Some(Denial {
            phase: Phase::Inspect,
            code: DenyCode::Signature,
        }),
        login: Some(Login {
            outcome: LoginOutcome::Failed,
            username_hash: None,
        }),
        signatures: Some(Box::new(SignatureMatch {
            score: 7,
            rule_ids: vec!["942100".into(), "942200".into()].into(),
            over_threshold: true,
        })),
        ..event(1, 5)
    };
    w.push(&ev, None);
    w.seal();
    let view = w.reader().load_full();
    let c = &view.chunks[0];
    assert_eq!(c.deny[0].map(|d| d.code), Some(DenyCode::Signature));
    assert_eq!(c.login[0], Some(LoginOutcome::Failed));
    assert_eq!(c.signature_score[0], Some(7));
    assert_eq!(c.signature_rules.get(0), Some("942100 942200"));
    assert_eq!(c.endpoint.get(0), None);
    assert!(!c.templated[0]);
}

#[test]
fn the_byte_bound_lets_the_oldest_chunks_go() {
    let mut w = Window::new(limits(1 << 30));
    for i in 0..CHUNK_EVENTS as u64 {
        w.push(&event(i, 1_000), None);
    }
    let one_chunk = w.bytes();
    let mut w = Window::new(limits(one_chunk * 3));
    for i in 0..10 * CHUNK_EVENTS as u64 {
        w.push(&event(i, 1_000), None);
    }
    let view = w.reader().load_full();
    assert!(
        view.bytes() <= one_chunk * 3,
        "{} > {}",
        view.bytes(),
        one_chunk * 3
    );
    assert!(view.chunks.len() >= 2, "{} chunks", view.chunks.len());
    assert_eq!(
        view.events() as u64 + view.evicted_events,
        10 * CHUNK_EVENTS as u64,
        "every event is held or counted as evicted"
    );
    assert_eq!(view.chunks.last().map(|c| c.seq), Some(10));
}

#[test]
fn tick_seals_an_old_open_chunk_and_ages_chunks_out() {
    let mut w = Window::new(WindowLimits {
        max_bytes: 1 << 30,
        max_age_ms: 60_000,
    });
    let reader = w.reader();
    w.push(&event(1, 10_000), None);
    w.tick(10_000);
    w.tick(10_000 + SEAL_AFTER_MS - 1);
    assert!(reader.load().chunks.is_empty(), "too young to seal");
    w.tick(10_000 + SEAL_AFTER_MS);
    assert_eq!(reader.load().events(), 1, "sealed on the tick");
    w.push(&event(2, 50_000), None);
    w.tick(50_000);
    w.tick(50_000 + SEAL_AFTER_MS);
    assert_eq!(reader.load().events(), 2);
    // The first event is now more than a minute older than the newest time.
    w.tick(71_000);
    let view = reader.load();
    assert_eq!(view.events(), 1, "the first chunk aged out");
    assert_eq!(view.evicted_events, 1);
    assert_eq!(view.chunks[0].ts_us[0], 50_000_000);
}
