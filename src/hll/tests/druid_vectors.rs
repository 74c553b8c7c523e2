//! Vectors from Druid's `HyperLogLogCollectorTest`, checked both on the collector and on a model
//! of Druid's own order-dependent `add`, which shows the estimator is Druid's to the last bit.

use base64::Engine as _;

use super::super::*;
use super::druid_model::{DruidSequentialModel, JavaRandom, hash_long};
use super::{collector_of, hash_for};

/// `testEstimation`: Druid's exact estimates after adding `hashLong(Random(0).nextLong())`.
///
/// The model proves the hash, bucket/register extraction and estimator are Druid's to the last
/// bit; the collector (canonical offset and overflow) gives the very same numbers here.
#[test]
fn test_estimation_matches_druid_expected_values() {
    let checkpoints = [
        10, 20, 50, 100, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 1000000, 2000000,
    ];
    let druid_expected = [
        11.029647221949576,
        21.108407720752034,
        51.64575281885815,
        100.42231726408892,
        981.8579991802412,
        1943.1337257462792,
        4946.192042635218,
        9935.088157579434,
        20366.1486889433,
        49433.56029693898,
        100615.26273314281,
        980831.624899156,
        1982408.2608981386,
    ];
    let mut random = JavaRandom::new(0);
    let mut model = DruidSequentialModel::new();
    let mut collector = HyperLogLogCollector::new();
    let mut checkpoint_index = 0;
    let check = |model: &DruidSequentialModel, collector: &HyperLogLogCollector, index: usize| {
        let expected = druid_expected[index];
        assert_eq!(
            model.estimate(),
            expected,
            "druid model at checkpoint {index}"
        );
        assert_eq!(
            collector.estimate(),
            expected,
            "collector at checkpoint {index}"
        );
    };
    for i in 0..checkpoints[checkpoints.len() - 1] {
        let hash = hash_long(random.next_long());
        model.add_hash(&hash);
        collector.add_hash(&hash);
        if i == checkpoints[checkpoint_index] {
            check(&model, &collector, checkpoint_index);
            checkpoint_index += 1;
        }
    }
    assert_eq!(checkpoint_index, checkpoints.len() - 1);
    check(&model, &collector, checkpoint_index);
    assert_eq!(
        model.num_dropped_overflow_values, 0,
        "Druid kept every register of this sequence"
    );
}

/// The accuracy data set (`user-{i}`, see `tests/hll_accuracy.rs`): the estimates are the ones
/// Druid's own collector computes for the same adds, until Druid drops an overflow value (value
/// 17 of `user-23947` arrives while 18 is held at offset 1); from then on Druid's number depends
/// on arrival order and ours, which keeps that register (saturated at 16), is larger.
#[test]
fn test_accuracy_data_set_estimates_are_druids() {
    let mut model = DruidSequentialModel::new();
    let mut collector = HyperLogLogCollector::new();
    for i in 0..1_000_000 {
        let hash = murmur3_128_guava(format!("user-{i}").as_bytes());
        model.add_hash(&hash);
        collector.add_hash(&hash);
        if [10_000, 30_000, 100_000, 300_000, 1_000_000].contains(&(i + 1)) {
            let (ours, druids) = (collector.estimate(), model.estimate());
            println!("after {} values: ours {ours} druid {druids}", i + 1);
            if model.num_dropped_overflow_values == 0 {
                assert_eq!(ours, druids, "after {} values", i + 1);
            } else {
                assert!(ours >= druids, "after {} values: {ours} < {druids}", i + 1);
            }
        }
    }
}

/// Builds a dense Druid buffer like the test helper `makeCollectorBuffer`.
fn druid_dense_buffer(register_offset: u8, initial_bytes: &[u8], remaining_byte: u8) -> Vec<u8> {
    let mut bytes = vec![1, register_offset, 0, 0, 0, 0, 0];
    bytes.extend_from_slice(initial_bytes);
    bytes.resize(1031, remaining_byte);
    let num_non_zero = bytes[7..]
        .iter()
        .map(|&byte| u16::from(byte >> 4 != 0) + u16::from(byte & 0xf != 0))
        .sum::<u16>();
    bytes[2..4].copy_from_slice(&num_non_zero.to_be_bytes());
    bytes
}

fn fold_bytes(buffers: &[&[u8]]) -> Vec<u8> {
    let mut collector = HyperLogLogCollector::new();
    for bytes in buffers {
        collector.fold(&HyperLogLogCollector::from_bytes(bytes).unwrap());
    }
    collector.to_bytes()
}

/// `testFoldWithDifferentOffsets1` / `testFoldWithArbitraryInitialPositions`.
#[test]
fn test_fold_with_different_offsets_1() {
    let bigger_offset = druid_dense_buffer(1, &[0x00], 0x11);
    let smaller_offset = druid_dense_buffer(0, &[0x20], 0x00);
    for order in [
        [&bigger_offset, &smaller_offset],
        [&smaller_offset, &bigger_offset],
    ] {
        let bytes = fold_bytes(&[order[0], order[1]]);
        assert_eq!(
            &bytes[..4],
            &[1, 1, 0x07, 0xff],
            "offset 1, 2047 non-zero registers"
        );
        assert_eq!(bytes[7], 0x10);
        assert!(bytes[8..].iter().all(|&byte| byte == 0x11));
    }
}

/// `testFoldWithDifferentOffsets2`, `testSparseFoldWithDifferentOffsets1`,
/// `testFoldWithUpperNibbleTriggersOffsetChange`: the fold fills every register, so the offset
/// moves up and nothing is left non-zero.
#[test]
fn test_fold_that_fills_every_register_moves_the_offset() {
    let bigger_offset = druid_dense_buffer(1, &[0x01], 0x11);
    let smaller_offset = druid_dense_buffer(0, &[0x20], 0x00);
    assert_eq!(
        fold_bytes(&[&bigger_offset, &smaller_offset]),
        [1, 2, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        fold_bytes(&[&smaller_offset, &bigger_offset]),
        [1, 2, 0, 0, 0, 0, 0]
    );

    let bigger_offset = druid_dense_buffer(1, &[0x11, 0x10], 0x11);
    let sparse = HyperLogLogCollector::from_bytes(&druid_dense_buffer(0, &[0x00, 0x02], 0x00))
        .unwrap()
        .to_bytes();
    assert_eq!(sparse.len(), 10);
    assert_eq!(
        fold_bytes(&[&bigger_offset, &sparse]),
        [1, 2, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        fold_bytes(&[&sparse, &bigger_offset]),
        [1, 2, 0, 0, 0, 0, 0]
    );

    // Both buffers keep 0x11 in the overflow fields: value 17 at register 0x1111, out of range.
    let mut first = vec![0x11u8; 1031];
    first[..4].copy_from_slice(&[1, 0, 0x07, 0xff]);
    first[7] = 0x01;
    let mut second = vec![0x11u8; 1031];
    second[..4].copy_from_slice(&[1, 0, 0x08, 0x00]);
    assert_eq!(fold_bytes(&[&first, &second]), [1, 1, 0, 0, 0, 0, 0]);
}

/// `testFoldOrder`: four real dense collectors folded in every order.
#[test]
fn test_fold_order_matches_druid_estimate_in_every_permutation() {
    let fixture = include_str!("../../../tests/fixtures/hll/druid-fold-order.b64");
    let collectors: Vec<HyperLogLogCollector> = fixture
        .lines()
        .map(|line| {
            base64::engine::general_purpose::STANDARD
                .decode(line)
                .unwrap()
        })
        .map(|bytes| HyperLogLogCollector::from_bytes(&bytes).unwrap())
        .collect();
    assert_eq!(collectors.len(), 4);
    let mut first_bytes: Option<Vec<u8>> = None;
    for permutation in permutations_of_four() {
        let mut folded = HyperLogLogCollector::new();
        for index in permutation {
            folded.fold(&collectors[index]);
        }
        assert!(
            (folded.estimate() - 1.0429189446653817E7).abs() <= 1.0,
            "{}",
            folded.estimate()
        );
        let bytes = folded.to_bytes();
        assert_eq!(bytes[4], 29, "maxOverflowValue");
        assert_eq!(
            u16::from_be_bytes([bytes[5], bytes[6]]),
            366,
            "maxOverflowRegister"
        );
        match &first_bytes {
            Some(first) => assert_eq!(&bytes, first),
            None => first_bytes = Some(bytes),
        }
    }
}

fn permutations_of_four() -> Vec<[usize; 4]> {
    let mut permutations = Vec::new();
    for a in 0..4 {
        for b in (0..4).filter(|&b| b != a) {
            for c in (0..4).filter(|&c| c != a && c != b) {
                permutations.push([a, b, c, 6 - a - b - c]);
            }
        }
    }
    permutations
}

/// `testFolding` / `testFoldingByteBuffers`: two halves folded equal the whole.
#[test]
fn test_folding_halves_equals_adding_everything() {
    let mut random = JavaRandom::new(0);
    for num_values in [10, 20, 50, 100, 1000, 2000] {
        let mut all = HyperLogLogCollector::new();
        let mut halves = [HyperLogLogCollector::new(), HyperLogLogCollector::new()];
        for i in 0..num_values {
            let hash = hash_long(random.next_long());
            all.add_hash(&hash);
            halves[i % 2].add_hash(&hash);
        }
        let [one_half, other_half] = halves;
        let mut folded = HyperLogLogCollector::new();
        folded.fold(&HyperLogLogCollector::from_bytes(&one_half.to_bytes()).unwrap());
        assert_eq!(folded.estimate(), one_half.estimate());
        folded.fold(&HyperLogLogCollector::from_bytes(&other_half.to_bytes()).unwrap());
        assert_eq!(folded.to_bytes(), all.to_bytes());
        assert_eq!(folded.estimate(), all.estimate());
    }
}

/// `testHighBits`: registers near 64 and the 2^64 correction.
#[test]
fn test_high_bits() {
    let fill = |collector: &mut HyperLogLogCollector, up_to: u8| {
        for value in 1..=up_to {
            for bucket in 0..NUM_BUCKETS as u16 {
                collector.add_hash(&hash_for(bucket, value));
            }
        }
    };
    let mut collector = HyperLogLogCollector::new();
    fill(&mut collector, 49);
    collector.add_hash(&[0; 16]);
    assert!(
        (collector.estimate() - 8.508_968_579_344_168E17).abs() <= 1000.0,
        "{}",
        collector.estimate()
    );
    fill(&mut collector, 63);
    collector.add_hash(&[0; 16]);
    assert_eq!(collector.estimate(), f64::INFINITY);
}

/// `testRegisterSwapWithSparse`.
#[test]
fn test_register_swap_with_sparse() {
    let pairs: Vec<(u16, u8)> = (1..NUM_BUCKETS as u16).map(|bucket| (bucket, 1)).collect();
    let mut collector = collector_of(&pairs);
    let read_back = HyperLogLogCollector::from_bytes(&collector.to_bytes()).unwrap();
    assert!((read_back.estimate() - 15615.219683654448).abs() < 1e-5);

    collector.add_hash(&hash_for(0, 1));
    assert_eq!(
        collector.to_bytes(),
        [1, 1, 0, 0, 0, 0, 0],
        "offset 1, header only"
    );
    assert_eq!(
        HyperLogLogCollector::from_bytes(&collector.to_bytes())
            .unwrap()
            .estimate(),
        0.0
    );
}

/// `testMaxOverflow` / `testMergeMaxOverflow`: the largest overflow wins, whatever the offset.
#[test]
fn test_merge_max_overflow() {
    let mut collector = collector_of(&[(23, 16)]);
    collector.fold(&collector_of(&[(56, 17)]));
    assert_eq!(&collector.to_bytes()[4..7], &[17, 0, 56]);

    let fill = |up_to: u8, extra: (u16, u8)| {
        let mut pairs: Vec<(u16, u8)> = (0..NUM_BUCKETS as u16)
            .map(|bucket| (bucket, up_to))
            .collect();
        pairs.push(extra);
        collector_of(&pairs)
    };
    let mut collector = fill(30, (23, 62));
    collector.fold(&fill(20, (47, 64)));
    assert_eq!(
        &collector.to_bytes()[..7],
        &[1, 30, 0, 1, 64, 0, 47],
        "bucket 23 (62) saturates at offset + 15"
    );
}
