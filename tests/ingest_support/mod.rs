//! Shared helpers of the integration tests: paths into ../shared, spec building, in-process
//! ingestion through the real parser, plumber and local firehose.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rtnode::config::{self, FireDepartment};
use rtnode::firehose::local::LocalFirehose;
use rtnode::firehose::{self, FirehoseMessage};
use rtnode::metrics::NodeMetrics;
use rtnode::parse::InputRowParser;
use rtnode::plumber::clock::ManualClock;
use rtnode::plumber::ingest::{ChiefReport, Ingestor};
use rtnode::plumber::parse_errors::ParseErrorLog;
use rtnode::plumber::{Plumber, PlumberSettings};
use serde_json::Value;

/// A path under `../shared` (the read-only Druid fixtures).
pub fn shared(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(path)
}

/// A one-department spec reading `base_dir`/`filter` with the given data schema pieces.
pub fn local_spec(
    base_dir: &Path,
    filter: &str,
    data_schema: Value,
    tuning: Value,
) -> FireDepartment {
    let mut tuning = tuning;
    if tuning.get("rejectionPolicy").is_none() {
        tuning["rejectionPolicy"] = serde_json::json!({"type": "none"});
    }
    let spec = serde_json::json!([{
        "dataSchema": data_schema,
        "ioConfig": {"type": "realtime", "firehose": {"type": "local", "baseDir": base_dir.display().to_string(), "filter": filter}},
        "tuningConfig": tuning,
    }]);
    config::load_spec_str(&spec.to_string())
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0)
}

/// Ingests a department's local firehose to its end, in process; returns the chief (holding the
/// plumber and its sinks) and the report.
pub fn ingest(department: &FireDepartment, now_ms: i64) -> (Ingestor, ChiefReport) {
    let parser = InputRowParser::new(department).unwrap();
    let clock = Arc::new(ManualClock::new(now_ms));
    let settings = PlumberSettings::from_spec(department, parser.schema(), now_ms);
    let plumber = Plumber::new(settings, department, clock);
    let metrics = NodeMetrics::new().for_data_source(&department.data_schema.data_source);
    let tuning = &department.tuning_config;
    let mut chief = Ingestor::new(
        parser,
        plumber,
        metrics,
        Arc::new(ParseErrorLog::new(100)),
        tuning.report_parse_exceptions,
        tuning.max_parse_exceptions,
    );
    let (tx, rx) = firehose::channel();
    let rtnode::config::FirehoseSpec::Local(local) = &department.io_config.firehose else {
        panic!("local firehose expected")
    };
    let handle = LocalFirehose::new(local, false)
        .unwrap()
        .spawn(None, tx)
        .unwrap();
    let report = chief.run(rx).unwrap();
    handle.join().unwrap();
    (chief, report)
}

/// Feeds raw lines straight into a chief (no firehose thread).
pub fn feed_lines(chief: &mut Ingestor, lines: &[String]) {
    let mut batch = rtnode::firehose::EventBatch::default();
    for line in lines {
        let start = batch.data.len() as u32;
        batch.data.extend_from_slice(line.as_bytes());
        batch.spans.push((start, batch.data.len() as u32));
    }
    chief.ingest_batch(&mut batch).unwrap();
    let _ = FirehoseMessage::End(Value::Null);
}

/// Reads a gzipped JSON-lines file into values.
pub fn read_json_lines_gz(path: &Path) -> Vec<Value> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).unwrap();
    let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(file));
    reader
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

/// A spec over the wikiticker sample (`../shared/data`): DAY segments of the given query
/// granularity and rollup, with `dimensions` and `metrics` as given.
pub fn wikiticker_spec(
    query_granularity: &str,
    rollup: bool,
    dimensions: Value,
    metrics: Value,
) -> FireDepartment {
    let schema = serde_json::json!({
        "dataSource": "wikiticker",
        "parser": {"type": "string", "parseSpec": {"format": "json",
            "timestampSpec": {"column": "time", "format": "iso"},
            "dimensionsSpec": {"dimensions": dimensions}}},
        "metricsSpec": metrics,
        "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": query_granularity, "rollup": rollup}
    });
    local_spec(
        &shared("data"),
        "wikiticker-2015-09-12-sampled.json.gz",
        schema,
        serde_json::json!({}),
    )
}

/// `count` generated events, one a second from 2015-09-12: `single` (empty strings, non-ASCII,
/// a comma), `n` (0–4), `x` (a quarter of the event number), a multi-value `multi` (three
/// values, one, null or absent in turn) and a `sparse` string in every third event.
pub fn mixed_events(count: u64) -> Vec<String> {
    let words = [
        "",
        "a",
        "b",
        "héllo",
        "日本語",
        "\u{1F600}",
        "\u{FF21}",
        "Zebra",
        "zebra",
        "x,y",
    ];
    let mut lines = Vec::new();
    for i in 0..count {
        let pick = |k: u64| words[((i * 7 + k * 13) % words.len() as u64) as usize];
        let mut event = serde_json::json!({"ts": 1_442_016_000_000u64 + i * 1_000, "single": pick(1), "n": (i % 5) as i64, "x": i as f64 / 4.0});
        match i % 4 {
            0 => event["multi"] = serde_json::json!([pick(2), pick(3), pick(4)]),
            1 => event["multi"] = serde_json::json!([pick(5)]),
            2 => event["multi"] = Value::Null,
            _ => {}
        }
        if i % 3 == 0 {
            event["sparse"] = serde_json::json!(pick(6));
        }
        lines.push(event.to_string());
    }
    lines
}
