//! The fire chief: the ingest loop of one fire department (Druid's `FireChief`).
//!
//! It runs on its own thread with a single-threaded runtime, so parsing and indexing never
//! block the node's async runtime. It waits on, in priority order: shutdown, persist results,
//! handoff results, the firehose channel (only while the input lasts) and a periodic tick. After
//! every batch it checks the persist triggers (`maxRowsInMemory`, `maxBytesInMemory`); the tick
//! checks `intermediatePersistPeriod` (also when no rows arrive) and closes sinks whose window
//! passed. A persist first takes a permit (at most `maxPendingPersists + 1` outstanding): while
//! it waits, the firehose is not read (backpressure, `ingest/persists/backPressure`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use super::commit::SinkState;
use super::handoff::{self, HandoffContext, HandoffEvent, ReadySegment, SinkToHandOff};
use super::ingest::{IngestCounts, IngestError, Ingestor};
use super::persist::{FrozenHydrant, PersistCommand, PersistEvent, PersistJob};
use super::sink::Sink;
use super::timeline::{self, ChiefView, ViewRequest};
use crate::firehose::FirehoseMessage;
use crate::segment::descriptor::DataSegment;
use crate::time::Interval;

/// How often the loop checks timers when nothing else happens.
const TICK: Duration = Duration::from_millis(100);

/// When to persist.
#[derive(Debug, Clone, Copy)]
pub struct PersistTriggers {
    /// `maxRowsInMemory`.
    pub max_rows: usize,
    /// `maxBytesInMemory` resolved (`usize::MAX` for no limit).
    pub max_bytes: usize,
    /// `intermediatePersistPeriod` in ms.
    pub period_ms: i64,
}

/// A segment this fire department published.
#[derive(Debug, Clone)]
pub struct PublishedSegment {
    /// The segment.
    pub segment: DataSegment,
    /// Rows after merging.
    pub rows: u64,
}

/// How the loop ended.
#[derive(Debug, Clone)]
pub struct ChiefSummary {
    /// Event counts.
    pub counts: IngestCounts,
    /// Rows persisted.
    pub rows_output: u64,
    /// Persists done.
    pub persists: u64,
    /// Segments published.
    pub segments: Vec<PublishedSegment>,
    /// Rows still in memory.
    pub rows_in_memory: usize,
}

/// The ingest loop of one fire department.
#[derive(Debug)]
pub struct FireChief {
    ingestor: Ingestor,
    triggers: PersistTriggers,
    exit_when_done: bool,
    persist_tx: std::sync::mpsc::Sender<PersistCommand>,
    persist_events: mpsc::Receiver<PersistEvent>,
    permits: Arc<Semaphore>,
    handoff: Arc<HandoffContext>,
    handoff_tx: mpsc::Sender<HandoffEvent>,
    handoff_rx: mpsc::Receiver<HandoffEvent>,
    runtime: tokio::runtime::Handle,
    next_persist_ms: i64,
    pending_closed: Vec<Interval>,
    /// For each persist in flight, the sinks it closes (merged once it lands).
    in_flight: VecDeque<Vec<Interval>>,
    committed_checkpoint: Option<Value>,
    input_ended: bool,
    summary: ChiefSummary,
    view: Option<ChiefView>,
    published_dimensions: usize,
    heartbeat: Arc<std::sync::atomic::AtomicI64>,
}

/// The parts a fire chief is built from.
#[derive(Debug)]
pub struct ChiefParts {
    /// Parsing and sinks.
    pub ingestor: Ingestor,
    /// Persist triggers.
    pub triggers: PersistTriggers,
    /// Stop (after handing everything off) when the input ends.
    pub exit_when_done: bool,
    /// Commands to the persist worker.
    pub persist_tx: std::sync::mpsc::Sender<PersistCommand>,
    /// Results from the persist worker.
    pub persist_events: mpsc::Receiver<PersistEvent>,
    /// `maxPendingPersists + 1` permits.
    pub permits: Arc<Semaphore>,
    /// Shared by handoff tasks.
    pub handoff: Arc<HandoffContext>,
    /// The node runtime handoff tasks run on.
    pub runtime: tokio::runtime::Handle,
    /// The checkpoint recovered from the commit record.
    pub committed_checkpoint: Option<Value>,
    /// Query view requests and the shared dimension list (`None`: no queries).
    pub view: Option<ChiefView>,
}

impl FireChief {
    /// Assembles a chief.
    pub fn new(parts: ChiefParts) -> FireChief {
        let (handoff_tx, handoff_rx) = mpsc::channel(64);
        let now = parts.ingestor.plumber().rejector().now_ms();
        FireChief {
            triggers: parts.triggers,
            exit_when_done: parts.exit_when_done,
            persist_tx: parts.persist_tx,
            persist_events: parts.persist_events,
            permits: parts.permits,
            handoff: parts.handoff,
            handoff_tx,
            handoff_rx,
            runtime: parts.runtime,
            next_persist_ms: now + parts.triggers.period_ms,
            pending_closed: Vec::new(),
            in_flight: VecDeque::new(),
            committed_checkpoint: parts.committed_checkpoint,
            input_ended: false,
            view: parts.view,
            published_dimensions: 0,
            heartbeat: Arc::new(std::sync::atomic::AtomicI64::new(now)),
            summary: ChiefSummary {
                counts: IngestCounts::default(),
                rows_output: 0,
                persists: 0,
                segments: Vec::new(),
                rows_in_memory: 0,
            },
            ingestor: parts.ingestor,
        }
    }

    /// Runs until shutdown, or — with `exit_when_done` — until the input ended and every sink
    /// is handed off.
    pub async fn run(
        mut self,
        mut firehose: mpsc::Receiver<FirehoseMessage>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<ChiefSummary, IngestError> {
        self.resume_handoffs();
        let mut tick = tokio::time::interval(TICK);
        loop {
            if self.done() {
                return Ok(self.finish());
            }
            let now = self.ingestor.plumber().rejector().now_ms();
            self.heartbeat
                .store(now, std::sync::atomic::Ordering::Relaxed);
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    let started = std::time::Instant::now();
                    self.persist_all().await?;
                    self.drain_persists().await?;
                    tracing::info!(
                        data_source = %self.handoff.data_source,
                        persist_ms = started.elapsed().as_millis() as u64,
                        "stopped: persisted and committed"
                    );
                    return Ok(self.finish());
                }
                Some(event) = self.persist_events.recv() => self.on_persisted(event)?,
                Some(event) = self.handoff_rx.recv() => self.on_handoff(event)?,
                Some(request) = next_view_request(&mut self.view) => self.on_view(request),
                message = firehose.recv(), if !self.input_ended => self.on_firehose(message).await?,
                _ = tick.tick() => self.on_tick().await?,
            }
        }
    }

    /// Epoch millis of the loop's latest turn (the HTTP health check reads it).
    pub fn heartbeat(&self) -> Arc<std::sync::atomic::AtomicI64> {
        self.heartbeat.clone()
    }

    fn done(&self) -> bool {
        self.exit_when_done
            && self.input_ended
            && self.in_flight.is_empty()
            && self.ingestor.plumber().sinks().is_empty()
    }

    fn finish(mut self) -> ChiefSummary {
        self.summary.counts = self.ingestor.counts();
        self.summary.rows_in_memory = self.ingestor.plumber().rows_in_memory();
        self.summary
    }

    async fn on_firehose(&mut self, message: Option<FirehoseMessage>) -> Result<(), IngestError> {
        match message {
            Some(FirehoseMessage::Batch(mut batch)) => {
                self.ingestor.ingest_batch(&mut batch)?;
                crate::firehose::buffers::recycle(batch);
                self.publish_dimensions();
                if self.memory_full() {
                    // Backpressure first: the indexes being persisted count in the bytes, so
                    // right after a persist starts the limit is still reached. Once it has
                    // landed, the current index alone may be far below the limit, and
                    // persisting it would write a hydrant of a batch or two (every other
                    // hydrant was one).
                    let waited_s = self.wait_for_persists().await?;
                    if self.memory_full() {
                        self.persist_all_after(waited_s).await?;
                    } else {
                        self.record_back_pressure(waited_s);
                    }
                }
                Ok(())
            }
            Some(FirehoseMessage::End(checkpoint)) => {
                self.input_ended = true;
                tracing::info!(data_source = %self.handoff.data_source, checkpoint = %checkpoint, "input ended");
                // Druid's `finishJob`: every sink is pushed whatever its age or the policy,
                // also when the node keeps running (no more rows can come for them).
                let open: Vec<Interval> = self
                    .ingestor
                    .plumber()
                    .sinks()
                    .values()
                    .filter(|s| s.state == SinkState::Open)
                    .map(|s| s.interval)
                    .collect();
                self.close(open);
                // A `flushing` plumber drops every sink now, unpushed.
                self.handoff.finish_job.send_replace(true);
                self.persist_all().await
            }
            Some(FirehoseMessage::Failed(e)) => Err(IngestError::Firehose(e)),
            Some(FirehoseMessage::Flush(reply)) => {
                // Before the firehose gives partitions up (or acks a prefetch window): make
                // everything received so far durable, then say up to where.
                self.persist_all().await?;
                self.drain_persists().await?;
                let _ = reply.send(self.committed_checkpoint.clone().unwrap_or(Value::Null));
                Ok(())
            }
            None => {
                self.input_ended = true;
                Ok(())
            }
        }
    }

    async fn on_tick(&mut self) -> Result<(), IngestError> {
        let metrics = &self.handoff.metrics;
        metrics
            .node()
            .sink_count
            .get_or_create(metrics.labels())
            .set(self.ingestor.plumber().sinks().len() as i64);
        let to_close = self.ingestor.plumber().sinks_to_close();
        let closing = !to_close.is_empty();
        self.close(to_close);
        let now = self.ingestor.plumber().rejector().now_ms();
        if closing || now >= self.next_persist_ms {
            self.persist_all().await?;
        }
        Ok(())
    }

    /// Marks sinks closed; the next persist records it, then they are merged and pushed.
    fn close(&mut self, intervals: Vec<Interval>) {
        for interval in intervals {
            if let Some(sink) = self
                .ingestor
                .plumber_mut()
                .sinks_mut()
                .get_mut(&interval.start_ms)
            {
                tracing::info!(data_source = %self.handoff.data_source, %interval, "closing sink for merge and push");
                sink.state = SinkState::Closed;
                self.pending_closed.push(interval);
            }
        }
    }

    /// `maxRowsInMemory` (current indexes) or `maxBytesInMemory` (current and in-flight
    /// indexes) is reached.
    fn memory_full(&self) -> bool {
        let plumber = self.ingestor.plumber();
        plumber.rows_in_memory() >= self.triggers.max_rows
            || plumber.bytes_in_memory() >= self.triggers.max_bytes
    }

    /// Waits until a persist could be submitted at once (`maxPendingPersists`), and takes the
    /// outcomes of the persists that landed meanwhile; returns the seconds waited (not yet
    /// recorded).
    async fn wait_for_persists(&mut self) -> Result<f64, IngestError> {
        let (permit, waited_s) = self.take_persist_slot().await?;
        drop(permit);
        Ok(waited_s)
    }

    /// Waits for a permit to submit a persist (`maxPendingPersists`: the firehose is not read
    /// meanwhile); returns it and the seconds waited. The persist that freed the permit has
    /// queued its outcome: taking it first hands its index storage to the indexes swapped in
    /// after.
    async fn take_persist_slot(&mut self) -> Result<(OwnedSemaphorePermit, f64), IngestError> {
        let waited = Instant::now();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| IngestError::Persist("the persist queue closed".into()))?;
        let waited_s = waited.elapsed().as_secs_f64();
        while let Ok(event) = self.persist_events.try_recv() {
            self.on_persisted(event)?;
        }
        Ok((permit, waited_s))
    }

    /// Records one wait of the firehose for persists (`ingest/persists/backPressure`).
    fn record_back_pressure(&self, waited_s: f64) {
        let metrics = &self.handoff.metrics;
        metrics
            .node()
            .persists_back_pressure
            .get_or_create(metrics.labels())
            .observe(waited_s);
        if waited_s > 1.0 {
            tracing::warn!(data_source = %self.handoff.data_source, waited_ms = (waited_s * 1000.0) as u64, "ingestion waited for a persist slot (maxPendingPersists)");
        }
    }

    /// Swaps every non-empty index out and submits a persist (waits for a permit first).
    async fn persist_all(&mut self) -> Result<(), IngestError> {
        self.persist_all_after(0.0).await
    }

    /// [`FireChief::persist_all`] after the firehose already waited `waited_before_s` for
    /// this persist: the wait is recorded once, in all.
    async fn persist_all_after(&mut self, waited_before_s: f64) -> Result<(), IngestError> {
        // Dead letters first: the commit record this persist writes acknowledges their events.
        self.ingestor.sync_dead_letters()?;
        let checkpoint = self.ingestor.last_checkpoint().cloned();
        let nothing_new = checkpoint == self.committed_checkpoint
            && self.pending_closed.is_empty()
            && self.ingestor.plumber().rows_in_memory() == 0;
        self.next_persist_ms =
            self.ingestor.plumber().rejector().now_ms() + self.triggers.period_ms;
        if nothing_new {
            // No persist: a wait before it still held the firehose.
            if waited_before_s > 0.0 {
                self.record_back_pressure(waited_before_s);
            }
            return Ok(());
        }
        let (permit, waited_s) = self.take_persist_slot().await?;
        self.record_back_pressure(waited_before_s + waited_s);
        let settings = self.ingestor.plumber().settings().index.clone();
        let mut hydrants = Vec::new();
        for sink in self.ingestor.plumber_mut().sinks_mut().values_mut() {
            if let Some(flight) = sink.swap(&settings) {
                hydrants.push(FrozenHydrant {
                    interval: sink.interval,
                    version: sink.version.clone(),
                    number: flight.number,
                    index: flight.index,
                    only_hydrant: flight.number == 0 && sink.state == SinkState::Closed,
                });
            }
        }
        let closed = std::mem::take(&mut self.pending_closed);
        let job = PersistJob {
            hydrants,
            checkpoint: checkpoint.clone(),
            closed: closed.clone(),
            max_event_time_ms: self.ingestor.plumber().rejector().max_seen_ms(),
            input_ended: self.input_ended,
            permit,
        };
        self.persist_tx
            .send(PersistCommand::Persist(job))
            .map_err(|_| IngestError::Persist("the persist worker stopped".into()))?;
        self.in_flight.push_back(closed);
        self.committed_checkpoint = checkpoint;
        Ok(())
    }

    /// Waits for every submitted persist to land.
    async fn drain_persists(&mut self) -> Result<(), IngestError> {
        while !self.in_flight.is_empty() {
            match self.persist_events.recv().await {
                Some(event) => self.on_persisted(event)?,
                None => return Err(IngestError::Persist("the persist worker stopped".into())),
            }
        }
        Ok(())
    }

    fn on_persisted(&mut self, event: PersistEvent) -> Result<(), IngestError> {
        let closed = self.in_flight.pop_front().unwrap_or_default();
        match event {
            PersistEvent::Persisted { hydrants, rows } => {
                self.summary.persists += 1;
                self.summary.rows_output += rows;
                let sinks = self.ingestor.plumber_mut().sinks_mut();
                for (interval, hydrant) in hydrants {
                    if let Some(sink) = sinks.get_mut(&interval.start_ms) {
                        sink.persisted(hydrant);
                    }
                }
                for interval in closed {
                    self.start_handoff(interval);
                }
                Ok(())
            }
            PersistEvent::Failed(e) => Err(IngestError::Persist(e)),
        }
    }

    /// Starts the merge-push-handoff task of a closed (or already pushed) sink.
    fn start_handoff(&mut self, interval: Interval) {
        let data_source = self.handoff.data_source.clone();
        let metric_names = self.handoff.metric_names.clone();
        let Some(sink) = self
            .ingestor
            .plumber_mut()
            .sinks_mut()
            .get_mut(&interval.start_ms)
        else {
            return;
        };
        if sink.handing_off {
            return;
        }
        sink.handing_off = true;
        let sink_dir = Sink::dir(&self.handoff.dir, &interval);
        let job = SinkToHandOff {
            realtime: sink.realtime_segment(&data_source, &metric_names),
            hydrant_dirs: sink
                .hydrants
                .iter()
                .map(|h| sink_dir.join(h.number.to_string()))
                .collect(),
            already_pushed: sink.pushed.clone(),
            ready_segment: match sink.hydrants.as_slice() {
                [only] if only.in_segment_format => Some(ReadySegment {
                    dir: sink_dir.join(only.number.to_string()),
                    rows: only.rows,
                }),
                _ => None,
            },
        };
        self.runtime.spawn(handoff::run(
            self.handoff.clone(),
            job,
            self.handoff_tx.clone(),
        ));
    }

    /// Answers a query with every sink's view (persisted hydrants and in-memory snapshots).
    fn on_view(&mut self, request: ViewRequest) {
        let data_source = self.handoff.data_source.clone();
        let mut segments = Vec::new();
        for sink in self.ingestor.plumber_mut().sinks_mut().values_mut() {
            match timeline::sink_view(&data_source, sink) {
                Ok(segment) => segments.push(segment),
                Err(e) => {
                    tracing::error!(data_source, interval = %sink.interval, error = %e, "cannot snapshot a sink for a query")
                }
            }
        }
        let _ = request.reply.try_send(segments);
    }

    /// Shares the dimension names (they only grow) with the query side when they changed.
    fn publish_dimensions(&mut self) {
        let Some(view) = &self.view else { return };
        let schema = self.ingestor.schema();
        let count = schema.dimensions().len();
        if count != self.published_dimensions {
            *view.dimensions.write().expect("dimensions lock") = schema.dimension_names();
            self.published_dimensions = count;
        }
    }

    /// After a restart: closed and pushed sinks continue where they were.
    fn resume_handoffs(&mut self) {
        let ready: Vec<Interval> = self
            .ingestor
            .plumber()
            .sinks()
            .values()
            .filter(|s| s.state != SinkState::Open)
            .map(|s| s.interval)
            .collect();
        for interval in ready {
            self.start_handoff(interval);
        }
    }

    fn on_handoff(&mut self, event: HandoffEvent) -> Result<(), IngestError> {
        match event {
            HandoffEvent::Pushed {
                interval,
                segment,
                rows,
            } => {
                if let Some(sink) = self
                    .ingestor
                    .plumber_mut()
                    .sinks_mut()
                    .get_mut(&interval.start_ms)
                {
                    sink.state = SinkState::Pushed;
                    sink.pushed = Some((*segment).clone());
                }
                self.summary.segments.push(PublishedSegment {
                    segment: *segment,
                    rows,
                });
            }
            HandoffEvent::Done { interval, .. } => {
                self.ingestor
                    .plumber_mut()
                    .sinks_mut()
                    .remove(&interval.start_ms);
            }
            HandoffEvent::Failed { interval, message } => {
                return Err(IngestError::Publish(format!(
                    "cannot publish the segment of {interval}: {message}"
                )));
            }
        }
        let metrics = &self.handoff.metrics;
        metrics
            .node()
            .sink_count
            .get_or_create(metrics.labels())
            .set(self.ingestor.plumber().sinks().len() as i64);
        Ok(())
    }
}

/// The next query view request, or never when queries are not served.
async fn next_view_request(view: &mut Option<ChiefView>) -> Option<ViewRequest> {
    match view {
        Some(view) => view.requests.recv().await,
        None => std::future::pending().await,
    }
}
