//! Runs the real `palisade` binary (built by this crate as its own bin) with a
//! config file, waits for it to log where it listens, and keeps its log lines.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A running `palisade run`.
#[derive(Debug)]
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    /// Every line it wrote to stderr so far (its logs, JSON when so configured).
    pub lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Starts `bin run --config <file with config>` and waits for "proxy listening".
    pub fn start(bin: &Path, config: &str) -> Running {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("palisade.toml");
        // The admin listener's default port is fixed; tests run side by side.
        let config = if config.contains("[admin]") {
            config.to_string()
        } else {
            format!("{config}\n[admin]\nlisten = \"127.0.0.1:0\"\n")
        };
        std::fs::write(&path, config).expect("write config");
        // The default store path is relative: keep it inside the test's directory.
        let mut child = Command::new(bin)
            .current_dir(dir.path())
            .args(["run", "--config"])
            .arg(&path)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn palisade");
        let stderr = child.stderr.take().expect("stderr");
        let mut reader = BufReader::new(stderr).lines();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let addr = loop {
            let line = reader
                .next()
                .expect("palisade exited before listening")
                .expect("read stderr");
            lines.lock().expect("lines").push(line.clone());
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["message"] == "proxy listening" {
                break v["addr"]
                    .as_str()
                    .and_then(|a| a.parse().ok())
                    .expect("listening address");
            }
        };
        // Keep reading so the child never blocks on a full pipe.
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in reader.map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Running {
            child,
            addr,
            lines,
            _dir: dir,
        }
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, sig).expect("kill");
    }

    /// All log lines so far, joined.
    pub fn log(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    /// Where the admin listener listens, from its JSON log line (`log.format =
    /// "json"`); fails the test after `EVENTUALLY` if it never logs it.
    pub async fn admin_addr(&self) -> SocketAddr {
        crate::eventually_async("the admin listener is logged", || {
            let log = self.log();
            async move {
                log.lines().find_map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).ok()?;
                    (v["message"].as_str()?.starts_with("admin listening"))
                        .then(|| v["addr"].as_str()?.parse().ok())?
                })
            }
        })
        .await
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
