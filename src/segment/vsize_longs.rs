//! Bit-packed longs (Druid's `VSizeLongSerde`): the value area of the `delta` and `table` long
//! encodings, in blocks or in the entire (`none`) layout.
//!
//! ```text
//! n values of `bits` bits (bits in 1,2,4,8,12,16,20,24,32,40,48,56,64), one big-endian bit
//! stream, most significant bit first, no padding between values:
//!   bits 12:  0xABC, 0xDEF          -> AB CD EF
//!   bits 2 :  1, 2, 3, 0            -> 0b01_10_11_00 = 6C
//! then the last partial byte (zero-filled on the right), then 4 zero bytes (`EMPTY`, so that
//! readers may load a word past the last value). Widths 1 and 2 write that partial byte even for
//! zero values (`Size1Ser`/`Size2Ser.close`), so n = 0 gives 00 00 00 00 00 for them and
//! 00 00 00 00 for the others.
//! serialized size = ceil(n * bits / 8) + 4           (getSerializedSize)
//! values per block = largest power of two p with ceil(p * bits / 8) + 4 <= 65536
//! bits for a maximum m = the smallest width with m <= 2^width (getBitsForMax; callers pass
//! max - min + 1 for delta and the table size for table)
//! ```
//! Everything here is pure byte arithmetic; callers check lengths before reading (see
//! [`packed_len_bytes`]), so reads never go out of bounds.

/// The bit widths VSizeLongSerde supports.
pub const SUPPORTED_BITS: [u32; 13] = [1, 2, 4, 8, 12, 16, 20, 24, 32, 40, 48, 56, 64];

/// Zero bytes closing every packed area.
pub const CLOSING_BYTES: usize = 4;

/// Returns VSizeLongSerde's bit width for values up to `max` (`getBitsForMax`).
pub fn bits_for_max(max: u64) -> u32 {
    for bits in SUPPORTED_BITS {
        if bits >= 63 || max <= 1u64 << bits {
            return bits;
        }
    }
    64
}

/// Returns the bytes `count` packed values occupy, without the closing bytes.
pub fn packed_len_bytes(bits: u32, count: usize) -> usize {
    (bits as usize * count).div_ceil(8)
}

/// Returns the serialized size of `count` values (`getSerializedSize`): packed bytes plus the
/// closing bytes.
pub fn serialized_len_bytes(bits: u32, count: usize) -> usize {
    packed_len_bytes(bits, count) + CLOSING_BYTES
}

/// Returns how many values of `bits` bits one block of `block_bytes` holds
/// (`getNumValuesPerBlock`: a power of two).
pub fn values_per_block(bits: u32, block_bytes: usize) -> usize {
    let mut values = 1usize;
    while serialized_len_bytes(bits, values) <= block_bytes {
        values *= 2;
    }
    values / 2
}

/// Returns packed value `index` of `raw`; `raw` must hold at least
/// `packed_len_bytes(bits, index + 1)` bytes.
#[inline]
pub fn get(raw: &[u8], bits: u32, index: usize) -> u64 {
    let bit = index * bits as usize;
    let at = bit >> 3;
    let word = match raw.get(at..at + 8) {
        Some(bytes) => u64::from_be_bytes(bytes.try_into().expect("8 bytes")),
        None => {
            let mut padded = [0u8; 8];
            let tail = &raw[at..];
            padded[..tail.len()].copy_from_slice(tail);
            u64::from_be_bytes(padded)
        }
    };
    if bits == 64 {
        word
    } else {
        (word << (bit & 7)) >> (64 - bits)
    }
}

/// Appends `count` packed values of `raw`, starting at value `start`, mapped by `map`, to `out`.
/// `raw` must hold at least `packed_len_bytes(bits, start + count)` bytes.
#[inline]
pub fn unpack<T>(
    raw: &[u8],
    bits: u32,
    start: usize,
    count: usize,
    out: &mut Vec<T>,
    map: impl Fn(u64) -> T,
) {
    debug_assert!(raw.len() >= packed_len_bytes(bits, start + count));
    let aligned = |width: usize| raw[start * width..(start + count) * width].chunks_exact(width);
    match bits {
        8 => out.extend(aligned(1).map(|b| map(b[0] as u64))),
        16 => out.extend(aligned(2).map(|b| map(u16::from_be_bytes([b[0], b[1]]) as u64))),
        32 => out.extend(
            aligned(4).map(|b| map(u32::from_be_bytes(b.try_into().expect("4 bytes")) as u64)),
        ),
        64 => out.extend(aligned(8).map(|b| map(u64::from_be_bytes(b.try_into().expect("8"))))),
        _ => out.extend((start..start + count).map(|index| map(get(raw, bits, index)))),
    }
}

/// Packs values into Druid's bit stream (`VSizeLongSerde.getSerializer`).
#[derive(Debug)]
pub struct BitPacker {
    bits: u32,
    acc: u128,
    pending_bits: u32,
    count: usize,
    out: Vec<u8>,
}

impl BitPacker {
    /// Starts a stream of `bits`-bit values (one of [`SUPPORTED_BITS`]).
    pub fn new(bits: u32) -> BitPacker {
        debug_assert!(SUPPORTED_BITS.contains(&bits));
        BitPacker {
            bits,
            acc: 0,
            pending_bits: 0,
            count: 0,
            out: Vec::new(),
        }
    }

    /// Appends one value (its low `bits` bits).
    #[inline]
    pub fn push(&mut self, value: u64) {
        let mask = if self.bits == 64 {
            u64::MAX
        } else {
            (1u64 << self.bits) - 1
        };
        self.acc = (self.acc << self.bits) | u128::from(value & mask);
        self.pending_bits += self.bits;
        self.count += 1;
        while self.pending_bits >= 8 {
            self.pending_bits -= 8;
            self.out.push((self.acc >> self.pending_bits) as u8);
        }
    }

    /// Returns the bytes completed so far (taking them out of the packer).
    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Returns the number of values pushed.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Closes the stream as Druid does (last partial byte, then 4 zero bytes) and returns the
    /// bytes not yet taken.
    pub fn finish(mut self) -> Vec<u8> {
        if self.pending_bits > 0 {
            self.out
                .push(((self.acc << (8 - self.pending_bits)) & 0xFF) as u8);
        } else if self.count == 0 && self.bits < 4 {
            self.out.push(0);
        }
        self.out.extend_from_slice(&[0; CLOSING_BYTES]);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(bits: u32, values: &[u64]) -> Vec<u8> {
        let mut packer = BitPacker::new(bits);
        values.iter().for_each(|v| packer.push(*v));
        packer.finish()
    }

    #[test]
    fn packs_like_druid_serializers() {
        // Mult4Ser (12 bits): 0xABC, 0xDEF -> AB CD EF; Size2Ser: 1,2,3,0 -> 6C.
        assert_eq!(pack(12, &[0xABC, 0xDEF]), [0xAB, 0xCD, 0xEF, 0, 0, 0, 0]);
        assert_eq!(pack(12, &[0xABC]), [0xAB, 0xC0, 0, 0, 0, 0]);
        assert_eq!(pack(2, &[1, 2, 3, 0]), [0x6C, 0, 0, 0, 0]);
        assert_eq!(pack(1, &[1, 0, 1]), [0xA0, 0, 0, 0, 0]);
        assert_eq!(pack(1, &[]), [0; 5]);
        assert_eq!(pack(4, &[]), [0; 4]);
        assert_eq!(
            pack(64, &[u64::MAX]),
            [0xFF; 8].iter().chain(&[0; 4]).copied().collect::<Vec<_>>()
        );
        assert_eq!(
            pack(20, &[0x12345, 0x6789A]),
            [0x12, 0x34, 0x56, 0x78, 0x9A, 0, 0, 0, 0]
        );
    }

    #[test]
    fn widths_and_block_sizes_follow_vsize_long_serde() {
        assert_eq!(bits_for_max(0), 1);
        assert_eq!(bits_for_max(2), 1);
        assert_eq!(bits_for_max(3), 2);
        assert_eq!(bits_for_max(256), 8);
        assert_eq!(bits_for_max(257), 12);
        assert_eq!(bits_for_max(u64::MAX / 2), 64);
        assert_eq!(values_per_block(64, 65536), 4096);
        assert_eq!(values_per_block(16, 65536), 16384);
        assert_eq!(values_per_block(1, 65536), 262_144);
        assert_eq!(values_per_block(12, 65536), 32768);
    }

    #[test]
    fn reads_back_every_width_at_every_offset() {
        for bits in SUPPORTED_BITS {
            let mask = if bits == 64 {
                u64::MAX
            } else {
                (1 << bits) - 1
            };
            let values: Vec<u64> = (0..300u64)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & mask)
                .collect();
            let bytes = pack(bits, &values);
            let area = &bytes[..packed_len_bytes(bits, values.len())];
            for (index, value) in values.iter().enumerate() {
                assert_eq!(get(area, bits, index), *value, "bits {bits} index {index}");
            }
            let mut out = Vec::new();
            unpack(area, bits, 7, 200, &mut out, |v| v);
            assert_eq!(out, values[7..207], "bits {bits}");
        }
    }
}
