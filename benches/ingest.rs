//! JSON bytes → rows in the in-memory index, one thread: 1,000,000 events of
//! `../shared/bench/gen_events.py`, minute rollup over the 9 string dimensions, count + longSum
//! of added/deleted/delta + hyperUnique of user.
//!
//! Also the persist of the resulting index (1M rolled-up rows) into a segment directory.
//!
//! Run: `cargo bench --bench ingest` (the event file is generated once under `target/bench-data`).

#[path = "support/ingest_fixture.rs"]
mod ingest_fixture;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ingest_fixture::{ingest, load_batches, rows_and_bytes, spec};
use rtnode::index::persist::{PersistMetadata, write_index};
use rtnode::segment::writer::{SegmentOutput, WriteOptions};

const EVENTS: usize = 1_000_000;

fn bench_ingest(c: &mut Criterion) {
    let mut batches = load_batches(EVENTS);
    let chief = ingest(&mut batches);
    let (rows, bytes) = rows_and_bytes(&chief);
    eprintln!(
        "rolled-up rows: {rows}, index bytes: {bytes}, bytes per row: {}",
        bytes / rows.max(1)
    );
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS as u64));
    // JSON bytes → rows in the index; freeing the index afterwards (~10 ms) is not part of it.
    // One index at a time (`PerIteration`): `iter_with_large_drop` would keep every output of a
    // sample alive, up to ten 125 MB indexes, and measure fresh-memory page faults instead.
    group.bench_function("json_to_index_1m_events", |b| {
        b.iter_batched(|| (), |()| ingest(&mut batches), BatchSize::PerIteration)
    });
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
