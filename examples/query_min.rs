//! The minimum wall time of each query of `benches/query.rs` over many runs, on the hydrants
//! that bench cached (run it first). The minimum is robust against other processes sharing the
//! core, which skew criterion's mean on a busy machine.
//!
//! `cargo run --release --example query_min -- [hydrant|druid] [runs] [name filter]`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtnode::query::{QueryableSegment, StaticTarget, run_json};
use rtnode::segment::Segment;
use rtnode::time::{Interval, parse_iso};
use serde_json::{Value, json};

fn query(kind: &str, body: Value) -> Value {
    let mut q = body;
    q["queryType"] = json!(kind);
    q["dataSource"] = json!("wiki");
    q["intervals"] = json!("2016-06-27/p1d");
    q
}

fn cases() -> Vec<(&'static str, Value)> {
    let sum = json!([{"type": "longSum", "name": "added", "fieldName": "added"}]);
    let sum_count = json!([{"type": "count", "name": "rows"}, {"type": "longSum", "name": "added", "fieldName": "added"}]);
    let cs = json!({"type": "selector", "dimension": "language", "value": "cs"});
    let topn = json!({"granularity": "all", "dimension": "page", "metric": "added", "threshold": 10, "aggregations": sum_count});
    let groupby = json!({"granularity": "all", "dimensions": ["language", "namespace"], "aggregations": sum_count});
    let with_filter = |mut q: Value| {
        q["filter"] = cs.clone();
        q
    };
    let series = json!({"granularity": "all", "aggregations": sum});
    vec![
        (
            "timeseries_all_longsum",
            query("timeseries", series.clone()),
        ),
        (
            "timeseries_all_longsum_filter_1pct",
            query("timeseries", with_filter(series)),
        ),
        ("topn_page_50k", query("topN", topn.clone())),
        (
            "topn_page_50k_filter_1pct",
            query("topN", with_filter(topn)),
        ),
        (
            "groupby_language_namespace",
            query("groupBy", groupby.clone()),
        ),
        (
            "groupby_language_namespace_filter_1pct",
            query("groupBy", with_filter(groupby)),
        ),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let spec = args.get(1).map_or("hydrant", String::as_str);
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(30);
    // Optional: only the cases whose name contains this, for profilers.
    let only = args.get(3).map_or("", String::as_str);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/rtnode-bench/query-10m-v4-{spec}"));
    let hydrants = (0..4)
        .map(|i| {
            Arc::new(Segment::open(&dir.join(format!("hydrant-{i}"))).expect("run the bench first"))
        })
        .collect();
    let day = Interval::new(
        parse_iso("2016-06-27T00:00:00Z").unwrap(),
        parse_iso("2016-06-28T00:00:00Z").unwrap(),
    );
    let target = StaticTarget::new(vec![QueryableSegment::new("wiki", day, "v1", 0, hydrants)]);
    let mut unfiltered = Duration::ZERO;
    for (name, q) in cases() {
        if !name.contains(only) {
            continue;
        }
        let mut best = Duration::MAX;
        let mut first = Duration::ZERO;
        for run in 0..runs {
            let start = Instant::now();
            std::hint::black_box(run_json(&target, &q).unwrap());
            best = best.min(start.elapsed());
            if run == 0 {
                first = start.elapsed();
            }
        }
        let ratio = match name.ends_with("_1pct") && !unfiltered.is_zero() {
            true => format!(
                "  {:.1}x faster than unfiltered",
                unfiltered.as_secs_f64() / best.as_secs_f64()
            ),
            false => {
                unfiltered = best;
                String::new()
            }
        };
        // The first run also builds the bitmaps of hydrants stored without them.
        println!(
            "{spec} {name:<40} min {:>9.3} ms (first {:>9.3} ms){ratio}",
            best.as_secs_f64() * 1e3,
            first.as_secs_f64() * 1e3
        );
    }
}
