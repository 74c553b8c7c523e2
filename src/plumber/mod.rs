//! The plumber: sinks (one per segment interval), the rejection policy, persisting with a commit
//! record, restart recovery, and merge-push-publish-handoff of finished sinks (reference §2).
//!
//! ```text
//! firehose ─batches─▶ chief (ingest thread) ─rows─▶ Plumber: Sink per interval ─▶ IncrementalIndex
//!                        │ persist trigger (rows, bytes, period)      (swap: frozen index)
//!                        ▼
//!                persist worker: hydrant dirs ─▶ commit.json ─▶ firehose acknowledge
//!                        │ sink closed (window passed / input ended) and committed
//!                        ▼
//!                handoff task: merge ─▶ deep storage ─▶ metadata publish ─▶ await handoff ─▶ drop
//! ```

pub mod chief;
pub mod clock;
pub mod commit;
pub mod dead_letter;
pub mod handoff;
mod handoff_wait;
pub mod ingest;
pub mod parse_errors;
pub mod persist;
pub mod recover;
pub mod rejection;
pub mod sink;
pub mod timeline;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::announce::{Announcer, NoopAnnouncer};
use crate::config::{AggregatorKind, FireDepartment, VersioningPolicy};
use crate::index::granularity::Granularity;
use crate::index::truncate::Truncator;
use crate::index::{IndexSettings, RowError};
use crate::parse::{DimensionDef, ParsedRow, RowSchema};
use crate::segment::descriptor::ShardSpec;
use crate::segment::merge::MetricCombiner;
use crate::time::{self, Interval};
use clock::Clock;
use commit::SinkState;
use rejection::{Rejection, Rejector};
use sink::Sink;

/// What happened to one parsed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Added to a sink.
    Processed,
    /// Refused by the rejection policy (or its sink is already closed).
    ThrownAway(Rejection),
}

/// Settings the plumber derives from the spec.
#[derive(Debug, Clone)]
pub struct PlumberSettings {
    /// Datasource name.
    pub data_source: String,
    /// Sink interval length.
    pub segment_granularity: Granularity,
    /// Index settings of every sink.
    pub index: IndexSettings,
    /// Version policy.
    pub versioning: VersioningPolicy,
    /// This node's partition.
    pub shard_spec: ShardSpec,
    /// When the node started (the default `custom` version).
    pub node_start_ms: i64,
    /// Metric names in spec order.
    pub metric_names: Vec<String>,
}

impl PlumberSettings {
    /// Settings of a validated fire department.
    pub fn from_spec(
        department: &FireDepartment,
        schema: &RowSchema,
        node_start_ms: i64,
    ) -> PlumberSettings {
        let tuning = &department.tuning_config;
        PlumberSettings {
            data_source: department.data_schema.data_source.clone(),
            segment_granularity: department
                .data_schema
                .granularity_spec
                .segment_granularity
                .clone(),
            index: IndexSettings::from_spec(department, schema),
            versioning: tuning.versioning_policy.clone(),
            shard_spec: tuning.shard_spec.clone(),
            node_start_ms,
            metric_names: department
                .data_schema
                .metrics_spec
                .iter()
                .map(|m| m.name.clone())
                .collect(),
        }
    }

    /// The version of the sink of `interval`.
    pub fn version_for(&self, interval: &Interval) -> String {
        match &self.versioning {
            VersioningPolicy::IntervalStart => time::format_iso(interval.start_ms),
            VersioningPolicy::Custom { version: Some(v) } => v.clone(),
            VersioningPolicy::Custom { version: None } => time::format_iso(self.node_start_ms),
        }
    }

    /// How the merge combines each metric, by name.
    pub fn combiners(&self) -> Vec<(String, MetricCombiner)> {
        self.index
            .metrics
            .iter()
            .map(|m| (m.name.clone(), combiner(m.kind)))
            .collect()
    }
}

/// The merge combiner of an ingest aggregator (its combining form).
pub fn combiner(kind: AggregatorKind) -> MetricCombiner {
    use AggregatorKind::*;
    match kind {
        Count | LongSum => MetricCombiner::LongSum,
        LongMin => MetricCombiner::LongMin,
        LongMax => MetricCombiner::LongMax,
        DoubleSum => MetricCombiner::DoubleSum,
        DoubleMin => MetricCombiner::DoubleMin,
        DoubleMax => MetricCombiner::DoubleMax,
        FloatSum => MetricCombiner::FloatSum,
        FloatMin => MetricCombiner::FloatMin,
        FloatMax => MetricCombiner::FloatMax,
        LongFirst => MetricCombiner::LongFirst,
        LongLast => MetricCombiner::LongLast,
        DoubleFirst => MetricCombiner::DoubleFirst,
        DoubleLast => MetricCombiner::DoubleLast,
        FloatFirst => MetricCombiner::FloatFirst,
        FloatLast => MetricCombiner::FloatLast,
        HyperUnique => MetricCombiner::HyperUnique,
    }
}

/// Sinks of one fire department and the policy that admits rows to them.
#[derive(Debug)]
pub struct Plumber {
    settings: PlumberSettings,
    /// The segment granularity's truncation (every event needs it).
    segment_truncator: Truncator,
    rejector: Rejector,
    sinks: BTreeMap<i64, Sink>,
    announcer: Arc<dyn Announcer>,
}

impl Plumber {
    /// A plumber with no sinks and no announcements.
    pub fn new(
        settings: PlumberSettings,
        department: &FireDepartment,
        clock: Arc<dyn Clock>,
    ) -> Plumber {
        let tuning = &department.tuning_config;
        let window_ms = tuning.window_period.fixed_millis().unwrap_or(0);
        Plumber {
            segment_truncator: Truncator::new(&settings.segment_granularity),
            settings,
            rejector: Rejector::new(tuning.rejection_policy, window_ms, clock),
            sinks: BTreeMap::new(),
            announcer: Arc::new(NoopAnnouncer),
        }
    }

    /// Takes over recovered sinks and announces them; `announcer` announces new sinks too.
    pub fn with_sinks(
        mut self,
        sinks: BTreeMap<i64, Sink>,
        announcer: Arc<dyn Announcer>,
        max_event_time_ms: Option<i64>,
    ) -> Plumber {
        self.announcer = announcer;
        for sink in sinks.values() {
            self.announcer.announce(
                &sink.realtime_segment(&self.settings.data_source, &self.settings.metric_names),
            );
        }
        self.sinks = sinks;
        if let Some(t) = max_event_time_ms {
            self.rejector.observe_max(t);
        }
        self
    }

    /// Admits and adds one event.
    pub fn add(
        &mut self,
        row: &ParsedRow<'_>,
        dims: &[DimensionDef],
        now_ms: i64,
    ) -> Result<Outcome, RowError> {
        if let Err(rejection) = self.rejector.check(row.timestamp_ms, now_ms) {
            return Ok(Outcome::ThrownAway(rejection));
        }
        let start = self.segment_truncator.truncate(row.timestamp_ms);
        let sink = match self.sinks.entry(start) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let interval =
                    Interval::new(start, self.settings.segment_granularity.increment(start));
                let version = self.settings.version_for(&interval);
                tracing::info!(data_source = %self.settings.data_source, %interval, %version, "new sink");
                let sink = Sink::new(
                    interval,
                    version,
                    self.settings.shard_spec.clone(),
                    &self.settings.index,
                );
                self.announcer.announce(
                    &sink.realtime_segment(&self.settings.data_source, &self.settings.metric_names),
                );
                e.insert(sink)
            }
        };
        if sink.state != SinkState::Open {
            return Ok(Outcome::ThrownAway(Rejection::Late));
        }
        sink.add(row, dims)?;
        Ok(Outcome::Processed)
    }

    /// Asks the CPU for what adding `row` will read first (its sink's dictionary slots), so that
    /// the misses overlap with other work; no effect on the plumber's state.
    /// The sink is found by comparisons only (no truncation: the row may be one `add` rejects).
    pub fn prefetch(&self, row: &mut ParsedRow<'_>) {
        if let Some(sink) = self.sink_holding(row.timestamp_ms) {
            sink.prefetch(row);
        }
    }

    /// After [`Plumber::prefetch`] of the same row, an event later: asks for its rollup slot.
    pub fn prefetch_rollup_slot(&self, row: &mut ParsedRow<'_>) {
        if let Some(sink) = self.sink_holding(row.timestamp_ms) {
            sink.prefetch_rollup_slot(row);
        }
    }

    /// The sink whose interval holds `timestamp_ms`, found by comparisons only.
    #[inline]
    fn sink_holding(&self, timestamp_ms: i64) -> Option<&Sink> {
        let (_, sink) = self.sinks.range(..=timestamp_ms).next_back()?;
        sink.interval.contains(timestamp_ms).then_some(sink)
    }

    /// Rows held in the current indexes across sinks.
    pub fn rows_in_memory(&self) -> usize {
        self.sinks.values().map(Sink::rows_in_memory).sum()
    }

    /// Bytes held in memory across sinks (current and in-flight indexes).
    pub fn bytes_in_memory(&self) -> usize {
        self.sinks.values().map(Sink::bytes_in_memory).sum()
    }

    /// Open sinks whose interval ended more than `windowPeriod` ago by the policy's clock
    /// (Druid's merge-and-push rule); never for the `none` policy.
    pub fn sinks_to_close(&self) -> Vec<Interval> {
        let Some(max_time) = self.rejector.current_max_time_ms() else {
            return Vec::new();
        };
        let limit = max_time - self.rejector.window_ms();
        self.sinks
            .values()
            .filter(|s| s.state == SinkState::Open && s.interval.end_ms <= limit)
            .map(|s| s.interval)
            .collect()
    }

    /// The sinks by interval start.
    pub fn sinks(&self) -> &BTreeMap<i64, Sink> {
        &self.sinks
    }

    /// The sinks, mutably.
    pub fn sinks_mut(&mut self) -> &mut BTreeMap<i64, Sink> {
        &mut self.sinks
    }

    /// The rejection policy.
    pub fn rejector(&self) -> &Rejector {
        &self.rejector
    }

    /// The settings.
    pub fn settings(&self) -> &PlumberSettings {
        &self.settings
    }

    /// The announcer.
    pub fn announcer(&self) -> &Arc<dyn Announcer> {
        &self.announcer
    }
}
