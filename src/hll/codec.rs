//! Druid collector bytes: deriving Druid's header and nibble payload from exact registers,
//! writing version 1, reading versions 0 and 1 (layouts drawn in the parent module doc).

use super::registers::{Registers, unpack};
use super::{HllError, NUM_BUCKETS};

/// Bytes of the version-1 header.
pub(super) const V1_HEADER_BYTES: usize = 7;
/// Bytes of the version-0 header.
const V0_HEADER_BYTES: usize = 3;
/// Bytes of a dense nibble payload.
pub(super) const PAYLOAD_BYTES: usize = NUM_BUCKETS / 2;
/// Druid writes the sparse form when fewer registers than this are non-zero.
const DENSE_THRESHOLD: u16 = 128;
/// Largest `registerOffset` Druid's estimator lookup table covers.
const MAX_REGISTER_OFFSET: u8 = 63;
/// Largest register a 64-bit hash prefix can produce.
const MAX_REGISTER: u8 = 64;
/// Largest value a nibble holds.
const MAX_NIBBLE: u8 = 15;

/// The Druid version-1 header fields of a collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DruidHeader {
    pub register_offset: u8,
    pub num_non_zero_registers: u16,
    /// `(maxOverflowRegister, maxOverflowValue)`, when some register needs it.
    pub overflow: Option<(u16, u8)>,
}

impl DruidHeader {
    /// Returns the nibble Druid stores for `bucket` with exact register `value`.
    #[inline]
    pub(super) fn nibble(&self, bucket: u16, value: u8) -> u8 {
        match self.overflow {
            Some((overflow_bucket, _)) if overflow_bucket == bucket => 0,
            _ => value.saturating_sub(self.register_offset).min(MAX_NIBBLE),
        }
    }
}

/// Derives Druid's header (offset, overflow, non-zero nibble count) from exact registers.
pub(super) fn derive_header(registers: &Registers) -> DruidHeader {
    match registers {
        Registers::Dense(dense) => derive_dense_header(dense),
        _ => {
            // INVARIANT: fewer than NUM_BUCKETS registers are stored, so the offset is 0.
            let pairs = registers.small_pairs();
            let largest = pairs.iter().copied().map(unpack).reduce(|largest, pair| {
                if pair.1 > largest.1 { pair } else { largest }
            });
            let overflow = largest.filter(|&(_, value)| value > MAX_NIBBLE);
            DruidHeader {
                register_offset: 0,
                // Every stored register is above 0: only the overflow bucket's nibble is 0.
                num_non_zero_registers: (pairs.len() - usize::from(overflow.is_some())) as u16,
                overflow,
            }
        }
    }
}

/// Derives the header of dense registers (straight loops the compiler vectorizes).
fn derive_dense_header(dense: &[u8; NUM_BUCKETS]) -> DruidHeader {
    let min_register = dense.iter().copied().min().unwrap_or(0);
    let max_register = dense.iter().copied().max().unwrap_or(0);
    let register_offset = min_register.min(MAX_REGISTER_OFFSET);
    let overflow = (max_register - register_offset > MAX_NIBBLE).then(|| {
        let bucket = dense
            .iter()
            .position(|&value| value == max_register)
            .unwrap_or(0);
        (bucket as u16, max_register)
    });
    let num_above_offset = dense
        .iter()
        .filter(|&&value| value > register_offset)
        .count();
    DruidHeader {
        register_offset,
        // The overflow bucket is above the offset but keeps a zero nibble.
        num_non_zero_registers: (num_above_offset - usize::from(overflow.is_some())) as u16,
        overflow,
    }
}

/// Returns Druid's dense nibble payload: bucket `2k` in the upper nibble of byte `k`.
pub(super) fn dense_payload(registers: &Registers, header: &DruidHeader) -> [u8; PAYLOAD_BYTES] {
    let mut payload = [0u8; PAYLOAD_BYTES];
    match registers {
        Registers::Dense(dense) => {
            let offset = header.register_offset;
            let nibble = |value: u8| value.saturating_sub(offset).min(MAX_NIBBLE);
            for (byte, pair) in payload.iter_mut().zip(dense.chunks_exact(2)) {
                *byte = (nibble(pair[0]) << 4) | nibble(pair[1]);
            }
            if let Some((bucket, _)) = header.overflow {
                payload[usize::from(bucket >> 1)] &= if bucket & 1 == 0 { 0x0f } else { 0xf0 };
            }
        }
        _ => registers.for_each_non_zero(|bucket, value| {
            let shift = if bucket & 1 == 0 { 4 } else { 0 };
            payload[usize::from(bucket >> 1)] |= header.nibble(bucket, value) << shift;
        }),
    }
    payload
}

/// Appends Druid's version-1 `toByteArray()` of `registers` to `out`.
pub(super) fn write(registers: &Registers, out: &mut Vec<u8>) {
    let header = derive_header(registers);
    let start = out.len();
    let sparse_len = V1_HEADER_BYTES + 3 * usize::from(header.num_non_zero_registers);
    let is_dense = header.num_non_zero_registers >= DENSE_THRESHOLD;
    out.reserve(if is_dense {
        V1_HEADER_BYTES + PAYLOAD_BYTES
    } else {
        sparse_len
    });
    out.push(1);
    out.push(header.register_offset);
    out.extend_from_slice(&header.num_non_zero_registers.to_be_bytes());
    let (overflow_register, overflow_value) = header.overflow.unwrap_or((0, 0));
    out.push(overflow_value);
    out.extend_from_slice(&overflow_register.to_be_bytes());
    if is_dense {
        out.extend_from_slice(&dense_payload(registers, &header));
        return;
    }
    match registers {
        Registers::Dense(_) => {
            let payload = dense_payload(registers, &header);
            for (byte_index, &byte) in (0u16..).zip(payload.iter()) {
                push_sparse_entry(out, byte_index, byte);
            }
        }
        _ => write_sparse_entries(registers.small_pairs(), &header, out),
    }
    // Druid sizes the sparse array by registers but fills it by bytes: pad with zeros.
    out.resize(start + sparse_len, 0);
}

/// Writes sparse entries straight from packed pairs ascending by bucket.
fn write_sparse_entries(packed_pairs: &[u32], header: &DruidHeader, out: &mut Vec<u8>) {
    let mut index = 0;
    while index < packed_pairs.len() {
        let (bucket, value) = unpack(packed_pairs[index]);
        let byte_index = bucket >> 1;
        let mut byte = header.nibble(bucket, value) << if bucket & 1 == 0 { 4 } else { 0 };
        index += 1;
        if let Some(&next_word) = packed_pairs.get(index) {
            let (next_bucket, next_value) = unpack(next_word);
            if next_bucket >> 1 == byte_index {
                byte |= header.nibble(next_bucket, next_value);
                index += 1;
            }
        }
        push_sparse_entry(out, byte_index, byte);
    }
}

#[inline]
fn push_sparse_entry(out: &mut Vec<u8>, byte_index: u16, byte: u8) {
    if byte != 0 {
        out.extend_from_slice(&(byte_index + V1_HEADER_BYTES as u16).to_be_bytes());
        out.push(byte);
    }
}

/// Header fields common to versions 0 and 1, as read.
struct ReadHeader {
    header_bytes: usize,
    register_offset: u8,
    /// `(bucket, value)` of a usable overflow register.
    overflow: Option<(u16, u8)>,
}

/// Reads Druid collector bytes of version 0 or 1 into exact registers.
pub(super) fn read(bytes: &[u8]) -> Result<Registers, HllError> {
    if bytes.is_empty() {
        return Ok(Registers::default());
    }
    let header = read_header(bytes)?;
    let payload = &bytes[header.header_bytes..];
    if payload.len() != PAYLOAD_BYTES && header.register_offset == 0 {
        return read_sparse_without_offset(payload, &header);
    }
    // Druid reads a zero nibble as a register equal to the offset: every register is
    // `nibble + offset`.
    let offset = header.register_offset;
    let mut dense = Box::new([offset; NUM_BUCKETS]);
    if payload.len() == PAYLOAD_BYTES {
        for (pair, &byte) in dense.chunks_exact_mut(2).zip(payload) {
            pair[0] = (byte >> 4) + offset;
            pair[1] = (byte & 0x0f) + offset;
        }
    } else {
        read_sparse_entries(payload, header.header_bytes, |byte_index, byte| {
            dense[2 * byte_index] = (byte >> 4) + offset;
            dense[2 * byte_index + 1] = (byte & 0x0f) + offset;
        })?;
    }
    if let Some(bucket) = dense.iter().position(|&value| value > MAX_REGISTER) {
        let value = dense[bucket];
        return Err(HllError::RegisterOutOfRange {
            bucket: bucket as u16,
            value,
        });
    }
    if let Some((bucket, value)) = header.overflow {
        let register = &mut dense[usize::from(bucket)];
        *register = (*register).max(value);
    }
    Ok(Registers::from_dense(dense))
}

/// Reads a sparse payload with offset 0 straight into the small representation.
fn read_sparse_without_offset(payload: &[u8], header: &ReadHeader) -> Result<Registers, HllError> {
    let mut registers = Registers::default();
    read_sparse_entries(payload, header.header_bytes, |byte_index, byte| {
        for (bucket, nibble) in [
            (2 * byte_index, byte >> 4),
            (2 * byte_index + 1, byte & 0x0f),
        ] {
            if nibble != 0 {
                registers.set_max(bucket as u16, nibble);
            }
        }
    })?;
    if let Some((bucket, value)) = header.overflow {
        registers.set_max(bucket, value);
    }
    Ok(registers)
}

/// Validates the length and version and reads the header fields.
fn read_header(bytes: &[u8]) -> Result<ReadHeader, HllError> {
    let len_bytes = bytes.len();
    let header = if len_bytes.is_multiple_of(3) || len_bytes == V0_HEADER_BYTES + PAYLOAD_BYTES {
        ReadHeader {
            header_bytes: V0_HEADER_BYTES,
            register_offset: bytes[0],
            overflow: None,
        }
    } else {
        let is_dense = len_bytes == V1_HEADER_BYTES + PAYLOAD_BYTES;
        if len_bytes < V1_HEADER_BYTES || (!is_dense && len_bytes % 3 != 1) {
            return Err(HllError::InvalidLength { len_bytes });
        }
        // Druid ignores this byte; it writes 1, and can leave 0 after densifying a padded
        // sparse collector, so both are accepted.
        if bytes[0] > 1 {
            return Err(HllError::UnsupportedVersion { version: bytes[0] });
        }
        let overflow_value = bytes[4];
        let overflow_register = u16::from_be_bytes([bytes[5], bytes[6]]);
        if overflow_value > MAX_REGISTER {
            return Err(HllError::RegisterOutOfRange {
                bucket: overflow_register,
                value: overflow_value,
            });
        }
        // Druid's estimator never matches an overflow register outside the buckets: ignore it.
        let overflow = Some((overflow_register, overflow_value))
            .filter(|&(bucket, value)| value != 0 && usize::from(bucket) < NUM_BUCKETS);
        ReadHeader {
            header_bytes: V1_HEADER_BYTES,
            register_offset: bytes[1],
            overflow,
        }
    };
    if header.register_offset > MAX_REGISTER_OFFSET {
        return Err(HllError::RegisterOffsetOutOfRange {
            register_offset: header.register_offset,
        });
    }
    Ok(header)
}

/// Calls `visit(byte_index, byte)` for each 3-byte sparse entry in order; zero-valued entries
/// (Druid's padding) are skipped.
fn read_sparse_entries(
    payload: &[u8],
    header_bytes: usize,
    mut visit: impl FnMut(usize, u8),
) -> Result<(), HllError> {
    let mut previous_byte_index: Option<usize> = None;
    for entry in payload.chunks_exact(3) {
        let position = u16::from_be_bytes([entry[0], entry[1]]);
        let byte = entry[2];
        if byte == 0 {
            continue;
        }
        let byte_index = usize::from(position)
            .checked_sub(header_bytes)
            .filter(|&byte_index| byte_index < PAYLOAD_BYTES)
            .ok_or(HllError::SparsePositionOutOfRange { position })?;
        if previous_byte_index.is_some_and(|previous| previous >= byte_index) {
            return Err(HllError::SparsePositionNotAscending { position });
        }
        previous_byte_index = Some(byte_index);
        visit(byte_index, byte);
    }
    Ok(())
}
