//! Shared by the broker end-to-end tests (`e2e_kafka`, `e2e_rabbitmq`): an `rtnode run` process
//! with its log, a seeded generator, a plain HTTP GET, and working directories.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The longest wait for one step of a test (a node's start, stop or summary).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// xorshift64*, seeded: the test's random choices repeat run to run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// An `rtnode run` process, its output in `{dir}/{name}.log` / `.out`; killed on drop.
pub struct Node {
    child: Child,
    /// The node's log (its standard error).
    pub log: PathBuf,
    out: PathBuf,
    /// The node's HTTP port.
    pub port: u16,
}

impl Node {
    pub fn start(dir: &Path, spec: &Path, name: &str, exit_when_done: bool) -> Node {
        Self::start_with(dir, spec, name, exit_when_done, &[])
    }

    pub fn start_with(
        dir: &Path,
        spec: &Path,
        name: &str,
        exit_when_done: bool,
        props: &[String],
    ) -> Node {
        let port = free_port();
        let log = dir.join(format!("{name}.log"));
        let out = dir.join(format!("{name}.out"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_rtnode"));
        command
            .arg("run")
            .arg("--spec")
            .arg(spec)
            .args(["-D", &format!("druid.plaintextPort={port}")]);
        for prop in props {
            command.arg("-D").arg(prop);
        }
        if exit_when_done {
            command.arg("--exit-when-done");
        }
        let child = command
            .current_dir(dir)
            .env(
                "RUST_LOG",
                std::env::var("RTNODE_E2E_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start rtnode");
        Node {
            child,
            log,
            out,
            port,
        }
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Panics with the log when the node stopped by itself.
    pub fn assert_running(&mut self) {
        if !self.running() {
            panic!(
                "the node stopped by itself: {:?}\n{}",
                self.child.try_wait(),
                self.log_tail()
            );
        }
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    /// Waits until the node serves HTTP (its signal handlers are installed by then), then
    /// sends SIGTERM: a graceful stop.
    pub fn stop(&mut self) {
        let deadline = Instant::now() + STEP_TIMEOUT;
        while http_get(self.port, "/status/health").is_none() {
            self.assert_running();
            assert!(Instant::now() < deadline, "the node never served HTTP");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.terminate();
    }

    /// SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }

    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the node did not exit within {timeout:?}\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for exit 0 and returns the summary line's datasource entry.
    pub fn wait_summary(&mut self, timeout: Duration) -> Value {
        let status = self.wait(timeout);
        assert!(status.success(), "rtnode: {status}\n{}", self.log_tail());
        let out = std::fs::read_to_string(&self.out).unwrap();
        let summary: Value = serde_json::from_str(out.lines().last().expect("a summary")).unwrap();
        summary["dataSources"][0].clone()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `ingest/events/unparseable` of `wiki` from `GET /metrics` (`None` until served).
    pub fn unparseable_metric(&self) -> Option<u64> {
        let body = http_get(self.port, "/metrics")?;
        body.lines()
            .filter(|l| l.starts_with("druid_ingest_events_unparseable"))
            .find(|l| l.contains("dataSource=\"wiki\""))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_string())
}

/// A temporary working directory; kept (and named on stderr) when `RTNODE_E2E_KEEP` is set.
pub fn workdir(prefix: &str) -> tempfile::TempDir {
    let keep = std::env::var_os("RTNODE_E2E_KEEP").is_some();
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .disable_cleanup(keep)
        .tempdir()
        .unwrap();
    if keep {
        eprintln!("working directory: {}", tmp.path().display());
    }
    tmp
}
