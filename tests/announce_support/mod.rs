//! Test support for the announce tests: a throwaway ZooKeeper server (Debian's `zookeeper`
//! package, run as `ZooKeeperServerMain` on a free loopback port with a temp data dir) that a
//! test can stop, restart and pause (SIGSTOP/SIGCONT), plus helpers to read znodes the way a
//! Druid broker does (gunzip, falling back to raw bytes).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use zookeeper_client::Client;

const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
const ZOOKEEPER_CONF: &str = "/etc/zookeeper/conf";

/// A ZooKeeper server owned by one test; killed on drop.
pub struct ZkServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl ZkServer {
    /// Starts a server on a free port (installing Debian's `zookeeper` package if missing) and
    /// waits until it answers `ruok`.
    pub fn start() -> ZkServer {
        ensure_installed();
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let config = format!(
            "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\nminSessionTimeout=1000\nmaxSessionTimeout=60000\n\
             4lw.commands.whitelist=ruok\n",
            data.display()
        );
        std::fs::write(dir.path().join("zoo.cfg"), config).expect("zoo.cfg");
        let mut server = ZkServer {
            dir,
            port,
            child: None,
        };
        server.launch();
        server
    }

    /// Returns `127.0.0.1:{port}`.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGKILL: no goodbye to the clients); its data stays for `restart`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Freezes the server process (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("server running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("server log");
        let child = Command::new("java")
            .args(["-Xmx128m", "-XX:+UseSerialGC", "-cp"])
            .arg(format!("{ZOOKEEPER_CONF}:{ZOOKEEPER_JAR}"))
            .arg(format!("-Dzookeeper.log.dir={}", self.dir.path().display()))
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(self.dir.path().join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start java");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if ruok(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        panic!("zookeeper did not start on port {}:\n{log}", self.port);
    }

    /// Returns the server's log directory (for debugging a failed test).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for ZkServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.resume();
        }
        self.stop();
    }
}

fn ruok(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"ruok").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer == "imok"
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("free port")
}

fn ensure_installed() {
    // Tests of one binary run in parallel: one installs, the others wait for it (two apt-gets
    // at once fail on dpkg's lock).
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if std::path::Path::new(ZOOKEEPER_JAR).exists() {
        return;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|status| status.success())
    };
    // A fresh machine may have no package lists yet: update once, then install.
    let installed = apt(&["install", "-y", "zookeeper"])
        || (apt(&["update"]) && apt(&["install", "-y", "zookeeper"]));
    assert!(installed, "apt-get install zookeeper failed");
}

/// Sends the crate's logs to the test output (`RUST_LOG` filters; default `info` for rtnode).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("rtnode=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Opens a plain client session (the test's own view of ZooKeeper).
pub async fn client(server: &ZkServer) -> Client {
    Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(&server.connect_string())
        .await
        .expect("test client connects")
}

/// Gunzips `bytes` when they are gzip, else returns them (Druid's reader rule).
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    } else {
        bytes.to_vec()
    }
}

/// Reads a znode's JSON (gunzipped), `None` when it does not exist.
pub async fn read_json(client: &Client, path: &str) -> Option<Value> {
    match client.get_data(path).await {
        Ok((data, _)) => Some(serde_json::from_slice(&gunzip(&data)).expect("znode holds JSON")),
        Err(zookeeper_client::Error::NoNode) => None,
        Err(error) => panic!("reading `{path}`: {error}"),
    }
}

/// Reads every batch znode under `parent`: `(name, array)` sorted by name.
pub async fn read_batches(client: &Client, parent: &str) -> Vec<(String, Vec<Value>)> {
    let mut children = match client.list_children(parent).await {
        Ok(children) => children,
        Err(zookeeper_client::Error::NoNode) => return Vec::new(),
        Err(error) => panic!("listing `{parent}`: {error}"),
    };
    children.sort();
    let mut batches = Vec::new();
    for name in children {
        if let Some(Value::Array(entries)) = read_json(client, &format!("{parent}/{name}")).await {
            batches.push((name, entries));
        }
    }
    batches
}

/// Polls `check` every 100 ms until it returns true or `timeout` passes; returns whether it did.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A realtime-style segment of datasource `wiki`, hour `hour` of 2015-09-12, partition `partition`.
pub fn segment(hour: u32, partition: u32) -> rtnode::segment::descriptor::DataSegment {
    let start = format!("2015-09-12T{:02}:00:00.000Z", hour % 24);
    let end = format!("2015-09-12T{:02}:00:00.000Z", hour % 24 + 1);
    let end = if hour % 24 == 23 {
        "2015-09-13T00:00:00.000Z".to_string()
    } else {
        end
    };
    rtnode::segment::descriptor::DataSegment {
        data_source: "wiki".into(),
        interval: format!("{start}/{end}").parse().expect("interval"),
        version: start,
        load_spec: serde_json::Map::new(),
        dimensions: vec!["page".into(), "user".into()],
        metrics: vec!["count".into(), "added".into()],
        shard_spec: rtnode::segment::descriptor::ShardSpec::Linear {
            partition_num: partition,
        },
        binary_version: None,
        size_bytes: 0,
    }
}
