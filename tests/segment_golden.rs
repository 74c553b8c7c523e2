//! Golden tests: rtnode's reader against segments written by real Druid, read in place from
//! `../shared/druid/segments` (expected rows from that folder's README, `note` and
//! `descriptor.json`).

use std::path::PathBuf;

use rtnode::segment::descriptor::DataSegment;
use rtnode::segment::{Column, Segment, SegmentError, dump};
use serde_json::{Value, json};

fn shared(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/druid/segments")
        .join(path)
}

fn dumped_rows(path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    dump::dump_rows(&shared(path), &mut out).unwrap_or_else(|e| panic!("{path}: {e}"));
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A float metric as the dump prints it (the f32 widened to f64).
fn f(value: f32) -> Value {
    json!(value as f64)
}

#[test]
fn hadoop_2015_segment_dumps_the_documented_rows() {
    let rows = dumped_rows("druid-indexing-hadoop-test-segment/index.zip");
    let expected = [
        (1_413_936_000_000i64, "a.example.com", 100),
        (1_413_939_600_000, "b.example.com", 150),
        (1_413_943_200_000, "c.example.com", 200),
    ];
    assert_eq!(rows.len(), 3);
    for (row, (time, host, visited)) in rows.iter().zip(expected) {
        assert_eq!(row["__time"], json!(time));
        assert_eq!(row["host"], json!(host));
        assert_eq!(row["visited_sum"], json!(visited));
    }
    // `note`: each unique_hosts value is an HLL sketch of cardinality 1: a sparse v1 collector with
    // exactly one non-zero register.
    let note = std::fs::read_to_string(shared("druid-indexing-hadoop-test-segment/note")).unwrap();
    assert_eq!(note.matches("HLL sketch of cardinality 1").count(), 3);
    let segment =
        Segment::open_zip(&shared("druid-indexing-hadoop-test-segment/index.zip")).unwrap();
    let Some(Column::Complex(unique)) = segment.column("unique_hosts").unwrap() else {
        panic!("complex column")
    };
    assert_eq!(unique.type_name(), "hyperUnique");
    for row in 0..3 {
        let bytes = unique.get(row).unwrap();
        assert_eq!(
            (
                bytes[0],
                u16::from_be_bytes([bytes[2], bytes[3]]),
                bytes.len()
            ),
            (1, 1, 10)
        );
    }
    assert_eq!(
        unique.get(0).unwrap(),
        [0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x1a, 0x03]
    );
}

#[test]
fn hadoop_2015_segment_matches_its_descriptor() {
    let text =
        std::fs::read_to_string(shared("druid-indexing-hadoop-test-segment/descriptor.json"))
            .unwrap();
    let descriptor: DataSegment = serde_json::from_str(&text).unwrap();
    let segment =
        Segment::open_zip(&shared("druid-indexing-hadoop-test-segment/index.zip")).unwrap();
    assert_eq!(segment.dimension_names(), descriptor.dimensions.as_slice());
    let mut metrics = descriptor.metrics.clone();
    metrics.sort();
    assert_eq!(segment.metric_names(), metrics.as_slice());
    assert_eq!(descriptor.binary_version, Some(9));
    // The 2015 writer stored the data interval [0, last row + 1 ms) in index.drd.
    assert!(descriptor.interval.contains(segment.interval().end_ms - 1));
    assert!(segment.metadata().is_none());
}

#[test]
fn v8_persist_dir_dumps_multi_value_and_null_rows() {
    let rows = dumped_rows("druid-v8SegmentPersistDir");
    let dim0 = [
        json!(["dim00", "dim01"]),
        json!([null]),
        json!(["dim00", "dim01"]),
        json!([]),
        json!([]),
        json!([]),
    ];
    let dim1 = [
        json!("dim10"),
        json!("dim10"),
        json!(null),
        json!(null),
        json!("dim10"),
        json!(null),
    ];
    assert_eq!(rows.len(), 6);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(
            row,
            &json!({"__time": 1_388_534_400_000i64 + i as i64, "dim0": dim0[i], "dim1": dim1[i], "count": 1})
        );
    }
    let segment = Segment::open(&shared("druid-v8SegmentPersistDir")).unwrap();
    let metadata = segment.metadata().unwrap();
    assert_eq!(metadata.container["key"], "value");
    assert_eq!(metadata.rollup, Some(true));
    let Some(Column::String(dim0)) = segment.column("dim0").unwrap() else {
        panic!("string column")
    };
    assert!(dim0.is_multi_value());
    // The null entry's bitmap holds the [null] row and the empty rows.
    assert_eq!(
        dim0.bitmap(0).unwrap().iter().collect::<Vec<_>>(),
        [1, 3, 4, 5]
    );
    assert_eq!(dim0.bitmap(1).unwrap().iter().collect::<Vec<_>>(), [0, 2]);
    assert_eq!(dim0.dictionary().index_of(Some("dim01")).unwrap(), Some(2));
    assert_eq!(dim0.dictionary().index_of(None).unwrap(), Some(0));
    assert_eq!(dim0.dictionary().index_of(Some("zzz")).unwrap(), None);
}

#[test]
fn v9_persist_dir_dumps_the_rollup_tutorial_row() {
    let rows = dumped_rows("druid-v9SegmentPersistDir-segment");
    let expected = json!({"__time": 1_514_768_400_000i64, "dstIP": "2.2.2.2", "srcIP": "1.1.1.1", "count": 1, "sum_bytes": 9024, "sum_packets": 20});
    assert_eq!(rows, [expected]);
    let segment = Segment::open(&shared("druid-v9SegmentPersistDir-segment")).unwrap();
    assert_eq!(
        segment.interval().to_string(),
        "2018-01-01T01:00:00.000Z/2018-01-01T02:00:00.000Z"
    );
    let metadata = segment.metadata().unwrap();
    assert_eq!(
        metadata.query_granularity.as_ref().and_then(|g| g.name()),
        Some("HOUR")
    );
}

#[test]
fn damaged_segment_fails_naming_the_count_column() {
    let mut out = Vec::new();
    let error = dump::dump_rows(
        &shared("druid-v9SegmentPersistDir-segmentWithDamagedFile"),
        &mut out,
    )
    .unwrap_err();
    assert!(
        matches!(&error, SegmentError::Corrupt { column, .. } if column == "count"),
        "{error}"
    );
    assert!(error.to_string().contains("column `count`"));
}

#[test]
fn spark_connector_segments_dump_the_documented_rows() {
    let day1_part0 = dumped_rows(
        "druid-spark-connector-spark_druid_test/2020-01-01_2020-01-02_v0_part0_index.zip",
    );
    let day1_part1 = dumped_rows(
        "druid-spark-connector-spark_druid_test/2020-01-01_2020-01-02_v0_part1_index.zip",
    );
    let day2_part0 = dumped_rows(
        "druid-spark-connector-spark_druid_test/2020-01-02_2020-01-03_v0_part0_index.zip",
    );
    let row = |time: &str, dim1: Value, dims: [&str; 3], metrics: [i64; 3], m3: f64, m4: f32| {
        let time_ms = rtnode::time::parse_iso(time).unwrap();
        json!({"__time": time_ms, "dim1": dim1, "dim2": dims[0], "id1": dims[1], "id2": dims[2],
               "count": metrics[0], "sum_metric1": metrics[1], "sum_metric2": metrics[2], "sum_metric3": m3, "sum_metric4": f(m4)})
    };
    let strip = |rows: Vec<Value>| -> Vec<Value> {
        rows.into_iter()
            .map(|mut r| {
                assert!(r["uniq_id1"].is_string());
                r.as_object_mut().unwrap().remove("uniq_id1");
                r
            })
            .collect()
    };
    assert_eq!(
        strip(day1_part0),
        [
            row(
                "2020-01-01T00:00",
                json!("dim1"),
                ["1", "1", "2"],
                [1, 1, 3],
                4.2,
                1.7
            ),
            row(
                "2020-01-01T07:00",
                json!("dim2"),
                ["1", "1", "2"],
                [1, 4, 2],
                5.1,
                8.9
            ),
        ]
    );
    assert_eq!(
        strip(day1_part1),
        [
            row(
                "2020-01-01T04:00",
                json!("dim1"),
                ["1", "1", "2"],
                [1, 3, 1],
                0.2,
                0.0
            ),
            row(
                "2020-01-01T11:00",
                json!("dim2"),
                ["2", "1", "2"],
                [1, 1, 5],
                8.0,
                4.15
            ),
        ]
    );
    assert_eq!(
        strip(day2_part0),
        [
            row(
                "2020-01-02T11:00",
                json!(["dim1", "dim3"]),
                ["2", "3", "7"],
                [1, 2, 4],
                11.17,
                3.7
            ),
            row(
                "2020-01-02T18:00",
                json!(["dim2"]),
                ["3", "2", "1"],
                [1, 1, 7],
                0.0,
                19.0
            ),
        ]
    );
}

#[test]
fn newer_formats_fail_cleanly_naming_the_column() {
    for (path, column) in [
        ("druid-nested_segment_v4/index.zip", "__time"),
        ("druid-nested_segment_v3/index.zip", "shipTo"),
    ] {
        let mut out = Vec::new();
        let error = dump::dump_rows(&shared(path), &mut out).unwrap_err();
        assert!(
            matches!(&error, SegmentError::Unsupported { column: c, .. } if c == column),
            "{path}: {error}"
        );
    }
    assert!(
        Segment::open_path(&shared(
            "druid-nested_segment_empty_fieldname_bug/druid.segment"
        ))
        .is_err()
    );
}

#[test]
fn metadata_dump_reports_types_cardinalities_and_sizes() {
    let mut out = Vec::new();
    dump::dump_metadata(&shared("druid-v8SegmentPersistDir"), &mut out).unwrap();
    let summary: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(summary["numRows"], 6);
    assert_eq!(
        summary["columns"]["dim0"],
        json!({"type": "STRING", "hasMultipleValues": true, "hasBitmapIndexes": true, "cardinality": 3, "size": 857})
    );
    assert_eq!(summary["columns"]["count"]["type"], "LONG");
    assert_eq!(summary["columns"]["__time"]["size"], 426);
}
