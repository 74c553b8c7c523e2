//! Tests of the segment reader's page handling: windowed checksum verification and released
//! pages.

use super::*;
use crate::segment::{
    MetricCell, MetricKind, MetricSchema, RowRef, SegmentOutput, SegmentSchema, SegmentWriter,
    WriteOptions,
};

/// Writes a directory segment of 50,000 rows whose long metric `m` is `row * 3`.
fn write_long_segment(dir: &Path) {
    let schema = SegmentSchema {
        interval: crate::time::Interval::new(0, crate::time::DAY_MS),
        dimensions: Vec::new(),
        metrics: vec![MetricSchema {
            name: "m".into(),
            kind: MetricKind::Long,
        }],
        metadata: None,
    };
    let output = SegmentOutput::Directory(dir.to_path_buf());
    let mut writer =
        SegmentWriter::new(schema, Vec::new(), output, WriteOptions::default()).unwrap();
    for row in 0..50_000i64 {
        let metrics = [MetricCell::Long(row * 3)];
        let time_ms = row;
        writer
            .add_row(RowRef {
                time_ms,
                dims: &[],
                metrics: &metrics,
            })
            .unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn released_pages_read_back_the_same_values() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("segment");
    write_long_segment(&dir);
    let segment = Segment::open(&dir).unwrap();
    assert!(
        !segment.inner.maps.is_empty(),
        "a directory segment is mapped"
    );
    let Some(Column::Long(column)) = segment.column("m").unwrap() else {
        panic!("long column m");
    };
    for round in 0..3 {
        for row in (0..50_000u32).step_by(997) {
            assert_eq!(
                column.get(row).unwrap(),
                i64::from(row) * 3,
                "round {round}"
            );
        }
        segment.release_pages();
    }
}

#[test]
fn windowed_verification_hashes_every_window_and_names_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000.smoosh");
    let content: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let mmap = map_file(&path).unwrap().unwrap();
    let check = checksum::FileChecksum::of("00000.smoosh", &content);
    for window_bytes in [1, 4096, 4097, 99_999, 100_000, 1 << 20] {
        verify_mapped_in_windows(&check, &mmap, window_bytes).unwrap();
    }
    let mut flipped = content.clone();
    flipped[77_777] ^= 1;
    let wrong = checksum::FileChecksum::of("00000.smoosh", &flipped);
    let err = verify_mapped_in_windows(&wrong, &mmap, 4096).unwrap_err();
    assert!(err.to_string().contains("00000.smoosh"), "{err}");
    // The released pages read back the same bytes.
    assert_eq!(&mmap[..], &content[..]);
}

#[test]
fn a_directory_opened_unhashed_reads_the_same_and_a_checked_open_names_a_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("segment");
    write_long_segment(&dir);
    let unhashed = Segment::open_unhashed(&dir).unwrap();
    let Some(Column::Long(column)) = unhashed.column("m").unwrap() else {
        panic!("long column m");
    };
    assert_eq!(column.get(49_999).unwrap(), 49_999 * 3);
    drop(unhashed);
    // A byte of the chunk changes afterwards (the disk, not the writer): the next open names
    // the file, while opening it unhashed does not read the changed bytes.
    let chunk = dir.join("00000.smoosh");
    let mut bytes = std::fs::read(&chunk).unwrap();
    let middle = bytes.len() / 2; // inside the column's compressed blocks, read lazily
    bytes[middle] ^= 0x40;
    std::fs::write(&chunk, &bytes).unwrap();
    let err = Segment::open(&dir).unwrap_err().to_string();
    assert!(err.contains("00000.smoosh"), "{err}");
    assert!(Segment::open_unhashed(&dir).is_ok());
}
