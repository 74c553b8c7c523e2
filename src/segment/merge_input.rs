//! The per-input side of `merge`: merged dictionaries with id remapping tables, and a cursor that
//! walks one input segment row by row (block-cached reads, remapped ids) exposing its row key and
//! metric values. No row is materialized beyond the cursor's current one.

use std::cmp::Ordering;

use super::error::SegmentError;
use super::reader::{Column, Segment};
use super::string_column::{StringColumn, StringDictionary, java_utf8_cmp};
use super::{double_column::DoubleColumn, float_column::FloatColumn, long_column::LongColumn};

/// One dimension value of a row key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyCell {
    /// Merged dictionary ids (one for single-value dimensions).
    Ids(Vec<u32>),
    /// A long dimension value.
    Long(i64),
    /// A float dimension value.
    Float(f32),
    /// A double dimension value.
    Double(f64),
}

impl KeyCell {
    /// Druid's `Rowboat` order: id arrays by length first, then element-wise; numbers by value.
    pub fn compare(&self, other: &KeyCell) -> Ordering {
        match (self, other) {
            (KeyCell::Ids(a), KeyCell::Ids(b)) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
            (KeyCell::Long(a), KeyCell::Long(b)) => a.cmp(b),
            (KeyCell::Float(a), KeyCell::Float(b)) => a.total_cmp(b),
            (KeyCell::Double(a), KeyCell::Double(b)) => a.total_cmp(b),
            _ => Ordering::Equal,
        }
    }

    /// Copies `other` into `self`, reusing the id buffer.
    pub fn assign(&mut self, other: &KeyCell) {
        match (self, other) {
            // The common single id is copied in place (`clone_from` calls `memcpy`).
            (KeyCell::Ids(mine), KeyCell::Ids(theirs)) if mine.len() == 1 && theirs.len() == 1 => {
                mine[0] = theirs[0];
            }
            (KeyCell::Ids(mine), KeyCell::Ids(theirs)) => mine.clone_from(theirs),
            (me, other) => *me = other.clone(),
        }
    }
}

/// Compares two row keys: time, then dimensions in merged order.
pub fn compare_keys(a_time: i64, a: &[KeyCell], b_time: i64, b: &[KeyCell]) -> Ordering {
    a_time.cmp(&b_time).then_with(|| {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.compare(y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    })
}

/// The result of merging the dictionaries of one string dimension.
#[derive(Debug, Clone, Default)]
pub struct MergedDictionary {
    /// Merged entries, Java order, null first.
    pub entries: Vec<Option<String>>,
    /// Per input: old id → merged id (empty for inputs without the dimension).
    pub remaps: Vec<Vec<u32>>,
}

/// K-way merges sorted dictionaries; `add_null` inserts a null entry (for inputs lacking the
/// dimension). Values are compared as bytes (Java order, [`java_utf8_cmp`]) and each input's
/// head value is read once; only the merged entries are checked to be UTF-8, which covers every
/// input entry (each equals one merged entry byte for byte).
pub fn merge_dictionaries(
    inputs: &[Option<&StringDictionary>],
    add_null: bool,
    name: &str,
) -> Result<MergedDictionary, SegmentError> {
    let mut entries: Vec<Option<String>> = if add_null { vec![None] } else { Vec::new() };
    let mut remaps: Vec<Vec<u32>> = inputs
        .iter()
        .map(|d| vec![0; d.map_or(0, |d| d.len() as usize)])
        .collect();
    // Per input: its next entry, or `None` when exhausted (or without the dimension).
    let mut heads = Vec::with_capacity(inputs.len());
    for dictionary_opt in inputs {
        heads.push(match dictionary_opt {
            Some(dictionary) => Head::at(dictionary, 0)?,
            None => None,
        });
    }
    let mut last_opt: Option<Option<&[u8]>> = add_null.then_some(None);
    loop {
        let mut min_opt: Option<Head<'_>> = None;
        for head in heads.iter().flatten() {
            if min_opt.is_none_or(|min| java_opt_bytes_cmp(head.value, min.value).is_lt()) {
                min_opt = Some(*head);
            }
        }
        let Some(min) = min_opt else {
            break;
        };
        if last_opt.is_none_or(|last| java_opt_bytes_cmp(last, min.value).is_lt()) {
            // Read again through the checked accessor: a value that is not UTF-8 is a corrupt
            // dictionary, named by its segment.
            entries.push(min.dictionary.get(min.id)?.map(str::to_string));
            last_opt = Some(min.value);
        }
        let merged_id = entries.len() as u32 - 1;
        for (input, head_opt) in heads.iter_mut().enumerate() {
            while let Some(head) = *head_opt {
                if java_opt_bytes_cmp(head.value, min.value).is_ne() {
                    break;
                }
                remaps[input][head.id as usize] = merged_id;
                *head_opt = Head::at(head.dictionary, head.id + 1)?;
                if head_opt.is_some_and(|next| java_opt_bytes_cmp(next.value, min.value).is_lt()) {
                    return Err(SegmentError::InvalidInput(format!(
                        "dictionary of `{name}` in input {input} is not sorted"
                    )));
                }
            }
        }
    }
    Ok(MergedDictionary { entries, remaps })
}

/// The next entry of one input's dictionary.
#[derive(Clone, Copy)]
struct Head<'a> {
    dictionary: &'a StringDictionary,
    id: u32,
    /// Its bytes, not yet checked to be UTF-8 (`None` = null).
    value: Option<&'a [u8]>,
}

impl<'a> Head<'a> {
    /// Entry `id` of `dictionary`, or `None` past the end.
    fn at(dictionary: &'a StringDictionary, id: u32) -> Result<Option<Head<'a>>, SegmentError> {
        if id >= dictionary.len() {
            return Ok(None);
        }
        let value = dictionary.get_bytes(id)?;
        Ok(Some(Head {
            dictionary,
            id,
            value,
        }))
    }
}

/// [`super::string_column::java_opt_cmp`] over bytes: null first, then [`java_utf8_cmp`].
fn java_opt_bytes_cmp(a: Option<&[u8]>, b: Option<&[u8]>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => java_utf8_cmp(x, y),
    }
}

/// Where one merged dimension's values come from in one input.
#[derive(Debug)]
pub enum DimSource {
    /// A string column and its remapping table.
    String(Box<StringColumn>, Vec<u32>),
    /// A long column.
    Long(LongColumn),
    /// A float column.
    Float(FloatColumn),
    /// A double column.
    Double(DoubleColumn),
    /// The input lacks the dimension: every row holds this cell.
    Missing(KeyCell),
}

/// Where one merged metric's values come from in one input.
#[derive(Debug)]
pub enum MetricSource {
    /// A column of the input.
    Column(Box<Column>),
    /// The input lacks the metric (zero or empty bytes).
    Missing,
}

/// Walks one input's rows in order.
#[derive(Debug)]
pub struct InputCursor {
    /// Position in the walk (a row number unless `order_opt` permutes it).
    pub(super) position: u32,
    pub(super) num_rows: u32,
    /// Row numbers in walk order, for an input whose own row order is not the merged one.
    order_opt: Option<Vec<u32>>,
    pub(super) time: LongColumn,
    pub(super) dims: Vec<DimSource>,
    /// Metric sources, in merged metric order.
    pub metrics: Vec<MetricSource>,
    /// Current row time.
    pub time_ms: i64,
    /// Current row dimension cells.
    pub key: Vec<KeyCell>,
    pub(super) scratch: Vec<u32>,
}

impl InputCursor {
    /// Builds a cursor positioned on the first row (check [`InputCursor::is_done`]).
    pub fn new(
        segment: &Segment,
        dims: Vec<DimSource>,
        metrics: Vec<MetricSource>,
    ) -> Result<InputCursor, SegmentError> {
        let key = dims
            .iter()
            .map(|d| match d {
                DimSource::String(..) => KeyCell::Ids(Vec::new()),
                DimSource::Long(_) => KeyCell::Long(0),
                DimSource::Float(_) => KeyCell::Float(0.0),
                DimSource::Double(_) => KeyCell::Double(0.0),
                DimSource::Missing(cell) => cell.clone(),
            })
            .collect();
        let mut cursor = InputCursor {
            position: 0,
            num_rows: segment.num_rows(),
            order_opt: None,
            time: segment.time_column(),
            dims,
            metrics,
            time_ms: 0,
            key,
            scratch: Vec::new(),
        };
        cursor.load()?;
        Ok(cursor)
    }

    /// Re-walks the input in the merged key order, for an input whose dimension order is not a
    /// subsequence of the merged one (its rows are sorted differently). Reads every key once and
    /// keeps a row permutation: 4 bytes per row plus the keys while sorting; rows are then read
    /// by random access. Druid's merger falls back to a lexicographic order in this case.
    pub fn into_sorted(mut self) -> Result<InputCursor, SegmentError> {
        let mut keys = Vec::with_capacity(self.num_rows as usize);
        while !self.is_done() {
            keys.push((self.time_ms, self.key.clone()));
            self.advance()?;
        }
        let mut order: Vec<u32> = (0..self.num_rows).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&keys[a as usize], &keys[b as usize]);
            compare_keys(a.0, &a.1, b.0, &b.1)
        });
        self.order_opt = Some(order);
        self.position = 0;
        self.load()?;
        Ok(self)
    }

    /// The row number of the current row.
    pub fn row(&self) -> u32 {
        match &self.order_opt {
            Some(order) => order[self.position as usize],
            None => self.position,
        }
    }

    /// True when every row was consumed.
    pub fn is_done(&self) -> bool {
        self.position >= self.num_rows
    }

    /// Moves to the next row.
    pub fn advance(&mut self) -> Result<(), SegmentError> {
        self.position += 1;
        self.load()
    }

    pub(super) fn load(&mut self) -> Result<(), SegmentError> {
        if self.is_done() {
            return Ok(());
        }
        let row = self.row();
        self.time_ms = self.time.get(row)?;
        for (source, cell) in self.dims.iter().zip(self.key.iter_mut()) {
            match (source, cell) {
                (DimSource::String(column, remap), KeyCell::Ids(ids)) => {
                    if let Some(id) = column.single_id(row)? {
                        ids.clear();
                        ids.push(remap[id as usize]);
                        continue;
                    }
                    column.row_ids(row, &mut self.scratch)?;
                    ids.clear();
                    ids.extend(self.scratch.iter().map(|id| remap[*id as usize]));
                }
                (DimSource::Long(column), KeyCell::Long(value)) => *value = column.get(row)?,
                (DimSource::Float(column), KeyCell::Float(value)) => *value = column.get(row)?,
                (DimSource::Double(column), KeyCell::Double(value)) => *value = column.get(row)?,
                _ => {}
            }
        }
        Ok(())
    }
}
