//! Spill buffers: the growing byte areas of columns being written (compressed blocks, bitmaps),
//! kept in memory for in-memory segments or in a temporary file inside the output directory, and
//! copied into `00000.smoosh` when the segment is assembled.
//!
//! A thread that writes segment after segment (the persist worker: a hydrant every few seconds)
//! can keep its spills in memory instead ([`keep_spills_in_memory_on_this_thread`]): each spill
//! takes the buffer the spill of the same name used last time, and gives it back when copied.
//! The hydrant's bytes then go through the page cache once (into `00000.smoosh`) instead of
//! three times (spill file, read back, smoosh), and the buffers' pages, touched once, are
//! reused: on this project's VMs a page-cache or heap page taken from long-free memory costs a
//! host fault (BENCHMARKS.md, "fresh pages cost a host fault").

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Largest buffer a pool keeps (bigger ones are freed after use).
const MAX_POOLED_BYTES: usize = 64 << 20;

thread_local! {
    /// This thread's spill buffers by spill name, when it keeps spills in memory.
    static POOL: RefCell<Option<HashMap<String, Vec<u8>>>> = const { RefCell::new(None) };
}

/// From now on, spills this thread makes for directory segments stay in memory, in buffers
/// reused by spill name (see the module doc).
pub fn keep_spills_in_memory_on_this_thread() {
    POOL.with(|pool| {
        pool.borrow_mut().get_or_insert_with(HashMap::new);
    });
}

/// Lets this thread's pooled spill buffers go (it keeps pooling from its next spill on).
pub fn release_kept_spills() {
    POOL.with(|pool| {
        if let Some(buffers) = pool.borrow_mut().as_mut() {
            *buffers = HashMap::new();
        }
    });
}

/// The pooled buffer for `name`, emptied; `None` when this thread does not pool.
fn take_pooled(name: &str) -> Option<Vec<u8>> {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let buffers = pool.as_mut()?;
        let mut bytes = buffers.remove(name).unwrap_or_default();
        bytes.clear();
        Some(bytes)
    })
}

/// Returns a buffer to this thread's pool.
fn give_back(name: String, bytes: Vec<u8>) {
    if bytes.capacity() > MAX_POOLED_BYTES {
        return;
    }
    POOL.with(|pool| {
        if let Some(buffers) = pool.borrow_mut().as_mut() {
            buffers.insert(name, bytes);
        }
    });
}

/// A write-once byte area that is later copied to its final place.
#[derive(Debug)]
pub enum Spill {
    /// Bytes kept in memory.
    Memory(Vec<u8>),
    /// Bytes kept in a buffer of this thread's pool, given back when copied.
    Pooled {
        /// The bytes.
        bytes: Vec<u8>,
        /// The spill's name (its buffer's key in the pool).
        name: String,
    },
    /// Bytes written to a temporary file, removed after being copied.
    File {
        /// Buffered writer over the temporary file.
        writer: BufWriter<File>,
        /// The temporary file's path.
        path: PathBuf,
        /// Number of bytes written so far.
        len_bytes: u64,
    },
}

impl Spill {
    /// Creates an in-memory spill.
    pub fn memory() -> Self {
        Spill::Memory(Vec::new())
    }

    /// Creates a spill backed by a new temporary file at `path`.
    pub fn file(path: &Path) -> io::Result<Self> {
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(Spill::File {
            writer: BufWriter::with_capacity(256 * 1024, file),
            path: path.to_path_buf(),
            len_bytes: 0,
        })
    }

    /// Creates a file spill in `dir_opt` (a pooled one on a thread that keeps spills in
    /// memory), or an in-memory one when it is `None`.
    pub fn new_in(dir_opt: Option<&Path>, name: &str) -> io::Result<Self> {
        match dir_opt {
            Some(dir) => match take_pooled(name) {
                Some(bytes) => Ok(Spill::Pooled {
                    bytes,
                    name: name.to_string(),
                }),
                None => Spill::file(&dir.join(name)),
            },
            None => Ok(Spill::memory()),
        }
    }

    /// Returns the number of bytes written.
    pub fn len_bytes(&self) -> u64 {
        match self {
            Spill::Memory(bytes) | Spill::Pooled { bytes, .. } => bytes.len() as u64,
            Spill::File { len_bytes, .. } => *len_bytes,
        }
    }

    /// Appends `bytes`.
    #[inline]
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Spill::Memory(buf) | Spill::Pooled { bytes: buf, .. } => {
                buf.extend_from_slice(bytes);
                Ok(())
            }
            Spill::File {
                writer, len_bytes, ..
            } => {
                writer.write_all(bytes)?;
                *len_bytes += bytes.len() as u64;
                Ok(())
            }
        }
    }

    /// Appends the `N` bytes `bytes` gives for each value, through a stack buffer (one
    /// `write_all` per 4 KiB instead of one per value).
    pub fn write_each<T: Copy, const N: usize>(
        &mut self,
        values: &[T],
        bytes: impl Fn(T) -> [u8; N],
    ) -> io::Result<()> {
        let mut buffer = [0u8; 4096];
        for chunk in values.chunks(buffer.len() / N) {
            for (value, out) in chunk.iter().zip(buffer.chunks_exact_mut(N)) {
                out.copy_from_slice(&bytes(*value));
            }
            self.write_all(&buffer[..N * chunk.len()])?;
        }
        Ok(())
    }

    /// Copies every byte written to `out` and releases the spill (deleting its file).
    pub fn copy_to(self, out: &mut dyn Write) -> io::Result<()> {
        self.for_each_chunk(&mut |chunk| out.write_all(chunk))
    }

    /// Hands every byte written to `f`, in order, in chunks of whole 64 KiB (the last one
    /// shorter; each a multiple of 8 bytes when everything written was), and releases the spill.
    pub fn for_each_chunk(self, f: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        match self {
            Spill::Memory(bytes) => bytes.chunks(1 << 16).try_for_each(f),
            Spill::Pooled { bytes, name } => {
                let copied = bytes.chunks(1 << 16).try_for_each(&mut *f);
                give_back(name, bytes);
                copied
            }
            Spill::File {
                writer,
                path,
                len_bytes,
            } => {
                let mut file = writer.into_inner().map_err(|e| e.into_error())?;
                file.seek(SeekFrom::Start(0))?;
                let mut buffer = vec![0u8; 1 << 16];
                let mut remaining = len_bytes;
                while remaining > 0 {
                    let len = remaining.min(buffer.len() as u64) as usize;
                    file.read_exact(&mut buffer[..len])?;
                    f(&buffer[..len])?;
                    remaining -= len as u64;
                }
                drop(file);
                std::fs::remove_file(&path)
            }
        }
    }

    /// Every byte written, readable at random (a file spill is mapped, and its file removed at
    /// once: the mapping keeps the pages until it is dropped).
    pub fn into_bytes(self) -> io::Result<SpillBytes> {
        match self {
            Spill::Memory(bytes) | Spill::Pooled { bytes, .. } => Ok(SpillBytes::Memory(bytes)),
            Spill::File { len_bytes: 0, .. } => {
                self.discard();
                Ok(SpillBytes::Memory(Vec::new()))
            }
            Spill::File { writer, path, .. } => {
                let file = writer.into_inner().map_err(|e| e.into_error())?;
                // SAFETY: the file is this spill's own temporary file, created with
                // `create_new` and written only through this spill, which is consumed here; no
                // one else opens it, so the mapped bytes cannot change.
                // Populated: it is read whole, and faulting it in page by page cost more.
                let map = unsafe { memmap2::MmapOptions::new().populate().map(&file)? };
                std::fs::remove_file(&path)?;
                Ok(SpillBytes::Map(map))
            }
        }
    }

    /// Deletes the spill's file, if any, ignoring errors (used when a write is abandoned).
    pub fn discard(self) {
        match self {
            Spill::File { writer, path, .. } => {
                drop(writer);
                let _ = std::fs::remove_file(path);
            }
            Spill::Pooled { bytes, name } => give_back(name, bytes),
            Spill::Memory(_) => {}
        }
    }
}

/// The bytes of a finished spill (see [`Spill::into_bytes`]).
#[derive(Debug)]
pub enum SpillBytes {
    /// An in-memory spill's buffer.
    Memory(Vec<u8>),
    /// A file spill's read-only mapping.
    Map(memmap2::Mmap),
}

impl std::ops::Deref for SpillBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            SpillBytes::Memory(bytes) => bytes,
            SpillBytes::Map(map) => map,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_spill_copies_everything_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = Spill::new_in(Some(dir.path()), "x.tmp").unwrap();
        for i in 0..100_000u32 {
            spill.write_all(&i.to_le_bytes()).unwrap();
        }
        assert_eq!(spill.len_bytes(), 400_000);
        let mut out = Vec::new();
        spill.copy_to(&mut out).unwrap();
        assert_eq!(out.len(), 400_000);
        assert_eq!(&out[4..8], &1u32.to_le_bytes());
        assert!(!dir.path().join("x.tmp").exists());
    }

    #[test]
    fn file_spill_bytes_are_mapped_and_the_file_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = Spill::new_in(Some(dir.path()), "y.tmp").unwrap();
        spill.write_all(b"hello").unwrap();
        let bytes = spill.into_bytes().unwrap();
        assert_eq!(&*bytes, b"hello");
        assert!(!dir.path().join("y.tmp").exists());
        let empty = Spill::new_in(Some(dir.path()), "z.tmp").unwrap();
        assert!(empty.into_bytes().unwrap().is_empty());
        assert!(!dir.path().join("z.tmp").exists());
    }

    #[test]
    fn a_pooling_thread_reuses_buffers_by_name_and_writes_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let dir_path = dir.path().to_path_buf();
        std::thread::spawn(move || {
            keep_spills_in_memory_on_this_thread();
            let mut first = Spill::new_in(Some(&dir_path), "m0").unwrap();
            first.write_all(&[7u8; 100_000]).unwrap();
            let Spill::Pooled { bytes, .. } = &first else {
                panic!("not pooled: {first:?}")
            };
            let buffer = bytes.as_ptr();
            let mut out = Vec::new();
            first.copy_to(&mut out).unwrap();
            assert_eq!(out, vec![7u8; 100_000]);
            let mut again = Spill::new_in(Some(&dir_path), "m0").unwrap();
            again.write_all(b"xyz").unwrap();
            let Spill::Pooled { bytes, .. } = &again else {
                panic!("not pooled")
            };
            assert_eq!(bytes.as_ptr(), buffer, "the buffer is reused");
            let mut out = Vec::new();
            again.copy_to(&mut out).unwrap();
            assert_eq!(out, b"xyz");
            assert_eq!(std::fs::read_dir(&dir_path).unwrap().count(), 0);
            release_kept_spills();
            let Spill::Pooled { bytes, .. } = Spill::new_in(Some(&dir_path), "m0").unwrap() else {
                panic!("not pooled after a release")
            };
            assert_eq!(bytes.capacity(), 0, "the kept buffer was let go");
        })
        .join()
        .unwrap();
        // Other threads still spill to files.
        let spill = Spill::new_in(Some(dir.path()), "m0").unwrap();
        assert!(matches!(spill, Spill::File { .. }));
        spill.discard();
    }

    #[test]
    fn memory_spill_keeps_bytes() {
        let mut spill = Spill::new_in(None, "unused").unwrap();
        spill.write_all(b"abc").unwrap();
        let mut out = Vec::new();
        spill.copy_to(&mut out).unwrap();
        assert_eq!(out, b"abc");
    }
}
