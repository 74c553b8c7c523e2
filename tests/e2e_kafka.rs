//! Kafka end to end at node level (issue 6): `rtnode run` processes against librdkafka's mock
//! cluster (the real Kafka protocol on loopback), a 4-partition topic fed by a producer thread
//! while the node consumes, malformed messages mixed in.
//!
//! - 1,000,000 events, the node `kill -9`ed at 15 seeded random moments and restarted each
//!   time: the published segments hold exactly the produced count and sums.
//! - A second node joins the consumer group mid-stream and leaves again: the two nodes'
//!   published segments together hold exactly the produced totals.
//! - The broker goes down and comes back mid-stream: the node never stops, totals are exact.
//! - `rtnode reset-offsets` rewrites the commit record's checkpoint to `earliest` or `latest`.
//!
//! The producer never runs more than [`LAG_LIMIT`] messages per partition ahead of the node's
//! commit record: the mock keeps only ~5 MiB per partition, and a checkpoint that falls out of
//! the retained range stops the node (by design; nothing is skipped silently).
//!
//! Every node run but the last ends with the node killed or stopped while the last hours are
//! still open (Kafka never ends). The last run wraps the same Kafka firehose in a `timed`
//! firehose whose shutoff time has passed: it resumes at the commit record, reads nothing, and
//! `--exit-when-done` closes, merges, pushes and publishes every sink left.

mod e2e_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
use rtnode::firehose::kafka::mock::MockKafka;
use rtnode::storage::metadata::{MetadataStore, MetadataStoreConfig};
use serde_json::{Value, json};

use e2e_support::{Node, Rng, STEP_TIMEOUT, http_get, workdir};

const TOPIC: &str = "events";
const PARTITIONS: i32 = 4;
/// 2016-06-27T00:00:00Z.
const DAY_START_MS: i64 = 1_466_985_600_000;
/// Event times span six hours: six HOUR segments.
const SPAN_HOURS: i64 = 6;
/// Every 101st message is malformed: 10,000 among 1,000,000 events.
const MALFORMED_EVERY: u64 = 101;
/// How far (messages per partition) the producer may run ahead of the commit record.
const LAG_LIMIT: u64 = 50_000;

/// Event count and sum of `added`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    count: i64,
    added: i64,
}

/// A hash of `i`, for event contents independent of the production order.
fn mix(i: u64) -> u64 {
    let mut x = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The messages of one test: message `m` goes to partition `m % 4` at offset `m / 4`; it is
/// malformed when `m % 101 == 100`; good events are time-ordered over [`SPAN_HOURS`].
#[derive(Debug, Clone, Copy)]
struct Stream {
    /// Good events (a multiple of 100).
    events: u64,
}

impl Stream {
    fn messages(&self) -> u64 {
        self.events + self.malformed()
    }

    fn malformed(&self) -> u64 {
        self.events / (MALFORMED_EVERY - 1)
    }

    fn is_malformed(m: u64) -> bool {
        m % MALFORMED_EVERY == MALFORMED_EVERY - 1
    }

    /// The payload of message `m` and, for a good event, its `added`.
    fn message(&self, m: u64) -> (Vec<u8>, Option<i64>) {
        let h = mix(m);
        if Self::is_malformed(m) {
            let ts = DAY_START_MS + (h % 1000) as i64;
            let bytes = match (m / MALFORMED_EVERY) % 9 {
                0 => format!("{{\"ts\":{ts},\"page\":\"p").into_bytes(),
                1 => format!("not json {m}").into_bytes(),
                2 => vec![0xff, 0xfe, b'{', b'}', 0xc3],
                3 => format!("{{\"page\":\"no time {m}\",\"added\":1}}").into_bytes(),
                4 => format!("{{\"ts\":\"the {m}th of never\",\"added\":1}}").into_bytes(),
                5 => b"{\"ts\":null,\"page\":\"p\"}".to_vec(),
                6 => format!("[{ts},\"p\"]").into_bytes(),
                7 => b"  \n".to_vec(),
                _ => format!("{{\"ts\":{ts},,\"added\":2}}").into_bytes(),
            };
            return (bytes, None);
        }
        let i = m - m / MALFORMED_EVERY;
        let ts = DAY_START_MS + (i as i64 * SPAN_HOURS * 3_600_000) / self.events as i64;
        let added = (h % 1000) as i64;
        let payload = format!(
            "{{\"ts\":{ts},\"page\":\"p{}\",\"added\":{added}}}",
            (h >> 20) % 100
        );
        (payload.into_bytes(), Some(added))
    }

    fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for m in 0..self.messages() {
            if let (_, Some(added)) = self.message(m) {
                totals.count += 1;
                totals.added += added;
            }
        }
        totals
    }

    /// Messages in each partition once all are produced (the end offsets).
    fn end_offsets(&self) -> BTreeMap<i32, i64> {
        let total = self.messages();
        (0..PARTITIONS)
            .map(|p| (p, ((total + 3 - p as u64) / 4) as i64))
            .collect()
    }

    /// Malformed messages at offsets `from[p]..` of each partition.
    fn malformed_after(&self, from: &BTreeMap<i32, i64>) -> u64 {
        (0..self.messages())
            .filter(|&m| Self::is_malformed(m))
            .filter(|&m| {
                let (p, offset) = ((m % 4) as i32, (m / 4) as i64);
                offset >= from.get(&p).copied().unwrap_or(0)
            })
            .count() as u64
    }
}

/// The lowest position of the four partitions (0 for a partition not named).
fn slowest(positions: &BTreeMap<i32, i64>) -> i64 {
    (0..PARTITIONS)
        .map(|p| positions.get(&p).copied().unwrap_or(0))
        .min()
        .unwrap_or(0)
}

/// An idempotent producer (a produce request retried across a broker outage must not
/// duplicate messages in the log; the test counts on the log holding exactly the stream).
struct Producer(ThreadedProducer<DefaultProducerContext>);

impl Producer {
    fn new(brokers: &str) -> Producer {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("batch.num.messages", "1000")
            .create()
            .expect("producer");
        Producer(producer)
    }

    fn send(&self, partition: i32, payload: &[u8]) {
        let mut record = BaseRecord::<(), [u8]>::to(TOPIC)
            .partition(partition)
            .payload(payload);
        loop {
            match self.0.send(record) {
                Ok(()) => return,
                Err((_, returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    fn flush(&self) {
        self.0.flush(Duration::from_secs(60)).expect("flush");
    }
}

/// A [`Stream`] produced by a background thread: in order, at most `rate` messages a second,
/// only below `allowed` (the test opens the gate phase by phase), and never more than
/// [`LAG_LIMIT`] messages per partition ahead of the commit record(s).
struct Production {
    stream: Stream,
    rate: u64,
    allowed: AtomicU64,
    produced: AtomicU64,
    done: AtomicBool,
    abort: AtomicBool,
}

impl Production {
    fn new(stream: Stream, rate: u64, allowed: u64) -> Production {
        Production {
            stream,
            rate,
            allowed: AtomicU64::new(allowed),
            produced: AtomicU64::new(0),
            done: AtomicBool::new(false),
            abort: AtomicBool::new(false),
        }
    }

    /// The producer thread's body; `committed` reads the nodes' durable positions.
    fn run(&self, brokers: &str, committed: &dyn Fn() -> BTreeMap<i32, i64>) {
        let producer = Producer::new(brokers);
        let started = Instant::now();
        let total = self.stream.messages();
        for m in 0..total {
            if m % 1000 == 0 {
                self.produced.store(m, Ordering::Release);
                loop {
                    if self.abort.load(Ordering::Relaxed) {
                        return;
                    }
                    let paced = started.elapsed().as_secs_f64() * self.rate as f64 >= m as f64;
                    if paced
                        && m < self.allowed.load(Ordering::Acquire)
                        && m / 4 < slowest(&committed()) as u64 + LAG_LIMIT
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            let (payload, _) = self.stream.message(m);
            producer.send((m % 4) as i32, &payload);
        }
        producer.flush();
        self.produced.store(total, Ordering::Release);
        self.done.store(true, Ordering::Release);
    }

    /// Opens the gate up to `fraction` of the stream.
    fn allow(&self, fraction: f64) {
        let messages = (self.stream.messages() as f64 * fraction) as u64;
        self.allowed.store(messages, Ordering::Release);
    }

    fn produced(&self) -> u64 {
        self.produced.load(Ordering::Acquire)
    }

    fn done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

/// Stops the producer thread when the test fails (a scoped thread is joined on unwinding).
struct AbortOnDrop<'a>(&'a Production);

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        self.0.abort.store(true, Ordering::Relaxed);
    }
}

/// `(low, high)` watermarks of every partition.
fn watermarks(brokers: &str) -> BTreeMap<i32, (i64, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("consumer");
    (0..PARTITIONS)
        .map(|p| {
            let marks = consumer
                .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
                .expect("watermarks");
            (p, marks)
        })
        .collect()
}

/// The `kafka` firehose: static assignment of every partition to node 0, or (`group`) a
/// consumer-group subscription.
fn kafka_firehose(brokers: &str, group: Option<&str>) -> Value {
    let mut props = json!({
        "bootstrap.servers": brokers,
        "auto.offset.reset": "earliest",
        "statistics.interval.ms": "500",
    });
    let mut firehose = json!({"type": "kafka", "topic": TOPIC});
    match group {
        Some(group) => {
            props["group.id"] = json!(group);
            // KIP-848: the mock's classic protocol refuses a member's commit once a rebalance
            // started, so the flush-before-revoke could not hand its offsets over.
            props["group.protocol"] = json!("consumer");
        }
        None => firehose["partitions"] = json!(1),
    }
    firehose["consumerProperties"] = props;
    firehose
}

/// `firehose` wrapped so that the input ends at once (the shutoff time is past).
fn ended(firehose: Value) -> Value {
    json!({"type": "timed", "shutoffTime": "2000-01-01T00:00:00Z", "delegate": firehose})
}

/// Writes `{dir}/{name}`: datasource `wiki`, HOUR segments rolled up by MINUTE, `messageTime`
/// with a two-hour window (wider than any skew between partitions), a persist every second.
fn write_spec(dir: &Path, name: &str, firehose: Value, partition_num: u32) -> PathBuf {
    let spec = json!([{
        "dataSchema": {
            "dataSource": "wiki",
            "parser": {"type": "string", "parseSpec": {"format": "json",
                "timestampSpec": {"column": "ts", "format": "millis"},
                "dimensionsSpec": {"dimensions": ["page"]}}},
            "metricsSpec": [
                {"type": "count", "name": "count"},
                {"type": "longSum", "name": "added", "fieldName": "added"}
            ],
            "granularitySpec": {"segmentGranularity": "HOUR", "queryGranularity": "MINUTE", "rollup": true}
        },
        "ioConfig": {"type": "realtime", "firehose": firehose},
        "tuningConfig": {
            "type": "realtime",
            "maxRowsInMemory": 1_000_000,
            "intermediatePersistPeriod": "PT1S",
            "windowPeriod": "PT2H",
            "rejectionPolicy": {"type": "messageTime"},
            "basePersistDirectory": dir.join("persist").display().to_string(),
            "shardSpec": {"type": "linear", "partitionNum": partition_num}
        }
    }]);
    let path = dir.join(name);
    std::fs::write(&path, spec.to_string()).expect("write spec");
    path
}

/// The commit record's checkpoint positions of node `partition_num` (empty before the first).
fn committed(dir: &Path, partition_num: u32) -> BTreeMap<i32, i64> {
    let path =
        rtnode::node::persist_dir(&dir.join("persist"), "wiki", partition_num).join("commit.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    let Some(Ok(record)) = text.lines().next().map(serde_json::from_str::<Value>) else {
        return BTreeMap::new();
    };
    record["checkpoint"]["partitions"]
        .as_object()
        .map(|partitions| {
            partitions
                .iter()
                .map(|(p, o)| (p.parse().unwrap(), o.as_i64().unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

/// Partitions the node reads now (its `druid_ingest_kafka_partitionlag` gauges).
fn owned_partitions(port: u16) -> usize {
    http_get(port, "/metrics")
        .map(|body| {
            body.lines()
                .filter(|l| l.starts_with("druid_ingest_kafka_partitionlag{"))
                .count()
        })
        .unwrap_or(0)
}

/// Waits until `done` or panics after [`STEP_TIMEOUT`]; `node` must keep running meanwhile.
fn wait_for(what: &str, nodes: &mut [&mut Node], mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !done() {
        for node in nodes.iter_mut() {
            node.assert_running();
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = nodes.iter().map(|n| n.log_tail()).collect();
            panic!(
                "timed out waiting for {what}; logs:\n{}",
                logs.join("\n-----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sums `count` and `added` over every used `wiki` segment in the SQLite metadata store under
/// `{dir}/var/druid`, reading each `index.zip` from deep storage; returns the identifiers too.
fn published(dir: &Path) -> (Totals, Vec<String>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let segments = runtime.block_on(async {
        let config = MetadataStoreConfig::sqlite(dir.join("var/druid/metadata.db"));
        let store = MetadataStore::connect(&config)
            .await
            .expect("metadata store");
        let segments = store.used_segments("wiki").await.expect("used segments");
        store.close().await;
        segments
    });
    let mut totals = Totals::default();
    let mut identifiers = Vec::new();
    for segment in &segments {
        identifiers.push(segment.identifier());
        let zip = segment.load_spec["path"]
            .as_str()
            .expect("a local load spec");
        let mut rows = Vec::new();
        rtnode::segment::dump::dump_rows(Path::new(zip), &mut rows).expect("a readable segment");
        for line in String::from_utf8(rows).unwrap().lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            totals.count += row["count"].as_i64().unwrap();
            totals.added += row["added"].as_i64().unwrap();
        }
    }
    identifiers.sort();
    (totals, identifiers)
}

fn new_cluster() -> MockKafka {
    let kafka = MockKafka::new(1).expect("mock cluster");
    kafka.create_topic(TOPIC, PARTITIONS).expect("topic");
    kafka
}

#[test]
fn a_million_events_through_fifteen_kills_are_published_exactly_once() {
    let started = Instant::now();
    let kafka = new_cluster();
    let brokers = kafka.bootstrap_servers();
    let tmp = workdir("e2e-kafka-");
    let dir = tmp.path();
    let stream = Stream { events: 1_000_000 };
    let expected = stream.totals();
    let firehose = kafka_firehose(brokers, None);
    let spec = write_spec(dir, "spec.json", firehose.clone(), 0);
    let final_spec = write_spec(dir, "final.json", ended(firehose), 0);
    // Paced over ~15 s; the last 20 % only after the kills, for the last run's exact count.
    let production = Production::new(stream, 55_000, stream.messages() * 4 / 5);
    let mut rng = Rng(0x5EED_0006);
    std::thread::scope(|scope| {
        let _abort = AbortOnDrop(&production);
        scope.spawn(|| production.run(brokers, &|| committed(dir, 0)));
        for round in 0..15 {
            let born = Instant::now();
            let mut node = Node::start(dir, &spec, &format!("run-{round}"), false);
            let lifetime = Duration::from_millis(100 + rng.next() % 1900);
            wait_for("the kill moment", &mut [&mut node], || {
                born.elapsed() >= lifetime
            });
            node.assert_running();
            node.kill();
            eprintln!(
                "kill {round} after {lifetime:?}: produced {}, committed {:?}",
                production.produced(),
                committed(dir, 0)
            );
        }
        production.allow(1.0);
        // The last run reads to the end; a graceful stop reports its unparseable count.
        let resumed_at = committed(dir, 0);
        let mut node = Node::start(dir, &spec, "run-last", false);
        let end = stream.end_offsets();
        wait_for(
            "the commit record to reach the end",
            &mut [&mut node],
            || production.done() && committed(dir, 0) == end,
        );
        let metric = node.unparseable_metric();
        node.stop();
        let summary = node.wait_summary(STEP_TIMEOUT);
        let unparseable = stream.malformed_after(&resumed_at);
        assert!(unparseable >= stream.malformed() / 5, "{resumed_at:?}");
        assert_eq!(summary["unparseable"], unparseable, "{summary}");
        assert_eq!(metric, Some(unparseable));
        assert_eq!(summary["thrownAway"], 0, "{summary}");
    });
    let log: BTreeMap<i32, i64> = watermarks(brokers)
        .into_iter()
        .map(|(p, (_, high))| (p, high))
        .collect();
    assert_eq!(log, stream.end_offsets(), "the topic holds the stream");
    let summary = Node::start(dir, &final_spec, "publish", true).wait_summary(STEP_TIMEOUT);
    assert_eq!(summary["processed"], 0, "{summary}");
    let (totals, segments) = published(dir);
    eprintln!("published {segments:?} after {:?}", started.elapsed());
    assert_eq!(segments.len(), SPAN_HOURS as usize, "{segments:?}");
    assert_eq!(totals, expected);
}

/// Per partition, the furthest position of any node's commit record.
fn furthest(records: &[BTreeMap<i32, i64>]) -> BTreeMap<i32, i64> {
    let mut out = BTreeMap::new();
    for record in records {
        for (&p, &o) in record {
            let entry = out.entry(p).or_insert(o);
            *entry = (*entry).max(o);
        }
    }
    out
}

fn total_position(positions: &BTreeMap<i32, i64>) -> u64 {
    positions.values().map(|&o| o as u64).sum()
}

#[test]
fn a_second_group_member_joining_and_leaving_mid_stream_repeats_and_loses_nothing() {
    let kafka = new_cluster();
    let brokers = kafka.bootstrap_servers();
    let tmp = workdir("e2e-kafka-");
    let dir = tmp.path();
    let stream = Stream { events: 1_000_000 };
    let expected = stream.totals();
    let firehose = kafka_firehose(brokers, Some("e2e-rebalance"));
    let spec_a = write_spec(dir, "a.json", firehose.clone(), 0);
    let spec_b = write_spec(dir, "b.json", firehose.clone(), 1);
    let production = Production::new(stream, u64::MAX, stream.messages() * 3 / 10);
    let both = || furthest(&[committed(dir, 0), committed(dir, 1)]);
    let messages = stream.messages();
    let (summary_a, summary_b) = std::thread::scope(|scope| {
        let _abort = AbortOnDrop(&production);
        scope.spawn(|| production.run(brokers, &both));
        let t0 = Instant::now();
        let mut a = Node::start(dir, &spec_a, "a", false);
        wait_for("A to commit a quarter", &mut [&mut a], || {
            total_position(&committed(dir, 0)) >= messages / 4
        });
        eprintln!("A committed a quarter at {:?}", t0.elapsed());
        // B joins: A flushes and hands partitions over through Kafka's committed offsets.
        let mut b = Node::start(dir, &spec_b, "b", false);
        let b_port = b.port;
        wait_for("B to own partitions", &mut [&mut a, &mut b], || {
            owned_partitions(b_port) > 0
        });
        eprintln!("B owns partitions at {:?}", t0.elapsed());
        production.allow(0.6);
        wait_for("B to commit its share", &mut [&mut a, &mut b], || {
            !committed(dir, 1).is_empty() && total_position(&both()) >= messages * 11 / 20
        });
        eprintln!("B committed at {:?}", t0.elapsed());
        let owned_by_b = committed(dir, 1).len();
        assert!((1..4).contains(&owned_by_b), "{:?}", committed(dir, 1));
        // B leaves gracefully: its partitions go back to A at B's last commit.
        b.stop();
        let summary_b = b.wait_summary(STEP_TIMEOUT);
        eprintln!("B left at {:?}", t0.elapsed());
        production.allow(1.0);
        let end = stream.end_offsets();
        wait_for("A to commit the end", &mut [&mut a], || {
            production.done() && committed(dir, 0) == end
        });
        eprintln!("A at the end at {:?}", t0.elapsed());
        a.stop();
        (a.wait_summary(STEP_TIMEOUT), summary_b)
    });
    let processed = |s: &Value| s["processed"].as_u64().unwrap();
    let unparseable = |s: &Value| s["unparseable"].as_u64().unwrap();
    assert!(processed(&summary_b) > 0, "{summary_b}");
    // Every message was read exactly once by one of the two nodes.
    assert_eq!(processed(&summary_a) + processed(&summary_b), stream.events);
    assert_eq!(
        unparseable(&summary_a) + unparseable(&summary_b),
        stream.malformed()
    );
    for partition_num in [0, 1] {
        let name = format!("publish-{partition_num}");
        let final_spec = write_spec(
            dir,
            &format!("{name}.json"),
            ended(firehose.clone()),
            partition_num,
        );
        let summary = Node::start(dir, &final_spec, &name, true).wait_summary(STEP_TIMEOUT);
        assert_eq!(summary["processed"], 0, "{summary}");
    }
    let (totals, segments) = published(dir);
    assert_eq!(totals, expected);
    // Segment identifiers of partition 1 end in `_1`; A published every hour, B some.
    let of_b = segments.iter().filter(|s| s.ends_with("_1")).count();
    assert_eq!(segments.len() - of_b, SPAN_HOURS as usize, "{segments:?}");
    assert!(of_b >= 1, "{segments:?}");
}

#[test]
fn the_broker_going_down_and_up_mid_stream_is_survived_exactly_once() {
    let kafka = new_cluster();
    let brokers = kafka.bootstrap_servers();
    let tmp = workdir("e2e-kafka-");
    let dir = tmp.path();
    let stream = Stream { events: 1_000_000 };
    let expected = stream.totals();
    let firehose = kafka_firehose(brokers, None);
    let spec = write_spec(dir, "spec.json", firehose.clone(), 0);
    let production = Production::new(stream, u64::MAX, stream.messages() * 2 / 5);
    let messages = stream.messages();
    let summary = std::thread::scope(|scope| {
        let _abort = AbortOnDrop(&production);
        scope.spawn(|| production.run(brokers, &|| committed(dir, 0)));
        let mut node = Node::start(dir, &spec, "node", false);
        wait_for("a third committed", &mut [&mut node], || {
            total_position(&committed(dir, 0)) >= messages * 3 / 10
        });
        kafka.cluster().broker_down(1).expect("broker down");
        production.allow(0.7);
        let down = Instant::now();
        wait_for("three seconds without a broker", &mut [&mut node], || {
            down.elapsed() >= Duration::from_secs(3)
        });
        kafka.cluster().broker_up(1).expect("broker up");
        production.allow(1.0);
        let end = stream.end_offsets();
        wait_for(
            "the commit record to reach the end",
            &mut [&mut node],
            || production.done() && committed(dir, 0) == end,
        );
        node.stop();
        node.wait_summary(STEP_TIMEOUT)
    });
    assert_eq!(summary["processed"], stream.events, "{summary}");
    assert_eq!(summary["unparseable"], stream.malformed(), "{summary}");
    let final_spec = write_spec(dir, "final.json", ended(firehose), 0);
    Node::start(dir, &final_spec, "publish", true).wait_summary(STEP_TIMEOUT);
    let (totals, segments) = published(dir);
    assert_eq!(segments.len(), SPAN_HOURS as usize, "{segments:?}");
    assert_eq!(totals, expected);
}

/// What the topic holds, as the test produced it: per partition, in offset order, the `added`
/// of each good event (`None` for a malformed message).
#[derive(Default)]
struct TopicLog(BTreeMap<i32, Vec<Option<i64>>>);

impl TopicLog {
    /// Produces `count` events of hour 0 round-robin (every 25th malformed), each padded with
    /// `pad` bytes of a field the spec does not read.
    fn produce(&mut self, producer: &Producer, count: usize, pad: usize) {
        let padding = "x".repeat(pad);
        for i in 0..count {
            let partition = (i % 4) as i32;
            let offset = self.0.get(&partition).map_or(0, Vec::len);
            let added = (mix(i as u64 + 7 * offset as u64) % 100) as i64;
            let ts = DAY_START_MS + (offset as i64 * 100) % 3_600_000;
            let (payload, entry) = if i % 25 == 24 {
                (format!("{{\"ts\":{ts},\"page\":\"p\"").into_bytes(), None)
            } else {
                let event = json!({"ts": ts, "page": format!("p{}", i % 7), "added": added, "pad": padding});
                (event.to_string().into_bytes(), Some(added))
            };
            producer.send(partition, &payload);
            self.0.entry(partition).or_default().push(entry);
        }
        producer.flush();
    }

    fn end(&self) -> BTreeMap<i32, i64> {
        self.0.iter().map(|(&p, v)| (p, v.len() as i64)).collect()
    }

    /// Totals and malformed count of offsets `from[p]..to[p]`.
    fn range(&self, from: &BTreeMap<i32, i64>, to: &BTreeMap<i32, i64>) -> (Totals, u64) {
        let mut totals = Totals::default();
        let mut malformed = 0;
        for (p, entries) in &self.0 {
            let (start, end) = (from.get(p).copied().unwrap_or(0), to[p]);
            for entry in &entries[start as usize..end as usize] {
                match entry {
                    Some(added) => {
                        totals.count += 1;
                        totals.added += added;
                    }
                    None => malformed += 1,
                }
            }
        }
        (totals, malformed)
    }
}

fn add(a: Totals, b: Totals) -> Totals {
    Totals {
        count: a.count + b.count,
        added: a.added + b.added,
    }
}

/// Runs `rtnode reset-offsets --spec {spec} --to {to} [--all]` in `dir`; returns its one
/// JSON line.
fn reset_offsets(dir: &Path, spec: &Path, to: &str, all: bool) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rtnode"));
    command
        .args(["reset-offsets", "--spec"])
        .arg(spec)
        .args(["--to", to]);
    if all {
        command.arg("--all");
    }
    let output = command
        .current_dir(dir)
        .output()
        .expect("rtnode reset-offsets");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "reset-offsets: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    serde_json::from_str(lines[0]).expect("a JSON line")
}

fn positions(value: &Value) -> BTreeMap<i32, i64> {
    value["partitions"]
        .as_object()
        .expect("a kafka checkpoint")
        .iter()
        .map(|(p, o)| (p.parse().unwrap(), o.as_i64().unwrap()))
        .collect()
}

/// Runs a node until its commit record reaches `end`, stops it gracefully, returns the summary.
fn consume_to(dir: &Path, spec: &Path, name: &str, end: &BTreeMap<i32, i64>) -> Value {
    let mut node = Node::start(dir, spec, name, false);
    wait_for(
        "the commit record to reach the end",
        &mut [&mut node],
        || committed(dir, 0) == *end,
    );
    node.stop();
    node.wait_summary(STEP_TIMEOUT)
}

#[test]
fn reset_offsets_rewrites_the_commit_record_and_the_node_resumes_where_asked() {
    let kafka = new_cluster();
    let brokers = kafka.bootstrap_servers();
    let tmp = workdir("e2e-kafka-");
    let dir = tmp.path();
    let producer = Producer::new(brokers);
    let firehose = kafka_firehose(brokers, None);
    let spec = write_spec(dir, "spec.json", firehose.clone(), 0);
    let mut log = TopicLog::default();

    // 1. Consumed and committed.
    log.produce(&producer, 2_000, 0);
    let first_end = log.end();
    let summary = consume_to(dir, &spec, "first", &first_end);
    let (first, malformed) = log.range(&BTreeMap::new(), &first_end);
    assert_eq!(summary["processed"], first.count, "{summary}");
    assert_eq!(summary["unparseable"], malformed, "{summary}");

    // 2. While the node is stopped, retention (the mock keeps ~5 MiB a partition) deletes
    //    messages it has not read: its checkpoint falls below the low watermark.
    log.produce(&producer, 12_000, 2_500);
    let marks = watermarks(brokers);
    for (p, &(low, high)) in &marks {
        assert!(
            low > first_end[p],
            "partition {p}: low watermark {low} not past the checkpoint"
        );
        assert_eq!(high, log.end()[p]);
    }
    let low: BTreeMap<i32, i64> = marks.iter().map(|(&p, &(low, _))| (p, low)).collect();

    // 3. The node refuses to skip them silently: it stops, naming the partition and the command.
    let mut node = Node::start(dir, &spec, "out-of-range", false);
    let status = node.wait(STEP_TIMEOUT);
    assert!(!status.success());
    let log_text = std::fs::read_to_string(&node.log).unwrap();
    assert!(
        log_text.contains("is below the low watermark"),
        "{}",
        node.log_tail()
    );
    assert!(
        log_text.contains("rtnode reset-offsets --spec FILE --to earliest|latest"),
        "{}",
        node.log_tail()
    );
    assert_eq!(committed(dir, 0), first_end, "the record is untouched");

    // 4. Reset to earliest: every out-of-range partition moves to its low watermark.
    let line = reset_offsets(dir, &spec, "earliest", false);
    assert_eq!(line["dataSource"], "wiki");
    assert_eq!(line["changed"], true, "{line}");
    assert_eq!(positions(&line["before"]), first_end, "{line}");
    assert_eq!(positions(&line["after"]), low, "{line}");
    assert_eq!(committed(dir, 0), low);

    // 5. The node resumes there and reads every retained message once.
    let second_end = log.end();
    let summary = consume_to(dir, &spec, "after-earliest", &second_end);
    let (second, malformed) = log.range(&low, &second_end);
    assert_eq!(summary["processed"], second.count, "{summary}");
    assert_eq!(summary["unparseable"], malformed, "{summary}");

    // 6. Positions in range are kept unless `--all`; `--to latest --all` skips the backlog.
    log.produce(&producer, 400, 0);
    let line = reset_offsets(dir, &spec, "latest", false);
    assert_eq!(line["changed"], false, "{line}");
    assert_eq!(committed(dir, 0), second_end);
    let skipped_to = log.end();
    let line = reset_offsets(dir, &spec, "latest", true);
    assert_eq!(line["changed"], true, "{line}");
    assert_eq!(positions(&line["after"]), skipped_to, "{line}");
    assert_eq!(committed(dir, 0), skipped_to);
    log.produce(&producer, 200, 0);
    let third_end = log.end();
    let summary = consume_to(dir, &spec, "after-latest", &third_end);
    let (third, malformed) = log.range(&skipped_to, &third_end);
    assert_eq!(summary["processed"], third.count, "{summary}");
    assert_eq!(summary["unparseable"], malformed, "{summary}");

    // 7. `--to earliest --all` would re-read everything retained (retention moved on).
    let line = reset_offsets(dir, &spec, "earliest", true);
    let low_now: BTreeMap<i32, i64> = watermarks(brokers)
        .into_iter()
        .map(|(p, (low, _))| (p, low))
        .collect();
    assert_eq!(positions(&line["after"]), low_now, "{line}");
    let line = reset_offsets(dir, &spec, "latest", true);
    assert_eq!(positions(&line["after"]), third_end, "{line}");

    // Published: exactly what the node was told to read, nothing of what it was told to skip.
    let final_spec = write_spec(dir, "final.json", ended(firehose), 0);
    Node::start(dir, &final_spec, "publish", true).wait_summary(STEP_TIMEOUT);
    let (totals, segments) = published(dir);
    assert_eq!(segments.len(), 1, "{segments:?}");
    assert_eq!(totals, add(add(first, second), third));
}

#[test]
fn a_bounded_input_is_read_to_its_end_published_and_the_node_exits() {
    let kafka = new_cluster();
    let brokers = kafka.bootstrap_servers();
    let tmp = workdir("e2e-kafka-");
    let dir = tmp.path();
    let producer = Producer::new(brokers);
    let mut firehose = kafka_firehose(brokers, None);
    firehose["endOffsets"] = json!("latest");
    let spec = write_spec(dir, "spec.json", firehose, 0);
    let mut log = TopicLog::default();
    log.produce(&producer, 3_000, 0);
    let end = log.end();

    // The run reads to the end its partitions had at its start, publishes and exits.
    let summary = Node::start(dir, &spec, "bounded", true).wait_summary(STEP_TIMEOUT);
    let (totals, malformed) = log.range(&BTreeMap::new(), &end);
    assert_eq!(summary["processed"], totals.count, "{summary}");
    assert_eq!(summary["unparseable"], malformed, "{summary}");
    assert_eq!(committed(dir, 0), end);
    let (published_totals, segments) = published(dir);
    assert_eq!(published_totals, totals);

    // Run again at its end: it ends at once, reads and publishes nothing.
    let summary = Node::start(dir, &spec, "again", true).wait_summary(STEP_TIMEOUT);
    assert_eq!(summary["processed"], 0, "{summary}");
    assert_eq!(published(dir), (totals, segments));
}
