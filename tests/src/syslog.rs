//! Real syslog daemons as receivers for the SIEM forwarding tests: rsyslog (TCP,
//! TLS per RFC 5425 through its `ossl` driver, UDP) and syslog-ng (TCP), each in
//! its own temporary directory with its own config, pid file and work directory,
//! listening on ports the kernel picked (port 0), found again through the port
//! file rsyslog writes or through `/proc` (the daemon's own sockets).
//!
//! Nothing here reads the machine's syslog configuration or writes to `/var/log`:
//! no `imuxsock`, no `imklog`, internal messages kept in the temporary directory.
//! Both daemons are installed by `.ci/run` (rsyslog and rsyslog-openssl from apt,
//! syslog-ng unpacked by `scripts/install-syslog-ng.sh`, since its package
//! conflicts with rsyslog's); the tests fail, not skip, when one is missing.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long a daemon gets to start listening (or to stop after SIGTERM).
const STARTUP: Duration = Duration::from_secs(20);
/// How often the harness looks again at what it waits for.
const POLL: Duration = Duration::from_millis(10);

/// TLS for rsyslog's TLS listener (RFC 5425): PEM files, e.g. from
/// [`crate::tls::Pki`].
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA the server's chain is in, and the one client certificates must chain
    /// to when `require_client_cert` is set.
    pub ca: PathBuf,
    /// `x509/certvalid`: the client must present a certificate signed by `ca`
    /// (mutual TLS). Otherwise `anon`: any client, no client certificate asked for.
    pub require_client_cert: bool,
}

/// A running rsyslogd: plain TCP always, TLS when asked, UDP; octet-counted
/// framing accepted on both TCP listeners (non-transparent LF framing too), 64 KiB
/// messages.
///
/// Every message received is written twice: raw (`%rawmsg%`, the RFC 5424 text
/// as received without the framing) to one file, and as rsyslog's own parse of
/// it (RFC 5424 header fields, the SD parsed by `mmpstrucdata`) to another; see
/// [`Rsyslog::messages`] and [`Rsyslog::parsed`]. Order is arrival order at the
/// daemon: fixed within one connection, not across connections.
#[derive(Debug)]
pub struct Rsyslog {
    pub tcp: SocketAddr,
    pub tls: Option<SocketAddr>,
    pub udp: Option<SocketAddr>,
    tls_config: Option<ServerTls>,
    child: Option<Child>,
    raw: PathBuf,
    parsed: PathBuf,
    dir: tempfile::TempDir,
}

impl Rsyslog {
    /// Starts rsyslogd listening on 127.0.0.1: plain TCP, TLS on a second port
    /// when `tls` is given, and UDP. Returns once all of them are listening.
    pub fn start(tls: Option<&ServerTls>) -> anyhow::Result<Rsyslog> {
        let rsyslogd = rsyslogd()?;
        if tls.is_some() {
            ossl_driver()?;
        }
        let dir = tempfile::Builder::new()
            .prefix("palisade-rsyslog.")
            .tempdir()
            .context("temporary directory for rsyslog")?;
        let mut r = Rsyslog {
            tcp: loopback(0),
            tls: None,
            udp: None,
            tls_config: tls.cloned(),
            child: None,
            raw: dir.path().join("messages.log"),
            parsed: dir.path().join("parsed.json"),
            dir,
        };
        r.launch(&rsyslogd, Ports::default())?;
        Ok(r)
    }

    /// The RFC 5424 messages received so far, as received (`%rawmsg%`: framing
    /// removed, control characters escaped as rsyslog does, `#012` for LF), in
    /// arrival order.
    pub fn messages(&self) -> Vec<String> {
        complete_lines(&self.raw)
    }

    /// rsyslog's own parse of each message received so far, in the order of
    /// [`Rsyslog::messages`], as JSON objects with `pri` and `version` (numbers),
    /// `timestamp` (RFC 3339 as reported by the sender, or the time of reception
    /// when it sent `-`), `hostname`, `app_name`, `procid`, `msgid` (`-` when
    /// nil), `structured_data` (the SD text as received), `sd` (the SD parsed:
    /// `{"id@pen": {"param": "unescaped value"}}`, null when none; SD-ID case
    /// kept) and `msg`. Call after [`Rsyslog::wait_for`], which waits for these too.
    pub fn parsed(&self) -> Vec<serde_json::Value> {
        complete_lines(&self.parsed)
            .into_iter()
            .map(
                |line| match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(mut v) => {
                        // The template can only embed the parsed SD as a JSON string.
                        if let Some(sd) = v.get("sd").and_then(|s| s.as_str()) {
                            let sd = if sd.trim().is_empty() {
                                serde_json::Value::Null
                            } else {
                                serde_json::from_str(sd)
                                    .unwrap_or_else(|_| serde_json::Value::String(sd.to_string()))
                            };
                            v["sd"] = sd;
                        }
                        v
                    }
                    Err(_) => serde_json::Value::String(line),
                },
            )
            .collect()
    }

    /// Waits until at least `n` messages have arrived (raw and parsed), polling
    /// the output files; the error says how many did, and what the daemon logged.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<String>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let raw = self.messages();
            if raw.len() >= n && complete_lines(&self.parsed).len() >= n {
                return Ok(raw);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{} of {n} messages arrived at rsyslog within {timeout:?}: {raw:#?}{}",
                    raw.len(),
                    logs(self.dir.path())
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the daemon (SIGTERM, then waits for it to exit, SIGKILL past 20 s):
    /// its ports are free afterwards, what it received is still readable.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
    }

    /// Starts the daemon again on the same ports (all of them: TCP, TLS, UDP),
    /// appending to the same output. Stops it first if it is running.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        let ports = Ports {
            tcp: self.tcp.port(),
            tls: self.tls.map(|a| a.port()).unwrap_or(0),
            udp: self.udp.map(|a| a.port()).unwrap_or(0),
        };
        self.launch(&rsyslogd()?, ports)
            .context("restarting rsyslogd on the same ports")
    }

    /// The daemon's directory (config, logs, output), for a test's own digging.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn launch(&mut self, rsyslogd: &Path, ports: Ports) -> anyhow::Result<()> {
        let d = self.dir.path();
        let tcp_port_file = d.join("tcp.port");
        let tls_port_file = d.join("tls.port");
        // Stale port files from a previous run would be taken for the new ones.
        for f in [&tcp_port_file, &tls_port_file] {
            let _ = std::fs::remove_file(f);
        }
        let conf = d.join("rsyslog.conf");
        std::fs::write(
            &conf,
            rsyslog_conf(d, &self.raw, &self.parsed, self.tls_config.as_ref(), ports),
        )
        .context("writing rsyslog.conf")?;

        let mut cmd = Command::new(rsyslogd);
        cmd.arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(d.join("rsyslogd.pid"))
            .current_dir(d);
        let mut child = spawn_logged(cmd, d, "rsyslogd")?;
        let pid = child.id();

        let want_tls = self.tls_config.is_some();
        let deadline = Instant::now() + STARTUP;
        let (tcp, tls, udp) = loop {
            if let Some(status) = child.try_wait().context("rsyslogd status")? {
                bail!(
                    "rsyslogd exited ({status}) before listening{}{}",
                    logs(d),
                    RSYSLOG_HINT
                );
            }
            let listening = bound_ports(pid, Proto::Tcp);
            let udp_bound = bound_ports(pid, Proto::Udp);
            // The port asked for, or the one the kernel picked (in the port file).
            let find = |asked: u16, file: &Path| match asked {
                0 => read_port(file),
                p => Some(p),
            };
            let tcp = find(ports.tcp, &tcp_port_file).filter(|p| listening.contains(p));
            let tls = find(ports.tls, &tls_port_file).filter(|p| listening.contains(p));
            let udp = match ports.udp {
                0 => udp_bound.first().copied(),
                p => udp_bound.contains(&p).then_some(p),
            };
            match (tcp, tls, udp) {
                (Some(tcp), tls, Some(udp)) if tls.is_some() == want_tls => break (tcp, tls, udp),
                _ => {}
            }
            // rsyslogd carries on without a listener it could not create (port
            // taken, TLS files unreadable): that shows only in what it logs (its
            // stderr file is new for each launch, its internal log is not).
            let failed = std::fs::read_to_string(d.join("rsyslogd.stderr")).is_ok_and(|t| {
                t.contains("Could not create tcp listener")
                    || t.contains("Could not create udp listener")
            });
            if failed || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "rsyslogd is not listening on all its ports ({}; wanted tcp {}, tls {}, \
                     udp {} (0: any); it listens on tcp {listening:?}, udp {udp_bound:?}){}{}",
                    if failed {
                        "it could not create a listener".to_string()
                    } else {
                        format!("not within {STARTUP:?}")
                    },
                    ports.tcp,
                    if want_tls {
                        ports.tls.to_string()
                    } else {
                        "none".into()
                    },
                    ports.udp,
                    logs(d),
                    RSYSLOG_HINT
                );
            }
            std::thread::sleep(POLL);
        };
        self.tcp = loopback(tcp);
        self.tls = tls.map(loopback);
        self.udp = Some(loopback(udp));
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            kill_now(child);
        }
    }
}

/// A running syslog-ng with a `syslog()` source on TCP (RFC 6587 octet counting,
/// RFC 5424 parsing) writing each message as one JSON object per line:
/// `$(format-json --scope rfc5424 --scope nv-pairs --key ISODATE)`, so `_SDATA`
/// (`{"id@pen": {"param": "value"}}`), `PROGRAM`, `PID`, `MSGID`, `MESSAGE`,
/// `HOST`, `ISODATE` (microseconds), `PRIORITY`, `FACILITY`, and `RAWMSG` (the
/// message as received).
#[derive(Debug)]
pub struct SyslogNg {
    pub tcp: SocketAddr,
    child: Option<Child>,
    output: PathBuf,
    dir: tempfile::TempDir,
}

impl SyslogNg {
    /// Starts syslog-ng listening on 127.0.0.1 (a port the kernel picks) and
    /// returns once it listens.
    pub fn start() -> anyhow::Result<SyslogNg> {
        let root = syslog_ng_root()?;
        let version = syslog_ng_version(&root)?;
        let dir = tempfile::Builder::new()
            .prefix("palisade-syslog-ng.")
            .tempdir()
            .context("temporary directory for syslog-ng")?;
        let d = dir.path();
        let output = d.join("messages.json");
        let conf = d.join("syslog-ng.conf");
        std::fs::write(&conf, syslog_ng_conf(&version, d, &output))
            .context("writing syslog-ng.conf")?;

        let mut cmd = Command::new(root.join("usr/sbin/syslog-ng"));
        cmd.env("LD_LIBRARY_PATH", root.join("usr/lib/syslog-ng"))
            .arg("-F")
            .arg("--no-caps")
            .arg(format!(
                "--module-path={}",
                root.join("usr/lib/syslog-ng").join(&version).display()
            ))
            .arg("-f")
            .arg(&conf)
            .arg("-R")
            .arg(d.join("syslog-ng.persist"))
            .arg("-p")
            .arg(d.join("syslog-ng.pid"))
            .arg("-c")
            .arg(d.join("syslog-ng.ctl"))
            .current_dir(d);
        let mut child = spawn_logged(cmd, d, "syslog-ng")?;
        let pid = child.id();
        let deadline = Instant::now() + STARTUP;
        let port = loop {
            if let Some(status) = child.try_wait().context("syslog-ng status")? {
                bail!("syslog-ng exited ({status}) before listening{}", logs(d));
            }
            if let Some(&p) = bound_ports(pid, Proto::Tcp).first() {
                break p;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("syslog-ng did not listen within {STARTUP:?}{}", logs(d));
            }
            std::thread::sleep(POLL);
        };
        Ok(SyslogNg {
            tcp: loopback(port),
            child: Some(child),
            output,
            dir,
        })
    }

    /// The messages received so far, one JSON object each, in arrival order (a
    /// line that is not JSON comes as a JSON string).
    pub fn messages(&self) -> Vec<serde_json::Value> {
        complete_lines(&self.output)
            .into_iter()
            .map(|line| serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line)))
            .collect()
    }

    /// Waits until at least `n` messages have arrived; the error says how many did.
    pub async fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return Ok(got);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{} of {n} messages arrived at syslog-ng within {timeout:?}: {got:#?}{}",
                    got.len(),
                    logs(self.dir.path())
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the daemon (SIGTERM, then waits): its port is free afterwards, what
    /// it received is still readable.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
    }

    /// The daemon's directory (config, logs, output).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SyslogNg {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            kill_now(child);
        }
    }
}

/// Where the unpacked syslog-ng is (the directory holding `usr/sbin/syslog-ng`):
/// `$PALISADE_SYSLOG_NG_ROOT`, or `$HOME/.cache/palisade-tools/syslog-ng` where
/// `.ci/run` puts it.
pub fn syslog_ng_root() -> anyhow::Result<PathBuf> {
    let root = match std::env::var_os("PALISADE_SYSLOG_NG_ROOT") {
        Some(r) if !r.is_empty() => PathBuf::from(r),
        _ => {
            let home = std::env::var_os("HOME").context("HOME is not set")?;
            PathBuf::from(home).join(".cache/palisade-tools/syslog-ng")
        }
    };
    check_syslog_ng_root(root)
}

fn check_syslog_ng_root(root: PathBuf) -> anyhow::Result<PathBuf> {
    let bin = root.join("usr/sbin/syslog-ng");
    if !bin.is_file() {
        bail!(
            "syslog-ng not found at {}: run `.ci/run` (or `scripts/install-syslog-ng.sh`), \
             which unpacks Debian's syslog-ng-core there, or point PALISADE_SYSLOG_NG_ROOT \
             at an unpacked copy",
            bin.display()
        );
    }
    Ok(root)
}

/// The module directory's name under `usr/lib/syslog-ng` ("3.38"), which is also
/// what the config's `@version` must say.
fn syslog_ng_version(root: &Path) -> anyhow::Result<String> {
    let lib = root.join("usr/lib/syslog-ng");
    let entries = std::fs::read_dir(&lib)
        .with_context(|| format!("{}: run `.ci/run` to unpack syslog-ng again", lib.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(|c: char| c.is_ascii_digit()) && e.path().is_dir() {
            return Ok(name);
        }
    }
    bail!(
        "no module directory (like 3.38) in {}: run `.ci/run` to unpack syslog-ng again",
        lib.display()
    )
}

const RSYSLOG_HINT: &str =
    "\n(rsyslog and rsyslog-openssl are installed by `.ci/run` when missing)";

fn rsyslogd() -> anyhow::Result<PathBuf> {
    let fixed = PathBuf::from("/usr/sbin/rsyslogd");
    if fixed.is_file() {
        return Ok(fixed);
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("rsyslogd"))
                .find(|p| p.is_file())
        })
        .with_context(|| format!("rsyslogd not found (in /usr/sbin or on PATH){RSYSLOG_HINT}"))
}

/// rsyslog-openssl's netstream driver, which the TLS listener needs.
fn ossl_driver() -> anyhow::Result<()> {
    let mut dirs = vec![PathBuf::from("/usr/lib/rsyslog")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        dirs.extend(entries.flatten().map(|e| e.path().join("rsyslog")));
    }
    if dirs.iter().any(|d| d.join("lmnsd_ossl.so").is_file()) {
        Ok(())
    } else {
        bail!(
            "rsyslog's TLS driver lmnsd_ossl.so (package rsyslog-openssl) not found{RSYSLOG_HINT}"
        )
    }
}

/// The ports to configure; 0 lets the kernel pick.
#[derive(Debug, Clone, Copy, Default)]
struct Ports {
    tcp: u16,
    tls: u16,
    udp: u16,
}

/// The rsyslog config: inputs bound to ruleset `recv` (which writes the two output
/// files), rsyslog's own messages to `rsyslogd.log` through the default ruleset.
fn rsyslog_conf(
    dir: &Path,
    raw: &Path,
    parsed: &Path,
    tls: Option<&ServerTls>,
    ports: Ports,
) -> String {
    let mut c = format!(
        r#"# Generated by palisade-tests (tests/src/syslog.rs).
global(
  workDirectory="{dir}"
  maxMessageSize="64k"
  processInternalMessages="on"
  net.enableDNS="off"
)
module(load="imtcp")
module(load="imudp")
module(load="mmpstrucdata")

template(name="palisade_raw" type="string" string="%rawmsg%\n")
template(name="palisade_parsed" type="list" option.jsonf="on") {{
  property(outname="pri" name="pri" format="jsonf" datatype="number")
  property(outname="version" name="protocol-version" format="jsonf" datatype="number")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app_name" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="structured_data" name="structured-data" format="jsonf")
  property(outname="sd" name="$!rfc5424-sd" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}}

# The parsed file is written before the raw one (actions run in order, each
# batch committed in that order), so once a message is in the raw file its
# parse is in the other.
ruleset(name="recv") {{
  action(type="mmpstrucdata" sd_name.lowercase="off")
  action(type="omfile" file="{parsed}" template="palisade_parsed")
  action(type="omfile" file="{raw}" template="palisade_raw")
}}

input(type="imtcp" name="palisade_tcp" address="127.0.0.1" port="{tcp}"
      listenPortFileName="{tcp_port_file}" ruleset="recv"
      supportOctetCountedFraming="on")
input(type="imudp" name="palisade_udp" address="127.0.0.1" port="{udp}" ruleset="recv")
"#,
        dir = quote(dir),
        raw = quote(raw),
        parsed = quote(parsed),
        tcp = ports.tcp,
        udp = ports.udp,
        tcp_port_file = quote(&dir.join("tcp.port")),
    );
    if let Some(tls) = tls {
        let _ = write!(
            c,
            r#"input(type="imtcp" name="palisade_tls" address="127.0.0.1" port="{port}"
      listenPortFileName="{port_file}" ruleset="recv"
      supportOctetCountedFraming="on"
      streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="{auth}"
      streamDriver.CAFile="{ca}" streamDriver.CertFile="{cert}" streamDriver.KeyFile="{key}")
"#,
            port = ports.tls,
            port_file = quote(&dir.join("tls.port")),
            auth = if tls.require_client_cert {
                "x509/certvalid"
            } else {
                "anon"
            },
            ca = quote(&tls.ca),
            cert = quote(&tls.cert),
            key = quote(&tls.key),
        );
    }
    let _ = write!(
        c,
        "\n# rsyslog's own messages (errors included).\n*.* action(type=\"omfile\" file=\"{}\")\n",
        quote(&dir.join("rsyslogd.log"))
    );
    c
}

fn syslog_ng_conf(version: &str, dir: &Path, output: &Path) -> String {
    format!(
        r#"@version: {version}
# Generated by palisade-tests (tests/src/syslog.rs).
options {{
  keep-hostname(yes);
  use-dns(no);
  dns-cache(no);
  frac-digits(6);
}};
source s_palisade {{
  syslog(ip("127.0.0.1") port(0) transport("tcp")
         max-connections(100) log-iw-size(10000) log-msg-size(65536)
         flags(store-raw-message));
}};
source s_internal {{ internal(); }};
destination d_json {{
  file("{output}" template("$(format-json --scope rfc5424 --scope nv-pairs --key ISODATE)\n"));
}};
destination d_internal {{ file("{internal}"); }};
log {{ source(s_palisade); destination(d_json); }};
log {{ source(s_internal); destination(d_internal); }};
"#,
        output = quote(output),
        internal = quote(&dir.join("syslog-ng.log")),
    )
}

/// A path inside a double-quoted config string (both daemons unescape `\\`, `\"`).
fn quote(p: &Path) -> String {
    p.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn read_port(file: &Path) -> Option<u16> {
    std::fs::read_to_string(file)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&p| p != 0)
}

/// Starts `cmd` with stdout and stderr going to `<name>.stderr` in `dir`.
fn spawn_logged(mut cmd: Command, dir: &Path, name: &str) -> anyhow::Result<Child> {
    let path = dir.join(format!("{name}.stderr"));
    let out = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let err = out.try_clone().context("stderr file")?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .with_context(|| format!("spawning {cmd:?}"))
}

/// SIGTERM, then wait; SIGKILL if it has not exited within `STARTUP`.
fn terminate(mut child: Child) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let Ok(pid) = i32::try_from(child.id()) else {
        return kill_now(child);
    };
    if kill(Pid::from_raw(pid), Signal::SIGTERM).is_err() {
        return kill_now(child);
    }
    let deadline = Instant::now() + STARTUP;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => std::thread::sleep(POLL),
        }
    }
    kill_now(child);
}

fn kill_now(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Lines ending in a newline (a line still being written is left out), lossily
/// decoded.
fn complete_lines(path: &Path) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
        return Vec::new();
    };
    bytes[..end]
        .split(|&b| b == b'\n')
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

/// The tails of the daemon's stderr and internal log, for error messages.
fn logs(dir: &Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "stderr" || x == "log")
                && p.file_name().is_some_and(|n| n != "messages.log")
        })
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        let _ = write!(
            out,
            "\n--- {} (last {} bytes):\n{}",
            f.display(),
            text.len() - start,
            &text[start..]
        );
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Proto {
    Tcp,
    Udp,
}

/// The ports of the IPv4 sockets that process `pid` holds: listening ones for
/// TCP, bound ones for UDP. Read from `/proc` (the socket tables of its network
/// namespace, matched by inode against its file descriptors).
fn bound_ports(pid: u32, proto: Proto) -> Vec<u16> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: HashSet<String> = fds
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_string)
        })
        .collect();
    let table = match proto {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    };
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
        return Vec::new();
    };
    let mut ports: Vec<u16> = text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
            if matches!(proto, Proto::Tcp) && *state != "0A" {
                return None; // not LISTEN
            }
            if !inodes.contains(*inode) {
                return None;
            }
            let port = u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()?;
            (port != 0).then_some(port)
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_syslog_ng_says_how_to_install_it() {
        let err = check_syslog_ng_root(PathBuf::from("/nonexistent/syslog-ng")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(".ci/run"), "{msg}");
        assert!(msg.contains("PALISADE_SYSLOG_NG_ROOT"), "{msg}");
    }

    #[test]
    fn only_complete_lines_count() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        assert!(complete_lines(&p).is_empty());
        std::fs::write(&p, "a\nb c\npartial").unwrap();
        assert_eq!(complete_lines(&p), ["a", "b c"]);
        std::fs::write(&p, "a\n\nb\n").unwrap();
        assert_eq!(complete_lines(&p), ["a", "", "b"]);
    }

    #[test]
    fn rsyslog_config_has_tls_listener_only_when_asked() {
        let d = Path::new("/tmp/x");
        let plain = rsyslog_conf(d, &d.join("r"), &d.join("p"), None, Ports::default());
        assert!(!plain.contains("ossl"));
        let tls = ServerTls {
            cert: d.join("c.pem"),
            key: d.join("k.pem"),
            ca: d.join("ca.pem"),
            require_client_cert: true,
        };
        let c = rsyslog_conf(d, &d.join("r"), &d.join("p"), Some(&tls), Ports::default());
        assert!(
            c.contains(r#"streamDriver.authMode="x509/certvalid""#),
            "{c}"
        );
        assert!(c.contains(r#"streamDriver.CAFile="/tmp/x/ca.pem""#), "{c}");
    }
}
