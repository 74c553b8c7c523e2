//! Writes the portable roaring serialization of a strictly increasing row list directly, without
//! building a `RoaringBitmap` first: the segment writer has each bitmap's rows sorted already, and
//! pushing them one by one into the crate's containers (then run-optimizing and serializing) was
//! most of the cost of bitmap indexes. Rows that arrive a 65,536-row key at a time can also be
//! serialized a container at a time into a [`ContainerList`] (`chunked_bitmaps`).
//!
//! The bytes are those of [`super::bitmap::encode_roaring`] (the crate's `optimize` followed by
//! `serialize_into`), which the tests check; the layout is drawn in [`super::bitmap`]:
//!
//! ```text
//! rows grouped by their high 16 bits into containers (key = high bits), each one of
//!   array   card ≤ 4096: the low 16 bits of each row, u16 LE            (2·card bytes)
//!   bitmap  card > 4096: 1024 u64 LE words, bit (low 16 bits) set        (8192 bytes)
//!   run     when smaller than both: count u16, then (start u16, length−1 u16) per run
//! without run containers: cookie 12346 u32 | count u32 | (key u16, card−1 u16)… | offset u32… | data
//! with run containers:    12347 | (count−1) << 16 u32 | run flags (1 bit per container, LSB
//!                         first) | (key, card−1)… | offset u32… only when count ≥ 4 | data
//! offsets are byte positions of each container's data from the start of the serialization
//! ```

/// Containers with more rows than this are bitmaps (or runs).
const ARRAY_LIMIT: usize = 4096;
/// Size of a bitmap container.
const BITMAP_BYTES: usize = 8192;
/// Cookie of a serialization without run containers.
const COOKIE_NO_RUNS: u32 = 12346;
/// Cookie (low half) of a serialization with run containers.
const COOKIE_RUNS: u32 = 12347;
/// With run containers, offsets are written only from this many containers on.
const OFFSETS_FROM_CONTAINERS: usize = 4;

/// How one container is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Array,
    Bitmap,
    Run,
}

/// One container: its key, its rows' range in the input, its run count and storage.
#[derive(Debug, Clone, Copy)]
struct Container {
    key: u16,
    start: usize,
    end: usize,
    runs: usize,
    kind: Kind,
}

impl Container {
    fn data_bytes(&self) -> usize {
        match self.kind {
            Kind::Array => 2 * (self.end - self.start),
            Kind::Bitmap => BITMAP_BYTES,
            Kind::Run => 2 + 4 * self.runs,
        }
    }
}

/// Reusable scratch space for [`RoaringEncoder::encode`].
#[derive(Debug, Default)]
pub(crate) struct RoaringEncoder {
    containers: Vec<Container>,
    words: Vec<u64>,
}

/// A bitmap serialized a container at a time ([`RoaringEncoder::push_container`]), for rows
/// that arrive a 65,536-row key at a time: the containers' data, and what the header needs.
#[derive(Debug, Default)]
pub(crate) struct ContainerList {
    containers: Vec<Container>,
    data: Vec<u8>,
}

impl RoaringEncoder {
    /// Replaces `out` with the run-optimized roaring serialization of `rows`, which must be
    /// strictly increasing; no rows give zero bytes (Druid's empty bitmap).
    pub(crate) fn encode(&mut self, rows: &[u32], out: &mut Vec<u8>) {
        out.clear();
        if rows.is_empty() {
            return;
        }
        debug_assert!(rows.windows(2).all(|w| w[0] < w[1]), "rows not increasing");
        self.plan(rows);
        write_header(&self.containers, out);
        let header_bytes = out.len();
        let data_bytes: usize = self.containers.iter().map(Container::data_bytes).sum();
        out.resize(header_bytes + data_bytes, 0);
        let mut data = &mut out[header_bytes..];
        for container in &self.containers {
            let (bytes, rest) = data.split_at_mut(container.data_bytes());
            data = rest;
            let rows = &rows[container.start..container.end];
            write_data(container, rows, &mut self.words, bytes);
        }
    }

    /// Appends the container of `rows` to `list`: they must share their high 16 bits, be
    /// strictly increasing and above every row already in `list`.
    pub(crate) fn push_container(&mut self, rows: &[u32], list: &mut ContainerList) {
        debug_assert!(rows.windows(2).all(|w| w[0] < w[1]), "rows not increasing");
        debug_assert!(rows.first().map(|r| r >> 16) == rows.last().map(|r| r >> 16));
        if rows.is_empty() {
            return;
        }
        let container = plan_one(rows, 0);
        debug_assert_eq!(container.end, rows.len(), "rows of one key");
        let at = list.data.len();
        list.data.resize(at + container.data_bytes(), 0);
        write_data(&container, rows, &mut self.words, &mut list.data[at..]);
        list.containers.push(container);
    }

    /// Replaces `out` with the serialization of `list`'s containers (the bytes
    /// [`RoaringEncoder::encode`] gives for the same rows) and empties `list`.
    pub(crate) fn finish_list(list: &mut ContainerList, out: &mut Vec<u8>) {
        out.clear();
        if !list.containers.is_empty() {
            write_header(&list.containers, out);
            out.extend_from_slice(&list.data);
        }
        list.containers.clear();
        list.data.clear();
    }

    /// Splits `rows` into containers.
    fn plan(&mut self, rows: &[u32]) {
        self.containers.clear();
        let mut start = 0;
        while start < rows.len() {
            let container = plan_one(rows, start);
            start = container.end;
            self.containers.push(container);
        }
    }
}

/// The container of the rows from `start` that share its high 16 bits, its storage picked as
/// the crate's `optimize` does: a run container only when strictly smaller than the array or
/// bitmap.
fn plan_one(rows: &[u32], start: usize) -> Container {
    let key = rows[start] >> 16;
    let mut end = start + 1;
    let mut runs = 1;
    while end < rows.len() && rows[end] >> 16 == key {
        runs += usize::from(rows[end] != rows[end - 1] + 1);
        end += 1;
    }
    let card = end - start;
    let plain_bytes = if card <= ARRAY_LIMIT {
        2 * card
    } else {
        BITMAP_BYTES
    };
    let kind = match (2 + 4 * runs < plain_bytes, card <= ARRAY_LIMIT) {
        (true, _) => Kind::Run,
        (false, true) => Kind::Array,
        (false, false) => Kind::Bitmap,
    };
    Container {
        key: key as u16,
        start,
        end,
        runs,
        kind,
    }
}

/// Fills `out` (the container's data bytes) from the container's `rows`.
fn write_data(container: &Container, rows: &[u32], words: &mut Vec<u64>, out: &mut [u8]) {
    match container.kind {
        Kind::Array => {
            for (row, out) in rows.iter().zip(out.chunks_exact_mut(2)) {
                out.copy_from_slice(&(*row as u16).to_le_bytes());
            }
        }
        Kind::Bitmap => write_bitmap(rows, words, out),
        Kind::Run => write_runs(rows, container.runs, out),
    }
}

/// Appends everything before the containers' data to the empty `out`.
fn write_header(containers: &[Container], out: &mut Vec<u8>) {
    let count = containers.len();
    let has_runs = containers.iter().any(|c| c.kind == Kind::Run);
    if has_runs {
        let cookie = COOKIE_RUNS | ((count as u32 - 1) << 16);
        out.extend_from_slice(&cookie.to_le_bytes());
        let flags_at = out.len();
        out.resize(flags_at + count.div_ceil(8), 0);
        for (index, container) in containers.iter().enumerate() {
            if container.kind == Kind::Run {
                out[flags_at + index / 8] |= 1 << (index % 8);
            }
        }
    } else {
        out.extend_from_slice(&COOKIE_NO_RUNS.to_le_bytes());
        out.extend_from_slice(&(count as u32).to_le_bytes());
    }
    for container in containers {
        let card = (container.end - container.start - 1) as u16;
        out.extend_from_slice(&container.key.to_le_bytes());
        out.extend_from_slice(&card.to_le_bytes());
    }
    if !has_runs || count >= OFFSETS_FROM_CONTAINERS {
        let mut offset = out.len() + 4 * count;
        for container in containers {
            out.extend_from_slice(&(offset as u32).to_le_bytes());
            offset += container.data_bytes();
        }
    }
}

/// Fills the 8192 bytes of `out` with the bitmap container of `rows`, through `words`.
fn write_bitmap(rows: &[u32], words: &mut Vec<u64>, out: &mut [u8]) {
    words.clear();
    words.resize(BITMAP_BYTES / 8, 0);
    for row in rows {
        let low = (*row & 0xFFFF) as usize;
        words[low / 64] |= 1 << (low % 64);
    }
    for (word, out) in words.iter().zip(out.chunks_exact_mut(8)) {
        out.copy_from_slice(&word.to_le_bytes());
    }
}

/// Fills `out` (2 + 4·`runs` bytes) with the run container of `rows`.
fn write_runs(rows: &[u32], runs: usize, out: &mut [u8]) {
    out[..2].copy_from_slice(&(runs as u16).to_le_bytes());
    let mut pairs = out[2..].chunks_exact_mut(4);
    let mut run_start = 0;
    for index in 1..=rows.len() {
        if index == rows.len() || rows[index] != rows[index - 1] + 1 {
            let start = rows[run_start] as u16;
            let length_minus_one = (index - 1 - run_start) as u16;
            let pair = pairs.next().expect("one pair per counted run");
            pair[..2].copy_from_slice(&start.to_le_bytes());
            pair[2..].copy_from_slice(&length_minus_one.to_le_bytes());
            run_start = index;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use roaring::RoaringBitmap;

    use super::*;
    use crate::segment::bitmap::encode_roaring;

    fn crate_bytes(rows: &[u32]) -> Vec<u8> {
        let mut bitmap: RoaringBitmap = rows.iter().copied().collect();
        let mut out = Vec::new();
        encode_roaring(&mut bitmap, &mut out);
        out
    }

    fn encoded(rows: &[u32]) -> Vec<u8> {
        let mut out = vec![7];
        RoaringEncoder::default().encode(rows, &mut out);
        out
    }

    #[test]
    fn each_container_kind_matches_the_crate() {
        let cases: Vec<Vec<u32>> = vec![
            vec![],
            vec![5],
            vec![0, 2, 4, 65_536, 65_537],
            (0..10_000).collect(),                                   // one run
            (0..10_000).step_by(2).collect(),                        // bitmap
            (0..100_000).filter(|r| r % 3 != 0).collect(),           // bitmaps across two keys
            (0..6).map(|k| k << 16).collect(), // six single-row arrays: offsets
            (0..6).flat_map(|k| (k << 16)..(k << 16) + 9).collect(), // six runs: offsets
            vec![1, 2, 3, 4, 70_000],          // a run then an array, no offsets
            vec![1, 2, 3, 70_000],             // three in a row: a run is no smaller
            vec![u32::MAX - 1, u32::MAX],
        ];
        for rows in cases {
            assert_eq!(encoded(&rows), crate_bytes(&rows), "rows {rows:?}");
        }
    }

    fn sorted_rows() -> impl Strategy<Value = Vec<u32>> {
        // Runs of random lengths at random gaps, dense enough to hit every container kind.
        prop::collection::vec((0u32..20_000, 1u32..300), 0..200).prop_map(|pieces| {
            let mut rows = Vec::new();
            let mut next = 0u32;
            for (gap, length) in pieces {
                next += gap;
                rows.extend(next..next + length);
                next += length + 1;
            }
            rows
        })
    }

    proptest! {
        #[test]
        fn bytes_equal_the_crates_optimized_serialization(rows in sorted_rows()) {
            prop_assert_eq!(encoded(&rows), crate_bytes(&rows));
        }

        #[test]
        fn containers_pushed_a_key_at_a_time_equal_the_whole_encoding(rows in sorted_rows()) {
            let mut encoder = RoaringEncoder::default();
            let mut list = ContainerList::default();
            let mut whole = Vec::new();
            RoaringEncoder::default().encode(&rows, &mut whole);
            let mut out = vec![7];
            // Twice through the same list: finishing empties it for the next bitmap.
            for _ in 0..2 {
                for key_rows in rows.chunk_by(|a, b| a >> 16 == b >> 16) {
                    encoder.push_container(key_rows, &mut list);
                }
                RoaringEncoder::finish_list(&mut list, &mut out);
                prop_assert_eq!(&out, &whole);
            }
        }

        #[test]
        fn sparse_rows_equal_the_crates_serialization(
            mut rows in prop::collection::vec(any::<u32>(), 0..3000)
        ) {
            rows.sort_unstable();
            rows.dedup();
            prop_assert_eq!(encoded(&rows), crate_bytes(&rows));
        }
    }
}
