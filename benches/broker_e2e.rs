//! Broker → published segments through a running node, the node pinned to one core.
//!
//! A measured run, not criterion samples (each run needs a broker full of data and a node):
//!
//! 1. `python3 ../shared/bench/gen_events.py N` events (generated once under
//!    `target/bench-data`) are produced to the broker before the node starts: Kafka —
//!    librdkafka's mock cluster, a topic of at least 4 partitions with at most
//!    [`MESSAGES_PER_PARTITION`] events in each (the mock keeps 5 MiB per partition; 1,000,000
//!    events make 67 partitions); RabbitMQ — the server on 127.0.0.1:5672, a durable queue.
//! 2. `rtnode run` (`taskset -c 0`) ingests them: DAY segments, minute rollup over the 9
//!    dimensions, count + 3 longSums + hyperUnique, `maxBytesInMemory` 256 MB.
//!    - Kafka: the firehose has `endOffsets: "latest"` and the node `--exit-when-done`: it reads
//!      every partition to the end it had at the start, persists, merges, pushes, publishes
//!      and exits. The clock runs from its start to its exit.
//!    - RabbitMQ (a queue has no end): once the node's `ingest/events/processed` metric reaches
//!      N it gets SIGTERM (persist, commit record, acknowledge, exit — a graceful stop does not
//!      push). It is restarted with the same firehose wrapped in an already-ended `timed`
//!      firehose and `--exit-when-done`: it resumes at the commit record, reads nothing,
//!      merges, pushes and publishes. The clock stops when it exits.
//!      `BROKER_BENCH_KAFKA_MODE=restart` measures Kafka this way too (the protocol of the
//!      measurements before 2026-12-05 22:00 in BENCHMARKS.md).
//!
//! Before each node start the bench calls `sync(2)`, so that the node's first fsync does not
//! flush what the bench or an earlier run left pending (on a filesystem mounted with `discard`,
//! an earlier run's deleted files are trimmed at the next journal commit: up to ~0.15 s).
//!
//! events/s = N / wall time of the node runs. The published segments are read back and their
//! `count` must sum to N (Kafka: exactly once; RabbitMQ: every event acknowledged once here,
//! as nothing crashes). Run with the producer on the other core:
//!
//! ```text
//! taskset -c 1 cargo bench --bench broker_e2e              # both brokers
//! BROKER_BENCH=kafka BROKER_BENCH_EVENTS=2000000 taskset -c 1 cargo bench --bench broker_e2e
//! ```
//!
//! `BROKER_BENCH_KAFKA_RUN=N` produces runs of N consecutive events to each partition in turn
//! instead of one event each (the default: how a producer keying events at random lays them
//! out; a producer's sticky partitioning of keyless events gives runs of about a batch).
//! Either way each partition spans the whole day, but the node reads a partition's events of a
//! few minutes together instead of ~10 events of each minute of ~1.6 hours: the index's
//! per-minute rollup tables stay in cache.
//! `BROKER_BENCH_KAFKA_PROPERTIES=key=value,…` adds Kafka consumer properties to the node's
//! spec (to measure librdkafka settings); `BROKER_BENCH_KEEP` keeps the work directories;
//! `BROKER_BENCH_LOG` sets the node's log filter (default `warn`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rtnode::firehose::kafka::mock::MockKafka;
use rtnode::segment::{Column, Segment};
use serde_json::{Value, json};

const TOPIC: &str = "events";
/// The topic has at least this many partitions (the exactly-once tests' shape)…
const MIN_PARTITIONS: i32 = 4;
/// …and at most this many events in each: ~4 MiB at ~280 bytes an event, within the mock
/// cluster's 5 MiB per partition.
const MESSAGES_PER_PARTITION: u64 = 15_000;
const DIMENSIONS: [&str; 9] = [
    "page",
    "user",
    "language",
    "country",
    "city",
    "namespace",
    "channel",
    "isRobot",
    "isAnonymous",
];

fn main() {
    let which = std::env::var("BROKER_BENCH").unwrap_or_else(|_| "all".into());
    let count = |default: u64| {
        std::env::var("BROKER_BENCH_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    if which == "all" || which == "kafka" {
        let events = count(1_000_000);
        report("kafka (mock cluster)", events, bench_kafka(events));
    }
    if which == "all" || which == "rabbitmq" {
        if TcpStream::connect("127.0.0.1:5672").is_err() {
            println!("rabbitmq: nothing listens on 127.0.0.1:5672, skipped");
            return;
        }
        let events = count(1_000_000);
        report("rabbitmq (127.0.0.1:5672)", events, bench_rabbitmq(events));
    }
}

fn report(name: &str, events: u64, run: Run) {
    let total = run.ingest + run.publish.unwrap_or_default();
    let phases = match run.publish {
        Some(publish) => format!(
            "ingest {:.2} s, merge+push+publish {:.2} s",
            run.ingest.as_secs_f64(),
            publish.as_secs_f64()
        ),
        None => "one run to the end offsets".to_string(),
    };
    println!(
        "{name}: {events} events -> published segments in {:.2} s = {:.0} events/s \
         ({phases}, node CPU {:.2} s, peak RSS {} MB)",
        total.as_secs_f64(),
        events as f64 / total.as_secs_f64(),
        run.cpu_s,
        run.peak_rss_kb / 1024,
    );
}

/// Wall times and resources of the node runs.
struct Run {
    /// The ingesting run (a run to the input's end: the whole job).
    ingest: Duration,
    /// The restarted run that publishes (a stopped ingest only).
    publish: Option<Duration>,
    cpu_s: f64,
    peak_rss_kb: u64,
}

/// `gen_events.py` output with `events` lines, generated once.
fn event_file(events: u64) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let path = dir.join(format!("events-{events}.json"));
    if !path.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let tmp = path.with_extension("tmp");
        let status = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/gen_events.py"))
            .arg(events.to_string())
            .arg(&tmp)
            .status()
            .expect("python3");
        assert!(status.success(), "gen_events.py failed");
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

fn bench_kafka(events: u64) -> Run {
    let file = event_file(events);
    let kafka = MockKafka::new(1).expect("mock cluster");
    let partitions = kafka_partitions(events);
    kafka.create_topic(TOPIC, partitions).expect("topic");
    let produced = Instant::now();
    produce_kafka(&kafka, &file, partitions);
    println!(
        "kafka: {events} events produced to {partitions} partitions in {:.2} s",
        produced.elapsed().as_secs_f64()
    );
    let mut properties = json!({
        "bootstrap.servers": kafka.bootstrap_servers(),
        "auto.offset.reset": "earliest",
    });
    // `BROKER_BENCH_KAFKA_PROPERTIES=key=value,key=value`: more consumer properties.
    if let Ok(extra) = std::env::var("BROKER_BENCH_KAFKA_PROPERTIES") {
        for pair in extra.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').expect("key=value");
            properties[key] = json!(value);
        }
    }
    let mut firehose = json!({
        "type": "kafka",
        "topic": TOPIC,
        "partitions": 1,
        "consumerProperties": properties,
    });
    let work = workdir("kafka");
    let run = if std::env::var("BROKER_BENCH_KAFKA_MODE").as_deref() == Ok("restart") {
        let processed = AtomicU64::new(0);
        let mut node = NodeRun::start(&work, &firehose, "ingest", false);
        node.ingest_then_publish(events, &processed, &firehose, &work)
    } else {
        firehose["endOffsets"] = json!("latest");
        NodeRun::start(&work, &firehose, "run", true).wait_until_done()
    };
    check_published(&work, events);
    run
}

/// Enough partitions that the mock cluster keeps every event: it drops a partition's oldest
/// messages beyond 5 MiB (librdkafka's `rdkafka_mock.c`), and an event is ~280 bytes.
fn kafka_partitions(events: u64) -> i32 {
    (events.div_ceil(MESSAGES_PER_PARTITION) as i32).max(MIN_PARTITIONS)
}

/// Produces every line of `file`, round robin over the partitions (one event each, or runs of
/// `BROKER_BENCH_KAFKA_RUN` events), before the node starts: the node then reads as fast as it
/// can, never waiting for a producer.
fn produce_kafka(kafka: &MockKafka, file: &Path, partitions: i32) {
    let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(file).unwrap());
    // `BROKER_BENCH_KAFKA_RUN=N`: N consecutive events to each partition in turn.
    let run: u64 = std::env::var("BROKER_BENCH_KAFKA_RUN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    for (m, line) in reader.split(b'\n').enumerate() {
        let partition = (m as u64 / run) % partitions as u64;
        kafka.send(TOPIC, partition as i32, &line.unwrap());
    }
    kafka.flush().expect("flush");
}

fn bench_rabbitmq(events: u64) -> Run {
    let file = event_file(events);
    let queue = format!("rtnode-bench-{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let published_at = Instant::now();
    runtime.block_on(fill_queue(&queue, &file));
    println!(
        "rabbitmq: published {events} events in {:.2} s",
        published_at.elapsed().as_secs_f64()
    );
    let firehose = json!({
        "type": "rabbitmq",
        "connection": {"host": "127.0.0.1", "port": 5672, "username": "guest", "password": "guest"},
        "config": {"exchange": "", "queue": queue, "routingKey": queue, "durable": true,
                   "exclusive": false, "autoDelete": false}
    });
    let work = workdir("rabbitmq");
    let processed = AtomicU64::new(0);
    let mut node = NodeRun::start(&work, &firehose, "ingest", false);
    let run = node.ingest_then_publish(events, &processed, &firehose, &work);
    runtime.block_on(delete_queue(&queue));
    check_published(&work, events);
    run
}

async fn fill_queue(queue: &str, file: &Path) {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    use lapin::{BasicProperties, Connection, ConnectionProperties};
    let connection = Connection::connect(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        ConnectionProperties::default(),
    )
    .await
    .expect("rabbitmq connection");
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), durable, FieldTable::default())
        .await
        .unwrap();
    let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(file).unwrap());
    let mut confirms = Vec::with_capacity(10_000);
    for line in reader.split(b'\n') {
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &line.unwrap(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap();
        confirms.push(confirm);
        if confirms.len() == 10_000 {
            for confirm in confirms.drain(..) {
                confirm.await.unwrap();
            }
        }
    }
    for confirm in confirms {
        confirm.await.unwrap();
    }
    connection.close(0, "published".into()).await.unwrap();
}

async fn delete_queue(queue: &str) {
    use lapin::options::QueueDeleteOptions;
    use lapin::{Connection, ConnectionProperties};
    let connection = Connection::connect(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let _ = channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
    let _ = connection.close(0, "done".into()).await;
}

fn workdir(broker: &str) -> tempfile::TempDir {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix(&format!("broker-{broker}-"))
        .disable_cleanup(std::env::var_os("BROKER_BENCH_KEEP").is_some())
        .tempdir_in(base)
        .unwrap()
}

fn write_spec(dir: &Path, name: &str, firehose: &Value) -> PathBuf {
    let spec = json!([{
        "dataSchema": {
            "dataSource": "bench",
            "parser": {"type": "string", "parseSpec": {"format": "json",
                "timestampSpec": {"column": "timestamp", "format": "auto"},
                "dimensionsSpec": {"dimensions": DIMENSIONS}}},
            "metricsSpec": [
                {"type": "count", "name": "count"},
                {"type": "longSum", "name": "added", "fieldName": "added"},
                {"type": "longSum", "name": "deleted", "fieldName": "deleted"},
                {"type": "longSum", "name": "delta", "fieldName": "delta"},
                {"type": "hyperUnique", "name": "user_unique", "fieldName": "user"}
            ],
            "granularitySpec": {"type": "uniform", "segmentGranularity": "DAY", "queryGranularity": "MINUTE"}
        },
        "ioConfig": {"type": "realtime", "firehose": firehose, "plumber": {"type": "realtime"}},
        "tuningConfig": {
            "type": "realtime",
            "maxRowsInMemory": 100_000_000,
            "maxBytesInMemory": 268_435_456,
            "intermediatePersistPeriod": "PT10M",
            "windowPeriod": "PT10M",
            "rejectionPolicy": {"type": "none"},
            "basePersistDirectory": dir.join("persist").display().to_string()
        }
    }]);
    let path = dir.join(name);
    std::fs::write(&path, spec.to_string()).unwrap();
    path
}

/// An `rtnode run` process pinned to core 0 under `/usr/bin/time -v`.
struct NodeRun {
    child: Child,
    /// Just before the spawn: the run's clock starts here.
    started: Instant,
    port: u16,
    log: PathBuf,
    out: PathBuf,
}

impl NodeRun {
    /// Starts `rtnode run` on `firehose` (spec, log and output files named after `name`).
    fn start(
        work: &tempfile::TempDir,
        firehose: &Value,
        name: &str,
        exit_when_done: bool,
    ) -> NodeRun {
        let dir = work.path();
        let spec = write_spec(dir, &format!("{name}.json"), firehose);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let (log, out) = (
            dir.join(format!("{name}.log")),
            dir.join(format!("{name}.out")),
        );
        let mut command = Command::new("taskset");
        command
            .args(["-c", "0", "/usr/bin/time", "-v"])
            .arg(env!("CARGO_BIN_EXE_rtnode"))
            .args(["run", "--spec"])
            .arg(&spec)
            .args(["-D", &format!("druid.plaintextPort={port}")]);
        if exit_when_done {
            command.arg("--exit-when-done");
        }
        // Writes still pending on this machine (an earlier run's files deleted, with the
        // filesystem's `discard` trimming them at the next journal commit) would otherwise be
        // flushed by the node's first fsync and counted as its start.
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
        let started = Instant::now();
        let child = command
            .current_dir(dir)
            .env(
                "RUST_LOG",
                std::env::var("BROKER_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("taskset, /usr/bin/time and rtnode");
        NodeRun {
            child,
            started,
            port,
            log,
            out,
        }
    }

    /// A run with `--exit-when-done`, to its exit: it must have published (`Run::ingest` is its
    /// wall time).
    fn wait_until_done(mut self) -> Run {
        let status = self.child.wait().unwrap();
        let wall = self.started.elapsed();
        assert!(status.success(), "{}", tail(&self.log));
        let summary = std::fs::read_to_string(&self.out).unwrap();
        assert!(
            summary.contains("\"segments\":[{"),
            "nothing published: {summary}"
        );
        let (cpu_s, peak_rss_kb) = time_v(&self.log);
        Run {
            ingest: wall,
            publish: None,
            cpu_s,
            peak_rss_kb,
        }
    }

    /// Step 2 of the module doc for a broker without an end: stop, restart to publish.
    fn ingest_then_publish(
        &mut self,
        events: u64,
        processed: &AtomicU64,
        firehose: &Value,
        work: &tempfile::TempDir,
    ) -> Run {
        loop {
            if let Some(count) = processed_metric(self.port) {
                processed.store(count, Ordering::Relaxed);
                if count >= events {
                    break;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the node exited: {status}\n{}", tail(&self.log));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let pid = self.rtnode_pid();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let ingest_status = self.child.wait().unwrap();
        assert!(ingest_status.success(), "{}", tail(&self.log));
        let ingest = self.started.elapsed();
        let (cpu_ingest, rss_ingest) = time_v(&self.log);
        let ended =
            json!({"type": "timed", "shutoffTime": "2000-01-01T00:00:00Z", "delegate": firehose});
        let publisher = NodeRun::start(work, &ended, "publish", true).wait_until_done();
        Run {
            ingest,
            publish: Some(publisher.ingest),
            cpu_s: cpu_ingest + publisher.cpu_s,
            peak_rss_kb: rss_ingest.max(publisher.peak_rss_kb),
        }
    }

    /// The rtnode process under `taskset` → `time` (taskset execs; time forks).
    fn rtnode_pid(&self) -> String {
        let children = format!(
            "/proc/{}/task/{}/children",
            self.child.id(),
            self.child.id()
        );
        let text = std::fs::read_to_string(children).expect("the time process's children");
        text.split_whitespace()
            .next()
            .expect("rtnode's pid")
            .to_string()
    }
}

impl Drop for NodeRun {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `ingest/events/processed` of `bench` from the node's `/metrics`.
fn processed_metric(port: u16) -> Option<u64> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response
        .lines()
        .filter(|l| l.starts_with("druid_ingest_events_processed"))
        .find(|l| l.contains("dataSource=\"bench\""))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// (user + system CPU seconds, peak RSS KB) from `/usr/bin/time -v` at the end of `log`.
fn time_v(log: &Path) -> (f64, u64) {
    let text = std::fs::read_to_string(log).unwrap();
    let field = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.trim_start().starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    };
    (
        field("User time") + field("System time"),
        field("Maximum resident set size") as u64,
    )
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The published segments' `count` metric sums to `events`.
fn check_published(work: &tempfile::TempDir, events: u64) {
    let root = work.path().join("var/druid/segments/bench");
    let mut zips = Vec::new();
    find_zips(&root, &mut zips);
    assert!(!zips.is_empty(), "no index.zip under {}", root.display());
    let mut count = 0i64;
    for zip in zips {
        let extracted = work.path().join("extracted");
        std::fs::create_dir_all(&extracted).unwrap();
        rtnode::segment::package::extract_zip(&zip, &extracted).unwrap();
        let segment = Segment::open(&extracted).unwrap();
        let Some(Column::Long(column)) = segment.column("count").unwrap() else {
            panic!("no long count column in {}", zip.display());
        };
        for row in 0..segment.num_rows() {
            count += column.get(row).unwrap();
        }
        drop(segment);
        std::fs::remove_dir_all(&extracted).unwrap();
    }
    assert_eq!(count as u64, events, "published count");
}

fn find_zips(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            find_zips(&path, out);
        } else if path.file_name().is_some_and(|n| n == "index.zip") {
            out.push(path);
        }
    }
}
