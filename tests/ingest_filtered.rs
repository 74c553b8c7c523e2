//! `filtered` aggregators at ingest: each metric aggregates only the events its filter accepts
//! (filters on dimensions, on plain input fields and on numbers), rows no accepted event reached
//! hold the aggregator's initial value, and the persisted segment records the delegates'
//! combining forms in `metadata.drd`, as Druid does.

mod ingest_support;

use std::collections::BTreeMap;

use ingest_support::{ingest, local_spec};
use rtnode::index::persist::{PersistMetadata, write_index};
use rtnode::index::{SortedIndex, rows_as_json};
use rtnode::segment::reader::Segment;
use rtnode::segment::writer::{SegmentOutput, WriteOptions};
use serde_json::{Value, json};

const EVENTS: u64 = 3_000;

/// Event `i`: page, robot flag, region (on even events only), added.
fn event(i: u64) -> (String, bool, Option<&'static str>, i64) {
    let region = i
        .is_multiple_of(2)
        .then_some(if i.is_multiple_of(4) { "eu" } else { "us" });
    (
        format!("p{}", i % 5),
        i.is_multiple_of(3),
        region,
        (i % 100) as i64,
    )
}

/// Per `(page, isRobot)` row: count, robot count, added ≥ 50 summed, max added outside `eu`
/// (`i64::MIN` when no such event), distinct pages of robots.
type Expected = BTreeMap<(String, String), (i64, i64, i64, i64, usize)>;

fn naive() -> Expected {
    let mut rows = Expected::new();
    for i in 0..EVENTS {
        let (page, robot, region, added) = event(i);
        let row = rows
            .entry((page, robot.to_string()))
            .or_insert((0, 0, 0, i64::MIN, 0));
        row.0 += 1;
        row.1 += i64::from(robot);
        row.2 += if added >= 50 { added } else { 0 };
        if region != Some("eu") {
            row.3 = row.3.max(added);
        }
        row.4 = usize::from(robot);
    }
    rows
}

#[test]
fn filtered_metrics_aggregate_only_the_events_their_filters_accept() {
    let tmp = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..EVENTS)
        .map(|i| {
            let (page, robot, region, added) = event(i);
            let mut e = json!({"ts": 1_442_016_000_000u64 + i, "page": page, "isRobot": robot, "added": added});
            if let Some(region) = region {
                e["region"] = json!(region);
            }
            e.to_string()
        })
        .collect();
    std::fs::write(tmp.path().join("events.json"), lines.join("\n")).unwrap();
    let filtered = |filter: Value, aggregator: Value| json!({"type": "filtered", "filter": filter, "aggregator": aggregator});
    let schema = json!({
        "dataSource": "filtered",
        "parser": {"type": "string", "parseSpec": {"format": "json", "timestampSpec": {"column": "ts", "format": "millis"},
            "dimensionsSpec": {"dimensions": ["page", "isRobot"]}}},
        "metricsSpec": [
            {"type": "count", "name": "count"},
            filtered(json!({"type": "selector", "dimension": "isRobot", "value": "true"}),
                json!({"type": "count", "name": "robots"})),
            filtered(json!({"type": "bound", "dimension": "added", "lower": "50", "ordering": "numeric"}),
                json!({"type": "longSum", "name": "big_added", "fieldName": "added"})),
            filtered(json!({"type": "not", "field": {"type": "selector", "dimension": "region", "value": "eu"}}),
                json!({"type": "longMax", "name": "max_outside_eu", "fieldName": "added"})),
            filtered(json!({"type": "in", "dimension": "isRobot", "values": ["true"]}),
                json!({"type": "hyperUnique", "name": "robot_pages", "fieldName": "page"}))
        ],
        "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": "DAY", "rollup": true}
    });
    let department = local_spec(tmp.path(), "events.json", schema, json!({}));
    let (chief, report) = ingest(&department, 0);
    assert_eq!(report.counts.processed, EVENTS);
    let sink = chief.plumber().sinks().values().next().unwrap();
    let rows = rows_as_json(&SortedIndex::new(&sink.current));
    let got: Expected = rows
        .iter()
        .map(|r| {
            let robot_pages = r["robot_pages"].as_str().unwrap();
            let key = (
                r["page"].as_str().unwrap().to_string(),
                r["isRobot"].as_str().unwrap().to_string(),
            );
            let long = |name: &str| r[name].as_i64().unwrap();
            let distinct = usize::from(robot_pages != EMPTY_HLL_BASE64);
            (
                key,
                (
                    long("count"),
                    long("robots"),
                    long("big_added"),
                    long("max_outside_eu"),
                    distinct,
                ),
            )
        })
        .collect();
    assert_eq!(got, naive());
    assert_eq!(
        rows[0].keys().filter(|k| *k == "region").count(),
        0,
        "a filter column is read, not made a dimension"
    );

    let out = tmp.path().join("segment");
    let meta = PersistMetadata::from_spec(&department);
    let written = SegmentOutput::Directory(out.clone());
    write_index(
        &sink.current,
        sink.interval,
        Some(&meta),
        written,
        WriteOptions::default(),
    )
    .unwrap();
    let segment = Segment::open(&out).unwrap();
    let aggregators = segment.metadata().unwrap().aggregators.clone().unwrap();
    let types: Vec<(&str, &str)> = aggregators
        .iter()
        .map(|a| (a["type"].as_str().unwrap(), a["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        types,
        [
            ("longSum", "count"),
            ("longSum", "robots"),
            ("longSum", "big_added"),
            ("longMax", "max_outside_eu"),
            ("hyperUnique", "robot_pages")
        ]
    );
}

/// `rows_as_json` of a hyperUnique that saw no value: an empty collector's bytes, base64.
const EMPTY_HLL_BASE64: &str = "AQAAAAAAAA==";
