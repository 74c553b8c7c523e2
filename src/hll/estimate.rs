//! Druid's `estimateCardinality()` for a dense collector (`estimateDense` + `applyCorrection`),
//! reproduced operation by operation so the floating-point result is the same.
//!
//! Druid sums, byte by byte in payload order, `2^-(upper + offset) + 2^-(lower + offset)`; at
//! the overflow byte the overflow nibble becomes `max(nibble + offset, maxOverflowValue)` and
//! the zero count there tests `upper & 0xf0` / `lower & 0x0f` of the offset values (a Druid
//! quirk kept on purpose). The raw estimate `alpha * m^2 / sum` then gets the linear-counting
//! correction below `5m/2` and the 2^64 correction above `2^64 / 30`.

use super::NUM_BUCKETS;
use super::codec::{DruidHeader, PAYLOAD_BYTES, dense_payload, derive_header};
use super::registers::Registers;

/// `m` as Druid's doubles see it.
const NUM_BUCKETS_F64: f64 = NUM_BUCKETS as f64;
/// Druid's `ALPHA = 0.7213 / (1 + 1.079 / NUM_BUCKETS)`.
const ALPHA: f64 = 0.7213 / (1.0 + 1.079 / NUM_BUCKETS_F64);
/// Druid's `CORRECTION_PARAMETER = ALPHA * NUM_BUCKETS * NUM_BUCKETS`.
const CORRECTION_PARAMETER: f64 = ALPHA * NUM_BUCKETS_F64 * NUM_BUCKETS_F64;
/// Druid's `LOW_CORRECTION_THRESHOLD = (5 * NUM_BUCKETS) / 2.0`.
const LOW_CORRECTION_THRESHOLD: f64 = (5 * NUM_BUCKETS) as f64 / 2.0;
/// `2^64` as a double.
const TWO_TO_THE_SIXTY_FOUR: f64 = 18_446_744_073_709_551_616.0;
/// Druid's `HIGH_CORRECTION_THRESHOLD = 2^64 / 30`.
const HIGH_CORRECTION_THRESHOLD: f64 = TWO_TO_THE_SIXTY_FOUR / 30.0;

/// Returns Druid's estimate for the state derived from `registers`.
pub(super) fn estimate(registers: &Registers) -> f64 {
    let header = derive_header(registers);
    match registers {
        Registers::Dense(_) => estimate_dense(&header, &dense_payload(registers, &header)),
        _ if header.overflow.is_none() => estimate_small_without_overflow(registers),
        _ => estimate_dense(&header, &dense_payload(registers, &header)),
    }
}

/// `2^-upper + 2^-lower` of every payload byte at offset 0 (exact: both are powers of two
/// at most 15 apart).
static TERMS_AT_OFFSET_0: [f64; 256] = terms_at_offset_0();

const fn terms_at_offset_0() -> [f64; 256] {
    let mut terms = [0.0; 256];
    let mut byte = 0;
    while byte < 256 {
        terms[byte] =
            inverse_power_of_two((byte >> 4) as u32) + inverse_power_of_two((byte & 0x0f) as u32);
        byte += 1;
    }
    terms
}

/// Returns Druid's `estimateDense` followed by `applyCorrection`.
pub(super) fn estimate_dense(header: &DruidHeader, payload: &[u8; PAYLOAD_BYTES]) -> f64 {
    let register_offset = u32::from(header.register_offset);
    // Scaling by a power of two is exact, so `term * scale` is Druid's `lookup[offset][byte]`.
    let scale = inverse_power_of_two(register_offset);
    let add_bytes = |sum: &mut f64, bytes: &[u8]| {
        // INVARIANT: the same sequence of additions as Druid's loop, so the same rounding.
        for &byte in bytes {
            *sum += TERMS_AT_OFFSET_0[usize::from(byte)] * scale;
        }
    };
    let count_zero_nibbles = |bytes: &[u8]| -> u32 {
        bytes
            .iter()
            .map(|&byte| u32::from(byte & 0xf0 == 0) + u32::from(byte & 0x0f == 0))
            .sum()
    };
    let mut sum = 0.0f64;
    let Some((overflow_bucket, overflow_value)) = header.overflow else {
        add_bytes(&mut sum, payload);
        return apply_correction(sum, count_zero_nibbles(payload));
    };
    let overflow_byte_index = usize::from(overflow_bucket >> 1);
    let (before, rest) = payload.split_at(overflow_byte_index);
    let (overflow_byte, after) = (rest[0], &rest[1..]);
    add_bytes(&mut sum, before);
    let mut upper = u32::from(overflow_byte >> 4) + register_offset;
    let mut lower = u32::from(overflow_byte & 0x0f) + register_offset;
    if overflow_bucket & 1 == 0 {
        upper = upper.max(u32::from(overflow_value));
    } else {
        lower = lower.max(u32::from(overflow_value));
    }
    sum += inverse_power_of_two(upper) + inverse_power_of_two(lower);
    add_bytes(&mut sum, after);
    // Druid's quirk: the overflow byte's zero test masks the offset values, not the nibbles.
    let overflow_byte_zeros = u32::from(upper & 0xf0 == 0) + u32::from(lower & 0x0f == 0);
    let zero_count = count_zero_nibbles(before) + overflow_byte_zeros + count_zero_nibbles(after);
    apply_correction(sum, zero_count)
}

/// Returns the same number as [`estimate_dense`] for an inline or sparse collector without an
/// overflow register, without building the payload.
///
/// With offset 0 and registers of at most 15, every term is a multiple of `2^-15` and the sum is
/// below `2^11`, so the sum is exact in any order; with at least 1536 zero registers the raw
/// estimate is below the linear-counting threshold, so only the zero count matters anyway.
fn estimate_small_without_overflow(registers: &Registers) -> f64 {
    let num_non_zero = registers.small_pairs().len();
    let mut sum = (NUM_BUCKETS - num_non_zero) as f64;
    registers.for_each_non_zero(|_, value| sum += inverse_power_of_two(u32::from(value)));
    apply_correction(sum, (NUM_BUCKETS - num_non_zero) as u32)
}

/// Returns Druid's `applyCorrection(e, zeroCount)`.
fn apply_correction(sum: f64, zero_count: u32) -> f64 {
    let raw_estimate = CORRECTION_PARAMETER / sum;
    if raw_estimate <= LOW_CORRECTION_THRESHOLD {
        return if zero_count == 0 {
            raw_estimate
        } else {
            NUM_BUCKETS_F64 * (NUM_BUCKETS_F64 / f64::from(zero_count)).ln()
        };
    }
    if raw_estimate > HIGH_CORRECTION_THRESHOLD {
        let ratio = raw_estimate / TWO_TO_THE_SIXTY_FOUR;
        // Druid 0.9.2 returns `Double.MAX_VALUE` here, later versions positive infinity.
        return if ratio >= 1.0 {
            f64::INFINITY
        } else {
            -TWO_TO_THE_SIXTY_FOUR * (1.0 - ratio).ln()
        };
    }
    raw_estimate
}

/// Returns `2^-exponent` exactly (`exponent` is at most 64 + 15).
#[inline]
const fn inverse_power_of_two(exponent: u32) -> f64 {
    debug_assert!(exponent <= 1022);
    f64::from_bits(((1023 - exponent) as u64) << 52)
}
