//! A column of fixed-count blocks decoded one block at a time: the shared reader behind long,
//! float, double and dictionary-id columns. It keeps a one-block cache for random access
//! ([`BlockColumn::get`]) and decodes into reusable buffers for scans
//! ([`BlockColumn::for_each_block`]); it never copies a whole column.
//!
//! The byte layouts are drawn in the modules of the concrete columns (`long_column`,
//! `float_column`, `double_column`, `vsize_ints`).

use std::cell::RefCell;
use std::ops::Range;

use super::compression::Blocks;
use super::error::{Ctx, SegmentError};
use super::format::{FormatError, corrupt};

/// Byte order of the values inside blocks (`byteOrder` of the column part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ByteOrder {
    /// `LITTLE_ENDIAN`, what every real segment uses.
    #[default]
    Little,
    /// `BIG_ENDIAN`.
    Big,
}

impl ByteOrder {
    /// Parses Druid's JSON name.
    pub fn from_name(name: &str) -> Result<ByteOrder, FormatError> {
        match name {
            "LITTLE_ENDIAN" => Ok(ByteOrder::Little),
            "BIG_ENDIAN" => Ok(ByteOrder::Big),
            other => Err(corrupt(format!("unknown byte order `{other}`"))),
        }
    }

    /// Returns Druid's JSON name.
    pub fn name(self) -> &'static str {
        match self {
            ByteOrder::Little => "LITTLE_ENDIAN",
            ByteOrder::Big => "BIG_ENDIAN",
        }
    }
}

/// Decodes the bytes of one decompressed block into values.
pub trait BlockDecoder: Clone {
    /// The decoded value type.
    type Value: Copy + Default;
    /// Returns the size in bytes a decompression buffer needs (the largest valid block plus
    /// slack for word-wise reads); bounded by the caller's header checks to about 64 KiB.
    fn buffer_len(&self, size_per: usize) -> usize;
    /// Decodes `count` values from `raw`, which holds exactly `bytes_for(count)` bytes (the
    /// caller checked the block's length), into `out`.
    fn decode(
        &self,
        raw: &[u8],
        count: usize,
        out: &mut Vec<Self::Value>,
    ) -> Result<(), FormatError>;
    /// Returns the bytes the first `count` values of a block occupy.
    fn bytes_for(&self, count: usize) -> usize;
    /// Reads value `index` of a stored (not compressed) block; the caller checked that `raw`
    /// holds `bytes_for(index + 1)` bytes.
    fn get(&self, raw: &[u8], index: usize) -> Result<Self::Value, FormatError>;
    /// Calls `f(first + k, value)` for each `rows[k]` (ascending, inside the block starting at
    /// row `block_start`), reading the stored block `raw` in place.
    #[inline]
    fn gather_raw(
        &self,
        raw: &[u8],
        block_start: u32,
        rows: &[u32],
        first: usize,
        f: &mut impl FnMut(usize, Self::Value),
    ) -> Result<(), FormatError> {
        for (k, row) in rows.iter().enumerate() {
            f(first + k, self.get(raw, (row - block_start) as usize)?);
        }
        Ok(())
    }
}

/// A fixed-width little- or big-endian primitive.
pub trait Fixed: Copy + Default {
    /// Width in bytes.
    const SIZE: usize;
    /// Reads a value from exactly `SIZE` bytes.
    fn read(bytes: &[u8], order: ByteOrder) -> Self;
    /// Appends the little-endian bytes of the value.
    fn put_le(self, out: &mut [u8]);
}

macro_rules! impl_fixed {
    ($t:ty, $n:expr) => {
        impl Fixed for $t {
            const SIZE: usize = $n;
            #[inline]
            fn read(bytes: &[u8], order: ByteOrder) -> Self {
                let mut array = [0u8; $n];
                array.copy_from_slice(bytes);
                match order {
                    ByteOrder::Little => <$t>::from_le_bytes(array),
                    ByteOrder::Big => <$t>::from_be_bytes(array),
                }
            }
            #[inline]
            fn put_le(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
        }
    };
}
impl_fixed!(i64, 8);
impl_fixed!(f64, 8);
impl_fixed!(f32, 4);
impl_fixed!(i32, 4);

/// Decoder of blocks of fixed-width values.
#[derive(Debug, Clone, Copy)]
pub struct FixedDecoder<T> {
    order: ByteOrder,
    _marker: std::marker::PhantomData<T>,
}

impl<T: Fixed> FixedDecoder<T> {
    /// Decodes values stored in `order`.
    pub fn new(order: ByteOrder) -> Self {
        FixedDecoder {
            order,
            _marker: std::marker::PhantomData,
        }
    }
}

impl<T: Fixed> BlockDecoder for FixedDecoder<T> {
    type Value = T;

    fn bytes_for(&self, count: usize) -> usize {
        count * T::SIZE
    }

    #[inline]
    fn get(&self, raw: &[u8], index: usize) -> Result<T, FormatError> {
        Ok(T::read(
            &raw[index * T::SIZE..(index + 1) * T::SIZE],
            self.order,
        ))
    }

    fn buffer_len(&self, size_per: usize) -> usize {
        size_per * T::SIZE + 8
    }

    #[inline]
    fn decode(&self, raw: &[u8], _count: usize, out: &mut Vec<T>) -> Result<(), FormatError> {
        out.clear();
        let order = self.order;
        out.extend(raw.chunks_exact(T::SIZE).map(|chunk| T::read(chunk, order)));
        Ok(())
    }
}

#[derive(Debug)]
struct Cache<T> {
    block_opt: Option<usize>,
    raw: Vec<u8>,
    values: Vec<T>,
}

/// A lazily decoded block column; cheap to create, not shareable across threads (each thread
/// asks the segment for its own handle).
#[derive(Debug)]
pub struct BlockColumn<D: BlockDecoder> {
    blocks: Blocks,
    decoder: D,
    ctx: Ctx,
    cache: RefCell<Cache<D::Value>>,
}

impl<D: BlockDecoder> Clone for BlockColumn<D> {
    fn clone(&self) -> Self {
        BlockColumn::new(self.blocks.clone(), self.decoder.clone(), self.ctx.clone())
    }
}

impl<D: BlockDecoder> BlockColumn<D> {
    /// Wraps checked blocks with their decoder; `ctx` names the column in errors.
    pub fn new(blocks: Blocks, decoder: D, ctx: Ctx) -> Self {
        let cache = RefCell::new(Cache {
            block_opt: None,
            raw: Vec::new(),
            values: Vec::new(),
        });
        BlockColumn {
            blocks,
            decoder,
            ctx,
            cache,
        }
    }

    /// Returns the number of values (rows).
    pub fn len(&self) -> u32 {
        self.blocks.total() as u32
    }

    /// True when the column has no values.
    pub fn is_empty(&self) -> bool {
        self.blocks.total() == 0
    }

    fn decode_block(
        &self,
        block: usize,
        raw: &mut Vec<u8>,
        out: &mut Vec<D::Value>,
    ) -> Result<(), SegmentError> {
        let count = self.blocks.values_in_block(block);
        if let Some(stored) = self.blocks.raw_block(block).map_err(|e| self.ctx.err(e))? {
            return self.decode_exact(stored, count, out);
        }
        // Try a buffer sized for this block's values first (small segments stay cheap); old
        // writers padded the last block to the full size, so retry with the full block size.
        let mut capacity = self.decoder.buffer_len(count);
        let full = self.decoder.buffer_len(self.blocks.size_per());
        let raw_len = loop {
            if raw.len() < capacity {
                raw.resize(capacity, 0);
            }
            match self
                .blocks
                .decompress(block, &mut raw[..capacity])
                .map_err(|e| self.ctx.err(e))?
            {
                Some(len) => break len,
                None if capacity < full => capacity = full,
                None => {
                    return Err(self
                        .ctx
                        .corrupt(format!("block {block} decompresses beyond {full} bytes")));
                }
            }
        };
        self.decode_exact(&raw[..raw_len], count, out)
    }

    /// Decodes `count` values from a block's bytes, refusing a block too short to hold them.
    fn decode_exact(
        &self,
        raw: &[u8],
        count: usize,
        out: &mut Vec<D::Value>,
    ) -> Result<(), SegmentError> {
        let needed = self.decoder.bytes_for(count);
        if raw.len() < needed {
            return Err(self.ctx.corrupt(format!(
                "block holds {} bytes, {count} values need {needed}",
                raw.len()
            )));
        }
        self.decoder
            .decode(&raw[..needed], count, out)
            .map_err(|e| self.ctx.err(e))
    }

    /// Returns the value of `row`, decoding its block unless it is the cached one.
    pub fn get(&self, row: u32) -> Result<D::Value, SegmentError> {
        let row = row as usize;
        if row >= self.blocks.total() {
            return Err(self.ctx.corrupt(format!(
                "row {row} out of range, column has {}",
                self.blocks.total()
            )));
        }
        let size_per = self.blocks.size_per();
        let block = row / size_per;
        if let Some(stored) = self.blocks.raw_block(block).map_err(|e| self.ctx.err(e))? {
            let index = row - block * size_per;
            if stored.len() < self.decoder.bytes_for(index + 1) {
                return Err(self
                    .ctx
                    .corrupt(format!("block {block} too short for row {row}")));
            }
            return self.decoder.get(stored, index).map_err(|e| self.ctx.err(e));
        }
        let mut cache = self.cache.borrow_mut();
        self.fill_cache(&mut cache, block)?;
        Ok(cache.values[row - block * size_per])
    }

    /// Calls `f` with each decoded block from `start_row` to the end: the rows it covers and
    /// their values (the first block is cut to start at `start_row`).
    pub fn for_each_block(
        &self,
        start_row: u32,
        f: impl FnMut(Range<u32>, &[D::Value]),
    ) -> Result<(), SegmentError> {
        self.for_each_block_in(start_row..self.len(), f)
    }

    /// Calls `f` with each decoded block overlapping `rows`, cut to `rows`.
    pub fn for_each_block_in(
        &self,
        rows: Range<u32>,
        mut f: impl FnMut(Range<u32>, &[D::Value]),
    ) -> Result<(), SegmentError> {
        let end = rows.end.min(self.len()) as usize;
        let mut row = rows.start as usize;
        let size_per = self.blocks.size_per();
        let mut raw = Vec::new();
        let mut values = Vec::new();
        while row < end {
            let block = row / size_per;
            let block_start = block * size_per;
            self.decode_block(block, &mut raw, &mut values)?;
            let block_end = (block_start + values.len()).min(end);
            f(
                row as u32..block_end as u32,
                &values[row - block_start..block_end - block_start],
            );
            row = block_end;
        }
        Ok(())
    }

    /// Appends the values of `rows` to `out`.
    pub fn extend_range(
        &self,
        rows: Range<u32>,
        out: &mut Vec<D::Value>,
    ) -> Result<(), SegmentError> {
        self.for_each_block_in(rows, |_, values| out.extend_from_slice(values))
    }

    /// Calls `f(i, value of rows[i])` for every row of `rows` (ascending, below [`Self::len`]).
    /// Stored blocks (uncompressed, entire layout) are read in place, row by row (measured faster
    /// than decoding them whole even for dense selections); compressed blocks are decoded whole,
    /// and only when they hold a selected row.
    pub fn gather(
        &self,
        rows: &[u32],
        mut f: impl FnMut(usize, D::Value),
    ) -> Result<(), SegmentError> {
        let size_per = self.blocks.size_per() as u32;
        let total = self.len();
        let mut i = 0;
        let mut cache = self.cache.borrow_mut();
        while i < rows.len() {
            if rows[i] >= total {
                return Err(self.ctx.corrupt(format!("row {} out of range", rows[i])));
            }
            let block = (rows[i] / size_per) as usize;
            let block_start = block as u32 * size_per;
            let block_end = block_start.saturating_add(size_per);
            let j = i + rows[i..].partition_point(|r| *r < block_end);
            let count = self.blocks.values_in_block(block);
            let last = (rows[j - 1] - block_start) as usize;
            match self.blocks.raw_block(block).map_err(|e| self.ctx.err(e))? {
                Some(stored) => {
                    if stored.len() < self.decoder.bytes_for(last + 1) {
                        return Err(self
                            .ctx
                            .corrupt(format!("block {block} too short for its {count} values")));
                    }
                    self.decoder
                        .gather_raw(stored, block_start, &rows[i..j], i, &mut f)
                        .map_err(|e| self.ctx.err(e))?
                }
                None => {
                    self.fill_cache(&mut cache, block)?;
                    for (k, row) in rows[i..j].iter().enumerate() {
                        f(i + k, cache.values[(row - block_start) as usize]);
                    }
                }
            }
            i = j;
        }
        Ok(())
    }

    /// Decodes `block` into the cache unless it is there already.
    fn fill_cache(&self, cache: &mut Cache<D::Value>, block: usize) -> Result<(), SegmentError> {
        if cache.block_opt != Some(block) {
            cache.block_opt = None;
            let Cache { raw, values, .. } = cache;
            self.decode_block(block, raw, values)?;
            cache.block_opt = Some(block);
        }
        Ok(())
    }

    /// Returns the shareable parts (blocks, decoder, context) to rebuild handles from.
    pub fn into_parts(self) -> (Blocks, D, Ctx) {
        (self.blocks, self.decoder, self.ctx)
    }

    /// Returns the error context (file and column).
    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }
}
