//! Builds the per-value roaring bitmaps of a string column from `(row, id)` pairs arriving in row
//! order, and serializes them in id order.
//!
//! A column of at most [`CHUNKED_MAX_IDS`] ids builds them in memory, a 65,536-row chunk at a
//! time ([`ChunkedBitmaps`]). A larger one uses the windows below ([`WindowedBitmaps`]).
//!
//! Appending each row to its value's bitmap as it arrives costs two cache misses per row once
//! the dictionary is large (the builder, then its buffer): it was most of a persist. Instead the
//! pairs of a window of rows are buffered in arrival order (sequential writes), then
//! counting-sorted by id and written to a spill as one sorted run per id:
//!
//! ```text
//! window = (id u32 LE, count u32 LE) per id present, ascending | rows u32 LE, by id then row
//! ```
//!
//! At the end each id's runs are read back from every window, in window order (so its rows stay
//! increasing; the last window is read from memory, never spilled), and serialized directly
//! ([`RoaringEncoder`]). Nothing per id is kept in memory meanwhile (per-value `RoaringBitmap`s
//! were a quarter of a large merge's peak memory), and memory stays bounded by the window
//! whatever the row count.

use std::io;
use std::ops::Range;

use super::chunked_bitmaps::ChunkedBitmaps;
use super::roaring_encode::RoaringEncoder;
use super::spill::Spill;

/// Columns with at most this many ids build their bitmaps with [`ChunkedBitmaps`]: its per-id
/// state (the current chunk's rows) stays in cache, and nothing is spilled. Above it the
/// per-row appends miss the cache, and the windowed sort is faster.
pub(crate) const CHUNKED_MAX_IDS: usize = 2048;

/// The bitmaps of one column, built incrementally.
#[derive(Debug)]
pub(crate) enum BitmapIndexBuilder {
    /// At most [`CHUNKED_MAX_IDS`] ids.
    Chunked(ChunkedBitmaps),
    /// More ids.
    Windowed(WindowedBitmaps),
}

impl BitmapIndexBuilder {
    /// An empty builder for `cardinality` ids; `repeats` when a row may name an id twice.
    /// `spill` is called for a large column only, for the spill its sorted windows go to.
    pub(crate) fn new(
        cardinality: usize,
        repeats: bool,
        spill: impl FnOnce() -> io::Result<Spill>,
    ) -> io::Result<Self> {
        Ok(if cardinality <= CHUNKED_MAX_IDS {
            BitmapIndexBuilder::Chunked(ChunkedBitmaps::new(cardinality, repeats))
        } else {
            BitmapIndexBuilder::Windowed(WindowedBitmaps::new(cardinality, repeats, spill()?))
        })
    }

    /// Marks `row` in the bitmap of `id`. Rows must not decrease; a pair repeated (the same id
    /// twice in a multi-value row) is kept once.
    #[inline]
    pub(crate) fn push(&mut self, row: u32, id: u32) -> io::Result<()> {
        match self {
            BitmapIndexBuilder::Chunked(chunked) => {
                chunked.push(row, id);
                Ok(())
            }
            BitmapIndexBuilder::Windowed(windowed) => windowed.push(row, id),
        }
    }

    /// [`BitmapIndexBuilder::push`] of `(first_row + i, ids[i])` for every `i`.
    pub(crate) fn push_consecutive(&mut self, first_row: u32, ids: &[u32]) -> io::Result<()> {
        match self {
            BitmapIndexBuilder::Chunked(chunked) => {
                chunked.push_consecutive(first_row, ids);
                Ok(())
            }
            BitmapIndexBuilder::Windowed(windowed) => windowed.push_consecutive(first_row, ids),
        }
    }

    /// Hands each id's serialized bitmap to `f`, in id order (zero bytes for an id never
    /// pushed), and removes the spill.
    pub(crate) fn finish(self, f: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        match self {
            BitmapIndexBuilder::Chunked(chunked) => chunked.finish(f),
            BitmapIndexBuilder::Windowed(windowed) => windowed.finish(f),
        }
    }
}

/// The serialized bitmaps a builder's `finish` hands out, collected (for tests).
#[cfg(test)]
pub(crate) fn collect_finished(
    finish: impl FnOnce(&mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()>,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    finish(&mut |bytes| {
        out.push(bytes.to_vec());
        Ok(())
    })
    .unwrap();
    out
}

/// Values buffered before they are sorted into the spill (4 MiB of ids per column).
const WINDOW_VALUES: usize = 1 << 20;

/// Where one window's sorted runs are in the spill.
#[derive(Debug, Clone, Copy)]
struct Window {
    start_bytes: usize,
    id_count: usize,
    value_count: usize,
}

impl Window {
    fn end_bytes(&self) -> usize {
        self.start_bytes + 8 * self.id_count + 4 * self.value_count
    }
}

/// The bitmaps of one large column, built a window of pairs at a time.
#[derive(Debug)]
pub(crate) struct WindowedBitmaps {
    cardinality: usize,
    /// Whether a row may name an id twice (multi-value columns).
    repeats: bool,
    window_ids: Vec<u32>,
    window_rows: Vec<u32>,
    /// Per id: its count in the window, then the next write position of its run.
    positions: Vec<u32>,
    sorted_rows: Vec<u32>,
    /// The `(id, count)` pairs of the window being flushed.
    present: Vec<u32>,
    spill: Spill,
    windows: Vec<Window>,
}

impl WindowedBitmaps {
    /// An empty builder for `cardinality` ids, whose sorted windows go to `spill`; `repeats`
    /// when a row may name an id twice.
    pub(crate) fn new(cardinality: usize, repeats: bool, spill: Spill) -> Self {
        WindowedBitmaps {
            cardinality,
            repeats,
            window_ids: Vec::new(),
            window_rows: Vec::new(),
            positions: vec![0; cardinality],
            sorted_rows: Vec::new(),
            present: Vec::new(),
            spill,
            windows: Vec::new(),
        }
    }

    /// Marks `row` in the bitmap of `id`. Rows must not decrease; a pair repeated (the same id
    /// twice in a multi-value row, for a builder made with `repeats`) is kept once.
    #[inline]
    pub(crate) fn push(&mut self, row: u32, id: u32) -> io::Result<()> {
        self.window_ids.push(id);
        self.window_rows.push(row);
        if self.window_ids.len() >= WINDOW_VALUES {
            self.flush()?;
        }
        Ok(())
    }

    /// [`WindowedBitmaps::push`] of `(first_row + i, ids[i])` for every `i`.
    pub(crate) fn push_consecutive(&mut self, first_row: u32, ids: &[u32]) -> io::Result<()> {
        let (mut rest, mut row) = (ids, first_row);
        while !rest.is_empty() {
            let room = WINDOW_VALUES - self.window_ids.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.window_ids.extend_from_slice(now);
            self.window_rows.extend(row..row + now.len() as u32);
            (rest, row) = (later, row + now.len() as u32);
            if self.window_ids.len() >= WINDOW_VALUES {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Writes the window's sorted runs to the spill and empties it.
    fn flush(&mut self) -> io::Result<()> {
        self.sort_window();
        self.windows.push(Window {
            start_bytes: self.spill.len_bytes() as usize,
            id_count: self.present.len() / 2,
            value_count: self.sorted_rows.len(),
        });
        self.spill.write_each(&self.present, u32::to_le_bytes)?;
        self.spill.write_each(&self.sorted_rows, u32::to_le_bytes)?;
        self.window_ids.clear();
        self.window_rows.clear();
        Ok(())
    }

    /// Counting-sorts the window's pairs into `present` and `sorted_rows`.
    fn sort_window(&mut self) {
        for id in &self.window_ids {
            self.positions[*id as usize] += 1;
        }
        // Counts → run starts, noting the ids present.
        self.present.clear();
        let mut start = 0u32;
        for (id, slot) in self.positions.iter_mut().enumerate() {
            let count = *slot;
            if count > 0 {
                self.present.extend_from_slice(&[id as u32, count]);
            }
            *slot = start;
            start += count;
        }
        self.sorted_rows.resize(self.window_ids.len(), 0);
        for (id, row) in self.window_ids.iter().zip(&self.window_rows) {
            let slot = &mut self.positions[*id as usize];
            self.sorted_rows[*slot as usize] = *row;
            *slot += 1;
        }
        self.positions.fill(0);
    }

    /// Hands each id's serialized bitmap to `f`, in id order (zero bytes for an id never
    /// pushed), and removes the spill.
    pub(crate) fn finish(mut self, f: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        // The last window stays in memory: a column of one window never touches the spill.
        self.sort_window();
        let bytes = self.spill.into_bytes()?;
        let expected_bytes = self.windows.last().map_or(0, Window::end_bytes);
        if bytes.len() != expected_bytes {
            return Err(io::Error::other(format!(
                "bitmap spill holds {} bytes, its windows {expected_bytes}",
                bytes.len()
            )));
        }
        let mut cursors: Vec<Cursor<[u8]>> = self
            .windows
            .iter()
            .map(|w| {
                let pairs_end = w.start_bytes + 8 * w.id_count;
                Cursor::new(
                    &bytes[w.start_bytes..pairs_end],
                    &bytes[pairs_end..w.end_bytes()],
                )
            })
            .collect();
        let mut last = Cursor::new(&self.present[..], &self.sorted_rows[..]);
        let mut encoder = RoaringEncoder::default();
        let (mut rows, mut serialized) = (Vec::new(), Vec::new());
        for id in 0..self.cardinality as u32 {
            rows.clear();
            for cursor in &mut cursors {
                cursor.take_if(id, &mut rows);
            }
            last.take_if(id, &mut rows);
            if self.repeats {
                // The same row twice in a run, or across a window boundary.
                rows.dedup();
            }
            encoder.encode(&rows, &mut serialized);
            f(&serialized)?;
        }
        Ok(())
    }
}

/// One window's `(id, count)` pairs and rows, as 32-bit words: little-endian bytes of the spill,
/// or the last window's vectors.
trait Words {
    fn word_count(&self) -> usize;
    fn word(&self, index: usize) -> u32;
    /// Appends the words `range` to `out`.
    fn append(&self, range: Range<usize>, out: &mut Vec<u32>);
}

impl Words for [u8] {
    fn word_count(&self) -> usize {
        self.len() / 4
    }

    fn word(&self, index: usize) -> u32 {
        let bytes = &self[4 * index..4 * index + 4];
        u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
    }

    fn append(&self, range: Range<usize>, out: &mut Vec<u32>) {
        let bytes = &self[4 * range.start..4 * range.end];
        out.extend(
            bytes
                .chunks_exact(4)
                .map(|word| u32::from_le_bytes(word.try_into().expect("chunks of 4"))),
        );
    }
}

impl Words for [u32] {
    fn word_count(&self) -> usize {
        self.len()
    }

    fn word(&self, index: usize) -> u32 {
        self[index]
    }

    fn append(&self, range: Range<usize>, out: &mut Vec<u32>) {
        out.extend_from_slice(&self[range]);
    }
}

/// Reads one window's runs back in id order.
struct Cursor<'a, W: Words + ?Sized> {
    pairs: &'a W,
    rows: &'a W,
    next_pair: usize,
    next_row: usize,
}

impl<'a, W: Words + ?Sized> Cursor<'a, W> {
    fn new(pairs: &'a W, rows: &'a W) -> Self {
        Cursor {
            pairs,
            rows,
            next_pair: 0,
            next_row: 0,
        }
    }

    /// Appends the rows of `id` when it is this window's next id.
    #[inline]
    fn take_if(&mut self, id: u32, out: &mut Vec<u32>) {
        let at = 2 * self.next_pair;
        if at >= self.pairs.word_count() || self.pairs.word(at) != id {
            return;
        }
        let end = self.next_row + self.pairs.word(at + 1) as usize;
        self.rows.append(self.next_row..end, out);
        (self.next_pair, self.next_row) = (self.next_pair + 1, end);
    }
}

#[cfg(test)]
mod tests {
    use roaring::RoaringBitmap;

    use super::*;
    use crate::segment::bitmap::encode_roaring;

    fn finished(builder: WindowedBitmaps) -> Vec<Vec<u8>> {
        collect_finished(|f| builder.finish(f))
    }

    fn serialized(mut bitmaps: Vec<RoaringBitmap>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for bitmap in &mut bitmaps {
            let mut bytes = Vec::new();
            encode_roaring(bitmap, &mut bytes);
            out.push(bytes);
        }
        out
    }

    fn builders_equal_naive_insertion(spill: Spill) {
        let cardinality = 37;
        let mut builder = WindowedBitmaps::new(cardinality, true, spill);
        let mut naive = vec![RoaringBitmap::new(); cardinality];
        let mut state = 12345u64;
        let rows = 2 * WINDOW_VALUES as u32 + 5000;
        for row in 0..rows {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Ids above 30 only in the first rows: windows without them.
            let id = ((state >> 33) % if row < 100 { 37 } else { 31 }) as u32;
            let boundary = builder.window_ids.len() == WINDOW_VALUES - 1;
            builder.push(row, id).unwrap();
            naive[id as usize].insert(row);
            if row % 7 == 0 || boundary {
                // A multi-value row naming the same id twice (the first of the two windows'
                // boundaries splits it).
                builder.push(row, id).unwrap();
            }
        }
        assert_eq!(finished(builder), serialized(naive));
    }

    #[test]
    fn bitmaps_equal_naive_insertion_across_windows_and_repeats_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let spill = Spill::new_in(Some(dir.path()), "b.tmp").unwrap();
        builders_equal_naive_insertion(spill);
        assert!(!dir.path().join("b.tmp").exists());
    }

    #[test]
    fn bitmaps_equal_naive_insertion_across_windows_in_memory() {
        builders_equal_naive_insertion(Spill::memory());
    }

    #[test]
    fn ids_never_pushed_get_empty_bitmaps() {
        for cardinality in [4, CHUNKED_MAX_IDS + 1] {
            let mut builder =
                BitmapIndexBuilder::new(cardinality, false, || Ok(Spill::memory())).unwrap();
            assert_eq!(
                matches!(builder, BitmapIndexBuilder::Chunked(_)),
                cardinality <= CHUNKED_MAX_IDS
            );
            builder.push(0, 2).unwrap();
            builder.push_consecutive(3, &[2]).unwrap();
            let bitmaps = collect_finished(|f| builder.finish(f));
            assert_eq!(bitmaps.len(), cardinality);
            assert!(bitmaps[0].is_empty() && bitmaps[1].is_empty() && bitmaps[3].is_empty());
            let rows = RoaringBitmap::deserialize_from(&bitmaps[2][..]).unwrap();
            assert_eq!(rows.iter().collect::<Vec<_>>(), vec![0, 3]);
        }
    }
}
