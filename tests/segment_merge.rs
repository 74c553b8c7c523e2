//! Merge tests: any split of rows into pieces merges into the same segment as writing all rows at
//! once (with rollup), plus dictionary remapping, metadata merging and missing columns.

mod common;

use std::cmp::Ordering;

use common::{TestRow, WORDS, read, write, write_rolled_up};
use proptest::prelude::*;
use rtnode::segment::Column;
use rtnode::segment::merge::{
    MergeSpec, MetricCombiner, merge_segments, merge_segments_ordered, merge_segments_with,
};
use rtnode::segment::string_column::java_opt_cmp;
use rtnode::segment::{Segment, SegmentOutput, WriteOptions};

fn combiners() -> Vec<(String, MetricCombiner)> {
    vec![
        ("count".into(), MetricCombiner::LongSum),
        ("sum_f".into(), MetricCombiner::FloatSum),
        ("sum_d".into(), MetricCombiner::DoubleSum),
        ("blob".into(), MetricCombiner::HyperUnique),
    ]
}

/// Druid's row order over test rows (dictionary order of values, arrays by length first).
fn row_order(a: &TestRow, b: &TestRow) -> Ordering {
    let tags = |x: &TestRow, y: &TestRow| {
        x.tags.len().cmp(&y.tags.len()).then_with(|| {
            x.tags
                .iter()
                .zip(&y.tags)
                .map(|(p, q)| java_opt_cmp(p.as_deref(), q.as_deref()))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
    };
    a.time_ms
        .cmp(&b.time_ms)
        .then_with(|| java_opt_cmp(a.page.as_deref(), b.page.as_deref()))
        .then_with(|| tags(a, b))
        .then_with(|| a.n.cmp(&b.n))
        .then_with(|| a.ratio.total_cmp(&b.ratio))
}

fn rolled_up(sorted: &[TestRow]) -> Vec<TestRow> {
    let mut out: Vec<TestRow> = Vec::new();
    for row in sorted {
        match out.last_mut() {
            Some(last) if row_order(last, row).is_eq() => {
                last.count += row.count;
                last.sum_f += row.sum_f;
                last.sum_d += row.sum_d;
            }
            _ => out.push(row.clone()),
        }
    }
    out
}

fn row_strategy() -> impl Strategy<Value = TestRow> {
    let word = (0..5usize).prop_map(|i| {
        if i == 0 {
            None
        } else {
            Some(WORDS[i + 1].to_string())
        }
    });
    let tag = (2..5usize).prop_map(|i| Some(WORDS[i + 1].to_string()));
    (
        0..3i64,
        word,
        prop::collection::vec(tag, 0..3),
        0..2i64,
        0..2u8,
        1..4i64,
        0..8u8,
        0..8u8,
    )
        .prop_map(|(t, page, mut tags, n, ratio, count, f, d)| {
            tags.sort_by(|a, b| java_opt_cmp(a.as_deref(), b.as_deref()));
            TestRow {
                time_ms: 1_600_000_000_000 + t * 60_000,
                page,
                tags,
                empty: None,
                n,
                ratio: ratio as f64 / 4.0,
                count,
                sum_f: f as f32,
                sum_d: d as f64 * 0.25,
                blob: Vec::new(),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn merging_any_split_equals_writing_everything_at_once(
        mut rows in prop::collection::vec(row_strategy(), 1..120),
        pieces in 1..=8usize,
        assignment in prop::collection::vec(0..8usize, 120),
    ) {
        rows.sort_by(row_order);
        let mut split: Vec<Vec<TestRow>> = vec![Vec::new(); pieces];
        for (row, piece) in rows.iter().zip(&assignment) {
            split[piece % pieces].push(row.clone());
        }
        let inputs: Vec<Segment> = split
            .iter()
            .map(|piece| Segment::from_written(write(piece, SegmentOutput::Memory, WriteOptions::default())).unwrap())
            .collect();
        // Pieces omit dimensions without values; the hint is the ingest order, as the plumber's.
        let hint: Vec<String> = ["page", "tags", "empty", "n", "ratio"].map(String::from).to_vec();
        let merged = merge_segments_ordered(&inputs, &combiners(), true, &hint, SegmentOutput::Memory).unwrap();
        let merged = Segment::from_written(merged).unwrap();
        let expected = rolled_up(&rows);
        let at_once = Segment::from_written(write(&expected, SegmentOutput::Memory, WriteOptions::default())).unwrap();
        prop_assert_eq!(read(&merged), read(&at_once));
        prop_assert_eq!(read(&merged), expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Hydrant-shaped inputs: each rolled up, most rows in consecutive stretches of time (the
    /// merge copies those as runs), some scattered into other inputs so that inputs overlap.
    #[test]
    fn merging_rolled_up_hydrants_equals_writing_everything_at_once(
        minutes in prop::collection::vec(0..40i64, 1..400),
        mut rows in prop::collection::vec(row_strategy(), 400),
        cuts in prop::collection::vec(0..400usize, 0..6),
        strays in prop::collection::vec((0..400usize, 0..7usize), 0..20),
    ) {
        let rows = &mut rows[..minutes.len()];
        for (row, minute) in rows.iter_mut().zip(&minutes) {
            row.time_ms = 1_600_000_000_000 + minute * 60_000;
        }
        rows.sort_by(row_order);
        let mut piece_of: Vec<usize> = (0..rows.len())
            .map(|i| cuts.iter().filter(|c| **c <= i).count())
            .collect();
        for (i, piece) in &strays {
            if let Some(slot) = piece_of.get_mut(*i) {
                *slot = *piece;
            }
        }
        let mut split: Vec<Vec<TestRow>> = vec![Vec::new(); cuts.len().max(7) + 1];
        for (row, piece) in rows.iter().zip(&piece_of) {
            split[*piece].push(row.clone());
        }
        let inputs: Vec<Segment> = split
            .iter()
            .filter(|piece| !piece.is_empty())
            .map(|piece| Segment::from_written(write_rolled_up(&rolled_up(piece), SegmentOutput::Memory)).unwrap())
            .collect();
        let hint: Vec<String> = ["page", "tags", "empty", "n", "ratio"].map(String::from).to_vec();
        let merged = merge_segments_ordered(&inputs, &combiners(), true, &hint, SegmentOutput::Memory).unwrap();
        prop_assert_eq!(read(&Segment::from_written(merged).unwrap()), rolled_up(rows));
    }
}

#[test]
fn merge_without_rollup_keeps_every_row_and_complex_bytes() {
    let mut rows = common::generate(30_000, 50, 9);
    rows.sort_by(row_order);
    let split = |modulo: usize| -> Vec<TestRow> {
        rows.iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == modulo)
            .map(|(_, r)| r.clone())
            .collect()
    };
    let tmp = tempfile::tempdir().unwrap();
    let inputs: Vec<Segment> = (0..3)
        .map(|m| {
            Segment::from_written(write(
                &split(m),
                SegmentOutput::Directory(tmp.path().join(format!("p{m}"))),
                WriteOptions::default(),
            ))
            .unwrap()
        })
        .collect();
    let written = merge_segments(
        &inputs,
        &combiners(),
        false,
        SegmentOutput::Directory(tmp.path().join("merged")),
    )
    .unwrap();
    assert_eq!(written.num_rows, 30_000);
    let merged = Segment::from_written(written).unwrap();
    let merged_rows = read(&merged);
    // Equal keys keep input order, which may differ from the generated order: compare as sorted
    // multisets of rows per key.
    assert_eq!(merged_rows.len(), rows.len());
    for window in merged_rows.windows(2) {
        assert!(row_order(&window[0], &window[1]).is_le());
    }
    let key = |r: &TestRow| format!("{r:?}");
    let mut a: Vec<String> = merged_rows.iter().map(key).collect();
    let mut b: Vec<String> = rows.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

/// `createBitmapIndex: false`: the named string dimension is merged without bitmap indexes
/// (inputs are hydrants without any), the others with them; every bitmap, stored or built
/// from the ids, still selects exactly its rows (`read` checks them).
#[test]
fn merge_leaves_out_the_bitmaps_of_dimensions_the_spec_names() {
    let mut rows = common::generate(20_000, 50, 7);
    rows.sort_by(row_order);
    let inputs: Vec<Segment> = [0, 1]
        .map(|half| {
            let piece: Vec<TestRow> = rows.iter().skip(half).step_by(2).cloned().collect();
            let output = SegmentOutput::Memory;
            Segment::from_written(write(&piece, output, WriteOptions::HYDRANT_DEFAULT)).unwrap()
        })
        .to_vec();
    let combiners = combiners();
    let without = ["page".to_string(), "n".to_string()];
    let spec = MergeSpec {
        combiners: &combiners,
        rollup: true,
        dimension_hint: &[],
        without_bitmap_index: &without,
        options: WriteOptions::DRUID_DEFAULT,
    };
    let merged = merge_segments_with(&inputs, &spec, SegmentOutput::Memory).unwrap();
    let merged = Segment::from_written(merged).unwrap();
    let has_bitmaps = |name: &str| match merged.column(name).unwrap() {
        Some(Column::String(column)) => column.has_bitmap_index(),
        other => panic!("{name} is not a string column: {other:?}"),
    };
    assert!(!has_bitmaps("page"));
    assert!(has_bitmaps("tags"));
    assert!(matches!(merged.column("n").unwrap(), Some(Column::Long(_))));
    assert_eq!(read(&merged), rolled_up(&rows));
}

#[test]
fn merge_fills_missing_dimensions_with_null_and_merges_metadata() {
    use rtnode::segment::{
        Dictionary, DimCell, DimensionKind, DimensionSchema, MetricCell, MetricKind, MetricSchema,
        RowRef, SegmentSchema, SegmentWriter,
    };
    let make = |dims: &[&str], values: &[&str], container_key: &str| {
        let mut metadata = rtnode::segment::Metadata::default();
        metadata.container.insert(container_key.into(), "x".into());
        metadata.rollup = Some(true);
        let schema = SegmentSchema {
            interval: rtnode::time::Interval::new(0, 100),
            dimensions: dims
                .iter()
                .map(|d| DimensionSchema {
                    name: d.to_string(),
                    kind: DimensionKind::String,
                    has_multiple_values: false,
                    bitmap_index: true,
                })
                .collect(),
            metrics: vec![MetricSchema {
                name: "count".into(),
                kind: MetricKind::Long,
            }],
            metadata: Some(metadata),
        };
        let dictionaries = values
            .iter()
            .map(|v| Some(Dictionary(vec![Some(v.to_string())])))
            .collect();
        let mut writer = SegmentWriter::new(
            schema,
            dictionaries,
            SegmentOutput::Memory,
            WriteOptions::default(),
        )
        .unwrap();
        let dim_cells: Vec<DimCell> = values.iter().map(|_| DimCell::Ids(&[0])).collect();
        writer
            .add_row(RowRef {
                time_ms: 10,
                dims: &dim_cells,
                metrics: &[MetricCell::Long(2)],
            })
            .unwrap();
        Segment::from_written(writer.finish().unwrap()).unwrap()
    };
    let a = make(&["x"], &["ax"], "a");
    let b = make(&["x", "y"], &["bx", "by"], "b");
    let merged = merge_segments(
        &[a, b],
        &[("count".into(), MetricCombiner::LongSum)],
        true,
        SegmentOutput::Memory,
    )
    .unwrap();
    let merged = Segment::from_written(merged).unwrap();
    assert_eq!(merged.dimension_names(), ["x", "y"]);
    let mut out = Vec::new();
    rtnode::segment::dump::write_rows(&merged, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"__time\":10,\"x\":\"ax\",\"y\":null,\"count\":2}\n{\"__time\":10,\"x\":\"bx\",\"y\":\"by\",\"count\":2}\n"
    );
    let metadata = merged.metadata().unwrap();
    assert_eq!((metadata.container.len(), metadata.rollup), (2, Some(true)));
    assert!(
        merge_segments(
            &[make(&["x"], &["1"], "a")],
            &[],
            true,
            SegmentOutput::Memory
        )
        .is_err(),
        "missing combiner"
    );
}

/// Writes string-dimension rows `(time, values)` in the order of `dims`, sorted as a segment is.
fn string_segment(dims: &[&str], rows: &[(i64, [&str; 2])]) -> Segment {
    use rtnode::segment::{
        Dictionary, DimCell, DimensionKind, DimensionSchema, MetricCell, MetricKind, MetricSchema,
        RowRef, SegmentSchema, SegmentWriter,
    };
    let mut dictionaries: Vec<Vec<&str>> = vec![Vec::new(); dims.len()];
    for (_, values) in rows {
        for (d, value) in values.iter().enumerate() {
            dictionaries[d].push(value);
        }
    }
    for dictionary in &mut dictionaries {
        dictionary.sort();
        dictionary.dedup();
    }
    let mut keyed: Vec<(i64, [u32; 2])> = rows
        .iter()
        .map(|(t, v)| {
            let id = |d: usize| dictionaries[d].iter().position(|x| *x == v[d]).unwrap() as u32;
            (*t, [id(0), id(1)])
        })
        .collect();
    keyed.sort();
    let schema = SegmentSchema {
        interval: rtnode::time::Interval::new(0, 1000),
        dimensions: dims
            .iter()
            .map(|d| DimensionSchema {
                name: d.to_string(),
                kind: DimensionKind::String,
                has_multiple_values: false,
                bitmap_index: true,
            })
            .collect(),
        metrics: vec![MetricSchema {
            name: "count".into(),
            kind: MetricKind::Long,
        }],
        metadata: None,
    };
    let dictionaries = dictionaries
        .iter()
        .map(|d| Some(Dictionary(d.iter().map(|v| Some(v.to_string())).collect())))
        .collect();
    let mut writer = SegmentWriter::new(
        schema,
        dictionaries,
        SegmentOutput::Memory,
        WriteOptions::default(),
    )
    .unwrap();
    for (time_ms, [a, b]) in keyed {
        writer
            .add_row(RowRef {
                time_ms,
                dims: &[DimCell::Ids(&[a]), DimCell::Ids(&[b])],
                metrics: &[MetricCell::Long(1)],
            })
            .unwrap();
    }
    Segment::from_written(writer.finish().unwrap()).unwrap()
}

#[test]
fn inputs_with_conflicting_dimension_orders_are_re_sorted_not_refused() {
    // A schemaless spec restarted: the hydrant before the restart discovered `x` first, the one
    // after it `y` first. Druid's merger does not refuse this; neither do we.
    let xy = string_segment(
        &["x", "y"],
        &[
            (1, ["b", "p"]),
            (1, ["a", "q"]),
            (1, ["c", "p"]),
            (2, ["a", "p"]),
        ],
    );
    let yx = string_segment(
        &["y", "x"],
        &[(1, ["p", "b"]), (1, ["q", "d"]), (1, ["p", "a"])],
    );
    let combiner = [("count".to_string(), MetricCombiner::LongSum)];
    // The earlier input's order wins; the other input's rows are re-sorted into it.
    for (inputs, expected) in [
        (
            [yx.clone(), xy.clone()],
            // (time, y, x) order; (1, p, b) rolled up from both inputs.
            "1 x=a y=p 1|1 x=b y=p 2|1 x=c y=p 1|1 x=a y=q 1|1 x=d y=q 1|2 x=a y=p 1",
        ),
        (
            [xy.clone(), yx.clone()],
            "1 x=a y=p 1|1 x=a y=q 1|1 x=b y=p 2|1 x=c y=p 1|1 x=d y=q 1|2 x=a y=p 1",
        ),
    ] {
        let merged = merge_segments(&inputs, &combiner, true, SegmentOutput::Memory).unwrap();
        let merged = Segment::from_written(merged).unwrap();
        let mut out = Vec::new();
        rtnode::segment::dump::write_rows(&merged, &mut out).unwrap();
        let rows: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                format!(
                    "{} x={} y={} {}",
                    v["__time"],
                    v["x"].as_str().unwrap(),
                    v["y"].as_str().unwrap(),
                    v["count"]
                )
            })
            .collect();
        assert_eq!(rows.join("|"), expected);
    }
}
