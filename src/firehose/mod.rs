//! Firehoses: where events come from.
//!
//! A firehose runs on its own thread or task and sends [`FirehoseMessage`]s into a bounded
//! channel (capacity [`CHANNEL_CAPACITY_BATCHES`] batches of at most [`MAX_BATCH_BYTES`]); a
//! full channel pauses it (backpressure). **Positions travel with the data**: every
//! [`EventBatch`] carries the firehose's checkpoint *after* that batch (a JSON value only the
//! firehose interprets). The plumber stores the checkpoint of the data it made durable in its
//! commit record, and only then calls [`Acknowledger::acknowledge`] with it. On restart a
//! firehose resumes from the recorded checkpoint.
//!
//! # The ingest loop's side of the contract
//!
//! - [`FirehoseMessage::Batch`]: parse every event; an event that does not parse is counted
//!   unparseable with [`EventBatch::describe_position`] and never stops the loop; rows whose
//!   timestamp falls outside [`EventBatch::clip`] are thrown away with reason `outOfInterval`.
//!   Remember `batch.checkpoint` as the position of the data held.
//! - After each persist: write the commit record holding the checkpoint of the last batch the
//!   persist covers, then call [`Acknowledger::acknowledge`] with that checkpoint (from any
//!   thread; it never blocks).
//! - [`FirehoseMessage::Flush`]: persist everything held now, write the commit record, call
//!   `acknowledge`, then send the committed checkpoint (the checkpoint of the last batch received
//!   before the `Flush`) through the reply. Kafka sends it before giving partitions up in a
//!   rebalance; RabbitMQ sends it when its unacknowledged deliveries near the prefetch window.
//!   Until the reply the firehose reads nothing, so the loop must answer promptly (well within
//!   Kafka's `max.poll.interval.ms`, 300 s by default). Dropping the reply means "nothing was
//!   committed": Kafka then gives the partitions up without committing their offsets (the next
//!   owner re-reads from the last committed offset: duplicates, never loss).
//! - [`FirehoseMessage::End`]: a finite input ended; persist, commit with this checkpoint, stop.
//! - [`FirehoseMessage::Failed`]: stop with the message (it names the cause and, for Kafka
//!   out-of-range positions, the `rtnode reset-offsets` command that fixes it).
//! - Dropping the receiver stops the firehose.
//!
//! Firehoses: [`local`] (files), [`kafka`], [`rabbitmq`], [`receiver`] (HTTP push) and the
//! wrappers in [`wrap`] (`timed`, `clipped`, `combining`); [`start`] runs any spec.

pub mod buffers;
pub mod dispatch;
pub mod kafka;
pub mod local;
pub mod rabbitmq;
pub mod receiver;
pub mod wrap;

pub use dispatch::{FirehoseContext, FirehoseHandle, start};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::time::Interval;

/// Batches buffered between a firehose and the ingest thread.
pub const CHANNEL_CAPACITY_BATCHES: usize = 4;

/// Upper bound of one batch's event bytes (a batch holding one longer event excepted). Small
/// enough that the batches in flight (the channel's, the one being read and the one being
/// ingested) stay in a core's L2 cache between the firehose writing them and the ingest loop
/// parsing them: 128 KiB ingested the 10M-event benchmark 0.2–0.7 s faster than 1 MiB in 5 of 5
/// alternating runs, and faster than 64 or 256 KiB (BENCHMARKS.md).
pub const MAX_BATCH_BYTES: usize = 128 << 10;

/// Events read together, with the position after them.
#[derive(Debug, Clone, Default)]
pub struct EventBatch {
    /// The events' bytes, back to back.
    pub data: Vec<u8>,
    /// `(start, end)` of each event in `data`.
    pub spans: Vec<(u32, u32)>,
    /// Where each event came from, for parse-error reports.
    pub origin: BatchOrigin,
    /// The firehose checkpoint once this batch is consumed.
    pub checkpoint: Value,
    /// Set by the `clipped` firehose: rows whose timestamp is outside are thrown away (reason
    /// `outOfInterval`). The ingest loop applies it after parsing, where the timestamp is known anyway.
    pub clip: Option<Interval>,
}

impl EventBatch {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The bytes of event `i`.
    pub fn event(&self, i: usize) -> &[u8] {
        let (start, end) = self.spans[i];
        &self.data[start as usize..end as usize]
    }

    /// Event `i` as text, when `text` is the whole batch's data already checked to be UTF-8
    /// ([`simdutf8`] over the batch at once) and the event's span starts and ends on char
    /// boundaries of it; `None` otherwise (then [`event`](Self::event) is checked alone).
    pub fn event_text<'a>(&self, text: &'a str, i: usize) -> Option<&'a str> {
        let (start, end) = self.spans[i];
        text.get(start as usize..end as usize)
    }

    /// A human-readable position of event `i` (`file.json:12`, `partition 3 offset 1200`).
    pub fn describe_position(&self, i: usize) -> String {
        match &self.origin {
            BatchOrigin::Lines { source, first_line } => {
                format!("{source}:{}", first_line + i as u64)
            }
            BatchOrigin::Offsets(offsets) => offsets
                .get(i)
                .map(|(p, o)| format!("partition {p} offset {o}"))
                .unwrap_or_default(),
            BatchOrigin::DeliveryTags { channel, first_tag } => {
                format!("channel {channel} deliveryTag {}", first_tag + i as u64)
            }
            BatchOrigin::Unknown => String::new(),
        }
    }
}

/// Where the events of a batch came from.
#[derive(Debug, Clone, Default)]
pub enum BatchOrigin {
    /// Consecutive lines of a file (1-based line numbers).
    Lines {
        /// File name (or `stdin`).
        source: String,
        /// Line number of the first event.
        first_line: u64,
    },
    /// `(partition, offset)` of every event.
    Offsets(Vec<(i32, i64)>),
    /// RabbitMQ deliveries with consecutive delivery tags on one channel generation.
    DeliveryTags {
        /// The connection generation ([`rabbitmq`] checkpoint `channel`).
        channel: u64,
        /// Delivery tag of the first event.
        first_tag: u64,
    },
    /// Not known.
    #[default]
    Unknown,
}

impl BatchOrigin {
    /// True when every event is a broker message (Kafka, RabbitMQ): an empty one is a bad
    /// event, not a blank line between events.
    pub fn is_messages(&self) -> bool {
        matches!(
            self,
            BatchOrigin::Offsets(_) | BatchOrigin::DeliveryTags { .. }
        )
    }
}

/// What a firehose sends.
#[derive(Debug)]
pub enum FirehoseMessage {
    /// More events.
    Batch(EventBatch),
    /// A finite input is exhausted; carries the final checkpoint.
    End(Value),
    /// The firehose failed and cannot continue.
    Failed(String),
    /// Asks the ingest loop to persist what it holds, write the commit record, acknowledge, and
    /// reply with the committed checkpoint (see the module doc). The firehose waits for the reply.
    Flush(oneshot::Sender<Value>),
}

/// Tells the source that data up to a checkpoint is durable (Kafka offset commit, RabbitMQ ack).
pub trait Acknowledger: Send + Sync + std::fmt::Debug {
    /// Acknowledges everything up to and including `checkpoint`. Never blocks; a checkpoint
    /// that is stale (older than one already acknowledged, or of partitions or a channel this
    /// firehose no longer owns) is ignored.
    fn acknowledge(&self, checkpoint: &Value);
}

/// A firehose whose source needs no acknowledgement (files).
#[derive(Debug, Default)]
pub struct NoAck;

impl Acknowledger for NoAck {
    fn acknowledge(&self, _checkpoint: &Value) {}
}

/// A bounded channel for firehose messages.
pub fn channel() -> (
    mpsc::Sender<FirehoseMessage>,
    mpsc::Receiver<FirehoseMessage>,
) {
    mpsc::channel(CHANNEL_CAPACITY_BATCHES)
}

/// Errors starting a firehose.
#[derive(Debug, thiserror::Error)]
pub enum FirehoseError {
    /// An I/O error (names the path).
    #[error("{path}: {source}")]
    Io {
        /// File or directory.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A checkpoint that does not belong to this firehose.
    #[error("invalid firehose checkpoint `{0}`")]
    BadCheckpoint(String),
    /// A firehose type that this build does not run yet.
    #[error("firehose type `{0}` is not available in this run mode")]
    Unsupported(String),
    /// A firehose spec that cannot run as written.
    #[error("{0}")]
    Config(String),
    /// The broker refused or failed a setup step.
    #[error("{0}")]
    Broker(String),
}

/// Returns `value` as a JSON value; checkpoints are plain serde structs that always serialize.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("checkpoint structs serialize to JSON")
}
