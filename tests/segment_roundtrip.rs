//! Writer round trips through the reader, integrity checks, and a byte-level comparison with a
//! segment written by Druid.

mod common;

use std::path::PathBuf;

use bytes::Bytes;
use common::{every_write_options, generate, read, write, write_in_batches};
use rtnode::segment::column_descriptor::ColumnDescriptor;
use rtnode::segment::compression::Compression;
use rtnode::segment::format::Cursor;
use rtnode::segment::index_drd::IndexDrd;
use rtnode::segment::smoosh::SmooshMeta;
use rtnode::segment::writer::LongEncoding;
use rtnode::segment::{
    Column, Dictionary, DimCell, DimensionKind, DimensionSchema, MetricCell, MetricKind,
    MetricSchema, MetricValues, RowBatch, RowRef, Segment, SegmentError, SegmentOutput,
    SegmentSchema, SegmentWriter, WriteOptions, WrittenData, WrittenSegment,
};

#[test]
fn large_segment_round_trips_through_a_directory() {
    let rows = generate(70_000, 400, 7);
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("seg");
    let written = write(
        &rows,
        SegmentOutput::Directory(target.clone()),
        WriteOptions::default(),
    );
    assert_eq!(written.num_rows, 70_000);
    assert_eq!(written.dimensions, ["page", "tags", "n", "ratio"]);
    let mut names: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "00000.smoosh",
            "factory.json",
            "meta.smoosh",
            "rtnode.crc32",
            "version.bin"
        ]
    );
    let size: u64 = names
        .iter()
        .filter(|n| *n != "rtnode.crc32")
        .map(|n| std::fs::metadata(target.join(n)).unwrap().len())
        .sum();
    assert_eq!(written.size_bytes, size);
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary directory remains: {leftovers:?}"
    );
    let segment = Segment::from_written(written).unwrap();
    assert_eq!(read(&segment), rows);
    assert_eq!(segment.dimension_names(), ["page", "tags", "n", "ratio"]);
    assert_eq!(
        segment.column_names(),
        [
            "blob", "count", "sum_d", "sum_f", "page", "tags", "n", "ratio"
        ]
    );
}

#[test]
fn segments_round_trip_with_every_compression_and_encoding() {
    // 0 rows, 1 row, exact block boundaries (8192 longs, 16384 packed 16-bit values), and more.
    for count in [0usize, 1, 8192, 16_384, 20_000] {
        // A column whose rows are all empty is omitted and reads back as null: keep some tags.
        let rows = (11..)
            .map(|seed| generate(count, 70_000, seed))
            .find(|rows| count == 0 || rows.iter().any(|r| !r.tags.is_empty()))
            .unwrap();
        for options in every_write_options() {
            let tmp = tempfile::tempdir().unwrap();
            let output = match count % 3 {
                0 => SegmentOutput::Directory(tmp.path().join("seg")),
                1 => SegmentOutput::Zip {
                    zip_path: tmp.path().join("index.zip"),
                    scratch_dir: tmp.path().join("scratch"),
                },
                _ => SegmentOutput::Memory,
            };
            let segment = Segment::from_written(write(&rows, output, options)).unwrap();
            assert_eq!(read(&segment), rows, "{count} rows, {options:?}");
        }
    }
}

fn memory_files(written: WrittenSegment) -> Vec<(String, Bytes)> {
    match written.data {
        WrittenData::Memory(segment) => segment.files,
        other => panic!("expected memory, got {other:?}"),
    }
}

#[test]
fn batches_write_the_bytes_of_rows_added_one_at_a_time() {
    // Block boundaries (8192 longs, 16384 packed values) and, for one layout, more rows than a
    // bitmap window (1 Mi ids), so that a batch straddles a window flush.
    let mut cases: Vec<(usize, WriteOptions)> = [0usize, 1, 8192, 20_000]
        .into_iter()
        .flat_map(|count| every_write_options().into_iter().map(move |o| (count, o)))
        .collect();
    cases.push(((1 << 20) + 5_000, WriteOptions::default()));
    for (count, options) in cases {
        let rows = generate(count, 70_000, 5);
        let one_at_a_time = memory_files(write(&rows, SegmentOutput::Memory, options));
        let batch_sizes: &[usize] = if count > 100_000 {
            &[4099]
        } else {
            &[1, 7, 4096]
        };
        for &batch_rows in batch_sizes {
            let batched = write_in_batches(&rows, SegmentOutput::Memory, options, Some(batch_rows));
            assert!(
                memory_files(batched) == one_at_a_time,
                "{count} rows in batches of {batch_rows}, {options:?}: the bytes differ"
            );
        }
    }
}

/// A writer of the test schema whose `page` dictionary is `[null, "x"]` and `tags` `["t"]`.
fn small_writer() -> SegmentWriter {
    let dictionaries = vec![
        Some(Dictionary(vec![None, Some("x".into())])),
        Some(Dictionary(vec![Some("t".into())])),
        Some(Dictionary(vec![None])),
        None,
        None,
    ];
    SegmentWriter::new(
        common::schema(),
        dictionaries,
        SegmentOutput::Memory,
        WriteOptions::default(),
    )
    .unwrap()
}

#[test]
fn writer_refuses_batches_that_break_the_schema() {
    let mut writer = small_writer();
    let metrics = [
        MetricCell::Long(1),
        MetricCell::Float(1.0),
        MetricCell::Double(1.0),
        MetricCell::Complex(b"\x01"),
    ];
    let row = |time_ms, page: &'static [u32]| -> RowBatch {
        let mut batch = RowBatch::for_schema(&common::schema());
        let dims = [
            DimCell::Ids(page),
            DimCell::Ids(&[0]),
            DimCell::Ids(&[0]),
            DimCell::Long(1),
            DimCell::Double(1.0),
        ];
        batch
            .push_row(RowRef {
                time_ms,
                dims: &dims,
                metrics: &metrics,
            })
            .unwrap();
        batch
    };
    writer.add_batch(&row(10, &[1])).unwrap();
    let refused = |writer: &mut SegmentWriter, batch: &RowBatch, why: &str| {
        let result = writer.add_batch(batch);
        assert!(
            matches!(result, Err(SegmentError::InvalidInput(_))),
            "{why}: {result:?}"
        );
    };
    refused(&mut writer, &row(10, &[2]), "id beyond the dictionary");
    refused(&mut writer, &row(9, &[1]), "time goes backwards");
    let mut short = row(10, &[1]);
    short.times_ms.push(11);
    refused(&mut writer, &short, "a column shorter than the batch");
    let mut wrong_kind = row(10, &[1]);
    wrong_kind.metrics[0] = MetricValues::Double(vec![1.0]);
    refused(&mut writer, &wrong_kind, "a metric of another kind");
    let mut bad_ends = row(10, &[1]);
    bad_ends.metrics[3] = MetricValues::Complex {
        bytes: vec![1, 2],
        ends: vec![1],
    };
    refused(
        &mut writer,
        &bad_ends,
        "list ends that do not cover the values",
    );
    let mut batch = row(11, &[1]);
    let before = batch.clone();
    let two_pages = [
        DimCell::Ids(&[0, 1]),
        DimCell::Ids(&[0]),
        DimCell::Ids(&[0]),
        DimCell::Long(1),
        DimCell::Double(1.0),
    ];
    let two = RowRef {
        time_ms: 11,
        dims: &two_pages,
        metrics: &metrics,
    };
    assert!(
        batch.push_row(two).is_err(),
        "two ids for a single-value dimension"
    );
    // Refused at the last metric, after every dimension (the lists too) took its cell.
    let good_dims = [
        DimCell::Ids(&[1]),
        DimCell::Ids(&[0, 0]),
        DimCell::Ids(&[0]),
        DimCell::Long(1),
        DimCell::Double(1.0),
    ];
    let mut long_blob = metrics;
    long_blob[3] = MetricCell::Long(5);
    let late = RowRef {
        time_ms: 11,
        dims: &good_dims,
        metrics: &long_blob,
    };
    assert!(batch.push_row(late).is_err(), "a long for a complex metric");
    assert_eq!(batch, before, "a refused row leaves the batch unchanged");
    // Nothing refused was written: the segment holds the two good rows only.
    writer.add_batch(&row(12, &[0])).unwrap();
    let segment = Segment::from_written(writer.finish().unwrap()).unwrap();
    assert_eq!(segment.num_rows(), 2);
    let Some(Column::Long(time)) = segment.column("__time").unwrap() else {
        panic!("no time column");
    };
    assert_eq!([time.get(0).unwrap(), time.get(1).unwrap()], [10, 12]);
}

fn rows_interval(rows: &[common::TestRow]) -> rtnode::time::Interval {
    rtnode::time::Interval::new(rows[0].time_ms, rows[rows.len() - 1].time_ms + 1)
}

#[test]
fn lzf_and_dimension_none_are_refused_by_the_writer() {
    let rows = generate(10, 10, 1);
    for (dimension_compression, metric_compression) in [
        (Compression::Lzf, Compression::Lz4),
        (Compression::Lz4, Compression::Lzf),
        (Compression::None, Compression::Lz4),
    ] {
        let options = WriteOptions {
            dimension_compression,
            metric_compression,
            long_encoding: LongEncoding::Longs,
            bitmap_index: true,
        };
        let schema = SegmentSchema {
            interval: rows_interval(&rows),
            dimensions: Vec::new(),
            metrics: Vec::new(),
            metadata: None,
        };
        let result = SegmentWriter::new(schema, Vec::new(), SegmentOutput::Memory, options);
        assert!(
            matches!(result, Err(SegmentError::InvalidInput(_))),
            "{options:?} must be refused"
        );
    }
}

#[test]
fn bitmaps_and_block_scans_agree_with_row_ids() {
    let rows = generate(40_000, 300, 3);
    let segment =
        Segment::from_written(write(&rows, SegmentOutput::Memory, WriteOptions::default()))
            .unwrap();
    let Some(Column::String(page)) = segment.column("page").unwrap() else {
        panic!()
    };
    let mut by_scan = vec![u32::MAX; rows.len()];
    page.for_each_id_block(0, |range, ids| {
        by_scan[range.start as usize..range.end as usize].copy_from_slice(ids)
    })
    .unwrap();
    for id in 0..page.dictionary().len() {
        let bitmap = page.bitmap(id).unwrap();
        let expected: Vec<u32> = (0..rows.len() as u32)
            .filter(|r| by_scan[*r as usize] == id)
            .collect();
        assert_eq!(bitmap.iter().collect::<Vec<_>>(), expected);
    }
    let mut ids = Vec::new();
    for row in 0..rows.len() as u32 {
        page.row_ids(row, &mut ids).unwrap();
        assert_eq!(page.single_id(row).unwrap(), Some(ids[0]), "row {row}");
    }
    assert!(page.single_id(rows.len() as u32).is_err());
    let Some(Column::String(tags)) = segment.column("tags").unwrap() else {
        panic!()
    };
    assert_eq!(
        tags.single_id(0).unwrap(),
        None,
        "multi-value columns have no single id"
    );
    let null_rows = tags.bitmap(0).unwrap();
    for (row, test_row) in rows.iter().enumerate() {
        let has_null = test_row.tags.is_empty() || test_row.tags.iter().any(Option::is_none);
        assert_eq!(null_rows.contains(row as u32), has_null, "row {row}");
    }
    let time = segment.time_column();
    let mut count = 0;
    time.for_each_block(100, |range, values| {
        assert_eq!(values[0], rows[range.start as usize].time_ms);
        count += values.len();
    })
    .unwrap();
    assert_eq!(count, rows.len() - 100);
}

#[test]
fn checksum_side_file_detects_a_changed_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("seg");
    write(
        &generate(100, 10, 5),
        SegmentOutput::Directory(target.clone()),
        WriteOptions::default(),
    );
    let chunk = target.join("00000.smoosh");
    let mut bytes = std::fs::read(&chunk).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&chunk, bytes).unwrap();
    let error = Segment::open(&target).unwrap_err();
    assert!(
        matches!(&error, SegmentError::ChecksumMismatch { file, .. } if file == "00000.smoosh"),
        "{error}"
    );
    assert!(
        SegmentWriter::new(
            common::schema(),
            vec![],
            SegmentOutput::Directory(target),
            WriteOptions::default()
        )
        .is_err()
    );
}

#[test]
fn writer_rejects_rows_that_break_the_schema() {
    let mut writer = small_writer();
    let metrics = [
        MetricCell::Long(1),
        MetricCell::Float(1.0),
        MetricCell::Double(1.0),
        MetricCell::Complex(b""),
    ];
    let good = [
        DimCell::Ids(&[1]),
        DimCell::Ids(&[]),
        DimCell::Ids(&[0]),
        DimCell::Long(1),
        DimCell::Double(1.0),
    ];
    writer
        .add_row(RowRef {
            time_ms: 10,
            dims: &good,
            metrics: &metrics,
        })
        .unwrap();
    let bad_rows: [[DimCell; 5]; 3] = [
        [
            DimCell::Ids(&[2]),
            DimCell::Ids(&[]),
            DimCell::Ids(&[0]),
            DimCell::Long(1),
            DimCell::Double(1.0),
        ],
        [
            DimCell::Ids(&[0, 1]),
            DimCell::Ids(&[]),
            DimCell::Ids(&[0]),
            DimCell::Long(1),
            DimCell::Double(1.0),
        ],
        [
            DimCell::Ids(&[0]),
            DimCell::Ids(&[]),
            DimCell::Ids(&[0]),
            DimCell::Float(1.0),
            DimCell::Double(1.0),
        ],
    ];
    for dims in &bad_rows {
        assert!(matches!(
            writer.add_row(RowRef {
                time_ms: 10,
                dims,
                metrics: &metrics
            }),
            Err(SegmentError::InvalidInput(_))
        ));
    }
    assert!(
        writer
            .add_row(RowRef {
                time_ms: 9,
                dims: &good,
                metrics: &metrics
            })
            .is_err(),
        "time goes backwards"
    );
    let unsorted = vec![
        Some(Dictionary(vec![Some("b".into()), Some("a".into())])),
        Some(Dictionary(vec![])),
        Some(Dictionary(vec![])),
        None,
        None,
    ];
    assert!(
        SegmentWriter::new(
            common::schema(),
            unsorted,
            SegmentOutput::Memory,
            WriteOptions::default()
        )
        .is_err()
    );
}

fn druid_segment() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/druid/segments/druid-v9SegmentPersistDir-segment")
}

/// Returns `(meta.smoosh, chunk)` of a segment directory.
fn smoosh_of(dir: &std::path::Path) -> (SmooshMeta, Bytes) {
    let meta =
        SmooshMeta::parse(&std::fs::read_to_string(dir.join("meta.smoosh")).unwrap()).unwrap();
    (
        meta,
        Bytes::from(std::fs::read(dir.join("00000.smoosh")).unwrap()),
    )
}

fn internal(meta: &SmooshMeta, chunk: &Bytes, name: &str) -> Bytes {
    let entry = meta.find(name).unwrap();
    chunk.slice(entry.start as usize..entry.end as usize)
}

#[test]
fn single_row_matches_druids_own_segment() {
    let druid = Segment::open(&druid_segment()).unwrap();
    let schema = SegmentSchema {
        interval: druid.interval(),
        dimensions: ["dstIP", "srcIP"]
            .map(|n| DimensionSchema {
                name: n.into(),
                kind: DimensionKind::String,
                has_multiple_values: false,
                bitmap_index: true,
            })
            .to_vec(),
        metrics: ["count", "sum_bytes", "sum_packets"]
            .map(|n| MetricSchema {
                name: n.into(),
                kind: MetricKind::Long,
            })
            .to_vec(),
        metadata: druid.metadata().cloned(),
    };
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("ours");
    let dictionaries = vec![
        Some(Dictionary(vec![Some("2.2.2.2".into())])),
        Some(Dictionary(vec![Some("1.1.1.1".into())])),
    ];
    let mut writer = SegmentWriter::new(
        schema,
        dictionaries,
        SegmentOutput::Directory(target.clone()),
        WriteOptions::default(),
    )
    .unwrap();
    let metrics = [
        MetricCell::Long(1),
        MetricCell::Long(9024),
        MetricCell::Long(20),
    ];
    writer
        .add_row(RowRef {
            time_ms: 1_514_768_400_000,
            dims: &[DimCell::Ids(&[0]), DimCell::Ids(&[0])],
            metrics: &metrics,
        })
        .unwrap();
    writer.finish().unwrap();

    let (druid_meta, druid_chunk) = smoosh_of(&druid_segment());
    let (our_meta, our_chunk) = smoosh_of(&target);
    let names = |meta: &SmooshMeta| {
        meta.entries
            .iter()
            .map(|e| e.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&our_meta), names(&druid_meta));
    // Same write order: offsets of every column start in the same sequence.
    let order = |meta: &SmooshMeta| {
        let mut entries = meta.entries.clone();
        entries.sort_by_key(|e| e.start);
        entries.into_iter().map(|e| e.name).collect::<Vec<_>>()
    };
    assert_eq!(order(&our_meta), order(&druid_meta));
    let druid_index = IndexDrd::parse(&internal(&druid_meta, &druid_chunk, "index.drd")).unwrap();
    let our_index = IndexDrd::parse(&internal(&our_meta, &our_chunk, "index.drd")).unwrap();
    assert_eq!(
        (
            &our_index.columns,
            &our_index.dimensions,
            our_index.interval
        ),
        (
            &druid_index.columns,
            &druid_index.dimensions,
            druid_index.interval
        )
    );
    assert_eq!(
        internal(&our_meta, &our_chunk, "metadata.drd"),
        internal(&druid_meta, &druid_chunk, "metadata.drd")
    );
    for name in [
        "__time",
        "count",
        "sum_bytes",
        "sum_packets",
        "dstIP",
        "srcIP",
    ] {
        let descriptor = |meta: &SmooshMeta, chunk: &Bytes| {
            let bytes = internal(meta, chunk, name);
            let text = Cursor::new(&bytes)
                .string("descriptor")
                .unwrap()
                .to_string();
            ColumnDescriptor::from_json_str(&text).unwrap();
            text
        };
        // Druid 0.21 wrote concise bitmaps; this writer writes roaring. Everything else is equal.
        let druid_text = descriptor(&druid_meta, &druid_chunk)
            .replace(r#"{"type":"concise"}"#, r#"{"type":"roaring"}"#);
        assert_eq!(
            descriptor(&our_meta, &our_chunk),
            druid_text,
            "column `{name}`"
        );
    }
    // The long columns are byte-identical up to the LZ4 block content (same header, same sizes).
    let ours = internal(&our_meta, &our_chunk, "sum_bytes");
    let theirs = internal(&druid_meta, &druid_chunk, "sum_bytes");
    let header_len = 4 + 100 + 10;
    assert_eq!(ours[..header_len], theirs[..header_len]);
    let mut druid_rows = Vec::new();
    rtnode::segment::dump::write_rows(&druid, &mut druid_rows).unwrap();
    let mut our_rows = Vec::new();
    rtnode::segment::dump::write_rows(&Segment::open(&target).unwrap(), &mut our_rows).unwrap();
    assert_eq!(
        String::from_utf8(our_rows).unwrap(),
        String::from_utf8(druid_rows).unwrap()
    );
}
