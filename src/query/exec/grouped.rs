//! The scan shared by `topN` and `groupBy`: per hydrant and time bucket, rows are assigned group
//! slots chunk by chunk ([`Grouper`]) and folded by every accumulator; each used slot is then
//! handed out with its dimension values, ready to merge with other hydrants and segments.

use std::collections::HashMap;

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
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v.as_bytes());
        }
    }
}

/// Decodes a group key written by [`encode_value`].
pub fn decode_key(mut key: &[u8]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    while let Some((&tag, rest)) = key.split_first() {
        if tag == 0 {
            out.push(None);
            key = rest;
            continue;
        }
        let mut len = [0u8; 4];
        len.copy_from_slice(&rest[..4]);
        let len = u32::from_le_bytes(len) as usize;
        out.push(Some(
            String::from_utf8_lossy(&rest[4..4 + len]).into_owned(),
        ));
        key = &rest[4 + len..];
    }
    out
}

type GroupMap = hashbrown::HashMap<Box<[u8]>, Vec<AggValue>, foldhash::fast::RandomState>;

/// Groups merged across hydrants and segments, by bucket and dimension values.
#[derive(Default)]
pub struct MergedGroups {
    buckets: HashMap<i64, (i64, GroupMap)>,
    /// Number of groups held.
    pub count: usize,
}

/// The groups of one bucket: merge key, timestamp, and (dimension values, aggregates).
pub type BucketGroups = (i64, i64, Vec<(Vec<Option<String>>, Vec<AggValue>)>);

impl MergedGroups {
    /// Returns the groups of bucket `key_ms` (created with room for `hint` groups).
    fn bucket(&mut self, key_ms: i64, timestamp_ms: i64, hint: usize) -> &mut GroupMap {
        let entry = self.buckets.entry(key_ms).or_insert_with(|| {
            let mut map = GroupMap::default();
            map.reserve(hint);
            (timestamp_ms, map)
        });
        entry.0 = entry.0.min(timestamp_ms);
        &mut entry.1
    }

    /// Returns the buckets in key order with decoded dimension values.
    pub fn into_buckets(self) -> Vec<BucketGroups> {
        let mut out: Vec<BucketGroups> = self
            .buckets
            .into_iter()
            .map(|(key_ms, (timestamp_ms, groups))| {
                let groups = groups
                    .into_iter()
                    .map(|(k, v)| (decode_key(&k), v))
                    .collect();
                (key_ms, timestamp_ms, groups)
            })
            .collect();
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
            let mut view = SegmentView::new(hydrant, env.cancel);
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
        let groups = merged.bucket(bucket.key_ms, bucket.timestamp_ms, used.len());
        let mut added = 0;
        for slot in used {
            key.clear();
            grouper.write_key(slot, &mut key)?;
            match groups.get_mut(key.as_slice()) {
                Some(existing) => {
                    for ((value, acc), spec) in existing.iter_mut().zip(&accs).zip(aggs) {
                        value.combine(&acc.value(slot)?, &spec.kind);
                    }
                }
                None => {
                    let values = accs
                        .iter()
                        .map(|a| a.value(slot))
                        .collect::<QueryResult<Vec<_>>>()?;
                    groups.insert(key.as_slice().into(), values);
                    added += 1;
                }
            }
        }
        merged.count += added;
    }
    Ok(())
}
