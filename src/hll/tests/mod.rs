//! Unit tests: hashing, bucket/register extraction, byte layout, reading, errors, memory.

mod druid_model;
mod druid_vectors;
mod properties;

use super::codec::{derive_header, read};
use super::registers::{INLINE_CAPACITY, Registers, SPARSE_MAX_LEN};
use super::*;

/// Returns a hash whose bucket is `bucket` and whose positionOf1 is `position_of_1` (1..=64).
pub(super) fn hash_for(bucket: u16, position_of_1: u8) -> [u8; 16] {
    let mut hash = [0xa5u8; 16];
    let prefix: u64 = if position_of_1 >= 64 {
        0
    } else {
        1u64 << (position_of_1 - 1)
    };
    hash[..8].copy_from_slice(&prefix.to_le_bytes());
    hash[14..16].copy_from_slice(&(bucket | 0xf800).to_be_bytes());
    hash
}

/// Returns a collector holding exactly the given `(bucket, register)` pairs.
pub(super) fn collector_of(pairs: &[(u16, u8)]) -> HyperLogLogCollector {
    let mut collector = HyperLogLogCollector::new();
    for &(bucket, value) in pairs {
        collector.add_hash(&hash_for(bucket, value));
    }
    collector
}

/// Returns `(bucket, register)` of every non-zero register.
pub(super) fn registers_of(collector: &HyperLogLogCollector) -> Vec<(u16, u8)> {
    let mut pairs = Vec::new();
    collector
        .registers
        .for_each_non_zero(|bucket, value| pairs.push((bucket, value)));
    pairs
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn test_murmur3_matches_guava_known_values() {
    // Guava `Murmur3Hash128Test.testKnownValues`: (seed, h1, h2, input); asBytes is h1 LE, h2 LE.
    let known: [(u32, u64, u64, &str); 8] = [
        (0, 0x629942693e10f867, 0x92db0b82baeb5347, "hell"),
        (1, 0xa78ddff5adae8d10, 0x128900ef20900135, "hello"),
        (2, 0x8a486b23f422e826, 0xf962a2c58947765f, "hello "),
        (3, 0x2ea59f466f6bed8c, 0xc610990acc428a17, "hello w"),
        (4, 0x79f6305a386c572c, 0x46305aed3483b94e, "hello wo"),
        (5, 0xc2219d213ec1f1b5, 0xa1d8e2e0a52785bd, "hello wor"),
        (
            0,
            0xe34bbc7bbc071b6c,
            0x7a433ca9c49a9347,
            "The quick brown fox jumps over the lazy dog",
        ),
        (
            0,
            0x658ca970ff85269a,
            0x43fee3eaa68e5c3e,
            "The quick brown fox jumps over the lazy cog",
        ),
    ];
    for (seed, h1, h2, input) in known {
        let mut expected = [0u8; 16];
        expected[..8].copy_from_slice(&h1.to_le_bytes());
        expected[8..].copy_from_slice(&h2.to_le_bytes());
        assert_eq!(
            murmur3_128_guava_seeded(input.as_bytes(), seed),
            expected,
            "{input:?}"
        );
    }
    // Guava's `HashCode.toString()` of the fox hash (hex of asBytes()).
    let fox = murmur3_128_guava(b"The quick brown fox jumps over the lazy dog");
    assert_eq!(hex(&fox), "6c1b07bc7bbc4be347939ac4a93c437a");
}

#[test]
fn test_add_hash_reads_bucket_from_last_two_bytes_big_endian() {
    let mut hash = [0u8; 16];
    hash[0] = 0b0000_0100; // positionOf1 = 3
    hash[14] = 0xfa; // 0xfa03 & 0x7ff = 0x203
    hash[15] = 0x03;
    let mut collector = HyperLogLogCollector::new();
    collector.add_hash(&hash);
    assert_eq!(registers_of(&collector), vec![(0x203, 3)]);
}

#[test]
fn test_add_hash_counts_zero_bytes_as_eight_positions() {
    let mut hash = [0u8; 16];
    hash[2] = 0b0001_0000; // two zero bytes (16) + 4 trailing zeros + 1
    let mut collector = HyperLogLogCollector::new();
    collector.add_hash(&hash);
    assert_eq!(registers_of(&collector), vec![(0, 21)]);

    let all_zero_prefix = [0u8; 16];
    let mut collector = HyperLogLogCollector::new();
    collector.add_hash(&all_zero_prefix);
    assert_eq!(
        registers_of(&collector),
        vec![(0, 64)],
        "an all-zero prefix gives 64"
    );
}

#[test]
fn test_empty_collector_writes_header_only() {
    let collector = HyperLogLogCollector::new();
    assert!(collector.is_empty());
    assert_eq!(collector.to_bytes(), [1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(collector.estimate(), 0.0);
    assert_eq!(HyperLogLogCollector::from_bytes(&[]).unwrap(), collector);
}

#[test]
fn test_sparse_entry_positions_count_the_header() {
    // Bucket 551 is the lower nibble of byte 275; the entry position is 275 + 7 = 0x011a.
    let collector = collector_of(&[(551, 3)]);
    assert_eq!(hex(&collector.to_bytes()), "01000001000000011a03");
}

#[test]
fn test_sparse_payload_is_padded_when_registers_share_a_byte() {
    // Buckets 10 and 11 share byte 5: one entry, but Druid sizes the array for two.
    let collector = collector_of(&[(10, 2), (11, 3), (2047, 1)]);
    let bytes = collector.to_bytes();
    assert_eq!(hex(&bytes), "01000003000000000c23040601000000");
    assert_eq!(HyperLogLogCollector::from_bytes(&bytes).unwrap(), collector);
}

#[test]
fn test_single_overflow_value_keeps_its_nibble_zero() {
    // Druid: add(bucket 23, 16) sets only the overflow fields; nothing is non-zero.
    let collector = collector_of(&[(23, 16)]);
    assert_eq!(hex(&collector.to_bytes()), "01000000100017");
    let read_back = HyperLogLogCollector::from_bytes(&collector.to_bytes()).unwrap();
    assert_eq!(registers_of(&read_back), vec![(23, 16)]);
}

#[test]
fn test_registers_above_the_overflow_are_saturated() {
    // The largest register overflows; the other one cannot, so it is stored as offset + 15.
    let collector = collector_of(&[(23, 16), (56, 17), (43, 16)]);
    let header = derive_header(&collector.registers);
    assert_eq!(header.overflow, Some((56, 17)));
    assert_eq!(header.num_non_zero_registers, 2);
    let read_back = HyperLogLogCollector::from_bytes(&collector.to_bytes()).unwrap();
    assert_eq!(registers_of(&read_back), vec![(23, 15), (43, 15), (56, 17)]);
}

#[test]
fn test_overflow_ties_pick_the_lowest_bucket() {
    let forward = collector_of(&[(900, 20), (100, 20)]);
    let backward = collector_of(&[(100, 20), (900, 20)]);
    assert_eq!(derive_header(&forward.registers).overflow, Some((100, 20)));
    assert_eq!(forward.to_bytes(), backward.to_bytes());
}

#[test]
fn test_dense_layout_puts_even_buckets_in_upper_nibbles() {
    let pairs: Vec<(u16, u8)> = (0..200u16)
        .map(|bucket| (bucket, (bucket % 15 + 1) as u8))
        .collect();
    let bytes = collector_of(&pairs).to_bytes();
    assert_eq!(
        bytes.len(),
        1031,
        "200 non-zero registers are written dense"
    );
    assert_eq!(&bytes[..7], &[1, 0, 0, 200, 0, 0, 0]);
    assert_eq!(bytes[7], 0x12, "bucket 0 = 1 (upper), bucket 1 = 2 (lower)");
    assert_eq!(bytes[7 + 7], 0xf1, "bucket 14 = 15, bucket 15 = 1");
    assert!(bytes[7 + 100..].iter().all(|&byte| byte == 0));
}

#[test]
fn test_sparse_threshold_is_128_non_zero_registers() {
    let pairs: Vec<(u16, u8)> = (0..128u16).map(|bucket| (bucket * 2, 1)).collect();
    assert_eq!(collector_of(&pairs[..127]).to_bytes().len(), 7 + 3 * 127);
    assert_eq!(collector_of(&pairs).to_bytes().len(), 1031);
}

#[test]
fn test_offset_is_the_smallest_register() {
    let pairs: Vec<(u16, u8)> = (0..NUM_BUCKETS as u16)
        .map(|bucket| (bucket, 3 + (bucket % 2) as u8))
        .collect();
    let collector = collector_of(&pairs);
    let bytes = collector.to_bytes();
    // Offset 3: even buckets have nibble 0, odd ones 1, so 1024 registers are non-zero.
    assert_eq!(&bytes[..7], &[1, 3, 0x04, 0x00, 0, 0, 0]);
    assert!(bytes[7..].iter().all(|&byte| byte == 0x01));
    assert_eq!(HyperLogLogCollector::from_bytes(&bytes).unwrap(), collector);
}

#[test]
fn test_reads_version_0_dense_and_sparse() {
    let mut dense = vec![0u8; 1027];
    dense[0] = 2; // registerOffset
    dense[3] = 0x31; // bucket 0 = 2 + 3, bucket 1 = 2 + 1
    let collector = HyperLogLogCollector::from_bytes(&dense).unwrap();
    let registers = registers_of(&collector);
    assert_eq!(registers.len(), NUM_BUCKETS);
    assert_eq!(&registers[..3], &[(0, 5), (1, 3), (2, 2)]);

    // Sparse version 0: entry position is the byte index + 3.
    let sparse = [0, 0, 1, 0x00, 0x03 + 10, 0x04];
    let collector = HyperLogLogCollector::from_bytes(&sparse).unwrap();
    assert_eq!(registers_of(&collector), vec![(21, 4)]);
}

#[test]
fn test_reads_stale_overflow_and_ignores_out_of_range_overflow_register() {
    // Overflow 5 at bucket 0 while bucket 0's nibble is 7: the register is the maximum.
    let mut bytes = vec![1, 0, 0, 1, 5, 0, 0];
    bytes.extend_from_slice(&[0, 7, 0x70]);
    let collector = HyperLogLogCollector::from_bytes(&bytes).unwrap();
    assert_eq!(registers_of(&collector), vec![(0, 7)]);

    let out_of_range = [1, 0, 0, 0, 17, 0x11, 0x11];
    assert!(
        HyperLogLogCollector::from_bytes(&out_of_range)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn test_rejects_garbage() {
    let cases: [(&[u8], HllError); 6] = [
        (&[1, 0, 0, 0], HllError::InvalidLength { len_bytes: 4 }),
        (
            &[1, 0, 0, 0, 0, 0, 0, 0],
            HllError::InvalidLength { len_bytes: 8 },
        ),
        (
            &[2, 0, 0, 0, 0, 0, 0],
            HllError::UnsupportedVersion { version: 2 },
        ),
        (
            &[1, 64, 0, 0, 0, 0, 0],
            HllError::RegisterOffsetOutOfRange {
                register_offset: 64,
            },
        ),
        (
            &[1, 0, 0, 0, 65, 0, 1],
            HllError::RegisterOutOfRange {
                bucket: 1,
                value: 65,
            },
        ),
        (
            &[1, 0, 0, 1, 0, 0, 0, 0x04, 0x07, 0x01],
            HllError::SparsePositionOutOfRange { position: 0x407 },
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            HyperLogLogCollector::from_bytes(bytes),
            Err(expected),
            "{}",
            hex(bytes)
        );
    }
    let descending = [1, 0, 0, 2, 0, 0, 0, 0, 9, 1, 0, 8, 1];
    assert_eq!(
        HyperLogLogCollector::from_bytes(&descending),
        Err(HllError::SparsePositionNotAscending { position: 8 })
    );
    let mut too_large = vec![1, 60, 0, 1, 0, 0, 0];
    too_large.extend_from_slice(&[0, 7, 0x50]); // 60 + 5 = 65
    assert_eq!(
        HyperLogLogCollector::from_bytes(&too_large),
        Err(HllError::RegisterOutOfRange {
            bucket: 0,
            value: 65
        })
    );
}

#[test]
fn test_small_collectors_stay_inline_and_heap_bytes_follow_the_representation() {
    assert_eq!(std::mem::size_of::<HyperLogLogCollector>(), 24);
    let mut collector = HyperLogLogCollector::new();
    for bucket in 0..INLINE_CAPACITY as u16 {
        collector.add_hash(&hash_for(bucket * 7, 2));
    }
    assert!(matches!(collector.registers, Registers::Inline { .. }));
    assert_eq!(collector.heap_bytes(), 0);

    collector.add_hash(&hash_for(1000, 2));
    assert!(matches!(collector.registers, Registers::Sparse { .. }));
    assert_eq!(collector.heap_bytes(), 8 * 4);

    for bucket in 0..SPARSE_MAX_LEN as u16 {
        collector.add_hash(&hash_for(bucket * 3, 1));
    }
    assert!(matches!(collector.registers, Registers::Dense(_)));
    assert_eq!(collector.heap_bytes(), NUM_BUCKETS);
    assert_eq!(
        registers_of(&collector).len(),
        SPARSE_MAX_LEN + INLINE_CAPACITY + 1 - 2
    );
}

#[test]
fn test_read_chooses_the_representation_by_count() {
    let dense_few = {
        let mut bytes = vec![0u8; 1031];
        bytes[0] = 1;
        bytes[3] = 2;
        bytes[7] = 0x11;
        bytes
    };
    let registers = read(&dense_few).unwrap();
    assert!(matches!(registers, Registers::Inline { len: 2, .. }));
    assert_eq!(registers, collector_of(&[(0, 1), (1, 1)]).registers);
}
