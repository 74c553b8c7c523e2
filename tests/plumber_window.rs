//! Rejection windows and handoff timing (reference §2.2, §2.7) with the node running in process
//! on a manual clock, events pushed over HTTP to its `receiver` firehose, SQLite metadata and
//! local deep storage in a temporary directory; then Druid's realtime integration test
//! (ITRealtimeIndexTaskTest: `../shared/druid/it/wikipedia_realtime_index_*`) through the same
//! path, its queries answered over HTTP by the node and again, after handoff, by the pushed
//! segments (what a historical would serve).

mod query_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use query_support::{json_matches, shared};
use rtnode::config::properties::RuntimeProperties;
use rtnode::metrics::{DataSourceLabels, NodeMetrics, ThrownAwayLabels};
use rtnode::node::{DepartmentSummary, NodeError, RunOptions, run_async_on, summary_json};
use rtnode::plumber::clock::{Clock, ManualClock};
use rtnode::query::{QueryableSegment, StaticTarget};
use rtnode::segment::Segment;
use rtnode::segment::descriptor::DataSegment;
use rtnode::server::{ServerState, router};
use rtnode::storage::metadata::{MetadataStore, MetadataStoreConfig};
use rtnode::time::{Interval, format_iso, parse_iso};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// `windowPeriod` of the window tests.
const WINDOW: i64 = 10 * MINUTE;
/// Longest wait for anything asynchronous.
const WAIT: Duration = Duration::from_secs(30);
/// Real time for the fire chief to run several loop turns (its tick is 100 ms).
const SETTLE: Duration = Duration::from_millis(700);
/// The receiver's `serviceName` in every spec.
const SERVICE: &str = "eventReceiverServiceName";

fn ms(iso: &str) -> i64 {
    parse_iso(iso).unwrap_or_else(|e| panic!("{iso}: {e}"))
}

/// A node running in process on a manual clock, with its own directory and metrics.
struct TestNode {
    dir: tempfile::TempDir,
    data_source: String,
    clock: ManualClock,
    metrics: NodeMetrics,
    url: String,
    http: reqwest::Client,
    stop: watch::Sender<bool>,
    node: Option<JoinHandle<Result<Vec<DepartmentSummary>, NodeError>>>,
    store: Option<MetadataStore>,
}

impl TestNode {
    /// Starts the node with `spec` (built by `spec_for(dir)`), the clock at `now_ms`,
    /// `exit_when_done` (the node stops once the receiver's input ended and every sink is
    /// handed off), handoff `none`.
    async fn start(now_ms: i64, spec_for: impl FnOnce(&Path) -> Value) -> TestNode {
        TestNode::start_with(now_ms, true, spec_for).await
    }

    /// [`TestNode::start`], choosing `exit_when_done`: without it the node runs until stopped.
    async fn start_with(
        now_ms: i64,
        exit_when_done: bool,
        spec_for: impl FnOnce(&Path) -> Value,
    ) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec_for(dir.path());
        let departments = rtnode::config::load_spec_str(&spec.to_string())
            .unwrap_or_else(|e| panic!("spec refused: {e}\n{spec}"));
        let data_source = departments[0].data_schema.data_source.clone();
        let mut properties = RuntimeProperties::new();
        let path = |p: &str| dir.path().join(p).display().to_string();
        properties.set("druid.metadata.storage.type", "sqlite");
        properties.set(
            "druid.metadata.storage.connector.connectURI",
            &format!("jdbc:sqlite:{}", path("metadata.db")),
        );
        properties.set("druid.storage.type", "local");
        properties.set("druid.storage.storageDirectory", &path("segments"));
        properties.set("druid.segment.handoff.type", "none");
        let clock = ManualClock::new(now_ms);
        let metrics = NodeMetrics::new();
        let (stop_tx, stop_rx) = watch::channel(false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let options = RunOptions {
            exit_when_done,
            clock: Some(Arc::new(clock.clone())),
            stop: Some(stop_rx),
        };
        let node_metrics = metrics.clone();
        let node = tokio::spawn(async move {
            run_async_on(listener, departments, &properties, &options, &node_metrics).await
        });
        let mut node = TestNode {
            dir,
            data_source,
            clock,
            metrics,
            url,
            http: reqwest::Client::new(),
            stop: stop_tx,
            node: Some(node),
            store: None,
        };
        // Serving starts after the metadata tables exist.
        let (status, _) = node.get("/status/health").await;
        assert_eq!(status, 200);
        let store = MetadataStore::connect(&MetadataStoreConfig::sqlite(
            node.dir.path().join("metadata.db"),
        ))
        .await
        .unwrap();
        node.store = Some(store);
        node
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Posts events to the receiver; they must all be taken.
    async fn push(&self, events: &[Value]) {
        let response = self
            .http
            .post(format!(
                "{}/druid/worker/v1/chat/{SERVICE}/push-events",
                self.url
            ))
            .json(events)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"eventCount": events.len()}));
    }

    /// A native query over HTTP: status and JSON body.
    async fn query(&self, query: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/druid/v2/", self.url))
            .json(query)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    fn processed(&self) -> u64 {
        let labels = DataSourceLabels {
            dataSource: self.data_source.clone(),
        };
        self.metrics.events_processed.get_or_create(&labels).get()
    }

    fn thrown_away(&self, reason: &str) -> u64 {
        let labels = ThrownAwayLabels {
            dataSource: self.data_source.clone(),
            reason: reason.to_string(),
        };
        self.metrics
            .events_thrown_away
            .get(&labels)
            .map(|c| c.get())
            .unwrap_or(0)
    }

    fn persists(&self) -> u64 {
        let labels = DataSourceLabels {
            dataSource: self.data_source.clone(),
        };
        self.metrics.persists_count.get_or_create(&labels).get()
    }

    fn handoffs(&self) -> u64 {
        let labels = DataSourceLabels {
            dataSource: self.data_source.clone(),
        };
        self.metrics.handoff_count.get_or_create(&labels).get()
    }

    /// Waits until `n` events were ingested in all (processed, thrown away or unparseable).
    async fn wait_ingested(&self, n: u64) {
        let ds = self.metrics.for_data_source(&self.data_source);
        let seen = || ds.processed.get() + ds.thrown_away_total() + ds.unparseable.get();
        wait_until(&format!("{n} events ingested"), || seen() >= n).await;
        assert_eq!(seen(), n, "more events ingested than pushed");
        assert_eq!(ds.unparseable.get(), 0, "unparseable events");
    }

    /// Segments published in the metadata store (used rows), by interval.
    async fn published(&self) -> Vec<DataSegment> {
        let store = self.store.as_ref().expect("connected");
        store.used_segments(&self.data_source).await.unwrap()
    }

    /// Waits until `n` segments are published; checks each is in deep storage.
    async fn wait_published(&self, n: usize) -> Vec<DataSegment> {
        let deadline = Instant::now() + WAIT;
        loop {
            let published = self.published().await;
            if published.len() >= n {
                assert_eq!(published.len(), n, "{published:?}");
                for segment in &published {
                    assert!(zip_path(segment).is_file(), "{segment:?}");
                }
                return published;
            }
            assert!(
                Instant::now() < deadline,
                "{n} segments never published: {published:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `descriptor.json` files under the deep storage directory.
    fn descriptors(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.map(Result::unwrap) {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.file_name().is_some_and(|n| n == "descriptor.json") {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir.path().join("segments"), &mut out);
        out.sort();
        out
    }

    /// Asserts that nothing was pushed or published.
    async fn assert_nothing_pushed(&self) {
        assert_eq!(self.descriptors(), Vec::<PathBuf>::new());
        assert_eq!(self.published().await.len(), 0);
    }

    /// Ends the receiver's input (Druid's `finishJob` follows: every sink is pushed) and waits
    /// for the node to stop.
    async fn end_input(&mut self) -> Vec<DepartmentSummary> {
        self.shut_receiver().await;
        self.wait_stopped().await
    }

    /// Stops the node (graceful: persist and commit) and waits for it.
    async fn stop(&mut self) -> Vec<DepartmentSummary> {
        self.stop.send(true).unwrap();
        self.wait_stopped().await
    }

    /// Ends the receiver's input.
    async fn shut_receiver(&self) {
        let response = self
            .http
            .post(format!(
                "{}/druid/worker/v1/chat/{SERVICE}/shutdown",
                self.url
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }

    async fn wait_stopped(&mut self) -> Vec<DepartmentSummary> {
        let node = self.node.take().expect("running");
        tokio::time::timeout(WAIT, node)
            .await
            .expect("the node stops")
            .unwrap()
            .unwrap_or_else(|e| panic!("node failed: {e}"))
    }

    /// The datasource's pages by row count, from a groupBy over all time.
    async fn pages(&self) -> Vec<(String, i64)> {
        let query = json!({"queryType": "groupBy", "dataSource": self.data_source,
            "intervals": ["1000-01-01/3000-01-01"], "granularity": "all",
            "dimensions": ["page"],
            "aggregations": [{"type": "longSum", "name": "rows", "fieldName": "count"}]});
        let (status, body) = self.query(&query).await;
        assert_eq!(status, 200, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let event = &r["event"];
                (
                    event["page"].as_str().unwrap().to_string(),
                    event["rows"].as_i64().unwrap(),
                )
            })
            .collect()
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn zip_path(segment: &DataSegment) -> PathBuf {
    PathBuf::from(
        segment.load_spec["path"]
            .as_str()
            .expect("a local load spec"),
    )
}

/// Rows of a pushed segment's `index.zip`.
fn pushed_rows(segment: &DataSegment) -> u32 {
    Segment::open_zip(&zip_path(segment)).unwrap().num_rows()
}

/// One event of the window tests.
fn event(t_ms: i64, page: &str) -> Value {
    json!({"timestamp": format_iso(t_ms), "page": page})
}

/// A window-test spec: HOUR segments, `windowPeriod` PT10M, the given rejection policy.
fn window_spec(data_source: &str, policy: &str, dir: &Path) -> Value {
    json!({
        "dataSchema": {
            "dataSource": data_source,
            "parser": {"type": "map", "parseSpec": {"format": "json",
                "timestampSpec": {"column": "timestamp", "format": "iso"},
                "dimensionsSpec": {"dimensions": ["page"]}}},
            "metricsSpec": [{"type": "count", "name": "count"}],
            "granularitySpec": {"segmentGranularity": "HOUR", "queryGranularity": "NONE"}
        },
        "ioConfig": {"type": "realtime", "firehose":
            {"type": "receiver", "serviceName": SERVICE, "bufferSize": 1000}},
        "tuningConfig": {"type": "realtime", "windowPeriod": "PT10M",
            "rejectionPolicy": {"type": policy},
            "basePersistDirectory": dir.join("persist").display().to_string()}
    })
}

fn pages(list: &[(&str, i64)]) -> Vec<(String, i64)> {
    list.iter().map(|(p, n)| (p.to_string(), *n)).collect()
}

fn summary_of(summaries: &[DepartmentSummary]) -> Value {
    summary_json(summaries)["dataSources"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_time_keeps_now_plus_minus_window_and_pushes_after_end_plus_window() {
    let now = ms("2024-06-01T10:30:00Z");
    let mut node = TestNode::start(now, |d| window_spec("server", "serverTime", d)).await;
    node.push(&[
        event(now, "a"),
        event(now - WINDOW, "b"),
        event(now - WINDOW - 1, "c"),
        event(now + WINDOW, "d"),
        event(now + WINDOW + 1, "e"),
        event(now - 3 * HOUR, "f"),
        event(now + DAY, "g"),
    ])
    .await;
    node.wait_ingested(7).await;
    assert_eq!(
        (
            node.processed(),
            node.thrown_away("late"),
            node.thrown_away("early")
        ),
        (3, 2, 2)
    );
    let (status, text) = node.get("/metrics").await;
    assert_eq!(status, 200);
    for line in [
        r#"druid_ingest_events_processed_total{dataSource="server"} 3"#,
        r#"druid_ingest_events_thrownaway_total{dataSource="server",reason="late"} 2"#,
        r#"druid_ingest_events_thrownaway_total{dataSource="server",reason="early"} 2"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    let gap_prefix = r#"druid_ingest_events_messagegap{dataSource="server"} "#;
    let gap_line = text.lines().find(|l| l.starts_with(gap_prefix));
    let gap_ms: i64 = gap_line
        .and_then(|l| l[gap_prefix.len()..].parse().ok())
        .unwrap_or_else(|| panic!("no messageGap gauge in\n{text}"));
    // The latest processed event is `d`, at now + WINDOW; the gap is measured on the wall clock.
    let wall_gap_ms = rtnode::time::now_ms() - (now + WINDOW);
    assert!(
        (wall_gap_ms - 60_000..=wall_gap_ms).contains(&gap_ms),
        "{gap_ms} vs {wall_gap_ms}"
    );
    assert_eq!(node.pages().await, pages(&[("a", 1), ("b", 1), ("d", 1)]));

    // The hour-10 sink is pushed when the clock reaches its end + windowPeriod (11:10), not
    // one millisecond earlier.
    let hour10 = Interval::new(ms("2024-06-01T10:00:00Z"), ms("2024-06-01T11:00:00Z"));
    node.clock.set(hour10.end_ms + WINDOW - 1);
    tokio::time::sleep(SETTLE).await;
    // Both are kept only if the chief reads the moved clock (11:05 was "early" at 10:30), and
    // the first lands in the hour-10 sink only if it is still open (at now - window exactly).
    node.push(&[
        event(hour10.end_ms - 1, "h"),
        event(ms("2024-06-01T11:05:00Z"), "i"),
    ])
    .await;
    node.wait_ingested(9).await;
    assert_eq!(node.processed(), 5);
    tokio::time::sleep(SETTLE).await;
    node.assert_nothing_pushed().await;

    node.clock.set(hour10.end_ms + WINDOW);
    let published = node.wait_published(1).await;
    assert_eq!(published[0].interval, hour10);
    assert_eq!(published[0].version, "2024-06-01T10:00:00.000Z");
    assert_eq!(pushed_rows(&published[0]), 4, "a, b, d and h");
    assert_eq!(node.descriptors().len(), 1);
    // Handed off (handoff `none`): the node no longer serves hour 10; hour 11 stays.
    wait_until_async(|| async { node.pages().await == pages(&[("i", 1)]) }).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(node.published().await.len(), 1, "hour 11 ends at 12:00");
    // Hour 10 is now before the window.
    node.push(&[event(hour10.end_ms - 1, "j")]).await;
    node.wait_ingested(10).await;
    assert_eq!(node.thrown_away("late"), 3);

    let summaries = node.end_input().await;
    let summary = summary_of(&summaries);
    assert_eq!(summary["processed"], 5, "{summary}");
    assert_eq!(summary["thrownAway"], 5, "{summary}");
    let counts = summaries[0].summary.counts;
    assert_eq!((counts.thrown_away_late, counts.thrown_away_early), (3, 2));
    let published = node.published().await;
    assert_eq!(published.len(), 2, "the input's end pushes hour 11");
    assert_eq!(published[1].interval.start_ms, hour10.end_ms);
    assert_eq!(pushed_rows(&published[1]), 1);
    assert_eq!(node.descriptors().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_time_measures_the_window_from_the_latest_event_not_the_clock() {
    let clock = ms("2020-01-01T00:00:00Z");
    let mut node = TestNode::start(clock, |d| window_spec("message", "messageTime", d)).await;
    // The first event is 10.5 hours ahead of the clock: serverTime would call it early.
    let max = ms("2020-01-01T10:30:00Z");
    node.push(&[
        event(max, "a"),
        event(max - WINDOW, "b"),
        event(max - WINDOW - 1, "c"),
        event(max - 3 * HOUR, "d"),
    ])
    .await;
    node.wait_ingested(4).await;
    assert_eq!(
        (
            node.processed(),
            node.thrown_away("late"),
            node.thrown_away("early")
        ),
        (2, 2, 0)
    );

    // The clock does not age sinks.
    node.clock.advance(365 * DAY);
    tokio::time::sleep(SETTLE).await;
    node.assert_nothing_pushed().await;

    // The latest event one millisecond short of hour 10's end + window: hour 10 stays open.
    let hour10 = Interval::new(ms("2020-01-01T10:00:00Z"), ms("2020-01-01T11:00:00Z"));
    node.push(&[event(hour10.end_ms + WINDOW - 1, "e")]).await;
    node.wait_ingested(5).await;
    tokio::time::sleep(SETTLE).await;
    node.assert_nothing_pushed().await;
    node.push(&[event(hour10.end_ms - 1, "f")]).await;
    node.wait_ingested(6).await;
    assert_eq!(
        node.processed(),
        4,
        "f is at maxSeen - window, in the open sink"
    );

    // An event at hour 10's end + window closes it.
    node.push(&[event(hour10.end_ms + WINDOW, "g")]).await;
    let published = node.wait_published(1).await;
    assert_eq!(published[0].interval, hour10);
    assert_eq!(pushed_rows(&published[0]), 3, "a, b and f");
    node.push(&[event(hour10.end_ms - 1, "h")]).await;
    node.wait_ingested(8).await;
    assert_eq!(node.thrown_away("late"), 3);

    // Nothing is too early: an event a month ahead is kept, and ages hour 11 past its window.
    node.push(&[event(max + 30 * DAY, "k")]).await;
    node.wait_ingested(9).await;
    assert_eq!(node.processed(), 6);
    let published = node.wait_published(2).await;
    assert_eq!(published[1].interval.start_ms, hour10.end_ms);
    assert_eq!(pushed_rows(&published[1]), 2, "e and g");

    let summaries = node.end_input().await;
    let summary = summary_of(&summaries);
    assert_eq!(
        (&summary["processed"], &summary["thrownAway"]),
        (&json!(6), &json!(3))
    );
    assert_eq!(summaries[0].summary.counts.thrown_away_early, 0);
    let published = node.published().await;
    assert_eq!(published.len(), 3, "the input's end pushes the last sink");
    assert_eq!(published[2].interval.start_ms, ms("2020-01-31T10:00:00Z"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_rejects_nothing_and_pushes_only_when_the_input_ends() {
    let now = ms("2024-06-01T10:30:00Z");
    let mut node = TestNode::start(now, |d| window_spec("none", "none", d)).await;
    node.push(&[
        event(now - 3 * 365 * DAY, "old"),
        event(now, "now"),
        event(now + 365 * DAY, "future"),
    ])
    .await;
    node.wait_ingested(3).await;
    assert_eq!(node.processed(), 3);
    assert_eq!(node.thrown_away("late") + node.thrown_away("early"), 0);

    // Neither the clock nor later event times age a sink under `none`.
    node.clock.advance(10 * 365 * DAY);
    node.push(&[event(now + 5 * 365 * DAY, "later")]).await;
    node.wait_ingested(4).await;
    tokio::time::sleep(SETTLE).await;
    node.assert_nothing_pushed().await;
    assert_eq!(
        node.pages().await,
        pages(&[("future", 1), ("later", 1), ("now", 1), ("old", 1)])
    );

    let summaries = node.end_input().await;
    let summary = summary_of(&summaries);
    assert_eq!(
        (&summary["processed"], &summary["thrownAway"]),
        (&json!(4), &json!(0))
    );
    assert_eq!(summary["segments"].as_array().unwrap().len(), 4);
    let published = node.published().await;
    assert_eq!(published.len(), 4);
    assert!(published.iter().all(|s| pushed_rows(s) == 1));
    assert_eq!(node.descriptors().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_the_input_pushes_every_sink_also_when_the_node_keeps_running() {
    // Reference §2.1: when the firehose is exhausted the chief calls `finishJob`, which pushes
    // every sink whatever the policy; the node itself keeps serving (no `--exit-when-done`).
    let now = ms("2024-06-01T10:30:00Z");
    let mut node = TestNode::start_with(now, false, |d| window_spec("kept", "none", d)).await;
    node.push(&[event(now - DAY, "old"), event(now, "now")])
        .await;
    node.wait_ingested(2).await;
    tokio::time::sleep(SETTLE).await;
    node.assert_nothing_pushed().await;
    node.shut_receiver().await;
    let published = node.wait_published(2).await;
    assert!(published.iter().all(|s| pushed_rows(s) == 1));
    wait_until("2 handoffs", || node.handoffs() >= 2).await;
    // Still running and serving: the sinks were handed off, so the node holds no rows.
    let (status, _) = node.get("/status/health").await;
    assert_eq!(status, 200);
    assert_eq!(node.pages().await, pages(&[]));
    let summaries = node.stop().await;
    let summary = summary_of(&summaries);
    assert_eq!(
        (&summary["processed"], &summary["rowsInMemory"]),
        (&json!(2), &json!(0))
    );
    assert_eq!(summary["segments"].as_array().unwrap().len(), 2);
}

/// A window-test spec with Druid's `flushing` plumber.
fn flushing_spec(data_source: &str, flush_duration: &str, dir: &Path) -> Value {
    let mut spec = window_spec(data_source, "serverTime", dir);
    spec["ioConfig"]["plumber"] = json!({"type": "flushing", "flushDuration": flush_duration});
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flushing_plumber_serves_a_closed_sink_for_flush_duration_then_drops_it_unpushed() {
    let now = ms("2024-06-01T10:30:00Z");
    let mut node = TestNode::start_with(now, false, |d| flushing_spec("flush", "PT2S", d)).await;
    let hour10 = Interval::new(ms("2024-06-01T10:00:00Z"), ms("2024-06-01T11:00:00Z"));
    node.push(&[event(now, "a"), event(now, "b")]).await;
    node.wait_ingested(2).await;
    // Past hour 10's end + windowPeriod: the realtime plumber would push it now.
    node.clock.set(hour10.end_ms + WINDOW);
    node.push(&[event(hour10.end_ms + WINDOW, "c")]).await;
    node.wait_ingested(3).await;
    wait_until("the closing persist", || node.persists() >= 1).await;
    let closed_at = Instant::now();
    assert!(hydrant_dirs(node.dir.path(), "flush", hour10) >= 1);
    assert_eq!(
        node.pages().await,
        pages(&[("a", 1), ("b", 1), ("c", 1)]),
        "a closed sink is served until flushDuration has passed"
    );
    wait_until_async(|| async { node.pages().await == pages(&[("c", 1)]) }).await;
    assert!(
        closed_at.elapsed() >= Duration::from_millis(1500),
        "dropped after {:?}, before flushDuration",
        closed_at.elapsed()
    );
    wait_until("the sink's files deleted", || {
        hydrant_dirs(node.dir.path(), "flush", hour10) == 0
    })
    .await;
    node.assert_nothing_pushed().await;
    assert_eq!(node.handoffs(), 0);
    let summaries = node.stop().await;
    let summary = summary_of(&summaries);
    assert_eq!(summary["processed"], 3);
    assert_eq!(summary["segments"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_the_input_drops_every_flushing_sink_at_once() {
    // Druid's `FlushingPlumber.finishJob` abandons every sink without waiting flushDuration.
    let now = ms("2024-06-01T10:30:00Z");
    let mut node = TestNode::start(now, |d| flushing_spec("flush_end", "PT1H", d)).await;
    let hour10 = Interval::new(ms("2024-06-01T10:00:00Z"), ms("2024-06-01T11:00:00Z"));
    node.push(&[event(now, "a")]).await;
    node.wait_ingested(1).await;
    // Hour 10 closes (its drop is scheduled an hour later), hour 11 is open.
    node.clock.set(hour10.end_ms + WINDOW);
    node.push(&[event(hour10.end_ms + WINDOW, "b")]).await;
    node.wait_ingested(2).await;
    wait_until("the closing persist", || node.persists() >= 1).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(node.pages().await, pages(&[("a", 1), ("b", 1)]));
    let summaries = node.end_input().await;
    let summary = summary_of(&summaries);
    assert_eq!(
        (&summary["processed"], &summary["segments"]),
        (&json!(2), &json!([]))
    );
    node.assert_nothing_pushed().await;
    for interval in [hour10, Interval::new(hour10.end_ms, hour10.end_ms + HOUR)] {
        assert_eq!(hydrant_dirs(node.dir.path(), "flush_end", interval), 0);
    }
}

async fn wait_until_async<F: std::future::Future<Output = bool>>(mut done: impl FnMut() -> F) {
    let deadline = Instant::now() + WAIT;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- Druid's realtime integration test ----

const IT_DATA_SOURCE: &str = "wikipedia_index_test";

/// `yyyy-MM-dd'T'HH:mm:ss` (the event timestamp format of the test).
fn event_fmt(t: i64) -> String {
    format_iso(t)[..19].to_string()
}

/// `yyyy-MM-dd'T'HH:mm:ss'.000Z'`.
fn timestamp_fmt(t: i64) -> String {
    format!("{}.000Z", event_fmt(t))
}

/// `yyyy-MM-dd'T'HH:mm:'00Z'`.
fn interval_fmt(t: i64) -> String {
    format!("{}00Z", &event_fmt(t)[..17])
}

/// The task file with its placeholders filled, `basePersistDirectory` in `dir` and `tuning`
/// merged over its tuningConfig.
fn it_spec(dir: &Path, tuning: &Value) -> Value {
    let shutoff = format_iso(chrono::Utc::now().timestamp_millis() + 3 * 60_000);
    let text = std::fs::read_to_string(shared("druid/it/wikipedia_realtime_index_task.json"))
        .unwrap()
        .replace("%%DATASOURCE%%", IT_DATA_SOURCE)
        .replace("#SHUTOFFTIME", &shutoff);
    let mut task: Value = serde_json::from_str(&text).unwrap();
    let tuning_config = &mut task["spec"]["tuningConfig"];
    tuning_config["basePersistDirectory"] = json!(dir.join("persist").display().to_string());
    for (key, value) in tuning.as_object().unwrap() {
        tuning_config[key] = value.clone();
    }
    task
}

/// Times of the protocol's events (the clock read when each is sent).
struct Sent {
    first: i64,
    last: i64,
    group_by: i64,
}

/// Posts the 22 events as ITRealtimeIndexTaskTest does, one every 4 s of clock time; waits for
/// each to be ingested before the clock moves on.
async fn post_it_events(node: &TestNode) -> Sent {
    let text =
        std::fs::read_to_string(shared("druid/it/wikipedia_realtime_index_data.json")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 22);
    let mut sent = Sent {
        first: 0,
        last: 0,
        group_by: 0,
    };
    for (index, line) in lines.iter().enumerate() {
        let i = index + 1;
        let now = node.clock.now_ms();
        let dt = match i {
            15 => now - 10 * MINUTE,
            18 => now - 6_000,
            _ => now,
        };
        if i == 1 {
            sent.first = dt;
        }
        if i == 16 {
            sent.group_by = dt;
        }
        let line = line
            .trim()
            .trim_end_matches(',')
            .replace("YYYY-MM-DDTHH:MM:SS", &event_fmt(dt));
        let event: Value = serde_json::from_str(&line).unwrap();
        node.push(&[event]).await;
        node.wait_ingested(i as u64).await;
        sent.last = dt;
        node.clock.advance(4_000);
    }
    sent
}

/// The query file with every placeholder substituted as AbstractITRealtimeIndexTaskTest does.
fn it_queries(sent: &Sent) -> Vec<Value> {
    let truncated = |t: i64| t - t.rem_euclid(1000);
    let (first, last) = (truncated(sent.first), truncated(sent.last));
    let text = std::fs::read_to_string(shared("druid/it/wikipedia_realtime_index_queries.json"))
        .unwrap()
        .replace("%%TIMEBOUNDARY_RESPONSE_TIMESTAMP%%", &timestamp_fmt(first))
        .replace("%%TIMEBOUNDARY_RESPONSE_MAXTIME%%", &timestamp_fmt(last))
        .replace("%%TIMEBOUNDARY_RESPONSE_MINTIME%%", &timestamp_fmt(first))
        .replace("%%TIMESERIES_QUERY_START%%", &interval_fmt(first))
        .replace("%%TIMESERIES_QUERY_END%%", &interval_fmt(last + 2 * MINUTE))
        .replace("%%TIMESERIES_RESPONSE_TIMESTAMP%%", &timestamp_fmt(first))
        .replace("%%POST_AG_REQUEST_START%%", &interval_fmt(first))
        .replace("%%POST_AG_REQUEST_END%%", &interval_fmt(last + 2 * MINUTE))
        .replace(
            "%%POST_AG_RESPONSE_TIMESTAMP%%",
            &timestamp_fmt(sent.group_by - sent.group_by.rem_euclid(MINUTE)),
        )
        .replace("%%DATASOURCE%%", IT_DATA_SOURCE);
    assert!(!text.contains("%%"), "a placeholder is left");
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Checks every query's answer; the `join` query must be refused clearly (rtnode has no joins).
/// Returns how many matched their expected results.
async fn check_it_queries<F, Fut>(queries: &[Value], where_: &str, run: F) -> usize
where
    F: Fn(Value) -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    let mut matched = 0;
    for case in queries {
        let description = case["description"].as_str().unwrap();
        let (status, body) = run(case["query"].clone()).await;
        if case["query"]["dataSource"]["type"] == "join" {
            assert_eq!(status, 400, "{where_}: {description}: {body}");
            assert_eq!(body["error"], "Unsupported operation", "{body}");
            let message = body["errorMessage"].as_str().unwrap();
            assert!(message.contains("`join`"), "{message}");
            continue;
        }
        assert_eq!(status, 200, "{where_}: {description}: {body}");
        if let Err(diff) = json_matches(&case["expectedResults"], &body, "$") {
            panic!(
                "{where_}: {description}: {diff}\nexpected {}\nactual   {body}",
                case["expectedResults"]
            );
        }
        matched += 1;
    }
    matched
}

/// Hydrant directories of a sink (`{persist}/{ds}/{interval}/{n}`).
fn hydrant_dirs(dir: &Path, data_source: &str, interval: Interval) -> usize {
    let sink = dir
        .join("persist")
        .join(data_source)
        .join(interval.to_path_component());
    std::fs::read_dir(sink)
        .map(|entries| {
            entries
                .map(Result::unwrap)
                .filter(|e| e.file_name().to_str().unwrap().parse::<u32>().is_ok())
                .count()
        })
        .unwrap_or(0)
}

/// Runs the protocol; `persisted` says whether the tuning persists each event (the task file's
/// `maxRowsInMemory: 1`) or keeps everything in memory until handoff.
async fn druid_realtime_it(tuning: Value, persisted: bool) {
    // Half a second into a second, so event timestamps (whole seconds) trail the clock.
    let start = ms("2024-06-01T10:00:02.500Z");
    let mut node = TestNode::start(start, |d| it_spec(d, &tuning)).await;
    let sent = post_it_events(&node).await;
    assert_eq!(
        (node.processed(), node.thrown_away("late")),
        (21, 1),
        "line 15 is ten minutes old"
    );
    let minute0 = Interval::new(ms("2024-06-01T10:00:00Z"), ms("2024-06-01T10:01:00Z"));
    let minute1 = Interval::new(minute0.end_ms, minute0.end_ms + MINUTE);
    if persisted {
        // Every event was persisted on arrival: 14 hydrants in minute 0, 7 in minute 1.
        wait_until("21 persists", || node.persists() >= 21).await;
        assert_eq!(
            (
                hydrant_dirs(node.dir.path(), IT_DATA_SOURCE, minute0),
                hydrant_dirs(node.dir.path(), IT_DATA_SOURCE, minute1)
            ),
            (14, 7)
        );
        // One backpressure observation per persist, also on the trigger path (which waits
        // for the persists in flight before it decides to persist).
        let text = node.metrics.encode();
        let waits = text
            .lines()
            .find(|l| l.starts_with("druid_ingest_persists_backpressure_count{"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok());
        assert_eq!(waits, Some(node.persists()), "{text}");
    } else {
        assert_eq!(node.persists(), 0, "everything is still in memory");
    }

    let queries = it_queries(&sent);
    let where_ = if persisted {
        "node, persisted hydrants"
    } else {
        "node, in memory"
    };
    let matched = check_it_queries(&queries, where_, |q| {
        let node = &node;
        async move { node.query(&q).await }
    })
    .await;
    assert_eq!(matched, 3);

    // Minute 0 is pushed at its end + windowPeriod (10:02:00) by the clock, not before.
    node.clock.set(minute0.end_ms + MINUTE - 1);
    tokio::time::sleep(SETTLE).await;
    node.assert_nothing_pushed().await;
    node.clock.set(minute0.end_ms + MINUTE);
    let published = node.wait_published(1).await;
    assert_eq!(published[0].interval, minute0);
    node.clock.set(minute1.end_ms + MINUTE);
    let published = node.wait_published(2).await;
    assert_eq!(published[1].interval, minute1);

    wait_until("2 handoffs", || node.handoffs() >= 2).await;
    let (status, text) = node.get("/metrics").await;
    assert_eq!(status, 200);
    for line in [
        r#"druid_ingest_events_processed_total{dataSource="wikipedia_index_test"} 21"#,
        r#"druid_ingest_events_thrownaway_total{dataSource="wikipedia_index_test",reason="late"} 1"#,
        r#"druid_ingest_handoff_count_total{dataSource="wikipedia_index_test"} 2"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    let summaries = node.end_input().await;
    let summary = summary_of(&summaries);
    assert_eq!(summary["processed"], 21, "{summary}");
    assert_eq!(summary["thrownAway"], 1, "{summary}");
    assert_eq!(summary["unparseable"], 0, "{summary}");
    assert_eq!(
        summary["segments"].as_array().unwrap().len(),
        2,
        "{summary}"
    );

    // After handoff a historical answers from the pushed segments: the same results.
    let segments = published
        .iter()
        .map(|s| {
            let segment = Segment::open_zip(&zip_path(s)).unwrap();
            QueryableSegment::new(
                IT_DATA_SOURCE,
                s.interval,
                &s.version,
                0,
                vec![Arc::new(segment)],
            )
        })
        .collect();
    let historical = router(Arc::new(ServerState::for_target(Arc::new(
        StaticTarget::new(segments),
    ))));
    let matched = check_it_queries(&queries, "pushed segments", |q| {
        let app = &historical;
        async move {
            let (status, body) = query_support::query(app, &q).await;
            (status.as_u16(), body)
        }
    })
    .await;
    assert_eq!(matched, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn druid_realtime_it_with_the_task_tuning_persisting_every_event() {
    druid_realtime_it(json!({}), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn druid_realtime_it_with_the_data_in_memory() {
    druid_realtime_it(
        json!({"maxRowsInMemory": 100000, "intermediatePersistPeriod": "PT10M"}),
        false,
    )
    .await;
}
