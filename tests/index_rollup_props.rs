//! Rollup properties: any permutation of the input gives the same rolled-up rows, aggregates equal
//! a naive computation, and hyperUnique bytes do not depend on the order values arrive in.

mod ingest_support;

use std::collections::BTreeMap;

use ingest_support::{feed_lines, local_spec};
use proptest::prelude::*;
use rtnode::index::{SortedIndex, rows_as_json};
use rtnode::parse::InputRowParser;
use rtnode::plumber::clock::ManualClock;
use rtnode::plumber::ingest::Ingestor;
use rtnode::plumber::parse_errors::ParseErrorLog;
use rtnode::plumber::{Plumber, PlumberSettings};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone)]
struct Event {
    second: i64,
    a: Option<&'static str>,
    tags: Vec<&'static str>,
    v: i64,
    x: f64,
}

const WORDS: [&str; 5] = ["x", "y", "zé", "", "日"];

fn event() -> impl Strategy<Value = Event> {
    (
        0i64..240,
        proptest::option::of(0usize..5),
        proptest::collection::vec(0usize..5, 0..3),
        -1000i64..1000,
        -50i32..50,
    )
        .prop_map(|(second, a, tags, v, x)| Event {
            second,
            a: a.map(|i| WORDS[i]),
            tags: tags.into_iter().map(|i| WORDS[i]).collect(),
            v,
            x: x as f64 / 4.0,
        })
}

fn line(e: &Event) -> String {
    let mut object = json!({"t": 1_442_016_000_000i64 + e.second * 1000, "v": e.v, "x": e.x});
    if let Some(a) = e.a {
        object["a"] = json!(a);
    }
    if !e.tags.is_empty() {
        object["tags"] = json!(e.tags);
    }
    object.to_string()
}

fn department() -> rtnode::config::FireDepartment {
    department_with(json!("tags"))
}

/// The department with `tags` declared as `tags_dimension`.
fn department_with(tags_dimension: Value) -> rtnode::config::FireDepartment {
    let schema = json!({
        "dataSource": "p",
        "parser": {"type": "string", "parseSpec": {"format": "json", "timestampSpec": {"column": "t", "format": "millis"},
            "dimensionsSpec": {"dimensions": ["a", tags_dimension]}}},
        "metricsSpec": [
            {"type": "count", "name": "count"},
            {"type": "longSum", "name": "v_sum", "fieldName": "v"},
            {"type": "longMin", "name": "v_min", "fieldName": "v"},
            {"type": "longMax", "name": "v_max", "fieldName": "v"},
            {"type": "doubleSum", "name": "x_sum", "fieldName": "x"},
            {"type": "doubleMin", "name": "x_min", "fieldName": "x"},
            {"type": "doubleMax", "name": "x_max", "fieldName": "x"},
            {"type": "longFirst", "name": "v_first", "fieldName": "v"},
            {"type": "longLast", "name": "v_last", "fieldName": "v"},
            {"type": "hyperUnique", "name": "u", "fieldName": "tags"}
        ],
        "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": "MINUTE", "rollup": true}
    });
    local_spec(std::path::Path::new("/nonexistent"), "*", schema, json!({}))
}

fn rolled_up(lines: &[String]) -> Vec<Map<String, Value>> {
    rolled_up_with(&department(), lines)
}

fn rolled_up_with(
    department: &rtnode::config::FireDepartment,
    lines: &[String],
) -> Vec<Map<String, Value>> {
    let department = department.clone();
    let parser = InputRowParser::new(&department).unwrap();
    let settings = PlumberSettings::from_spec(&department, parser.schema(), 0);
    let plumber = Plumber::new(
        settings,
        &department,
        std::sync::Arc::new(ManualClock::new(0)),
    );
    let metrics = rtnode::metrics::NodeMetrics::new().for_data_source("p");
    let mut chief = Ingestor::new(
        parser,
        plumber,
        metrics,
        std::sync::Arc::new(ParseErrorLog::new(0)),
        false,
        u64::MAX,
    );
    feed_lines(&mut chief, lines);
    assert_eq!(chief.counts().processed, lines.len() as u64);
    let sink = chief.plumber().sinks().values().next().unwrap();
    rows_as_json(&SortedIndex::new(&sink.current))
}

/// The rollup key of an event as the index forms it: minute, `a` ("" is null), sorted tags.
fn key(e: &Event) -> (i64, String, String) {
    (
        e.second / 60,
        e.a.filter(|a| !a.is_empty()).unwrap_or("").to_string(),
        arranged_tags(&e.tags, "SORTED_ARRAY").join("|"),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rollup_is_order_independent_and_matches_a_naive_computation(events in proptest::collection::vec(event(), 1..150), seed in any::<u64>()) {
        let lines: Vec<String> = events.iter().map(line).collect();
        let mut shuffled: Vec<(u64, String)> = lines.iter().enumerate().map(|(i, l)| ((i as u64).wrapping_mul(seed | 1).rotate_left(17), l.clone())).collect();
        shuffled.sort();
        let shuffled: Vec<String> = shuffled.into_iter().map(|(_, l)| l).collect();
        let original = rolled_up(&lines);
        prop_assert_eq!(&original, &rolled_up(&shuffled));
        // Druid's row order: time, then `a` (null first, then Java's UTF-16 order), then tags.
        let order_key = |r: &Map<String, Value>| {
            let a = r.get("a").and_then(Value::as_str);
            (r["__time"].as_i64().unwrap(), a.map(|a| a.encode_utf16().collect::<Vec<u16>>()))
        };
        for pair in original.windows(2) {
            prop_assert!(order_key(&pair[0]) <= order_key(&pair[1]), "rows out of order: {:?}", pair);
        }

        let mut naive: BTreeMap<(i64, String, String), Vec<&Event>> = BTreeMap::new();
        for e in &events {
            naive.entry(key(e)).or_default().push(e);
        }
        prop_assert_eq!(original.len(), naive.len());
        let total: i64 = original.iter().map(|r| r["count"].as_i64().unwrap()).sum();
        prop_assert_eq!(total, events.len() as i64);
        for group in naive.values() {
            let first = group.iter().min_by_key(|e| (e.second, e.v)).unwrap();
            let last = group.iter().max_by_key(|e| (e.second, e.v)).unwrap();
            let row = original.iter().find(|r| {
                r["count"].as_i64() == Some(group.len() as i64)
                    && r["v_sum"].as_i64() == Some(group.iter().map(|e| e.v).sum::<i64>())
                    && r["v_min"].as_i64() == group.iter().map(|e| e.v).min()
                    && r["v_max"].as_i64() == group.iter().map(|e| e.v).max()
                    && r["x_min"].as_f64() == group.iter().map(|e| e.x).reduce(f64::min)
                    && r["x_max"].as_f64() == group.iter().map(|e| e.x).reduce(f64::max)
                    && r["v_first"].as_i64() == Some(first.v)
                    && r["v_last"].as_i64() == Some(last.v)
                    && (r["x_sum"].as_f64().unwrap() - group.iter().map(|e| e.x).sum::<f64>()).abs() < 1e-9
            });
            prop_assert!(row.is_some(), "no row matches group {:?}", group);
        }
    }
}

/// `tags` as Druid's `multiValueHandling` arranges them ("" is null, written `<null>`): sorted
/// (null first, then Java's UTF-16 order), sorted without duplicates, or in input order; a lone
/// null is no value.
fn arranged_tags(tags: &[&str], handling: &str) -> Vec<String> {
    let mut out: Vec<String> = tags
        .iter()
        .map(|t| {
            if t.is_empty() {
                "<null>".into()
            } else {
                t.to_string()
            }
        })
        .collect();
    if handling != "ARRAY" {
        out.sort_by(|x, y| {
            (x != "<null>")
                .cmp(&(y != "<null>"))
                .then(x.encode_utf16().cmp(y.encode_utf16()))
        });
    }
    if handling == "SORTED_SET" {
        out.dedup();
    }
    if out == ["<null>"] {
        out.clear();
    }
    out
}

/// A row's `tags` in the form of [`arranged_tags`].
fn row_tags(row: &Map<String, Value>) -> Vec<String> {
    let text = |v: &Value| v.as_str().unwrap_or("<null>").to_string();
    let tags: Vec<String> = match row.get("tags") {
        Some(Value::Array(values)) => values.iter().map(text).collect(),
        Some(Value::String(value)) => vec![value.clone()],
        _ => Vec::new(),
    };
    if tags == ["<null>"] { Vec::new() } else { tags }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `multiValueHandling` (any case): the rows' value lists and their rollup follow Druid's
    /// `SORTED_ARRAY`, `SORTED_SET` and `ARRAY`.
    #[test]
    fn multi_value_handling_arranges_each_rows_values(
        events in proptest::collection::vec(event(), 1..100),
        handling in prop::sample::select(vec!["SORTED_ARRAY", "sorted_set", "Array"]),
    ) {
        let tags = json!({"type": "string", "name": "tags", "multiValueHandling": handling});
        let lines: Vec<String> = events.iter().map(line).collect();
        let rows = rolled_up_with(&department_with(tags), &lines);
        let canonical = handling.to_ascii_uppercase();
        // A string column whose every value is null is left out of the index, as Druid's merger
        // skips it, so `[null, null]` rows then read as no value.
        let column_written = events.iter().any(|e| e.tags.iter().any(|t| !t.is_empty()));
        let mut naive: BTreeMap<(i64, String, Vec<String>), i64> = BTreeMap::new();
        for e in &events {
            let a = e.a.filter(|a| !a.is_empty()).unwrap_or("").to_string();
            let tags = if column_written { arranged_tags(&e.tags, &canonical) } else { Vec::new() };
            *naive.entry((e.second / 60, a, tags)).or_default() += 1;
        }
        let mut got: BTreeMap<(i64, String, Vec<String>), i64> = BTreeMap::new();
        for row in &rows {
            let minute = (row["__time"].as_i64().unwrap() - 1_442_016_000_000) / 60_000;
            let a = row.get("a").and_then(Value::as_str).unwrap_or("").to_string();
            got.insert((minute, a, row_tags(row)), row["count"].as_i64().unwrap());
        }
        prop_assert_eq!(rows.len(), got.len(), "two rows with one key");
        prop_assert_eq!(got, naive);
    }
}
