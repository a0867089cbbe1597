//! The dashboard in a real headless Chromium (Debian's `chromium`, driven through
//! `chromedriver` by fantoccini): start `palisade demo` (its traffic at test
//! pace), open the dashboard, log in with the printed token, watch a finding
//! arrive live, open it, unblock its client, and check the proxy lets that client
//! through again. Saves a screenshot of every page (wide and narrow) under
//! `$CARGO_TARGET_TMPDIR/dashboard-screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (`.ci/run` installs them).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// The longest any step may take (the demo's first attack wave comes within a
/// second or two at test pace).
const STEP: Duration = Duration::from_secs(60);

/// A running `palisade demo`.
struct Demo {
    child: Child,
    proxy: SocketAddr,
    dashboard: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Demo {
    fn start() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_palisade-e2e"))
            .current_dir(dir.path())
            .args([
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--fast",
            ])
            .env_remove("PALISADE_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn palisade demo");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut proxy, mut dashboard, mut token) = (None, None, None);
        while token.is_none() {
            let line = lines
                .next()
                .expect("the demo printed its addresses")
                .unwrap();
            let line = line.trim();
            if let Some(v) = line.strip_prefix("send requests to Palisade:") {
                proxy = v.trim().strip_prefix("http://").map(|a| a.parse().unwrap());
            } else if let Some(v) = line.strip_prefix("dashboard:") {
                dashboard = Some(v.trim().trim_end_matches('/').to_string());
            } else if let Some(v) = line.strip_prefix("token:") {
                token = Some(v.trim().to_string());
            }
        }
        // Keep draining so the demo never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        Demo {
            child,
            proxy: proxy.expect("proxy address"),
            dashboard: dashboard.expect("dashboard address"),
            token: token.unwrap(),
            _dir: dir,
        }
    }

    async fn api(&self, path: &str) -> Value {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.dashboard))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        serde_json::from_str(&r.text().await.unwrap()).unwrap()
    }

    /// The status the proxy gives a request from `ip` (the demo trusts
    /// X-Forwarded-For from 127.0.0.1).
    async fn status_for(&self, ip: &str) -> u16 {
        reqwest::Client::new()
            .get(format!("http://{}/api/catalog?page=1", self.proxy))
            .header("x-forwarded-for", ip)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver on a port it picks itself.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let mut child = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: apt-get install chromium chromium-driver (.ci/run does)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("chromedriver said where it listens")
                .unwrap();
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                break rest.trim_end_matches('.').trim().parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let mut args = vec![
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--window-size=1280,800".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    args.shrink_to_fit();
    let mut options = json!({ "args": args });
    if std::path::Path::new("/usr/bin/chromium").exists() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session")
}

fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(shots_dir().join(format!("{name}.png")), png).unwrap();
}

async fn wait_css(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(STEP)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}` within {STEP:?}: {e}"))
}

/// Finding ids shown in the findings table now.
async fn finding_rows(c: &Client) -> Vec<String> {
    let mut ids = Vec::new();
    for row in c.find_all(Locator::Css("tr.finding")).await.unwrap() {
        if let Ok(Some(id)) = row.attr("data-id").await {
            ids.push(id);
        }
    }
    ids
}

/// Polls `check` until it yields a value, at most `STEP`.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_live_finding_and_unblocks_its_client() {
    let demo = Demo::start();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;

    // Log in.
    c.goto(&format!("{}/", demo.dashboard)).await.unwrap();
    wait_css(&c, "#token")
        .await
        .send_keys(&demo.token)
        .await
        .unwrap();
    c.find(Locator::Css("#login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_css(&c, "#live.on").await;
    assert_eq!(
        c.find(Locator::Css("#live"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "live"
    );
    assert!(
        !c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains(&demo.token),
        "no token in the URL"
    );

    // A finding arrives on the open findings page without a reload.
    c.goto(&format!("{}/#/findings", demo.dashboard))
        .await
        .unwrap();
    wait_css(&c, "table").await;
    let before = finding_rows(&c).await;
    let (page, before, api) = (&c, &before, &demo);
    eventually("a finding appears live", move || async move {
        let now = finding_rows(page).await;
        now.iter().any(|id| !before.contains(id)).then_some(())
    })
    .await;
    shot(&c, "findings").await;

    // A finding that blocked its client (the demo's attackers are blocked).
    let target = eventually("an analytics block with its finding", move || async move {
        let blocks = api.api("/api/blocks").await;
        blocks["items"].as_array().unwrap().iter().find_map(|b| {
            let ip = b["scope"].as_str()?.strip_prefix("ip:")?;
            let finding = b["finding"].as_str()?;
            (b["origin"] == "analytics").then(|| {
                (
                    b["id"].as_u64().unwrap(),
                    finding.to_string(),
                    ip.to_string(),
                )
            })
        })
    })
    .await;
    let (block_id, finding_id, ip) = target;
    assert_eq!(
        demo.status_for(&ip).await,
        403,
        "{ip} is blocked at the proxy"
    );

    // Open it from the list.
    let row = wait_css(&c, &format!("tr.finding[data-id=\"{finding_id}\"]")).await;
    row.click().await.unwrap();
    wait_css(&c, "#finding-detail").await;
    let unblock = wait_css(
        &c,
        &format!("#finding-detail button.unblock[data-block-id=\"{block_id}\"]"),
    )
    .await;
    let detail = c
        .find(Locator::Css("#finding-detail"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        detail.contains(&ip),
        "the detail names the client: {detail}"
    );
    shot(&c, "finding-detail").await;

    // Unblock, with confirmation.
    unblock.click().await.unwrap();
    wait_css(&c, "dialog#confirm[open]").await;
    c.find(Locator::Css("#confirm-reason"))
        .await
        .unwrap()
        .send_keys("e2e: reviewed")
        .await
        .unwrap();
    c.find(Locator::Css("#confirm-yes"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the block is lifted", || async {
        let blocks = demo.api("/api/blocks").await;
        let items = blocks["items"].as_array().unwrap();
        (!items.iter().any(|b| b["id"].as_u64() == Some(block_id))).then_some(())
    })
    .await;
    assert_eq!(demo.status_for(&ip).await, 200, "{ip} gets through again");
    let audit = demo.api("/api/audit").await;
    let lifted = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "block_removed" && r["block"]["id"].as_u64() == Some(block_id))
        .expect("the unblock is audited");
    assert_eq!(lifted["reason"], "e2e: reviewed");

    // Every page, wide and narrow.
    for (page, name, css) in [
        ("#/overview", "overview", "#main svg, #main canvas"),
        ("#/blocks", "blocks", "#block-form"),
        ("#/endpoints", "endpoints", "tr.endpoint"),
        ("#/clients", "clients", "tr.client"),
        (&*format!("#/clients/ip%3A{ip}"), "client", "#block-client"),
    ] {
        c.goto(&format!("{}/{page}", demo.dashboard)).await.unwrap();
        wait_css(&c, css).await;
        shot(&c, name).await;
    }
    c.set_window_size(390, 844).await.unwrap();
    for (page, name) in [
        ("#/overview", "overview-narrow"),
        ("#/findings", "findings-narrow"),
    ] {
        c.goto(&format!("{}/{page}", demo.dashboard)).await.unwrap();
        wait_css(&c, "#main table, #main svg, #main canvas").await;
        shot(&c, name).await;
    }
    c.close().await.unwrap();
    eprintln!("screenshots in {}", shots_dir().display());
}
