//! `palisade demo`: Palisade in front of a built-in sample API, with an embedded
//! config, so a fresh machine can try it with nothing else installed; drives
//! shoppers and periodic attacks through it (`traffic`) so that the dashboard
//! shows findings and blocks within a minute. Prints where to send requests, the
//! dashboard's address and token, and what to try.

pub mod sample_api;
pub mod traffic;

use std::net::SocketAddr;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use palisade_models::Config;
use palisade_models::config::Parsed;

use crate::app::PalisadeBuilder;
use crate::{cli, logging};

/// The demo's config, with `{listen}` and `{upstream}` to fill in.
pub const DEMO_CONFIG: &str = include_str!("demo.toml");

/// The demo config for a proxy on `listen` in front of an upstream on `upstream`,
/// with the admin listener on a port of the system's choosing (`run` sets the
/// one from `--admin-listen`).
pub fn config(listen: &str, upstream: SocketAddr) -> anyhow::Result<Config> {
    let text = DEMO_CONFIG
        .replace("{listen}", listen)
        .replace("{upstream}", &upstream.to_string());
    let mut config =
        Config::parse(&text).map_err(|e| anyhow::anyhow!("the demo config is invalid: {e}"))?;
    config.admin.listen = Parsed::new("127.0.0.1:0");
    Ok(config)
}

/// Runs the demo until SIGINT or SIGTERM.
pub async fn run(
    listen: String,
    admin: String,
    fast: bool,
    data: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the sample API")?;
    let api_addr = api.local_addr()?;
    let stop_api = CancellationToken::new();
    let api_task = tokio::spawn(sample_api::serve(api, stop_api.clone()));

    let mut config = config(&listen, api_addr)?;
    admin
        .parse::<SocketAddr>()
        .with_context(|| format!("--admin-listen {admin} is not an address and port"))?;
    config.admin.listen = Parsed::new(admin.clone());
    // A fresh store per run unless asked otherwise: a demo that restored the last
    // run's blocks would greet its shoppers with 403s and escalate the attackers
    // it remembers.
    let scratch = match &data {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("palisade-demo-")
                .tempdir()
                .context(
                    "making a temporary directory for the demo's store (or pass --data DIR)",
                )?,
        ),
    };
    let dir = data
        .as_deref()
        .or(scratch.as_ref().map(tempfile::TempDir::path))
        .context("the demo has no store directory")?;
    config.store.path = dir.join("palisade.redb").to_string_lossy().into_owned();
    logging::init(&config.log);
    let palisade = PalisadeBuilder::new(config)
        .start()
        .with_context(|| {
            format!(
                "starting the demo (proxy on {listen}, dashboard on {admin}; try --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0)"
            )
        })?;
    let proxy = palisade
        .plain_addrs()
        .first()
        .copied()
        .context("the demo proxy has no listener")?;
    let dashboard = palisade
        .admin_addr()
        .context("the demo has no admin listener")?;
    let token = palisade
        .admin_token()
        .context("the demo has no admin token")?;
    println!("{}", instructions(proxy, api_addr));
    println!(
        "\nThe dashboard (live findings, blocks, endpoints, clients):\n  dashboard: http://{dashboard}/\n  token:     {}\n  ({})\n\nSimulated shoppers and an attack every 20-30 s are on their way through the proxy;\nthe first findings and blocks appear within a minute.",
        token.reveal(),
        if token.generated() {
            "made for this run; set PALISADE_ADMIN_TOKEN to choose your own"
        } else {
            "from PALISADE_ADMIN_TOKEN"
        }
    );
    let stop_traffic = CancellationToken::new();
    let pace = if fast {
        traffic::Pace::fast()
    } else {
        traffic::Pace::realtime()
    };
    let driver = tokio::spawn(traffic::drive_with(
        proxy,
        stop_traffic.clone(),
        pace,
        std::sync::Arc::default(),
    ));

    let signal = cli::shutdown_signal().await?;
    println!("\n{signal}: stopping");
    stop_traffic.cancel();
    let _ = driver.await;
    let summary = palisade.shutdown().await;
    stop_api.cancel();
    let _ = api_task.await;
    println!(
        "recorded {} exchanges ({} denied by Palisade, {} upstream errors); {} events dropped",
        summary.totals.events, summary.totals.denied, summary.totals.server_errors, summary.dropped
    );
    if let Some(dir) = data {
        println!(
            "the store is kept in {} (run again with --data {} to continue)",
            dir.display(),
            dir.display()
        );
    }
    drop(scratch);
    Ok(())
}

fn instructions(proxy: SocketAddr, api: SocketAddr) -> String {
    let (user, pass) = sample_api::DEMO_LOGIN;
    format!(
        r#"
Palisade demo is running.
  send requests to Palisade:   http://{proxy}
  the sample API behind it:    http://{api}   (what Palisade protects)

Try:
  curl -i http://{proxy}/api/catalog?page=1
  curl -i -X POST http://{proxy}/api/login -H 'content-type: application/json' \
       -d '{{"username":"{user}","password":"{pass}"}}'
  curl -i http://{proxy}/api/users/1
  curl -i http://{proxy}/api/orders/1000
  curl -i --http2-prior-knowledge http://{proxy}/api/catalog/1

  A path the API does not declare is refused with 404 "unknown_route":
  curl -i http://{proxy}/api/admin

  An attack signature gets 403 "signature":
  curl -i "http://{proxy}/api/catalog?q=1'%20UNION%20SELECT%20password%20FROM%20users--"

  The login allows 5 attempts a minute per client, then 429 with Retry-After;
  each attempt's event records login_ok or login_failed.

  A blocked client (a static block in the demo config) gets 403 "blocked":
  curl -i -H 'X-Forwarded-For: 203.0.113.66' http://{proxy}/api/catalog

  An ambiguous, smuggling-shaped request never reaches the API (400):
  bash -c 'exec 3<>/dev/tcp/{host}/{port}; printf "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" >&3; timeout 2 cat <&3'

Every response carries an X-Request-Id; the access log below shows each
exchange (no headers, bodies or query values). Press Ctrl-C to stop."#,
        host = proxy.ip(),
        port = proxy.port(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_config_is_valid() {
        let c = config("127.0.0.1:0", "127.0.0.1:9".parse().expect("addr")).expect("demo config");
        assert_eq!(c.blocks.len(), 1);
        assert_eq!(c.route.len(), 7);
        assert!(cli::preflight(&c).is_empty());
    }
}
