//! Druid's own integration queries (`../shared/druid/it`) against segments ingested from the
//! same folder through the real ingest path, queried over HTTP: every expected result must match.

mod query_support;

use query_support::{app, ingest_segments, json_matches, load_queries, query, shared, to_segments};
use serde_json::{Value, json};

const SKETCH_TYPES: [&str; 3] = ["thetaSketch", "quantilesDoublesSketch", "HLLSketchBuild"];

/// `wikipedia_index_task.json`'s dataSchema without the sketch metrics.
fn wikipedia_index_schema(data_source: &str) -> Value {
    index_task_schema("druid/it/wikipedia_index_task.json", data_source)
}

/// The dataSchema of an index task of `../shared/druid/it`, without the sketch metrics.
fn index_task_schema(task_file: &str, data_source: &str) -> Value {
    let text = std::fs::read_to_string(shared(task_file))
        .unwrap()
        .replace("%%DATASOURCE%%", data_source)
        .replace("%%SEGMENT_AVAIL_TIMEOUT_MILLIS%%", "0");
    let task: Value = serde_json::from_str(&text).unwrap();
    let mut schema = task["spec"]["dataSchema"].clone();
    let metrics: Vec<Value> = schema["metricsSpec"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !SKETCH_TYPES.contains(&m["type"].as_str().unwrap()))
        .cloned()
        .collect();
    schema["metricsSpec"] = Value::Array(metrics);
    schema
}

/// `wikipedia_union_index_task.json`'s dataSchema, reading JSON lines (the task's events are
/// posted as JSON maps to its receiver firehose).
fn union_schema(data_source: &str) -> Value {
    let text = std::fs::read_to_string(shared("druid/it/wikipedia_union_index_task.json"))
        .unwrap()
        .replace("%%DATASOURCE%%", data_source);
    let task: Value = serde_json::from_str(&text).unwrap();
    let mut schema = task["spec"]["dataSchema"].clone();
    let parse_spec = &schema["parser"]["parseSpec"];
    schema["parser"] = json!({
        "type": "string",
        "parseSpec": {
            "format": "json",
            "timestampSpec": parse_spec["timestampSpec"],
            "dimensionsSpec": parse_spec["dimensionsSpec"],
        }
    });
    schema
}

async fn check_queries(app: &axum::Router, queries: &[Value]) -> usize {
    let mut checked = 0;
    for case in queries {
        let description = case["description"].as_str().unwrap_or("(no description)");
        let aggs = case["query"]["aggregations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let sketch = aggs.iter().find_map(|a| {
            let t = a["type"].as_str().unwrap_or("");
            ["HLLSketchMerge", "thetaSketch", "quantilesDoublesSketch"]
                .contains(&t)
                .then_some(t)
        });
        let (status, body) = query(app, &case["query"]).await;
        if let Some(kind) = sketch {
            assert_eq!(status, 400, "{description}: {body}");
            let message = body["errorMessage"].as_str().unwrap();
            assert!(
                message.contains(kind),
                "{description}: `{message}` does not name `{kind}`"
            );
            assert_eq!(body["error"], "Unsupported operation");
            continue;
        }
        assert_eq!(status, 200, "{description}: {body}");
        if let Err(diff) = json_matches(&case["expectedResults"], &body, "$") {
            panic!(
                "{description}: {diff}\nexpected {}\nactual   {body}",
                case["expectedResults"]
            );
        }
        checked += 1;
    }
    checked
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The three `wikipedia_index_data*.json` files of the index tests, ingested with `schema`
/// (each file its own hydrants).
fn ingest_index_data(data_source: &str, schema: &Value) -> Vec<rtnode::query::QueryableSegment> {
    let base = shared("druid/it");
    let mut hydrants = Vec::new();
    for file in [
        "wikipedia_index_data1.json",
        "wikipedia_index_data2.json",
        "wikipedia_index_data3.json",
    ] {
        hydrants.extend(ingest_segments(&base, file, schema.clone(), None));
    }
    to_segments(data_source, hydrants)
}

#[test]
fn wikipedia_index_queries_match_druid() {
    let data_source = "wikipedia_index_test";
    let segments = ingest_index_data(data_source, &wikipedia_index_schema(data_source));
    assert_eq!(segments.len(), 2, "one segment per day");
    assert!(
        segments.iter().all(|s| s.hydrants.len() >= 2),
        "days split over hydrants"
    );
    let app = app(segments);
    let queries = load_queries("druid/it/wikipedia_index_queries.json", data_source);
    assert_eq!(runtime().block_on(check_queries(&app, &queries)), 3);
}

/// ITTransformTest: `concat('language-', language)` replaces the `language` dimension and
/// `added * 3` feeds the `triple-added` metric; Druid's query filters on the transformed value.
#[test]
fn transform_queries_match_druid() {
    let data_source = "wikipedia_index_test";
    let schema = index_task_schema(
        "druid/it/wikipedia_index_task_with_transform.json",
        data_source,
    );
    assert_eq!(
        schema["transformSpec"]["transforms"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let app = app(ingest_index_data(data_source, &schema));
    let queries = load_queries(
        "druid/it/wikipedia_index_queries_with_transform.json",
        data_source,
    );
    assert_eq!(runtime().block_on(check_queries(&app, &queries)), 1);
    // Every language was rewritten: no raw value is left.
    let languages = json!({"queryType": "topN", "dataSource": data_source, "dimension": "language",
        "metric": "rows", "threshold": 100, "granularity": "all",
        "aggregations": [{"type": "count", "name": "rows"}, {"type": "doubleSum", "name": "added", "fieldName": "added"},
                         {"type": "doubleSum", "name": "tripled", "fieldName": "triple-added"}],
        "intervals": ["2013-08-31/2013-09-02"]});
    let (status, body) = runtime().block_on(query(&app, &languages));
    assert_eq!(status, 200, "{body}");
    let rows = body[0]["result"].as_array().unwrap();
    assert!(rows.len() >= 2, "{body}");
    for row in rows {
        let language = row["language"].as_str().unwrap();
        assert!(language.starts_with("language-"), "{row}");
        let (added, tripled) = (
            row["added"].as_f64().unwrap(),
            row["tripled"].as_f64().unwrap(),
        );
        assert!(added > 0.0 && tripled == 3.0 * added, "{row}");
    }
}

/// ITSparseColumnTest's data and its `timeBoundary` and "roll up ratio" queries (an
/// aggregator with `"expression": null`, an `expression` post-aggregator): the ten inline events
/// roll up to eight rows in the hour. Its scan query compares against a result the Java test
/// builds, and is left out.
#[test]
fn sparse_column_queries_match_druid() {
    let dir = tempfile::tempdir().unwrap();
    let task: Value = serde_json::from_str(
        &std::fs::read_to_string(shared("druid/it/sparse_column_index_task.json"))
            .unwrap()
            .replace("%%DATASOURCE%%", "sparse"),
    )
    .unwrap();
    let data = task["spec"]["ioConfig"]["inputSource"]["data"]
        .as_str()
        .unwrap();
    std::fs::write(dir.path().join("sparse.json"), data).unwrap();
    let spec = &task["spec"]["dataSchema"];
    let schema = json!({"dataSource": "sparse",
        "parser": {"type": "string", "parseSpec": {"format": "json",
            "timestampSpec": spec["timestampSpec"], "dimensionsSpec": spec["dimensionsSpec"]}},
        "metricsSpec": spec["metricsSpec"], "granularitySpec": spec["granularitySpec"]});
    let app = app(to_segments(
        "sparse",
        ingest_segments(dir.path(), "sparse.json", schema, None),
    ));
    let text = std::fs::read_to_string(shared("druid/it/sparse_column_index_queries.json"))
        .unwrap()
        .replace("%%DATASOURCE%%", "sparse")
        .replace("%%EXPECTED_SCAN_RESULT%%", "null")
        .replace("%%EXPECTED_SUM_COUNT%%", "10")
        .replace("%%EXPECTED_ROLLUP_RATIO%%", "0.8")
        .replace("%%EXPECTED_NUM_ROW%%", "8");
    let queries: Vec<Value> = serde_json::from_str::<Vec<Value>>(&text)
        .unwrap()
        .into_iter()
        .filter(|q| q["query"]["queryType"] != "scan")
        .collect();
    assert_eq!(runtime().block_on(check_queries(&app, &queries)), 2);
    // An aggregator reading an expression instead of a field.
    let summed = json!({"queryType": "timeseries", "dataSource": "sparse", "granularity": "all",
        "intervals": ["2015-09-12/2015-09-13"],
        "aggregations": [{"type": "longSum", "name": "h_rows", "expression": "if(dimA == 'H', \"count\", 0)"},
            {"type": "filtered", "filter": {"type": "selector", "dimension": "dimB", "value": "X"},
             "aggregator": {"type": "doubleSum", "name": "x_half", "expression": "sum_metA / 2.0"}}]});
    let (status, body) = runtime().block_on(query(&app, &summed));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body[0]["result"],
        json!({"h_rows": 5, "x_half": 2.0}),
        "{body}"
    );
}

#[test]
fn union_queries_match_druid() {
    let base = shared("druid/it/union_query");
    let prefix = "wikipedia_index_test";
    let dir = tempfile::tempdir().unwrap();
    let mut segments = Vec::new();
    for i in 0..3 {
        let data_source = format!("{prefix}{i}");
        let sub = dir.path().join(&data_source);
        std::fs::create_dir_all(&sub).unwrap();
        let hydrants = ingest_segments(
            &base,
            "wikipedia_index_data.json",
            union_schema(&data_source),
            Some(&sub),
        );
        segments.extend(to_segments(&data_source, hydrants));
    }
    let app = app(segments);
    let queries = load_queries("druid/it/union_queries.json", prefix);
    assert_eq!(
        runtime().block_on(check_queries(&app, &queries)),
        queries.len()
    );
}
