//! Owns `GET /metrics`: Prometheus text from the counters at scrape time, through
//! prometheus-client's `Collector`. Labels are route templates, status classes,
//! deny reasons and finding kinds; never a client (no address, subject or key).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use palisade_models::{DELIVERY_BUCKETS_S, LATENCY_BUCKETS_US, SiemStatus, SinkStatus};

use crate::api::ApiError;
use crate::state::AdminState;

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

struct Scrape(AdminState);

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrape")
    }
}

fn counter(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    values: &[(Vec<(&str, String)>, u64)],
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in values {
        if labels.is_empty() {
            ConstCounter::new(*v).encode(m)?;
            return Ok(());
        }
        ConstCounter::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: i64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

fn gauges(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    values: &[(Vec<(&str, String)>, i64)],
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in values {
        ConstGauge::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

/// The SIEM sinks and the outbox, labelled by sink name (an operator's name for a
/// receiver, never a client).
/// The fleet link's health and counts; nothing when the sidecar runs alone.
fn fleet(
    enc: &mut DescriptorEncoder<'_>,
    f: &palisade_models::FleetLinkStatus,
) -> std::fmt::Result {
    if !f.enabled {
        return Ok(());
    }
    gauge(
        enc,
        "palisade_fleet_up",
        "1 while Redis answers the fleet link, 0 while fleet sync is degraded.",
        i64::from(f.up),
    )?;
    gauge(
        enc,
        "palisade_fleet_joined",
        "1 once this sidecar synchronised with its fleet.",
        i64::from(f.joined),
    )?;
    let counters: [(&str, &str, u64); 6] = [
        (
            "palisade_fleet_reconnects",
            "Times the fleet link went down after being up.",
            f.reconnects,
        ),
        (
            "palisade_fleet_resyncs",
            "Full reconciliations with the fleet's keys.",
            f.resyncs,
        ),
        (
            "palisade_fleet_blocks_sent",
            "Blocks made here and shared with the fleet.",
            f.blocks_sent,
        ),
        (
            "palisade_fleet_blocks_received",
            "Blocks made on other sidecars and enforced here.",
            f.blocks_received,
        ),
        (
            "palisade_fleet_lifts_sent",
            "Unblocks made here and shared with the fleet.",
            f.lifts_sent,
        ),
        (
            "palisade_fleet_lifts_received",
            "Unblocks made on other sidecars and applied here.",
            f.lifts_received,
        ),
    ];
    for (name, help, v) in counters {
        counter(enc, name, help, &[(vec![], v)])?;
    }
    Ok(())
}

/// The store's quota and memory-only mode (store/src/quota.rs).
fn store(enc: &mut DescriptorEncoder<'_>, h: &palisade_store::StoreHealth) -> std::fmt::Result {
    gauge(
        enc,
        "palisade_store_degraded",
        "1 while the store refuses writes (store.max_bytes reached, or a disk error): findings are kept in memory only.",
        i64::from(h.degraded),
    )?;
    gauge(
        enc,
        "palisade_store_memory_findings",
        "Findings held in memory, waiting for the store to accept writes again.",
        h.memory_findings as i64,
    )?;
    counter(
        enc,
        "palisade_store_unpersisted_records",
        "Records the store could not write when they were made (findings among them are held in memory and written later if space returns).",
        &[(vec![], h.unpersisted)],
    )?;
    counter(
        enc,
        "palisade_store_lost_records",
        "Findings dropped from memory because too many waited for the store.",
        &[(vec![], h.lost)],
    )
}

fn siem(enc: &mut DescriptorEncoder<'_>, status: &SiemStatus) -> std::fmt::Result {
    gauge(
        enc,
        "palisade_siem_outbox_records",
        "Records in the SIEM outbox, over all sinks.",
        status.outbox_len as i64,
    )?;
    gauge(
        enc,
        "palisade_siem_outbox_max_records",
        "The outbox's bound (siem.max_outbox_records).",
        status.outbox_max as i64,
    )?;
    counter(
        enc,
        "palisade_siem_outbox_dropped",
        "Records dropped or refused because the SIEM outbox was full.",
        &[(vec![], status.outbox_dropped)],
    )?;
    if status.sinks.is_empty() {
        return Ok(());
    }
    let per = |f: &dyn Fn(&SinkStatus) -> u64| -> Vec<(Vec<(&str, String)>, u64)> {
        status
            .sinks
            .iter()
            .map(|s| (vec![("sink", s.name.to_string())], f(s)))
            .collect()
    };
    let as_gauge =
        |v: Vec<(Vec<(&'static str, String)>, u64)>| -> Vec<(Vec<(&'static str, String)>, i64)> {
            v.into_iter().map(|(l, n)| (l, n as i64)).collect()
        };
    gauges(
        enc,
        "palisade_siem_sink_depth",
        "Records waiting for the sink.",
        &as_gauge(per(&|s| s.depth)),
    )?;
    gauges(
        enc,
        "palisade_siem_sink_up",
        "1 unless the sink's last delivery attempt failed.",
        &as_gauge(per(&|s| u64::from(s.healthy))),
    )?;
    counter(
        enc,
        "palisade_siem_delivered_records",
        "Records the sink's receiver accepted.",
        &per(&|s| s.delivered),
    )?;
    counter(
        enc,
        "palisade_siem_retries",
        "Failed delivery attempts, each retried after a backoff.",
        &per(&|s| s.retries),
    )?;
    counter(
        enc,
        "palisade_siem_dead_letters",
        "Records the receiver refused as malformed, kept as dead letters.",
        &per(&|s| s.dead_letters),
    )?;
    let mut h = enc.encode_descriptor(
        "palisade_siem_delivery_latency_seconds",
        "Time from a record entering the outbox to its receiver accepting it.",
        None,
        MetricType::Histogram,
    )?;
    for s in &status.sinks {
        if s.latency_counts.len() != DELIVERY_BUCKETS_S.len() + 1 {
            continue;
        }
        let buckets: Vec<(f64, u64)> = DELIVERY_BUCKETS_S
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(s.latency_counts.iter().copied())
            .collect();
        let count = s.latency_counts.iter().sum();
        h.encode_family(&vec![("sink", s.name.to_string())])?
            .encode_histogram::<Vec<(String, String)>>(
                s.latency_sum_ms as f64 / 1e3,
                count,
                &buckets,
                None,
            )?;
    }
    Ok(())
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        let c = s.control.counters();
        let live = s.live.load();
        let mut by_route = Vec::new();
        for e in &live.endpoints {
            for (class, n) in CLASSES.iter().zip(e.status_classes) {
                if n > 0 {
                    by_route.push((
                        vec![
                            ("method", e.method.to_string()),
                            ("route", e.template.to_string()),
                            ("class", class.to_string()),
                        ],
                        n,
                    ));
                }
            }
        }
        counter(
            &mut enc,
            "palisade_requests",
            "Requests by route template and response status class, as analytics counted them.",
            &by_route,
        )?;
        let mut h = enc.encode_descriptor(
            "palisade_request_duration_seconds",
            "Request latency through Palisade, by route template.",
            None,
            MetricType::Histogram,
        )?;
        for e in &live.endpoints {
            if e.latency_counts.len() != LATENCY_BUCKETS_US.len() + 1 {
                continue;
            }
            let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS_US
                .iter()
                .map(|us| *us as f64 / 1e6)
                .chain([f64::INFINITY])
                .zip(e.latency_counts.iter().copied())
                .collect();
            let count = e.latency_counts.iter().sum();
            let labels = vec![
                ("method", e.method.to_string()),
                ("route", e.template.to_string()),
            ];
            h.encode_family(&labels)?
                .encode_histogram::<Vec<(String, String)>>(
                    e.latency_sum_us as f64 / 1e6,
                    count,
                    &buckets,
                    None,
                )?;
        }
        let denies: Vec<_> = c
            .denies
            .iter()
            .map(|(code, n)| (vec![("reason", code.to_string())], *n))
            .collect();
        counter(
            &mut enc,
            "palisade_denied_requests",
            "Requests Palisade refused, by reason.",
            &denies,
        )?;
        counter(
            &mut enc,
            "palisade_tee_dropped_events",
            "Request events dropped because the ring to analytics was full.",
            &[(vec![], c.tee_dropped)],
        )?;
        gauge(
            &mut enc,
            "palisade_analytics_up",
            "1 while the analytics worker drains the tee; 0 when it is not running or crashed and waits to restart (events are dropped meanwhile).",
            i64::from(c.analytics_up),
        )?;
        counter(
            &mut enc,
            "palisade_analytics_restarts",
            "Times the analytics worker crashed and was restarted (each one is logged as an error).",
            &[(vec![], c.analytics_restarts)],
        )?;
        counter(
            &mut enc,
            "palisade_analytics_blocks_withheld",
            "Blocks analytics did not make because decisions.max_blocks were in force (each episode is logged as a warning).",
            &[(vec![], c.blocks_withheld)],
        )?;
        let findings: Vec<_> = s
            .stats
            .findings_by_kind()
            .map(|(k, n)| (vec![("kind", k.as_str().to_string())], n))
            .collect();
        counter(
            &mut enc,
            "palisade_findings",
            "Findings stored, by detector kind.",
            &findings,
        )?;
        gauge(
            &mut enc,
            "palisade_active_blocks",
            "Blocks in force.",
            s.control.active_blocks().len() as i64,
        )?;
        gauge(
            &mut enc,
            "palisade_tracked_clients",
            "Clients the analytics worker tracks.",
            live.clients_tracked as i64,
        )?;
        gauge(
            &mut enc,
            "palisade_open_connections",
            "Client connections open on the proxy.",
            c.connections_open as i64,
        )?;
        gauge(
            &mut enc,
            "palisade_requests_in_flight",
            "Requests the proxy has admitted and not yet answered to their end (capped by proxy.limits.max_in_flight).",
            c.requests_in_flight as i64,
        )?;
        counter(
            &mut enc,
            "palisade_send_timeouts",
            "Client connections cut because a response write made no progress for proxy.timeouts.send (a client not reading).",
            &[(vec![], c.send_timeouts)],
        )?;
        counter(
            &mut enc,
            "palisade_admin_auth_failures",
            "Wrong admin tokens presented to the admin listener.",
            &[(vec![], s.guard.failures_total())],
        )?;
        counter(
            &mut enc,
            "palisade_admin_auth_refused",
            "Admin requests answered 429 because their address presented too many wrong tokens.",
            &[(vec![], s.guard.refused_total())],
        )?;
        store(&mut enc, &s.store.health())?;
        siem(&mut enc, &s.control.siem())?;
        fleet(&mut enc, &s.control.fleet())?;
        Ok(())
    }
}

pub async fn metrics(State(s): State<AdminState>) -> Response {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(s)));
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        return ApiError::internal("encoding metrics", e).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
