//! Property tests: order independence, fixed-point serialization, agreement with Druid's own
//! sequential semantics, and robustness against arbitrary bytes.

use proptest::prelude::*;

use super::super::codec::{dense_payload, derive_header};
use super::super::estimate::estimate_dense;
use super::super::*;
use super::druid_model::DruidSequentialModel;
use super::hash_for;

/// Registers skewed like real hashes, with some large ones to exercise overflow.
fn pair_strategy(max_register: u8) -> impl Strategy<Value = (u16, u8)> {
    let small = 1..=4u8.min(max_register);
    (
        0..NUM_BUCKETS as u16,
        prop_oneof![6 => small, 3 => 1..=15u8.min(max_register), 1 => 1..=max_register],
    )
}

/// Pairs, optionally preceded by every bucket at a base register (to move the offset), shuffled.
fn hashes_strategy(max_register: u8, max_pairs: usize) -> impl Strategy<Value = Vec<[u8; 16]>> {
    (
        prop::collection::vec(pair_strategy(max_register), 0..max_pairs),
        prop::option::of(1..=3u8),
    )
        .prop_map(|(mut pairs, fill_opt)| {
            if let Some(fill) = fill_opt {
                pairs.extend((0..NUM_BUCKETS as u16).map(|bucket| (bucket, fill)));
            }
            pairs
        })
        .prop_shuffle()
        .prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(bucket, value)| hash_for(bucket, value))
                .collect()
        })
}

fn collector_from_hashes(hashes: &[[u8; 16]]) -> HyperLogLogCollector {
    let mut collector = HyperLogLogCollector::new();
    hashes.iter().for_each(|hash| collector.add_hash(hash));
    collector
}

fn garbage_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1100),
        prop::collection::vec(any::<u8>(), 1031),
        prop::collection::vec(any::<u8>(), 1027),
        (0..300usize).prop_flat_map(|entries| prop::collection::vec(any::<u8>(), 7 + 3 * entries)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn test_bytes_do_not_depend_on_split_or_fold_order(
        hashes in hashes_strategy(64, 1500),
        parts in prop::collection::vec(0..4usize, 4000),
        order in Just([0usize, 1, 2, 3]).prop_shuffle(),
    ) {
        let all = collector_from_hashes(&hashes);
        let mut pieces: [HyperLogLogCollector; 4] = Default::default();
        for (hash, &part) in hashes.iter().zip(parts.iter()) {
            pieces[part].add_hash(hash);
        }
        let mut sequential = HyperLogLogCollector::new();
        for &index in &order {
            sequential.fold(&pieces[index]);
        }
        let mut left = pieces[order[0]].clone();
        left.fold(&pieces[order[1]]);
        let mut right = pieces[order[3]].clone();
        right.fold(&pieces[order[2]]);
        right.fold(&left);
        prop_assert_eq!(&sequential, &all);
        prop_assert_eq!(sequential.to_bytes(), all.to_bytes());
        prop_assert_eq!(right.to_bytes(), all.to_bytes());
        prop_assert_eq!(right.estimate().to_bits(), all.estimate().to_bits());
        prop_assert_eq!(right.heap_bytes(), all.heap_bytes());
    }

    #[test]
    fn test_serialized_bytes_are_a_fixed_point(hashes in hashes_strategy(64, 1500)) {
        let collector = collector_from_hashes(&hashes);
        let bytes = collector.to_bytes();
        let read_back = HyperLogLogCollector::from_bytes(&bytes).unwrap();
        prop_assert_eq!(read_back.to_bytes(), bytes);
        prop_assert_eq!(read_back.estimate().to_bits(), collector.estimate().to_bits());
        let mut appended = vec![0xee];
        collector.write_bytes(&mut appended);
        prop_assert_eq!(&appended[1..], &collector.to_bytes()[..]);
    }

    #[test]
    fn test_small_estimate_matches_druid_dense_estimate(
        hashes in prop_oneof![hashes_strategy(15, 600), hashes_strategy(64, 600)],
    ) {
        let collector = collector_from_hashes(&hashes);
        let header = derive_header(&collector.registers);
        let expected = estimate_dense(&header, &dense_payload(&collector.registers, &header));
        prop_assert_eq!(collector.estimate().to_bits(), expected.to_bits());
    }

    /// With registers of at most 15 Druid never overflows, so its result is order independent
    /// up to the offset lag; when it does not lag, its bytes are exactly ours.
    #[test]
    fn test_matches_druid_sequential_adds(hashes in hashes_strategy(15, 3000)) {
        let mut model = DruidSequentialModel::new();
        hashes.iter().for_each(|hash| model.add_hash(hash));
        let collector = collector_from_hashes(&hashes);
        prop_assert_eq!(collector.estimate().to_bits(), model.estimate().to_bits());
        if model.num_non_zero < NUM_BUCKETS {
            prop_assert_eq!(collector.to_bytes(), model.to_bytes());
        }
    }

    #[test]
    fn test_garbage_never_panics(bytes in garbage_strategy()) {
        if let Ok(collector) = HyperLogLogCollector::from_bytes(&bytes) {
            let canonical = collector.to_bytes();
            prop_assert_eq!(HyperLogLogCollector::from_bytes(&canonical).unwrap().to_bytes(), canonical);
            prop_assert!(collector.estimate() >= 0.0);
        }
    }

    #[test]
    fn test_corrupted_collectors_never_panic(
        hashes in hashes_strategy(64, 400),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..4),
    ) {
        let mut bytes = collector_from_hashes(&hashes).to_bytes();
        for (index, mask) in flips {
            let position = index.index(bytes.len());
            bytes[position] ^= mask;
        }
        if let Ok(collector) = HyperLogLogCollector::from_bytes(&bytes) {
            prop_assert!(collector.estimate() >= 0.0);
        }
    }
}
