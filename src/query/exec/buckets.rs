//! Time buckets of a query granularity over one segment: contiguous row ranges, found by one
//! pass over the sorted `__time` column (nothing is decoded for `all`).

use std::ops::Range;

use super::view::SegmentView;
use crate::index::granularity::Granularity;
use crate::query::error::QueryResult;
use crate::time::Interval;

/// Merge key of every row under granularity `all`.
pub const ALL_KEY: i64 = i64::MIN;

/// The rows of one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// What results of the bucket merge on (the bucket start, or [`ALL_KEY`]).
    pub key_ms: i64,
    /// The result timestamp (the bucket start; for `all`, the first instant read).
    pub timestamp_ms: i64,
    /// The rows.
    pub rows: Range<u32>,
}

/// Returns the buckets of `granularity` holding the rows of `intervals` (sorted, disjoint).
/// Intervals that miss the segment's data give no bucket; with `all` an interval that overlaps
/// the data gives one bucket even when no row falls in it.
pub fn buckets(
    view: &SegmentView<'_>,
    intervals: &[Interval],
    granularity: &Granularity,
) -> QueryResult<Vec<Bucket>> {
    let Some((min_ms, max_ms)) = view.time_range()? else {
        return Ok(Vec::new());
    };
    let data = Interval::new(min_ms, max_ms.saturating_add(1));
    let mut out = Vec::new();
    for interval in intervals {
        if !interval.overlaps(&data) {
            continue;
        }
        let rows = view.rows_in(interval)?;
        if *granularity == Granularity::All {
            out.push(Bucket {
                key_ms: ALL_KEY,
                timestamp_ms: interval.start_ms.max(min_ms),
                rows,
            });
            continue;
        }
        let span_ms = (max_ms.min(interval.end_ms) - min_ms.max(interval.start_ms)).max(1);
        let estimated_buckets = (span_ms / granularity.approx_millis().max(1)).max(1) as u64;
        if estimated_buckets * 32 < u64::from(rows.len() as u32) / 8192 {
            searched(view, rows, granularity, &mut out)?;
        } else {
            granular(view, rows, granularity, &mut out)?;
        }
    }
    Ok(out)
}

/// Finds bucket ends by binary search on `__time`: cheaper than a scan when buckets are few
/// and long (each search decodes a handful of blocks).
fn searched(
    view: &SegmentView<'_>,
    rows: Range<u32>,
    granularity: &Granularity,
    out: &mut Vec<Bucket>,
) -> QueryResult<()> {
    let mut row = rows.start;
    while row < rows.end {
        let start_ms = granularity.truncate(view.time_at(row)?);
        let end_ms = granularity.increment(start_ms).max(start_ms + 1);
        let end = view.lower_bound(end_ms, row..rows.end)?.max(row + 1);
        out.push(Bucket {
            key_ms: start_ms,
            timestamp_ms: start_ms,
            rows: row..end,
        });
        row = end;
    }
    Ok(())
}

fn granular(
    view: &SegmentView<'_>,
    rows: Range<u32>,
    granularity: &Granularity,
    out: &mut Vec<Bucket>,
) -> QueryResult<()> {
    let mut end_ms = i64::MIN;
    let first = out.len();
    view.time().for_each_block_in(rows, |block, times| {
        let mut i = 0;
        while i < times.len() {
            if times[i] >= end_ms || out.len() == first {
                let start_ms = granularity.truncate(times[i]);
                end_ms = granularity.increment(start_ms).max(start_ms + 1);
                let row = block.start + i as u32;
                out.push(Bucket {
                    key_ms: start_ms,
                    timestamp_ms: start_ms,
                    rows: row..row,
                });
            }
            let j = i + times[i..].partition_point(|t| *t < end_ms);
            if let Some(last) = out.last_mut() {
                last.rows.end = block.start + j as u32;
            }
            i = j;
        }
    })?;
    Ok(())
}

/// Returns the starts of every bucket of `granularity` from the one holding `from_ms` up to
/// `to_ms` (exclusive), or `None` when there would be more than `max`.
pub fn bucket_starts(
    granularity: &Granularity,
    from_ms: i64,
    to_ms: i64,
    max: usize,
) -> Option<Vec<i64>> {
    if *granularity == Granularity::All {
        return Some(vec![ALL_KEY]);
    }
    let mut starts = Vec::new();
    let mut start = granularity.truncate(from_ms);
    while start < to_ms {
        if starts.len() >= max {
            return None;
        }
        starts.push(start);
        let next = granularity.increment(start);
        if next <= start {
            break;
        }
        start = next;
    }
    Some(starts)
}

/// Returns the rows of `bits` (or every row when `None`) inside `range`, into `out`.
pub fn selected_rows(bits: Option<&roaring::RoaringBitmap>, range: Range<u32>, out: &mut Vec<u32>) {
    out.clear();
    match bits {
        None => out.extend(range),
        Some(bits) => {
            // `next_many` copies whole runs of a container at once: several times faster than
            // one `next()` per row, which dominated sparse (1 %) selections.
            let mut iter = bits.range(range.clone());
            let mut filled = 0;
            loop {
                if out.len() == filled {
                    let grow = (range.len() - filled).clamp(1, 4096);
                    out.resize(filled + grow, 0);
                }
                let got = iter.next_many(&mut out[filled..]).len();
                if got == 0 {
                    break;
                }
                filled += got;
            }
            out.truncate(filled);
        }
    }
}

/// Splits `range` into chunks aligned to [`super::view::CHUNK_ROWS`].
pub fn chunks(range: Range<u32>) -> impl Iterator<Item = Range<u32>> {
    let size = super::view::CHUNK_ROWS;
    let mut start = range.start;
    std::iter::from_fn(move || {
        if start >= range.end {
            return None;
        }
        let end = ((start / size + 1) * size).min(range.end);
        let chunk = start..end;
        start = end;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::exec::cancel::Cancel;
    use crate::segment::{
        MetricCell, MetricKind, MetricSchema, RowRef, Segment, SegmentOutput, SegmentSchema,
        SegmentWriter, WriteOptions,
    };

    fn segment(times: &[i64]) -> Segment {
        let schema = SegmentSchema {
            interval: Interval::new(0, 10 * crate::time::DAY_MS),
            dimensions: Vec::new(),
            metrics: vec![MetricSchema {
                name: "m".into(),
                kind: MetricKind::Long,
            }],
            metadata: None,
        };
        let output = SegmentOutput::Memory;
        let mut writer = SegmentWriter::new(schema, Vec::new(), output, WriteOptions::default())
            .expect("writer");
        for t in times {
            let metrics = [MetricCell::Long(1)];
            let row = RowRef {
                time_ms: *t,
                dims: &[],
                metrics: &metrics,
            };
            writer.add_row(row).expect("row");
        }
        Segment::from_written(writer.finish().expect("finish")).expect("open")
    }

    #[test]
    fn searched_and_scanned_buckets_agree() {
        let times: Vec<i64> = (0..60_000i64).map(|i| i * 7_001 + (i % 13) * 17).collect();
        let segment = segment(&times);
        let cancel = Cancel::never();
        let view = SegmentView::new(&segment, &cancel);
        let all = 0..view.num_rows();
        for name in ["minute", "hour", "six_hour", "day"] {
            let granularity = Granularity::named(name).expect("granularity");
            let (mut scanned, mut searched_out) = (Vec::new(), Vec::new());
            granular(&view, all.clone(), &granularity, &mut scanned).expect("scan");
            searched(&view, all.clone(), &granularity, &mut searched_out).expect("search");
            assert_eq!(scanned, searched_out, "{name}");
            let covered: u32 = scanned.iter().map(|b| b.rows.len() as u32).sum();
            assert_eq!(covered, view.num_rows());
            for bucket in &scanned {
                let first = times[bucket.rows.start as usize];
                assert_eq!(granularity.truncate(first), bucket.key_ms);
                let last = times[bucket.rows.end as usize - 1];
                assert_eq!(granularity.truncate(last), bucket.key_ms);
            }
        }
    }

    #[test]
    fn selected_rows_are_the_bitmap_inside_the_range() {
        // Sparse, dense (a bitmap container) and run-like parts across container boundaries.
        let mut bits = roaring::RoaringBitmap::new();
        bits.extend((0..200_000u32).filter(|r| r % 97 == 3));
        bits.extend(70_000..80_000u32);
        bits.extend((140_000..200_000u32).filter(|r| r % 2 == 0));
        let mut out = vec![7; 3];
        for range in [
            0..1,
            0..65_536,
            65_536..131_072,
            69_999..80_001,
            131_000..200_000,
            5..5,
        ] {
            selected_rows(Some(&bits), range.clone(), &mut out);
            let expected: Vec<u32> = bits.iter().filter(|r| range.contains(r)).collect();
            assert_eq!(out, expected, "{range:?}");
        }
        selected_rows(None, 10..20, &mut out);
        assert_eq!(out, (10..20).collect::<Vec<u32>>());
    }
}
