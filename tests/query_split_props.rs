//! The same answers whether a sink's rows sit in one hydrant or are spread over several, and
//! whatever column formats (`indexSpec`) each hydrant was written with: merging partial
//! aggregates must equal aggregating all rows at once (proptest over random splits and formats).

mod common;

use std::sync::Arc;

use common::every_write_options;
use proptest::prelude::*;
use rtnode::query::{QueryableSegment, StaticTarget, run_json};
use rtnode::segment::{
    Dictionary, DimCell, DimensionKind, DimensionSchema, MetricCell, MetricKind, MetricSchema,
    RowRef, Segment, SegmentOutput, SegmentSchema, SegmentWriter, WriteOptions,
};
use rtnode::time::Interval;
use serde_json::{Value, json};

const DAY: Interval = Interval {
    start_ms: 1_377_907_200_000,
    end_ms: 1_377_993_600_000,
};

#[derive(Debug, Clone)]
struct Row {
    time_ms: i64,
    a: String,
    b: Option<String>,
    x: i64,
    y: f64,
}

fn rows_strategy() -> impl Strategy<Value = Vec<(Row, usize)>> {
    prop::collection::vec(
        (
            0i64..59_000,
            0usize..6,
            prop::option::of(0usize..3),
            -1000i64..1000,
            -500i32..500,
            0usize..4,
        ),
        1..120,
    )
    .prop_map(|items| {
        items
            .into_iter()
            .enumerate()
            .map(|(i, (jitter, a, b, x, y, hydrant))| {
                let row = Row {
                    time_ms: DAY.start_ms + i as i64 * 60_000 * 7 + jitter,
                    a: format!("a{a}"),
                    b: b.map(|b| format!("b{b}")),
                    x,
                    y: y as f64 * 0.5,
                };
                (row, hydrant)
            })
            .collect()
    })
}

/// Writes rows (any order) as one in-memory segment in Druid row order.
fn segment(rows: &[Row]) -> Arc<Segment> {
    segment_with(rows, WriteOptions::default())
}

/// [`segment`] with the column formats of `options`.
fn segment_with(rows: &[Row], options: WriteOptions) -> Arc<Segment> {
    let mut rows = rows.to_vec();
    rows.sort_by(|p, q| (p.time_ms, &p.a, &p.b).cmp(&(q.time_ms, &q.a, &q.b)));
    let dictionary = |values: Vec<Option<String>>| {
        let mut values = values;
        values.sort();
        values.dedup();
        Dictionary(values)
    };
    let a_dict = dictionary(rows.iter().map(|r| Some(r.a.clone())).collect());
    let b_dict = dictionary(rows.iter().map(|r| r.b.clone()).collect());
    let schema = SegmentSchema {
        interval: DAY,
        dimensions: ["a", "b"]
            .map(|n| DimensionSchema {
                name: n.into(),
                kind: DimensionKind::String,
                has_multiple_values: false,
                bitmap_index: true,
            })
            .to_vec(),
        metrics: vec![
            MetricSchema {
                name: "x".into(),
                kind: MetricKind::Long,
            },
            MetricSchema {
                name: "y".into(),
                kind: MetricKind::Double,
            },
        ],
        metadata: None,
    };
    let mut writer = SegmentWriter::new(
        schema,
        vec![Some(a_dict.clone()), Some(b_dict.clone())],
        SegmentOutput::Memory,
        options,
    )
    .unwrap();
    for row in &rows {
        let a_id = [a_dict
            .0
            .iter()
            .position(|v| v.as_deref() == Some(row.a.as_str()))
            .unwrap() as u32];
        let b_id = [b_dict.0.iter().position(|v| *v == row.b).unwrap() as u32];
        let dims = [DimCell::Ids(&a_id), DimCell::Ids(&b_id)];
        let metrics = [MetricCell::Long(row.x), MetricCell::Double(row.y)];
        writer
            .add_row(RowRef {
                time_ms: row.time_ms,
                dims: &dims,
                metrics: &metrics,
            })
            .unwrap();
    }
    Arc::new(Segment::from_written(writer.finish().unwrap()).unwrap())
}

fn target(hydrants: Vec<Arc<Segment>>) -> StaticTarget {
    StaticTarget::new(vec![QueryableSegment::new("ds", DAY, "v1", 0, hydrants)])
}

fn aggregations() -> Value {
    json!([
        {"type": "count", "name": "rows"},
        {"type": "longSum", "name": "x_sum", "fieldName": "x"},
        {"type": "doubleSum", "name": "y_sum", "fieldName": "y"},
        {"type": "longMin", "name": "x_min", "fieldName": "x"},
        {"type": "doubleMax", "name": "y_max", "fieldName": "y"},
        {"type": "longFirst", "name": "x_first", "fieldName": "x"},
        {"type": "doubleLast", "name": "y_last", "fieldName": "y"},
        {"type": "stringLast", "name": "a_last", "fieldName": "a"},
        {"type": "cardinality", "name": "ab", "fields": ["a", "b"], "byRow": true},
        {"type": "filtered", "filter": {"type": "selector", "dimension": "b", "value": "b1"},
         "aggregator": {"type": "longSum", "name": "x_b1", "fieldName": "x"}}
    ])
}

fn queries() -> Vec<Value> {
    let base = |q: Value| {
        let mut q = q;
        q["dataSource"] = json!("ds");
        q["intervals"] = json!("2013-08-31/p1d");
        q
    };
    vec![
        base(
            json!({"queryType": "timeseries", "granularity": "hour", "aggregations": aggregations()}),
        ),
        base(
            json!({"queryType": "timeseries", "granularity": "all", "aggregations": aggregations(),
                    "filter": {"type": "bound", "dimension": "x", "lower": "-100", "upper": "300", "ordering": "numeric"}}),
        ),
        base(
            json!({"queryType": "topN", "granularity": "all", "dimension": "a", "metric": "x_sum",
                    "threshold": 3, "aggregations": aggregations()}),
        ),
        base(
            json!({"queryType": "groupBy", "granularity": "six_hour", "dimensions": ["a", "b"],
                    "aggregations": aggregations(),
                    "filter": {"type": "not", "field": {"type": "in", "dimension": "a", "values": ["a0", "a5"]}}}),
        ),
        base(
            json!({"queryType": "search", "granularity": "all", "query": {"type": "contains", "value": "1"}}),
        ),
        base(
            json!({"queryType": "timeBoundary", "filter": {"type": "selector", "dimension": "b", "value": null}}),
        ),
        base(
            json!({"queryType": "timeseries", "granularity": "all", "aggregations": aggregations(),
                    "filter": {"type": "and", "fields": [
                        {"type": "selector", "dimension": "a", "value": "a2"},
                        {"type": "selector", "dimension": "b", "value": "b1"}]}}),
        ),
        base(
            json!({"queryType": "topN", "granularity": "all", "dimension": "b", "metric": "x_sum",
                    "threshold": 2, "aggregations": aggregations(),
                    "filter": {"type": "selector", "dimension": "a", "value": "a3"}}),
        ),
        base(
            json!({"queryType": "groupBy", "granularity": "all", "dimensions": ["b"],
                    "aggregations": aggregations(),
                    "filter": {"type": "and", "fields": [
                        {"type": "selector", "dimension": "a", "value": "a1"},
                        {"type": "bound", "dimension": "x", "lower": "0", "ordering": "numeric"}]}}),
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn split_hydrants_answer_like_one(rows in rows_strategy()) {
        let all: Vec<Row> = rows.iter().map(|(r, _)| r.clone()).collect();
        let whole = target(vec![segment(&all)]);
        let mut parts: Vec<Vec<Row>> = vec![Vec::new(); 4];
        for (row, hydrant) in &rows {
            parts[*hydrant].push(row.clone());
        }
        let split = target(parts.iter().filter(|p| !p.is_empty()).map(|p| segment(p)).collect());
        for query in queries() {
            let expected = run_json(&whole, &query).unwrap();
            let actual = run_json(&split, &query).unwrap();
            prop_assert_eq!(&expected, &actual, "query {}", query);
            prop_assert!(expected.as_array().is_some_and(|a| !a.is_empty()) || query["queryType"] != "timeseries");
        }
    }

    #[test]
    fn every_index_spec_answers_alike(
        rows in rows_strategy(),
        choices in prop::collection::vec(0usize..24, 4),
    ) {
        let all: Vec<Row> = rows.iter().map(|(r, _)| r.clone()).collect();
        let whole = target(vec![segment(&all)]);
        let mut parts: Vec<Vec<Row>> = vec![Vec::new(); 4];
        for (row, hydrant) in &rows {
            parts[*hydrant].push(row.clone());
        }
        let options = every_write_options();
        let hydrants = parts
            .iter()
            .zip(&choices)
            .filter(|(p, _)| !p.is_empty())
            .map(|(p, choice)| segment_with(p, options[*choice]))
            .collect();
        let split = target(hydrants);
        let one_format = |choice: usize| target(vec![segment_with(&all, options[choice])]);
        for query in queries() {
            let expected = run_json(&whole, &query).unwrap();
            prop_assert_eq!(&expected, &run_json(&split, &query).unwrap(), "query {}", query);
            let same = one_format(choices[0]);
            prop_assert_eq!(&expected, &run_json(&same, &query).unwrap(), "query {}", query);
        }
    }
}
