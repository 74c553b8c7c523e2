//! Crash test of the commit protocol: 2,000,000 events, small `maxRowsInMemory`, HOUR segments
//! with `messageTime`; the node is killed 20 times — `kill -9` at random moments, and aborts at
//! each crash point between persist, commit, merge, push, publish and handoff — and restarted
//! each time. When it finishes, the published segments hold exactly the input's totals, and the
//! dead-letter file holds every unparseable line of the input (at least once).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rtnode::storage::metadata::{MetadataStore, MetadataStoreConfig};
use serde_json::json;

const EVENTS: u64 = 2_000_000;
const DAY_START_MS: i64 = 1_467_000_000_000 - 1_467_000_000_000 % 86_400_000;

/// Event count and the sums of `added`, `deleted`, `delta`.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct Totals {
    count: i64,
    added: i64,
    deleted: i64,
    delta: i64,
}

/// A small deterministic generator (xorshift), so the test does not depend on Python.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Writes `EVENTS` JSON lines over one day (time-ordered with ±2 s jitter), and an unparseable
/// line after every 10,000th; returns the totals and the unparseable lines.
fn generate(path: &Path) -> (Totals, Vec<String>) {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut totals = Totals::default();
    let mut broken = Vec::new();
    for i in 0..EVENTS {
        if i % 10_000 == 0 {
            broken.push(format!("{{broken {i}"));
            writeln!(out, "{}", broken.last().unwrap()).unwrap();
        }
        let base = DAY_START_MS + (i as i64 * 86_399_000) / EVENTS as i64;
        let t = (base + (rng.next() % 4_000) as i64 - 2_000)
            .clamp(DAY_START_MS, DAY_START_MS + 86_399_999);
        let added = (rng.next() % 5_000) as i64;
        let deleted = (rng.next() % 500) as i64;
        let (page, user) = (rng.next() % 2_000, rng.next() % 300);
        totals.count += 1;
        totals.added += added;
        totals.deleted += deleted;
        totals.delta += added - deleted;
        writeln!(out, r#"{{"ts":{t},"page":"p{page}","user":"u{user}","added":{added},"deleted":{deleted},"delta":{}}}"#, added - deleted).unwrap();
    }
    out.flush().unwrap();
    (totals, broken)
}

fn write_spec(dir: &Path, input: &Path) -> PathBuf {
    let spec = json!([{
        "dataSchema": {
            "dataSource": "crash",
            "parser": {"type": "string", "parseSpec": {"format": "json", "timestampSpec": {"column": "ts", "format": "millis"},
                "dimensionsSpec": {"dimensions": ["page", "user"]}}},
            "metricsSpec": [
                {"type": "count", "name": "count"},
                {"type": "longSum", "name": "added", "fieldName": "added"},
                {"type": "longSum", "name": "deleted", "fieldName": "deleted"},
                {"type": "longSum", "name": "delta", "fieldName": "delta"}
            ],
            "granularitySpec": {"segmentGranularity": "HOUR", "queryGranularity": "MINUTE", "rollup": true}
        },
        "ioConfig": {"type": "realtime", "firehose": {"type": "local", "baseDir": input.display().to_string(), "filter": "*.json"}},
        "tuningConfig": {"type": "realtime", "maxRowsInMemory": 20000, "windowPeriod": "PT10M", "rejectionPolicy": {"type": "messageTime"},
            "deadLetterDirectory": dir.join("dead").display().to_string()}
    }]);
    let path = dir.join("spec.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    path
}

fn start(workdir: &Path, spec: &Path, crash_at: Option<&str>, round: usize) -> Child {
    let log = std::fs::File::create(workdir.join(format!("node-{round}.log"))).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_rtnode"));
    command
        .args([
            "run",
            "--spec",
            spec.to_str().unwrap(),
            "--exit-when-done",
            "-D",
            "druid.plaintextPort=0",
        ])
        .current_dir(workdir)
        .stdout(Stdio::null())
        .stderr(log);
    command.env("RUST_LOG", "info");
    if let Some(point) = crash_at {
        command.env("RTNODE_CRASH_AT", point);
    }
    command.spawn().unwrap()
}

/// The end of a node's log, for failure messages.
fn log_tail(workdir: &Path, round: usize) -> String {
    let text =
        std::fs::read_to_string(workdir.join(format!("node-{round}.log"))).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Kills the child on drop, so a failing test leaves no node behind.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Sums the rows of every segment the metadata store publishes.
async fn published_totals(workdir: &Path) -> (Totals, usize) {
    let store = MetadataStore::connect(&MetadataStoreConfig::sqlite(
        workdir.join("var/druid/metadata.db"),
    ))
    .await
    .unwrap();
    let segments = store.used_segments("crash").await.unwrap();
    let mut totals = Totals::default();
    for segment in &segments {
        let zip = segment.load_spec["path"].as_str().unwrap();
        let mut rows = Vec::new();
        rtnode::segment::dump::dump_rows(Path::new(zip), &mut rows).unwrap();
        for line in String::from_utf8(rows).unwrap().lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            totals.count += row["count"].as_i64().unwrap();
            totals.added += row["added"].as_i64().unwrap();
            totals.deleted += row["deleted"].as_i64().unwrap();
            totals.delta += row["delta"].as_i64().unwrap();
        }
    }
    (totals, segments.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_crashes_lose_nothing_and_count_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let (expected, broken) = generate(&input.join("events.json"));
    let spec = write_spec(tmp.path(), &input);
    let crash_points = [
        "persist.after_hydrants:3",
        "persist.after_commit:5",
        "handoff.after_merge:2",
        "handoff.after_push:1",
        "handoff.after_publish:2",
        "handoff.after_remove_record:1",
        "persist.after_commit:1",
    ];
    let mut rng = Rng(42);
    let mut kills = 0;
    for round in 0..20 {
        let crash_at = (round % 3 == 1).then(|| crash_points[(round / 3) % crash_points.len()]);
        let mut node = Node(start(tmp.path(), &spec, crash_at, round));
        match crash_at {
            Some(point) => {
                let status = wait_with_timeout(&mut node.0, Duration::from_secs(180))
                    .unwrap_or_else(|| {
                        panic!(
                            "node did not stop at {point}:\n{}",
                            log_tail(tmp.path(), round)
                        )
                    });
                assert!(
                    status.code().is_none() || status.success(),
                    "round {round}: {status}"
                );
            }
            None => {
                std::thread::sleep(Duration::from_millis(300 + rng.next() % 2_500));
                let _ = node.0.kill();
                let _ = node.0.wait();
            }
        }
        kills += 1;
    }
    let mut node = Node(start(tmp.path(), &spec, None, 20));
    let status = wait_with_timeout(&mut node.0, Duration::from_secs(600)).unwrap_or_else(|| {
        panic!(
            "the final run did not finish:\n{}",
            log_tail(tmp.path(), 20)
        )
    });
    assert!(
        status.success(),
        "final run: {status}\n{}",
        log_tail(tmp.path(), 20)
    );
    let (actual, segments) = published_totals(tmp.path()).await;
    assert_eq!(kills, 20);
    assert_eq!(segments, 24, "one segment per hour");
    assert_eq!(actual, expected);
    let letters = std::fs::read_to_string(tmp.path().join("dead/crash_0.jsonl")).unwrap();
    let mut lettered: Vec<String> = letters
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["reason"] == "unparseable")
        .map(|l| l["event"].as_str().unwrap().to_string())
        .collect();
    lettered.sort();
    lettered.dedup();
    let mut broken = broken;
    broken.sort();
    assert_eq!(
        lettered, broken,
        "every unparseable line has its dead letter"
    );
}
