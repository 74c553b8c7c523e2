//! Druid's `hyperUnique` HyperLogLogCollector: 2048 buckets, serialized byte-compatibly with
//! Druid's `HyperLogLogCollector.toByteArray()` (version 1), read from versions 0 and 1.
//!
//! # Bytes (Druid `HLLCV1`, all shorts big-endian)
//!
//! ```text
//! offset  size  field
//! 0       1     version 0x01
//! 1       1     registerOffset            o: every stored nibble is `register - o`
//! 2       2     numNonZeroRegisters       count of non-zero nibbles
//! 4       1     maxOverflowValue          the one register too large for a nibble (0 = none)
//! 5       2     maxOverflowRegister       its bucket
//! 7       ...   payload, one of:
//!   dense  (1024 bytes, total 1031): byte k holds bucket 2k in the upper nibble and 2k+1 in
//!          the lower nibble
//!   sparse (written when numNonZeroRegisters < 128): 3-byte entries `i16 position, u8 byte`
//!          for each non-zero payload byte in ascending order, position = byte index + 7;
//!          the payload is sized `3 * numNonZeroRegisters` and zero-padded, because two
//!          registers can share one byte (Druid sizes the array by registers, fills it by bytes)
//! ```
//!
//! Version 0 (`HLLCV0`, read only) has a 3-byte header (`registerOffset`, `numNonZeroRegisters`),
//! no overflow fields, a 1024-byte dense payload (total 1027) or sparse entries whose position
//! is the byte index + 3. A buffer is version 0 when `len % 3 == 0 || len == 1027`.
//!
//! A value is hashed with Guava's `murmur3_128` (seed 0) into 16 bytes (`h1` little-endian,
//! then `h2` little-endian). Its bucket is `u16::from_be_bytes(hash[14..16]) & 0x7ff`; its
//! register candidate ("positionOf1") is one plus the number of trailing zero bits of the
//! little-endian `u64` in `hash[0..8]`, at most 64.
//!
//! # Determinism: exact registers inside, Druid bytes derived
//!
//! Druid's collector mutates `registerOffset` and the overflow pair as values arrive, so its
//! bytes depend on the order of adds and folds: the offset rises by at most one per add and can
//! lag behind the smallest register, a value more than 15 above the offset is dropped when a
//! larger overflow value is already held (had it arrived after the offset rose, it would have
//! been kept), and of two equal overflow values the first one wins. This collector instead keeps the exact per-bucket maximum (a commutative,
//! idempotent merge), and derives the Druid state from those registers every time it
//! serializes or estimates:
//! - `registerOffset` = the smallest register (capped at 63, the largest offset Druid's
//!   estimator tables cover), so every zero nibble stands for a bucket whose register equals
//!   the offset, which is exactly how Druid's estimator reads it;
//! - if some register exceeds the offset by more than 15, the largest one (lowest bucket on
//!   ties) becomes `maxOverflowValue`/`maxOverflowRegister`, and its nibble is left 0, as Druid
//!   leaves it when a bucket's only value overflowed (so a one-value row is byte-identical);
//! - any other register above `offset + 15` is stored as 15 (saturated). Druid drops such a
//!   value instead; saturation keeps a lower bound and never changes the offset or overflow.
//!
//! Every derived state is one Druid's own adds can produce (it is what Druid holds when its
//! offset has caught up and it dropped nothing), so Druid reads the bytes back as the same
//! per-bucket registers and folds them with its own collectors normally. Where Druid itself
//! keeps every value (no dropped overflow, no lag), the bytes are identical to Druid's; a
//! one-value row always is. [`HyperLogLogCollector::estimate`] runs Druid's
//! `estimateCardinality()` on the derived state, i.e. the number a Druid query reports after
//! folding these bytes into its (dense) aggregator. Reading bytes back is exact except for
//! saturated registers, which read back as `offset + 15`.
//!
//! The sparse form is written with a non-zero offset only when 1921 or more registers equal the
//! smallest one, which real hashes do not produce; Druid 0.9.2's `fold` mishandles such input
//! (fixed in later Druid), as it does for its own collectors.
//!
//! # Memory
//!
//! Up to 5 non-zero registers live inline in the 24-byte struct (no heap), up to 512 in a
//! sorted heap array of packed `(bucket << 8) | register` words (at most 2048 bytes), and beyond
//! that in a dense array of 2048 one-byte registers.

mod codec;
mod estimate;
mod murmur;
mod registers;
#[cfg(test)]
mod tests;

pub use murmur::murmur3_128_guava;
#[cfg(test)]
use murmur::murmur3_128_guava_seeded;
use registers::Registers;

/// Number of buckets (registers) of a Druid collector (`2^11`).
pub const NUM_BUCKETS: usize = 2048;

/// Errors reading serialized collector bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HllError {
    /// The length matches neither a version-0 nor a version-1 layout.
    #[error("`hyperUnique` collector of {len_bytes} bytes has no valid layout")]
    InvalidLength {
        /// Length of the rejected buffer.
        len_bytes: usize,
    },
    /// The version byte of a version-1 collector is neither 1 nor 0.
    #[error("`hyperUnique` collector has unsupported version byte `{version}`")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// `registerOffset` is beyond what Druid's estimator supports (63).
    #[error("`hyperUnique` `registerOffset` {register_offset} is out of range")]
    RegisterOffsetOutOfRange {
        /// The offset found.
        register_offset: u8,
    },
    /// A register value exceeds 64, which no 64-bit hash prefix can produce.
    #[error("`hyperUnique` register of bucket {bucket} has impossible value {value}")]
    RegisterOutOfRange {
        /// The bucket.
        bucket: u16,
        /// The register value (offset included).
        value: u8,
    },
    /// A sparse entry points outside the 1024-byte payload.
    #[error("`hyperUnique` sparse entry position {position} is outside the payload")]
    SparsePositionOutOfRange {
        /// The position found (header bytes included).
        position: u16,
    },
    /// Sparse entries are not in strictly ascending position order.
    #[error("`hyperUnique` sparse entry position {position} is not ascending")]
    SparsePositionNotAscending {
        /// The position found (header bytes included).
        position: u16,
    },
}

/// A Druid `hyperUnique` HyperLogLog collector with exact per-bucket registers.
///
/// `add_*` and [`fold`](Self::fold) are commutative and idempotent, so the serialized bytes only
/// depend on the set of values, never on how they were split or in which order they were folded.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HyperLogLogCollector {
    registers: Registers,
}

impl HyperLogLogCollector {
    /// Returns an empty collector (no heap allocation).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value: hashes its bytes with Guava's `murmur3_128` (seed 0) and adds the hash.
    #[inline]
    pub fn add_value(&mut self, value: &[u8]) {
        self.add_hash(&murmur3_128_guava(value));
    }

    /// Adds a 16-byte hash in Guava's `asBytes()` order, exactly as Druid's `add(byte[])`.
    #[inline]
    pub fn add_hash(&mut self, hash: &[u8; 16]) {
        let bucket = u16::from_be_bytes([hash[14], hash[15]]) & (NUM_BUCKETS as u16 - 1);
        let mut prefix_bytes = [0u8; 8];
        prefix_bytes.copy_from_slice(&hash[..8]);
        let prefix = u64::from_le_bytes(prefix_bytes);
        // INVARIANT: 1..=64, like Druid's byte-wise scan (all-zero prefix gives 64).
        let position_of_1 = (prefix.trailing_zeros() + 1).min(64) as u8;
        self.registers.set_max(bucket, position_of_1);
    }

    /// Merges `other` into this collector (per-bucket maximum).
    pub fn fold(&mut self, other: &HyperLogLogCollector) {
        self.registers.merge(&other.registers);
    }

    /// Reads Druid collector bytes of version 0 or 1, dense or sparse.
    ///
    /// An empty slice reads as an empty collector. Returns an error, never panics, on bytes
    /// that are not a collector.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HllError> {
        Ok(Self {
            registers: codec::read(bytes)?,
        })
    }

    /// Returns the bytes of Druid's version-1 `toByteArray()` for this collector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_bytes(&mut out);
        out
    }

    /// Appends the bytes of [`to_bytes`](Self::to_bytes) to `out`.
    pub fn write_bytes(&self, out: &mut Vec<u8>) {
        codec::write(&self.registers, out);
    }

    /// Returns Druid's `estimateCardinality()` of the dense collector Druid builds from these
    /// bytes (what a query reports), bit-identical to Druid's double.
    ///
    /// Druid's sparse-buffer estimator (`estimateByteBuffer` on unfolded bytes) differs from its
    /// dense one in corner cases (it skips a sparse collector's overflow register, so a lone
    /// overflow value estimates 0 there and about 1 after a fold); this returns the dense value.
    pub fn estimate(&self) -> f64 {
        estimate::estimate(&self.registers)
    }

    /// Returns the heap bytes this collector owns, not counting `size_of::<Self>()` (24).
    pub fn heap_bytes(&self) -> usize {
        self.registers.heap_bytes()
    }

    /// Returns true when no value has been added.
    pub fn is_empty(&self) -> bool {
        self.registers.is_empty()
    }
}

impl std::fmt::Debug for HyperLogLogCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperLogLogCollector")
            .field("num_non_zero_registers", &self.registers.num_non_zero())
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}
