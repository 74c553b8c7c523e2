//! The ingest benchmark's input and work, shared by `benches/ingest.rs` and
//! `examples/ingest_profile.rs`: events of `../shared/bench/gen_events.py` (generated once under
//! `target/bench-data`), minute rollup over the 9 string dimensions, count + longSum of
//! added/deleted/delta + hyperUnique of user.

use std::path::PathBuf;
use std::sync::Arc;

use rtnode::firehose::EventBatch;
use rtnode::parse::InputRowParser;
use rtnode::plumber::clock::ManualClock;
use rtnode::plumber::ingest::Ingestor;
use rtnode::plumber::parse_errors::ParseErrorLog;
use rtnode::plumber::{Plumber, PlumberSettings};

/// Generates (once) and loads `events` benchmark events as firehose-sized batches.
pub fn load_batches(events: usize) -> Vec<EventBatch> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("events-{events}.json"));
    if !path.exists() {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/gen_events.py");
        let status = std::process::Command::new("python3")
            .arg(script)
            .arg(events.to_string())
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "gen_events.py failed");
    }
    let data = std::fs::read(&path).unwrap();
    let mut batches = Vec::new();
    let mut batch = EventBatch::default();
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let start = batch.data.len() as u32;
        batch.data.extend_from_slice(line);
        batch.spans.push((start, batch.data.len() as u32));
        if batch.data.len() >= rtnode::firehose::MAX_BATCH_BYTES {
            batches.push(std::mem::take(&mut batch));
        }
    }
    batches.push(batch);
    batches
}

/// The benchmark's fire department.
pub fn spec() -> rtnode::config::FireDepartment {
    let text = r#"[{"dataSchema":{"dataSource":"bench","parser":{"type":"string","parseSpec":{"format":"json",
        "timestampSpec":{"column":"timestamp","format":"auto"},
        "dimensionsSpec":{"dimensions":["page","user","language","country","city","namespace","channel","isRobot","isAnonymous"]}}},
      "metricsSpec":[{"type":"count","name":"count"},{"type":"longSum","name":"added","fieldName":"added"},
        {"type":"longSum","name":"deleted","fieldName":"deleted"},{"type":"longSum","name":"delta","fieldName":"delta"},
        {"type":"hyperUnique","name":"user_unique","fieldName":"user"}],
      "granularitySpec":{"segmentGranularity":"DAY","queryGranularity":"MINUTE"}},
      "ioConfig":{"type":"realtime","firehose":{"type":"local","baseDir":"-","filter":"*"}},
      "tuningConfig":{"type":"realtime","maxRowsInMemory":100000000,"rejectionPolicy":{"type":"none"}}}]"#;
    rtnode::config::load_spec_str(text).unwrap().remove(0)
}

/// Ingests every batch into a fresh index (each batch's checkpoint is taken); returns the chief.
#[inline(never)]
pub fn ingest(batches: &mut [EventBatch]) -> Ingestor {
    let department = spec();
    let parser = InputRowParser::new(&department).unwrap();
    let settings = PlumberSettings::from_spec(&department, parser.schema(), 0);
    let plumber = Plumber::new(settings, &department, Arc::new(ManualClock::new(0)));
    let metrics = rtnode::metrics::NodeMetrics::new().for_data_source("bench");
    let mut chief = Ingestor::new(
        parser,
        plumber,
        metrics,
        Arc::new(ParseErrorLog::new(10)),
        false,
        u64::MAX,
    );
    for batch in batches {
        chief.ingest_batch(batch).unwrap();
    }
    chief
}

/// Rolled-up rows and estimated index bytes of an ingested chief.
pub fn rows_and_bytes(chief: &Ingestor) -> (usize, usize) {
    let rows = chief.plumber().rows_in_memory();
    let bytes = chief
        .plumber()
        .sinks()
        .values()
        .map(|s| s.current.estimated_bytes())
        .sum();
    (rows, bytes)
}
