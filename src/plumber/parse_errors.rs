//! A bounded log of recent parse errors (served at `GET /druid/realtime/v1/parseErrors`) and a
//! rate-limited warning, so bad input is never silent and never floods memory or logs.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// Characters of the offending input kept per error.
const MAX_INPUT_CHARS: usize = 512;
/// Parse errors logged at WARN per minute; the rest are only counted.
const LOG_PER_MINUTE: u32 = 10;

/// One recorded parse error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParseErrorRecord {
    /// When it happened (ISO).
    pub timestamp: String,
    /// Datasource.
    pub data_source: String,
    /// Where the input came from (`file:line`, `partition 3 offset 17`).
    pub position: String,
    /// The offending input, shortened.
    pub input: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Default)]
struct Inner {
    records: VecDeque<ParseErrorRecord>,
    window_start_ms: i64,
    logged_in_window: u32,
    suppressed: u64,
}

/// Recent parse errors of one node, bounded.
#[derive(Debug)]
pub struct ParseErrorLog {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl ParseErrorLog {
    /// Keeps at most `capacity` records.
    pub fn new(capacity: usize) -> ParseErrorLog {
        ParseErrorLog {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Records an error and logs it (rate-limited).
    pub fn record(&self, data_source: &str, position: String, input: &[u8], message: String) {
        let now_ms = crate::time::now_ms();
        let record = ParseErrorRecord {
            timestamp: crate::time::format_iso(now_ms),
            data_source: data_source.to_string(),
            position,
            input: shorten(input),
            message,
        };
        let mut inner = self.inner.lock().expect("parse error log lock");
        if now_ms - inner.window_start_ms >= 60_000 {
            if inner.suppressed > 0 {
                tracing::warn!(
                    data_source,
                    suppressed = inner.suppressed,
                    "more unparseable events in the last minute (not logged one by one)"
                );
            }
            inner.window_start_ms = now_ms;
            inner.logged_in_window = 0;
            inner.suppressed = 0;
        }
        if inner.logged_in_window < LOG_PER_MINUTE {
            inner.logged_in_window += 1;
            tracing::warn!(data_source, position = %record.position, input = %record.input, error = %record.message, "unparseable event skipped");
        } else {
            inner.suppressed += 1;
        }
        if self.capacity == 0 {
            return;
        }
        if inner.records.len() == self.capacity {
            inner.records.pop_front();
        }
        inner.records.push_back(record);
    }

    /// The recorded errors, oldest first.
    pub fn snapshot(&self) -> Vec<ParseErrorRecord> {
        self.inner
            .lock()
            .expect("parse error log lock")
            .records
            .iter()
            .cloned()
            .collect()
    }
}

/// The input as text, cut to [`MAX_INPUT_CHARS`] characters.
pub fn shorten(input: &[u8]) -> String {
    let text = String::from_utf8_lossy(input);
    if text.chars().count() <= MAX_INPUT_CHARS {
        return text.into_owned();
    }
    let cut: String = text.chars().take(MAX_INPUT_CHARS).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_newest_records() {
        let log = ParseErrorLog::new(2);
        for i in 0..5 {
            log.record("ds", format!("f:{i}"), b"{bad", format!("error {i}"));
        }
        let records = log.snapshot();
        assert_eq!(
            records
                .iter()
                .map(|r| r.position.as_str())
                .collect::<Vec<_>>(),
            ["f:3", "f:4"]
        );
        assert_eq!(records[0].input, "{bad");
        assert_eq!(
            shorten(&vec![b'x'; 1000]).chars().count(),
            MAX_INPUT_CHARS + 1
        );
    }
}
