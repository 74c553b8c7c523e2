//! [`SyncBehind`]: flushes a file being written to the device from a thread of its own, a few
//! MiB behind the writer, so that the writer's final fsync waits for the last stretch only.
//!
//! A large file written and then fsynced makes its writer idle while the device takes all of
//! it: on this project's machines 52 MB took 60–80 ms to fsync, after it was written into the
//! page cache (or straight to the device with `O_DIRECT`, whose data still sits in the
//! device's cache until the flush). Flushing behind the writer lets the device work while the
//! writer computes the rest. It is only an early start: the writer still fsyncs at the end,
//! and a background flush that failed fails the file ([`SyncBehind::finish`]), since after a
//! failed flush the kernel may report a later one as clean.

use std::fs::File;
use std::io;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

/// Bytes written between two background flushes.
pub const SYNC_STEP_BYTES: u64 = 8 << 20;

/// Flushes a file in the background as it grows. Nothing runs until [`SYNC_STEP_BYTES`] were
/// written, so small files cost no thread.
#[derive(Debug)]
pub struct SyncBehind {
    file: File,
    /// Flush requests to the flushing thread: capacity 1, and a request is dropped when one
    /// already waits (the waiting flush covers its bytes too).
    requests_opt: Option<SyncSender<()>>,
    thread_opt: Option<JoinHandle<io::Result<()>>>,
    unflushed_bytes: u64,
}

impl SyncBehind {
    /// Flushes behind writes to `file` (a second handle is kept for the flushing thread).
    pub fn new(file: &File) -> io::Result<SyncBehind> {
        Ok(SyncBehind {
            file: file.try_clone()?,
            requests_opt: None,
            thread_opt: None,
            unflushed_bytes: 0,
        })
    }

    /// Counts `bytes` written; every [`SYNC_STEP_BYTES`] asks the thread for a flush.
    pub fn wrote(&mut self, bytes: usize) -> io::Result<()> {
        self.unflushed_bytes += bytes as u64;
        if self.unflushed_bytes < SYNC_STEP_BYTES {
            return Ok(());
        }
        self.unflushed_bytes = 0;
        if self.requests_opt.is_none() {
            // Without a thread (none could be started) the final fsync simply does it all.
            let _ = self.spawn();
        }
        let Some(requests) = &self.requests_opt else {
            return Ok(());
        };
        match requests.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => Ok(()),
            // The thread stopped at a failed flush: report it now.
            Err(TrySendError::Disconnected(())) => self.join(),
        }
    }

    /// Waits for the flushes asked for; the first one that failed is this call's error.
    pub fn finish(mut self) -> io::Result<()> {
        self.join()
    }

    fn spawn(&mut self) -> io::Result<()> {
        let (requests, received) = sync_channel::<()>(1);
        let file = self.file.try_clone()?;
        let thread = std::thread::Builder::new()
            .name("sync-behind".into())
            .spawn(move || received.iter().try_for_each(|()| file.sync_data()))?;
        self.requests_opt = Some(requests);
        self.thread_opt = Some(thread);
        Ok(())
    }

    fn join(&mut self) -> io::Result<()> {
        self.requests_opt = None;
        match self.thread_opt.take() {
            None => Ok(()),
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the sync-behind thread panicked"))),
        }
    }
}

/// A file whose writes are flushed behind ([`SyncBehind`]).
#[derive(Debug)]
pub struct SyncBehindFile {
    file: File,
    behind: SyncBehind,
}

impl SyncBehindFile {
    /// Wraps a file opened for writing.
    pub fn new(file: File) -> io::Result<SyncBehindFile> {
        let behind = SyncBehind::new(&file)?;
        Ok(SyncBehindFile { file, behind })
    }

    /// Waits for the background flushes; the file, for its final fsync.
    pub fn finish(self) -> io::Result<File> {
        self.behind.finish()?;
        Ok(self.file)
    }
}

impl io::Write for SyncBehindFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.file.write(data)?;
        self.behind.wrote(n)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn a_file_written_through_it_holds_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut out = SyncBehindFile::new(File::create(&path).unwrap()).unwrap();
        let block: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        for _ in 0..(3 * SYNC_STEP_BYTES as usize / block.len() + 1) {
            out.write_all(&block).unwrap();
        }
        assert!(out.behind.thread_opt.is_some(), "no flush ran behind");
        out.finish().unwrap().sync_all().unwrap();
        let mut read = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut read).unwrap();
        assert_eq!(read.len(), 25 * block.len());
        assert!(read.chunks(block.len()).all(|c| c == block.as_slice()));
    }

    #[test]
    fn a_small_file_starts_no_thread() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = SyncBehindFile::new(File::create(dir.path().join("f")).unwrap()).unwrap();
        out.write_all(&[7; 4096]).unwrap();
        assert!(out.behind.thread_opt.is_none());
        out.finish().unwrap();
    }

    #[test]
    fn a_failed_background_flush_fails_the_file() {
        // A flush of a pipe fails (EINVAL): the error must reach the writer.
        let (reader, writer) = std::io::pipe().unwrap();
        let file = File::from(std::os::fd::OwnedFd::from(writer));
        let mut behind = SyncBehind::new(&file).unwrap();
        let _keep_open = reader;
        let mut result = Ok(());
        for _ in 0..4 {
            result = result.and(behind.wrote(SYNC_STEP_BYTES as usize));
        }
        let error = result.and(behind.finish()).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EINVAL), "{error}");
    }
}
