//! Merge, push, publish, hand off: the life of a closed sink (reference §2.8), as one async task
//! per sink on the node runtime, CPU parts on blocking threads.
//!
//! 1. merge the sink's hydrants straight into deep storage's `index.zip` (column spills in
//!    `{sink}/merged/`; written under a temporary name and renamed, rebuilt on every attempt:
//!    the merged segment is written once, never as a local directory that is zipped again);
//! 2. push: write `descriptor.json` next to it;
//! 3. publish: insert the `druid_segments` row and, in the same transaction, store the
//!    committed firehose checkpoint in the `druid_dataSource` row (compare-and-swap on this
//!    partition's entry); then record the sink as pushed in the commit record;
//! 4. wait for handoff (or `handoffConditionTimeout`), unannounce, drop the sink's files.
//!
//! With Druid's `flushing` plumber the sink skips steps 1–3: it stays queryable for
//! `flushDuration` (or until the job finishes: the input ended), then step 4 drops it unpushed.
//!
//! Every step is idempotent (same segment id, same deep-storage path, insert-if-absent), and a
//! failure retries the whole attempt with exponential backoff, counted in
//! `ingest/handoff/failed`. A completed handoff counts in `ingest/handoff/count`, and the wait
//! from publish to handoff is observed in `ingest/handoff/time` (after a restart, from the
//! resumed wait); a handoff given up after the timeout counts in neither.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, oneshot, watch};

use super::persist::{CheckpointState, PersistCommand};
use crate::announce::{Announcer, HandoffNotifier};
use crate::metrics::DataSourceMetrics;
use crate::segment::descriptor::DataSegment;
use crate::segment::merge::{MergeSpec, MetricCombiner, merge_segments_with};
use crate::segment::reader::Segment;
use crate::segment::writer::{SegmentOutput, WriteOptions};
use crate::storage::deep::LocalDeepStorage;
use crate::storage::metadata::{CommitUpdate, MetadataStore};
use crate::time::Interval;

/// Longest pause between failed attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What every handoff task of a fire department shares.
#[derive(Debug)]
pub struct HandoffContext {
    /// Datasource.
    pub data_source: String,
    /// This node's partition.
    pub partition: u32,
    /// The fire department's persist directory.
    pub dir: PathBuf,
    /// Metric combiners by name, in spec order.
    pub combiners: Vec<(String, MetricCombiner)>,
    /// Metric names in spec order (the DataSegment `metrics`).
    pub metric_names: Vec<String>,
    /// The spec's dimension order (empty when schemaless): ties and conflicts of the hydrants'
    /// dimension orders are settled by it at merge.
    pub dimension_hint: Vec<String>,
    /// String dimensions whose merged column has no bitmap indexes (`createBitmapIndex: false`).
    pub without_bitmap_index: Vec<String>,
    /// Rollup flag of the merge.
    pub rollup: bool,
    /// Column formats of the merged segment (`tuningConfig.indexSpec`).
    pub write_options: WriteOptions,
    /// Deep storage.
    pub deep_storage: LocalDeepStorage,
    /// Metadata store (`None` when `druid.publish.type` is `noop`).
    pub metadata: Option<Arc<MetadataStore>>,
    /// Segment announcements.
    pub announcer: Arc<dyn Announcer>,
    /// Handoff detection.
    pub handoff: Arc<dyn HandoffNotifier>,
    /// `handoffConditionTimeout` (`None`: wait forever).
    pub handoff_timeout: Option<Duration>,
    /// How often a wait for handoff is reported with what rtnode can check of it.
    pub handoff_report_interval: Duration,
    /// The persist worker (commit record writer).
    pub persist: std::sync::mpsc::Sender<PersistCommand>,
    /// Serializes publishes of this fire department (the checkpoint compare-and-swap).
    pub publish_lock: Mutex<()>,
    /// `flushing` plumber: how long a closed sink is kept before it is dropped unpushed
    /// (`None`: the `realtime` plumber, which pushes).
    pub flush_duration: Option<Duration>,
    /// Set when the job finishes (the input ended): a `flushing` plumber drops its sinks at once.
    pub finish_job: watch::Sender<bool>,
    /// Metrics.
    pub metrics: DataSourceMetrics,
}

/// A sink ready to go: its identity and persisted hydrant directories.
#[derive(Debug, Clone)]
pub struct SinkToHandOff {
    /// The realtime segment (identity: interval, version, shard spec).
    pub realtime: DataSegment,
    /// Hydrant directories in number order.
    pub hydrant_dirs: Vec<PathBuf>,
    /// Set when the sink was already published (restart after publish).
    pub already_pushed: Option<DataSegment>,
    /// The sink's only hydrant when this process wrote it in the segment's format
    /// ([`super::sink::Hydrant::in_segment_format`]): pushed as it is, without a merge.
    pub ready_segment: Option<ReadySegment>,
}

/// A hydrant directory that is its sink's segment as it stands.
#[derive(Debug, Clone)]
pub struct ReadySegment {
    /// The hydrant's directory.
    pub dir: PathBuf,
    /// Rows it holds.
    pub rows: u64,
}

/// What a handoff task reports to the ingest loop.
#[derive(Debug)]
pub enum HandoffEvent {
    /// Published.
    Pushed {
        /// Sink interval.
        interval: Interval,
        /// The published segment.
        segment: Box<DataSegment>,
        /// Rows in the merged segment.
        rows: u64,
    },
    /// Publishing failed in a way retrying cannot fix; the node must stop.
    Failed {
        /// Sink interval.
        interval: Interval,
        /// Why.
        message: String,
    },
    /// Handed off (or given up after the timeout); the sink is gone.
    Done {
        /// Sink interval.
        interval: Interval,
        /// False when the timeout expired first.
        handed_off: bool,
    },
}

/// Runs the whole life of a closed sink.
pub async fn run(
    ctx: Arc<HandoffContext>,
    sink: SinkToHandOff,
    events: mpsc::Sender<HandoffEvent>,
) {
    let interval = sink.realtime.interval;
    if let Some(flush_duration) = ctx.flush_duration {
        wait_to_abandon(&ctx, &sink, flush_duration).await;
        drop_sink(&ctx, &sink).await;
        let _ = events
            .send(HandoffEvent::Done {
                interval,
                handed_off: false,
            })
            .await;
        return;
    }
    let segment = match sink.already_pushed.clone() {
        Some(segment) => segment,
        None => match push_with_retries(&ctx, &sink, &events).await {
            Ok(segment) => segment,
            Err(message) => {
                let _ = events
                    .send(HandoffEvent::Failed { interval, message })
                    .await;
                return;
            }
        },
    };
    let published_at = Instant::now();
    let handed_off = super::handoff_wait::wait_for_handoff(&ctx, &segment).await;
    let waited = published_at.elapsed();
    drop_sink(&ctx, &sink).await;
    if handed_off {
        let node = ctx.metrics.node();
        node.handoff_count.get_or_create(ctx.metrics.labels()).inc();
        node.handoff_time
            .get_or_create(ctx.metrics.labels())
            .observe(waited.as_secs_f64());
    }
    let _ = events
        .send(HandoffEvent::Done {
            interval,
            handed_off,
        })
        .await;
}

/// `flushing` plumber: waits `flush_duration`, or until the job finishes, as Druid's
/// `FlushingPlumber` schedules `abandonSegment`.
async fn wait_to_abandon(ctx: &HandoffContext, sink: &SinkToHandOff, flush_duration: Duration) {
    let mut finish = ctx.finish_job.subscribe();
    if !*finish.borrow() {
        tracing::info!(data_source = %ctx.data_source, segment = %sink.realtime.identifier(), flush_duration_ms = flush_duration.as_millis() as u64, "abandoning segment after flushDuration (flushing plumber: it is not pushed)");
        tokio::select! {
            _ = tokio::time::sleep(flush_duration) => {}
            _ = finish.wait_for(|finished| *finished) => {}
        }
    }
    tracing::info!(data_source = %ctx.data_source, segment = %sink.realtime.identifier(), "abandoning segment");
}

/// Unannounces the sink and deletes its files (through the persist worker, which also removes
/// it from the commit record).
async fn drop_sink(ctx: &HandoffContext, sink: &SinkToHandOff) {
    ctx.announcer.unannounce(&sink.realtime);
    let (reply, done) = oneshot::channel();
    let interval = sink.realtime.interval;
    if ctx
        .persist
        .send(PersistCommand::Remove { interval, reply })
        .is_ok()
    {
        let _ = done.await;
    }
}

async fn push_with_retries(
    ctx: &Arc<HandoffContext>,
    sink: &SinkToHandOff,
    events: &mpsc::Sender<HandoffEvent>,
) -> Result<DataSegment, String> {
    let mut backoff = Duration::from_millis(500);
    loop {
        match push_once(ctx, sink).await {
            Ok((segment, rows)) => {
                let _ = events
                    .send(HandoffEvent::Pushed {
                        interval: segment.interval,
                        segment: Box::new(segment.clone()),
                        rows,
                    })
                    .await;
                return Ok(segment);
            }
            Err(PushFailure::Fatal(message)) => return Err(message),
            Err(e) => {
                ctx.metrics
                    .node()
                    .handoff_failed
                    .get_or_create(ctx.metrics.labels())
                    .inc();
                tracing::error!(data_source = %ctx.data_source, segment = %sink.realtime.identifier(), error = %e, retry_in_ms = backoff.as_millis() as u64, "merge/push/publish failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Why an attempt failed.
#[derive(Debug)]
enum PushFailure {
    /// Worth another attempt (I/O, the metadata store unreachable, …).
    Retry(String),
    /// Retrying cannot help: the node must stop.
    Fatal(String),
}

impl std::fmt::Display for PushFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushFailure::Retry(m) | PushFailure::Fatal(m) => f.write_str(m),
        }
    }
}

/// One attempt: merge, push, publish, record as pushed.
async fn push_once(
    ctx: &Arc<HandoffContext>,
    sink: &SinkToHandOff,
) -> Result<(DataSegment, u64), PushFailure> {
    let gone = || PushFailure::Retry("the persist worker is gone".to_string());
    let started = Instant::now();
    let (pushed, rows) = {
        let (ctx, sink) = (ctx.clone(), sink.clone());
        tokio::task::spawn_blocking(move || merge_and_push(&ctx, &sink))
            .await
            .map_err(|e| PushFailure::Retry(e.to_string()))?
            .map_err(PushFailure::Retry)?
    };
    ctx.metrics
        .node()
        .merge_time
        .get_or_create(ctx.metrics.labels())
        .observe(started.elapsed().as_secs_f64());
    let _guard = ctx.publish_lock.lock().await;
    let (reply, state) = oneshot::channel();
    ctx.persist
        .send(PersistCommand::Checkpoints(reply))
        .map_err(|_| gone())?;
    let state = state.await.map_err(|_| gone())?;
    if let Some(store) = &ctx.metadata {
        publish(ctx, store, &pushed, &state).await?;
    }
    crate::failpoint::hit("handoff.after_publish");
    let (reply, done) = oneshot::channel();
    let command = PersistCommand::MarkPushed {
        interval: pushed.interval,
        segment: pushed.clone(),
        published_checkpoint: state.committed,
        reply,
    };
    ctx.persist.send(command).map_err(|_| gone())?;
    done.await.map_err(|_| gone())?;
    tracing::info!(data_source = %ctx.data_source, segment = %pushed.identifier(), rows, size_bytes = pushed.size_bytes, "segment pushed and published");
    Ok((pushed, rows))
}

/// Merges the hydrants straight into deep storage's `index.zip` (spilling into
/// `{sink}/merged/`) and writes its descriptor; blocking.
fn merge_and_push(
    ctx: &HandoffContext,
    sink: &SinkToHandOff,
) -> Result<(DataSegment, u64), String> {
    if let Some(ready) = &sink.ready_segment {
        return push_as_it_is(ctx, sink, ready);
    }
    let sink_dir = super::sink::Sink::dir(&ctx.dir, &sink.realtime.interval);
    let merged_dir = sink_dir.join("merged");
    if merged_dir.exists() {
        std::fs::remove_dir_all(&merged_dir)
            .map_err(|e| format!("{}: {e}", merged_dir.display()))?;
    }
    let inputs = sink
        .hydrant_dirs
        .iter()
        .map(|d| Segment::open(d).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = MergeSpec {
        combiners: &ctx.combiners,
        rollup: ctx.rollup,
        dimension_hint: &ctx.dimension_hint,
        without_bitmap_index: &ctx.without_bitmap_index,
        options: ctx.write_options,
    };
    let mut template = sink.realtime.clone();
    template.metrics = ctx.metric_names.clone();
    let zip_path = ctx
        .deep_storage
        .zip_path(&template)
        .map_err(|e| e.to_string())?;
    let output = SegmentOutput::Zip {
        zip_path,
        scratch_dir: merged_dir,
    };
    let merged = merge_segments_with(&inputs, &spec, output).map_err(|e| e.to_string())?;
    crate::failpoint::hit("handoff.after_merge");
    template.dimensions = merged.dimensions.clone();
    let pushed = ctx
        .deep_storage
        .describe(&merged, &template)
        .map_err(|e| e.to_string())?;
    crate::failpoint::hit("handoff.after_push");
    Ok((pushed.segment, merged.num_rows as u64))
}

/// Zips a sink's only hydrant, written in the segment's format, into deep storage as the
/// segment (what merging it alone would write); blocking. The push opens (and checks) the
/// segment and fills the descriptor's dimensions from it.
fn push_as_it_is(
    ctx: &HandoffContext,
    sink: &SinkToHandOff,
    ready: &ReadySegment,
) -> Result<(DataSegment, u64), String> {
    let mut template = sink.realtime.clone();
    template.metrics = ctx.metric_names.clone();
    template.dimensions.clear();
    crate::failpoint::hit("handoff.after_merge");
    let pushed = ctx
        .deep_storage
        .push(&ready.dir, &template)
        .map_err(|e| e.to_string())?;
    crate::failpoint::hit("handoff.after_push");
    Ok((pushed.segment, ready.rows))
}

/// Inserts the segment row and, in the same transaction, sets this partition's entry of the
/// `druid_dataSource` row to `{"writerId", "checkpoint"}`. The entry must be absent or written by
/// this persisted state (same writer id — e.g. again after a crash between publish and commit
/// record); an entry of another writer means another node ingests the same partition, which is
/// fatal — unless this state never published (fresh local state), which takes over with a
/// warning. Retried when another partition changed the row in between.
async fn publish(
    ctx: &HandoffContext,
    store: &MetadataStore,
    segment: &DataSegment,
    state: &CheckpointState,
) -> Result<(), PushFailure> {
    let key = ctx.partition.to_string();
    let retry = |e: crate::storage::metadata::MetadataError| PushFailure::Retry(e.to_string());
    for _ in 0..10 {
        let current = store
            .read_commit_metadata(&ctx.data_source)
            .await
            .map_err(retry)?;
        let ours = current
            .as_ref()
            .and_then(|c| c.get("partitions"))
            .and_then(|p| p.get(&key));
        let owner = ours.and_then(|o| o.get("writerId")).and_then(Value::as_str);
        if let Some(owner) = owner
            && owner != state.writer_id
        {
            if state.published.is_some() {
                return Err(PushFailure::Fatal(format!(
                    "the metadata store's checkpoint for datasource `{}` partition {} was written by another node (writer {owner}); two nodes must not ingest the same partition",
                    ctx.data_source, ctx.partition
                )));
            }
            tracing::warn!(data_source = %ctx.data_source, partition = ctx.partition, previous_writer = owner, "taking over a partition checkpoint this node's local state does not know (local state was reset?)");
        }
        let mut next = current
            .clone()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({"type": "rtnode", "partitions": {}}));
        next["partitions"][&key] =
            json!({"writerId": state.writer_id, "checkpoint": state.committed});
        let update = CommitUpdate {
            data_source: ctx.data_source.clone(),
            expected_previous: current,
            new: next,
        };
        match store
            .publish(std::slice::from_ref(segment), Some(update))
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.is_commit_conflict() => continue,
            Err(e) => return Err(retry(e)),
        }
    }
    Err(PushFailure::Retry(
        "the druid_dataSource row kept changing under concurrent publishes".into(),
    ))
}

/// Waits for a historical to serve the segment, or for the timeout.
#[cfg(test)]
pub(super) mod tests {
    use std::sync::Mutex as StdMutex;

    use super::*;
    use crate::announce::{ImmediateHandoffNotifier, SegmentDescriptor};
    use crate::metrics::NodeMetrics;
    use crate::segment::descriptor::ShardSpec;

    /// Records unannounced identifiers.
    #[derive(Debug, Default)]
    struct Recorder(StdMutex<Vec<String>>);

    impl Announcer for Recorder {
        fn announce(&self, _segment: &DataSegment) {}
        fn unannounce(&self, segment: &DataSegment) {
            self.0.lock().unwrap().push(segment.identifier());
        }
    }

    /// A notifier that never fires (the sender is kept alive).
    #[derive(Debug, Default)]
    struct Never(StdMutex<Vec<oneshot::Sender<()>>>);

    impl HandoffNotifier for Never {
        fn watch(&self, _segment: SegmentDescriptor) -> oneshot::Receiver<()> {
            let (sender, receiver) = oneshot::channel();
            self.0.lock().unwrap().push(sender);
            receiver
        }
    }

    /// A context with nothing behind it: no metadata store, deep storage at a path that does not
    /// exist, a no-op announcer.
    pub(in crate::plumber) fn context(
        notifier: Arc<dyn HandoffNotifier>,
        timeout: Option<Duration>,
        persist: std::sync::mpsc::Sender<PersistCommand>,
    ) -> HandoffContext {
        HandoffContext {
            data_source: "wiki".into(),
            partition: 0,
            dir: PathBuf::from("/nonexistent"),
            combiners: vec![],
            metric_names: vec!["count".into()],
            dimension_hint: vec![],
            without_bitmap_index: vec![],
            rollup: true,
            write_options: WriteOptions::default(),
            deep_storage: LocalDeepStorage::new("/nonexistent"),
            metadata: None,
            announcer: Arc::new(Recorder::default()),
            handoff: notifier,
            handoff_timeout: timeout,
            handoff_report_interval: Duration::from_millis(50),
            persist,
            publish_lock: Mutex::new(()),
            flush_duration: None,
            finish_job: watch::Sender::new(false),
            metrics: NodeMetrics::new().for_data_source("wiki"),
        }
    }

    fn realtime() -> DataSegment {
        DataSegment {
            metrics: vec!["count".into()],
            ..DataSegment::unpushed(
                "wiki",
                "2015-09-12T01/2015-09-12T02".parse().unwrap(),
                "2015-09-12T01:00:00.000Z",
                ShardSpec::None,
            )
        }
    }

    /// Runs one already-published sink to the end; returns its `Done` flag, what was
    /// unannounced, the sink removed from the record, and the metrics text.
    async fn hand_off(
        notifier: Arc<dyn HandoffNotifier>,
        timeout: Option<Duration>,
    ) -> (bool, Vec<String>, Vec<Interval>, String) {
        let recorder = Arc::new(Recorder::default());
        let (persist, commands) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            let mut removed = Vec::new();
            for command in commands {
                if let PersistCommand::Remove { interval, reply } = command {
                    removed.push(interval);
                    let _ = reply.send(());
                }
            }
            removed
        });
        let mut ctx = context(notifier, timeout, persist);
        ctx.announcer = recorder.clone();
        let ctx = Arc::new(ctx);
        let metrics_text = ctx.metrics.clone();
        let mut pushed = realtime();
        pushed.binary_version = Some(9);
        let sink = SinkToHandOff {
            realtime: realtime(),
            hydrant_dirs: vec![],
            already_pushed: Some(pushed),
            ready_segment: None,
        };
        let (events, mut received) = mpsc::channel(4);
        run(ctx, sink, events).await;
        let Some(HandoffEvent::Done {
            interval,
            handed_off,
        }) = received.recv().await
        else {
            panic!("expected a `Done` event");
        };
        assert_eq!(interval, realtime().interval);
        let removed = worker.join().unwrap();
        let unannounced = recorder.0.lock().unwrap().clone();
        (
            handed_off,
            unannounced,
            removed,
            metrics_text.node().encode(),
        )
    }

    #[tokio::test]
    async fn a_handoff_drops_the_sink_and_counts_its_time() {
        let (handed_off, unannounced, removed, text) =
            hand_off(Arc::new(ImmediateHandoffNotifier), None).await;
        assert!(handed_off);
        assert_eq!(unannounced, [realtime().identifier()]);
        assert_eq!(removed, [realtime().interval]);
        assert!(
            text.contains("druid_ingest_handoff_count_total{dataSource=\"wiki\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("druid_ingest_handoff_time_count{dataSource=\"wiki\"} 1"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_timed_out_handoff_drops_the_sink_without_counting() {
        let (handed_off, unannounced, removed, text) =
            hand_off(Arc::new(Never::default()), Some(Duration::from_millis(50))).await;
        assert!(!handed_off);
        assert_eq!(unannounced, [realtime().identifier()]);
        assert_eq!(removed, [realtime().interval]);
        assert!(
            !text.contains("druid_ingest_handoff_count_total{"),
            "{text}"
        );
        assert!(
            !text.contains("druid_ingest_handoff_time_count{dataSource=\"wiki\"} 1"),
            "{text}"
        );
    }
}
