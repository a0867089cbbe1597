//! The demo's traffic: simulated shoppers using the sample API through Palisade,
//! and a wave of attack from a fresh address every 20 to 30 seconds, so that
//! someone watching the dashboard of `palisade demo` sees normal traffic, then
//! findings and blocks, within a minute of starting.
//!
//! Every request goes through the proxy and names its client in
//! `X-Forwarded-For` (the demo config trusts 127.0.0.1 as a load balancer):
//! shoppers come from 192.0.2.0/24, attackers from 198.51.100.0/24 and
//! 203.0.113.0/24 (all three are documentation ranges).
//!
//! Must keep shoppers well below every detector's threshold with the demo config
//! (they must never be blocked or make a high-severity finding), stop an attack
//! wave as soon as Palisade blocks it, and log one line per wave (plus one warning
//! while the proxy is unreachable), never one per request.

mod attacks;
mod shoppers;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Drives shoppers and attack waves through the proxy at `proxy` until `stop` is
/// cancelled. Spawn it next to the proxy; it returns once every simulated client
/// has stopped.
pub async fn drive(proxy: SocketAddr, stop: CancellationToken) {
    drive_with(proxy, stop, Pace::realtime(), Arc::default()).await;
}

/// `drive` at a chosen pace, counting what happens in `counters` (for tests).
pub async fn drive_with(
    proxy: SocketAddr,
    stop: CancellationToken,
    pace: Pace,
    counters: Arc<Counters>,
) {
    let net = match Net::new(proxy, stop, counters) {
        Ok(net) => Arc::new(net),
        Err(e) => {
            tracing::warn!(error = %e, "demo: no traffic driver (cannot build an HTTP client)");
            return;
        }
    };
    let mut rng = fastrand::Rng::new();
    let mut tasks = JoinSet::new();
    for shopper in shoppers::population(&mut rng) {
        tasks.spawn(shoppers::run(net.clone(), shopper, pace, rng.fork()));
    }
    tasks.spawn(attacks::run(net.clone(), pace, rng.fork()));
    while tasks.join_next().await.is_some() {}
}

/// How fast simulated time runs: a factor on every wait, for shoppers and for
/// attackers. Rate limits and detector windows stay in real time.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    shoppers: f64,
    attacks: f64,
}

impl Pace {
    /// What `palisade demo` uses: a few shopper requests a second in total, an
    /// attack wave every 20 to 30 seconds, the first after about 8.
    pub fn realtime() -> Self {
        Self {
            shoppers: 1.0,
            attacks: 1.0,
        }
    }

    /// For tests: shoppers about three times as busy (still far below any
    /// threshold), attacks twenty times faster (a wave every 1 to 1.5 seconds).
    pub fn fast() -> Self {
        Self {
            shoppers: 0.3,
            attacks: 0.05,
        }
    }

    fn shopper(&self, ms: u64) -> Duration {
        scaled(ms, self.shoppers)
    }

    fn attack(&self, ms: u64) -> Duration {
        scaled(ms, self.attacks)
    }
}

fn scaled(ms: u64, factor: f64) -> Duration {
    Duration::from_millis((ms as f64 * factor).round() as u64)
}

/// `ms` give or take 30%.
fn jitter(rng: &mut fastrand::Rng, ms: u64) -> u64 {
    ms * rng.u64(70..=130) / 100
}

/// What the driver has done so far.
#[derive(Debug, Default)]
pub struct Counters {
    shopper_requests: AtomicU64,
    shoppers_blocked: AtomicU64,
    waves: AtomicU64,
    waves_blocked: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> Summary {
        Summary {
            shopper_requests: self.shopper_requests.load(Ordering::Relaxed),
            shoppers_blocked: self.shoppers_blocked.load(Ordering::Relaxed),
            waves: self.waves.load(Ordering::Relaxed),
            waves_blocked: self.waves_blocked.load(Ordering::Relaxed),
        }
    }

    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of `Counters`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Requests the shoppers sent (answered by Palisade).
    pub shopper_requests: u64,
    /// Shopper requests refused because the shopper was blocked: always 0 unless
    /// the demo is broken.
    pub shoppers_blocked: u64,
    /// Attack waves started.
    pub waves: u64,
    /// Attack waves that ended because Palisade blocked the attacker.
    pub waves_blocked: u64,
}

/// Whether `ip` is one of the simulated shoppers' addresses (192.0.2.0/24).
pub fn is_shopper(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[..3] == [192, 0, 2])
}

/// A simulated client: its address and its User-Agent.
#[derive(Debug, Clone, Copy)]
struct Who {
    ip: Ipv4Addr,
    user_agent: &'static str,
}

/// An answer, read whole.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Reply {
    /// Palisade's refusal of a blocked client: 403 with reason "blocked" (see
    /// proxy/src/respond.rs). A 403 "signature" is a refused request, not a block.
    fn blocked(&self) -> bool {
        self.status == 403 && contains(&self.body, br#""reason":"blocked""#)
    }

    fn json(&self) -> Option<serde_json::Value> {
        (self.status == 200)
            .then(|| serde_json::from_slice(&self.body).ok())
            .flatten()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The HTTP side shared by every simulated client: one connection pool to the
/// proxy, the stop signal, whether the proxy is reachable, and the counters.
#[derive(Debug)]
struct Net {
    client: reqwest::Client,
    proxy: SocketAddr,
    stop: CancellationToken,
    /// Set while the proxy refuses connections, so the warning is logged once.
    down: AtomicBool,
    counters: Arc<Counters>,
}

impl Net {
    fn new(
        proxy: SocketAddr,
        stop: CancellationToken,
        counters: Arc<Counters>,
    ) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            // The proxy is on this machine: never through an HTTP(S)_PROXY.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            client,
            proxy,
            stop,
            down: AtomicBool::new(false),
            counters,
        })
    }

    fn stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// A request from `who` to `path` (with its query) on the proxy.
    fn request(&self, who: &Who, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("http://{}{path}", self.proxy))
            .header("x-forwarded-for", who.ip.to_string())
            .header(reqwest::header::USER_AGENT, who.user_agent)
            .header(reqwest::header::ACCEPT, "application/json")
    }

    fn get(&self, who: &Who, path: &str) -> RequestBuilder {
        self.request(who, Method::GET, path)
    }

    fn post_json(&self, who: &Who, path: &str, body: &serde_json::Value) -> RequestBuilder {
        self.request(who, Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
    }

    /// Sends a request and reads the answer; None when stopped or when it failed.
    /// A refused connection warns once and waits a second, so every simulated
    /// client retries about once a second until the proxy is back.
    async fn send(&self, request: RequestBuilder) -> Option<Reply> {
        let exchange = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let body = response.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>(Reply { status, body })
        };
        let result = tokio::select! {
            () = self.stop.cancelled() => return None,
            result = exchange => result,
        };
        match result {
            Ok(reply) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("demo: Palisade answers again; traffic resumes");
                }
                Some(reply)
            }
            Err(e) if e.is_connect() => {
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        proxy = %self.proxy,
                        error = %e,
                        "demo: cannot reach Palisade; retrying every second"
                    );
                }
                self.pause(Duration::from_secs(1)).await;
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "demo: a request failed");
                None
            }
        }
    }

    /// Waits `d`; false if stopped meanwhile.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            () = self.stop.cancelled() => false,
            () = tokio::time::sleep(d) => true,
        }
    }
}
