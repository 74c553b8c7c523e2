//! [`DirectWriter`]: a sequential file writer that bypasses the page cache (`O_DIRECT`) for
//! files this node writes once and never reads back (`index.zip` in deep storage).
//!
//! On a virtual machine whose free memory is handed back to the host (virtio-balloon free
//! page reporting, as on this project's CI machines), every page-cache page the kernel
//! allocates from long-free memory costs a host fault: writing 1.5 GB into a fresh file took
//! 3.2 s of system time here, against 1.1 s for the same bytes written with `O_DIRECT` (and
//! 0.3 s when the pages had just been freed by another file). A deep-storage copy gains
//! nothing from the page cache, so it is written straight to the device.
//!
//! Bytes are gathered in 1 MiB buffers aligned to 4 KiB and written in whole buffers; the
//! tail is padded to 4 KiB and the file cut back to its length. Where the filesystem refuses
//! `O_DIRECT` (tmpfs), the writer falls back to ordinary writes.
//!
//! An `O_DIRECT` write returns when the device has the bytes, and the segment's merge, the
//! only writer, had nothing else to do meanwhile: after the ingest phase of the 10M-event
//! benchmark (a 370 MB `index.zip`) the process was idle for 0.31–0.37 s, and 0.10–0.16 s
//! once the writes happened on a thread of their own (`direct-write`) while the caller fills
//! the next buffer: two buffers in all, one being filled and one being written, handed back
//! and forth over two channels of capacity 2. The device's cache is flushed behind the writes
//! ([`super::sync_behind`]), so the caller's final fsync waits for the last few MiB only.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::sync_behind::SyncBehind;

/// Alignment of `O_DIRECT` buffers, offsets and lengths.
const ALIGN_BYTES: usize = 4096;
/// Bytes written per call.
const BUFFER_BYTES: usize = 1 << 20;
/// Buffers per writer: one being filled while the other is written.
const BUFFERS: usize = 2;

/// A buffer of [`BUFFER_BYTES`] aligned to [`ALIGN_BYTES`] inside its storage.
struct AlignedBuffer {
    storage: Vec<u8>,
    start: usize,
}

impl AlignedBuffer {
    fn new() -> AlignedBuffer {
        let storage = vec![0u8; BUFFER_BYTES + ALIGN_BYTES];
        let start = storage.as_ptr().align_offset(ALIGN_BYTES);
        AlignedBuffer { storage, start }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + BUFFER_BYTES]
    }

    /// The first `len_bytes` of the buffer.
    fn bytes(&self, len_bytes: usize) -> &[u8] {
        &self.storage[self.start..self.start + len_bytes]
    }
}

/// The first `len_bytes` of `buffer`, to be written at `offset_bytes`.
struct WriteJob {
    buffer: AlignedBuffer,
    len_bytes: usize,
    offset_bytes: u64,
}

/// Writes a new file sequentially, without the page cache where possible.
pub struct DirectWriter {
    /// Filled buffers, to the writing thread (`None` once finished).
    jobs_opt: Option<SyncSender<WriteJob>>,
    /// Written buffers, back from the writing thread.
    written: Receiver<AlignedBuffer>,
    /// The writing thread; it returns the file, or the first write error.
    thread_opt: Option<JoinHandle<io::Result<File>>>,
    current: AlignedBuffer,
    filled_bytes: usize,
    /// Bytes handed to the writing thread before the current buffer.
    flushed_bytes: u64,
}

impl DirectWriter {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> io::Result<DirectWriter> {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        let (file, direct) = match options.clone().custom_flags(libc::O_DIRECT).open(path) {
            Ok(file) => (file, true),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (options.open(path)?, false),
            Err(e) => return Err(e),
        };
        let (jobs, jobs_rx) = sync_channel::<WriteJob>(BUFFERS);
        let (written_tx, written) = sync_channel::<AlignedBuffer>(BUFFERS);
        for _ in 1..BUFFERS {
            written_tx
                .send(AlignedBuffer::new())
                .expect("the receiver is here");
        }
        let thread = std::thread::Builder::new()
            .name("direct-write".into())
            .spawn(move || write_jobs(file, direct, jobs_rx, written_tx))?;
        Ok(DirectWriter {
            jobs_opt: Some(jobs),
            written,
            thread_opt: Some(thread),
            current: AlignedBuffer::new(),
            filled_bytes: 0,
            flushed_bytes: 0,
        })
    }

    /// Writes the rest, cuts the file to its length and returns it (still open for writing,
    /// without `O_DIRECT` guarantees for later unaligned writes: reopen for those).
    pub fn finish(mut self) -> io::Result<File> {
        let len_bytes = self.flushed_bytes + self.filled_bytes as u64;
        if self.filled_bytes > 0 {
            let padded = self.filled_bytes.next_multiple_of(ALIGN_BYTES);
            let filled = self.filled_bytes;
            self.current.bytes_mut()[filled..padded].fill(0);
            self.send_current(padded)?;
        }
        self.jobs_opt = None;
        let file = self.join()?;
        file.set_len(len_bytes)?;
        Ok(file)
    }

    /// Hands the current buffer's first `len_bytes` to the writing thread and takes a written
    /// buffer back (waiting while both are in use).
    fn send_current(&mut self, len_bytes: usize) -> io::Result<()> {
        let Ok(next) = self.written.recv() else {
            return Err(self.writer_failure());
        };
        let job = WriteJob {
            buffer: std::mem::replace(&mut self.current, next),
            len_bytes,
            offset_bytes: self.flushed_bytes,
        };
        let sent = match &self.jobs_opt {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(self.writer_failure());
        }
        self.flushed_bytes += self.filled_bytes as u64;
        self.filled_bytes = 0;
        Ok(())
    }

    /// Waits for the writing thread to end; its file, or the error it stopped at (reported
    /// once: later calls say that it stopped).
    fn join(&mut self) -> io::Result<File> {
        let Some(thread) = self.thread_opt.take() else {
            return Err(io::Error::other(
                "the direct-write thread stopped after an error",
            ));
        };
        thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the direct-write thread panicked")))
    }

    /// The error that stopped the writing thread (it hung up).
    fn writer_failure(&mut self) -> io::Error {
        self.jobs_opt = None;
        match self.join() {
            Err(e) => e,
            Ok(_) => io::Error::other("the direct-write thread stopped early"),
        }
    }
}

/// The writing thread: writes each job where it belongs and hands its buffer back; stops at
/// the first error (which it returns) or when the writer hangs up (returning the file).
fn write_jobs(
    mut file: File,
    mut direct: bool,
    jobs: Receiver<WriteJob>,
    written: SyncSender<AlignedBuffer>,
) -> io::Result<File> {
    // `O_DIRECT` data still waits in the device's cache for the final fsync: flush behind.
    let mut behind = SyncBehind::new(&file)?;
    for job in jobs {
        let data = job.buffer.bytes(job.len_bytes);
        match file.write_all_at(data, job.offset_bytes) {
            Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) => {
                // The filesystem took the open but not the write: go on without O_DIRECT.
                direct = false;
                file = reopen_buffered(&file)?;
                file.write_all_at(data, job.offset_bytes)?;
            }
            other => other?,
        }
        behind.wrote(job.len_bytes)?;
        // The writer may be finishing and gone: then the buffer is simply dropped.
        let _ = written.send(job.buffer);
    }
    behind.finish()?;
    Ok(file)
}

impl Write for DirectWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = BUFFER_BYTES - self.filled_bytes;
        let n = data.len().min(room);
        let at = self.filled_bytes;
        self.current.bytes_mut()[at..at + n].copy_from_slice(&data[..n]);
        self.filled_bytes += n;
        if self.filled_bytes == BUFFER_BYTES {
            self.send_current(BUFFER_BYTES)?;
        }
        Ok(n)
    }

    /// Buffered bytes stay until the buffer fills or [`DirectWriter::finish`]: `O_DIRECT`
    /// writes whole aligned blocks.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The same file opened again for ordinary writes.
fn reopen_buffered(file: &File) -> io::Result<File> {
    use std::os::fd::AsRawFd;
    OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_byte_at_any_length() {
        // In the build directory: a disk filesystem, where O_DIRECT is taken.
        let tmp = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        for len in [
            0usize,
            1,
            4095,
            4096,
            4097,
            BUFFER_BYTES,
            BUFFER_BYTES + 1,
            3 * BUFFER_BYTES - 7,
        ] {
            let path = tmp.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4096) as u8).collect();
            let mut writer = DirectWriter::create(&path).unwrap();
            for piece in data.chunks(1000 + len % 3) {
                writer.write_all(piece).unwrap();
            }
            writer.finish().unwrap().sync_all().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), data, "length {len}");
        }
    }

    #[test]
    fn a_tmpfs_file_is_written_whole() {
        // tmpfs refuses O_DIRECT before Linux 6.6 (then the writer falls back to ordinary
        // writes) and takes it since.
        let Ok(tmp) = tempfile::tempdir_in("/dev/shm") else {
            return;
        };
        let path = tmp.path().join("f");
        let mut writer = DirectWriter::create(&path).unwrap();
        writer.write_all(&[3u8; 5000]).unwrap();
        writer.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![3u8; 5000]);
    }

    #[test]
    fn a_write_that_fails_on_the_writing_thread_is_reported_to_the_writer() {
        // Every write to /dev/full fails with ENOSPC (after the fallback from O_DIRECT).
        let mut writer = DirectWriter::create(Path::new("/dev/full")).expect("/dev/full opens");
        let data = vec![5u8; 3 * BUFFER_BYTES + 10];
        let error = writer
            .write_all(&data)
            .expect_err("the second buffer waits for the first");
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC), "{error}");
        // Writing on after the error, then finishing: errors again, no panic.
        assert!(writer.write_all(&data).is_err());
        assert!(writer.finish().is_err());
    }

    #[test]
    fn an_existing_file_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, vec![9u8; 100_000]).unwrap();
        let mut writer = DirectWriter::create(&path).unwrap();
        writer.write_all(b"short").unwrap();
        writer.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
    }
}
