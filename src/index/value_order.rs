//! Value order within a dimension: the sorted rank of every dictionary id, as a persist's
//! sorted dictionaries and row order need it (Java string order for strings, numeric order for
//! numbers).

use super::dictionary::StringDictionary;
use super::dimension::NumberDictionary;
use crate::config::DimensionType;
use crate::segment::string_column::java_utf8_cmp;

/// Sorted ranks of every string id (Java string order): `ranks[id]` is its sorted position.
/// The sort compares [`java_order_key`]s and only values whose keys tie in full (the sorted
/// key array stays in cache; the values are scattered over the dictionary's arena).
pub fn string_ranks(values: &StringDictionary) -> (Vec<u32>, Vec<u32>) {
    let mut keyed: Vec<(u64, u32)> = (0..values.len() as u32)
        .map(|id| (java_order_key(values.get_bytes(id)), id))
        .collect();
    keyed.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| java_utf8_cmp(values.get_bytes(a.1), values.get_bytes(b.1)))
    });
    let order: Vec<u32> = keyed.into_iter().map(|(_, id)| id).collect();
    let mut ranks = vec![0u32; order.len()];
    for (rank, id) in order.iter().enumerate() {
        ranks[*id as usize] = rank as u32;
    }
    (order, ranks)
}

/// The first 8 bytes of a UTF-8 value as a big-endian word (zero-padded) that orders as
/// [`java_utf8_cmp`] does whenever two keys differ: each byte is mapped so that lead bytes of
/// supplementary characters (`F0..`) sort below `EE`/`EF`, as their surrogates do in UTF-16.
/// Equal keys say nothing (a value may continue past 8 bytes, or end in NUL bytes).
pub fn java_order_key(value: &[u8]) -> u64 {
    let mut key = 0u64;
    for i in 0..8 {
        let byte = value.get(i).map_or(0, |&b| match b {
            0xEE | 0xEF => b + 0x10,
            0xF0.. => b - 2,
            _ => b,
        });
        key = (key << 8) | u64::from(byte);
    }
    key
}

/// Sorted ranks of numeric ids by value.
pub fn number_ranks(kind: DimensionType, values: &NumberDictionary) -> (Vec<u32>, Vec<u32>) {
    let key = |id: u32| -> f64 {
        let bits = values.get(id);
        match kind {
            DimensionType::Long => bits as i64 as f64,
            DimensionType::Float => f32::from_bits(bits as u32) as f64,
            _ => f64::from_bits(bits),
        }
    };
    let mut order: Vec<u32> = (0..values.len() as u32).collect();
    match kind {
        DimensionType::Long => order.sort_unstable_by_key(|id| values.get(*id) as i64),
        _ => order.sort_unstable_by(|a, b| key(*a).total_cmp(&key(*b))),
    }
    let mut ranks = vec![0u32; order.len()];
    for (rank, id) in order.iter().enumerate() {
        ranks[*id as usize] = rank as u32;
    }
    (order, ranks)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn differing_order_keys_order_as_java_does(
            a in "[a\u{0}é\u{E000}\u{FF21}\u{10000}\u{1F600}]{0,10}",
            b in "[a\u{0}é\u{E000}\u{FF21}\u{10000}\u{1F600}]{0,10}",
        ) {
            let (ka, kb) = (java_order_key(a.as_bytes()), java_order_key(b.as_bytes()));
            if ka != kb {
                proptest::prop_assert_eq!(ka.cmp(&kb), java_utf8_cmp(a.as_bytes(), b.as_bytes()));
            }
        }
    }

    #[test]
    fn string_ranks_follow_java_order_past_the_key() {
        let mut values = StringDictionary::default();
        let words = [
            "abcdefgh-2",
            "abcdefgh-10",
            "\u{1F600}",
            "\u{FF21}",
            "ab",
            "ab\u{0}",
            "",
            "b",
        ];
        for word in words {
            values.intern(word);
        }
        let (order, ranks) = string_ranks(&values);
        let sorted: Vec<&str> = order.iter().map(|&id| words[id as usize]).collect();
        let mut expected = words.to_vec();
        expected.sort_by(|a, b| java_utf8_cmp(a.as_bytes(), b.as_bytes()));
        assert_eq!(sorted, expected);
        assert!(
            order
                .iter()
                .enumerate()
                .all(|(rank, &id)| ranks[id as usize] == rank as u32)
        );
    }
}
