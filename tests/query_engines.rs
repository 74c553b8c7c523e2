//! Every query type, filter family and context flag on Druid's 10 wikipedia events (two days of
//! the same 5 edits), ingested through the real path with a `hyperUnique` metric; expected values
//! are worked out from the events.

mod query_support;

use query_support::{ingest_segments, shared, to_segments};
use rtnode::hll::HyperLogLogCollector;
use rtnode::query::{StaticTarget, run_json};
use serde_json::{Value, json};

fn target() -> StaticTarget {
    let schema = json!({
        "dataSource": "wiki",
        "parser": {"type": "string", "parseSpec": {
            "format": "json",
            "timestampSpec": {"column": "timestamp", "format": "iso"},
            "dimensionsSpec": {"dimensions": ["page", "language", "user", "robot", "namespace", "city"]}
        }},
        "metricsSpec": [
            {"type": "count", "name": "count"},
            {"type": "longSum", "name": "added", "fieldName": "added"},
            {"type": "doubleSum", "name": "delta", "fieldName": "delta"},
            {"type": "hyperUnique", "name": "users", "fieldName": "user"}
        ],
        "granularitySpec": {"type": "uniform", "segmentGranularity": "DAY", "queryGranularity": "second"}
    });
    let hydrants = ingest_segments(
        &shared("druid/it/union_query"),
        "wikipedia_index_data.json",
        schema,
        None,
    );
    StaticTarget::new(to_segments("wiki", hydrants))
}

fn run(target: &StaticTarget, kind: &str, body: Value) -> Value {
    let mut q = body;
    q["queryType"] = json!(kind);
    q["dataSource"] = json!("wiki");
    if q.get("intervals").is_none() {
        q["intervals"] = json!(["2013-08-31/2013-09-02"]);
    }
    run_json(target, &q).unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn added_with(target: &StaticTarget, filter: Value) -> i64 {
    let result = run(
        target,
        "timeseries",
        json!({"granularity": "all", "filter": filter,
        "aggregations": [{"type": "longSum", "name": "added", "fieldName": "added"}]}),
    );
    result[0]["result"]["added"].as_i64().unwrap()
}

#[test]
fn filters_of_every_family_select_the_right_rows() {
    let t = target();
    let sel = |d: &str, v: &str| json!({"type": "selector", "dimension": d, "value": v});
    assert_eq!(added_with(&t, sel("language", "en")), 2 * (57 + 459));
    assert_eq!(
        added_with(
            &t,
            json!({"type": "in", "dimension": "language", "values": ["ru", "zh", "xx"]})
        ),
        2 * (123 + 905)
    );
    assert_eq!(
        added_with(
            &t,
            json!({"type": "bound", "dimension": "page", "lower": "Coyote Tango", "upper": "Gypsy Danger", "upperStrict": true})
        ),
        2 * (905 + 1)
    );
    assert_eq!(
        added_with(
            &t,
            json!({"type": "bound", "dimension": "added", "lower": "100", "upper": "1000", "ordering": "numeric"})
        ),
        2 * (459 + 123 + 905)
    );
    assert_eq!(
        added_with(
            &t,
            json!({"type": "regex", "dimension": "city", "pattern": "^S"})
        ),
        2 * (57 + 459)
    );
    assert_eq!(
        added_with(
            &t,
            json!({"type": "like", "dimension": "user", "pattern": "%r"})
        ),
        2 * (57 + 1)
    );
    assert_eq!(
        added_with(
            &t,
            json!({"type": "search", "dimension": "page", "query": {"type": "insensitive_contains", "value": "TY"}})
        ),
        2 * 905
    );
    assert_eq!(
        added_with(
            &t,
            json!({"type": "search", "dimension": "page", "query": {"type": "fragment", "values": ["o", "a"]}})
        ),
        2 * (123 + 1)
    );
    assert_eq!(
        added_with(&t, json!({"type": "not", "field": sel("robot", "true")})),
        2 * 57
    );
    assert_eq!(
        added_with(
            &t,
            json!({"type": "and", "fields": [sel("robot", "true"), {"type": "or", "fields": [sel("language", "ja"), sel("language", "zh")]}]})
        ),
        2 * (905 + 1)
    );
    assert_eq!(
        added_with(
            &t,
            json!({"type": "interval", "dimension": "__time", "intervals": ["2013-08-31T03:00/2013-08-31T12:00"]})
        ),
        459 + 123 + 905
    );
    assert_eq!(
        added_with(
            &t,
            json!({"type": "selector", "dimension": "page", "value": "Gyp", "extractionFn": {"type": "substring", "index": 0, "length": 3}})
        ),
        2 * 57
    );
    assert_eq!(
        added_with(
            &t,
            json!({"type": "columnComparison", "dimensions": ["language", {"type": "extraction", "dimension": "page", "outputName": "p", "extractionFn": {"type": "lookup", "lookup": {"type": "map", "map": {"Cherno Alpha": "ru"}}}}]})
        ),
        2 * 123
    );
    assert_eq!(added_with(&t, json!({"type": "false"})), 0);
    assert_eq!(
        added_with(
            &t,
            json!({"type": "selector", "dimension": "missing", "value": null})
        ),
        2 * 1545
    );
}

/// Druid's `expression` filter, post-aggregator and (through the `filter` having) result-row
/// filter.
#[test]
fn expressions_filter_rows_and_compute_post_aggregations() {
    let t = target();
    let expr = |e: &str| json!({"type": "expression", "expression": e});
    assert_eq!(
        added_with(&t, expr("added > 100 && language != 'en'")),
        2 * (123 + 905)
    );
    assert_eq!(
        added_with(&t, expr("timestamp_extract(__time, 'HOUR') < 12")),
        2 * (57 + 459 + 123 + 905)
    );
    assert_eq!(
        added_with(&t, expr("like(page, 'C%') && delta > 0")),
        2 * (123 + 905)
    );
    assert_eq!(added_with(&t, expr("nosuchcolumn == 'x'")), 0);
    let grouped = run(
        &t,
        "groupBy",
        json!({"granularity": "all", "dimensions": ["language"],
            "aggregations": [{"type": "longSum", "name": "added", "fieldName": "added"},
                             {"type": "count", "name": "rows"}],
            "postAggregations": [{"type": "expression", "name": "per_row", "expression": "added / rows"}],
            "having": {"type": "filter", "filter": expr("added > 1000")}}),
    );
    let rows: Vec<(&str, i64, i64)> = grouped
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let e = &r["event"];
            (
                e["language"].as_str().unwrap(),
                e["added"].as_i64().unwrap(),
                e["per_row"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, [("en", 1032, 258), ("zh", 1810, 905)]);
    let bad = rtnode::query::run_json(
        &t,
        &json!({"queryType": "timeseries", "dataSource": "wiki", "intervals": ["2013-08-31/2013-09-02"],
            "granularity": "all", "filter": expr("added >"), "aggregations": []}),
    );
    assert!(matches!(bad, Err(e) if e.to_string().contains("expression filter")));
}

/// Druid's `expression` virtual columns, read like stored columns: aggregator inputs, filter
/// columns, grouping dimensions, inputs of other virtual columns.
#[test]
fn virtual_columns_act_as_columns() {
    let t = target();
    let columns = json!([
        {"type": "expression", "name": "twice", "expression": "added * 2", "outputType": "LONG"},
        {"type": "expression", "name": "lang_robot", "expression": "concat(language, ':', robot)", "outputType": "STRING"},
        {"type": "expression", "name": "hour", "expression": "timestamp_extract(__time, 'HOUR')", "outputType": "LONG"},
        {"type": "expression", "name": "late_twice", "expression": "if(hour >= 12, twice, 0)", "outputType": "LONG"},
        {"type": "expression", "name": "ratio", "expression": "added / 2.0"}
    ]);
    let sums = run(
        &t,
        "timeseries",
        json!({"granularity": "all", "virtualColumns": columns,
            "aggregations": [{"type": "longSum", "name": "twice", "fieldName": "twice"},
                             {"type": "longSum", "name": "late", "fieldName": "late_twice"},
                             {"type": "doubleSum", "name": "half", "fieldName": "ratio"}],
            "filter": {"type": "bound", "dimension": "hour", "upper": "12", "upperStrict": true, "ordering": "numeric"}}),
    );
    assert_eq!(
        sums[0]["result"]["twice"],
        json!(2 * 2 * (57 + 459 + 123 + 905))
    );
    assert_eq!(sums[0]["result"]["late"], json!(0));
    assert_eq!(
        sums[0]["result"]["half"],
        json!((57.0 + 459.0 + 123.0 + 905.0))
    );
    let grouped = run(
        &t,
        "groupBy",
        json!({"granularity": "all", "virtualColumns": columns, "dimensions": ["lang_robot"],
            "aggregations": [{"type": "longSum", "name": "added", "fieldName": "added"}]}),
    );
    let rows: Vec<(&str, i64)> = grouped
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["event"]["lang_robot"].as_str().unwrap(),
                r["event"]["added"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("en:false", 114),
            ("en:true", 918),
            ("ja:true", 2),
            ("ru:true", 246),
            ("zh:true", 1810)
        ]
    );
    let top = run(
        &t,
        "topN",
        json!({"granularity": "all", "virtualColumns": columns, "dimension": "lang_robot", "metric": "added",
            "threshold": 1, "filter": {"type": "selector", "dimension": "lang_robot", "value": "en:true"},
            "aggregations": [{"type": "longSum", "name": "added", "fieldName": "added"}]}),
    );
    assert_eq!(
        top[0]["result"],
        json!([{"lang_robot": "en:true", "added": 918}])
    );
    let refused = rtnode::query::run_json(
        &t,
        &json!({"queryType": "timeseries", "dataSource": "wiki", "intervals": ["2013-08-31/2013-09-02"],
            "granularity": "all", "aggregations": [],
            "virtualColumns": [{"type": "expression", "name": "v", "expression": "1", "outputType": "BLOB"}]}),
    );
    assert!(matches!(refused, Err(e) if e.to_string().contains("unknown outputType `BLOB`")));
}

#[test]
fn hyper_unique_cardinality_and_finalize_false() {
    let t = target();
    let body = json!({"granularity": "day", "aggregations": [
        {"type": "hyperUnique", "name": "users", "fieldName": "users"},
        {"type": "cardinality", "name": "langs", "fields": ["language"], "round": true},
        {"type": "longFirst", "name": "first_added", "fieldName": "added"}],
        "postAggregations": [{"type": "hyperUniqueCardinality", "name": "users_est", "fieldName": "users", "round": true}]});
    let result = run(&t, "timeseries", body.clone());
    assert_eq!(result.as_array().unwrap().len(), 2);
    for day in result.as_array().unwrap() {
        let users = day["result"]["users"].as_f64().unwrap();
        assert!((users - 5.0).abs() < 0.5, "{day}");
        assert_eq!(day["result"]["users_est"], json!(5));
        assert_eq!(day["result"]["langs"], json!(4));
        assert_eq!(day["result"]["first_added"], json!(57));
    }
    let mut raw = body;
    raw["context"] = json!({"finalize": false});
    let result = run(&t, "timeseries", raw);
    let encoded = result[0]["result"]["users"]
        .as_str()
        .expect("base64 collector");
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded).unwrap();
    let collector = HyperLogLogCollector::from_bytes(&bytes).unwrap();
    assert!((collector.estimate() - 5.0).abs() < 0.5);
    assert_eq!(
        result[0]["result"]["first_added"],
        json!({"lhs": 1377910953000i64, "rhs": 57})
    );
}

#[test]
fn topn_metric_specs_and_groupby_limits() {
    let t = target();
    let aggs = json!([{"type": "longSum", "name": "added", "fieldName": "added"}]);
    let inverted = run(
        &t,
        "topN",
        json!({"granularity": "all", "dimension": "page", "threshold": 2, "aggregations": aggs,
        "metric": {"type": "inverted", "metric": "added"}}),
    );
    let pages: Vec<&str> = inverted[0]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["page"].as_str().unwrap())
        .collect();
    assert_eq!(pages, ["Coyote Tango", "Gypsy Danger"]);
    let by_dim = run(
        &t,
        "topN",
        json!({"granularity": "all", "dimension": "city", "threshold": 2, "aggregations": aggs,
        "metric": {"type": "dimension", "ordering": "lexicographic", "previousStop": "Syndey"}}),
    );
    let cities: Vec<&str> = by_dim[0]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["city"].as_str().unwrap())
        .collect();
    assert_eq!(cities, ["Taiyuan", "Tokyo"]);
    let grouped = run(
        &t,
        "groupBy",
        json!({"granularity": "all", "dimensions": ["robot", "language"], "aggregations": aggs,
        "having": {"type": "or", "havingSpecs": [{"type": "greaterThan", "aggregation": "added", "value": 1000},
                                                  {"type": "equalTo", "aggregation": "added", "value": 2}]},
        "limitSpec": {"type": "default", "limit": 2, "columns": [{"dimension": "added", "direction": "descending"}]}}),
    );
    let rows: Vec<(String, i64)> = grouped
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["event"]["language"].as_str().unwrap().to_string(),
                r["event"]["added"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, [("zh".to_string(), 1810), ("ja".to_string(), 2)]);
}

#[test]
fn scan_select_search_and_time_boundary() {
    let t = target();
    let scan = run(
        &t,
        "scan",
        json!({"columns": ["__time", "page", "added"], "limit": 3, "order": "descending", "resultFormat": "compactedList"}),
    );
    let events: Vec<Value> = scan
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["events"].as_array().unwrap().clone())
        .collect();
    let ms = |t: &str| rtnode::time::parse_iso(t).unwrap();
    assert_eq!(
        events,
        [
            json!([ms("2013-09-01T12:41:27Z"), "Coyote Tango", 1]),
            json!([ms("2013-09-01T11:58:39Z"), "Crimson Typhoon", 905]),
            json!([ms("2013-09-01T07:11:21Z"), "Cherno Alpha", 123]),
        ]
    );
    let page1 = run(
        &t,
        "select",
        json!({"granularity": "all", "dimensions": ["page"], "metrics": ["added"], "pagingSpec": {"threshold": 3}}),
    );
    let pages = |r: &Value| -> Vec<String> {
        r[0]["result"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"]["page"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        pages(&page1),
        ["Gypsy Danger", "Striker Eureka", "Cherno Alpha"]
    );
    let paging = page1[0]["result"]["pagingIdentifiers"].clone();
    let page2 = run(
        &t,
        "select",
        json!({"granularity": "all", "dimensions": ["page"], "metrics": ["added"], "pagingSpec": {"threshold": 3, "pagingIdentifiers": paging}}),
    );
    assert_eq!(
        pages(&page2),
        ["Crimson Typhoon", "Coyote Tango", "Gypsy Danger"]
    );
    let search = run(
        &t,
        "search",
        json!({"granularity": "all", "searchDimensions": ["page", "city"], "query": {"type": "contains", "value": "o"}, "sort": {"type": "strlen"}}),
    );
    let hits: Vec<(String, i64)> = search[0]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["value"].as_str().unwrap().to_string(),
                h["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(hits[0], ("Tokyo".to_string(), 2));
    assert_eq!(hits.len(), 6, "{hits:?}");
    let bound = run(
        &t,
        "timeBoundary",
        json!({"bound": "maxTime", "filter": {"type": "selector", "dimension": "language", "value": "ru"}}),
    );
    assert_eq!(
        bound,
        json!([{"timestamp": "2013-09-01T07:11:21.000Z", "result": {"maxTime": "2013-09-01T07:11:21.000Z"}}])
    );
}

#[test]
fn metadata_segment_specs_by_segment_and_zoned_granularity() {
    let t = target();
    let meta = run(
        &t,
        "segmentMetadata",
        json!({"merge": true, "analysisTypes": ["cardinality", "minmax", "aggregators"]}),
    );
    assert_eq!(meta[0]["numRows"], json!(10));
    assert_eq!(meta[0]["columns"]["language"]["cardinality"], json!(4));
    assert_eq!(meta[0]["columns"]["language"]["minValue"], json!("en"));
    assert_eq!(meta[0]["columns"]["users"]["type"], json!("hyperUnique"));
    assert_eq!(meta[0]["aggregators"]["added"]["type"], json!("longSum"));
    let latest = run(&t, "dataSourceMetadata", json!({}));
    assert_eq!(
        latest[0]["result"]["maxIngestedEventTime"],
        json!("2013-09-01T12:41:27.000Z")
    );
    let one_day = json!({"type": "segments", "segments": [{"itvl": "2013-09-01/2013-09-02", "ver": "2013-09-02T00:00:00.000Z", "part": 0}]});
    let result = run(
        &t,
        "timeseries",
        json!({"intervals": one_day, "granularity": "all", "aggregations": [{"type": "count", "name": "rows"}]}),
    );
    assert_eq!(
        result,
        json!([{"timestamp": "2013-09-01T01:02:33.000Z", "result": {"rows": 5}}])
    );
    let by_segment = run(
        &t,
        "timeseries",
        json!({"granularity": "all", "context": {"bySegment": true}, "aggregations": [{"type": "count", "name": "rows"}]}),
    );
    assert_eq!(by_segment.as_array().unwrap().len(), 2);
    assert_eq!(
        by_segment[1]["result"]["results"][0]["result"]["rows"],
        json!(5)
    );
    assert!(
        by_segment[0]["result"]["segment"]
            .as_str()
            .unwrap()
            .starts_with("wiki_2013-08-31T00:00:00.000Z_")
    );
    let zoned = run(
        &t,
        "timeseries",
        json!({"granularity": {"type": "period", "period": "P1D", "timeZone": "America/Los_Angeles"},
        "aggregations": [{"type": "count", "name": "rows"}]}),
    );
    let counts: Vec<(String, i64)> = zoned
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["timestamp"].as_str().unwrap().to_string(),
                r["result"]["rows"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("2013-08-30T07:00:00.000Z".to_string(), 2),
            ("2013-08-31T07:00:00.000Z".to_string(), 5),
            ("2013-09-01T07:00:00.000Z".to_string(), 3)
        ]
    );
}

#[test]
fn multi_value_dimensions_group_and_filter_per_value() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"t": "2020-01-01T00:00:01Z", "tags": ["a", "b"], "x": 1}"#,
        r#"{"t": "2020-01-01T00:00:02Z", "tags": ["b", "c"], "x": 10}"#,
        r#"{"t": "2020-01-01T00:00:03Z", "tags": "c", "x": 100}"#,
        r#"{"t": "2020-01-01T00:00:04Z", "x": 1000}"#,
    ];
    std::fs::write(dir.path().join("mv.json"), lines.join("\n")).unwrap();
    let schema = json!({
        "dataSource": "mv",
        "parser": {"type": "string", "parseSpec": {"format": "json",
            "timestampSpec": {"column": "t", "format": "iso"},
            "dimensionsSpec": {"dimensions": ["tags"]}}},
        "metricsSpec": [{"type": "longSum", "name": "x", "fieldName": "x"}],
        "granularitySpec": {"type": "uniform", "segmentGranularity": "DAY", "queryGranularity": "none", "rollup": false}
    });
    let t = StaticTarget::new(to_segments(
        "mv",
        ingest_segments(dir.path(), "mv.json", schema, None),
    ));
    let q = |kind: &str, body: Value| {
        let mut q = body;
        q["queryType"] = json!(kind);
        q["dataSource"] = json!("mv");
        q["intervals"] = json!("2020-01-01/p1d");
        run_json(&t, &q).unwrap()
    };
    let aggs = json!([{"type": "longSum", "name": "x", "fieldName": "x"}]);
    let grouped = q(
        "groupBy",
        json!({"granularity": "all", "dimensions": ["tags"], "aggregations": aggs}),
    );
    let rows: Vec<(Value, i64)> = grouped
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["event"]["tags"].clone(),
                r["event"]["x"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (Value::Null, 1000),
            (json!("a"), 1),
            (json!("b"), 11),
            (json!("c"), 110)
        ]
    );
    let top = q(
        "topN",
        json!({"granularity": "all", "dimension": "tags", "metric": "x", "threshold": 1, "aggregations": aggs}),
    );
    assert_eq!(top[0]["result"], json!([{"tags": null, "x": 1000}]));
    let filtered = q(
        "timeseries",
        json!({"granularity": "all", "aggregations": aggs, "filter": {"type": "selector", "dimension": "tags", "value": "b"}}),
    );
    assert_eq!(filtered[0]["result"]["x"], json!(11));
    let negated = q(
        "timeseries",
        json!({"granularity": "all", "aggregations": aggs, "filter": {"type": "not", "field": {"type": "selector", "dimension": "tags", "value": "b"}}}),
    );
    assert_eq!(negated[0]["result"]["x"], json!(1100));
    for (expression, x) in [
        ("tags == 'b'", 11),
        ("concat(tags, '!') == 'c!'", 110),
        ("isnull(tags)", 1000),
    ] {
        let matched = q(
            "timeseries",
            json!({"granularity": "all", "aggregations": aggs, "filter": {"type": "expression", "expression": expression}}),
        );
        assert_eq!(matched[0]["result"]["x"], json!(x), "{expression}");
    }
    let scan = q("scan", json!({"columns": ["tags"]}));
    assert_eq!(scan[0]["events"][0]["tags"], json!(["a", "b"]));
}
