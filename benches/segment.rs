//! Segment benchmarks: streaming write of 1,000,000 rows, a 5-way rollup merge of 1,000,000 rows,
//! and a block scan of a memory-mapped long column.
//!
//! Run with `cargo bench --bench segment`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rtnode::segment::merge::{MergeSpec, MetricCombiner, merge_segments_with};
use rtnode::segment::{
    Column, Dictionary, DimCell, DimensionKind, DimensionSchema, MetricCell, MetricKind,
    MetricSchema, RowRef, Segment, SegmentOutput, SegmentSchema, SegmentWriter, WriteOptions,
    WrittenSegment,
};
use rtnode::time::Interval;

const ROWS: usize = 1_000_000;
const PAGES: u32 = 1000;
const COUNTRIES: u32 = 50;

struct BenchRow {
    time_ms: i64,
    page: u32,
    country: u32,
    count: i64,
    bytes: f64,
}

/// Rows in Druid order: time ascending, then page, then country (distinct keys).
fn rows(count: usize, stride: usize, offset: usize) -> Vec<BenchRow> {
    (0..count)
        .map(|i| {
            let global = i * stride + offset;
            let combo = (global % (PAGES * COUNTRIES) as usize) as u32;
            BenchRow {
                time_ms: 1_600_000_000_000 + (global / (PAGES * COUNTRIES) as usize) as i64 * 1000,
                page: combo / COUNTRIES,
                country: combo % COUNTRIES,
                count: 1 + (global % 7) as i64,
                bytes: (global % 1013) as f64 * 1.5,
            }
        })
        .collect()
}

fn schema() -> SegmentSchema {
    let dim = |name: &str| DimensionSchema {
        name: name.into(),
        kind: DimensionKind::String,
        has_multiple_values: false,
        bitmap_index: true,
    };
    SegmentSchema {
        interval: Interval::new(1_600_000_000_000, 1_600_003_600_000),
        dimensions: vec![dim("page"), dim("country")],
        metrics: vec![
            MetricSchema {
                name: "count".into(),
                kind: MetricKind::Long,
            },
            MetricSchema {
                name: "bytes".into(),
                kind: MetricKind::Double,
            },
        ],
        metadata: None,
    }
}

fn dictionaries() -> Vec<Option<Dictionary>> {
    // Zero-padded names keep numeric order equal to Java string order.
    let pages = (0..PAGES).map(|i| Some(format!("page-{i:05}"))).collect();
    let countries = (0..COUNTRIES).map(|i| Some(format!("c{i:03}"))).collect();
    vec![Some(Dictionary(pages)), Some(Dictionary(countries))]
}

/// The two column formats compared: Druid's default `indexSpec` (what merged segments use) and
/// rtnode's hydrant default (`indexSpecForIntermediatePersists`).
const SPECS: [(&str, WriteOptions); 2] = [
    ("", WriteOptions::DRUID_DEFAULT),
    ("_hydrant_spec", WriteOptions::HYDRANT_DEFAULT),
];

fn write(rows: &[BenchRow], output: SegmentOutput, options: WriteOptions) -> WrittenSegment {
    let mut writer = SegmentWriter::new(schema(), dictionaries(), output, options).unwrap();
    for row in rows {
        let (page, country) = ([row.page], [row.country]);
        let dims = [DimCell::Ids(&page), DimCell::Ids(&country)];
        let metrics = [MetricCell::Long(row.count), MetricCell::Double(row.bytes)];
        writer
            .add_row(RowRef {
                time_ms: row.time_ms,
                dims: &dims,
                metrics: &metrics,
            })
            .unwrap();
    }
    writer.finish().unwrap()
}

fn bench_write(c: &mut Criterion) {
    let data = rows(ROWS, 1, 0);
    let tmp = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("segment");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(ROWS as u64));
    let mut run = 0;
    for (suffix, options) in SPECS {
        let target = tmp.path().join(format!("size{suffix}"));
        let written = write(&data, SegmentOutput::Directory(target), options);
        eprintln!("segment{suffix}: {} bytes", written.size_bytes);
        group.bench_function(format!("write_1m_rows_to_directory{suffix}"), |b| {
            b.iter(|| {
                run += 1;
                let target = tmp.path().join(format!("w{run}"));
                black_box(write(
                    &data,
                    SegmentOutput::Directory(target.clone()),
                    options,
                ));
                std::fs::remove_dir_all(target).unwrap();
            })
        });
    }
    group.finish();
}

fn bench_merge(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let combiners = vec![
        ("count".to_string(), MetricCombiner::LongSum),
        ("bytes".to_string(), MetricCombiner::DoubleSum),
    ];
    let mut group = c.benchmark_group("segment");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(ROWS as u64));
    let mut run = 0;
    // Pieces in either format, merged into Druid's default format (the pushed segment).
    for (suffix, options) in SPECS {
        let inputs: Vec<Segment> = (0..5)
            .map(|piece| {
                let target = tmp.path().join(format!("piece{piece}{suffix}"));
                let output = SegmentOutput::Directory(target);
                Segment::from_written(write(&rows(ROWS / 5, 5, piece), output, options)).unwrap()
            })
            .collect();
        group.bench_function(format!("merge_5_pieces_1m_rows{suffix}"), |b| {
            b.iter(|| {
                run += 1;
                let target = tmp.path().join(format!("m{run}"));
                let spec = MergeSpec {
                    combiners: &combiners,
                    rollup: true,
                    dimension_hint: &[],
                    without_bitmap_index: &[],
                    options: WriteOptions::DRUID_DEFAULT,
                };
                let written =
                    merge_segments_with(&inputs, &spec, SegmentOutput::Directory(target.clone()))
                        .unwrap();
                assert_eq!(written.num_rows as usize, ROWS);
                std::fs::remove_dir_all(target).unwrap();
            })
        });
    }
    group.finish();
}

fn bench_scan(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("scan");
    let options = WriteOptions::DRUID_DEFAULT;
    write(
        &rows(ROWS, 1, 0),
        SegmentOutput::Directory(target.clone()),
        options,
    );
    let segment = Segment::open(&target).unwrap();
    let Some(Column::Long(count)) = segment.column("count").unwrap() else {
        panic!("long column")
    };
    let mut group = c.benchmark_group("segment");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("scan_mmapped_long_column_1m", |b| {
        b.iter(|| {
            let mut sum = 0i64;
            count
                .for_each_block(0, |_, values| {
                    sum = values.iter().fold(sum, |acc, v| acc.wrapping_add(*v))
                })
                .unwrap();
            black_box(sum)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_write, bench_merge, bench_scan);
criterion_main!(benches);
