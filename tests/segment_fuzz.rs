//! Byte-flip and truncation fuzzing of segment files: over a million seeded, deterministic cases
//! on the real Druid segments and on segments written here. Each case opens the mutated segment
//! from memory and decodes every column fully; any result is fine except a panic.

mod common;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::Rng;
use rtnode::segment::compression::Compression;
use rtnode::segment::writer::{LongEncoding, MemorySegment};
use rtnode::segment::{Column, Segment, SegmentOutput, WriteOptions, WrittenData, WrittenSegment};
use rtnode::time::Interval;

const CASES: u64 = 1_000_000;

fn shared(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/druid/segments")
        .join(path)
}

fn files_of(dir: &Path) -> Vec<(String, Bytes)> {
    ["version.bin", "meta.smoosh", "00000.smoosh"]
        .iter()
        .map(|name| {
            (
                name.to_string(),
                Bytes::from(std::fs::read(dir.join(name)).unwrap()),
            )
        })
        .collect()
}

fn druid_segments() -> Vec<Vec<(String, Bytes)>> {
    let mut out = Vec::new();
    for dir in [
        "druid-v8SegmentPersistDir",
        "druid-v9SegmentPersistDir-segment",
    ] {
        out.push(files_of(&shared(dir)));
    }
    for zip in [
        "druid-indexing-hadoop-test-segment/index.zip",
        "druid-spark-connector-spark_druid_test/2020-01-02_2020-01-03_v0_part0_index.zip",
        "druid-spark-connector-spark_druid_test/2020-01-01_2020-01-02_v0_part1_index.zip",
    ] {
        let extracted = rtnode::segment::package::extract_zip_to_temp(&shared(zip)).unwrap();
        out.push(files_of(extracted.path()));
    }
    out
}

fn options(dims: Compression, metrics: Compression, longs: LongEncoding) -> WriteOptions {
    WriteOptions {
        dimension_compression: dims,
        metric_compression: metrics,
        long_encoding: longs,
        bitmap_index: true,
    }
}

/// Segments written here: LZ4, uncompressed blocks, and the in-place layouts (plain ids, the
/// entire layout, bit-packed table and delta longs).
fn written_segments() -> Vec<Vec<(String, Bytes)>> {
    use Compression::{Lz4, None as Entire, Uncompressed};
    use LongEncoding::{Auto, Longs};
    [
        (12, 5, options(Lz4, Lz4, Longs)),
        (40, 300, options(Lz4, Lz4, Longs)),
        (9, 3, options(Uncompressed, Uncompressed, Longs)),
        // The in-place layouts with bit-packed longs (the hydrant default until 2026-12-04),
        // then today's hydrant default: the same with 8-byte longs and without bitmap indexes
        // (built from the ids on first use, from the flipped bytes here).
        (30, 7, options(Uncompressed, Entire, Auto)),
        (25, 40, options(Lz4, Uncompressed, Auto)),
        (20, 9, WriteOptions::HYDRANT_DEFAULT),
    ]
    .into_iter()
    .map(|(rows, pages, options)| {
        match common::write(
            &common::generate(rows, pages, rows as u64),
            SegmentOutput::Memory,
            options,
        )
        .data
        {
            WrittenData::Memory(memory) => memory.files,
            _ => unreachable!("memory output"),
        }
    })
    .collect()
}

fn open(files: Vec<(String, Bytes)>) -> Result<Segment, rtnode::segment::SegmentError> {
    let written = WrittenSegment {
        data: WrittenData::Memory(MemorySegment { files }),
        num_rows: 0,
        size_bytes: 0,
        interval: Interval::new(0, 0),
        dimensions: Vec::new(),
        metrics: Vec::new(),
    };
    Segment::from_written(written)
}

/// Decodes every value of every column; returns how many values decoded.
fn decode_everything(segment: &Segment) -> usize {
    let mut decoded = 0;
    let _ = segment
        .time_column()
        .for_each_block(0, |_, values| decoded += values.len());
    let names: Vec<String> = segment.column_names().to_vec();
    let mut ids = Vec::new();
    for name in names {
        let Ok(Some(column)) = segment.column(&name) else {
            continue;
        };
        let rows = segment.num_rows();
        let all: Vec<u32> = (0..rows).step_by(3).collect();
        match column {
            Column::Long(c) => {
                decoded += (0..rows).filter(|r| c.get(*r).is_ok()).count();
                let _ = c.gather(&all, |_, _| decoded += 1);
            }
            Column::Float(c) => decoded += (0..rows).filter(|r| c.get(*r).is_ok()).count(),
            Column::Double(c) => {
                let _ = c.for_each_block(0, |_, values| decoded += values.len());
            }
            Column::Complex(c) => decoded += (0..rows).filter(|r| c.get(*r).is_ok()).count(),
            Column::String(c) => {
                for row in 0..rows {
                    decoded += c.row_ids(row, &mut ids).map(|_| ids.len()).unwrap_or(0);
                }
                let _ = c.for_each_id_block(0, |_, values| decoded += values.len());
                let _ = c.gather_ids(&all, |_, _| decoded += 1);
                for id in 0..c.dictionary().len().min(1000) {
                    decoded += usize::from(c.dictionary().get(id).is_ok());
                    decoded += c.bitmap(id).map(|b| b.len() as usize).unwrap_or(0);
                }
                let _ = c.dictionary().index_of(Some("dim10"));
            }
        }
    }
    decoded
}

fn mutate(rng: &mut Rng, files: &[(String, Bytes)]) -> Vec<(String, Bytes)> {
    let mut out = files.to_vec();
    let target = match rng.below(20) {
        0 => 0,
        1 | 2 => 1,
        _ => 2,
    };
    let mut bytes = out[target].1.to_vec();
    match rng.below(4) {
        0 if !bytes.is_empty() => bytes.truncate(rng.below(bytes.len() as u64) as usize),
        _ => {
            for _ in 0..rng.below(4) + 1 {
                if bytes.is_empty() {
                    break;
                }
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] = match rng.below(3) {
                    0 => bytes[at] ^ (1 << rng.below(8)),
                    1 => 0xFF,
                    _ => rng.next() as u8,
                };
            }
        }
    }
    out[target].1 = Bytes::from(bytes);
    out
}

#[test]
fn mutated_segments_never_panic() {
    let mut bases = druid_segments();
    bases.extend(written_segments());
    for base in &bases {
        let segment = open(base.clone()).expect("unmutated segments open");
        assert!(decode_everything(&segment) > 0);
    }
    assert_eq!(bases.len(), 11, "the case schedule below indexes 11 bases");
    let mut rng = Rng(0x5EED_CAFE_F00D);
    let (mut opened, mut failed) = (0u64, 0u64);
    for case in 0..CASES {
        // The two oldest segments pad their last blocks to 64 KiB, which makes each case ~20x
        // dearer; they get 1 case in 32 each so the test stays within its time budget.
        let index = match case % 32 {
            0 => 0,
            1 => 2,
            _ => [1, 3, 4, 5, 6, 7, 8, 9, 10][(case % 9) as usize],
        };
        let base = &bases[index];
        match open(mutate(&mut rng, base)) {
            Ok(segment) => {
                decode_everything(&segment);
                opened += 1;
            }
            Err(_) => failed += 1,
        }
    }
    assert_eq!(opened + failed, CASES);
    assert!(
        opened > CASES / 10 && failed > CASES / 10,
        "opened {opened}, failed {failed}"
    );
}
