//! Query benchmarks on 10,000,000 generated rows (the shape of `shared/bench/gen_events.py`:
//! Zipf-like pages, users, languages, …) in persisted, mmapped v9 segments: four hydrants of one
//! day-sink, 2.5 M rows each, written as the plumber persists hydrants — with the default
//! `indexSpecForIntermediatePersists` (uncompressed dimension ids, metric compression `none`,
//! `longs`). For comparison, `RTNODE_BENCH_INDEX_SPEC=druid` writes them with Druid's default
//! `indexSpec` (LZ4, `longs`) instead, and `auto` with bit-packed `auto` longs (the hydrant
//! default until 2026-12-04), and `bitmaps` the default with stored bitmap indexes (hydrants
//! have none since 2026-12-04: queries build them on first use). The segments are built once
//! and cached under the target directory
//! (`rtnode-bench/query-10m-v4-{spec}`). Queries run on the calling thread (one core).
//!
//! `cargo bench --bench query`

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rtnode::query::{QueryableSegment, StaticTarget, run_json};
use rtnode::segment::writer::LongEncoding;
use rtnode::segment::{
    Dictionary, DimCell, DimensionKind, DimensionSchema, MetricCell, MetricKind, MetricSchema,
    RowRef, Segment, SegmentOutput, SegmentSchema, SegmentWriter, WriteOptions,
};
use rtnode::time::{DAY_MS, Interval, parse_iso};
use serde_json::{Value, json};

const ROWS: usize = 10_000_000;
const HYDRANTS: usize = 4;
const DIMS: [&str; 9] = [
    "page",
    "user",
    "language",
    "country",
    "city",
    "namespace",
    "channel",
    "isRobot",
    "isAnonymous",
];
const LANGS: [&str; 20] = [
    "en", "de", "fr", "ja", "es", "ru", "it", "zh", "pt", "pl", "nl", "sv", "ar", "uk", "fa", "ca",
    "vi", "he", "ko", "cs",
];

/// splitmix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A Zipf-like distribution over `n` ranks (cumulative weights, binary search).
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        Zipf(
            (1..=n)
                .map(|r| {
                    acc += 1.0 / (r as f64).powf(s);
                    acc
                })
                .collect(),
        )
    }
    fn sample(&self, rng: &mut Rng) -> usize {
        let x = rng.unit() * self.0[self.0.len() - 1];
        self.0.partition_point(|c| *c < x).min(self.0.len() - 1)
    }
}

fn names(rng: &mut Rng, prefix: &str, n: usize) -> Vec<String> {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
    (0..n)
        .map(|i| {
            let len = 3 + rng.below(20);
            let body: String = (0..len)
                .map(|_| LETTERS[rng.below(LETTERS.len())] as char)
                .collect();
            format!("{prefix}{body}{i}")
        })
        .collect()
}

struct Vocab {
    values: Vec<Vec<String>>,
    zipfs: Vec<Zipf>,
}

fn vocab(rng: &mut Rng) -> Vocab {
    let langs: Vec<String> = LANGS.iter().map(|s| s.to_string()).collect();
    let values = vec![
        names(rng, "", 50_000),
        names(rng, "User", 20_000),
        langs.clone(),
        (0..100).map(|i| format!("Country{i:03}")).collect(),
        names(rng, "City", 1_000),
        [
            "Main",
            "Talk",
            "User",
            "User talk",
            "Wikipedia",
            "File",
            "Template",
            "Category",
            "Portal",
            "Draft",
        ]
        .map(String::from)
        .to_vec(),
        langs.iter().map(|l| format!("#{l}.wikipedia")).collect(),
        vec!["false".into(), "true".into()],
        vec!["false".into(), "true".into()],
    ];
    let zipfs = vec![
        Zipf::new(50_000, 1.1),
        Zipf::new(20_000, 1.1),
        Zipf::new(20, 1.2),
        Zipf::new(100, 1.0),
        Zipf::new(1_000, 1.0),
        Zipf::new(10, 1.5),
    ];
    Vocab { values, zipfs }
}

fn geometric(rng: &mut Rng, mean: f64, cap: i64) -> i64 {
    let u = rng.unit();
    (((1.0 - u).ln() / (1.0 - 1.0 / mean).ln()) as i64).min(cap)
}

/// The hydrants' column formats: the plumber's default, Druid's default `indexSpec`, or the
/// plumber's with `auto` or `longs` long encoding, or with stored bitmap indexes (`bitmaps`).
fn index_spec() -> (&'static str, WriteOptions) {
    let hydrant = |long_encoding| WriteOptions {
        long_encoding,
        ..WriteOptions::HYDRANT_DEFAULT
    };
    match std::env::var("RTNODE_BENCH_INDEX_SPEC").as_deref() {
        Ok("druid") => ("druid", WriteOptions::DRUID_DEFAULT),
        Ok("auto") => ("auto", hydrant(LongEncoding::Auto)),
        Ok("longs") => ("longs", hydrant(LongEncoding::Longs)),
        Ok("bitmaps") => (
            "bitmaps",
            WriteOptions {
                bitmap_index: true,
                ..WriteOptions::HYDRANT_DEFAULT
            },
        ),
        _ => ("hydrant", WriteOptions::HYDRANT_DEFAULT),
    }
}

fn write_hydrant(
    dir: &std::path::Path,
    index: usize,
    day: Interval,
    vocab: &Vocab,
    rng: &mut Rng,
) -> Segment {
    let rows = ROWS / HYDRANTS;
    let span = DAY_MS / HYDRANTS as i64;
    let start = day.start_ms + span * index as i64;
    let mut times: Vec<i64> = (0..rows)
        .map(|_| start + rng.below(span as usize) as i64)
        .collect();
    times.sort_unstable();
    let sorted: Vec<Vec<String>> = vocab
        .values
        .iter()
        .map(|v| {
            let mut s = v.clone();
            s.sort();
            s
        })
        .collect();
    let rank: Vec<Vec<u32>> = vocab
        .values
        .iter()
        .zip(&sorted)
        .map(|(v, s)| {
            v.iter()
                .map(|x| s.binary_search(x).unwrap() as u32)
                .collect()
        })
        .collect();
    let schema = SegmentSchema {
        interval: day,
        dimensions: DIMS
            .iter()
            .map(|n| DimensionSchema {
                name: n.to_string(),
                kind: DimensionKind::String,
                has_multiple_values: false,
                bitmap_index: true,
            })
            .collect(),
        metrics: ["count", "added", "deleted", "delta"]
            .iter()
            .map(|n| MetricSchema {
                name: n.to_string(),
                kind: MetricKind::Long,
            })
            .collect(),
        metadata: None,
    };
    let dictionaries = sorted
        .iter()
        .map(|s| Some(Dictionary(s.iter().cloned().map(Some).collect())))
        .collect();
    let target = dir.join(format!("hydrant-{index}"));
    let mut writer = SegmentWriter::new(
        schema,
        dictionaries,
        SegmentOutput::Directory(target),
        index_spec().1,
    )
    .unwrap();
    let mut ids = [[0u32; 1]; 9];
    for time_ms in times {
        for d in 0..6 {
            ids[d][0] = rank[d][vocab.zipfs[d].sample(rng)];
        }
        ids[6][0] = rank[6][vocab.values[2]
            .iter()
            .position(|l| *l == sorted[2][ids[2][0] as usize])
            .unwrap()];
        ids[7][0] = u32::from(rng.unit() < 0.2);
        ids[8][0] = u32::from(rng.unit() < 0.1);
        let added = geometric(rng, 300.0, 5000);
        let deleted = geometric(rng, 40.0, 500);
        let dims: Vec<DimCell<'_>> = ids.iter().map(|i| DimCell::Ids(i)).collect();
        let metrics = [
            MetricCell::Long(1),
            MetricCell::Long(added),
            MetricCell::Long(deleted),
            MetricCell::Long(added - deleted),
        ];
        writer
            .add_row(RowRef {
                time_ms,
                dims: &dims,
                metrics: &metrics,
            })
            .unwrap();
    }
    Segment::from_written(writer.finish().unwrap()).unwrap()
}

fn segments() -> StaticTarget {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let (spec_name, options) = index_spec();
    let dir = target_dir.join(format!("rtnode-bench/query-10m-v4-{spec_name}"));
    let day = Interval::new(
        parse_iso("2016-06-27T00:00:00Z").unwrap(),
        parse_iso("2016-06-28T00:00:00Z").unwrap(),
    );
    let done = dir.join("complete");
    let mut hydrants = Vec::new();
    if done.exists() {
        for i in 0..HYDRANTS {
            hydrants.push(Arc::new(
                Segment::open(&dir.join(format!("hydrant-{i}"))).unwrap(),
            ));
        }
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut rng = Rng(42);
        let vocab = vocab(&mut rng);
        for i in 0..HYDRANTS {
            hydrants.push(Arc::new(write_hydrant(&dir, i, day, &vocab, &mut rng)));
        }
        std::fs::write(&done, b"").unwrap();
    }
    let bytes: u64 = (0..HYDRANTS)
        .flat_map(|i| std::fs::read_dir(dir.join(format!("hydrant-{i}"))).unwrap())
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    eprintln!("hydrants: {options:?}, {bytes} bytes on disk");
    StaticTarget::new(vec![QueryableSegment::new("wiki", day, "v1", 0, hydrants)])
}

fn query(kind: &str, body: Value) -> Value {
    let mut q = body;
    q["queryType"] = json!(kind);
    q["dataSource"] = json!("wiki");
    q["intervals"] = json!("2016-06-27/p1d");
    q
}

fn benches(c: &mut Criterion) {
    let target = segments();
    let sum = json!([{"type": "longSum", "name": "added", "fieldName": "added"}]);
    let sum_count = json!([{"type": "count", "name": "rows"}, {"type": "longSum", "name": "added", "fieldName": "added"}]);
    let one_percent = json!({"type": "selector", "dimension": "language", "value": "cs"});
    let cases = [
        (
            "timeseries_all_longsum",
            query(
                "timeseries",
                json!({"granularity": "all", "aggregations": sum}),
            ),
        ),
        (
            "timeseries_all_longsum_filter_1pct",
            query(
                "timeseries",
                json!({"granularity": "all", "aggregations": sum, "filter": one_percent}),
            ),
        ),
        (
            "timeseries_hour_count_longsum",
            query(
                "timeseries",
                json!({"granularity": "hour", "aggregations": sum_count}),
            ),
        ),
        (
            "topn_page_50k",
            query(
                "topN",
                json!({"granularity": "all", "dimension": "page", "metric": "added", "threshold": 10, "aggregations": sum_count}),
            ),
        ),
        (
            "topn_page_50k_filter_1pct",
            query(
                "topN",
                json!({"granularity": "all", "dimension": "page", "metric": "added", "threshold": 10, "aggregations": sum_count, "filter": one_percent}),
            ),
        ),
        (
            "groupby_language_namespace",
            query(
                "groupBy",
                json!({"granularity": "all", "dimensions": ["language", "namespace"], "aggregations": sum_count}),
            ),
        ),
        (
            "groupby_language_namespace_filter_1pct",
            query(
                "groupBy",
                json!({"granularity": "all", "dimensions": ["language", "namespace"], "aggregations": sum_count, "filter": one_percent}),
            ),
        ),
    ];
    let mut group = c.benchmark_group("query_10m");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    for (name, q) in cases {
        let result = run_json(&target, &q).unwrap();
        assert!(
            result.as_array().is_some_and(|r| !r.is_empty()),
            "{name}: {result}"
        );
        group.bench_function(name, |b| b.iter(|| run_json(&target, &q).unwrap()));
    }
    group.finish();
}

criterion_group!(query_benches, benches);
criterion_main!(query_benches);
