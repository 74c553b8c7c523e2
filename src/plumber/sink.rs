//! A sink: one segment-to-be (an interval, a version and a partition) and its hydrants — the
//! persisted pieces (mmapped segments), the pieces being persisted, and the current in-memory
//! index.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::commit::SinkState;
use crate::index::incremental::SpareRows;
use crate::index::persist::write_index;
use crate::index::{Added, IncrementalIndex, IndexSettings, RowError};
use crate::parse::{DimensionDef, ParsedRow};
use crate::segment::descriptor::{DataSegment, ShardSpec};
use crate::segment::error::SegmentError;
use crate::segment::reader::Segment;
use crate::segment::writer::{SegmentOutput, WriteOptions};
use crate::time::Interval;

/// Most rows a current index moves into the storage a persisted index freed: a batch or two,
/// as when ingestion waited for that persist (`maxBytesInMemory` counts the index being
/// persisted). An index that kept growing while the persist ran leaves the storage to the
/// index after it, which then starts in it; taking it now would leave that one to grow into
/// fresh memory instead.
const ADOPT_MAX_ROWS: usize = 8_192;

/// A persisted hydrant.
#[derive(Debug, Clone)]
pub struct Hydrant {
    /// Directory number under the sink.
    pub number: u32,
    /// The persist that wrote it.
    pub generation: u64,
    /// Rows it holds.
    pub rows: u64,
    /// The mmapped segment.
    pub segment: Arc<Segment>,
    /// Written by this process in the merged segment's format as its sink's only hydrant: the
    /// handoff pushes it as it is. (Recovered hydrants are merged: the spec may have changed.)
    pub in_segment_format: bool,
}

/// An index handed to the persist worker and not yet on disk.
#[derive(Debug, Clone)]
pub struct InFlight {
    /// The hydrant number it will get.
    pub number: u32,
    /// The frozen index.
    pub index: Arc<IncrementalIndex>,
    /// Its in-memory segment for queries, made on first use.
    pub snapshot: Arc<OnceLock<Arc<Segment>>>,
    /// The sink interval (the snapshot's interval).
    pub interval: Interval,
}

impl InFlight {
    /// The frozen index as a queryable in-memory segment (made once).
    pub fn snapshot(&self) -> Result<Arc<Segment>, SegmentError> {
        if let Some(segment) = self.snapshot.get() {
            return Ok(segment.clone());
        }
        let segment = snapshot_of(&self.index, self.interval)?;
        Ok(self.snapshot.get_or_init(|| segment).clone())
    }
}

/// Writes an index as an uncompressed in-memory segment for queries (read in place).
pub fn snapshot_of(
    index: &IncrementalIndex,
    interval: Interval,
) -> Result<Arc<Segment>, SegmentError> {
    let written = write_index(
        index,
        interval,
        None,
        SegmentOutput::Memory,
        WriteOptions::SNAPSHOT,
    )?;
    Ok(Arc::new(Segment::from_written(written)?))
}

/// One segment interval being built.
#[derive(Debug)]
pub struct Sink {
    /// The segment interval.
    pub interval: Interval,
    /// The segment version.
    pub version: String,
    /// The partition.
    pub shard_spec: ShardSpec,
    /// Lifecycle state.
    pub state: SinkState,
    /// Persisted hydrants, in number order.
    pub hydrants: Vec<Hydrant>,
    /// Hydrants being persisted.
    pub in_flight: Vec<InFlight>,
    /// The current in-memory index (the last hydrant).
    pub current: IncrementalIndex,
    /// Number the next hydrant gets.
    pub next_hydrant: u32,
    /// The published segment, once pushed.
    pub pushed: Option<DataSegment>,
    /// True while a merge/push/handoff task owns the sink.
    pub handing_off: bool,
    /// Snapshot of the current index for queries, with the index version it shows.
    current_snapshot: Option<(u64, Arc<Segment>)>,
    /// The row storage of the last persisted index, for the next one.
    spare_rows: Option<SpareRows>,
}

impl Sink {
    /// A sink with an empty index.
    pub fn new(
        interval: Interval,
        version: String,
        shard_spec: ShardSpec,
        settings: &IndexSettings,
    ) -> Sink {
        Sink {
            interval,
            version,
            shard_spec,
            state: SinkState::Open,
            hydrants: Vec::new(),
            in_flight: Vec::new(),
            current: IncrementalIndex::new(settings, interval.start_ms),
            next_hydrant: 0,
            pushed: None,
            handing_off: false,
            current_snapshot: None,
            spare_rows: None,
        }
    }

    /// Adds an event to the current index.
    pub fn add(&mut self, row: &ParsedRow<'_>, dims: &[DimensionDef]) -> Result<Added, RowError> {
        self.current.add(row, dims)
    }

    /// See [`IncrementalIndex::prefetch_dictionaries`].
    #[inline]
    pub fn prefetch(&self, row: &mut ParsedRow<'_>) {
        self.current.prefetch_dictionaries(row);
    }

    /// See [`IncrementalIndex::prefetch_rollup_slot`].
    #[inline]
    pub fn prefetch_rollup_slot(&self, row: &mut ParsedRow<'_>) {
        self.current.prefetch_rollup_slot(row);
    }

    /// Rows held in memory (current index only).
    pub fn rows_in_memory(&self) -> usize {
        self.current.num_rows()
    }

    /// Bytes held in memory: the current index and those waiting to be persisted.
    pub fn bytes_in_memory(&self) -> usize {
        self.current.estimated_bytes()
            + self
                .in_flight
                .iter()
                .map(|f| f.index.estimated_bytes())
                .sum::<usize>()
    }

    /// Swaps a non-empty current index out for persisting; returns it with its hydrant number.
    pub fn swap(&mut self, settings: &IndexSettings) -> Option<InFlight> {
        if self.current.is_empty() {
            return None;
        }
        // A closed sink takes no more rows: its next index needs no storage kept for it.
        let spare = match self.state {
            SinkState::Open => self.spare_rows.take().unwrap_or_default(),
            _ => SpareRows::default(),
        };
        let fresh = IncrementalIndex::reusing(settings, self.interval.start_ms, spare);
        let index = Arc::new(std::mem::replace(&mut self.current, fresh));
        // The fresh index counts its version from 0 again: once it has taken as many events
        // as the old one had when it was snapshotted, the cached snapshot would pass for it.
        self.current_snapshot = None;
        let flight = InFlight {
            number: self.next_hydrant,
            index,
            snapshot: Arc::new(OnceLock::new()),
            interval: self.interval,
        };
        self.next_hydrant += 1;
        self.in_flight.push(flight.clone());
        Some(flight)
    }

    /// Replaces an in-flight index by its persisted hydrant.
    pub fn persisted(&mut self, hydrant: Hydrant) {
        if let Some(at) = self
            .in_flight
            .iter()
            .position(|f| f.number == hydrant.number)
        {
            let flight = self.in_flight.remove(at);
            // Unless a query still reads it, the index's row storage serves the next one (of
            // an open sink; a closed one lets it go).
            self.spare_rows = match (self.state, Arc::try_unwrap(flight.index)) {
                (SinkState::Open, Ok(index)) => Some(index.into_spare()),
                _ => None,
            };
            // An index that started while this one was persisted grew into fresh memory; while
            // it is young, it moves into the freed storage instead of leaving that idle.
            if self.current.num_rows() <= ADOPT_MAX_ROWS
                && let Some(spare) = self.spare_rows.take()
            {
                self.current.adopt_storage(spare);
            }
        }
        let at = self.hydrants.partition_point(|h| h.number < hydrant.number);
        self.hydrants.insert(at, hydrant);
    }

    /// The current index as a queryable segment, cached until the index changes; `None` when
    /// it is empty.
    pub fn current_snapshot(&mut self) -> Result<Option<Arc<Segment>>, SegmentError> {
        if self.current.is_empty() {
            return Ok(None);
        }
        let version = self.current.version();
        if let Some((cached, segment)) = &self.current_snapshot
            && *cached == version
        {
            return Ok(Some(segment.clone()));
        }
        let segment = snapshot_of(&self.current, self.interval)?;
        self.current_snapshot = Some((version, segment.clone()));
        Ok(Some(segment))
    }

    /// Rows in persisted hydrants.
    pub fn persisted_rows(&self) -> u64 {
        self.hydrants.iter().map(|h| h.rows).sum()
    }

    /// The segment as announced while realtime: empty load spec and dimensions, size 0.
    pub fn realtime_segment(&self, data_source: &str, metrics: &[String]) -> DataSegment {
        DataSegment {
            metrics: metrics.to_vec(),
            ..DataSegment::unpushed(
                data_source,
                self.interval,
                self.version.clone(),
                self.shard_spec.clone(),
            )
        }
    }

    /// The sink's directory under a fire department's persist directory.
    pub fn dir(base: &Path, interval: &Interval) -> PathBuf {
        base.join(interval.to_path_component())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema::DimensionType;
    use crate::index::granularity::Granularity;
    use crate::parse::DimValue;

    fn event(value: &str) -> ParsedRow<'_> {
        ParsedRow {
            timestamp_ms: 0,
            dims: vec![DimValue::One(value.into())],
            fields: vec![],
            dim_hashes: vec![],
            ..ParsedRow::default()
        }
    }

    fn settings() -> IndexSettings {
        IndexSettings {
            query_granularity: Granularity::None,
            rollup: true,
            metrics: vec![],
        }
    }

    fn page_dimension() -> [DimensionDef; 1] {
        [DimensionDef {
            name: "page".into(),
            kind: DimensionType::String,
            spatial_inputs: vec![],
            multi_value_handling: Default::default(),
        }]
    }

    /// A day sink whose index holds rows `a` and `b`.
    fn sink_with_two_rows(settings: &IndexSettings, dims: &[DimensionDef]) -> Sink {
        let mut sink = Sink::new(
            Interval::new(0, 86_400_000),
            "v1".into(),
            ShardSpec::None,
            settings,
        );
        for value in ["a", "b"] {
            sink.add(&event(value), dims).unwrap();
        }
        sink
    }

    #[test]
    fn a_snapshot_of_the_swapped_out_index_is_not_served_for_the_next_one() {
        let (settings, dims) = (settings(), page_dimension());
        let mut sink = sink_with_two_rows(&settings, &dims);
        let old = sink.current_snapshot().unwrap().expect("two rows");
        assert_eq!(old.num_rows(), 2);
        sink.swap(&settings).expect("a non-empty index swaps out");
        // Two events take the new index to the version the old one had when snapshotted;
        // they roll up into one row.
        for value in ["c", "c"] {
            sink.add(&event(value), &dims).unwrap();
        }
        let new = sink.current_snapshot().unwrap().expect("one row");
        assert_eq!(new.num_rows(), 1);
    }

    #[test]
    fn an_open_sink_keeps_its_persisted_index_storage_unless_it_is_still_read() {
        let (settings, dims) = (settings(), page_dimension());
        // (state when the persist lands, a reader still holds the index, storage kept)
        for (state, read, kept) in [
            (SinkState::Open, false, true),
            (SinkState::Open, true, false),
            (SinkState::Closed, false, false),
        ] {
            let mut sink = sink_with_two_rows(&settings, &dims);
            let (hydrant, reader) = swap_out(&mut sink, &settings, read, state);
            sink.persisted(hydrant);
            drop(reader);
            // Kept: the current index, empty, moved into it.
            assert_eq!(
                sink.current.row_capacity() > 0,
                kept,
                "{state:?}, read {read}"
            );
            assert!(sink.spare_rows.is_none());
            assert_eq!(sink.hydrants.len(), 1);
            assert!(sink.in_flight.is_empty());
        }
    }

    #[test]
    fn an_index_past_a_batch_or_two_leaves_the_freed_storage_to_the_next_index() {
        let (settings, dims) = (settings(), page_dimension());
        let mut sink = sink_with_two_rows(&settings, &dims);
        let (hydrant, _) = swap_out(&mut sink, &settings, false, SinkState::Open);
        for n in 0..=ADOPT_MAX_ROWS {
            sink.add(&event(&n.to_string()), &dims).unwrap();
        }
        let grown = sink.current.row_capacity();
        sink.persisted(hydrant);
        assert_eq!(
            sink.current.row_capacity(),
            grown,
            "the current index keeps its own"
        );
        assert!(
            sink.spare_rows.is_some(),
            "the next index starts in the freed storage"
        );
    }

    /// Swaps the sink's index out and sets the sink's state; returns the hydrant its persist
    /// would give and, when `read`, a reader holding the index (as a query would).
    fn swap_out(
        sink: &mut Sink,
        settings: &IndexSettings,
        read: bool,
        state: SinkState,
    ) -> (Hydrant, Option<Arc<IncrementalIndex>>) {
        let flight = sink.swap(settings).expect("a non-empty index swaps out");
        let hydrant = Hydrant {
            number: flight.number,
            generation: 1,
            rows: flight.index.num_rows() as u64,
            segment: flight.snapshot().unwrap(),
            in_segment_format: false,
        };
        let reader = read.then(|| flight.index.clone());
        sink.state = state;
        (hydrant, reader)
    }
}
