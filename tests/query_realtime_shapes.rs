//! The query shapes of Druid's realtime integration test (`wikipedia_realtime_index_queries.json`)
//! on its 22 events (timestamps filled in as the test does, the late event left out as the
//! `serverTime` rejection policy would): timeBoundary, timeseries `all`, groupBy per minute with
//! `having`, and the HEAD-only topN over a `join`, which this node refuses with a 400.

mod query_support;

use query_support::{app, ingest_segments, json_matches, query, shared, to_segments};
use rtnode::time::{MINUTE_MS, format_iso, parse_iso};
use serde_json::{Value, json};

#[test]
fn realtime_test_queries_match_or_refuse_joins() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(shared("druid/it/wikipedia_realtime_index_data.json")).unwrap();
    let base_ms = parse_iso("2013-08-31T12:00:40Z").unwrap();
    let mut times = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let time_ms = match i {
            17 => times[16] - 6_000,
            _ => base_ms + i as i64 * 4_000,
        };
        times.push(time_ms);
        if i == 14 {
            continue; // ten minutes late: thrown away by the window
        }
        let stamp = &format_iso(time_ms)[..19];
        lines.push(
            line.trim()
                .trim_end_matches(',')
                .replace("YYYY-MM-DDTHH:MM:SS", stamp),
        );
    }
    std::fs::write(dir.path().join("events.json"), lines.join("\n")).unwrap();
    let task: Value = serde_json::from_str(
        &std::fs::read_to_string(shared("druid/it/wikipedia_realtime_index_task.json"))
            .unwrap()
            .replace("%%DATASOURCE%%", "rt")
            .replace("#SHUTOFFTIME", "2100-01-01T00:00:00Z"),
    )
    .unwrap();
    let mut schema = task["spec"]["dataSchema"].clone();
    let parse_spec = schema["parser"]["parseSpec"].clone();
    schema["parser"] = json!({"type": "string", "parseSpec": {"format": "json",
        "timestampSpec": parse_spec["timestampSpec"], "dimensionsSpec": parse_spec["dimensionsSpec"]}});
    let segments = to_segments(
        "rt",
        ingest_segments(dir.path(), "events.json", schema, None),
    );
    assert!(segments.len() > 1, "minute segments");
    let app = app(segments);

    let kept: Vec<i64> = times
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 14)
        .map(|(_, t)| *t)
        .collect();
    let (min_ms, max_ms) = (*kept.iter().min().unwrap(), *kept.iter().max().unwrap());
    let minute_ms = times[15] - times[15].rem_euclid(MINUTE_MS);
    let text = std::fs::read_to_string(shared("druid/it/wikipedia_realtime_index_queries.json"))
        .unwrap()
        .replace("%%DATASOURCE%%", "rt")
        .replace("%%TIMEBOUNDARY_RESPONSE_TIMESTAMP%%", &format_iso(min_ms))
        .replace("%%TIMEBOUNDARY_RESPONSE_MAXTIME%%", &format_iso(max_ms))
        .replace("%%TIMEBOUNDARY_RESPONSE_MINTIME%%", &format_iso(min_ms))
        .replace(
            "%%TIMESERIES_QUERY_START%%",
            &format_iso(min_ms - 10 * MINUTE_MS),
        )
        .replace(
            "%%TIMESERIES_QUERY_END%%",
            &format_iso(max_ms + 10 * MINUTE_MS),
        )
        .replace("%%TIMESERIES_RESPONSE_TIMESTAMP%%", &format_iso(min_ms))
        .replace("%%POST_AG_REQUEST_START%%", &format_iso(minute_ms))
        .replace(
            "%%POST_AG_REQUEST_END%%",
            &format_iso(minute_ms + MINUTE_MS),
        )
        .replace("%%POST_AG_RESPONSE_TIMESTAMP%%", &format_iso(minute_ms));
    std::fs::write(dir.path().join("queries.json"), text).unwrap();
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("queries.json")).unwrap())
            .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for case in &cases {
            let description = case["description"].as_str().unwrap();
            let (status, body) = query(&app, &case["query"]).await;
            if case["query"]["dataSource"]["type"] == "join" {
                assert_eq!(status, 400, "{description}: {body}");
                assert!(
                    body["errorMessage"].as_str().unwrap().contains("`join`"),
                    "{body}"
                );
                continue;
            }
            assert_eq!(status, 200, "{description}: {body}");
            if let Err(diff) = json_matches(&case["expectedResults"], &body, "$") {
                panic!(
                    "{description}: {diff}\nexpected {}\nactual   {body}",
                    case["expectedResults"]
                );
            }
        }
    });
}
