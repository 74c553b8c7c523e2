//! The scan shared by `topN` and `groupBy`: per hydrant and time bucket, rows are assigned group
//! slots chunk by chunk ([`Grouper`]) and folded by every accumulator; each used slot is then
//! handed out with its dimension values, ready to merge with other hydrants and segments.

use std::borrow::Cow;
use std::collections::HashMap;

use hashbrown::hash_map::EntryRef;

use super::buckets::{buckets, chunks, selected_rows};
use super::dims::DimReader;
use super::grouper::Grouper;
use super::view::SegmentView;
use super::{Env, Unit};
use crate::query::agg::AggSpec;
use crate::query::agg::accum::bind_all;
use crate::query::agg::value::AggValue;
use crate::query::error::{QueryError, QueryResult};
use crate::query::filter::eval::evaluate;
use crate::query::spec::{DimensionSpec, Query};

/// Appends one dimension value to a group key: `0` for null, else `1`, the length (u32 LE) and
/// the UTF-8 bytes.
pub fn encode_value(out: &mut Vec<u8>, value: Option<&str>) {
    encode_bytes(out, value.map(str::as_bytes));
}

/// [`encode_value`] of bytes not yet checked for UTF-8 (decoding replaces malformed bytes).
pub fn encode_bytes(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
    }
}

/// Decodes a group key written by [`encode_value`].
pub fn decode_key(key: &[u8]) -> Vec<Option<String>> {
    decode_key_borrowed(key)
        .map(|value| value.map(Cow::into_owned))
        .collect()
}

/// Decodes a group key written by [`encode_value`] without copying valid UTF-8 values.
pub fn decode_key_borrowed(mut key: &[u8]) -> impl Iterator<Item = Option<Cow<'_, str>>> {
    std::iter::from_fn(move || {
        let (&tag, rest) = key.split_first()?;
        if tag == 0 {
            key = rest;
            return Some(None);
        }
        let mut len = [0u8; 4];
        len.copy_from_slice(&rest[..4]);
        let len = u32::from_le_bytes(len) as usize;
        let bytes = &rest[4..4 + len];
        key = &rest[4 + len..];
        Some(Some(match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        }))
    })
}

type GroupMap = hashbrown::HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>;

/// The groups of one time bucket: encoded key → group number; the aggregates of group `g` are
/// `values[g * width..(g + 1) * width]` (one allocation for all groups, not one per group).
#[derive(Default)]
pub struct GroupTable {
    /// The bucket's timestamp.
    pub timestamp_ms: i64,
    index: GroupMap,
    groups: u32,
    width: usize,
    values: Vec<AggValue>,
}

impl GroupTable {
    /// Folds the aggregates `add` into the group of `key`, creating it (with `add` as its
    /// values) when new; returns true when the group is new.
    fn fold(
        &mut self,
        key: &[u8],
        aggs: &[AggSpec],
        mut add: impl FnMut(usize) -> QueryResult<AggValue>,
    ) -> QueryResult<bool> {
        match self.index.entry_ref(key) {
            EntryRef::Occupied(existing) => {
                let start = *existing.get() as usize * self.width;
                let values = &mut self.values[start..start + self.width];
                for (i, (value, spec)) in values.iter_mut().zip(aggs).enumerate() {
                    value.combine(&add(i)?, &spec.kind);
                }
                Ok(false)
            }
            EntryRef::Vacant(vacant) => {
                for i in 0..self.width {
                    self.values.push(add(i)?);
                }
                vacant.insert_with_key(key.into(), self.groups);
                self.groups += 1;
                Ok(true)
            }
        }
    }

    /// The groups: (encoded key, aggregates), in no particular order.
    pub fn groups(&self) -> impl Iterator<Item = (&[u8], &[AggValue])> {
        self.index.iter().map(|(key, group)| {
            let start = *group as usize * self.width;
            (&key[..], &self.values[start..start + self.width])
        })
    }

    /// The number of groups.
    pub fn len(&self) -> usize {
        self.groups as usize
    }

    /// True when there is no group.
    pub fn is_empty(&self) -> bool {
        self.groups == 0
    }
}

/// Groups merged across hydrants and segments, by bucket and dimension values.
#[derive(Default)]
pub struct MergedGroups {
    buckets: HashMap<i64, GroupTable>,
    /// Number of groups held.
    pub count: usize,
}

/// The groups of one bucket: merge key, timestamp, and (dimension values, aggregates).
pub type BucketGroups = (i64, i64, Vec<(Vec<Option<String>>, Vec<AggValue>)>);

impl MergedGroups {
    /// Returns the groups of bucket `key_ms` (created with room for `hint` groups).
    fn bucket(
        &mut self,
        key_ms: i64,
        timestamp_ms: i64,
        hint: usize,
        width: usize,
    ) -> &mut GroupTable {
        let table = self.buckets.entry(key_ms).or_insert_with(|| GroupTable {
            timestamp_ms,
            width,
            ..GroupTable::default()
        });
        // Room for every group of this hydrant at once (one growth, not several).
        table.index.reserve(hint);
        table.values.reserve(hint * width);
        table.timestamp_ms = table.timestamp_ms.min(timestamp_ms);
        table
    }

    /// Returns the buckets in key order with decoded dimension values.
    pub fn into_buckets(self) -> Vec<BucketGroups> {
        self.into_tables()
            .into_iter()
            .map(|(key_ms, table)| {
                let groups = table
                    .groups()
                    .map(|(k, v)| (decode_key(k), v.to_vec()))
                    .collect();
                (key_ms, table.timestamp_ms, groups)
            })
            .collect()
    }

    /// Returns the buckets in key order as tables with encoded keys (decode them with
    /// [`decode_key_borrowed`]: no copy for callers that keep few groups).
    pub fn into_tables(self) -> Vec<(i64, GroupTable)> {
        let mut out: Vec<(i64, GroupTable)> = self.buckets.into_iter().collect();
        out.sort_by_key(|b| b.0);
        out
    }
}

/// Aggregates `aggs` grouped by `dims` over every hydrant of `units`; fails once more than
/// `max_groups` groups are held.
pub fn aggregate(
    query: &Query,
    dims: &[DimensionSpec],
    aggs: &[AggSpec],
    units: &[Unit],
    env: Env<'_>,
    max_groups: usize,
) -> QueryResult<MergedGroups> {
    let mut merged = MergedGroups::default();
    for unit in units {
        for hydrant in &unit.segment.hydrants {
            let mut view = SegmentView::for_query(hydrant, env);
            run_segment(query, dims, aggs, &unit.intervals, &mut view, &mut merged)?;
            if merged.count > max_groups {
                return Err(QueryError::ResourceLimit(format!(
                    "the query has more than {max_groups} result groups \
                     (`druid.query.groupBy.maxResults`); narrow the intervals or filter"
                )));
            }
        }
    }
    Ok(merged)
}

fn run_segment(
    query: &Query,
    dims: &[DimensionSpec],
    aggs: &[AggSpec],
    intervals: &[crate::time::Interval],
    view: &mut SegmentView<'_>,
    merged: &mut MergedGroups,
) -> QueryResult<()> {
    let buckets = buckets(view, intervals, &query.granularity)?;
    if buckets.is_empty() {
        return Ok(());
    }
    let bits = match &query.filter {
        Some(filter) => evaluate(filter, view)?,
        None => None,
    };
    let readers = dims
        .iter()
        .map(|d| DimReader::new(d, view))
        .collect::<QueryResult<Vec<_>>>()?;
    let mut grouper = Grouper::new(readers);
    let mut accs = bind_all(aggs, view)?;
    let (mut selected, mut rows, mut slots) = (Vec::new(), Vec::new(), Vec::new());
    let mut key = Vec::new();
    for bucket in &buckets {
        grouper.reset();
        accs.iter_mut().for_each(|a| a.reset(grouper.slot_count()));
        for chunk in chunks(bucket.rows.clone()) {
            view.cancel.check()?;
            selected_rows(bits.as_ref(), chunk.clone(), &mut selected);
            if selected.is_empty() {
                continue;
            }
            grouper.assign(chunk, &selected, &mut rows, &mut slots)?;
            let count = grouper.slot_count();
            for acc in accs.iter_mut() {
                acc.grow(count);
                acc.add_rows(&rows, &slots)?;
            }
        }
        let used = grouper.used_slots();
        let groups = merged.bucket(bucket.key_ms, bucket.timestamp_ms, used.len(), aggs.len());
        let mut added = 0;
        for slot in used {
            key.clear();
            grouper.write_key(slot, &mut key)?;
            if groups.fold(&key, aggs, |i| accs[i].value(slot))? {
                added += 1;
            }
        }
        merged.count += added;
    }
    Ok(())
}
