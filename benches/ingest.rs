//! JSON bytes → rows in the in-memory index, one thread: 1,000,000 events of
//! `../shared/bench/gen_events.py`, minute rollup over the 9 string dimensions, count + longSum
//! of added/deleted/delta + hyperUnique of user.
//!
//! Also the persist of the resulting index (1M rolled-up rows) into a segment directory.
//!
//! Run: `cargo bench --bench ingest` (the event file is generated once under `target/bench-data`).

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rtnode::firehose::EventBatch;
use rtnode::index::persist::{PersistMetadata, write_index};
use rtnode::parse::InputRowParser;
use rtnode::plumber::clock::ManualClock;
use rtnode::plumber::ingest::Ingestor;
use rtnode::plumber::parse_errors::ParseErrorLog;
use rtnode::plumber::{Plumber, PlumberSettings};
use rtnode::segment::writer::{SegmentOutput, WriteOptions};

const EVENTS: usize = 1_000_000;

/// Generates (once) and loads the benchmark events as firehose-sized batches.
pub fn load_batches(events: usize) -> Vec<EventBatch> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("events-{events}.json"));
    if !path.exists() {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/gen_events.py");
        let status = std::process::Command::new("python3")
            .arg(script)
            .arg(events.to_string())
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "gen_events.py failed");
    }
    let data = std::fs::read(&path).unwrap();
    let mut batches = Vec::new();
    let mut batch = EventBatch::default();
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let start = batch.data.len() as u32;
        batch.data.extend_from_slice(line);
        batch.spans.push((start, batch.data.len() as u32));
        if batch.data.len() >= rtnode::firehose::MAX_BATCH_BYTES {
            batches.push(std::mem::take(&mut batch));
        }
    }
    batches.push(batch);
    batches
}

fn spec() -> rtnode::config::FireDepartment {
    let text = r#"[{"dataSchema":{"dataSource":"bench","parser":{"type":"string","parseSpec":{"format":"json",
        "timestampSpec":{"column":"timestamp","format":"auto"},
        "dimensionsSpec":{"dimensions":["page","user","language","country","city","namespace","channel","isRobot","isAnonymous"]}}},
      "metricsSpec":[{"type":"count","name":"count"},{"type":"longSum","name":"added","fieldName":"added"},
        {"type":"longSum","name":"deleted","fieldName":"deleted"},{"type":"longSum","name":"delta","fieldName":"delta"},
        {"type":"hyperUnique","name":"user_unique","fieldName":"user"}],
      "granularitySpec":{"segmentGranularity":"DAY","queryGranularity":"MINUTE"}},
      "ioConfig":{"type":"realtime","firehose":{"type":"local","baseDir":"-","filter":"*"}},
      "tuningConfig":{"type":"realtime","maxRowsInMemory":100000000,"rejectionPolicy":{"type":"none"}}}]"#;
    rtnode::config::load_spec_str(text).unwrap().remove(0)
}

/// Ingests every batch into a fresh index; returns the chief.
pub fn ingest(batches: &[EventBatch]) -> Ingestor {
    let department = spec();
    let parser = InputRowParser::new(&department).unwrap();
    let settings = PlumberSettings::from_spec(&department, parser.schema(), 0);
    let plumber = Plumber::new(settings, &department, Arc::new(ManualClock::new(0)));
    let metrics = rtnode::metrics::NodeMetrics::new().for_data_source("bench");
    let mut chief = Ingestor::new(
        parser,
        plumber,
        metrics,
        Arc::new(ParseErrorLog::new(10)),
        false,
        u64::MAX,
    );
    for batch in batches {
        chief.ingest_batch(batch).unwrap();
    }
    chief
}

fn bench_ingest(c: &mut Criterion) {
    let batches = load_batches(EVENTS);
    let chief = ingest(&batches);
    let rows = chief.plumber().rows_in_memory();
    let bytes: usize = chief
        .plumber()
        .sinks()
        .values()
        .map(|s| s.current.estimated_bytes())
        .sum();
    eprintln!(
        "rolled-up rows: {rows}, index bytes: {bytes}, bytes per row: {}",
        bytes / rows.max(1)
    );
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("json_to_index_1m_events", |b| b.iter(|| ingest(&batches)));
    group.finish();

    // Persist: the rolled-up index of those events → a v9 segment directory (sort, dictionaries,
    // LZ4 columns, roaring bitmaps, fsync), what every hydrant persist does.
    let sink = chief.plumber().sinks().values().next().expect("one sink");
    let metadata = PersistMetadata::from_spec(&spec());
    let tmp = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("persist");
    group.sample_size(10);
    group.throughput(Throughput::Elements(rows as u64));
    let mut n = 0;
    // Druid's default indexSpec, then rtnode's hydrant default (what the plumber persists with).
    for (suffix, options) in [
        ("", WriteOptions::DRUID_DEFAULT),
        ("_hydrant_spec", WriteOptions::HYDRANT_DEFAULT),
    ] {
        group.bench_function(format!("index_to_segment_dir{suffix}"), |b| {
            b.iter(|| {
                n += 1;
                let dir = tmp.path().join(n.to_string());
                let written = write_index(
                    &sink.current,
                    sink.interval,
                    Some(&metadata),
                    SegmentOutput::Directory(dir.clone()),
                    options,
                )
                .unwrap();
                if n % 10 == 1 {
                    eprintln!("persist{suffix}: {} bytes", written.size_bytes);
                }
                std::fs::remove_dir_all(dir).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
