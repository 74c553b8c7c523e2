//! Packaging: `index.zip` + `descriptor.json` from a written segment, read back through the zip.

mod common;

use rtnode::segment::descriptor::{DataSegment, ShardSpec};
use rtnode::segment::package::package;
use rtnode::segment::{Segment, SegmentOutput, WriteOptions, dump};

#[test]
fn packaged_segment_reads_back_from_its_zip() {
    let rows = common::generate(5_000, 40, 21);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("seg");
    let written = common::write(
        &rows,
        SegmentOutput::Directory(dir.clone()),
        WriteOptions::default(),
    );
    let template = DataSegment::unpushed("wiki", written.interval, "v1", ShardSpec::None);
    let packaged = package(&dir, &tmp.path().join("out"), &template).unwrap();
    let file_sizes: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(packaged.descriptor.size_bytes, file_sizes);
    assert_eq!(packaged.descriptor.binary_version, Some(9));
    assert_eq!(
        packaged.descriptor.dimensions,
        ["page", "tags", "n", "ratio"]
    );
    let on_disk: DataSegment =
        serde_json::from_slice(&std::fs::read(&packaged.descriptor_path).unwrap()).unwrap();
    assert_eq!(on_disk, packaged.descriptor);
    let from_zip = Segment::open_zip(&packaged.zip_path).unwrap();
    assert_eq!(common::read(&from_zip), rows);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    dump::dump_rows(&packaged.zip_path, &mut a).unwrap();
    dump::dump_rows(&dir, &mut b).unwrap();
    assert_eq!(a, b);
}
