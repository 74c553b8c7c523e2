//! Numeric column layouts of every `indexSpec` choice: bit-packing (VSizeLongSerde) properties,
//! long columns of every compression x encoding through the reader's scan, random access and
//! gather, exact block boundaries and extreme values, and the entire layout's bytes.

use bytes::Bytes;
use proptest::prelude::*;
use rtnode::segment::block_column::ByteOrder;
use rtnode::segment::compression::Compression;
use rtnode::segment::error::Ctx;
use rtnode::segment::format::Cursor;
use rtnode::segment::long_column::{self, LongColumnWriter};
use rtnode::segment::spill::Spill;
use rtnode::segment::vsize_longs::{self, BitPacker, SUPPORTED_BITS};
use rtnode::segment::writer::LongEncoding;
use rtnode::segment::{double_column, float_column};

const COMPRESSIONS: [Compression; 3] = [
    Compression::Lz4,
    Compression::Uncompressed,
    Compression::None,
];
const ENCODINGS: [LongEncoding; 2] = [LongEncoding::Longs, LongEncoding::Auto];

fn write_longs(values: &[i64], compression: Compression, encoding: LongEncoding) -> Bytes {
    let dir = tempfile::tempdir().unwrap();
    let dir_opt = values.len().is_multiple_of(2).then_some(dir.path());
    let mut writer = LongColumnWriter::new(dir_opt, "c", compression, encoding).unwrap();
    values.iter().for_each(|v| writer.push(*v).unwrap());
    let mut out = Vec::new();
    writer.write_to(&mut out).unwrap();
    Bytes::from(out)
}

/// Reads `bytes` back three ways (block scan, `get`, `gather` of every third row) and checks
/// each against `values`.
fn check_longs(bytes: &Bytes, values: &[i64], what: &str) {
    let column = long_column::parse(
        bytes,
        &mut Cursor::new(bytes),
        ByteOrder::Little,
        Ctx::new("f", "c"),
    )
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(column.len() as usize, values.len(), "{what}");
    let mut scanned = Vec::new();
    column
        .for_each_block(0, |_, v| scanned.extend_from_slice(v))
        .unwrap();
    assert_eq!(scanned, values, "{what}: scan");
    for row in (0..values.len())
        .step_by(97)
        .chain(values.len().checked_sub(1))
    {
        assert_eq!(
            column.get(row as u32).unwrap(),
            values[row],
            "{what}: get {row}"
        );
    }
    let rows: Vec<u32> = (0..values.len() as u32).step_by(3).collect();
    let mut gathered = vec![0i64; rows.len()];
    column.gather(&rows, |i, v| gathered[i] = v).unwrap();
    let expected: Vec<i64> = rows.iter().map(|r| values[*r as usize]).collect();
    assert_eq!(gathered, expected, "{what}: gather");
    assert!(column.get(values.len() as u32).is_err(), "{what}: beyond");
}

fn check_every_layout(values: &[i64]) {
    for compression in COMPRESSIONS {
        for encoding in ENCODINGS {
            let bytes = write_longs(values, compression, encoding);
            let what = format!("{} values, {compression:?}, {encoding:?}", values.len());
            check_longs(&bytes, values, &what);
        }
    }
}

#[test]
fn empty_single_and_extreme_columns_round_trip() {
    check_every_layout(&[]);
    check_every_layout(&[42]);
    check_every_layout(&[i64::MIN, i64::MAX]);
    check_every_layout(&[i64::MIN, -1, 0, 1, i64::MAX, i64::MIN]);
    // a delta range of exactly i64::MAX falls back to longs; one less is 64-bit delta
    check_every_layout(&(0..300).map(|i| i * (i64::MAX / 300)).collect::<Vec<_>>());
    check_every_layout(&(0..300).map(|i| -i * (i64::MAX / 299)).collect::<Vec<_>>());
}

#[test]
fn exact_block_boundaries_round_trip() {
    // longs: 8192 a block; table of 2 (1 bit): 262144; delta of 16 bits: 16384; 32 bits: 8192
    for (size_per, spread) in [
        (8192usize, 1i64 << 40),
        (262_144, 2),
        (16_384, 40_000),
        (8192, 1 << 31),
    ] {
        for count in [size_per - 1, size_per, size_per + 1, 2 * size_per] {
            let values: Vec<i64> = (0..count as i64)
                .map(|i| (i.wrapping_mul(7919) % spread) - spread / 3)
                .collect();
            check_every_layout(&values);
        }
    }
}

#[test]
fn floats_and_doubles_write_the_entire_layout_as_druid() {
    let mut writer = float_column::FloatColumnWriter::new(Spill::memory(), Compression::None);
    writer.push(1.5).unwrap();
    let mut out = Vec::new();
    writer.write_to(&mut out).unwrap();
    let mut expected = vec![2, 0, 0, 0, 1, 0, 0, 0, 0, 0xFE];
    expected.extend_from_slice(&1.5f32.to_le_bytes());
    assert_eq!(out, expected);
    let bytes = Bytes::from(out);
    let column = float_column::parse(
        &bytes,
        &mut Cursor::new(&bytes),
        ByteOrder::Little,
        Ctx::new("f", "c"),
    )
    .unwrap();
    assert_eq!(column.get(0).unwrap(), 1.5);
    let values: Vec<f64> = (0..20_000).map(|i| i as f64 * -0.5).collect();
    for compression in COMPRESSIONS {
        let mut writer = double_column::DoubleColumnWriter::new(Spill::memory(), compression);
        values.iter().for_each(|v| writer.push(*v).unwrap());
        let mut out = Vec::new();
        writer.write_to(&mut out).unwrap();
        let bytes = Bytes::from(out);
        let column = double_column::parse(
            &bytes,
            &mut Cursor::new(&bytes),
            ByteOrder::Little,
            Ctx::new("f", "c"),
        )
        .unwrap();
        let mut gathered = Vec::new();
        column
            .gather(&[0, 8191, 8192, 19_999], |_, v| gathered.push(v))
            .unwrap();
        assert_eq!(
            gathered,
            [0.0, -4095.5, -4096.0, -9999.5],
            "{compression:?}"
        );
    }
}

fn long_values() -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        prop::collection::vec(any::<i64>(), 0..3000),
        prop::collection::vec(-5i64..5, 0..3000),
        prop::collection::vec(
            prop::sample::select(vec![i64::MIN, -7, 0, 9, i64::MAX]),
            0..3000
        ),
        (
            any::<i64>(),
            0u32..63,
            prop::collection::vec(any::<u64>(), 0..3000)
        )
            .prop_map(|(base, shift, offsets)| offsets
                .iter()
                .map(|o| base.wrapping_add((o >> shift) as i64 >> 1))
                .collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bit_packing_reads_back_what_it_wrote(
        bits in prop::sample::select(SUPPORTED_BITS.to_vec()),
        raw in prop::collection::vec(any::<u64>(), 0..2000),
        start_frac in 0.0f64..1.0,
    ) {
        let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
        let values: Vec<u64> = raw.iter().map(|v| v & mask).collect();
        let mut packer = BitPacker::new(bits);
        values.iter().for_each(|v| packer.push(*v));
        let bytes = packer.finish();
        let tail = if values.is_empty() && bits < 4 { 1 } else { 0 };
        prop_assert_eq!(bytes.len(), vsize_longs::serialized_len_bytes(bits, values.len()) + tail);
        prop_assert!(bytes[bytes.len() - 4..].iter().all(|b| *b == 0));
        let area = &bytes[..vsize_longs::packed_len_bytes(bits, values.len())];
        for (index, value) in values.iter().enumerate() {
            prop_assert_eq!(vsize_longs::get(area, bits, index), *value);
        }
        let start = (values.len() as f64 * start_frac) as usize;
        let mut out = Vec::new();
        vsize_longs::unpack(area, bits, start, values.len() - start, &mut out, |v| v);
        prop_assert_eq!(&out[..], &values[start..]);
    }

    #[test]
    fn long_columns_round_trip_in_every_layout(values in long_values()) {
        check_every_layout(&values);
    }
}
