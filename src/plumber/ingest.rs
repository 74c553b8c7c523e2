//! The ingestor: parses each event of a batch, asks the plumber to add it, and counts the
//! outcome — processed, thrown away (by reason) or unparseable. Counters are kept in plain
//! integers and published to the metrics once per batch. The fire chief ([`super::chief`])
//! drives it; tests and benchmarks use it directly.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

use super::dead_letter::{DeadLetterError, DeadLetters};
use super::parse_errors::{ParseErrorLog, shorten};
use super::{Outcome, Plumber};
use crate::config::AggregatorFilter;
use crate::firehose::{EventBatch, FirehoseMessage};
use crate::index::event_filter::EventFilter;
use crate::metrics::DataSourceMetrics;
use crate::parse::{InputRowParser, LineKind, ParsedRow};

/// Events counted by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestCounts {
    /// Added to a sink.
    pub processed: u64,
    /// Refused as too late.
    pub thrown_away_late: u64,
    /// Refused as too early.
    pub thrown_away_early: u64,
    /// Outside the `clipped` firehose's interval.
    pub thrown_away_clipped: u64,
    /// Not matched by the `transformSpec` filter.
    pub thrown_away_filtered: u64,
    /// Failed to parse.
    pub unparseable: u64,
}

impl IngestCounts {
    /// Thrown away for any reason.
    pub fn thrown_away(&self) -> u64 {
        self.thrown_away_late
            + self.thrown_away_early
            + self.thrown_away_clipped
            + self.thrown_away_filtered
    }
}

/// Why ingestion stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// `reportParseExceptions` is on and an event did not parse.
    #[error("unparseable event at {position}: {message}; input: {input}")]
    ParseException {
        /// Where the event came from.
        position: String,
        /// What is wrong.
        message: String,
        /// The input, quoted (shortened).
        input: String,
    },
    /// More unparseable events than `maxParseExceptions`.
    #[error("{count} unparseable events exceed maxParseExceptions {limit}")]
    TooManyParseExceptions {
        /// Unparseable events so far.
        count: u64,
        /// The limit.
        limit: u64,
    },
    /// The firehose failed.
    #[error("firehose failed: {0}")]
    Firehose(String),
    /// Persisting failed (after retries); nothing unpersisted was acknowledged.
    #[error("persist failed: {0}")]
    Persist(String),
    /// Publishing a segment failed in a way retrying cannot fix.
    #[error("{0}")]
    Publish(String),
    /// A dead letter could not be written.
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
}

/// How the loop ended.
#[derive(Debug)]
pub struct ChiefReport {
    /// Final counts.
    pub counts: IngestCounts,
    /// The checkpoint after the last event, when the input ended.
    pub end_checkpoint: Option<Value>,
}

/// Parsing and adding events for one fire department.
#[derive(Debug)]
pub struct Ingestor {
    parser: InputRowParser,
    plumber: Plumber,
    metrics: DataSourceMetrics,
    parse_errors: Arc<ParseErrorLog>,
    report_parse_exceptions: bool,
    max_parse_exceptions: u64,
    counts: IngestCounts,
    /// The greatest timestamp of a processed event (`ingest/events/messageGap`).
    latest_event_ms: i64,
    last_checkpoint: Option<Value>,
    /// The `transformSpec` filter.
    row_filter: Option<EventFilter>,
    /// Where events that are not indexed are written (`deadLetterDirectory`).
    dead_letters: Option<DeadLetters>,
}

impl Ingestor {
    /// An ingestor over a parser and a plumber.
    pub fn new(
        parser: InputRowParser,
        plumber: Plumber,
        metrics: DataSourceMetrics,
        parse_errors: Arc<ParseErrorLog>,
        report_parse_exceptions: bool,
        max_parse_exceptions: u64,
    ) -> Ingestor {
        Ingestor {
            parser,
            plumber,
            metrics,
            parse_errors,
            report_parse_exceptions,
            max_parse_exceptions,
            counts: IngestCounts::default(),
            latest_event_ms: i64::MIN,
            last_checkpoint: None,
            row_filter: None,
            dead_letters: None,
        }
    }

    /// Writes every event that is not indexed to `letters`.
    pub fn with_dead_letters(mut self, letters: Option<DeadLetters>) -> Ingestor {
        self.dead_letters = letters;
        self
    }

    /// Drops the events `filter` does not match (the `transformSpec` filter), counted as thrown
    /// away with reason `filtered`.
    pub fn with_row_filter(mut self, filter: Option<&AggregatorFilter>) -> Ingestor {
        self.row_filter = filter.map(|f| EventFilter::new(f, self.parser.schema()));
        self
    }

    /// Ingests until the firehose ends or fails, without persisting (tests and tools).
    pub fn run(
        &mut self,
        mut rx: mpsc::Receiver<FirehoseMessage>,
    ) -> Result<ChiefReport, IngestError> {
        while let Some(message) = rx.blocking_recv() {
            match message {
                FirehoseMessage::Batch(mut batch) => self.ingest_batch(&mut batch)?,
                FirehoseMessage::End(checkpoint) => {
                    return Ok(ChiefReport {
                        counts: self.counts,
                        end_checkpoint: Some(checkpoint),
                    });
                }
                FirehoseMessage::Failed(e) => return Err(IngestError::Firehose(e)),
                // Nothing is persisted here: dropping the reply tells the firehose that nothing
                // was committed (see the `firehose` module doc).
                FirehoseMessage::Flush(reply) => drop(reply),
            }
        }
        Ok(ChiefReport {
            counts: self.counts,
            end_checkpoint: None,
        })
    }

    /// Parses and adds every event of a batch. Events are parsed one ahead: while event `i` is
    /// added, the dictionary slots of event `i + 1` are already on their way into the cache
    /// (on a large `page` or `user` dictionary each lookup is otherwise a wait on memory).
    /// The batch's checkpoint is taken (left `null`): it becomes the position of the data held.
    pub fn ingest_batch(&mut self, batch: &mut EventBatch) -> Result<(), IngestError> {
        let before = self.counts;
        let now_ms = self.plumber.rejector().now_ms();
        // One UTF-8 check for the whole batch instead of one per event; any event of a batch
        // that fails it is checked alone.
        let text = simdutf8::basic::from_utf8(&batch.data).ok();
        let (mut row, mut next_row) = (ParsedRow::default(), ParsedRow::default());
        let mut next = (!batch.is_empty()).then(|| self.parse_event(batch, text, 0, &mut next_row));
        for i in 0..batch.len() {
            std::mem::swap(&mut row, &mut next_row);
            let parsed = next.take().expect("event i was parsed ahead");
            if i + 1 < batch.len() {
                let ahead = self.parse_event(batch, text, i + 1, &mut next_row);
                if matches!(ahead, Ok(LineKind::Event)) {
                    self.plumber.prefetch(&mut next_row);
                }
                next = Some(ahead);
            }
            self.add_event(batch, i, parsed, &row, now_ms)?;
            if matches!(next, Some(Ok(LineKind::Event))) {
                self.plumber.prefetch_rollup_slot(&mut next_row);
            }
        }
        // Taken, not cloned: a Kafka checkpoint names every partition, and the batch is spent.
        self.last_checkpoint = Some(std::mem::take(&mut batch.checkpoint));
        self.publish(before);
        Ok(())
    }

    /// Parses event `i` of `batch` into `row` (`text` is the batch when it is all UTF-8).
    #[inline]
    fn parse_event<'a>(
        &mut self,
        batch: &'a EventBatch,
        text: Option<&'a str>,
        i: usize,
        row: &mut ParsedRow<'a>,
    ) -> Result<LineKind, crate::parse::ParseError> {
        match text.and_then(|text| batch.event_text(text, i)) {
            Some(line) => self.parser.parse(line, row),
            None => self.parser.parse_bytes(batch.event(i), row),
        }
    }

    /// Adds event `i` (parsed into `row` with the outcome `parsed`) and counts it.
    #[inline]
    fn add_event(
        &mut self,
        batch: &EventBatch,
        i: usize,
        parsed: Result<LineKind, crate::parse::ParseError>,
        row: &ParsedRow<'_>,
        now_ms: i64,
    ) -> Result<(), IngestError> {
        let result = match parsed {
            // A blank file line separates nothing; an empty broker message is an event that
            // cannot be parsed.
            Ok(LineKind::Skipped) if batch.origin.is_messages() && is_blank(batch.event(i)) => {
                Err("empty message".to_string())
            }
            Ok(LineKind::Skipped) => return Ok(()),
            Ok(LineKind::Event) if batch.clip.is_some_and(|c| !c.contains(row.timestamp_ms)) => {
                self.counts.thrown_away_clipped += 1;
                return self.dead_letter("outOfInterval", batch, i, None);
            }
            Ok(LineKind::Event) if self.row_filter.as_ref().is_some_and(|f| !f.matches(row)) => {
                self.counts.thrown_away_filtered += 1;
                return self.dead_letter("filtered", batch, i, None);
            }
            Ok(LineKind::Event) => {
                // The dimensions known when this event was parsed: the event parsed ahead may
                // have discovered more (schemaless), and those come with its own add.
                let dims = self.parser.schema().dimensions();
                let dims = &dims[..row.dims.len().min(dims.len())];
                self.plumber
                    .add(row, dims, now_ms)
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(Outcome::Processed) => {
                self.counts.processed += 1;
                self.latest_event_ms = self.latest_event_ms.max(row.timestamp_ms);
            }
            Ok(Outcome::ThrownAway(r)) => {
                match r {
                    super::rejection::Rejection::Late => self.counts.thrown_away_late += 1,
                    super::rejection::Rejection::Early => self.counts.thrown_away_early += 1,
                }
                self.dead_letter(r.reason(), batch, i, None)?;
            }
            Err(message) => {
                self.dead_letter("unparseable", batch, i, Some(&message))?;
                self.unparseable(batch, i, message)?;
            }
        }
        Ok(())
    }

    /// Appends event `i` to the dead-letter file, when there is one.
    #[cold]
    fn dead_letter(
        &mut self,
        reason: &str,
        batch: &EventBatch,
        i: usize,
        message: Option<&str>,
    ) -> Result<(), IngestError> {
        let Some(letters) = &mut self.dead_letters else {
            return Ok(());
        };
        letters.record(reason, &batch.describe_position(i), message, batch.event(i))?;
        Ok(())
    }

    /// Makes the dead letters recorded so far durable (before a commit record covers them).
    pub fn sync_dead_letters(&mut self) -> Result<(), IngestError> {
        match &mut self.dead_letters {
            Some(letters) => Ok(letters.sync()?),
            None => Ok(()),
        }
    }

    fn unparseable(
        &mut self,
        batch: &EventBatch,
        i: usize,
        message: String,
    ) -> Result<(), IngestError> {
        self.counts.unparseable += 1;
        let position = batch.describe_position(i);
        if self.report_parse_exceptions {
            return Err(IngestError::ParseException {
                position,
                message,
                input: shorten(batch.event(i)),
            });
        }
        self.parse_errors.record(
            &self.plumber.settings().data_source,
            position,
            batch.event(i),
            message,
        );
        if self.counts.unparseable > self.max_parse_exceptions {
            return Err(IngestError::TooManyParseExceptions {
                count: self.counts.unparseable,
                limit: self.max_parse_exceptions,
            });
        }
        Ok(())
    }

    fn publish(&self, before: IngestCounts) {
        self.metrics
            .processed
            .inc_by(self.counts.processed - before.processed);
        if self.counts.processed > before.processed {
            self.metrics.report_latest_event_ms(self.latest_event_ms);
        }
        self.metrics
            .unparseable
            .inc_by(self.counts.unparseable - before.unparseable);
        self.metrics.thrown_away(
            "late",
            self.counts.thrown_away_late - before.thrown_away_late,
        );
        self.metrics.thrown_away(
            "early",
            self.counts.thrown_away_early - before.thrown_away_early,
        );
        self.metrics.thrown_away(
            "outOfInterval",
            self.counts.thrown_away_clipped - before.thrown_away_clipped,
        );
        self.metrics.thrown_away(
            "filtered",
            self.counts.thrown_away_filtered - before.thrown_away_filtered,
        );
    }

    /// Counts so far.
    pub fn counts(&self) -> IngestCounts {
        self.counts
    }

    /// The plumber.
    pub fn plumber(&self) -> &Plumber {
        &self.plumber
    }

    /// The plumber, mutably.
    pub fn plumber_mut(&mut self) -> &mut Plumber {
        &mut self.plumber
    }

    /// The checkpoint after the last ingested batch.
    pub fn last_checkpoint(&self) -> Option<&Value> {
        self.last_checkpoint.as_ref()
    }

    /// The parser's row layout.
    pub fn schema(&self) -> &crate::parse::RowSchema {
        self.parser.schema()
    }
}

/// True for an event of only whitespace (what the parser skips as a blank line).
fn is_blank(event: &[u8]) -> bool {
    std::str::from_utf8(event).is_ok_and(|text| text.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::firehose::{BatchOrigin, EventBatch};
    use crate::plumber::clock::ManualClock;
    use crate::plumber::{Plumber, PlumberSettings};

    fn ingestor() -> Ingestor {
        ingestor_with_dimensions(r#"["d"]"#)
    }

    /// `dimensions` is the spec's JSON list (`[]`: schemaless).
    fn ingestor_with_dimensions(dimensions: &str) -> Ingestor {
        let text = r#"{"dataSchema":{"dataSource":"t","parser":{"type":"string","parseSpec":{"format":"json",
            "timestampSpec":{"column":"ts","format":"millis"},"dimensionsSpec":{"dimensions":DIMS}}},
            "metricsSpec":[{"type":"count","name":"count"}],
            "granularitySpec":{"segmentGranularity":"HOUR","queryGranularity":"NONE"}},
          "ioConfig":{"type":"realtime","firehose":{"type":"local","baseDir":".","filter":"*"}},
          "tuningConfig":{"type":"realtime","rejectionPolicy":{"type":"none"}}}"#;
        let text = text.replace("DIMS", dimensions);
        let department = crate::config::load_spec_str(&text).unwrap().remove(0);
        let parser = InputRowParser::new(&department).unwrap();
        let settings = PlumberSettings::from_spec(&department, parser.schema(), 0);
        let plumber = Plumber::new(settings, &department, Arc::new(ManualClock::new(0)));
        let metrics = crate::metrics::NodeMetrics::new().for_data_source("t");
        Ingestor::new(
            parser,
            plumber,
            metrics,
            Arc::new(ParseErrorLog::new(10)),
            false,
            u64::MAX,
        )
    }

    fn batch(events: &[&str], origin: BatchOrigin) -> EventBatch {
        let events: Vec<&[u8]> = events.iter().map(|e| e.as_bytes()).collect();
        byte_batch(&events, origin)
    }

    fn byte_batch(events: &[&[u8]], origin: BatchOrigin) -> EventBatch {
        let mut batch = EventBatch::default();
        for event in events {
            let start = batch.data.len() as u32;
            batch.data.extend_from_slice(event);
            batch.spans.push((start, batch.data.len() as u32));
        }
        batch.origin = origin;
        batch
    }

    #[test]
    fn an_empty_broker_message_is_unparseable_but_a_blank_file_line_is_skipped() {
        let events = [r#"{"ts":1000,"d":"a"}"#, "", "  ", r#"{"ts":2000,"d":"b"}"#];
        let mut from_kafka = ingestor();
        let offsets = BatchOrigin::Offsets((0..4).map(|o| (0, o)).collect());
        from_kafka
            .ingest_batch(&mut batch(&events, offsets))
            .unwrap();
        assert_eq!(
            (from_kafka.counts.processed, from_kafka.counts.unparseable),
            (2, 2)
        );
        let mut from_file = ingestor();
        let lines = BatchOrigin::Lines {
            source: "f".into(),
            first_line: 1,
        };
        from_file.ingest_batch(&mut batch(&events, lines)).unwrap();
        assert_eq!(
            (from_file.counts.processed, from_file.counts.unparseable),
            (2, 0)
        );
    }

    #[test]
    fn a_dimension_discovered_by_the_event_parsed_ahead_stays_out_of_the_index_before_it() {
        // Hour 0 gets `a` only; the next event (hour 2) discovers `b` while hour 0's is added.
        let events = [
            r#"{"ts":1000,"a":"x"}"#,
            r#"{"ts":7200000,"a":"y","b":"z"}"#,
        ];
        let offsets = BatchOrigin::Offsets((0..2).map(|o| (0, o)).collect());
        let mut chief = ingestor_with_dimensions("[]");
        chief.ingest_batch(&mut batch(&events, offsets)).unwrap();
        let dims: Vec<&[String]> = chief
            .plumber
            .sinks()
            .values()
            .map(|sink| sink.current.dimension_names())
            .collect();
        assert_eq!(dims, [&["a"][..], &["a", "b"][..]]);
    }

    #[test]
    fn events_that_are_not_utf8_are_unparseable_even_when_the_batch_is() {
        let offsets = || BatchOrigin::Offsets((0..5).map(|o| (0, o)).collect());
        let good: &[u8] = b"{\"ts\":1000,\"d\":\"\xc3\xa9\"}";
        // The first bad event ends inside a character that the next one completes: the
        // batch's bytes are valid UTF-8, neither event alone is.
        let split = [good, b"{\"ts\":1000,\"d\":\"\xc3", b"\xa9\"}", good];
        let mut split = byte_batch(&split, offsets());
        assert!(std::str::from_utf8(&split.data).is_ok());
        let mut chief = ingestor();
        chief.ingest_batch(&mut split).unwrap();
        assert_eq!((chief.counts.processed, chief.counts.unparseable), (2, 2));
        let messages: Vec<String> = chief
            .parse_errors
            .snapshot()
            .into_iter()
            .map(|r| r.message)
            .collect();
        assert_eq!(messages.len(), 2);
        assert!(
            messages.iter().all(|m| m.contains("not valid UTF-8")),
            "{messages:?}"
        );
        // A batch that is not UTF-8 as a whole: only the bad event is lost.
        let bad = [good, b"{\"ts\":1000,\"d\":\"\xff\"}", good];
        let mut chief = ingestor();
        chief
            .ingest_batch(&mut byte_batch(&bad, offsets()))
            .unwrap();
        assert_eq!((chief.counts.processed, chief.counts.unparseable), (2, 1));
    }
}
