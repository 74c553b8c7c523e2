//! Test support for end-to-end runs of the `rtnode` binary: a node process killed on drop, a
//! small `wiki` spec (HOUR segments, dimensions `page` and `user`, metrics `count` and
//! `added`), events, and readers of what the node leaves on disk (deep-storage descriptors,
//! sink directories, the commit record). [`cluster`] plays the rest of a Druid cluster; it
//! needs `mod announce_support;` next to `mod node_support;` in the test crate.

#![allow(dead_code)]

pub mod cluster;

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rtnode::segment::descriptor::DataSegment;
use rtnode::storage::metadata::{MetadataStore, MetadataStoreConfig};
use serde_json::{Value, json};

/// An `rtnode run` process; killed (SIGKILL) and reaped on drop if still running.
pub struct Node {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    status: Option<ExitStatus>,
}

impl Node {
    /// Starts `rtnode run --spec {spec} [--exit-when-done] -D {prop}…` in `workdir`; stdout
    /// and stderr go to files there; stdin is a pipe when `stdin` is true.
    pub fn start(
        workdir: &Path,
        spec: &Path,
        exit_when_done: bool,
        props: &[String],
        stdin: bool,
    ) -> Node {
        let stdout = workdir.join("node.stdout");
        let stderr = workdir.join("node.stderr");
        let mut command = Command::new(env!("CARGO_BIN_EXE_rtnode"));
        command.arg("run").arg("--spec").arg(spec);
        if exit_when_done {
            command.arg("--exit-when-done");
        }
        for prop in props {
            command.arg("-D").arg(prop);
        }
        let child = command
            .current_dir(workdir)
            .env("RUST_LOG", "info")
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start rtnode");
        Node {
            child,
            stdout,
            stderr,
            status: None,
        }
    }

    /// Takes the stdin pipe (dropping it ends the input).
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.child.stdin.take().expect("stdin is piped")
    }

    /// Sends SIGTERM (graceful stop).
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -TERM {pid} failed");
    }

    /// True while the process has not exited.
    pub fn running(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status.is_none()
    }

    /// Waits for the exit, at most `timeout` (then panics with the node's log).
    pub async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        while self.running() {
            if Instant::now() >= deadline {
                panic!(
                    "rtnode still running after {timeout:?}; log:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.status.expect("exited")
    }

    /// Waits for a successful exit and returns the summary (the last stdout line).
    pub async fn wait_success(&mut self, timeout: Duration) -> Value {
        let status = self.wait(timeout).await;
        assert!(
            status.success(),
            "rtnode failed: {status}\n{}",
            self.stderr()
        );
        let stdout = std::fs::read_to_string(&self.stdout).expect("stdout");
        let last = stdout.lines().last().expect("a summary line");
        serde_json::from_str(last).expect("the summary is JSON")
    }

    /// The log so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
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

/// A free loopback port (for `druid.port`; nothing listens there).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("free port")
}

/// One event line.
pub fn event(time: &str, page: &str, user: &str, added: i64) -> String {
    json!({"timestamp": time, "page": page, "user": user, "added": added}).to_string() + "\n"
}

/// Writes `{dir}/spec.json`: datasource `wiki`, HOUR segments, no query granularity, the given
/// firehose, and `tuning` merged over `{basePersistDirectory: {dir}/persist}`.
pub fn write_spec(dir: &Path, firehose: Value, tuning: Value) -> PathBuf {
    let mut tuning_config = json!({
        "type": "realtime",
        "basePersistDirectory": persist_base(dir).display().to_string(),
    });
    for (key, value) in tuning.as_object().expect("tuning is an object") {
        tuning_config[key] = value.clone();
    }
    let spec = json!([{
        "dataSchema": {
            "dataSource": "wiki",
            "parser": {"type": "string", "parseSpec": {"format": "json",
                "timestampSpec": {"column": "timestamp", "format": "iso"},
                "dimensionsSpec": {"dimensions": ["page", "user"]}}},
            "metricsSpec": [
                {"type": "count", "name": "count"},
                {"type": "longSum", "name": "added", "fieldName": "added"}
            ],
            "granularitySpec": {"segmentGranularity": "HOUR", "queryGranularity": "NONE"}
        },
        "ioConfig": {"type": "realtime", "firehose": firehose},
        "tuningConfig": tuning_config
    }]);
    let path = dir.join("spec.json");
    std::fs::write(&path, spec.to_string()).expect("write spec");
    path
}

/// A `local` firehose over `{dir}/in/*.json`, holding `lines`.
pub fn local_firehose(dir: &Path, lines: &str) -> Value {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).expect("input dir");
    std::fs::write(input.join("events-1.json"), lines).expect("write events");
    json!({"type": "local", "baseDir": input.display().to_string(), "filter": "*.json"})
}

/// `basePersistDirectory` of the specs written by [`write_spec`].
pub fn persist_base(dir: &Path) -> PathBuf {
    dir.join("persist")
}

/// `{basePersistDirectory}/wiki/{start}_{end}` of hour `hour` of 2015-09-12.
pub fn sink_dir(dir: &Path, hour: u32) -> PathBuf {
    persist_base(dir)
        .join("wiki")
        .join(hour_interval(hour).replace('/', "_"))
}

/// `2015-09-12T{hh}:00:00.000Z/2015-09-12T{hh+1}:00:00.000Z` (hours 0 to 22).
pub fn hour_interval(hour: u32) -> String {
    format!("{}/{}", hour_start(hour), hour_start(hour + 1))
}

/// `2015-09-12T{hh}:00:00.000Z`: the start of hour `hour`, also its sink version.
pub fn hour_start(hour: u32) -> String {
    format!("2015-09-12T{hour:02}:00:00.000Z")
}

/// The segment identifier of hour `hour` (partition 0, version = interval start).
pub fn hour_identifier(hour: u32) -> String {
    format!(
        "wiki_{}_{}_{}",
        hour_start(hour),
        hour_start(hour + 1),
        hour_start(hour)
    )
}

/// Druid's local deep-storage `descriptor.json` of hour `hour`, under `{workdir}/var/druid/segments`.
pub fn descriptor_path(workdir: &Path, hour: u32) -> PathBuf {
    workdir
        .join("var/druid/segments/wiki")
        .join(hour_interval(hour).replace('/', "_"))
        .join(hour_start(hour))
        .join("0/descriptor.json")
}

/// Reads a published `descriptor.json` once it exists (waits up to `timeout`).
pub async fn read_descriptor(path: &Path, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(bytes) = std::fs::read(path)
            && let Ok(value) = serde_json::from_slice(&bytes)
        {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The firehose checkpoint in the commit record of datasource `wiki` (`None` before the first
/// persist).
pub fn committed_checkpoint(dir: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(persist_base(dir).join("wiki/commit.json")).ok()?;
    let record: Value = serde_json::from_str(text.lines().next()?).ok()?;
    record.get("checkpoint").cloned()
}

/// The realtime DataSegment Druid announces for hour `hour` of `wiki`: field by field what
/// `Sink.getSegment()` serializes.
pub fn realtime_segment_json(hour: u32) -> Value {
    json!({
        "dataSource": "wiki",
        "interval": hour_interval(hour),
        "version": hour_start(hour),
        "loadSpec": {},
        "dimensions": "",
        "metrics": "count,added",
        "shardSpec": {"type": "none"},
        "binaryVersion": null,
        "size": 0,
        "identifier": hour_identifier(hour),
    })
}

/// Three rows in hour 1 and two in hour 2 of 2015-09-12.
pub fn two_hours() -> String {
    [
        event("2015-09-12T01:05:00Z", "Apple", "ann", 10),
        event("2015-09-12T01:20:00Z", "Pear", "bob", 20),
        event("2015-09-12T01:59:59Z", "Apple", "cid", 30),
        event("2015-09-12T02:00:00Z", "Plum", "ann", 40),
        event("2015-09-12T02:30:00Z", "Apple", "bob", 50),
    ]
    .concat()
}

/// `count` events `step_s` seconds apart from `start` (distinct users: no rollup).
pub fn events_from(start: &str, count: usize, step_s: i64, tag: &str) -> String {
    let start_ms = rtnode::time::parse_iso(start).unwrap();
    (0..count)
        .map(|i| {
            let time = rtnode::time::format_iso(start_ms + i as i64 * step_s * 1000);
            event(&time, "Apple", &format!("{tag}{i}"), 1)
        })
        .collect()
}

/// Sinks of the commit record as `(interval, state)`.
pub fn sink_states(dir: &Path) -> Vec<(String, String)> {
    let path = persist_base(dir).join("wiki/commit.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let record: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    record["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["interval"].to_string(), s["state"].to_string()))
        .collect()
}

/// True when the commit record lists exactly `sinks` sinks, all published.
pub fn all_pushed(dir: &Path, sinks: usize) -> bool {
    let states = sink_states(dir);
    states.len() == sinks && states.iter().all(|(_, state)| state == "\"pushed\"")
}

/// `(identifier, rows)` of the segments in a run summary, sorted.
pub fn summary_segments(summary: &Value) -> Vec<(String, u64)> {
    let mut segments: Vec<(String, u64)> = summary["dataSources"][0]["segments"]
        .as_array()
        .expect("a segments array")
        .iter()
        .map(|s| {
            let identifier = s["identifier"].as_str().expect("an identifier");
            (identifier.to_string(), s["rows"].as_u64().expect("rows"))
        })
        .collect();
    segments.sort();
    segments
}

/// The used `wiki` segments of the SQLite metadata store under `{workdir}/var/druid`, as
/// DataSegment JSON sorted by interval.
pub async fn used_segments(workdir: &Path) -> Vec<Value> {
    let config = MetadataStoreConfig::sqlite(workdir.join("var/druid/metadata.db"));
    let store = MetadataStore::connect(&config)
        .await
        .expect("metadata store");
    let mut used: Vec<Value> = store
        .used_segments("wiki")
        .await
        .expect("used segments")
        .iter()
        .map(DataSegment::to_json)
        .collect();
    used.sort_by_key(|s| s["interval"].as_str().unwrap_or_default().to_string());
    used
}
