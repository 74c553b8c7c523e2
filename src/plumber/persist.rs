//! The persist worker: the single writer of hydrants and of the commit record.
//!
//! It runs on its own thread (writing segments is CPU and disk work). The ingest loop hands it
//! frozen indexes in [`PersistJob`]s; at most `maxPendingPersists + 1` jobs are outstanding
//! (a semaphore the job's permit belongs to), so a slow disk pauses ingestion instead of growing
//! memory. For each job it writes the hydrants, then the commit record (see [`super::commit`]),
//! then acknowledges the firehose, then reports back. Sink state changes from the merge/handoff
//! tasks (pushed, removed) go through the same queue, so the record has one writer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use super::commit::{
    CommitError, CommitRecord, GenerationRecord, HydrantRecord, SinkRecord, SinkState,
};
use super::sink::{Hydrant, Sink};
use crate::firehose::Acknowledger;
use crate::index::IncrementalIndex;
use crate::index::persist::{PersistMetadata, write_index_with};
use crate::metrics::DataSourceMetrics;
use crate::segment::descriptor::DataSegment;
use crate::segment::reader::Segment;
use crate::segment::writer::{SegmentOutput, WriteOptions};
use crate::time::Interval;

/// A frozen index to write as hydrant `number` of the sink of `interval`.
#[derive(Debug)]
pub struct FrozenHydrant {
    /// Sink interval.
    pub interval: Interval,
    /// Sink version.
    pub version: String,
    /// Hydrant number.
    pub number: u32,
    /// The index.
    pub index: Arc<IncrementalIndex>,
    /// The sink's first hydrant, and its sink is closed: it is also the last, so it is written
    /// in the segment's format (when the worker knows it: [`PersistWorker::with_segment_format`])
    /// and handed off without a merge.
    pub only_hydrant: bool,
}

/// One persist: hydrants plus the commit record update they make durable.
#[derive(Debug)]
pub struct PersistJob {
    /// Indexes to write (may be empty when only the checkpoint or sink states change).
    pub hydrants: Vec<FrozenHydrant>,
    /// Firehose checkpoint after every row in this and earlier jobs.
    pub checkpoint: Option<Value>,
    /// Sinks that take no more rows from now on.
    pub closed: Vec<Interval>,
    /// Latest event time seen.
    pub max_event_time_ms: Option<i64>,
    /// The input has ended: no rows come after this job's, so the worker lets go of the
    /// buffers it reuses from persist to persist (the merges that follow need the memory).
    pub input_ended: bool,
    /// Released once the job's outcome has been sent, so that whoever takes the permit next
    /// finds the outcome already queued (and the indexes no longer shared).
    pub permit: OwnedSemaphorePermit,
}

/// Work for the persist worker.
#[derive(Debug)]
pub enum PersistCommand {
    /// Write hydrants and the record.
    Persist(PersistJob),
    /// Reports the committed checkpoint, the one last published, and the writer id.
    Checkpoints(oneshot::Sender<CheckpointState>),
    /// A sink was published: record its segment and the published checkpoint.
    MarkPushed {
        /// Sink interval.
        interval: Interval,
        /// The published segment.
        segment: DataSegment,
        /// The checkpoint stored with the publish.
        published_checkpoint: Option<Value>,
        /// Answered once the record is durable.
        reply: oneshot::Sender<()>,
    },
    /// A sink was handed off: drop it from the record, then delete its files.
    Remove {
        /// Sink interval.
        interval: Interval,
        /// Answered once the record is durable and the files gone.
        reply: oneshot::Sender<()>,
    },
}

/// The commit record's positions, as the publish step needs them.
#[derive(Debug, Clone)]
pub struct CheckpointState {
    /// Checkpoint after every committed row.
    pub committed: Option<Value>,
    /// Checkpoint last stored with a publish (`None`: nothing published from this state yet).
    pub published: Option<Value>,
    /// The record's writer id.
    pub writer_id: String,
}

/// What the worker reports to the ingest loop.
#[derive(Debug)]
pub enum PersistEvent {
    /// A job's hydrants are on disk and committed.
    Persisted {
        /// Persisted hydrants by sink interval.
        hydrants: Vec<(Interval, Hydrant)>,
        /// Rows written.
        rows: u64,
    },
    /// Writing failed; nothing was acknowledged.
    Failed(String),
}

/// The worker's fixed context.
#[derive(Debug)]
pub struct PersistWorker {
    dir: PathBuf,
    record: CommitRecord,
    metadata: PersistMetadata,
    options: WriteOptions,
    segment_format: Option<SegmentFormat>,
    acknowledger: Arc<dyn Acknowledger>,
    metrics: DataSourceMetrics,
    events: mpsc::Sender<PersistEvent>,
}

/// The merged segment's column formats (`indexSpec`) and the dimensions written without bitmap
/// indexes: a sink's only hydrant is written with them.
#[derive(Debug, Clone)]
struct SegmentFormat {
    options: WriteOptions,
    without_bitmap_index: Vec<String>,
}

/// Attempts at writing one job before giving up.
const WRITE_ATTEMPTS: u32 = 5;

impl PersistWorker {
    /// A worker over `dir` (the fire department's persist directory) starting from `record`.
    pub fn new(
        dir: PathBuf,
        record: CommitRecord,
        metadata: PersistMetadata,
        acknowledger: Arc<dyn Acknowledger>,
        metrics: DataSourceMetrics,
        events: mpsc::Sender<PersistEvent>,
    ) -> PersistWorker {
        PersistWorker {
            dir,
            record,
            metadata,
            options: WriteOptions::HYDRANT_DEFAULT,
            segment_format: None,
            acknowledger,
            metrics,
            events,
        }
    }

    /// Writes hydrants with `options` (`tuningConfig.indexSpecForIntermediatePersists`) instead
    /// of [`WriteOptions::HYDRANT_DEFAULT`].
    pub fn with_write_options(mut self, options: WriteOptions) -> PersistWorker {
        self.options = options;
        self
    }

    /// Writes a sink's only hydrant ([`FrozenHydrant::only_hydrant`]) as its merge would write
    /// the segment: with `options` (`indexSpec`) and without bitmap indexes for the dimensions in
    /// `without_bitmap_index`. The handoff then pushes it as it is, without a merge.
    pub fn with_segment_format(
        mut self,
        options: WriteOptions,
        without_bitmap_index: Vec<String>,
    ) -> PersistWorker {
        self.segment_format = Some(SegmentFormat {
            options,
            without_bitmap_index,
        });
        self
    }

    /// Runs on a new thread until the command channel closes.
    pub fn spawn(
        mut self,
        commands: std::sync::mpsc::Receiver<PersistCommand>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let name = format!("persist-{}", self.record.data_source);
        std::thread::Builder::new().name(name).spawn(move || {
            // A hydrant every few seconds: its row sort and column spills reuse the last one's
            // buffers.
            crate::index::row_sort::keep_sort_buffers_on_this_thread();
            crate::segment::spill::keep_spills_in_memory_on_this_thread();
            for command in commands {
                self.handle(command);
            }
        })
    }

    fn handle(&mut self, command: PersistCommand) {
        match command {
            PersistCommand::Persist(job) => {
                let input_ended = job.input_ended;
                let (event, permit) = self.persist_with_retries(job);
                let _ = self.events.blocking_send(event);
                drop(permit);
                if input_ended {
                    crate::index::row_sort::release_kept_sort_buffers();
                    crate::segment::spill::release_kept_spills();
                }
            }
            PersistCommand::Checkpoints(reply) => {
                let _ = reply.send(CheckpointState {
                    committed: self.record.checkpoint.clone(),
                    published: self.record.published_checkpoint.clone(),
                    writer_id: self.record.writer_id.clone(),
                });
            }
            PersistCommand::MarkPushed {
                interval,
                segment,
                published_checkpoint,
                reply,
            } => {
                if let Some(sink) = self.record.sink_mut(&interval) {
                    sink.state = SinkState::Pushed;
                    sink.segment = Some(segment);
                }
                self.record.published_checkpoint = published_checkpoint;
                self.write_record_until_durable();
                let _ = reply.send(());
            }
            PersistCommand::Remove { interval, reply } => {
                self.record.sinks.retain(|s| s.interval != interval);
                self.record.prune_generations();
                self.write_record_until_durable();
                crate::failpoint::hit("handoff.after_remove_record");
                let sink_dir = Sink::dir(&self.dir, &interval);
                if let Err(e) = std::fs::remove_dir_all(&sink_dir) {
                    tracing::warn!(path = %sink_dir.display(), error = %e, "cannot delete a handed-off sink's files");
                }
                let _ = reply.send(());
            }
        }
    }

    /// Retries a failing persist (a full disk may clear); after [`WRITE_ATTEMPTS`] reports failure.
    fn persist_with_retries(&mut self, job: PersistJob) -> (PersistEvent, OwnedSemaphorePermit) {
        let started = Instant::now();
        let mut last_error = String::new();
        for attempt in 1..=WRITE_ATTEMPTS {
            match self.persist(&job) {
                Ok((hydrants, rows)) => {
                    self.metrics
                        .node()
                        .persists_count
                        .get_or_create(self.metrics.labels())
                        .inc();
                    self.metrics
                        .node()
                        .persists_time
                        .get_or_create(self.metrics.labels())
                        .observe(started.elapsed().as_secs_f64());
                    self.metrics.rows_output.inc_by(rows);
                    if let Some(checkpoint) = &job.checkpoint {
                        self.acknowledger.acknowledge(checkpoint);
                    }
                    // The indexes are dropped here, before the chief hears of the persist: it
                    // reuses their storage when it holds the only reference.
                    return (PersistEvent::Persisted { hydrants, rows }, job.permit);
                }
                Err(e) => {
                    last_error = e;
                    self.metrics
                        .node()
                        .persists_failed
                        .get_or_create(self.metrics.labels())
                        .inc();
                    tracing::error!(data_source = %self.record.data_source, attempt, error = %last_error, "persist failed; retrying");
                    std::thread::sleep(Duration::from_millis(200 * 2u64.pow(attempt)));
                }
            }
        }
        (PersistEvent::Failed(last_error), job.permit)
    }

    /// Writes the hydrants, then the record. Nothing in the record changes unless all succeed.
    fn persist(&mut self, job: &PersistJob) -> Result<(Vec<(Interval, Hydrant)>, u64), String> {
        let generation = self.record.last_generation + 1;
        let mut written = Vec::with_capacity(job.hydrants.len());
        let mut rows = 0;
        for frozen in &job.hydrants {
            let sink_dir = Sink::dir(&self.dir, &frozen.interval);
            std::fs::create_dir_all(&sink_dir)
                .map_err(|e| format!("{}: {e}", sink_dir.display()))?;
            let hydrant_dir = sink_dir.join(frozen.number.to_string());
            if hydrant_dir.exists() {
                // Left by an attempt whose record never landed; it is not committed.
                std::fs::remove_dir_all(&hydrant_dir)
                    .map_err(|e| format!("{}: {e}", hydrant_dir.display()))?;
            }
            let segment_format = self.segment_format.as_ref().filter(|_| frozen.only_hydrant);
            let (options, without_bitmap_index) = match segment_format {
                Some(format) => (format.options, format.without_bitmap_index.as_slice()),
                None => (self.options, &[][..]),
            };
            let out = write_index_with(
                &frozen.index,
                frozen.interval,
                Some(&self.metadata),
                SegmentOutput::Directory(hydrant_dir.clone()),
                options,
                without_bitmap_index,
            )
            .map_err(|e| e.to_string())?;
            // Written and fsynced just now: not hashed again (a restart's recovery checks it).
            let segment = Segment::open_unhashed(&hydrant_dir).map_err(|e| e.to_string())?;
            rows += out.num_rows as u64;
            written.push((
                frozen.interval,
                Hydrant {
                    number: frozen.number,
                    generation,
                    rows: out.num_rows as u64,
                    segment: Arc::new(segment),
                    in_segment_format: segment_format.is_some(),
                },
            ));
        }
        crate::failpoint::hit("persist.after_hydrants");
        let mut next = self.record.clone();
        if !written.is_empty() {
            next.generations.push(GenerationRecord {
                generation,
                start_checkpoint: next.checkpoint.clone(),
            });
            next.last_generation = generation;
        }
        for (frozen, (_, hydrant)) in job.hydrants.iter().zip(&written) {
            let sink = match next
                .sinks
                .iter()
                .position(|s| s.interval == frozen.interval)
            {
                Some(i) => &mut next.sinks[i],
                None => {
                    next.sinks.push(SinkRecord {
                        interval: frozen.interval,
                        version: frozen.version.clone(),
                        state: SinkState::Open,
                        hydrants: Vec::new(),
                        segment: None,
                    });
                    next.sinks.last_mut().expect("just pushed")
                }
            };
            sink.hydrants.push(HydrantRecord {
                number: hydrant.number,
                generation,
                rows: hydrant.rows,
            });
        }
        for interval in &job.closed {
            if let Some(sink) = next.sink_mut(interval) {
                sink.state = SinkState::Closed;
            }
        }
        if job.checkpoint.is_some() {
            next.checkpoint = job.checkpoint.clone();
        }
        next.max_event_time_ms = job.max_event_time_ms.or(next.max_event_time_ms);
        next.write(&self.dir)
            .map_err(|e: CommitError| e.to_string())?;
        crate::failpoint::hit("persist.after_commit");
        self.record = next;
        Ok((written, rows))
    }

    /// Sink state records must land: a failure here is retried until it succeeds (logged).
    fn write_record_until_durable(&mut self) {
        let mut delay = Duration::from_millis(100);
        while let Err(e) = self.record.write(&self.dir) {
            tracing::error!(data_source = %self.record.data_source, error = %e, "cannot write the commit record; retrying");
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }
}
