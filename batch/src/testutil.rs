//! Test helpers: windows of synthetic events.

use std::net::IpAddr;

use palisade_analytics::window::{Window, WindowLimits, WindowView};
use palisade_models::{Denial, DenyCode, Phase, RequestEvent};

/// One synthetic request.
pub struct Req {
    pub ts_ms: u64,
    pub ip: [u8; 4],
    pub subject: Option<&'static str>,
    pub method: http::Method,
    pub path: String,
    pub endpoint: Option<&'static str>,
    pub status: u16,
    pub latency_us: u64,
    /// The proxy's denial, if it answered itself.
    pub deny: Option<DenyCode>,
}

impl Req {
    pub fn get(ts_ms: u64, ip: [u8; 4], endpoint: &'static str, path: String) -> Self {
        Req {
            ts_ms,
            ip,
            subject: None,
            method: http::Method::GET,
            path,
            endpoint: Some(endpoint),
            status: 200,
            latency_us: 1000,
            deny: None,
        }
    }
}

/// A window holding `reqs`, every chunk sealed.
pub fn window(reqs: impl IntoIterator<Item = Req>) -> WindowView {
    let mut w = Window::new(WindowLimits {
        max_bytes: 1 << 34,
        max_age_ms: u64::MAX / 2,
    });
    for r in reqs {
        let ev = RequestEvent {
            ts_unix_us: r.ts_ms * 1000,
            client_ip: IpAddr::from(r.ip),
            subject: r.subject.map(Into::into),
            method: r.method,
            path: r.path.into(),
            status: r.status,
            latency_us: r.latency_us,
            deny: r.deny.map(|code| Denial {
                phase: Phase::Accept,
                code,
            }),
            bytes_out: 100,
            ..RequestEvent::example()
        };
        w.push(&ev, r.endpoint);
    }
    w.seal();
    (*w.reader().load_full()).clone()
}
