//! The `transformSpec`'s expression transforms through the binary: a transform replaces a
//! dimension, feeds a metric, moves the event time and maps over a multi-value column; the
//! filter sees transformed values; an event a transform cannot evaluate is unparseable; a
//! schemaless spec still discovers the columns filters and transforms read.

mod cli_support;

use std::collections::BTreeMap;

use cli_support::{dumped_rows, run_to_end, spec_over_lines};
use serde_json::{Value, json};

struct Input {
    lines: Vec<String>,
    /// (upper-case page, shifted hour) → (events, sum of added - deleted), for events kept.
    expected: BTreeMap<(String, i64), (i64, i64)>,
    bad: u64,
    dropped: u64,
}

fn input() -> Input {
    let mut input = Input {
        lines: Vec::new(),
        expected: BTreeMap::new(),
        bad: 0,
        dropped: 0,
    };
    for i in 0..400i64 {
        let (page, added, deleted, minute) = (format!("p{}", i % 5), i % 37, i % 11, i % 60);
        let bad = i % 50 == 7;
        let bad_field = if bad { r#","bad":"z""# } else { "" };
        input.lines.push(format!(
            r#"{{"ts":"2015-09-12T00:{minute:02}:00Z","page":"{page}","added":{added},"deleted":{deleted},"tags":["a","b"]{bad_field}}}"#
        ));
        if bad {
            input.bad += 1;
        } else if page == "p0" {
            input.dropped += 1;
        } else {
            let entry = input.expected.entry((page.to_uppercase(), 1)).or_default();
            *entry = (entry.0 + 1, entry.1 + added - deleted);
        }
    }
    input
}

#[test]
fn transforms_rewrite_dimensions_metrics_and_time_before_the_filter() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input();
    let refs: Vec<&str> = input.lines.iter().map(String::as_str).collect();
    let path = spec_over_lines(tmp.path(), &refs);
    let mut spec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let schema = &mut spec[0]["dataSchema"];
    schema["parser"]["parseSpec"]["dimensionsSpec"]["dimensions"] = json!(["page", "tags"]);
    schema["metricsSpec"] = json!([{"type": "count", "name": "count"},
        {"type": "longSum", "name": "net", "fieldName": "net"}]);
    schema["transformSpec"] = json!({
        "transforms": [
            {"type": "expression", "name": "page", "expression": "upper(page)"},
            {"type": "expression", "name": "net", "expression": "added - deleted"},
            {"type": "expression", "name": "__time", "expression": "timestamp_shift(__time, 'PT1H', 1)"},
            {"type": "expression", "name": "tags", "expression": "concat('t-', tags)"},
            {"type": "expression", "name": "check", "expression": "if(isnull(bad), 0, 'a' * bad)"}
        ],
        // Reads the transformed page: on the raw `p0` it would drop nothing.
        "filter": {"type": "expression", "expression": "page != 'P0'"}
    });
    let ds = run_to_end(tmp.path(), &spec);
    let kept: i64 = input.expected.values().map(|(n, _)| n).sum();
    assert_eq!(
        (&ds["processed"], &ds["unparseable"], &ds["thrownAway"]),
        (&json!(kept), &json!(input.bad), &json!(input.dropped)),
        "{ds}"
    );
    let segments = ds["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 1, "{ds}");
    let identifier = segments[0]["identifier"].as_str().unwrap();
    assert!(
        identifier.contains("2015-09-12T01:00:00.000Z_2015-09-12T02:00:00.000Z"),
        "{identifier}"
    );

    let mut got: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for row in dumped_rows(segments[0]["path"].as_str().unwrap(), tmp.path()) {
        assert_eq!(row["tags"], json!(["t-a", "t-b"]), "{row}");
        let hour = (row["__time"].as_i64().unwrap() - 1_442_016_000_000) / 3_600_000;
        let entry = got
            .entry((row["page"].as_str().unwrap().to_string(), hour))
            .or_default();
        *entry = (
            entry.0 + row["count"].as_i64().unwrap(),
            entry.1 + row["net"].as_i64().unwrap(),
        );
    }
    assert_eq!(got, input.expected);
}

#[test]
fn schemaless_specs_discover_the_columns_transforms_and_filters_read() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"ts":"2015-09-12T00:00:00Z","page":"a","isRobot":"true","lang":"en"}"#,
        r#"{"ts":"2015-09-12T00:01:00Z","page":"b","isRobot":"false","lang":"de"}"#,
        r#"{"ts":"2015-09-12T00:02:00Z","page":"c","isRobot":"false","lang":"fr"}"#,
    ];
    let path = spec_over_lines(tmp.path(), &lines);
    let mut spec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let schema = &mut spec[0]["dataSchema"];
    schema["parser"]["parseSpec"]["dimensionsSpec"]["dimensions"] = json!([]);
    schema["transformSpec"] = json!({
        "transforms": [{"type": "expression", "name": "page", "expression": "concat(lang, ':', page)"}],
        "filter": {"type": "selector", "dimension": "isRobot", "value": "false"}
    });
    let ds = run_to_end(tmp.path(), &spec);
    assert_eq!(
        (&ds["processed"], &ds["thrownAway"]),
        (&json!(2), &json!(1)),
        "{ds}"
    );
    let rows = dumped_rows(ds["segments"][0]["path"].as_str().unwrap(), tmp.path());
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["page"].as_str().unwrap(),
                r["isRobot"].as_str().unwrap(),
                r["lang"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("de:b", "false", "de"), ("fr:c", "false", "fr")]);
}
