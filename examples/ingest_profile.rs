//! Runs the ingest benchmark's work once, for profilers: `cargo build --release --example
//! ingest_profile`, then e.g.
//! `valgrind --tool=callgrind --toggle-collect='*ingest_fixture*ingest*' target/release/examples/ingest_profile 1000000`
//! (instructions per event = collected instructions / events).

#[path = "../benches/support/ingest_fixture.rs"]
mod ingest_fixture;

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("events: a number"))
        .unwrap_or(1_000_000);
    let batches = ingest_fixture::load_batches(events);
    let chief = ingest_fixture::ingest(&batches);
    let (rows, bytes) = ingest_fixture::rows_and_bytes(&chief);
    println!(
        "events: {events}, processed: {}, unparseable: {}, rolled-up rows: {rows}, index bytes: {bytes}, bytes per row: {}",
        chief.counts().processed,
        chief.counts().unparseable,
        bytes / rows.max(1)
    );
}
