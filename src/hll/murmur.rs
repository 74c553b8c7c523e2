//! Guava's `Hashing.murmur3_128(seed)` (MurmurHash3 x64 128) over a byte slice, without the
//! `io::Read` plumbing of a streaming implementation: full 16-byte blocks, then the tail read
//! as one zero-padded block (mixing a zero lane is a no-op, so short tails need no branches).

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

/// Returns Guava's `Hashing.murmur3_128().hashBytes(bytes).asBytes()` (seed 0): `h1` then `h2`,
/// each little-endian.
#[inline]
pub fn murmur3_128_guava(bytes: &[u8]) -> [u8; 16] {
    murmur3_128_guava_seeded(bytes, 0)
}

/// Returns Guava's `Hashing.murmur3_128(seed).hashBytes(bytes).asBytes()`.
#[inline]
pub(super) fn murmur3_128_guava_seeded(bytes: &[u8], seed: u32) -> [u8; 16] {
    let (h1, h2) = murmur3_x64_128(bytes, u64::from(seed));
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&h1.to_le_bytes());
    out[8..].copy_from_slice(&h2.to_le_bytes());
    out
}

#[inline(always)]
fn mix_k1(k1: u64) -> u64 {
    k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2)
}

#[inline(always)]
fn mix_k2(k2: u64) -> u64 {
    k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1)
}

#[inline(always)]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

#[inline(always)]
fn lane(block: &[u8]) -> u64 {
    u64::from_le_bytes(block.try_into().expect("an eight-byte lane"))
}

/// MurmurHash3 x64 128: returns `(h1, h2)`.
#[inline]
fn murmur3_x64_128(bytes: &[u8], seed: u64) -> (u64, u64) {
    let (mut h1, mut h2) = (seed, seed);
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        h1 ^= mix_k1(lane(&block[..8]));
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        h2 ^= mix_k2(lane(&block[8..]));
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = blocks.remainder();
    let mut padded = [0u8; 16];
    padded[..tail.len()].copy_from_slice(tail);
    h1 ^= mix_k1(lane(&padded[..8]));
    h2 ^= mix_k2(lane(&padded[8..]));
    let length = bytes.len() as u64;
    h1 ^= length;
    h2 ^= length;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (h1, h2)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The reference: the `murmur3` crate's streaming implementation.
    fn reference(bytes: &[u8], seed: u32) -> [u8; 16] {
        let mut reader = bytes;
        ::murmur3::murmur3_x64_128(&mut reader, seed)
            .expect("an in-memory reader")
            .to_le_bytes()
    }

    #[test]
    fn agrees_with_the_reference_at_every_length_around_the_block_size() {
        let data: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37)).collect();
        for len in 0..data.len() {
            assert_eq!(
                murmur3_128_guava_seeded(&data[..len], 7),
                reference(&data[..len], 7),
                "length {len}"
            );
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_reference(bytes in proptest::collection::vec(any::<u8>(), 0..80), seed in any::<u32>()) {
            prop_assert_eq!(murmur3_128_guava_seeded(&bytes, seed), reference(&bytes, seed));
        }
    }
}
