//! The consumer's shared state and librdkafka callbacks: rebalances (seek on assign, flush and
//! fence on revoke), statistics (lag gauges) and logs.
//!
//! Lock order: `state` and `fence` are never held together, and neither is held while waiting
//! on the ingest loop (`blocking_send`, the `Flush` reply), because the ingest loop calls
//! [`Acknowledger::acknowledge`](crate::firehose::Acknowledger) which takes `fence`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, Statistics, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};

use super::message_queue::MessageQueue;
use super::metrics::KafkaMetrics;
use super::offsets::resolve_starts;
use super::settings::{KafkaCheckpoint, KafkaSettings};
use crate::firehose::{BatchOrigin, EventBatch, FirehoseMessage, MAX_BATCH_BYTES};

/// Events read but not yet handed to the ingest loop.
#[derive(Debug, Default)]
pub(super) struct PollState {
    /// Next offset to read of every partition owned now.
    pub positions: BTreeMap<i32, i64>,
    /// Checkpointed positions not yet used by an assignment (from the resume checkpoint, or
    /// kept after a revoke whose flush committed nothing).
    pub resume: BTreeMap<i32, i64>,
    /// The batch being filled.
    pub builder: BatchBuilder,
    /// Sealed batches waiting for room in the channel, in order.
    pub pending: VecDeque<EventBatch>,
    /// `endOffsets`: where each owned partition's input ends (`None`: it never ends).
    pub ends: Option<BTreeMap<i32, i64>>,
    /// Partitions whose end-of-partition event came (`endOffsets` only): read to their end
    /// although transaction markers kept the position below it.
    pub caught_up: BTreeSet<i32>,
}

impl PollState {
    /// Adds one message of an owned partition to the batch being built (sealing it when full);
    /// messages of other partitions, offsets already read and (`endOffsets`) offsets at or past
    /// the partition's end are ignored.
    pub fn file(&mut self, topic: &str, partition: i32, offset: i64, payload: &[u8]) {
        let Some(position) = self.positions.get_mut(&partition) else {
            tracing::debug!(
                partition,
                offset,
                "kafka message of a partition not owned; ignored"
            );
            return;
        };
        if offset < *position {
            return;
        }
        if let Some(end) = self.ends.as_ref().and_then(|ends| ends.get(&partition))
            && offset >= *end
        {
            return;
        }
        *position = offset + 1;
        self.builder.push(payload, partition, offset);
        if self.builder.is_full() {
            self.seal(topic);
        }
    }

    /// With `endOffsets`: true once every owned partition was read to its end.
    pub fn reached_ends(&self) -> bool {
        let Some(ends) = &self.ends else {
            return false;
        };
        self.positions.iter().all(|(partition, position)| {
            ends.get(partition).is_none_or(|end| position >= end)
                || self.caught_up.contains(partition)
        })
    }

    /// The checkpoint of the positions now.
    pub fn checkpoint(&self, topic: &str) -> serde_json::Value {
        KafkaCheckpoint::json_of(topic, &self.positions)
    }

    /// Moves the builder's events into `pending` as one batch.
    pub fn seal(&mut self, topic: &str) {
        if self.builder.spans.is_empty() {
            return;
        }
        let checkpoint = self.checkpoint(topic);
        let batch = self.builder.take(checkpoint);
        self.pending.push_back(batch);
    }
}

/// Collects messages into one [`EventBatch`].
#[derive(Debug, Default)]
pub(super) struct BatchBuilder {
    data: Vec<u8>,
    spans: Vec<(u32, u32)>,
    offsets: Vec<(i32, i64)>,
}

impl BatchBuilder {
    /// Adds one message (a missing payload is an empty event, counted unparseable downstream).
    pub fn push(&mut self, payload: &[u8], partition: i32, offset: i64) {
        if self.data.capacity() == 0 {
            // A batch grows to about this: reserving it at once spares the copies of doubling.
            self.data = crate::firehose::buffers::take(MAX_BATCH_BYTES + (64 << 10));
            self.spans.reserve(MAX_BATCH_BYTES / 256);
            self.offsets.reserve(MAX_BATCH_BYTES / 256);
        }
        let start = self.data.len() as u32;
        self.data.extend_from_slice(payload);
        self.spans.push((start, self.data.len() as u32));
        self.offsets.push((partition, offset));
    }

    /// Bytes the batch can take before it is full.
    pub fn room_bytes(&self) -> usize {
        MAX_BATCH_BYTES.saturating_sub(self.data.len())
    }

    /// True when the batch should be sealed.
    pub fn is_full(&self) -> bool {
        self.data.len() >= MAX_BATCH_BYTES
    }

    /// True when no event was added.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn take(&mut self, checkpoint: serde_json::Value) -> EventBatch {
        EventBatch {
            data: std::mem::take(&mut self.data),
            spans: std::mem::take(&mut self.spans),
            origin: BatchOrigin::Offsets(std::mem::take(&mut self.offsets)),
            checkpoint,
            clip: None,
        }
    }
}

/// What the firehose thread, the callbacks and the acknowledger share.
#[derive(Debug)]
pub(super) struct Shared {
    pub settings: KafkaSettings,
    pub data_source: String,
    pub tx: mpsc::Sender<FirehoseMessage>,
    pub state: Mutex<PollState>,
    /// Partitions owned now → the highest offset committed (or started from): acknowledgements
    /// of other partitions, or at or below it, are stale and ignored.
    pub fence: Mutex<BTreeMap<i32, i64>>,
    /// Why the firehose must stop (set by a callback, sent by the poll loop).
    pub failure: Mutex<Option<String>>,
    /// Set when the poll loop ends: a revoke then neither sends nor waits for a flush.
    pub closing: AtomicBool,
    /// Set by every rebalance (the poll loop re-applies its pause).
    pub rebalanced: AtomicBool,
    /// The queue owned partitions are forwarded to, owned by the poll thread (set when it
    /// starts).
    pub messages: Mutex<Weak<MessageQueue>>,
    pub metrics: Option<KafkaMetrics>,
}

impl Shared {
    /// Records a failure; the poll loop sends it and stops.
    pub fn fail(&self, message: String) {
        tracing::error!("{message}");
        let mut failure = self.failure.lock().expect("failure lock");
        failure.get_or_insert(message);
    }

    fn topic(&self) -> &str {
        &self.settings.topic
    }

    /// Ends the poll thread's current (or next) wait on the message queue early.
    pub fn wake_poll(&self) {
        if let Some(queue) = self.messages.lock().expect("messages lock").upgrade() {
            queue.wake();
        }
    }

    /// Forwards `partitions` to the firehose's message queue (before they are assigned, see
    /// `message_queue`); a partition that cannot be forwarded stops the firehose.
    pub fn forward(&self, partitions: &[i32]) {
        let Some(queue) = self.messages.lock().expect("messages lock").upgrade() else {
            return;
        };
        let failed = queue.forward(partitions.iter().copied());
        if !failed.is_empty() {
            self.fail(format!(
                "kafka topic `{}`: librdkafka has no fetch queue for partitions {failed:?}",
                self.topic()
            ));
        }
    }
}

/// The librdkafka consumer context.
#[derive(Debug)]
pub(super) struct KafkaContext {
    pub shared: Arc<Shared>,
}

impl ClientContext for KafkaContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(facility = fac, "librdkafka: {log_message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(facility = fac, "librdkafka: {log_message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(facility = fac, "librdkafka: {log_message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(facility = fac, "librdkafka: {log_message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(
            topic = self.shared.topic(),
            "kafka client error (retrying): {error}: {reason}"
        );
    }

    fn stats(&self, statistics: Statistics) {
        let Some(metrics) = &self.shared.metrics else {
            return;
        };
        let Some(topic) = statistics.topics.get(self.shared.topic()) else {
            return;
        };
        let positions = self
            .shared
            .state
            .lock()
            .expect("state lock")
            .positions
            .clone();
        let lag: BTreeMap<i32, i64> = positions
            .iter()
            .filter_map(|(p, position)| {
                let high = topic.partitions.get(p)?.hi_offset;
                (high >= 0).then(|| (*p, (high - position).max(0)))
            })
            .collect();
        metrics.publish(&self.shared.data_source, &lag);
    }
}

impl ConsumerContext for KafkaContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.on_assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.on_revoke(consumer, tpl),
            other => {
                tracing::warn!(
                    topic = self.shared.topic(),
                    "kafka rebalance error {other:?}; unassigning"
                );
                let revoked = consumer.assignment().unwrap_or_default();
                self.on_revoke(consumer, &revoked);
            }
        }
        self.shared.rebalanced.store(true, Ordering::Release);
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &TopicPartitionList,
    ) {
        if let Err(e) = result {
            tracing::warn!(
                topic = self.shared.topic(),
                "kafka advisory offset commit failed: {e} ({offsets:?})"
            );
        }
    }
}

impl KafkaContext {
    /// Seeks every assigned partition to its checkpointed (else committed, else reset) offset.
    fn on_assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let topic = self.shared.topic().to_string();
        let partitions: Vec<i32> = tpl
            .elements_for_topic(&topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        let resume = self.shared.state.lock().expect("state lock").resume.clone();
        match resolve_starts(consumer, &self.shared.settings, &resume, &partitions) {
            Ok(starts) => {
                tracing::info!(topic, ?starts, "kafka partitions assigned");
                for &(partition, offset) in &starts {
                    let _ = tpl.set_partition_offset(&topic, partition, Offset::Offset(offset));
                }
                let mut state = self.shared.state.lock().expect("state lock");
                for &(partition, offset) in &starts {
                    state.resume.remove(&partition);
                    state.positions.insert(partition, offset);
                }
                drop(state);
                self.shared.fence.lock().expect("fence lock").extend(starts);
            }
            Err(message) => self.shared.fail(message),
        }
        self.shared.forward(&partitions);
        let result = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_assign(tpl),
            _ => consumer.assign(tpl),
        };
        if let Err(e) = result {
            self.shared
                .fail(format!("kafka topic `{topic}`: assign failed: {e}"));
        }
    }

    /// Hands everything read to the ingest loop, asks it to flush, commits the flushed offsets
    /// of the revoked partitions to Kafka (so their next owner starts there) and fences them.
    fn on_revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let topic = self.shared.topic().to_string();
        let revoked: Vec<i32> = tpl
            .elements_for_topic(&topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        let committed = if self.shared.closing.load(Ordering::Acquire) {
            None
        } else {
            self.flush_before_revoke()
        };
        let floors: BTreeMap<i32, i64> = {
            let mut fence = self.shared.fence.lock().expect("fence lock");
            let floors = revoked
                .iter()
                .filter_map(|p| fence.get(p).map(|o| (*p, *o)))
                .collect();
            fence.retain(|p, _| !revoked.contains(p));
            floors
        };
        let mut state = self.shared.state.lock().expect("state lock");
        let mut given_up = BTreeMap::new();
        for partition in &revoked {
            if let Some(offset) = state.positions.remove(partition) {
                given_up.insert(*partition, offset);
            }
        }
        drop(state);
        let closing = self.shared.closing.load(Ordering::Acquire);
        let handed_over = match &committed {
            Some(checkpoint) => self.commit_revoked(consumer, &checkpoint.partitions, &revoked),
            // Closing: the fence holds the last acknowledged offsets; commit them synchronously
            // (an asynchronous commit may still be in flight when the consumer closes).
            None if closing => self.commit_revoked(consumer, &floors, &revoked),
            None => false,
        };
        if !handed_over {
            // Kafka does not hold this node's position: if the partition comes back, continue
            // where this node is rather than at an older committed offset.
            let mut state = self.shared.state.lock().expect("state lock");
            state.resume.extend(given_up);
        }
        if let Some(metrics) = &self.shared.metrics {
            metrics.forget(&self.shared.data_source, &revoked);
        }
        tracing::info!(
            topic,
            ?revoked,
            flushed = committed.is_some(),
            "kafka partitions revoked"
        );
        let result = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_unassign(tpl),
            _ => consumer.unassign(),
        };
        if let Err(e) = result {
            tracing::warn!(topic, "kafka unassign failed: {e}");
        }
    }

    /// Sends the batches held, then `Flush`; returns the committed checkpoint of the reply.
    fn flush_before_revoke(&self) -> Option<KafkaCheckpoint> {
        let held: Vec<EventBatch> = {
            let mut state = self.shared.state.lock().expect("state lock");
            state.seal(self.shared.topic());
            state.pending.drain(..).collect()
        };
        for batch in held {
            if self
                .shared
                .tx
                .blocking_send(FirehoseMessage::Batch(batch))
                .is_err()
            {
                return None;
            }
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        self.shared
            .tx
            .blocking_send(FirehoseMessage::Flush(reply_tx))
            .ok()?;
        let value = reply_rx.blocking_recv().ok()?;
        match serde_json::from_value::<KafkaCheckpoint>(value) {
            Ok(checkpoint) => Some(checkpoint),
            Err(e) => {
                tracing::warn!("kafka flush reply is not a kafka checkpoint: {e}");
                None
            }
        }
    }

    /// Commits the offsets of the revoked partitions synchronously; returns true when Kafka
    /// took them (the next owner starts there).
    fn commit_revoked(
        &self,
        consumer: &BaseConsumer<Self>,
        committed: &BTreeMap<i32, i64>,
        revoked: &[i32],
    ) -> bool {
        if !self.shared.settings.has_group() {
            return false;
        }
        let mut tpl = TopicPartitionList::new();
        for partition in revoked {
            if let Some(offset) = committed.get(partition) {
                let _ = tpl.add_partition_offset(
                    self.shared.topic(),
                    *partition,
                    Offset::Offset(*offset),
                );
            }
        }
        if tpl.count() == 0 {
            return false;
        }
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(
                    topic = self.shared.topic(),
                    "kafka commit before revoke failed: {e}; the next owner starts at the previously committed offset (duplicates possible)"
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(positions: &[(i32, i64)], ends: Option<&[(i32, i64)]>) -> PollState {
        PollState {
            positions: positions.iter().copied().collect(),
            ends: ends.map(|e| e.iter().copied().collect()),
            ..PollState::default()
        }
    }

    #[test]
    fn the_input_ends_when_every_partition_reached_its_end_or_reported_it() {
        assert!(!state(&[(0, 5)], None).reached_ends(), "no end: never");
        let mut s = state(&[(0, 5), (1, 7)], Some(&[(0, 5), (1, 9)]));
        assert!(!s.reached_ends());
        s.file("t", 1, 7, b"a");
        s.file("t", 1, 8, b"b");
        assert!(s.reached_ends());
        // Past the end: ignored, the position stays at the end.
        s.file("t", 1, 9, b"late");
        assert_eq!(s.positions[&1], 9);
        assert_eq!(s.builder.spans.len(), 2);
        // Markers hold offsets 8 and 9 of partition 1: its end-of-partition event ends it.
        let mut s = state(&[(0, 5), (1, 8)], Some(&[(0, 5), (1, 10)]));
        assert!(!s.reached_ends());
        s.caught_up.insert(1);
        assert!(s.reached_ends());
        assert_eq!(s.checkpoint("t")["partitions"]["1"], 8);
    }
}
