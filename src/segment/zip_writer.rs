//! The `index.zip` writer: a standard zip (PKWARE APPNOTE) of the segment's files, every entry
//! DEFLATE (method 8), as Druid's pusher writes it and every zip reader reads it.
//!
//! Each entry is one DEFLATE stream whose blocks follow the data, 1 MiB at a time: a sample of
//! each MiB is compressed first, and a MiB that level 1 would not halve goes in stored blocks,
//! the rest (`hyperUnique` collectors, uncompressed columns, runs of equal values) in level-1
//! blocks. Stored blocks are part of DEFLATE, so the stream is an ordinary one; they cost a
//! copy. Measured on the 10M-row benchmark segment (zlib-rs level 1, one core): the LZ4 blocks
//! of the metric and id columns and the dictionaries shrink by 15–30 % at 70–90 MB/s, 1.35 s
//! to save 24 MB of 485; the `hyperUnique` column shrinks by 80 % at ~450 MB/s, 0.3 s to save
//! 113 MB. The rule keeps the second and skips the first (the zip is 7 % larger than deflating
//! everything that shrinks by a tenth, which is what it did before).
//!
//! ```text
//! per entry   local header: PK\3\4 | version 45 | flags 0 | method 8 | time 0, date 1980-01-01
//!             | crc32 | sizes 0xFFFFFFFF | name length | extra 20 | name
//!             | zip64 extra (0x0001, 16: uncompressed u64, compressed u64)
//!             then the DEFLATE stream (header patched once the stream is written)
//! directory   per entry PK\1\2 | made by 0x032D (unix, 4.5) | the local header's fields
//!             | comment 0 | disk 0 | internal 0 | external 0o100644 << 16 | header offset
//!             | name | zip64 extra (sizes, and the offset when it does not fit 32 bits)
//! end         [zip64 end record PK\6\6 + locator PK\6\7 when a count or offset overflows]
//!             | PK\5\6 | disks 0, 0 | entries, entries | directory size | directory offset | 0
//! ```
//! All integers little-endian.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, FlushCompress, Status};

use super::checksum::FileChecksum;
use super::direct_io::DirectWriter;

/// Bytes read and compressed at one level.
const CHUNK_BYTES: usize = 1 << 20;
/// Bytes of each chunk compressed to decide its level.
const SAMPLE_BYTES: usize = 16 << 10;
/// DOS date of 1980-01-01 (the time is 00:00), as the zip crate wrote it before.
const DOS_DATE: u16 = (1 << 5) | 1;
const VERSION_NEEDED: u16 = 45;
const VERSION_MADE_BY: u16 = 0x0300 | VERSION_NEEDED;
const FILE_ATTRIBUTES: u32 = 0o100644 << 16;
const U32_OVERFLOW: u32 = u32::MAX;

/// One written entry.
struct Entry {
    name: String,
    crc32: u32,
    uncompressed_bytes: u64,
    compressed_bytes: u64,
    header_offset: u64,
}

/// Writes `files` (`(entry name, path)`) into a new zip at `zip_path`, fsynced; returns each
/// entry's uncompressed size and CRC32 (the zip's own, computed as the bytes pass).
pub fn write_zip(
    zip_path: &Path,
    files: &[(String, impl AsRef<Path>)],
) -> io::Result<Vec<FileChecksum>> {
    let mut zip = ZipWriter::create(zip_path)?;
    let mut entries = Vec::with_capacity(files.len());
    for (name, path) in files {
        zip.start_entry(name)?;
        zip.write_from(&mut File::open(path.as_ref())?)?;
        let (size_bytes, crc32) = zip.finish_entry()?;
        entries.push(FileChecksum {
            name: name.clone(),
            size_bytes,
            crc32,
        });
    }
    zip.finish()?;
    Ok(entries)
}

/// A zip written entry by entry: [`ZipWriter::start_entry`], the entry's bytes through
/// [`Write`], [`ZipWriter::finish_entry`]; then [`ZipWriter::finish`].
///
/// The zip goes to the device without the page cache where the filesystem allows it
/// ([`DirectWriter`]): nothing here reads it back.
pub struct ZipWriter {
    path: PathBuf,
    out: DirectWriter,
    offset: u64,
    entries: Vec<Entry>,
    current: Option<EntryStream>,
}

/// The entry being written: its compressor and the bytes not yet compressed (up to a chunk).
struct EntryStream {
    entry: Entry,
    stream: Stream,
    probe: Compress,
    crc: crc32fast::Hasher,
    /// A chunk's room (always [`CHUNK_BYTES`] long), of which the first `pending` bytes wait.
    chunk: Vec<u8>,
    pending: usize,
}

impl ZipWriter {
    /// Creates (or truncates) the zip at `path`.
    pub fn create(path: &Path) -> io::Result<ZipWriter> {
        Ok(ZipWriter {
            path: path.to_path_buf(),
            out: DirectWriter::create(path)?,
            offset: 0,
            entries: Vec::new(),
            current: None,
        })
    }

    /// Starts entry `name` (the previous one must be finished).
    pub fn start_entry(&mut self, name: &str) -> io::Result<()> {
        if self.current.is_some() {
            return Err(io::Error::other(
                "zip entry started before the last was finished",
            ));
        }
        let entry = Entry {
            name: name.to_string(),
            crc32: 0,
            uncompressed_bytes: 0,
            compressed_bytes: 0,
            header_offset: self.offset,
        };
        let header = local_header(&entry);
        self.out.write_all(&header)?;
        self.offset += header.len() as u64;
        self.current = Some(EntryStream {
            entry,
            stream: Stream::new(),
            probe: Compress::new(Compression::fast(), false),
            crc: crc32fast::Hasher::new(),
            chunk: vec![0; CHUNK_BYTES],
            pending: 0,
        });
        Ok(())
    }

    /// Appends everything `reader` holds to the current entry, read straight into the chunk
    /// being filled (`io::copy` took a read call per 8 KiB and copied every byte once more).
    pub fn write_from(&mut self, reader: &mut impl io::Read) -> io::Result<()> {
        loop {
            let current = self
                .current
                .as_mut()
                .ok_or_else(|| io::Error::other("zip bytes written outside an entry"))?;
            let n = match reader.read(&mut current.chunk[current.pending..]) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            current.pending += n;
            if current.pending == CHUNK_BYTES {
                current.compress_pending(&mut self.out)?;
            }
        }
    }

    /// Ends the current entry; returns its uncompressed size and CRC32.
    pub fn finish_entry(&mut self) -> io::Result<(u64, u32)> {
        let mut current = self
            .current
            .take()
            .ok_or_else(|| io::Error::other("no zip entry to finish"))?;
        current.compress_pending(&mut self.out)?;
        current.stream.finish(&mut self.out)?;
        let mut entry = current.entry;
        entry.crc32 = current.crc.finalize();
        entry.compressed_bytes = current.stream.written_bytes;
        self.offset += entry.compressed_bytes;
        let done = (entry.uncompressed_bytes, entry.crc32);
        self.entries.push(entry);
        Ok(done)
    }

    /// Writes the central directory, fills in the local headers and fsyncs; returns the total
    /// uncompressed size.
    pub fn finish(mut self) -> io::Result<u64> {
        if self.current.is_some() {
            self.finish_entry()?;
        }
        let directory_offset = self.offset;
        for entry in &self.entries {
            let header = central_header(entry);
            self.out.write_all(&header)?;
            self.offset += header.len() as u64;
        }
        let end = end_records(self.entries.len() as u64, directory_offset, self.offset);
        self.out.write_all(&end)?;
        drop(self.out.finish()?);
        // The local headers get their checksums and sizes now, in place (unaligned writes: an
        // ordinary handle).
        let file = OpenOptions::new().write(true).open(&self.path)?;
        for entry in &self.entries {
            file.write_all_at(&local_header(entry), entry.header_offset)?;
        }
        file.sync_all()?;
        Ok(self.entries.iter().map(|e| e.uncompressed_bytes).sum())
    }
}

impl Write for ZipWriter {
    /// Appends to the current entry; every full chunk is compressed at once.
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let current = self
            .current
            .as_mut()
            .ok_or_else(|| io::Error::other("zip bytes written outside an entry"))?;
        let n = data.len().min(CHUNK_BYTES - current.pending);
        current.chunk[current.pending..current.pending + n].copy_from_slice(&data[..n]);
        current.pending += n;
        if current.pending == CHUNK_BYTES {
            current.compress_pending(&mut self.out)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl EntryStream {
    /// Compresses the pending chunk in level-1 or stored blocks, as its sample earns.
    fn compress_pending(&mut self, out: &mut impl Write) -> io::Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let data = &self.chunk[..self.pending];
        self.crc.update(data);
        self.entry.uncompressed_bytes += data.len() as u64;
        match worth_deflating(&mut self.probe, data) {
            true => self.stream.deflate(data, out)?,
            false => self.stream.store(data, out)?,
        }
        self.pending = 0;
        Ok(())
    }
}

fn local_header(entry: &Entry) -> Vec<u8> {
    let mut h = Vec::with_capacity(50 + entry.name.len());
    h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    h.extend_from_slice(&VERSION_NEEDED.to_le_bytes());
    common_fields(&mut h, entry);
    h.extend_from_slice(&20u16.to_le_bytes());
    h.extend_from_slice(entry.name.as_bytes());
    zip64_extra(&mut h, entry, None);
    h
}

fn central_header(entry: &Entry) -> Vec<u8> {
    let offset_opt =
        (entry.header_offset >= u64::from(U32_OVERFLOW)).then_some(entry.header_offset);
    let mut h = Vec::with_capacity(80 + entry.name.len());
    h.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    h.extend_from_slice(&VERSION_MADE_BY.to_le_bytes());
    h.extend_from_slice(&VERSION_NEEDED.to_le_bytes());
    common_fields(&mut h, entry);
    h.extend_from_slice(&(if offset_opt.is_some() { 28u16 } else { 20 }).to_le_bytes());
    h.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
    h.extend_from_slice(&FILE_ATTRIBUTES.to_le_bytes());
    let offset = offset_opt.map_or(entry.header_offset as u32, |_| U32_OVERFLOW);
    h.extend_from_slice(&offset.to_le_bytes());
    h.extend_from_slice(entry.name.as_bytes());
    zip64_extra(&mut h, entry, offset_opt);
    h
}

/// Flags, method, time, date, crc32, both sizes (in the zip64 extra) and the name length.
fn common_fields(h: &mut Vec<u8>, entry: &Entry) {
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&8u16.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&DOS_DATE.to_le_bytes());
    h.extend_from_slice(&entry.crc32.to_le_bytes());
    h.extend_from_slice(&U32_OVERFLOW.to_le_bytes());
    h.extend_from_slice(&U32_OVERFLOW.to_le_bytes());
    h.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
}

fn zip64_extra(h: &mut Vec<u8>, entry: &Entry, offset_opt: Option<u64>) {
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&(if offset_opt.is_some() { 24u16 } else { 16 }).to_le_bytes());
    h.extend_from_slice(&entry.uncompressed_bytes.to_le_bytes());
    h.extend_from_slice(&entry.compressed_bytes.to_le_bytes());
    if let Some(offset) = offset_opt {
        h.extend_from_slice(&offset.to_le_bytes());
    }
}

/// The end of central directory record, preceded by the zip64 ones when a field overflows.
fn end_records(entries: u64, directory_offset: u64, directory_end: u64) -> Vec<u8> {
    let directory_bytes = directory_end - directory_offset;
    let overflows = entries >= 0xFFFF
        || directory_offset >= u64::from(U32_OVERFLOW)
        || directory_bytes >= u64::from(U32_OVERFLOW);
    let mut e = Vec::with_capacity(98);
    if overflows {
        e.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        e.extend_from_slice(&44u64.to_le_bytes());
        e.extend_from_slice(&VERSION_MADE_BY.to_le_bytes());
        e.extend_from_slice(&VERSION_NEEDED.to_le_bytes());
        e.extend_from_slice(&[0; 8]); // this disk, the directory's disk
        for value in [entries, entries, directory_bytes, directory_offset] {
            e.extend_from_slice(&value.to_le_bytes());
        }
        e.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        e.extend_from_slice(&0u32.to_le_bytes());
        e.extend_from_slice(&directory_end.to_le_bytes());
        e.extend_from_slice(&1u32.to_le_bytes());
    }
    let count = entries.min(0xFFFF) as u16;
    let fit = |v: u64| v.min(u64::from(U32_OVERFLOW)) as u32;
    e.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    e.extend_from_slice(&[0; 4]); // this disk, the directory's disk
    e.extend_from_slice(&count.to_le_bytes());
    e.extend_from_slice(&count.to_le_bytes());
    e.extend_from_slice(&fit(directory_bytes).to_le_bytes());
    e.extend_from_slice(&fit(directory_offset).to_le_bytes());
    e.extend_from_slice(&0u16.to_le_bytes());
    e
}

/// True when level 1 shrinks the chunk's first bytes to half or less.
fn worth_deflating(probe: &mut Compress, data: &[u8]) -> bool {
    let sample = &data[..data.len().min(SAMPLE_BYTES)];
    probe.reset();
    // Room for any expansion: zlib-rs's level 1 panics instead of pausing when its output
    // fills mid-block (seen with 16 KiB of room for 16 KiB of LZ4 blocks).
    let mut packed = Vec::with_capacity(2 * sample.len() + 1024);
    match probe.compress_vec(sample, &mut packed, FlushCompress::Finish) {
        Ok(Status::StreamEnd) => packed.len() * 2 <= sample.len(),
        _ => false,
    }
}

/// Largest stored block.
const STORED_BLOCK_BYTES: usize = 0xFFFF;

/// One raw DEFLATE stream written from level-1 blocks (a `Compress`) and stored blocks (written
/// here). The compressor is sync-flushed before stored blocks follow it (its output then ends
/// byte-aligned at a block boundary) and reset before it takes over again, so that none of its
/// back-references reaches over bytes it did not see.
struct Stream {
    compress: Compress,
    /// Input went into `compress` since its last flush.
    deflating: bool,
    /// Input went into `compress` since its last reset.
    used: bool,
    buffer: Vec<u8>,
    written_bytes: u64,
}

impl Stream {
    fn new() -> Stream {
        Stream {
            compress: Compress::new(Compression::fast(), false),
            deflating: false,
            used: false,
            buffer: Vec::with_capacity(2 * CHUNK_BYTES),
            written_bytes: 0,
        }
    }

    fn deflate(&mut self, data: &[u8], out: &mut impl Write) -> io::Result<()> {
        if self.used && !self.deflating {
            self.compress.reset();
        }
        (self.deflating, self.used) = (true, true);
        self.run(data, FlushCompress::None, out)
    }

    fn store(&mut self, data: &[u8], out: &mut impl Write) -> io::Result<()> {
        self.flush_compressor(out)?;
        for block in data.chunks(STORED_BLOCK_BYTES) {
            self.stored_block(block, false, out)?;
        }
        Ok(())
    }

    /// Ends the stream with an empty final stored block.
    fn finish(&mut self, out: &mut impl Write) -> io::Result<()> {
        self.flush_compressor(out)?;
        self.stored_block(&[], true, out)
    }

    fn flush_compressor(&mut self, out: &mut impl Write) -> io::Result<()> {
        if self.deflating {
            self.run(&[], FlushCompress::Sync, out)?;
            self.deflating = false;
        }
        Ok(())
    }

    /// A stored block: BFINAL bit and type 00 in one byte (the stream is byte-aligned here),
    /// then LEN and its complement, then the bytes.
    fn stored_block(&mut self, block: &[u8], last: bool, out: &mut impl Write) -> io::Result<()> {
        let len = block.len() as u16;
        let mut header = [u8::from(last), 0, 0, 0, 0];
        header[1..3].copy_from_slice(&len.to_le_bytes());
        header[3..5].copy_from_slice(&(!len).to_le_bytes());
        out.write_all(&header)?;
        out.write_all(block)?;
        self.written_bytes += (header.len() + block.len()) as u64;
        Ok(())
    }

    /// Feeds `input` to the compressor with `flush`, writing what comes out, until the input
    /// is consumed and nothing is pending.
    fn run(
        &mut self,
        mut input: &[u8],
        flush: FlushCompress,
        out: &mut impl Write,
    ) -> io::Result<()> {
        loop {
            self.buffer.clear();
            let before_in = self.compress.total_in();
            self.compress
                .compress_vec(input, &mut self.buffer, flush)
                .map_err(io::Error::other)?;
            input = &input[(self.compress.total_in() - before_in) as usize..];
            out.write_all(&self.buffer)?;
            self.written_bytes += self.buffer.len() as u64;
            if input.is_empty() && self.buffer.len() < self.buffer.capacity() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// `random` bytes no level shrinks (xorshift), then `repetitive` bytes every level does.
    fn mixed_bytes(random: usize, repetitive: usize) -> Vec<u8> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut bytes: Vec<u8> = (0..random)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        bytes.extend((0..repetitive).map(|i| (i % 7) as u8 + b'a'));
        bytes
    }

    #[test]
    fn a_chunk_is_deflated_only_when_level_1_halves_it() {
        let mut probe = Compress::new(Compression::fast(), false);
        assert!(!worth_deflating(&mut probe, &mixed_bytes(CHUNK_BYTES, 0)));
        assert!(worth_deflating(&mut probe, &mixed_bytes(0, CHUNK_BYTES)));
        // A quarter of each KiB compressible: level 1 saves ~20 %, not worth its time.
        let random = mixed_bytes(CHUNK_BYTES, 0);
        let mut quarter: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
        for block in random.chunks(768).take(CHUNK_BYTES / 1024) {
            quarter.extend_from_slice(block);
            quarter.extend_from_slice(&[0; 256]);
        }
        assert!(!worth_deflating(&mut probe, &quarter));
        // Three quarters compressible: deflated.
        let mut three_quarters: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
        for block in random.chunks(256).take(CHUNK_BYTES / 1024) {
            three_quarters.extend_from_slice(block);
            three_quarters.extend_from_slice(&[0; 768]);
        }
        assert!(worth_deflating(&mut probe, &three_quarters));
    }

    #[test]
    fn entries_read_back_through_an_independent_zip_reader() {
        let dir = tempfile::tempdir().unwrap();
        let contents: Vec<(&str, Vec<u8>)> = vec![
            // Chunks: random, random, repetitive, and a short repetitive tail.
            (
                "00000.smoosh",
                mixed_bytes(2 * CHUNK_BYTES, CHUNK_BYTES + 12_345),
            ),
            // Level-1 blocks, stored ones, then level-1 again from a reset compressor.
            ("alternating", {
                let mut bytes = mixed_bytes(0, CHUNK_BYTES);
                bytes.extend(mixed_bytes(CHUNK_BYTES, CHUNK_BYTES));
                bytes
            }),
            ("empty", Vec::new()),
            ("version.bin", vec![0, 0, 0, 9]),
        ];
        let mut files = Vec::new();
        for (name, bytes) in &contents {
            std::fs::write(dir.path().join(name), bytes).unwrap();
            files.push((name.to_string(), dir.path().join(name)));
        }
        let zip_path = dir.path().join("index.zip");
        let entries = write_zip(&zip_path, &files).unwrap();
        assert_eq!(entries.len(), contents.len());
        for (entry, (name, bytes)) in entries.iter().zip(&contents) {
            assert_eq!(entry, &FileChecksum::of(name, bytes));
        }
        let total: u64 = entries.iter().map(|e| e.size_bytes).sum();
        assert_eq!(
            total,
            contents.iter().map(|c| c.1.len() as u64).sum::<u64>()
        );
        let mut archive = zip::ZipArchive::new(File::open(&zip_path).unwrap()).unwrap();
        assert_eq!(archive.len(), contents.len());
        for (name, bytes) in &contents {
            let mut entry = archive.by_name(name).unwrap();
            assert_eq!(entry.compression(), zip::CompressionMethod::Deflated);
            let mut read = Vec::new();
            entry.read_to_end(&mut read).unwrap();
            assert!(read == *bytes, "entry {name} differs");
        }
        // The random chunks went in stored blocks, the repetitive ones shrank to nearly nothing.
        let zip_bytes = std::fs::metadata(&zip_path).unwrap().len();
        let random_bytes = 3 * CHUNK_BYTES as u64;
        assert!(
            zip_bytes < random_bytes + random_bytes / 50,
            "{zip_bytes} bytes"
        );
    }

    #[test]
    fn end_records_switch_to_zip64_only_when_a_field_overflows() {
        let small = end_records(3, 1000, 1200);
        assert_eq!(small.len(), 22);
        assert_eq!(&small[..4], &0x0605_4b50u32.to_le_bytes());
        let large = end_records(3, 5 << 30, (5 << 30) + 200);
        assert_eq!(large.len(), 56 + 20 + 22);
        assert_eq!(&large[..4], &0x0606_4b50u32.to_le_bytes());
        assert_eq!(&large[76..80], &0x0605_4b50u32.to_le_bytes());
        assert_eq!(
            &large[92..96],
            &u32::MAX.to_le_bytes(),
            "directory offset overflows"
        );
    }
}
