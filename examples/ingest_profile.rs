//! Runs the ingest benchmark's work once, for profilers: `cargo build --release --example
//! ingest_profile`, then e.g.
//! `valgrind --tool=callgrind --toggle-collect='*ingest_fixture*ingest*' target/release/examples/ingest_profile 1000000`
//! (instructions per event = collected instructions / events).
//!
//! Also prints the ingest's wall time and the CPU time its thread got (from
//! `/proc/thread-self/schedstat`), which other processes on the same core do not inflate, and
//! the time the index's drop takes (not part of the measurement, as in the criterion bench).

#[path = "../benches/support/ingest_fixture.rs"]
mod ingest_fixture;

use std::time::Instant;

/// Nanoseconds this thread has run on a CPU, when the kernel exposes it.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("events: a number"))
        .unwrap_or(1_000_000);
    let repeats: usize = std::env::args()
        .nth(2)
        .map(|n| n.parse().expect("repeats: a number"))
        .unwrap_or(1);
    let mut batches = ingest_fixture::load_batches(events);
    for _ in 0..repeats {
        let (cpu_before, wall) = (thread_cpu_ns(), Instant::now());
        let chief = ingest_fixture::ingest(&mut batches);
        // Timed like the criterion benchmark: the index's drop is not in the measurement.
        let wall_s = wall.elapsed().as_secs_f64();
        let cpu_s = thread_cpu_ns()
            .zip(cpu_before)
            .map(|(after, before)| (after - before) as f64 / 1e9);
        let (rows, bytes) = ingest_fixture::rows_and_bytes(&chief);
        let counts = chief.counts();
        let dropped = Instant::now();
        drop(chief);
        println!("index drop: {:.3} s", dropped.elapsed().as_secs_f64());
        println!(
            "events: {events}, processed: {}, unparseable: {}, rolled-up rows: {rows}, index bytes: {bytes}, bytes per row: {}",
            counts.processed,
            counts.unparseable,
            bytes / rows.max(1)
        );
        let per_s = |s: f64| events as f64 / s;
        match cpu_s {
            Some(cpu_s) => println!(
                "wall {wall_s:.3} s ({:.0} events/s), thread CPU {cpu_s:.3} s ({:.0} events/s)",
                per_s(wall_s),
                per_s(cpu_s)
            ),
            None => println!("wall {wall_s:.3} s ({:.0} events/s)", per_s(wall_s)),
        }
    }
}
