//! Test-only models of Java code: `java.util.Random`, Guava's `hashLong`, and Druid's own
//! order-dependent `HyperLogLogCollector.add(short, byte)` on a dense collector.

use super::super::codec::{DruidHeader, PAYLOAD_BYTES};
use super::super::estimate::estimate_dense;
use super::super::*;

/// `java.util.Random`, enough for `nextLong()`.
pub(super) struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_deec_e66d;
    const MASK: u64 = (1 << 48) - 1;

    pub(super) fn new(seed: i64) -> Self {
        Self {
            seed: (seed as u64 ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xb)) & Self::MASK;
        (self.seed >> (48 - bits)) as i32
    }

    pub(super) fn next_long(&mut self) -> i64 {
        (i64::from(self.next(32)) << 32).wrapping_add(i64::from(self.next(32)))
    }
}

/// Guava `murmur3_128().hashLong(value).asBytes()`: the hash of the 8 little-endian bytes.
pub(super) fn hash_long(value: i64) -> [u8; 16] {
    murmur3_128_guava(&value.to_le_bytes())
}

/// Druid's mutable collector state, following `HyperLogLogCollector.add(short, byte)` step by
/// step (offset bumps one at a time, overflow values dropped when a larger one is held).
pub(super) struct DruidSequentialModel {
    register_offset: u8,
    nibbles: [u8; NUM_BUCKETS],
    pub(super) num_non_zero: usize,
    overflow_value: u8,
    overflow_register: u16,
    /// Values Druid discarded because a larger overflow value was held (order dependent).
    pub(super) num_dropped_overflow_values: usize,
}

impl DruidSequentialModel {
    pub(super) fn new() -> Self {
        Self {
            register_offset: 0,
            nibbles: [0; NUM_BUCKETS],
            num_non_zero: 0,
            overflow_value: 0,
            overflow_register: 0,
            num_dropped_overflow_values: 0,
        }
    }

    pub(super) fn add_hash(&mut self, hash: &[u8; 16]) {
        let bucket = u16::from_be_bytes([hash[14], hash[15]]) & 0x7ff;
        let zero_prefix_bytes = hash[..8].iter().take_while(|&&byte| byte == 0).count();
        let position_of_1 = match hash
            .get(zero_prefix_bytes)
            .filter(|_| zero_prefix_bytes < 8)
        {
            Some(&byte) => 8 * zero_prefix_bytes as u8 + byte.trailing_zeros() as u8 + 1,
            None => 64,
        };
        self.add(bucket, position_of_1);
    }

    fn add(&mut self, bucket: u16, position_of_1: u8) {
        let offset = self.register_offset;
        if position_of_1 <= offset {
            return;
        }
        if position_of_1 > offset + 15 {
            if position_of_1 > self.overflow_value {
                if self.overflow_value <= offset + 15 {
                    self.add(self.overflow_register, self.overflow_value);
                } else {
                    self.num_dropped_overflow_values += 1;
                }
                self.overflow_value = position_of_1;
                self.overflow_register = bucket;
            } else {
                self.num_dropped_overflow_values += 1;
            }
            return;
        }
        let nibble = &mut self.nibbles[usize::from(bucket)];
        if *nibble == 0 {
            self.num_non_zero += 1;
        }
        *nibble = (*nibble).max(position_of_1 - offset);
        if self.num_non_zero == NUM_BUCKETS {
            self.register_offset += 1;
            self.nibbles.iter_mut().for_each(|nibble| *nibble -= 1);
            self.num_non_zero = self.nibbles.iter().filter(|&&nibble| nibble != 0).count();
        }
    }

    fn payload(&self) -> [u8; PAYLOAD_BYTES] {
        let mut payload = [0u8; PAYLOAD_BYTES];
        for (byte, pair) in payload.iter_mut().zip(self.nibbles.chunks_exact(2)) {
            *byte = (pair[0] << 4) | pair[1];
        }
        payload
    }

    /// Druid's `toByteArray()` of a collector with dense storage.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![1, self.register_offset];
        bytes.extend_from_slice(&(self.num_non_zero as u16).to_be_bytes());
        bytes.push(self.overflow_value);
        bytes.extend_from_slice(&self.overflow_register.to_be_bytes());
        let payload = self.payload();
        if self.num_non_zero >= 128 {
            bytes.extend_from_slice(&payload);
            return bytes;
        }
        for (byte_index, &byte) in (7u16..).zip(payload.iter()).filter(|&(_, &byte)| byte != 0) {
            bytes.extend_from_slice(&byte_index.to_be_bytes());
            bytes.push(byte);
        }
        bytes.resize(7 + 3 * self.num_non_zero, 0);
        bytes
    }

    pub(super) fn estimate(&self) -> f64 {
        let payload = self.payload();
        let header = DruidHeader {
            register_offset: self.register_offset,
            num_non_zero_registers: self.num_non_zero as u16,
            overflow: (self.overflow_value != 0)
                .then_some((self.overflow_register, self.overflow_value)),
        };
        estimate_dense(&header, &payload)
    }
}
