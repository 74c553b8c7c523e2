//! The `local` firehose: every file of `baseDir` whose name matches `filter` (a wildcard with
//! `*` and `?`), in name order, one event per line; `.gz` files are decompressed; `"-"` reads
//! standard input.
//!
//! Checkpoint: `{"file": NAME, "offset": BYTES}` — the file being read and how many
//! (decompressed) bytes of it were consumed. A restart skips the files sorting before `NAME` and
//! the first `BYTES` of `NAME`. Without `--exit-when-done` the firehose keeps polling `baseDir`
//! for new files sorting after the last one read; with it, the input ends after the last file.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{BatchOrigin, EventBatch, FirehoseError, FirehoseMessage, MAX_BATCH_BYTES};
use crate::config::io::LocalFirehose as LocalSpec;

/// How often a following firehose looks for new files.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Where a local firehose stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalCheckpoint {
    /// Name of the file being read (`-` for standard input).
    pub file: String,
    /// Bytes of that file consumed.
    pub offset: u64,
}

/// A configured local firehose.
#[derive(Debug, Clone)]
pub struct LocalFirehose {
    base_dir: PathBuf,
    stdin: bool,
    pattern: glob::Pattern,
    follow: bool,
}

impl LocalFirehose {
    /// Builds the firehose; `follow` keeps watching for new files after the last one.
    pub fn new(spec: &LocalSpec, follow: bool) -> Result<LocalFirehose, FirehoseError> {
        let pattern = glob::Pattern::new(&spec.filter)
            .map_err(|e| FirehoseError::BadCheckpoint(format!("filter `{}`: {e}", spec.filter)))?;
        Ok(LocalFirehose {
            base_dir: PathBuf::from(&spec.base_dir),
            stdin: spec.base_dir == "-",
            pattern,
            follow,
        })
    }

    /// Reads on a new thread, sending batches into `tx`, resuming after `resume`.
    pub fn spawn(
        self,
        resume: Option<Value>,
        tx: mpsc::Sender<FirehoseMessage>,
    ) -> Result<std::thread::JoinHandle<()>, FirehoseError> {
        let start: LocalCheckpoint = match resume {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|_| FirehoseError::BadCheckpoint(v.to_string()))?,
            None => LocalCheckpoint::default(),
        };
        let handle = std::thread::Builder::new()
            .name("firehose-local".into())
            .spawn(move || {
                let message = match self.run(start, &tx) {
                    Ok(Some(end)) => FirehoseMessage::End(
                        serde_json::to_value(end).expect("checkpoint serializes"),
                    ),
                    Ok(None) => return,
                    Err(e) => FirehoseMessage::Failed(e.to_string()),
                };
                let _ = tx.blocking_send(message);
            })
            .map_err(|source| FirehoseError::Io {
                path: "thread".into(),
                source,
            })?;
        Ok(handle)
    }

    /// Returns the final checkpoint when the input ended, `None` when the receiver went away.
    fn run(
        &self,
        mut at: LocalCheckpoint,
        tx: &mpsc::Sender<FirehoseMessage>,
    ) -> Result<Option<LocalCheckpoint>, FirehoseError> {
        if self.stdin {
            let skip = if at.file == "-" { at.offset } else { 0 };
            at = LocalCheckpoint {
                file: "-".into(),
                offset: skip,
            };
            let sent = read_stream(io::stdin().lock(), "stdin", &mut at, tx, Fill::Eager).map_err(
                |source| FirehoseError::Io {
                    path: "stdin".into(),
                    source,
                },
            )?;
            return Ok(sent.then_some(at));
        }
        loop {
            for name in self.pending_files(&at)? {
                if name != at.file {
                    at = LocalCheckpoint {
                        file: name.clone(),
                        offset: 0,
                    };
                }
                let path = self.base_dir.join(&name);
                let io_err = |source| FirehoseError::Io {
                    path: path.display().to_string(),
                    source,
                };
                let reader = open(&path).map_err(io_err)?;
                if !read_stream(reader, &name, &mut at, tx, Fill::Full).map_err(io_err)? {
                    return Ok(None);
                }
            }
            if !self.follow {
                return Ok(Some(at));
            }
            std::thread::sleep(POLL_INTERVAL);
            if tx.is_closed() {
                return Ok(None);
            }
        }
    }

    /// Matching files at or after the checkpoint's file, in name order.
    fn pending_files(&self, at: &LocalCheckpoint) -> Result<Vec<String>, FirehoseError> {
        let dir_err = |source| FirehoseError::Io {
            path: self.base_dir.display().to_string(),
            source,
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.base_dir).map_err(dir_err)? {
            let entry = entry.map_err(dir_err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().map_err(dir_err)?.is_file()
                && self.pattern.matches(&name)
                && name.as_str() >= at.file.as_str()
            {
                names.push(name);
            }
        }
        names.sort();
        // The checkpoint's own file was read to its end already when the offset says so; it is
        // reopened anyway and yields nothing more. Files before it are done.
        Ok(names)
    }
}

fn open(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    let file = File::open(path)?;
    let is_gz = path.extension().is_some_and(|e| e == "gz");
    Ok(if is_gz {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            file,
        )))
    } else {
        Box::new(file)
    })
}

/// How much a batch waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// Up to [`MAX_BATCH_BYTES`] or the end of input (files: the biggest batches).
    Full,
    /// Also stop after a short read that completed a line (streams: a pipe drained by a slow
    /// producer yields its complete lines at once instead of waiting for a full batch).
    Eager,
}

/// Streams `reader` as line batches, skipping the first `at.offset` bytes. Returns false when
/// the receiver is gone.
fn read_stream(
    mut reader: impl Read,
    source: &str,
    at: &mut LocalCheckpoint,
    tx: &mpsc::Sender<FirehoseMessage>,
    mode: Fill,
) -> io::Result<bool> {
    io::copy(&mut (&mut reader).take(at.offset), &mut io::sink())?;
    let mut line_number = 1u64;
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let mut data = super::buffers::take(MAX_BATCH_BYTES);
        data.extend_from_slice(&carry);
        carry.clear();
        let (eof, cut) = fill_lines(&mut reader, &mut data, mode)?;
        carry.extend_from_slice(&data[cut..]);
        data.truncate(cut);
        if data.is_empty() && eof {
            return Ok(true);
        }
        at.offset += data.len() as u64;
        let batch = make_batch(data, source, line_number, at);
        line_number += batch.spans.len() as u64;
        if tx.blocking_send(FirehoseMessage::Batch(batch)).is_err() {
            return Ok(false);
        }
        if eof {
            return Ok(true);
        }
    }
}

/// Fills `data` with at least one whole line, up to [`MAX_BATCH_BYTES`] unless a single line is
/// longer (it is read on to its end, never split into two events); returns whether the input
/// ended and where the batch's last whole line ends (the rest is carried to the next batch).
fn fill_lines(reader: &mut impl Read, data: &mut Vec<u8>, mode: Fill) -> io::Result<(bool, usize)> {
    let mut limit = MAX_BATCH_BYTES;
    loop {
        let eof = fill(reader, data, limit, mode)?;
        if eof {
            return Ok((true, data.len()));
        }
        if let Some(last_newline) = memchr::memrchr(b'\n', data) {
            return Ok((false, last_newline + 1));
        }
        limit = data.len() + MAX_BATCH_BYTES;
    }
}

/// Reads until `data` holds `limit` bytes or the input ends (or, with [`Fill::Eager`], a short
/// read leaves `data` holding a complete line); returns true at the end.
fn fill(reader: &mut impl Read, data: &mut Vec<u8>, limit: usize, mode: Fill) -> io::Result<bool> {
    if mode == Fill::Full {
        // `read_to_end` reads into the spare capacity as it is, where `read` needs it zeroed
        // first (a file's `read_buf` skips that: 2.8 GB of `memset` in the 10M-event benchmark).
        let want_bytes = limit.saturating_sub(data.len()) as u64;
        reader.take(want_bytes).read_to_end(data)?;
        return Ok(data.len() < limit);
    }
    let mut has_line = memchr::memchr(b'\n', data).is_some();
    while data.len() < limit {
        let start = data.len();
        data.resize(limit, 0);
        let n = match reader.read(&mut data[start..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => {
                data.truncate(start);
                return Err(e);
            }
        };
        data.truncate(start + n);
        if n == 0 {
            return Ok(true);
        }
        has_line = has_line || memchr::memchr(b'\n', &data[start..]).is_some();
        if mode == Fill::Eager && has_line && data.len() < limit {
            return Ok(false);
        }
    }
    Ok(false)
}

fn make_batch(data: Vec<u8>, source: &str, first_line: u64, at: &LocalCheckpoint) -> EventBatch {
    let mut spans = Vec::with_capacity(data.len() / 200 + 1);
    let mut start = 0usize;
    for end in memchr::memchr_iter(b'\n', &data) {
        spans.push(line_span(&data, start, end));
        start = end + 1;
    }
    if start < data.len() {
        spans.push(line_span(&data, start, data.len()));
    }
    EventBatch {
        data,
        spans,
        origin: BatchOrigin::Lines {
            source: source.to_string(),
            first_line,
        },
        checkpoint: serde_json::to_value(at).expect("checkpoint serializes"),
        clip: None,
    }
}

fn line_span(data: &[u8], start: usize, end: usize) -> (u32, u32) {
    let end = if end > start && data[end - 1] == b'\r' {
        end - 1
    } else {
        end
    };
    (start as u32, end as u32)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn collect(firehose: LocalFirehose, resume: Option<Value>) -> (Vec<String>, Value) {
        let (tx, mut rx) = super::super::channel();
        let handle = firehose.spawn(resume, tx).unwrap();
        let mut lines = Vec::new();
        loop {
            match rx.blocking_recv().unwrap() {
                FirehoseMessage::Batch(b) => lines
                    .extend((0..b.len()).map(|i| String::from_utf8(b.event(i).to_vec()).unwrap())),
                FirehoseMessage::End(end) => {
                    handle.join().unwrap();
                    return (lines, end);
                }
                FirehoseMessage::Failed(e) => panic!("{e}"),
                FirehoseMessage::Flush(_) => panic!("the local firehose never flushes"),
            }
        }
    }

    #[test]
    fn batches_of_a_large_file_hold_whole_lines_also_in_recycled_buffers() {
        let dir = tempfile::tempdir().unwrap();
        let expected: Vec<String> = (0..40_000)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 97)))
            .collect();
        std::fs::write(dir.path().join("big.json"), expected.join("\n") + "\n").unwrap();
        let spec = LocalSpec {
            base_dir: dir.path().display().to_string(),
            filter: "*.json".into(),
            parser: None,
        };
        let (tx, mut rx) = super::super::channel();
        let handle = LocalFirehose::new(&spec, false)
            .unwrap()
            .spawn(None, tx)
            .unwrap();
        let (mut lines, mut offset, mut batches) = (Vec::new(), 0u64, 0);
        while let FirehoseMessage::Batch(b) = rx.blocking_recv().unwrap() {
            assert!(b.data.len() <= MAX_BATCH_BYTES && b.data.ends_with(b"\n"));
            assert!(
                b.data.capacity() <= 2 * MAX_BATCH_BYTES,
                "a poolable buffer"
            );
            offset += b.data.len() as u64;
            assert_eq!(b.checkpoint["offset"], offset);
            lines.extend((0..b.len()).map(|i| String::from_utf8(b.event(i).to_vec()).unwrap()));
            batches += 1;
            // The next batches are read into buffers holding this one's bytes.
            crate::firehose::buffers::recycle(b);
        }
        handle.join().unwrap();
        assert!(batches >= 3, "{batches} batches");
        assert_eq!(lines, expected);
    }

    #[test]
    fn a_line_longer_than_a_batch_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("{{\"pad\":\"{}\"}}", "y".repeat(3 * MAX_BATCH_BYTES + 5));
        let expected = vec!["{\"n\":1}".to_string(), long, "{\"n\":2}".to_string()];
        std::fs::write(dir.path().join("long.json"), expected.join("\n") + "\n").unwrap();
        let spec = LocalSpec {
            base_dir: dir.path().display().to_string(),
            filter: "*.json".into(),
            parser: None,
        };
        let (lines, checkpoint) = collect(LocalFirehose::new(&spec, false).unwrap(), None);
        assert_eq!(lines, expected);
        let total_bytes = expected.iter().map(|l| l.len() as u64 + 1).sum::<u64>();
        assert_eq!(checkpoint["offset"], total_bytes);
    }

    #[test]
    fn reads_matching_files_in_name_order_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.json"), "3\n4\r\n").unwrap();
        std::fs::write(dir.path().join("a.json"), "1\n2").unwrap();
        std::fs::write(dir.path().join("skip.txt"), "x\n").unwrap();
        let mut gz = flate2::write::GzEncoder::new(
            File::create(dir.path().join("c.json.gz")).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(b"5\n6\n").unwrap();
        gz.finish().unwrap();
        let spec = LocalSpec {
            base_dir: dir.path().display().to_string(),
            filter: "*.json*".into(),
            parser: None,
        };
        let (lines, end) = collect(LocalFirehose::new(&spec, false).unwrap(), None);
        assert_eq!(lines, ["1", "2", "3", "4", "5", "6"]);
        assert_eq!(end, serde_json::json!({"file": "c.json.gz", "offset": 4}));
        let resume = serde_json::json!({"file": "b.json", "offset": 2});
        let (lines, _) = collect(LocalFirehose::new(&spec, false).unwrap(), Some(resume));
        assert_eq!(lines, ["4", "5", "6"]);
    }

    /// A pipe fed by a slow producer: each `read` returns one chunk, blocking for the next.
    struct SlowPipe(std::sync::mpsc::Receiver<&'static [u8]>);

    impl Read for SlowPipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.recv() {
                Ok(chunk) => {
                    buf[..chunk.len()].copy_from_slice(chunk);
                    Ok(chunk.len())
                }
                Err(_) => Ok(0),
            }
        }
    }

    fn next_lines(rx: &mut mpsc::Receiver<FirehoseMessage>) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match rx.try_recv() {
                Ok(FirehoseMessage::Batch(b)) => {
                    return (0..b.len())
                        .map(|i| String::from_utf8(b.event(i).to_vec()).unwrap())
                        .collect();
                }
                Ok(_) => panic!("expected a batch"),
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => panic!("no batch while the stream is still open"),
            }
        }
    }

    #[test]
    fn a_slow_stream_yields_complete_lines_without_waiting_for_a_full_batch() {
        let (feed, pipe) = std::sync::mpsc::channel();
        let (tx, mut rx) = super::super::channel();
        let reader = std::thread::spawn(move || {
            let mut at = LocalCheckpoint::default();
            read_stream(SlowPipe(pipe), "-", &mut at, &tx, Fill::Eager).unwrap();
            at
        });
        feed.send(b"1\n2\n".as_slice()).unwrap();
        assert_eq!(next_lines(&mut rx), ["1", "2"]);
        // A partial line waits for its end; the complete lines after it come with it.
        feed.send(b"3".as_slice()).unwrap();
        feed.send(b"\n4\n5".as_slice()).unwrap();
        assert_eq!(next_lines(&mut rx), ["3", "4"]);
        drop(feed);
        assert_eq!(next_lines(&mut rx), ["5"]);
        assert_eq!(reader.join().unwrap().offset, 9);
    }
}
