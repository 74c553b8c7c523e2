//! The wikiticker sample (39,244 real events) through the real parser, plumber and index,
//! checked against values computed here independently from the raw file.

mod ingest_support;

use std::collections::HashSet;

use ingest_support::{ingest, read_json_lines_gz, shared, wikiticker_spec};
use rtnode::index::{SortedIndex, rows_as_json};
use rtnode::time::HOUR_MS;
use serde_json::{Value, json};

const FILE: &str = "data/wikiticker-2015-09-12-sampled.json.gz";

fn raw_events() -> Vec<Value> {
    read_json_lines_gz(&shared(FILE))
}

fn department(
    query_granularity: &str,
    rollup: bool,
    dimensions: Value,
) -> rtnode::config::FireDepartment {
    let metrics = json!([
        {"type": "count", "name": "count"},
        {"type": "longSum", "name": "added", "fieldName": "added"},
        {"type": "longSum", "name": "deleted", "fieldName": "deleted"},
        {"type": "longSum", "name": "delta", "fieldName": "delta"}
    ]);
    wikiticker_spec(query_granularity, rollup, dimensions, metrics)
}

fn sum_field(rows: &[serde_json::Map<String, Value>], field: &str) -> i64 {
    rows.iter().map(|r| r[field].as_i64().unwrap()).sum()
}

#[test]
fn ingests_every_event_with_independent_sums() {
    let raw = raw_events();
    let department = department(
        "NONE",
        false,
        json!([
            "channel",
            "page",
            "user",
            "countryName",
            "isRobot",
            "metroCode"
        ]),
    );
    let (chief, report) = ingest(&department, 0);
    assert_eq!(report.counts.processed, 39_244);
    assert_eq!(report.counts.unparseable, 0);
    assert_eq!(report.counts.thrown_away(), 0);
    assert_eq!(raw.len(), 39_244);

    let sinks = chief.plumber().sinks();
    assert_eq!(sinks.len(), 1, "one DAY sink");
    let sink = sinks.values().next().unwrap();
    assert_eq!(
        sink.interval.to_string(),
        "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z"
    );
    let rows = rows_as_json(&SortedIndex::new(&sink.current));
    assert_eq!(rows.len(), 39_244, "rollup off keeps every event");
    for field in ["added", "deleted", "delta"] {
        let expected: i64 = raw.iter().map(|e| e[field].as_i64().unwrap()).sum();
        assert_eq!(sum_field(&rows, field), expected, "{field}");
    }
    assert_eq!(sum_field(&rows, "count"), 39_244);
    // Booleans and numbers become Druid's strings.
    let robots = rows.iter().filter(|r| r["isRobot"] == "true").count();
    assert_eq!(robots, raw.iter().filter(|e| e["isRobot"] == true).count());
    let metro = rows.iter().filter(|r| r["metroCode"] == "807").count();
    assert_eq!(metro, raw.iter().filter(|e| e["metroCode"] == 807).count());
    assert!(metro > 0);
}

#[test]
fn hourly_rollup_matches_an_independent_count() {
    let raw = raw_events();
    let department = department("HOUR", true, json!(["channel", "page", "user"]));
    let (chief, report) = ingest(&department, 0);
    assert_eq!(report.counts.processed, 39_244);
    let sink = chief.plumber().sinks().values().next().unwrap();

    let text = |v: &Value| -> String { v.as_str().unwrap_or("").to_string() };
    let distinct: HashSet<(i64, String, String, String)> = raw
        .iter()
        .map(|e| {
            let t = rtnode::time::parse_iso(e["time"].as_str().unwrap()).unwrap();
            (
                t - t.rem_euclid(HOUR_MS),
                text(&e["channel"]),
                text(&e["page"]),
                text(&e["user"]),
            )
        })
        .collect();
    assert_eq!(sink.current.num_rows(), distinct.len());
    let rows = rows_as_json(&SortedIndex::new(&sink.current));
    assert_eq!(sum_field(&rows, "count"), 39_244);
    let expected_added: i64 = raw.iter().map(|e| e["added"].as_i64().unwrap()).sum();
    assert_eq!(sum_field(&rows, "added"), expected_added);
    assert!(
        rows.windows(2)
            .all(|w| w[0]["__time"].as_i64() <= w[1]["__time"].as_i64()),
        "rows in time order"
    );
}
