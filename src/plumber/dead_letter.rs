//! The dead-letter file (`tuningConfig.deadLetterDirectory`): every event the node reads but does
//! not index — thrown away (`late`, `early`, `outOfInterval`, `filtered`) or unparseable — is
//! appended as one JSON line, so a dropped event can be found and replayed (Druid only counted
//! them: "Could I get the thrown away events?", reference user-pains §1 #3).
//!
//! File: `{deadLetterDirectory}/{dataSource}_{partitionNum}.jsonl`, opened for append. A line:
//!
//! ```json
//! {"reason":"late","position":"events.json:17","message":null,"event":"{\"ts\":…}"}
//! ```
//!
//! `event` is the raw event as text (`eventBase64` instead when it is not UTF-8); `message` says
//! why an unparseable event failed. The file is flushed and fsynced before each commit record
//! that covers its events, so a dead letter is never missing once the source is acknowledged;
//! after a crash the events past the last commit are read again and their lines may repeat
//! (at-least-once, as the events themselves are for RabbitMQ).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::json;

/// Buffer in front of the file.
const BUFFER_BYTES: usize = 256 * 1024;

/// An open dead-letter file.
#[derive(Debug)]
pub struct DeadLetters {
    writer: BufWriter<File>,
    path: PathBuf,
    /// Lines written since the last [`DeadLetters::sync`].
    unsynced_lines: u64,
}

/// A dead letter could not be written (the node stops: the event would be lost).
#[derive(Debug, thiserror::Error)]
#[error("cannot write the dead-letter file `{path}`: {source}")]
pub struct DeadLetterError {
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    pub source: io::Error,
}

impl DeadLetters {
    /// Opens (creating it and its directory) the file of one fire department.
    pub fn open(dir: &Path, data_source: &str, partition: u32) -> Result<Self, DeadLetterError> {
        let path = dir.join(format!("{data_source}_{partition}.jsonl"));
        let error = |source| DeadLetterError {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(error)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(error)?;
        Ok(DeadLetters {
            writer: BufWriter::with_capacity(BUFFER_BYTES, file),
            path,
            unsynced_lines: 0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event (buffered).
    pub fn record(
        &mut self,
        reason: &str,
        position: &str,
        message: Option<&str>,
        event: &[u8],
    ) -> Result<(), DeadLetterError> {
        let line = match std::str::from_utf8(event) {
            Ok(text) => {
                json!({"reason": reason, "position": position, "message": message, "event": text})
            }
            Err(_) => json!({"reason": reason, "position": position, "message": message,
                "eventBase64": base64::engine::general_purpose::STANDARD.encode(event)}),
        };
        serde_json::to_writer(&mut self.writer, &line)
            .map_err(io::Error::from)
            .and_then(|()| self.writer.write_all(b"\n"))
            .map_err(|source| self.error(source))?;
        self.unsynced_lines += 1;
        Ok(())
    }

    /// Flushes and fsyncs what was recorded (before a commit record covers those events).
    pub fn sync(&mut self) -> Result<(), DeadLetterError> {
        if self.unsynced_lines == 0 {
            return Ok(());
        }
        self.writer
            .flush()
            .and_then(|()| self.writer.get_ref().sync_data())
            .map_err(|source| self.error(source))?;
        self.unsynced_lines = 0;
        Ok(())
    }

    fn error(&self, source: io::Error) -> DeadLetterError {
        DeadLetterError {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn lines_are_appended_across_reopens_and_keep_the_raw_event() {
        let dir = tempfile::tempdir().unwrap();
        let mut letters = DeadLetters::open(dir.path(), "wiki", 2).unwrap();
        letters
            .record("late", "a.json:3", None, br#"{"ts":1}"#)
            .unwrap();
        letters
            .record("unparseable", "p0:7", Some("bad json"), b"\xff\x00")
            .unwrap();
        letters.sync().unwrap();
        let mut again = DeadLetters::open(dir.path(), "wiki", 2).unwrap();
        again.record("filtered", "a.json:9", None, b"x").unwrap();
        again.sync().unwrap();
        let text = std::fs::read_to_string(dir.path().join("wiki_2.jsonl")).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["event"], r#"{"ts":1}"#);
        assert_eq!(lines[0]["reason"], "late");
        assert_eq!(lines[1]["message"], "bad json");
        assert_eq!(lines[1]["eventBase64"], "/wA=");
        assert_eq!(lines[2]["position"], "a.json:9");
    }

    #[test]
    fn nothing_reaches_the_file_before_sync() {
        let dir = tempfile::tempdir().unwrap();
        let mut letters = DeadLetters::open(dir.path(), "wiki", 0).unwrap();
        letters.record("early", "a:1", None, b"{}").unwrap();
        let path = letters.path().to_path_buf();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "buffered");
        letters.sync().unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 0);
    }
}
