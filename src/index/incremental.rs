//! The incremental index: rows keyed by (truncated time, dimension cells), rolled up on insert.
//!
//! Row keys live in one arena of `u32` cells with trailing nulls trimmed, so schemaless
//! dimensions discovered later need no rewrite of older rows, and a key equals another exactly
//! when their trimmed cells and times match. A hash table of row ids finds the row to fold into.
//! Rows are grouped into one small table per minute of (truncated) time: streams arrive roughly
//! in time order, so the table being probed stays in cache instead of one table of millions.
//! The row to fold into
//! (`rollup: false` skips it and keeps every event). Metrics are struct-of-arrays columns.

use std::hash::BuildHasher;

use super::aggregate::{MetricColumns, MetricDef, MetricValue, MetricValueError, adopt_vec};
use super::dictionary::{HASHER, IdTable};
use super::dimension::{DimensionIndexer, DimensionValueError};
use super::granularity::Granularity;
use super::truncate::Truncator;
use crate::parse::{DimensionDef, ParsedRow};
use crate::segment::prefetch::prefetch_value;

/// Rows of one minute of time share a hash table.
const TABLE_WINDOW_MS: i64 = 60_000;

/// Why an event could not be added (it counts as unparseable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// A dimension value of the wrong type.
    #[error(transparent)]
    Dimension(#[from] DimensionValueError),
    /// A metric input Druid cannot aggregate.
    #[error(transparent)]
    Metric(#[from] MetricValueError),
}

/// What happened to an added event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// The event started a new row.
    NewRow,
    /// The event was rolled up into an existing row.
    RolledUp,
}

/// Static settings of an index.
#[derive(Debug, Clone)]
pub struct IndexSettings {
    /// Row timestamps are truncated to this.
    pub query_granularity: Granularity,
    /// Combine events with equal time and dimensions.
    pub rollup: bool,
    /// Metrics in spec order.
    pub metrics: Vec<MetricDef>,
}

/// The row storage of a persisted index, emptied, for the sink's next index: a new index
/// grows its columns by doubling, copying and faulting in fresh pages each time (on this
/// machine's balloon a fresh page costs a host fault), while a recycled one starts at the size
/// the last one reached.
#[derive(Debug, Default)]
pub struct SpareRows {
    times: Vec<i64>,
    key_cells: Vec<u32>,
    key_ends: Vec<u32>,
    metrics: Vec<super::aggregate::Column>,
    /// The per-minute row tables, emptied.
    tables: Vec<IdTable>,
}

/// The in-memory index of one sink's current hydrant.
#[derive(Debug)]
pub struct IncrementalIndex {
    /// Truncates event times to `queryGranularity`.
    truncator: Truncator,
    rollup: bool,
    min_timestamp_ms: i64,
    dims: Vec<DimensionIndexer>,
    dim_names: Vec<String>,
    times: Vec<i64>,
    key_cells: Vec<u32>,
    key_ends: Vec<u32>,
    tables: hashbrown::HashMap<i64, IdTable, foldhash::fast::FixedState>,
    /// Emptied tables of the index before, handed to new minutes.
    spare_tables: Vec<IdTable>,
    table_bytes: usize,
    metrics: MetricColumns,
    key_scratch: Vec<u32>,
    list_scratch: Vec<u32>,
    min_data_time_ms: i64,
    max_data_time_ms: i64,
    /// Events added so far: changes whenever the index does.
    version: u64,
    /// This index among all of the process, for the row keys [`Self::prefetch_rollup_slot`]
    /// leaves in a row (dictionary ids are only meaningful in the index that gave them). The
    /// index is not `Clone`: a copy would share the instance while its ids went their own way.
    instance: u64,
}

/// The next [`IncrementalIndex::instance`].
static NEXT_INSTANCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl IncrementalIndex {
    /// An empty index whose rows start no earlier than `min_timestamp_ms` (the sink start).
    pub fn new(settings: &IndexSettings, min_timestamp_ms: i64) -> IncrementalIndex {
        IncrementalIndex::reusing(settings, min_timestamp_ms, SpareRows::default())
    }

    /// [`IncrementalIndex::new`] with the row storage of an index persisted before.
    pub fn reusing(
        settings: &IndexSettings,
        min_timestamp_ms: i64,
        spare: SpareRows,
    ) -> IncrementalIndex {
        IncrementalIndex {
            truncator: Truncator::new(&settings.query_granularity),
            rollup: settings.rollup,
            min_timestamp_ms,
            dims: Vec::new(),
            dim_names: Vec::new(),
            times: spare.times,
            key_cells: spare.key_cells,
            key_ends: spare.key_ends,
            tables: hashbrown::HashMap::with_hasher(HASHER),
            spare_tables: spare.tables,
            table_bytes: 0,
            metrics: MetricColumns::reusing(settings.metrics.clone(), spare.metrics),
            key_scratch: Vec::new(),
            list_scratch: Vec::new(),
            min_data_time_ms: i64::MAX,
            max_data_time_ms: i64::MIN,
            version: 0,
            instance: NEXT_INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Adds one event; `dims` describes the slots of `row.dims` (they only grow).
    pub fn add(&mut self, row: &ParsedRow<'_>, dims: &[DimensionDef]) -> Result<Added, RowError> {
        self.ensure_dims(dims);
        self.metrics.prepare(row)?;
        let prepared = self.rollup && row.key_index == self.instance;
        if prepared {
            self.key_scratch.clear();
            self.key_scratch.extend_from_slice(&row.key_cells);
            #[cfg(debug_assertions)]
            self.check_prepared_key(row);
        } else {
            self.encode_key(row)?;
        }
        self.version += 1;
        let time = self.row_time_of(row.timestamp_ms);
        self.min_data_time_ms = self.min_data_time_ms.min(row.timestamp_ms);
        self.max_data_time_ms = self.max_data_time_ms.max(row.timestamp_ms);
        if self.rollup {
            let hash = if prepared {
                row.key_hash
            } else {
                key_hash(time, &self.key_scratch)
            };
            debug_assert_eq!(hash, key_hash(time, &self.key_scratch));
            let (times, cells, ends, key) = (
                &self.times,
                &self.key_cells,
                &self.key_ends,
                &self.key_scratch,
            );
            let table = match self.tables.entry(time.div_euclid(TABLE_WINDOW_MS)) {
                hashbrown::hash_map::Entry::Occupied(e) => e.into_mut(),
                hashbrown::hash_map::Entry::Vacant(e) => {
                    let table = self.spare_tables.pop().unwrap_or_default();
                    self.table_bytes += table.heap_bytes();
                    e.insert(table)
                }
            };
            if let Some(row_id) = table.find(hash, |id| {
                times[id as usize] == time && row_key(cells, ends, id) == key.as_slice()
            }) {
                self.metrics.fold_row(row_id as usize, row);
                return Ok(Added::RolledUp);
            }
            // The new row's id goes into the table before the row is appended (inserting
            // hashes nothing but `hash`), so the window's table is looked up once.
            let row_id = self.times.len() as u32;
            let before = table.heap_bytes();
            table.insert(hash, row_id);
            self.table_bytes += table.heap_bytes() - before;
            let pushed = self.push_row(time, row);
            debug_assert_eq!(pushed, row_id);
        } else {
            self.push_row(time, row);
        }
        Ok(Added::NewRow)
    }

    /// Debug builds: the key a prefetch prepared is the one encoding the row gives.
    #[cfg(debug_assertions)]
    fn check_prepared_key(&mut self, row: &ParsedRow<'_>) {
        let prepared = std::mem::take(&mut self.key_scratch);
        self.encode_key(row)
            .expect("a prepared key's values encode");
        assert_eq!(self.key_scratch, prepared, "prepared row key");
    }

    fn ensure_dims(&mut self, dims: &[DimensionDef]) {
        while self.dims.len() < dims.len() {
            let def = &dims[self.dims.len()];
            self.dims
                .push(DimensionIndexer::new(def.kind, def.multi_value_handling));
            self.dim_names.push(def.name.clone());
        }
    }

    /// Encodes the event's dimensions into `key_scratch`; dictionaries may grow even if a later
    /// dimension fails (harmless: unused values are dropped at persist).
    fn encode_key(&mut self, row: &ParsedRow<'_>) -> Result<(), DimensionValueError> {
        self.key_scratch.clear();
        for (slot, value) in row.dims.iter().enumerate() {
            let hash = row.dim_hashes.get(slot).copied().unwrap_or(0);
            let cell = self.dims[slot].encode(
                &self.dim_names[slot],
                value,
                hash,
                &mut self.list_scratch,
            )?;
            self.key_scratch.push(cell);
        }
        trim_trailing_nulls(&mut self.key_scratch);
        Ok(())
    }

    /// The row time an event at `timestamp_ms` gets: truncated to `queryGranularity`, never
    /// before the sink's start.
    #[inline]
    fn row_time_of(&self, timestamp_ms: i64) -> i64 {
        self.truncator
            .truncate(timestamp_ms)
            .max(self.min_timestamp_ms)
    }

    fn push_row(&mut self, time: i64, row: &ParsedRow<'_>) -> u32 {
        let row_id = self.times.len() as u32;
        self.times.push(time);
        self.key_cells.extend_from_slice(&self.key_scratch);
        self.key_ends.push(self.key_cells.len() as u32);
        self.metrics.init_row(row);
        row_id
    }

    /// This index's row storage, emptied, for [`IncrementalIndex::reusing`].
    pub fn into_spare(self) -> SpareRows {
        let (mut times, mut key_cells, mut key_ends) = (self.times, self.key_cells, self.key_ends);
        times.clear();
        key_cells.clear();
        key_ends.clear();
        let mut tables: Vec<IdTable> = self.tables.into_values().collect();
        tables.extend(self.spare_tables);
        tables.iter_mut().for_each(IdTable::clear);
        SpareRows {
            times,
            key_cells,
            key_ends,
            metrics: self.metrics.into_spare(),
            tables,
        }
    }

    /// Moves this index's rows into `spare` (the emptied row storage of an index persisted
    /// since this one started) and keeps that storage. For a young index: the move copies its
    /// rows, and spares it growing into fresh memory while the other storage lies idle.
    pub fn adopt_storage(&mut self, spare: SpareRows) {
        adopt_vec(&mut self.times, spare.times);
        adopt_vec(&mut self.key_cells, spare.key_cells);
        adopt_vec(&mut self.key_ends, spare.key_ends);
        self.metrics.adopt_columns(spare.metrics);
        self.spare_tables.extend(spare.tables);
    }

    /// Rows the row storage holds without growing.
    #[cfg(test)]
    pub(crate) fn row_capacity(&self) -> usize {
        self.times.capacity()
    }

    /// A number that changes whenever an event is added.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of rows (after rollup).
    pub fn num_rows(&self) -> usize {
        self.times.len()
    }

    /// True when no event was added.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Estimated bytes held: rows, keys, table, dictionaries, metrics. Rows count by length,
    /// as Druid estimates them, not by capacity: a recycled index ([`SpareRows`]) holds the
    /// capacity its predecessor reached before its first row.
    pub fn estimated_bytes(&self) -> usize {
        self.times.len() * 8
            + self.key_cells.len() * 4
            + self.key_ends.len() * 4
            + self.table_bytes
            + self.tables.capacity() * 48
            + self
                .dims
                .iter()
                .map(DimensionIndexer::heap_bytes)
                .sum::<usize>()
            + self.metrics.heap_bytes()
    }

    /// Earliest and latest event time added (untruncated), if any.
    pub fn data_time_range_ms(&self) -> Option<(i64, i64)> {
        (!self.is_empty()).then_some((self.min_data_time_ms, self.max_data_time_ms))
    }

    /// Dimension names by slot.
    pub fn dimension_names(&self) -> &[String] {
        &self.dim_names
    }

    /// The indexer of dimension `slot`.
    pub fn dimension(&self, slot: usize) -> &DimensionIndexer {
        &self.dims[slot]
    }

    /// Metric definitions.
    pub fn metric_defs(&self) -> &[MetricDef] {
        self.metrics.defs()
    }

    /// The truncated time of row `row_id`.
    pub fn row_time(&self, row_id: usize) -> i64 {
        self.times[row_id]
    }

    /// The stored cells of row `row_id`, in dimension-slot order (trailing nulls omitted).
    pub fn row_cells(&self, row_id: usize) -> &[u32] {
        row_key(&self.key_cells, &self.key_ends, row_id as u32)
    }

    /// The cell of dimension `slot` in row `row_id` (0, null, beyond the row's stored cells).
    pub fn row_cell(&self, row_id: usize, slot: usize) -> u32 {
        row_key(&self.key_cells, &self.key_ends, row_id as u32)
            .get(slot)
            .copied()
            .unwrap_or(0)
    }

    /// Asks the CPU for the dictionary slots of `row`'s single string values: the ingest loop
    /// calls this for the next event while it adds the current one, so the two misses overlap.
    /// The values' hashes go to `row.dim_hashes`, so that adding the row does not hash again.
    #[inline]
    pub fn prefetch_dictionaries(&self, row: &mut ParsedRow<'_>) {
        row.dim_hashes.clear();
        for (indexer, value) in self.dims.iter().zip(&row.dims) {
            row.dim_hashes.push(indexer.prefetch(value));
        }
    }

    /// Asks the CPU for the rollup-table slot `row` will probe, when each of its dimension
    /// values is already in the dictionaries: called an event after
    /// [`Self::prefetch_dictionaries`] (whose slots have arrived by then), so that adding the
    /// row does not wait on its minute's table, which a replayed backlog seldom has in cache.
    /// The key and its hash stay in the row (`key_*`), so that adding it does not look its
    /// values up again; dictionary ids only grow, so they hold until this index is swapped.
    #[inline]
    pub fn prefetch_rollup_slot(&self, row: &mut ParsedRow<'_>) {
        row.key_index = 0;
        if !self.rollup || row.dims.len() > self.dims.len() {
            return;
        }
        row.key_cells.clear();
        for (slot, value) in row.dims.iter().enumerate() {
            let hash = row.dim_hashes.get(slot).copied().unwrap_or(0);
            match self.dims[slot].known_cell(value, hash) {
                Some(cell) => row.key_cells.push(cell),
                None => return,
            }
        }
        trim_trailing_nulls(&mut row.key_cells);
        let time = self.row_time_of(row.timestamp_ms);
        row.key_hash = key_hash(time, &row.key_cells);
        row.key_index = self.instance;
        if let Some(table) = self.tables.get(&time.div_euclid(TABLE_WINDOW_MS)) {
            table.prefetch(row.key_hash);
        }
    }

    /// Asks the CPU for the cache lines of row `row_id` (time, key end, metric slots) before
    /// they are read: a persist reads the rows in sorted order, scattered over the index.
    #[inline]
    pub fn prefetch_row(&self, row_id: usize) {
        prefetch_value(&self.times, row_id);
        prefetch_value(&self.key_ends, row_id);
        self.metrics.prefetch_row(row_id);
    }

    /// Asks for the key cells of row `row_id`; reads its key end, so call it some rows after
    /// [`IncrementalIndex::prefetch_row`] of the same row.
    #[inline]
    pub fn prefetch_cells(&self, row_id: usize) {
        if let Some(end) = self.key_ends.get(row_id) {
            prefetch_value(&self.key_cells, (*end as usize).saturating_sub(1));
        }
    }

    /// The value of metric `metric` in row `row_id`.
    pub fn metric_value(&self, metric: usize, row_id: usize) -> MetricValue<'_> {
        self.metrics.value(metric, row_id)
    }
}

fn row_key<'a>(cells: &'a [u32], ends: &[u32], id: u32) -> &'a [u32] {
    let end = ends[id as usize] as usize;
    let start = if id == 0 {
        0
    } else {
        ends[id as usize - 1] as usize
    };
    &cells[start..end]
}

/// Drops a row key's trailing null cells: a row without a later dimension's value has the key
/// of one that names it null.
#[inline]
fn trim_trailing_nulls(key: &mut Vec<u32>) {
    while key.last() == Some(&0) {
        key.pop();
    }
}

/// The hash of a row key: the cells go to the hasher as one byte slice (one `write`), not
/// one call per cell.
fn key_hash(time: i64, key: &[u32]) -> u64 {
    HASHER.hash_one((time, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AggregatorKind;
    use crate::config::schema::DimensionType;
    use crate::index::{SortedIndex, row_sort, rows_as_json};
    use crate::parse::{DimValue, FieldValue};

    fn settings() -> IndexSettings {
        let metric = |name: &str, kind, field_slot| MetricDef {
            name: name.into(),
            kind,
            field_slot,
            is_input_hyper_unique: false,
            filter: None,
        };
        IndexSettings {
            query_granularity: Granularity::named("MINUTE").unwrap(),
            rollup: true,
            metrics: vec![
                metric("count", AggregatorKind::Count, None),
                metric("sum", AggregatorKind::LongSum, Some(0)),
                metric("users", AggregatorKind::HyperUnique, Some(1)),
                metric("first", AggregatorKind::LongFirst, Some(0)),
            ],
        }
    }

    fn dims() -> Vec<DimensionDef> {
        ["page", "city"]
            .map(|name| DimensionDef {
                name: name.into(),
                kind: DimensionType::String,
                spatial_inputs: vec![],
                multi_value_handling: Default::default(),
            })
            .to_vec()
    }

    fn row<'a>(minute: i64, page: &'a str, city: &'a str, n: i64) -> ParsedRow<'a> {
        ParsedRow {
            timestamp_ms: minute * 60_000 + n,
            dims: vec![DimValue::One(page.into()), DimValue::One(city.into())],
            fields: vec![FieldValue::Long(n), FieldValue::Str(city.into())],
            dim_hashes: vec![],
            ..ParsedRow::default()
        }
    }

    fn events(seed: i64) -> Vec<ParsedRow<'static>> {
        const PAGES: [&str; 4] = ["Main", "a-page-name-longer-than-sixteen-bytes", "ß", "x"];
        (0..400)
            .map(|i: i64| {
                let k = (i * 7 + seed) as usize;
                row(i % 5, PAGES[k % 4], ["Paris", "Oslo", ""][k % 3], i)
            })
            .collect()
    }

    fn contents(index: &IncrementalIndex) -> Vec<serde_json::Map<String, serde_json::Value>> {
        rows_as_json(&SortedIndex::new(index))
    }

    /// A cell's place in Druid's row order: null first, shorter value lists first, then the
    /// values in Java's (UTF-16) order.
    fn druid_cell_key(value: Option<&serde_json::Value>) -> (usize, Vec<Vec<u16>>) {
        let utf16 = |v: &serde_json::Value| v.as_str().unwrap().encode_utf16().collect();
        let null = serde_json::Value::Null;
        match value {
            // A multi-value column writes a null cell as `[null]`.
            None | Some(serde_json::Value::Null) => (0, vec![]),
            Some(serde_json::Value::Array(values)) if values[..] == [null] => (0, vec![]),
            Some(serde_json::Value::Array(values)) => {
                (values.len(), values.iter().map(utf16).collect())
            }
            Some(value) => (1, vec![utf16(value)]),
        }
    }

    #[test]
    fn rows_sort_in_druid_order_however_many_ranks_are_packed() {
        const PAGES: [&str; 6] = ["", "Main", "ß", "a", "a-longer-page", "Z"];
        const CITIES: [&str; 4] = ["Paris", "Oslo", "", "Berlin"];
        let mut state = 7u64;
        let mut next = |n: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((state >> 33) % n) as usize
        };
        let mut index = IncrementalIndex::new(&settings(), 0);
        for n in 0..3000 {
            let mut event = row(next(4) as i64, PAGES[next(6)], CITIES[next(4)], n);
            if next(5) == 0 {
                // A list, and sometimes a list the same as a single value or as a null.
                let list = (0..next(3)).map(|_| Some(CITIES[next(2)].into())).collect();
                event.dims[1] = DimValue::Many(list);
            }
            index.add(&event, &dims()).unwrap();
        }
        let packed_all = contents(&index);
        let druid_key = |r: &serde_json::Map<String, serde_json::Value>| {
            let time = r["__time"].as_i64().unwrap();
            (
                time,
                druid_cell_key(r.get("page")),
                druid_cell_key(r.get("city")),
            )
        };
        assert!(packed_all.len() > 100, "{} rows", packed_all.len());
        for pair in packed_all.windows(2) {
            assert!(druid_key(&pair[0]) < druid_key(&pair[1]), "{pair:?}");
        }
        // Only the first dimension packed: the rest compared run by run.
        row_sort::limit_packed_bits(Some(0));
        let packed_first = contents(&index);
        row_sort::limit_packed_bits(None);
        assert_eq!(packed_first, packed_all);
    }

    #[test]
    fn equal_rows_without_rollup_keep_their_arrival_order() {
        let mut index = IncrementalIndex::new(
            &IndexSettings {
                rollup: false,
                ..settings()
            },
            0,
        );
        for n in 0..600 {
            let city = ["Paris", "Oslo", ""][(n * 7 % 3) as usize];
            index.add(&row(n % 2, "Main", city, n), &dims()).unwrap();
        }
        for packed_bits in [None, Some(0)] {
            row_sort::limit_packed_bits(packed_bits);
            let rows = contents(&index);
            row_sort::limit_packed_bits(None);
            assert_eq!(rows.len(), 600);
            let key = |r: &serde_json::Map<String, serde_json::Value>| {
                (r["__time"].as_i64(), r.get("city").cloned())
            };
            for pair in rows.windows(2) {
                if key(&pair[0]) == key(&pair[1]) {
                    assert!(
                        pair[0]["sum"].as_i64() < pair[1]["sum"].as_i64(),
                        "{pair:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn hashes_from_the_prefetch_give_the_rows_hashing_again_gives() {
        let (mut plain, mut prefetched) = (
            IncrementalIndex::new(&settings(), 0),
            IncrementalIndex::new(&settings(), 0),
        );
        for mut event in events(1) {
            plain.add(&event, &dims()).unwrap();
            prefetched.ensure_dims(&dims());
            prefetched.prefetch_dictionaries(&mut event);
            assert!(event.dim_hashes.iter().any(|&h| h != 0));
            prefetched.add(&event, &dims()).unwrap();
        }
        assert!(plain.num_rows() > 20 && plain.num_rows() < 400);
        assert_eq!(contents(&plain), contents(&prefetched));
    }

    /// The emptied storage of an index that held `events(2)`, and its row capacity.
    fn spare_of_filled_index() -> (SpareRows, usize) {
        let mut index = IncrementalIndex::new(&settings(), 0);
        for event in events(2) {
            index.add(&event, &dims()).unwrap();
        }
        let capacity = index.times.capacity();
        (index.into_spare(), capacity)
    }

    #[test]
    fn a_recycled_index_starts_empty_and_holds_what_a_new_one_would() {
        let (spare, capacity) = spare_of_filled_index();
        let mut recycled = IncrementalIndex::reusing(&settings(), 0, spare);
        assert!(recycled.is_empty());
        assert_eq!(recycled.times.capacity(), capacity);
        assert_eq!(
            recycled.estimated_bytes(),
            0,
            "spare capacity is not counted"
        );
        let mut fresh = IncrementalIndex::new(&settings(), 0);
        for event in events(3) {
            recycled.add(&event, &dims()).unwrap();
            fresh.add(&event, &dims()).unwrap();
        }
        assert_eq!(contents(&recycled), contents(&fresh));
        assert!(recycled.estimated_bytes() >= fresh.estimated_bytes() / 2);
    }

    #[test]
    fn a_young_index_adopting_older_storage_keeps_its_rows_and_rolls_up_into_them() {
        let (spare, capacity) = spare_of_filled_index();
        let (mut young, mut fresh) = (
            IncrementalIndex::new(&settings(), 0),
            IncrementalIndex::new(&settings(), 0),
        );
        let events = events(3);
        let (early, late) = events.split_at(7);
        for event in early {
            young.add(event, &dims()).unwrap();
            fresh.add(event, &dims()).unwrap();
        }
        assert!(young.times.capacity() < capacity);
        young.adopt_storage(spare);
        assert_eq!(
            young.times.capacity(),
            capacity,
            "the older storage is kept"
        );
        assert_eq!(contents(&young), contents(&fresh));
        for event in late {
            assert_eq!(
                young.add(event, &dims()).unwrap(),
                fresh.add(event, &dims()).unwrap()
            );
        }
        assert_eq!(contents(&young), contents(&fresh));
        assert_eq!(young.estimated_bytes(), fresh.estimated_bytes());
    }

    #[test]
    fn a_thread_keeping_sort_buffers_sorts_as_a_fresh_one_and_reuses_them() {
        let indexes: Vec<IncrementalIndex> = [(4, 300), (5, 400)]
            .map(|(seed, count)| {
                let mut index = IncrementalIndex::new(&settings(), 0);
                for event in &events(seed)[..count] {
                    index.add(event, &dims()).unwrap();
                }
                index
            })
            .into();
        assert!(indexes[1].num_rows() >= indexes[0].num_rows());
        let expected: Vec<Vec<u32>> = indexes
            .iter()
            .map(|index| SortedIndex::new(index).row_order.clone())
            .collect();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                row_sort::keep_sort_buffers_on_this_thread();
                let address = SortedIndex::new(&indexes[1]).row_order.as_ptr();
                for i in [0, 1, 0] {
                    let sorted = SortedIndex::new(&indexes[i]);
                    assert_eq!(sorted.row_order, expected[i]);
                    assert_eq!(sorted.row_order.as_ptr(), address, "the buffer is reused");
                }
                assert!(row_sort::kept_sort_buffer_bytes() > 0);
                row_sort::release_kept_sort_buffers();
                assert_eq!(row_sort::kept_sort_buffer_bytes(), 0);
                assert_eq!(SortedIndex::new(&indexes[1]).row_order, expected[1]);
            });
        });
    }
}
