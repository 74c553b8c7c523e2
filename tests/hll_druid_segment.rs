//! Reads the `unique_hosts` hyperUnique column of a segment written by Druid (~0.8, 2015) and
//! checks that hashing the row's host reproduces Druid's collector bytes exactly.

use std::io::Read;
use std::path::PathBuf;

use rtnode::hll::HyperLogLogCollector;

fn segment_zip_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/druid/segments/druid-indexing-hadoop-test-segment/index.zip")
}

fn read_zip_entry(archive: &mut zip::ZipArchive<std::fs::File>, name: &str) -> Vec<u8> {
    let mut entry = archive.by_name(name).unwrap();
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    bytes
}

/// Returns the bytes of internal file `name` located through `meta.smoosh`.
fn smoosh_internal_file(meta: &str, chunk: &[u8], name: &str) -> Vec<u8> {
    let line = meta
        .lines()
        .skip(1)
        .find(|line| line.split(',').next() == Some(name))
        .unwrap();
    let fields: Vec<usize> = line
        .split(',')
        .skip(1)
        .map(|field| field.parse().unwrap())
        .collect();
    let [chunk_index, start, end] = fields[..] else {
        panic!("bad meta.smoosh line {line}")
    };
    assert_eq!(chunk_index, 0);
    chunk[start..end].to_vec()
}

fn read_i32_be(bytes: &[u8], at: usize) -> usize {
    i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

/// Splits a complex column file (descriptor string + GenericIndexed v1) into element bytes.
fn generic_indexed_elements(column: &[u8]) -> (String, Vec<Vec<u8>>) {
    let descriptor_len = read_i32_be(column, 0);
    let descriptor = String::from_utf8(column[4..4 + descriptor_len].to_vec()).unwrap();
    let indexed = &column[4 + descriptor_len..];
    assert_eq!(indexed[0], 1, "GenericIndexed version 1");
    let num_bytes = read_i32_be(indexed, 2);
    assert_eq!(indexed.len(), 6 + num_bytes);
    let count = read_i32_be(indexed, 6);
    let values = &indexed[10 + 4 * count..];
    let mut elements = Vec::new();
    let mut previous_end = 0;
    for index in 0..count {
        let end = read_i32_be(indexed, 10 + 4 * index);
        elements.push(values[previous_end + 4..end].to_vec());
        previous_end = end;
    }
    (descriptor, elements)
}

#[test]
fn test_druid_written_unique_hosts_match_our_collectors() {
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(segment_zip_path()).unwrap()).unwrap();
    let meta = String::from_utf8(read_zip_entry(&mut archive, "meta.smoosh")).unwrap();
    let chunk = read_zip_entry(&mut archive, "00000.smoosh");
    let (descriptor, elements) =
        generic_indexed_elements(&smoosh_internal_file(&meta, &chunk, "unique_hosts"));
    assert!(
        descriptor.contains(r#""typeName":"hyperUnique""#),
        "{descriptor}"
    );

    // Rows in time order (see the segment's `note`): a, b, c.example.com, one host each.
    let hosts = ["a.example.com", "b.example.com", "c.example.com"];
    assert_eq!(elements.len(), hosts.len());
    for (druid_bytes, host) in elements.iter().zip(hosts) {
        let read = HyperLogLogCollector::from_bytes(druid_bytes).unwrap();
        assert!(
            (read.estimate() - 1.0).abs() < 1e-3,
            "{host}: {}",
            read.estimate()
        );
        assert_eq!(
            read.to_bytes(),
            *druid_bytes,
            "{host}: canonical re-serialization"
        );

        let mut ours = HyperLogLogCollector::new();
        ours.add_value(host.as_bytes());
        assert_eq!(
            ours.to_bytes(),
            *druid_bytes,
            "{host}: hash, bucket and sparse encoding"
        );
        assert_eq!(ours, read);
        assert_eq!(ours.estimate().to_bits(), read.estimate().to_bits());
    }

    let mut all_hosts = HyperLogLogCollector::from_bytes(&elements[0]).unwrap();
    for druid_bytes in &elements[1..] {
        all_hosts.fold(&HyperLogLogCollector::from_bytes(druid_bytes).unwrap());
    }
    assert!(
        (all_hosts.estimate() - 3.0).abs() < 0.01,
        "{}",
        all_hosts.estimate()
    );
}
