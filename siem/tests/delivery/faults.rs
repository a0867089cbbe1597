//! Faults: a receiver that is down and comes back, one that refuses a record as
//! malformed, a forwarder stopped mid-way and started again.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::{Received, Receiver, finding, now_ms, start, store};

fn hook(addr: std::net::SocketAddr) -> String {
    format!(
        "[[siem.sinks]]\nname = \"hook\"\ntype = \"http\"\nurl = \"http://{addr}/\"\n\
         schema = \"native\"\nbackoff_min = \"20ms\"\nbackoff_max = \"200ms\"\ntimeout = \"2s\"\n"
    )
}

fn ids(events: &[serde_json::Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn records_queued_while_the_receiver_is_down_all_arrive_when_it_is_back() {
    // A port nothing listens on, for now.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (_dir, store) = store();
    let (siem, stop) = start(&hook(addr), &store);
    let now = now_ms();
    for i in 0..20 {
        store.insert_findings(&[finding(now, i)]).unwrap();
    }
    // The forwarder fails (connection refused) until the receiver appears.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while siem.status().sinks[0].retries < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no retry seen");
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(!siem.status().sinks[0].healthy);
    assert_eq!(store.outbox_len().unwrap(), 20, "nothing was dropped");

    let rx = Receiver::on(TcpListener::bind(addr).await.unwrap(), Arc::default());
    let events = rx.wait_for(20).await;
    super::settled(&siem, 20, 0).await;
    stop.cancel();
    assert_eq!(ids(&events).len(), 20, "every record, none missing");
    // In order: the sink's records arrive oldest first.
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(seqs, sorted);
    let status = siem.status().sinks[0].clone();
    assert!(status.healthy);
    assert_eq!(status.delivered, 20);
    assert!(status.last_error.unwrap().contains(&addr.to_string()));
}

#[tokio::test]
async fn a_record_the_receiver_refuses_becomes_a_dead_letter_and_the_rest_flow() {
    let got = Arc::new(Received::default());
    let bad = crate::finding(now_ms(), 666);
    *got.refuse.lock().unwrap() = Some(bad.id.to_string());
    let rx = Receiver::on(TcpListener::bind("127.0.0.1:0").await.unwrap(), got);
    let (_dir, store) = store();
    let (siem, stop) = start(&format!("{}batch_max = 10\n", hook(rx.addr)), &store);
    let now = now_ms();
    // One batch of five with the bad one in the middle.
    let batch = [
        finding(now, 1),
        finding(now, 2),
        bad.clone(),
        finding(now, 3),
        finding(now, 4),
    ];
    store.insert_findings(&batch).unwrap();
    let events = rx.wait_for(4).await;
    store.insert_findings(&[finding(now + 1, 5)]).unwrap();
    let events_after = rx.wait_for(5).await;
    super::settled(&siem, 5, 1).await;
    stop.cancel();
    assert_eq!(events.len(), 4);
    assert_eq!(ids(&events_after).len(), 5);
    let dead = store.dead_letters(None, 10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(&*dead[0].sink, "hook");
    assert!(dead[0].reason.contains("400"), "{}", dead[0].reason);
    match &dead[0].record.event {
        palisade_models::SiemEvent::Finding { finding } => assert_eq!(finding.id, bad.id),
        other => panic!("{other:?}"),
    }
    assert_eq!(siem.status().sinks[0].dead_letters, 1);
    assert_eq!(store.outbox_len().unwrap(), 0);
}

#[tokio::test]
async fn a_stopped_forwarder_resumes_where_it_was() {
    let rx = Receiver::start().await;
    let (_dir, store) = store();
    let (_siem, stop) = start(&hook(rx.addr), &store);
    let now = now_ms();
    store.insert_findings(&[finding(now, 1)]).unwrap();
    rx.wait_for(1).await;
    stop.cancel();
    // Queued while no forwarder runs.
    store
        .insert_findings(&[finding(now, 2), finding(now, 3)])
        .unwrap();
    let (_siem, stop) = start(&hook(rx.addr), &store);
    let events = rx.wait_for(3).await;
    stop.cancel();
    assert_eq!(ids(&events).len(), 3);
}
