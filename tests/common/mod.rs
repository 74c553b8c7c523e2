//! Test rows for the segment tests: a schema with every column kind, a deterministic generator,
//! and writing/reading helpers that go through the public writer and reader only.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use rtnode::segment::compression::Compression;
use rtnode::segment::string_column::java_opt_cmp;
use rtnode::segment::writer::LongEncoding;
use rtnode::segment::{
    Column, Dictionary, DimCell, DimensionKind, DimensionSchema, MetricCell, MetricKind,
    MetricSchema, RowRef, Segment, SegmentOutput, SegmentSchema, SegmentWriter, WriteOptions,
    WrittenSegment,
};
use rtnode::time::Interval;

/// One row of the test schema.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRow {
    pub time_ms: i64,
    pub page: Option<String>,
    pub tags: Vec<Option<String>>,
    pub empty: Option<String>,
    pub n: i64,
    pub ratio: f64,
    pub count: i64,
    pub sum_f: f32,
    pub sum_d: f64,
    pub blob: Vec<u8>,
}

pub const WORDS: [&str; 9] = [
    "a",
    "b",
    "héllo",
    "日本",
    "\u{1F600}",
    "\u{FF21}",
    "Zebra",
    "zebra",
    "a b,c",
];

pub fn schema() -> SegmentSchema {
    let dim = |name: &str, kind, multi| DimensionSchema {
        name: name.into(),
        kind,
        has_multiple_values: multi,
        bitmap_index: true,
    };
    let metric = |name: &str, kind| MetricSchema {
        name: name.into(),
        kind,
    };
    SegmentSchema {
        interval: Interval::new(1_000_000, 1_000_000_000_000),
        dimensions: vec![
            dim("page", DimensionKind::String, false),
            dim("tags", DimensionKind::String, true),
            dim("empty", DimensionKind::String, false),
            dim("n", DimensionKind::Long, false),
            dim("ratio", DimensionKind::Double, false),
        ],
        metrics: vec![
            metric("count", MetricKind::Long),
            metric("sum_f", MetricKind::Float),
            metric("sum_d", MetricKind::Double),
            metric(
                "blob",
                MetricKind::Complex {
                    type_name: "hyperUnique".into(),
                },
            ),
        ],
        metadata: None,
    }
}

/// A small deterministic generator (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Generates `count` rows in Druid row order (time ascending; ties are fine for the writer).
pub fn generate(count: usize, distinct_pages: u64, seed: u64) -> Vec<TestRow> {
    let mut rng = Rng(seed | 1);
    let mut time_ms = 1_500_000_000_000;
    (0..count)
        .map(|_| {
            time_ms += rng.below(3) as i64;
            let page = match rng.below(10) {
                0 => None,
                1 => Some(WORDS[rng.below(WORDS.len() as u64) as usize].to_string()),
                _ => Some(format!("page-{}", rng.below(distinct_pages))),
            };
            let tags = (0..rng.below(4))
                .map(|_| {
                    if rng.below(7) == 0 {
                        None
                    } else {
                        Some(WORDS[rng.below(WORDS.len() as u64) as usize].to_string())
                    }
                })
                .collect();
            let blob = if rng.below(5) == 0 {
                Vec::new()
            } else {
                (0..rng.below(12) + 1).map(|_| rng.next() as u8).collect()
            };
            TestRow {
                time_ms,
                page,
                tags,
                empty: None,
                n: rng.next() as i64 >> rng.below(60),
                ratio: rng.below(1000) as f64 / 7.0,
                count: rng.below(5) as i64 + 1,
                sum_f: rng.below(100_000) as f32 / 3.0,
                sum_d: (rng.next() >> 11) as f64 / 1e6,
                blob,
            }
        })
        .collect()
}

fn sorted_dictionary<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Vec<Option<String>> {
    let set: BTreeSet<Option<&str>> = values.collect();
    let mut list: Vec<Option<&str>> = set.into_iter().collect();
    list.sort_by(|a, b| java_opt_cmp(*a, *b));
    list.into_iter().map(|v| v.map(str::to_string)).collect()
}

fn id_of(dictionary: &[Option<String>], value: Option<&str>) -> u32 {
    dictionary
        .binary_search_by(|e| java_opt_cmp(e.as_deref(), value))
        .unwrap() as u32
}

/// Writes rows through `SegmentWriter::add_row`.
pub fn write(rows: &[TestRow], output: SegmentOutput, options: WriteOptions) -> WrittenSegment {
    write_in_batches(rows, output, options, None)
}

/// Writes rows through `SegmentWriter::add_batch`, `batch_rows` rows per batch (`None`: one
/// `add_row` per row instead).
pub fn write_in_batches(
    rows: &[TestRow],
    output: SegmentOutput,
    options: WriteOptions,
    batch_rows: Option<usize>,
) -> WrittenSegment {
    write_with_schema(rows, output, options, batch_rows, schema())
}

/// Writes rows (which must have distinct keys) as a segment whose `metadata.drd` says it was
/// rolled up, as a persisted hydrant's does.
pub fn write_rolled_up(rows: &[TestRow], output: SegmentOutput) -> WrittenSegment {
    let metadata = rtnode::segment::Metadata {
        rollup: Some(true),
        ..Default::default()
    };
    let schema = SegmentSchema {
        metadata: Some(metadata),
        ..schema()
    };
    write_with_schema(rows, output, WriteOptions::default(), Some(4096), schema)
}

fn write_with_schema(
    rows: &[TestRow],
    output: SegmentOutput,
    options: WriteOptions,
    batch_rows: Option<usize>,
    schema: SegmentSchema,
) -> WrittenSegment {
    let page_dict = sorted_dictionary(rows.iter().map(|r| r.page.as_deref()));
    let mut tag_values: Vec<Option<&str>> = rows
        .iter()
        .flat_map(|r| r.tags.iter().map(|t| t.as_deref()))
        .collect();
    if rows.iter().any(|r| r.tags.is_empty()) {
        tag_values.push(None);
    }
    let tags_dict = sorted_dictionary(tag_values.into_iter());
    let dictionaries = vec![
        Some(Dictionary(page_dict.clone())),
        Some(Dictionary(tags_dict.clone())),
        Some(Dictionary(vec![None])),
        None,
        None,
    ];
    let mut writer = SegmentWriter::new(schema, dictionaries, output, options).unwrap();
    let mut batch = writer.new_batch();
    let mut tag_ids = Vec::new();
    for row in rows {
        tag_ids.clear();
        tag_ids.extend(row.tags.iter().map(|t| id_of(&tags_dict, t.as_deref())));
        let page_id = [id_of(&page_dict, row.page.as_deref())];
        let dims = [
            DimCell::Ids(&page_id),
            DimCell::Ids(&tag_ids),
            DimCell::Ids(&[0]),
            DimCell::Long(row.n),
            DimCell::Double(row.ratio),
        ];
        let metrics = [
            MetricCell::Long(row.count),
            MetricCell::Float(row.sum_f),
            MetricCell::Double(row.sum_d),
            MetricCell::Complex(&row.blob),
        ];
        let row = RowRef {
            time_ms: row.time_ms,
            dims: &dims,
            metrics: &metrics,
        };
        match batch_rows {
            None => writer.add_row(row).unwrap(),
            Some(limit) => {
                batch.push_row(row).unwrap();
                if batch.len() >= limit {
                    writer.add_batch(&batch).unwrap();
                    batch.clear();
                }
            }
        }
    }
    writer.add_batch(&batch).unwrap();
    writer.finish().unwrap()
}

fn column(segment: &Segment, name: &str) -> Column {
    segment
        .column(name)
        .unwrap()
        .unwrap_or_else(|| panic!("column `{name}` missing"))
}

/// Reads a string dimension's values per row; an omitted (all-null) column reads as null or `[]`.
fn string_values(segment: &Segment, name: &str) -> Vec<Vec<Option<String>>> {
    let Some(Column::String(column)) = segment.column(name).unwrap() else {
        return vec![Vec::new(); segment.num_rows() as usize];
    };
    let mut ids = Vec::new();
    (0..segment.num_rows())
        .map(|row| {
            column.row_ids(row, &mut ids).unwrap();
            ids.iter()
                .map(|id| column.dictionary().get(*id).unwrap().map(str::to_string))
                .collect()
        })
        .collect()
}

/// Checks every bitmap of string column `name` against its rows: stored, or built on first use
/// when the segment was written without bitmap indexes.
fn check_bitmaps(segment: &Segment, name: &str) {
    let Some(Column::String(column)) = segment.column(name).unwrap() else {
        return;
    };
    let cardinality = column.dictionary().len();
    let null_first = cardinality > 0 && column.dictionary().get(0).unwrap().is_none();
    let mut expected = vec![roaring::RoaringBitmap::new(); cardinality as usize];
    let mut ids = Vec::new();
    for row in 0..segment.num_rows() {
        column.row_ids(row, &mut ids).unwrap();
        ids.iter().for_each(|id| {
            expected[*id as usize].insert(row);
        });
        if ids.is_empty() && null_first {
            expected[0].insert(row);
        }
    }
    for (id, rows) in expected.iter().enumerate() {
        let stored = column.has_bitmap_index();
        assert_eq!(
            &column.bitmap(id as u32).unwrap(),
            rows,
            "{name} id {id}, stored {stored}"
        );
    }
}

/// Reads every row back through the public reader (and checks the string columns' bitmaps).
pub fn read(segment: &Segment) -> Vec<TestRow> {
    check_bitmaps(segment, "page");
    check_bitmaps(segment, "tags");
    let pages = string_values(segment, "page");
    let tags = string_values(segment, "tags");
    let (Column::Long(n), Column::Double(ratio)) = (column(segment, "n"), column(segment, "ratio"))
    else {
        panic!("numeric dims")
    };
    let (Column::Long(count), Column::Float(sum_f)) =
        (column(segment, "count"), column(segment, "sum_f"))
    else {
        panic!("metrics")
    };
    let (Column::Double(sum_d), Column::Complex(blob)) =
        (column(segment, "sum_d"), column(segment, "blob"))
    else {
        panic!("metrics")
    };
    assert!(
        segment.column("empty").unwrap().is_none(),
        "all-null dimension is omitted"
    );
    let time = segment.time_column();
    (0..segment.num_rows())
        .map(|row| {
            let page_value = pages[row as usize].first().cloned().flatten();
            let tag_values = tags[row as usize].clone();
            TestRow {
                time_ms: time.get(row).unwrap(),
                page: page_value,
                tags: tag_values,
                empty: None,
                n: n.get(row).unwrap(),
                ratio: ratio.get(row).unwrap(),
                count: count.get(row).unwrap(),
                sum_f: sum_f.get(row).unwrap(),
                sum_d: sum_d.get(row).unwrap(),
                blob: blob.get(row).unwrap().to_vec(),
            }
        })
        .collect()
}

pub fn temp_target(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// Every `indexSpec` rtnode writes: dimension compression x metric compression x long encoding
/// x bitmap indexes stored or not (24).
pub fn every_write_options() -> Vec<WriteOptions> {
    let mut all = Vec::new();
    for dimension_compression in [Compression::Lz4, Compression::Uncompressed] {
        for metric_compression in [
            Compression::Lz4,
            Compression::Uncompressed,
            Compression::None,
        ] {
            for long_encoding in [LongEncoding::Longs, LongEncoding::Auto] {
                for bitmap_index in [true, false] {
                    all.push(WriteOptions {
                        dimension_compression,
                        metric_compression,
                        long_encoding,
                        bitmap_index,
                    });
                }
            }
        }
    }
    all
}
