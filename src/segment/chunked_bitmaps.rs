//! Builds the per-value roaring bitmaps of a low-cardinality string column a chunk of rows at a
//! time, in memory, from `(row, id)` pairs arriving in row order.
//!
//! A roaring bitmap is a list of containers, one per 65,536-row chunk (the rows' high 16 bits).
//! Rows arrive in order, so once a row of the next chunk arrives, every id's container for the
//! chunk before is complete: it is serialized then and there, and the id keeps only its
//! containers' bytes (what its finished bitmap holds) plus the low halves of its rows in the
//! current chunk:
//!
//! ```text
//! per id: lows      u16 per row of the current chunk (emptied at each chunk's end)
//!         list      serialized containers of the chunks before (roaring_encode::ContainerList)
//! finish: per id in id order, header + containers = the bytes RoaringEncoder::encode gives
//! ```
//!
//! With few ids, every id's `lows` stays in cache, and the windowed builder's spill of every
//! `(id, row)` pair (4 bytes a row, written through the page cache and read back) is not
//! needed. Memory is the finished bitmaps' bytes (and 40 bytes of bookkeeping per container)
//! plus one chunk of rows.

use std::io;

use super::roaring_encode::{ContainerList, RoaringEncoder};

/// A `lows` buffer bigger than this many values after a chunk is freed, not kept: an id dense
/// in one chunk must not hold 128 KiB for every later chunk.
const KEPT_LOWS: usize = 4096;

/// The bitmaps of one low-cardinality column, built a chunk at a time.
#[derive(Debug)]
pub(crate) struct ChunkedBitmaps {
    /// Whether a row may name an id twice (multi-value columns).
    repeats: bool,
    /// The high 16 bits of the rows in `lows`.
    chunk_key: u32,
    /// Per id: the low 16 bits of its rows in the current chunk, increasing.
    lows: Vec<Vec<u16>>,
    /// Per id: its containers of the chunks before.
    lists: Vec<ContainerList>,
    encoder: RoaringEncoder,
    rows: Vec<u32>,
}

impl ChunkedBitmaps {
    /// An empty builder for `cardinality` ids; `repeats` when a row may name an id twice.
    pub(crate) fn new(cardinality: usize, repeats: bool) -> Self {
        ChunkedBitmaps {
            repeats,
            chunk_key: 0,
            lows: (0..cardinality).map(|_| Vec::new()).collect(),
            lists: (0..cardinality).map(|_| ContainerList::default()).collect(),
            encoder: RoaringEncoder::default(),
            rows: Vec::new(),
        }
    }

    /// Marks `row` in the bitmap of `id`. Rows must not decrease; a pair repeated (the same id
    /// twice in a multi-value row, for a builder made with `repeats`) is kept once.
    #[inline]
    pub(crate) fn push(&mut self, row: u32, id: u32) {
        if row >> 16 != self.chunk_key {
            self.end_chunk();
            self.chunk_key = row >> 16;
        }
        let lows = &mut self.lows[id as usize];
        let low = row as u16;
        if self.repeats && lows.last() == Some(&low) {
            return;
        }
        lows.push(low);
    }

    /// [`ChunkedBitmaps::push`] of `(first_row + i, ids[i])` for every `i`.
    pub(crate) fn push_consecutive(&mut self, first_row: u32, ids: &[u32]) {
        for (row, id) in (first_row..).zip(ids) {
            self.push(row, *id);
        }
    }

    /// Serializes every id's container of the current chunk.
    fn end_chunk(&mut self) {
        let high = self.chunk_key << 16;
        for (lows, list) in self.lows.iter_mut().zip(&mut self.lists) {
            if lows.is_empty() {
                continue;
            }
            self.rows.clear();
            self.rows
                .extend(lows.iter().map(|low| high | u32::from(*low)));
            self.encoder.push_container(&self.rows, list);
            lows.clear();
            if lows.capacity() > KEPT_LOWS {
                *lows = Vec::new();
            }
        }
    }

    /// Hands each id's serialized bitmap to `f`, in id order (zero bytes for an id never
    /// pushed).
    pub(crate) fn finish(mut self, f: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        self.end_chunk();
        let mut serialized = Vec::new();
        for list in &mut self.lists {
            RoaringEncoder::finish_list(list, &mut serialized);
            f(&serialized)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use roaring::RoaringBitmap;

    use super::*;
    use crate::segment::bitmap::encode_roaring;
    use crate::segment::bitmap_builder::collect_finished;

    fn finished(builder: ChunkedBitmaps) -> Vec<Vec<u8>> {
        collect_finished(|f| builder.finish(f))
    }

    fn serialized(bitmaps: &mut [RoaringBitmap]) -> Vec<Vec<u8>> {
        bitmaps
            .iter_mut()
            .map(|bitmap| {
                let mut bytes = Vec::new();
                encode_roaring(bitmap, &mut bytes);
                bytes
            })
            .collect()
    }

    /// Rows with a random id each (some named twice in the row, some rows with several ids),
    /// spread over a few chunks, with gaps of whole chunks without rows.
    fn pairs() -> impl Strategy<Value = (usize, Vec<(u32, u32)>)> {
        (
            2usize..40,
            prop::collection::vec((0u32..30_000, any::<u32>(), 0u8..4), 1..400),
        )
            .prop_map(|(cardinality, steps)| {
                let mut pairs = Vec::new();
                let mut row = 0u32;
                for (gap, pick, repeats) in steps {
                    row += gap % 7 + if gap < 50 { 70_000 } else { 0 };
                    let id = pick % cardinality as u32;
                    for _ in 0..=repeats % 2 {
                        pairs.push((row, id));
                    }
                }
                (cardinality, pairs)
            })
    }

    proptest! {
        #[test]
        fn bitmaps_equal_naive_insertion((cardinality, pairs) in pairs()) {
            let mut builder = ChunkedBitmaps::new(cardinality, true);
            let mut naive = vec![RoaringBitmap::new(); cardinality];
            for (row, id) in pairs {
                builder.push(row, id);
                naive[id as usize].insert(row);
            }
            prop_assert_eq!(finished(builder), serialized(&mut naive));
        }
    }

    proptest! {
        #[test]
        fn consecutive_blocks_equal_naive_insertion(
            first_row in prop_oneof![0u32..200_000, Just(u32::MAX - 70_000)],
            ids in prop::collection::vec(0u32..5, 1..70_000),
            blocks in prop::collection::vec(1usize..90_000, 1..8),
        ) {
            let mut builder = ChunkedBitmaps::new(5, false);
            let (mut row, mut rest) = (first_row, &ids[..]);
            for block in blocks.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (now, later) = rest.split_at((*block).min(rest.len()));
                builder.push_consecutive(row, now);
                (row, rest) = (row + now.len() as u32, later);
            }
            let mut naive = vec![RoaringBitmap::new(); 5];
            for (row, id) in (first_row..).zip(&ids) {
                naive[*id as usize].insert(row);
            }
            prop_assert_eq!(finished(builder), serialized(&mut naive));
        }
    }

    #[test]
    fn dense_and_sparse_ids_across_chunks_match_the_crate() {
        // id 0 on every row but every 10th (bitmap containers), id 1 on the rest (arrays),
        // id 2 never: 300,000 rows over five chunks, pushed in id blocks.
        let ids: Vec<u32> = (0..300_000).map(|r| u32::from(r % 10 == 0)).collect();
        let mut builder = ChunkedBitmaps::new(3, false);
        for (block, ids) in ids.chunks(1000).enumerate() {
            builder.push_consecutive(block as u32 * 1000, ids);
        }
        let mut naive = vec![RoaringBitmap::new(); 3];
        for (row, id) in ids.iter().enumerate() {
            naive[*id as usize].insert(row as u32);
        }
        let built = finished(builder);
        assert!(built[2].is_empty());
        assert_eq!(built, serialized(&mut naive));
    }
}
