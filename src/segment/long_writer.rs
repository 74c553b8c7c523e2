//! The writer half of `long_column` (byte layout drawn there): `longs` streams 8-byte values into
//! their blocks (or the entire layout) as they arrive; `auto` spills the raw values, then picks the
//! encoding as Druid's `IntermediateColumnarLongsSerializer` does and writes them bit-packed:
//!
//! ```text
//! distinct values <= 256 (counted in order of first appearance)  -> table
//! else max - min does not overflow and is below i64::MAX           -> delta (base = min)
//! else                                                             -> longs (no encoding flag)
//! ```

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hashbrown::HashMap;

use super::compression::{BlockWriter, Compression, MAX_BLOCK_BYTES, ValueSink};
use super::long_column::{ENCODING_FLAG_OFFSET, LONGS_PER_BLOCK, MAX_TABLE_SIZE};
use super::spill::Spill;
use super::vsize_longs::{self, BitPacker};

/// `indexSpec.longEncoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LongEncoding {
    /// 8-byte values (Druid's default).
    #[default]
    Longs,
    /// Table, delta or longs, whichever the values allow.
    Auto,
}

impl LongEncoding {
    /// Returns Druid's name.
    pub fn name(self) -> &'static str {
        match self {
            LongEncoding::Longs => "longs",
            LongEncoding::Auto => "auto",
        }
    }

    /// Parses Druid's name, in any case.
    pub fn from_name(name: &str) -> Option<LongEncoding> {
        match name.to_ascii_lowercase().as_str() {
            "longs" => Some(LongEncoding::Longs),
            "auto" => Some(LongEncoding::Auto),
            _ => None,
        }
    }
}

/// What `auto` learns about the values while they spill.
#[derive(Debug, Default)]
struct AutoStats {
    min: i64,
    max: i64,
    table: HashMap<i64, u32>,
    in_order: Vec<i64>,
    last_opt: Option<i64>,
}

impl AutoStats {
    #[inline]
    fn add(&mut self, value: i64) {
        if self.last_opt == Some(value) {
            return;
        }
        if self.last_opt.is_none() {
            (self.min, self.max) = (value, value);
        }
        self.last_opt = Some(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if self.table.len() <= MAX_TABLE_SIZE && !self.table.contains_key(&value) {
            self.table.insert(value, self.table.len() as u32);
            self.in_order.push(value);
        }
    }

    fn format(self) -> Format {
        if self.table.len() <= MAX_TABLE_SIZE {
            let bits = vsize_longs::bits_for_max(self.table.len() as u64);
            return Format::Table(self.table, self.in_order, bits);
        }
        match self.max.checked_sub(self.min) {
            Some(delta) if delta != i64::MAX => {
                Format::Delta(self.min, vsize_longs::bits_for_max(delta as u64 + 1))
            }
            _ => Format::Longs,
        }
    }
}

/// The encoding `auto` chose.
enum Format {
    Table(HashMap<i64, u32>, Vec<i64>, u32),
    Delta(i64, u32),
    Longs,
}

impl Format {
    /// Returns the compression byte and the encoding header.
    fn meta(&self, compression: Compression) -> Vec<u8> {
        let flagged = compression.id().wrapping_sub(ENCODING_FLAG_OFFSET);
        match self {
            Format::Longs => vec![compression.id()],
            Format::Delta(base, bits) => {
                let mut meta = vec![flagged, 0x00, 0x01];
                meta.extend_from_slice(&base.to_be_bytes());
                meta.extend_from_slice(&(*bits as i32).to_be_bytes());
                meta
            }
            Format::Table(_, in_order, _) => {
                let mut meta = vec![flagged, 0x01, 0x01];
                meta.extend_from_slice(&(in_order.len() as i32).to_be_bytes());
                in_order
                    .iter()
                    .for_each(|v| meta.extend_from_slice(&v.to_be_bytes()));
                meta
            }
        }
    }

    #[inline]
    fn packed(&self, value: i64) -> u64 {
        match self {
            Format::Table(table, _, _) => u64::from(table[&value]),
            Format::Delta(base, _) => value.wrapping_sub(*base) as u64,
            Format::Longs => value as u64,
        }
    }
}

#[derive(Debug)]
enum State {
    Longs(ValueSink),
    Auto {
        raw: Spill,
        stats: AutoStats,
        compression: Compression,
    },
}

/// Streams one long column.
#[derive(Debug)]
pub struct LongColumnWriter {
    state: State,
    total: usize,
    dir_opt: Option<PathBuf>,
    name: String,
}

impl LongColumnWriter {
    /// Starts a writer whose spill files are `{name}*` in `dir_opt` (memory when `None`).
    pub fn new(
        dir_opt: Option<&Path>,
        name: &str,
        compression: Compression,
        encoding: LongEncoding,
    ) -> io::Result<Self> {
        let spill = Spill::new_in(dir_opt, name)?;
        let state = match encoding {
            LongEncoding::Longs => {
                State::Longs(ValueSink::new(spill, LONGS_PER_BLOCK * 8, compression))
            }
            LongEncoding::Auto => State::Auto {
                raw: spill,
                stats: AutoStats::default(),
                compression,
            },
        };
        Ok(LongColumnWriter {
            state,
            total: 0,
            dir_opt: dir_opt.map(Path::to_path_buf),
            name: name.to_string(),
        })
    }

    /// Appends one value.
    #[inline]
    pub fn push(&mut self, value: i64) -> io::Result<()> {
        self.total += 1;
        match &mut self.state {
            State::Longs(sink) => sink.push(&value.to_le_bytes()),
            State::Auto { raw, stats, .. } => {
                stats.add(value);
                raw.write_all(&value.to_le_bytes())
            }
        }
    }

    /// Appends values.
    pub fn push_all(&mut self, values: &[i64]) -> io::Result<()> {
        self.total += values.len();
        match &mut self.state {
            State::Longs(sink) => sink.push_longs(values),
            State::Auto { raw, stats, .. } => values.iter().try_for_each(|value| {
                stats.add(*value);
                raw.write_all(&value.to_le_bytes())
            }),
        }
    }

    /// Writes the part (header, encoding header, values) to `out`.
    pub fn write_to(self, out: &mut dyn Write) -> io::Result<()> {
        match self.state {
            State::Longs(sink) => {
                let size_per = sink.header_size_per(LONGS_PER_BLOCK);
                write_header(out, self.total, size_per)?;
                out.write_all(&[sink.compression().id()])?;
                sink.write_to(out)
            }
            State::Auto {
                raw,
                stats,
                compression,
            } => {
                let format = stats.format();
                let blocks_name = format!("{}.blocks", self.name);
                let encoded = Encoded {
                    total: self.total,
                    format,
                    compression,
                };
                encoded.write(raw, self.dir_opt.as_deref(), &blocks_name, out)
            }
        }
    }
}

fn write_header(out: &mut dyn Write, total: usize, size_per: usize) -> io::Result<()> {
    let mut header = vec![0x02];
    header.extend_from_slice(&(total as i32).to_be_bytes());
    header.extend_from_slice(&(size_per as i32).to_be_bytes());
    out.write_all(&header)
}

/// An `auto` column whose encoding is chosen.
struct Encoded {
    total: usize,
    format: Format,
    compression: Compression,
}

impl Encoded {
    fn bits(&self) -> u32 {
        match self.format {
            Format::Table(_, _, bits) | Format::Delta(_, bits) => bits,
            Format::Longs => 64,
        }
    }

    fn size_per(&self) -> usize {
        match self.format {
            Format::Longs => LONGS_PER_BLOCK,
            _ => vsize_longs::values_per_block(self.bits(), MAX_BLOCK_BYTES),
        }
    }

    fn write(
        self,
        raw: Spill,
        dir_opt: Option<&Path>,
        blocks_name: &str,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let size_per = match self.compression {
            Compression::None => 0,
            _ => self.size_per(),
        };
        write_header(out, self.total, size_per)?;
        out.write_all(&self.format.meta(self.compression))?;
        match (self.compression, &self.format) {
            (Compression::None, Format::Longs) => raw.copy_to(out),
            (Compression::None, _) => self.write_entire(raw, out),
            _ => {
                let spill = Spill::new_in(dir_opt, blocks_name)?;
                let blocks = BlockWriter::new(spill, MAX_BLOCK_BYTES, self.compression);
                self.write_blocks(raw, blocks)?.finish()?.write_to(out)
            }
        }
    }

    /// One packed stream over every value, straight to `out`.
    fn write_entire(self, raw: Spill, out: &mut dyn Write) -> io::Result<()> {
        let mut packer = BitPacker::new(self.bits());
        raw.for_each_chunk(&mut |chunk| {
            for bytes in chunk.chunks_exact(8) {
                let value = i64::from_le_bytes(bytes.try_into().expect("8 bytes"));
                packer.push(self.format.packed(value));
            }
            out.write_all(&packer.take_bytes())
        })?;
        out.write_all(&packer.finish())
    }

    /// Blocks of `size_per` values; packed blocks are each closed like a stream.
    fn write_blocks(self, raw: Spill, mut blocks: BlockWriter) -> io::Result<BlockWriter> {
        let (bits, size_per) = (self.bits(), self.size_per());
        let mut packer = BitPacker::new(bits);
        raw.for_each_chunk(&mut |chunk| {
            for bytes in chunk.chunks_exact(8) {
                let value = i64::from_le_bytes(bytes.try_into().expect("8 bytes"));
                if let Format::Longs = self.format {
                    blocks.push(bytes)?;
                    continue;
                }
                packer.push(self.format.packed(value));
                if packer.count() == size_per {
                    let full = std::mem::replace(&mut packer, BitPacker::new(bits));
                    blocks.push_block(&full.finish())?;
                }
            }
            Ok(())
        })?;
        if packer.count() > 0 {
            blocks.push_block(&packer.finish())?;
        }
        Ok(blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::long_column::tests::read_back;

    fn write(values: &[i64], compression: Compression, encoding: LongEncoding) -> Vec<u8> {
        let mut writer = LongColumnWriter::new(None, "c", compression, encoding).unwrap();
        values.iter().for_each(|v| writer.push(*v).unwrap());
        let mut out = Vec::new();
        writer.write_to(&mut out).unwrap();
        out
    }

    #[test]
    fn writes_longs_blocks_with_druid_header() {
        let values: Vec<i64> = (0..20_000).map(|i| i * 1_000_003 - 7).collect();
        let out = write(&values, Compression::Lz4, LongEncoding::Longs);
        assert_eq!(&out[..10], &[2, 0, 0, 0x4e, 0x20, 0, 0, 0x20, 0, 1]);
        assert_eq!(read_back(out).unwrap(), values);
    }

    #[test]
    fn longs_pushed_in_slices_are_the_bytes_of_longs_pushed_one_by_one() {
        let values: Vec<i64> = (0..40_000).map(|i| i * 1_000_003 - 7).collect();
        for compression in [
            Compression::Lz4,
            Compression::Uncompressed,
            Compression::None,
        ] {
            let mut writer =
                LongColumnWriter::new(None, "c", compression, LongEncoding::Longs).unwrap();
            // Slices of uneven lengths, crossing block boundaries mid-slice.
            let (mut rest, mut len) = (&values[..], 1);
            while !rest.is_empty() {
                let (now, later) = rest.split_at(len.min(rest.len()));
                writer.push_all(now).unwrap();
                (rest, len) = (later, len * 3 + 1);
            }
            let mut sliced = Vec::new();
            writer.write_to(&mut sliced).unwrap();
            assert_eq!(sliced, write(&values, compression, LongEncoding::Longs));
        }
    }

    #[test]
    fn auto_writes_druid_bytes_for_table_delta_and_longs() {
        // table [7, -1] in order of appearance, 1 bit: values 7,-1,7 -> 0b010 -> 0x40
        let out = write(&[7, -1, 7], Compression::None, LongEncoding::Auto);
        let mut expected = vec![2, 0, 0, 0, 3, 0, 0, 0, 0, 0x80, 0x01, 0x01, 0, 0, 0, 2];
        expected.extend_from_slice(&7i64.to_be_bytes());
        expected.extend_from_slice(&(-1i64).to_be_bytes());
        expected.extend_from_slice(&[0x40, 0, 0, 0, 0]);
        assert_eq!(out, expected);
        // 300 distinct values 1000..1300: delta base 1000, max offset 299 -> 300 <= 2^12
        let values: Vec<i64> = (1000..1300).collect();
        let out = write(&values, Compression::Uncompressed, LongEncoding::Auto);
        assert_eq!(
            &out[..12],
            &[2, 0, 0, 1, 44, 0, 0, 0x80, 0, 0x81, 0x00, 0x01]
        );
        assert_eq!(&out[12..24], &[0, 0, 0, 0, 0, 0, 3, 0xE8, 0, 0, 0, 12]);
        assert_eq!(read_back(out).unwrap(), values);
        // a range wider than i64 falls back to longs without the encoding flag
        let mut values: Vec<i64> = (0..300).collect();
        values.extend([i64::MIN, i64::MAX]);
        let out = write(&values, Compression::None, LongEncoding::Auto);
        assert_eq!(&out[5..10], &[0, 0, 0, 0, 0xFE]);
        assert_eq!(read_back(out).unwrap(), values);
    }
}
