//! Ingest → persist → read: the written segment holds exactly the indexed rows, and a row Druid
//! wrote is written by rtnode with Druid's file names, column lists and column descriptors.

mod ingest_support;

use std::path::Path;

use ingest_support::{ingest, local_spec, mixed_events, shared};
use rtnode::index::persist::{PersistMetadata, write_index};
use rtnode::index::{SortedIndex, rows_as_json};
use rtnode::segment::Column;
use rtnode::segment::merge::{MetricCombiner, merge_segments};
use rtnode::segment::reader::Segment;
use rtnode::segment::writer::{SegmentOutput, WriteOptions};
use serde_json::{Map, Value, json};

/// Persists the only sink of `department` after ingesting it, into `dir`.
fn ingest_and_persist(
    department: &rtnode::config::FireDepartment,
    dir: &Path,
) -> (Vec<Map<String, Value>>, Segment) {
    let (chief, report) = ingest(department, 0);
    assert_eq!(report.counts.unparseable, 0);
    let sinks = chief.plumber().sinks();
    assert_eq!(sinks.len(), 1);
    let sink = sinks.values().next().unwrap();
    let expected = rows_as_json(&SortedIndex::new(&sink.current));
    let out = dir.join("segment");
    let meta = PersistMetadata::from_spec(department);
    write_index(
        &sink.current,
        sink.interval,
        Some(&meta),
        SegmentOutput::Directory(out.clone()),
        WriteOptions::default(),
    )
    .unwrap();
    (expected, Segment::open(&out).unwrap())
}

fn dumped_rows(segment: &Segment) -> Vec<Map<String, Value>> {
    let mut out = Vec::new();
    rtnode::segment::dump::write_rows(segment, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn wikiticker_round_trips_through_a_persisted_segment() {
    let fields = [
        "channel",
        "cityName",
        "comment",
        "countryIsoCode",
        "countryName",
        "isAnonymous",
        "isMinor",
        "isNew",
        "isRobot",
        "isUnpatrolled",
        "metroCode",
        "namespace",
        "page",
        "regionIsoCode",
        "regionName",
        "user",
        "flags",
    ];
    let schema = json!({
        "dataSource": "wikiticker",
        "parser": {"type": "string", "parseSpec": {"format": "json",
            "timestampSpec": {"column": "time", "format": "iso"},
            "dimensionsSpec": {"dimensions": fields}}},
        "metricsSpec": [
            {"type": "count", "name": "count"},
            {"type": "longSum", "name": "added", "fieldName": "added"},
            {"type": "longSum", "name": "deleted", "fieldName": "deleted"},
            {"type": "longSum", "name": "delta", "fieldName": "delta"},
            {"type": "hyperUnique", "name": "user_unique", "fieldName": "user"}
        ],
        "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": "NONE", "rollup": false}
    });
    let department = local_spec(
        &shared("data"),
        "wikiticker-2015-09-12-sampled.json.gz",
        schema,
        json!({}),
    );
    let tmp = tempfile::tempdir().unwrap();
    let (expected, segment) = ingest_and_persist(&department, tmp.path());
    assert_eq!(segment.num_rows(), 39_244);
    assert!(
        !segment.dimension_names().contains(&"flags".to_string()),
        "a dimension with no values is omitted"
    );
    let actual = dumped_rows(&segment);
    assert_eq!(actual.len(), expected.len());
    for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(a, e, "row {i}");
    }
}

#[test]
fn generated_rows_with_multi_values_nulls_and_non_ascii_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = mixed_events(20_000);
    std::fs::write(tmp.path().join("events.json"), lines.join("\n")).unwrap();
    let schema = json!({
        "dataSource": "gen",
        "parser": {"type": "string", "parseSpec": {"format": "json", "timestampSpec": {"column": "ts", "format": "millis"},
            "dimensionsSpec": {"dimensions": ["single", "multi", "sparse", {"type": "long", "name": "n"}]}}},
        "metricsSpec": [
            {"type": "count", "name": "count"},
            {"type": "doubleSum", "name": "x_sum", "fieldName": "x"},
            {"type": "floatMax", "name": "x_max", "fieldName": "x"},
            {"type": "longFirst", "name": "n_first", "fieldName": "n"},
            {"type": "hyperUnique", "name": "u", "fieldName": "single"}
        ],
        "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": "MINUTE", "rollup": true}
    });
    let department = local_spec(tmp.path(), "events.json", schema, json!({}));
    let (expected, segment) = ingest_and_persist(&department, tmp.path());
    assert!(expected.len() < 20_000, "minute rollup combined rows");
    let actual = dumped_rows(&segment);
    assert_eq!(actual.len(), expected.len());
    for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(a, e, "row {i}");
    }
    let count: i64 = expected.iter().map(|r| r["count"].as_i64().unwrap()).sum();
    assert_eq!(count, 20_000);
    assert!(
        expected.iter().any(|r| r["multi"].is_array()),
        "multi-value rows present"
    );
    assert!(
        expected.iter().any(|r| r["single"].is_null()),
        "empty strings read as null"
    );
}

/// `multiValueHandling: ARRAY`: each row's values stay in input order, duplicates included,
/// through ingest, persist and merge; lists differing only in order are different rows.
#[test]
fn array_multi_values_keep_their_order_through_persist_and_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = json!({
        "dataSource": "arr",
        "parser": {"type": "string", "parseSpec": {"format": "json", "timestampSpec": {"column": "ts", "format": "millis"},
            "dimensionsSpec": {"dimensions": [{"type": "string", "name": "tags", "multiValueHandling": "ARRAY"}]}}},
        "metricsSpec": [{"type": "count", "name": "count"}],
        "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": "MINUTE", "rollup": true}
    });
    let t0 = 1_442_016_000_000i64;
    let pieces = [
        vec![
            (t0, json!(["z", "a", "z"])),
            (t0 + 60_000, json!(["b", "", "a"])),
        ],
        vec![
            (t0 + 1, json!(["a", "z"])),
            (t0 + 60_001, json!(["z", "a", "z"])),
            (t0 + 2, json!(["z", "a", "z"])),
        ],
    ];
    let segments: Vec<Segment> = pieces
        .iter()
        .enumerate()
        .map(|(i, events)| {
            let dir = tmp.path().join(format!("p{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let lines: Vec<String> = events
                .iter()
                .map(|(ts, tags)| json!({"ts": ts, "tags": tags}).to_string())
                .collect();
            std::fs::write(dir.join("events.json"), lines.join("\n")).unwrap();
            let department = local_spec(&dir, "events.json", schema.clone(), json!({}));
            ingest_and_persist(&department, &dir).1
        })
        .collect();
    let combiners = [("count".to_string(), MetricCombiner::LongSum)];
    let merged = merge_segments(&segments, &combiners, true, SegmentOutput::Memory).unwrap();
    let merged = Segment::from_written(merged).unwrap();
    let Some(Column::String(tags)) = merged.column("tags").unwrap() else {
        panic!("`tags` is a string column")
    };
    assert!(tags.has_bitmap_index());
    let mut ids = Vec::new();
    for id in 0..tags.dictionary().len() {
        let rows_with_id: Vec<u32> = (0..merged.num_rows())
            .filter(|row| {
                tags.row_ids(*row, &mut ids).unwrap();
                ids.contains(&id)
            })
            .collect();
        let bitmap = tags.bitmap(id).unwrap();
        assert_eq!(bitmap.iter().collect::<Vec<_>>(), rows_with_id, "id {id}");
    }
    let rows: Vec<(i64, Value, i64)> = dumped_rows(&merged)
        .iter()
        .map(|r| {
            (
                (r["__time"].as_i64().unwrap() - t0) / 60_000,
                r["tags"].clone(),
                r["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (0, json!(["a", "z"]), 1),
            (0, json!(["z", "a", "z"]), 2),
            (1, json!(["b", null, "a"]), 1),
            (1, json!(["z", "a", "z"]), 1),
        ]
    );
}

/// The column descriptor JSON exactly as stored: the serialized string at the start of the
/// column's internal file.
fn raw_descriptor(dir: &Path, column: &str) -> String {
    let meta = std::fs::read_to_string(dir.join("meta.smoosh")).unwrap();
    let line = meta
        .lines()
        .find(|l| l.split(',').next() == Some(column))
        .unwrap();
    let start: usize = line.split(',').nth(2).unwrap().parse().unwrap();
    let chunk = std::fs::read(dir.join("00000.smoosh")).unwrap();
    let len = u32::from_be_bytes(chunk[start..start + 4].try_into().unwrap()) as usize;
    String::from_utf8(chunk[start + 4..start + 4 + len].to_vec()).unwrap()
}

/// Druid's own segment of one row, re-created by ingesting that row with its schema.
#[test]
fn druid_row_is_written_with_druids_layout() {
    let druid_dir = shared("druid/segments/druid-v9SegmentPersistDir-segment");
    let druid = Segment::open(&druid_dir).unwrap();
    let druid_meta = druid.metadata().expect("druid segment has metadata.drd");
    assert_eq!(druid_meta.rollup, Some(true));
    let tmp = tempfile::tempdir().unwrap();
    let event = json!({"timestamp": "2018-01-01T01:01:35Z", "srcIP": "1.1.1.1", "dstIP": "2.2.2.2", "packets": 20, "bytes": 9024});
    std::fs::write(tmp.path().join("row.json"), event.to_string()).unwrap();
    let schema = json!({
        "dataSource": "rollup",
        "parser": {"type": "string", "parseSpec": {"format": "json", "timestampSpec": {"column": "timestamp", "format": "iso"},
            "dimensionsSpec": {"dimensions": druid.dimension_names()}}},
        "metricsSpec": [
            {"type": "count", "name": "count"},
            {"type": "longSum", "name": "sum_bytes", "fieldName": "bytes"},
            {"type": "longSum", "name": "sum_packets", "fieldName": "packets"}
        ],
        "granularitySpec": {"segmentGranularity": "HOUR", "queryGranularity": "HOUR", "rollup": true}
    });
    let department = local_spec(tmp.path(), "row.json", schema, json!({}));
    let (_, ours) = ingest_and_persist(&department, tmp.path());
    let ours_dir = tmp.path().join("segment");

    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_to_string(dir.join("meta.smoosh"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&ours_dir), names(&druid_dir));
    assert_eq!(ours.dimension_names(), druid.dimension_names());
    assert_eq!(ours.metric_names(), druid.metric_names());
    assert_eq!(ours.column_names(), druid.column_names());
    assert_eq!(ours.interval(), druid.interval());
    for column in druid
        .column_names()
        .iter()
        .chain(std::iter::once(&"__time".to_string()))
    {
        let theirs = raw_descriptor(&druid_dir, column);
        let mine = raw_descriptor(&ours_dir, column);
        assert_eq!(
            mine,
            theirs.replace(r#"{"type":"concise"}"#, r#"{"type":"roaring"}"#),
            "{column}"
        );
    }
    assert_eq!(ours.metadata().unwrap().to_json(), druid_meta.to_json());
    assert_eq!(dumped_rows(&ours), dumped_rows(&druid));
}
