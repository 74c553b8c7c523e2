//! The writer half of `compression` (layouts drawn there): [`BlockWriter`] cuts a byte stream into
//! blocks of at most 64 KiB, compresses each as it fills and stores them in a GenericIndexed;
//! [`ValueSink`] is what a numeric column writes into — those blocks, or for `none` the entire
//! layout (the bytes as they are).

use super::compression::{Compression, MAX_BLOCK_BYTES};
use super::generic_indexed::GenericIndexedWriter;
use super::spill::Spill;

/// Cuts a byte stream into blocks, compresses each as it fills, and stores them in a GenericIndexed.
#[derive(Debug)]
pub struct BlockWriter {
    blocks: GenericIndexedWriter,
    current: Vec<u8>,
    block_bytes: usize,
    compression: Compression,
    scratch: Vec<u8>,
}

impl BlockWriter {
    /// Starts a writer whose full blocks hold `block_bytes` uncompressed bytes.
    pub fn new(spill: Spill, block_bytes: usize, compression: Compression) -> Self {
        debug_assert!(block_bytes <= MAX_BLOCK_BYTES);
        debug_assert!(matches!(
            compression,
            Compression::Lz4 | Compression::Uncompressed
        ));
        BlockWriter {
            blocks: GenericIndexedWriter::new(spill, false),
            current: Vec::with_capacity(block_bytes),
            block_bytes,
            compression,
            scratch: Vec::new(),
        }
    }

    /// Appends bytes that belong to whole values; a value never straddles two blocks because the
    /// block size is a multiple of the value size.
    #[inline]
    pub fn push(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(bytes);
        if self.current.len() >= self.block_bytes {
            self.flush_block()?;
        }
        Ok(())
    }

    fn flush_block(&mut self) -> std::io::Result<()> {
        if self.current.is_empty() {
            return Ok(());
        }
        match self.compression {
            Compression::Lz4 => {
                self.scratch.resize(
                    lz4_flex::block::get_maximum_output_size(self.current.len()),
                    0,
                );
                let len = lz4_flex::block::compress_into(&self.current, &mut self.scratch)
                    .map_err(std::io::Error::other)?;
                self.blocks.push(Some(&self.scratch[..len]))?;
            }
            _ => self.blocks.push(Some(&self.current))?,
        }
        self.current.clear();
        Ok(())
    }

    /// Appends the low `width` bytes (little-endian) of each value, as [`BlockWriter::push`] of
    /// each would, a block's worth at a time (`width` divides the block size).
    pub fn push_packed(&mut self, values: &[u32], width: usize) -> std::io::Result<()> {
        // One loop per width, each with constant-length copies.
        match width {
            1 => self.push_each::<1, _, _>(values, |v| v.to_le_bytes()),
            2 => self.push_each::<2, _, _>(values, |v| v.to_le_bytes()),
            3 => self.push_each::<3, _, _>(values, |v| v.to_le_bytes()),
            _ => self.push_each::<4, _, _>(values, |v| v.to_le_bytes()),
        }
    }

    /// Appends each value's 8 little-endian bytes, a block's worth at a time.
    pub fn push_longs(&mut self, values: &[i64]) -> std::io::Result<()> {
        self.push_each::<8, _, _>(values, |v| v.to_le_bytes())
    }

    /// Appends the first `N` of each value's `bytes`, filling and flushing whole blocks (`N`
    /// divides the block size).
    #[inline(always)]
    fn push_each<const N: usize, T: Copy, const B: usize>(
        &mut self,
        values: &[T],
        bytes: impl Fn(T) -> [u8; B],
    ) -> std::io::Result<()> {
        let mut rest = values;
        while !rest.is_empty() {
            let room = (self.block_bytes - self.current.len()) / N;
            let (now, later) = rest.split_at(room.min(rest.len()));
            let start = self.current.len();
            self.current.resize(start + now.len() * N, 0);
            for (chunk, value) in self.current[start..].chunks_exact_mut(N).zip(now) {
                chunk.copy_from_slice(&bytes(*value)[..N]);
            }
            if room == 0 || self.current.len() >= self.block_bytes {
                self.flush_block()?;
            }
            rest = later;
        }
        Ok(())
    }

    /// Stores `bytes` as one whole block (bit-packed writers cut their own blocks).
    pub fn push_block(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        debug_assert!(self.current.is_empty());
        self.current.extend_from_slice(bytes);
        self.flush_block()
    }

    /// Flushes the last partial block and returns the GenericIndexed of blocks.
    pub fn finish(mut self) -> std::io::Result<GenericIndexedWriter> {
        self.flush_block()?;
        Ok(self.blocks)
    }

    /// Returns the compression strategy.
    pub fn compression(&self) -> Compression {
        self.compression
    }
}

/// Where a numeric writer puts its values: compressed blocks, or one area (`none`).
#[derive(Debug)]
pub enum ValueSink {
    /// Blocks of a GenericIndexed.
    Blocks(BlockWriter),
    /// The entire layout: the bytes as they are.
    Entire(Spill),
}

impl ValueSink {
    /// Opens the sink of `compression` (blocks of `block_bytes` uncompressed bytes).
    pub fn new(spill: Spill, block_bytes: usize, compression: Compression) -> ValueSink {
        match compression {
            Compression::None => ValueSink::Entire(spill),
            other => ValueSink::Blocks(BlockWriter::new(spill, block_bytes, other)),
        }
    }

    /// Appends the bytes of whole values.
    #[inline]
    pub fn push(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            ValueSink::Blocks(blocks) => blocks.push(bytes),
            ValueSink::Entire(spill) => spill.write_all(bytes),
        }
    }

    /// Appends each value's 8 little-endian bytes.
    pub fn push_longs(&mut self, values: &[i64]) -> std::io::Result<()> {
        match self {
            ValueSink::Blocks(blocks) => blocks.push_longs(values),
            ValueSink::Entire(spill) => spill.write_each(values, i64::to_le_bytes),
        }
    }

    /// Returns the compression strategy.
    pub fn compression(&self) -> Compression {
        match self {
            ValueSink::Blocks(blocks) => blocks.compression(),
            ValueSink::Entire(_) => Compression::None,
        }
    }

    /// Returns the `sizePer` header field: `size_per`, or 0 for the entire layout.
    pub fn header_size_per(&self, size_per: usize) -> usize {
        match self {
            ValueSink::Blocks(_) => size_per,
            ValueSink::Entire(_) => 0,
        }
    }

    /// Writes the value area (the blocks' GenericIndexed, or the bytes) to `out`.
    pub fn write_to(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        match self {
            ValueSink::Blocks(blocks) => blocks.finish()?.write_to(out),
            ValueSink::Entire(spill) => spill.copy_to(out),
        }
    }
}
