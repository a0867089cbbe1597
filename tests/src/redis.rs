//! A real `redis-server` (the Debian package, installed by `.ci/run`) on a free
//! loopback port, for the fleet tests: its own directory, no persistence, killed
//! on drop. It can be stopped and started again on the same port, empty, as a
//! Redis that restarted would be.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server.
#[derive(Debug)]
pub struct Redis {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// Where the server binary is: `PALISADE_REDIS_SERVER`, else the Debian path.
fn server() -> PathBuf {
    std::env::var_os("PALISADE_REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/redis-server"))
}

impl Redis {
    /// Starts a server on a port the kernel picked as free.
    pub fn start() -> Redis {
        // redis-server cannot bind port 0 (it means "no TCP"); take a port the
        // kernel hands out, release it, and retry if another process took it first.
        for _ in 0..20 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut r = Redis {
                port,
                dir: tempfile::tempdir().expect("tempdir"),
                child: None,
            };
            if r.spawn() {
                return r;
            }
        }
        panic!("redis-server did not start on any of 20 free ports");
    }

    /// Starts a server on `port` (a test that first pointed a sidecar there).
    pub fn start_on(port: u16) -> Redis {
        let mut r = Redis {
            port,
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        assert!(r.spawn(), "redis-server could not listen on {port}");
        r
    }

    /// `redis://127.0.0.1:port/0`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops the server (SIGKILL: nothing is saved, as in a crash).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on {}",
                self.port
            );
        }
    }

    /// Runs a command through redis-cli's protocol on a plain socket; for checks.
    pub fn cmd(&self, args: &[&str]) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).expect("write");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = vec![0u8; 65536];
        let n = s.read(&mut buf).expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn answers_ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// Starts the process and waits until it answers PING; false if it exited
    /// (the port was taken).
    fn spawn(&mut self) -> bool {
        let child = Command::new(server())
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => panic!(
                "cannot run {} ({e}): install the redis-server package (.ci/run does)",
                server().display()
            ),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if self.answers_ping() {
                self.child = Some(child);
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
