//! HyperLogLogCollector speed: adding values (one big collector, one collector per row), hashing,
//! folding, serializing, reading and estimating.
//!
//! Run: `CARGO_TARGET_DIR=/work/target cargo bench --bench hll`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rtnode::hll::{HyperLogLogCollector, murmur3_128_guava};

const NUM_VALUES: usize = 1_000_000;

fn distinct_values(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("user-{i}")).collect()
}

fn collector_of(values: &[String]) -> HyperLogLogCollector {
    let mut collector = HyperLogLogCollector::new();
    values
        .iter()
        .for_each(|value| collector.add_value(value.as_bytes()));
    collector
}

fn bench_add(c: &mut Criterion) {
    let values = distinct_values(NUM_VALUES);
    let hashes: Vec<[u8; 16]> = values
        .iter()
        .map(|value| murmur3_128_guava(value.as_bytes()))
        .collect();
    let mut group = c.benchmark_group("hll_add");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(NUM_VALUES as u64));
    group.bench_function("murmur3_128_guava_1m", |b| {
        b.iter(|| {
            values
                .iter()
                .map(|value| murmur3_128_guava(value.as_bytes())[15])
                .fold(0u8, u8::wrapping_add)
        })
    });
    group.bench_function("add_value_1m_into_one_collector", |b| {
        b.iter(|| collector_of(black_box(&values)))
    });
    group.bench_function("add_hash_1m_into_one_collector", |b| {
        b.iter(|| {
            let mut collector = HyperLogLogCollector::new();
            hashes.iter().for_each(|hash| collector.add_hash(hash));
            collector
        })
    });
    group.bench_function("add_value_1m_into_1m_single_value_collectors", |b| {
        b.iter_batched_ref(
            || vec![HyperLogLogCollector::new(); NUM_VALUES],
            |rows| {
                rows.iter_mut()
                    .zip(&values)
                    .for_each(|(row, value)| row.add_value(value.as_bytes()))
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("add_value_1m_into_100k_ten_value_collectors", |b| {
        b.iter_batched_ref(
            || vec![HyperLogLogCollector::new(); NUM_VALUES / 10],
            |rows| {
                let num_rows = rows.len();
                values
                    .iter()
                    .enumerate()
                    .for_each(|(i, value)| rows[i % num_rows].add_value(value.as_bytes()))
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn bench_fold(c: &mut Criterion) {
    let values = distinct_values(200_000);
    let dense_a = collector_of(&values[..100_000]);
    let dense_b = collector_of(&values[100_000..]);
    let single_value_rows: Vec<HyperLogLogCollector> =
        values[..10_000].chunks(1).map(collector_of).collect();
    let sparse_a = collector_of(&values[..300]);
    let sparse_b = collector_of(&values[300..600]);
    let mut group = c.benchmark_group("hll_fold");
    group.bench_function("dense_into_dense", |b| {
        b.iter_batched_ref(
            || dense_a.clone(),
            |target| target.fold(black_box(&dense_b)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("sparse_300_into_sparse_300", |b| {
        b.iter_batched_ref(
            || sparse_a.clone(),
            |target| target.fold(black_box(&sparse_b)),
            BatchSize::SmallInput,
        )
    });
    group.throughput(Throughput::Elements(single_value_rows.len() as u64));
    group.bench_function("10k_single_value_rows_into_one", |b| {
        b.iter(|| {
            let mut total = HyperLogLogCollector::new();
            single_value_rows.iter().for_each(|row| total.fold(row));
            total
        })
    });
    group.finish();
}

fn bench_serde(c: &mut Criterion) {
    let values = distinct_values(100_000);
    let single = collector_of(&values[..1]);
    let dense = collector_of(&values);
    let (single_bytes, dense_bytes) = (single.to_bytes(), dense.to_bytes());
    let mut group = c.benchmark_group("hll_serde");
    let mut out = Vec::with_capacity(2048);
    group.bench_function("write_bytes_single_value", |b| {
        b.iter(|| {
            out.clear();
            black_box(&single).write_bytes(&mut out);
            out.len()
        })
    });
    group.bench_function("write_bytes_dense", |b| {
        b.iter(|| {
            out.clear();
            black_box(&dense).write_bytes(&mut out);
            out.len()
        })
    });
    group.bench_function("to_bytes_single_value", |b| {
        b.iter(|| black_box(&single).to_bytes())
    });
    group.bench_function("to_bytes_dense", |b| {
        b.iter(|| black_box(&dense).to_bytes())
    });
    group.bench_function("from_bytes_single_value", |b| {
        b.iter(|| HyperLogLogCollector::from_bytes(black_box(&single_bytes)))
    });
    group.bench_function("from_bytes_dense", |b| {
        b.iter(|| HyperLogLogCollector::from_bytes(black_box(&dense_bytes)))
    });
    group.bench_function("estimate_single_value", |b| {
        b.iter(|| black_box(&single).estimate())
    });
    group.bench_function("estimate_dense", |b| {
        b.iter(|| black_box(&dense).estimate())
    });
    group.finish();
}

/// Prints the memory per collector once (not a timing; criterion ignores it).
fn report_memory(_: &mut Criterion) {
    let values = distinct_values(1000);
    for num_values in [1, 3, 5, 6, 50, 512, 513, 1000] {
        let collector = collector_of(&values[..num_values]);
        let total_bytes = std::mem::size_of::<HyperLogLogCollector>() + collector.heap_bytes();
        eprintln!("hll memory: {num_values} values -> {total_bytes} bytes (struct + heap)");
    }
}

criterion_group!(benches, report_memory, bench_add, bench_fold, bench_serde);
criterion_main!(benches);
