//! A sink's only hydrant, written in the segment's format, is pushed as it is instead of being
//! merged alone: it must be the segment that merge would write, byte for byte.

mod ingest_support;

use std::collections::BTreeMap;
use std::path::Path;

use ingest_support::{ingest, local_spec, mixed_events, wikiticker_spec};
use rtnode::config::FireDepartment;
use rtnode::index::persist::{PersistMetadata, write_index, write_index_with};
use rtnode::parse::InputRowParser;
use rtnode::segment::compression::Compression;
use rtnode::segment::long_writer::LongEncoding;
use rtnode::segment::merge::{MergeSpec, merge_segments_with};
use rtnode::segment::reader::Segment;
use rtnode::segment::writer::{SegmentOutput, WriteOptions};
use serde_json::json;

/// Every file of a segment directory by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

/// Ingests `department`'s only sink, then writes it (a) in the segment's format with
/// `options` and (b) as a hydrant merged alone with `options`, as the handoff would; asserts
/// both are the same files.
fn assert_only_hydrant_is_its_merge(
    department: &FireDepartment,
    options: WriteOptions,
    without_bitmap_index: &[String],
) {
    let (chief, report) = ingest(department, 0);
    assert_eq!(report.counts.unparseable, 0);
    let plumber = chief.plumber();
    let sink = plumber.sinks().values().next().expect("one sink");
    let meta = PersistMetadata::from_spec(department);
    let tmp = tempfile::tempdir().unwrap();
    let (direct, hydrant, merged) = (
        tmp.path().join("direct"),
        tmp.path().join("hydrant"),
        tmp.path().join("merged"),
    );
    let written = write_index_with(
        &sink.current,
        sink.interval,
        Some(&meta),
        SegmentOutput::Directory(direct.clone()),
        options,
        without_bitmap_index,
    )
    .unwrap();
    write_index(
        &sink.current,
        sink.interval,
        Some(&meta),
        SegmentOutput::Directory(hydrant.clone()),
        WriteOptions::HYDRANT_DEFAULT,
    )
    .unwrap();
    // The node's hint: the spec's dimensions (none when schemaless).
    let hint = InputRowParser::new(department)
        .unwrap()
        .schema()
        .dimension_names();
    let combiners = plumber.settings().combiners();
    let spec = MergeSpec {
        combiners: &combiners,
        rollup: department.data_schema.granularity_spec.rollup,
        dimension_hint: &hint,
        without_bitmap_index,
        options,
    };
    let inputs = [Segment::open(&hydrant).unwrap()];
    let from_merge =
        merge_segments_with(&inputs, &spec, SegmentOutput::Directory(merged.clone())).unwrap();
    assert_eq!(written.num_rows, from_merge.num_rows);
    assert_eq!(written.dimensions, from_merge.dimensions);
    let (direct, merged) = (files(&direct), files(&merged));
    assert_eq!(
        direct.keys().collect::<Vec<_>>(),
        merged.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &direct {
        assert!(bytes == &merged[name], "{name} differs");
    }
}

fn wikiticker(rollup: bool, query_granularity: &str) -> FireDepartment {
    let dimensions = json!([
        "channel", "cityName", "comment", "countryIsoCode", "countryName", "isAnonymous",
        "isMinor", "isNew", "isRobot", "isUnpatrolled", "namespace", "page",
        {"type": "string", "name": "regionName", "createBitmapIndex": false},
        "user", {"type": "long", "name": "metroCode"}, "flags"
    ]);
    let metrics = json!([
        {"type": "count", "name": "count"},
        {"type": "longSum", "name": "added", "fieldName": "added"},
        {"type": "doubleSum", "name": "deleted", "fieldName": "deleted"},
        {"type": "longMax", "name": "delta", "fieldName": "delta"},
        {"type": "hyperUnique", "name": "user_unique", "fieldName": "user"}
    ]);
    wikiticker_spec(query_granularity, rollup, dimensions, metrics)
}

#[test]
fn wikiticker_as_its_only_hydrant_is_the_merged_segment() {
    let without = ["regionName".to_string()];
    assert_only_hydrant_is_its_merge(
        &wikiticker(false, "NONE"),
        WriteOptions::DRUID_DEFAULT,
        &without,
    );
    let auto_longs = WriteOptions {
        dimension_compression: Compression::Uncompressed,
        long_encoding: LongEncoding::Auto,
        ..WriteOptions::DRUID_DEFAULT
    };
    assert_only_hydrant_is_its_merge(&wikiticker(true, "HOUR"), auto_longs, &without);
}

#[test]
fn multi_values_nulls_and_a_schemaless_order_as_the_only_hydrant_are_the_merged_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = mixed_events(5_000);
    std::fs::write(tmp.path().join("events.json"), lines.join("\n")).unwrap();
    // No dimension list: the order is the order ingest discovered them in.
    let schema = json!({
        "dataSource": "gen",
        "parser": {"type": "string", "parseSpec": {"format": "json",
            "timestampSpec": {"column": "ts", "format": "millis"},
            "dimensionsSpec": {"dimensions": [], "dimensionExclusions": ["n"]}}},
        "metricsSpec": [
            {"type": "count", "name": "count"},
            {"type": "longSum", "name": "n_sum", "fieldName": "n"},
            {"type": "hyperUnique", "name": "u", "fieldName": "single"}
        ],
        "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": "MINUTE", "rollup": true}
    });
    let department = local_spec(tmp.path(), "events.json", schema, json!({}));
    assert_only_hydrant_is_its_merge(&department, WriteOptions::DRUID_DEFAULT, &[]);
}
