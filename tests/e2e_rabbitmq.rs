//! RabbitMQ end to end at node level (issue 6): `rtnode run` processes against the real broker
//! on 127.0.0.1:5672 (guest/guest, or `AMQP_ADDR`), a durable queue fed with 300,000 events
//! and 10,000 malformed messages while the node consumes; the node is `kill -9`ed at 10 seeded
//! random moments and restarted, stopped gracefully once mid-stream, and RabbitMQ itself is
//! restarted once mid-stream.
//!
//! At-least-once, checked event by event: every event carries a unique `id` dimension, so after
//! rollup the `count` of its row is the number of times it was ingested. Nothing may be lost
//! (every count ≥ 1), and each duplicate must be explained by a disruption:
//!
//! - **a crash** duplicates exactly the deliveries its commit record covered but the broker had
//!   not seen acknowledged. Between runs the publisher is idle and no consumer is connected, so
//!   the broker's ready count gives the acknowledged prefix `H` of the stream exactly (the
//!   queue is FIFO and requeued messages go back to their place). A run's connection delivers
//!   messages `H, H+1, …` as delivery tags `1, 2, …`, and the commit record holds the last
//!   committed tag `T` of that connection (its `channel` generation). So the run committed
//!   messages `[H_r, H_r + T)`, and after the kill the duplicates it leaves are exactly
//!   `[H_{r+1}, H_r + T)`; `H_{r+1} ≤ H_r + T` (nothing acknowledged before it is durable).
//! - **a graceful stop** leaves none: everything committed is acknowledged before exit.
//! - **the broker restart** requeues the deliveries unacknowledged when the connection broke
//!   while the node still holds them: at most one run of consecutive messages, no longer than
//!   the prefetch window.
//!
//! So for every event: `count = 1 + (crash windows holding it) + (0 or 1 inside the one
//! broker-restart window)`.

mod e2e_support;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use rtnode::storage::metadata::{MetadataStore, MetadataStoreConfig};
use serde_json::{Value, json};

use e2e_support::{Node, Rng, STEP_TIMEOUT, workdir};

/// 2016-06-27T00:00:00Z.
const DAY_START_MS: i64 = 1_466_985_600_000;
/// Event times span three hours.
const SPAN_HOURS: i64 = 3;
/// Events, and every 31st message malformed: 10,000 of 310,000.
const EVENTS: u64 = 300_000;
const MALFORMED_EVERY: u64 = 31;
/// The node's `basic.qos` prefetch (`rabbitmq::DEFAULT_PREFETCH_COUNT`).
const PREFETCH: u64 = rtnode::firehose::rabbitmq::DEFAULT_PREFETCH_COUNT as u64;

/// The tests of this file take turns: one restarts the broker.
static BROKER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn addr() -> String {
    std::env::var("AMQP_ADDR").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn messages() -> u64 {
    EVENTS + EVENTS / (MALFORMED_EVERY - 1)
}

fn is_malformed(m: u64) -> bool {
    m % MALFORMED_EVERY == MALFORMED_EVERY - 1
}

/// Message `m` of the stream: event `e{i}` (one per good message, time-ordered) or a malformed
/// one.
fn message(m: u64) -> Vec<u8> {
    if is_malformed(m) {
        return match (m / MALFORMED_EVERY) % 6 {
            0 => format!("{{\"ts\":{DAY_START_MS},\"id\":\"x").into_bytes(),
            1 => format!("not json {m}").into_bytes(),
            2 => vec![0xff, 0xfe, b'{', b'}', 0xc3],
            3 => format!("{{\"id\":\"no time {m}\",\"added\":1}}").into_bytes(),
            4 => format!("{{\"ts\":\"the {m}th of never\",\"added\":1}}").into_bytes(),
            _ => format!("[{DAY_START_MS},\"x\"]").into_bytes(),
        };
    }
    let i = event_index(m);
    let ts = DAY_START_MS + (i as i64 * SPAN_HOURS * 3_600_000) / EVENTS as i64;
    format!("{{\"ts\":{ts},\"id\":\"e{i}\",\"added\":{}}}", added(m)).into_bytes()
}

/// `(good events, malformed messages)` among messages `range`.
fn kinds(range: Range<u64>) -> (u64, u64) {
    let malformed = range.clone().filter(|&m| is_malformed(m)).count() as u64;
    (range.end - range.start - malformed, malformed)
}

fn event_index(m: u64) -> u64 {
    m - m / MALFORMED_EVERY
}

fn added(m: u64) -> i64 {
    ((m.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 1000) as i64
}

/// Publishes messages `range` with publisher confirms (persistent, to the default exchange).
async fn publish(queue: &str, range: Range<u64>) {
    let (connection, channel) = connect(queue).await;
    let mut pending = Vec::with_capacity(2000);
    for m in range {
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &message(m),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("basic.publish");
        pending.push(confirm);
        if pending.len() == 2000 {
            for confirm in pending.drain(..) {
                assert!(confirm.await.expect("confirm").is_ack());
            }
        }
    }
    for confirm in pending {
        assert!(confirm.await.expect("confirm").is_ack());
    }
    let _ = connection.close(200, "published".into()).await;
}

async fn connect(queue: &str) -> (Connection, Channel) {
    let connection = Connection::connect(&addr(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672 (rabbitmq-server -detached starts it)");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await
        .expect("queue.declare");
    (connection, channel)
}

/// `(ready messages, consumers)` of the queue.
async fn queue_state(queue: &str) -> (u64, u64) {
    let (connection, channel) = connect(queue).await;
    let options = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let state = channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await
        .expect("passive queue.declare");
    let _ = connection.close(200, "done".into()).await;
    (
        u64::from(state.message_count()),
        u64::from(state.consumer_count()),
    )
}

async fn delete_queue(queue: &str) {
    let (connection, channel) = connect(queue).await;
    let _ = channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
    let _ = connection.close(200, "done".into()).await;
}

/// Messages the broker has seen acknowledged, once no consumer is connected: all published
/// messages but the ready ones (waits for the consumer of a killed node to go away).
async fn acknowledged(queue: &str, published: u64) -> u64 {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let (ready, consumers) = queue_state(queue).await;
        if consumers == 0 {
            assert!(ready <= published);
            return published - ready;
        }
        assert!(Instant::now() < deadline, "the consumer never went away");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn rabbitmqctl(args: &[&str]) {
    let output = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl");
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `(ready, unacknowledged)` of the queue, from the broker's own bookkeeping.
fn ready_and_unacked(queue: &str) -> (u64, u64) {
    let output = Command::new("rabbitmqctl")
        .args([
            "list_queues",
            "--quiet",
            "--no-table-headers",
            "name",
            "messages_ready",
            "messages_unacknowledged",
        ])
        .output()
        .expect("rabbitmqctl list_queues");
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(queue))
        .unwrap_or_else(|| panic!("queue `{queue}` not listed: {text}"));
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap())
        .collect();
    (fields[0], fields[1])
}

/// Writes `{dir}/{name}`: datasource `wiki`, dimension `id`, HOUR segments rolled up by
/// MINUTE (so duplicates of an event share its row), `messageTime` with a one-hour window
/// (far wider than any redelivery reorders), a persist every second.
fn write_spec(dir: &Path, name: &str, firehose: Value) -> PathBuf {
    let spec = json!([{
        "dataSchema": {
            "dataSource": "wiki",
            "parser": {"type": "string", "parseSpec": {"format": "json",
                "timestampSpec": {"column": "ts", "format": "millis"},
                "dimensionsSpec": {"dimensions": ["id"]}}},
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
            "windowPeriod": "PT1H",
            "rejectionPolicy": {"type": "messageTime"},
            "basePersistDirectory": dir.join("persist").display().to_string()
        }
    }]);
    let path = dir.join(name);
    std::fs::write(&path, spec.to_string()).expect("write spec");
    path
}

fn rabbit_firehose(queue: &str) -> Value {
    json!({"type": "rabbitmq",
        "connection": {"uri": addr()},
        "config": {"queue": queue, "durable": "true",
            "retryIntervalSeconds": "1", "maxDurationSeconds": "2", "maxRetries": "60"}})
}

/// The commit record's checkpoint `(channel generation, delivery tag)` (`(0, 0)` before any).
fn committed(dir: &Path) -> (u64, u64) {
    let path = dir.join("persist/wiki/commit.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        return (0, 0);
    };
    let record: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let checkpoint = &record["checkpoint"];
    (
        checkpoint["channel"].as_u64().unwrap_or(0),
        checkpoint["deliveryTag"].as_u64().unwrap_or(0),
    )
}

/// Waits until `done`, the node running meanwhile; panics with its log after [`STEP_TIMEOUT`].
fn wait_for(what: &str, node: &mut Node, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !done() {
        node.assert_running();
        if Instant::now() >= deadline {
            panic!("timed out waiting for {what}; log:\n{}", node.log_tail());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Per event index, the `count` (times ingested) and summed `added` over every used `wiki`
/// segment of the metadata store, read from deep storage.
fn published_events(dir: &Path) -> (BTreeMap<u64, (i64, i64)>, usize) {
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
    let mut events: BTreeMap<u64, (i64, i64)> = BTreeMap::new();
    for segment in &segments {
        let zip = segment.load_spec["path"]
            .as_str()
            .expect("a local load spec");
        let mut rows = Vec::new();
        rtnode::segment::dump::dump_rows(Path::new(zip), &mut rows).expect("a readable segment");
        for line in String::from_utf8(rows).unwrap().lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            let id = row["id"].as_str().expect("an id");
            let i: u64 = id.strip_prefix('e').and_then(|n| n.parse().ok()).expect(id);
            let entry = events.entry(i).or_default();
            entry.0 += row["count"].as_i64().unwrap();
            entry.1 += row["added"].as_i64().unwrap();
        }
    }
    (events, segments.len())
}

#[test]
fn three_hundred_thousand_events_through_ten_kills_and_a_broker_restart_arrive_at_least_once() {
    let _broker = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tmp = workdir("e2e-rabbitmq-");
    let dir = tmp.path();
    let queue = format!("rtnode-e2e-{}", std::process::id());
    runtime.block_on(delete_queue(&queue));
    let spec = write_spec(dir, "spec.json", rabbit_firehose(&queue));
    let total = messages();
    let mut rng = Rng(0x5EED_0006_00AB);
    // Ten runs end with `kill -9`, each publishing a chunk while it runs; the last run publishes
    // the rest around a broker restart.
    let chunk = total / 15;
    let mut published = 0u64;
    let mut acked = 0u64;
    // Per message index, the duplicates the crashes leave.
    let mut predicted = vec![0u8; total as usize];
    for r in 0..10 {
        let (channel_before, _) = committed(dir);
        let mut node = Node::start(dir, &spec, &format!("run-{r}"), false);
        let publishing = runtime.spawn({
            let queue = queue.clone();
            async move { publish(&queue, published..published + chunk).await }
        });
        published += chunk;
        let lifetime = Duration::from_millis(300 + rng.next() % 2000);
        let born = Instant::now();
        wait_for("the kill moment", &mut node, || born.elapsed() >= lifetime);
        node.kill();
        runtime.block_on(publishing).unwrap();
        let acked_after = runtime.block_on(acknowledged(&queue, published));
        let (channel, tag) = committed(dir);
        if channel == channel_before + 1 {
            // This run's connection (generation) delivered messages `acked..` as tags `1..`.
            let committed_to = acked + tag;
            assert!(
                acked_after <= committed_to,
                "run {r}: the broker saw {acked_after} messages acknowledged, only {committed_to} are committed"
            );
            for m in acked_after..committed_to {
                predicted[m as usize] += 1;
            }
        } else {
            assert_eq!(channel, channel_before, "run {r}: unexpected reconnect");
            assert_eq!(acked_after, acked, "run {r}: acknowledged without a commit");
        }
        eprintln!(
            "kill {r} after {lifetime:?}: published {published}, acknowledged {acked_after}, committed tag {tag} of channel {channel}"
        );
        acked = acked_after;
    }

    // The last run: a backlog of four chunks, RabbitMQ restarted as soon as the node consumes
    // it, then the rest of the stream; the node reconnects by itself and reads to the end.
    let last_from = acked;
    runtime.block_on(publish(&queue, published..published + 4 * chunk));
    published += 4 * chunk;
    assert!(published < total);
    let mut node = Node::start(dir, &spec, "run-last", false);
    wait_for("the node to consume", &mut node, || {
        runtime.block_on(queue_state(&queue)).1 == 1
    });
    rabbitmqctl(&["stop_app"]);
    rabbitmqctl(&["start_app"]);
    rabbitmqctl(&["await_startup"]);
    let (backlog, _) = runtime.block_on(queue_state(&queue));
    eprintln!("RabbitMQ restarted with {backlog} messages not acknowledged");
    node.assert_running();
    runtime.block_on(publish(&queue, published..total));
    published = total;
    wait_for("every message acknowledged", &mut node, || {
        ready_and_unacked(&queue) == (0, 0)
    });
    let metric = node.unparseable_metric();
    node.stop();
    let last = node.wait_summary(STEP_TIMEOUT);
    assert_eq!(runtime.block_on(acknowledged(&queue, published)), total);
    assert_eq!(last["thrownAway"], 0, "{last}");
    eprintln!("last run: {last}");

    let final_spec = write_spec(
        dir,
        "final.json",
        json!({"type": "timed", "shutoffTime": "2000-01-01T00:00:00Z", "delegate": rabbit_firehose(&queue)}),
    );
    Node::start(dir, &final_spec, "publish", true).wait_summary(STEP_TIMEOUT);
    runtime.block_on(delete_queue(&queue));
    let (events, segments) = published_events(dir);
    assert_eq!(segments, SPAN_HOURS as usize);

    // Every event at least once, with its own `added` each time.
    let mut extra = Vec::new();
    let mut duplicates = 0u64;
    for m in (0..total).filter(|&m| !is_malformed(m)) {
        let i = event_index(m);
        let (count, sum) = events.get(&i).copied().unwrap_or_default();
        assert!(count >= 1, "event e{i} (message {m}) was lost");
        assert_eq!(sum, count * added(m), "event e{i}");
        let expected = 1 + i64::from(predicted[m as usize]);
        duplicates += (count - 1) as u64;
        match count - expected {
            0 => {}
            1 => extra.push(m),
            _ => {
                panic!("event e{i} (message {m}) counted {count} times, crashes explain {expected}")
            }
        }
    }
    assert_eq!(
        events.len() as u64,
        EVENTS,
        "events that were never published"
    );
    // Duplicates beyond the crashes': one window of consecutive messages delivered in the
    // last run before the broker restart, no longer than the prefetch window.
    if let (Some(&first), Some(&last)) = (extra.first(), extra.last()) {
        assert!(first >= last_from, "{first} < {last_from}");
        assert!(last - first < PREFETCH, "{first}..={last}");
        let window = (first..=last).filter(|&m| !is_malformed(m)).count();
        assert_eq!(window, extra.len(), "not one run of consecutive messages");
    }
    // The last run read `[last_from, total)` once and the broker-restart window again: its
    // counts say so exactly (the window's edges may hold a malformed message or two).
    let (good, malformed) = kinds(last_from..total);
    assert_eq!(last["processed"], good + extra.len() as u64, "{last}");
    let window_malformed = match (extra.first(), extra.last()) {
        (Some(&first), Some(&last)) => kinds(first..last + 1).1,
        _ => 0,
    };
    let unparseable = last["unparseable"].as_u64().unwrap();
    assert!(
        (malformed + window_malformed..=malformed + window_malformed + 2).contains(&unparseable),
        "{last}: {malformed} + {window_malformed}"
    );
    assert_eq!(metric, Some(unparseable));
    let crash_duplicates: u64 = (0..total)
        .filter(|&m| !is_malformed(m))
        .map(|m| u64::from(predicted[m as usize]))
        .sum();
    eprintln!(
        "{duplicates} duplicates: {crash_duplicates} left by the crashes, {} by the broker restart; {:?}",
        extra.len(),
        started.elapsed()
    );
}

/// A graceful stop (SIGTERM) while the node works through a backlog, five times: each run's
/// last commit record must be acknowledged before the node exits, so nothing it committed is
/// delivered (and counted) again, and its summary counts exactly the messages it committed.
#[test]
fn a_graceful_stop_mid_stream_acknowledges_everything_it_committed() {
    let _broker = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tmp = workdir("e2e-rabbitmq-");
    let dir = tmp.path();
    let queue = format!("rtnode-e2e-graceful-{}", std::process::id());
    runtime.block_on(delete_queue(&queue));
    let spec = write_spec(dir, "spec.json", rabbit_firehose(&queue));
    let total = messages() / 2;
    runtime.block_on(publish(&queue, 0..total));
    let mut rng = Rng(0x5EED_0006_00CD);
    let mut acked = 0;
    for r in 0..5 {
        let (channel_before, _) = committed(dir);
        let mut node = Node::start(dir, &spec, &format!("run-{r}"), false);
        let lifetime = Duration::from_millis(400 + rng.next() % 800);
        let born = Instant::now();
        wait_for("the stop moment", &mut node, || born.elapsed() >= lifetime);
        node.stop();
        let summary = node.wait_summary(STEP_TIMEOUT);
        let acked_after = runtime.block_on(acknowledged(&queue, total));
        let (channel, tag) = committed(dir);
        let committed_to = if channel == channel_before + 1 {
            acked + tag
        } else {
            acked
        };
        eprintln!(
            "run {r} after {lifetime:?}: acknowledged {acked_after}, committed {committed_to}"
        );
        assert_eq!(
            acked_after,
            committed_to,
            "run {r}: a graceful stop left {} committed deliveries unacknowledged: they will be delivered and counted again",
            committed_to.saturating_sub(acked_after)
        );
        let (good, malformed) = kinds(acked..committed_to);
        assert_eq!(summary["processed"], good, "run {r}: {summary}");
        assert_eq!(summary["unparseable"], malformed, "run {r}: {summary}");
        acked = acked_after;
    }
    runtime.block_on(delete_queue(&queue));
}
