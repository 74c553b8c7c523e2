//! The `kafka` and `kafka-0.8` firehoses: an rdkafka [`BaseConsumer`] polled on its own thread.
//!
//! **Positions live in the checkpoint** (`{"topic":"t","partitions":{"0":1234}}`, the next
//! offset to read of each partition this node owns), which the plumber stores in its commit
//! record. On start and on every assignment each partition seeks to its checkpointed offset,
//! else Kafka's committed group offset, else `auto.offset.reset`. Offsets are committed to Kafka
//! only by [`Acknowledger::acknowledge`], after the commit record, as an advisory copy for lag
//! tools (and as the hand-over point of a rebalance). A checkpointed offset outside the
//! partition's watermarks stops the firehose with a message naming the partition and
//! `rtnode reset-offsets` ([`reset_offsets`]); librdkafka's own `auto.offset.reset` is forced to
//! `error`, so an offset that falls out of range mid-stream stops it too: nothing is skipped
//! silently.
//!
//! Two assignment modes ([`Assignment`]):
//! - **static** (`partitions` set): partition `p` belongs to the node whose `partitionNum` is
//!   `p % partitions`; no group protocol, no rebalance. With the commit record this is
//!   exactly-once.
//! - **group** (no `partitions`): `subscribe`; on revoke the firehose hands every batch it holds
//!   to the ingest loop, sends [`FirehoseMessage::Flush`], waits for the committed checkpoint,
//!   commits those offsets to Kafka synchronously (the next owner starts there) and fences the
//!   partitions (later acknowledgements of them are ignored). A partition that comes back later
//!   starts at Kafka's committed offset. Exactly-once holds while the ingest loop answers
//!   `Flush`; a node that crashes while another takes its partitions may duplicate the events
//!   between its last commit record and its crash when it gets them back.
//!
//! Messages are passed through as bytes (one event per message, a missing payload is an empty
//! event), with `(partition, offset)` in [`BatchOrigin::Offsets`](crate::firehose::BatchOrigin).
//! They are taken in batches from the firehose's own librdkafka queue, which every owned
//! partition is forwarded to before it is assigned (`message_queue`); the consumer's queue is
//! polled for everything else (rebalances, errors, statistics).
//! When the channel is full the poll thread waits for room, woken the moment the ingest loop
//! takes a batch; a stall of more than 200 ms (a persist holding the loop) pauses the
//! consumer's partitions and polling continues, so group heartbeats and
//! `max.poll.interval.ms` are kept while the ingest loop catches up.
//!
//! With `endOffsets: "latest"` (static assignment only) the input is finite: each partition
//! ends at its high watermark of the start (or where librdkafka reports its end, when
//! transaction markers hold the last offsets). Once every partition is there the firehose
//! sends what it holds, then [`FirehoseMessage::End`], and pauses its partitions; it keeps
//! serving the consumer so that acknowledgements still commit offsets.

mod context;
mod message_queue;
pub mod metrics;
pub mod mock;
mod offsets;
mod poll;
pub mod settings;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use tokio::sync::mpsc;

use self::context::{KafkaContext, PollState, Shared};
use self::message_queue::MessageQueue;
pub use self::metrics::KafkaMetrics;
pub use self::offsets::{ResetTo, out_of_range_message, reset_offsets};
pub use self::settings::{Assignment, KafkaCheckpoint, KafkaSettings};
use super::{Acknowledger, FirehoseError, FirehoseMessage};
use crate::config::FirehoseSpec;

type KafkaConsumer = BaseConsumer<KafkaContext>;

/// A configured Kafka firehose.
#[derive(Debug)]
pub struct KafkaFirehose {
    settings: KafkaSettings,
    data_source: String,
    metrics: Option<KafkaMetrics>,
}

impl KafkaFirehose {
    /// Resolves a `kafka` or `kafka-0.8` spec; `partition_num` is the node's shard number
    /// (static assignment), `metrics` receives the lag gauges.
    pub fn new(
        spec: &FirehoseSpec,
        partition_num: u32,
        data_source: &str,
        metrics: Option<KafkaMetrics>,
    ) -> Result<KafkaFirehose, FirehoseError> {
        Ok(KafkaFirehose {
            settings: KafkaSettings::from_spec(spec, partition_num)?,
            data_source: data_source.to_string(),
            metrics,
        })
    }

    /// Starts consuming on a new thread from `resume` (a recorded checkpoint); returns the
    /// thread and the acknowledger that commits offsets.
    pub fn spawn(
        self,
        resume: Option<Value>,
        tx: mpsc::Sender<FirehoseMessage>,
    ) -> Result<(std::thread::JoinHandle<()>, Arc<KafkaAcknowledger>), FirehoseError> {
        let checkpoint = KafkaCheckpoint::from_resume(resume.as_ref(), &self.settings.topic)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(PollState {
                resume: checkpoint.partitions,
                ..PollState::default()
            }),
            fence: Mutex::new(Default::default()),
            failure: Mutex::new(None),
            closing: AtomicBool::new(false),
            rebalanced: AtomicBool::new(false),
            messages: Mutex::new(Weak::new()),
            settings: self.settings,
            data_source: self.data_source,
            tx,
            metrics: self.metrics,
        });
        let consumer: KafkaConsumer = shared
            .settings
            .client_config()
            .create_with_context(KafkaContext {
                shared: shared.clone(),
            })
            .map_err(|e| FirehoseError::Broker(format!("kafka consumer: {e}")))?;
        let consumer = Arc::new(consumer);
        let acknowledger = Arc::new(KafkaAcknowledger {
            consumer: Arc::downgrade(&consumer),
        });
        // Closing leaves the group and commits the last offsets; with a static assignment and
        // no `group.id` it does neither, and the node need not wait for it (librdkafka took
        // ~100 ms to close 67 assigned partitions, a quarter of the benchmark's whole stop).
        let closing_matters =
            shared.settings.assignment == Assignment::Group || shared.settings.has_group();
        let (closed_tx, closed_rx) = std::sync::mpsc::channel::<()>();
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
        wake_poll_when_receiver_drops(&shared, ended_rx);
        let handle = std::thread::Builder::new()
            .name("firehose-kafka".into())
            .spawn(move || {
                run(consumer, shared);
                drop(closed_tx);
                drop(ended_tx);
            })
            .map_err(|source| FirehoseError::Io {
                path: "thread".into(),
                source,
            })?;
        if closing_matters {
            hold_runtime_until_closed(closed_rx);
        }
        Ok((handle, acknowledger))
    }
}

/// Longest wait, when the node stops, for the consumer to close.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Keeps the current tokio runtime (the node's) from finishing its shutdown until the consumer
/// has closed, at most [`CLOSE_WAIT`]: a runtime waits for its blocking tasks when dropped, and
/// the node drops it just before the process exits. Closing leaves the group — the next owner
/// gets the partitions at once, not a session timeout later — and commits the acknowledged
/// offsets synchronously (see `on_revoke`), so the next owner starts where the commit record
/// ends. Without this wait a graceful stop could exit first: the group would wait for the
/// session timeout, and a last asynchronous offset commit still in flight would be lost
/// (the next owner would re-read events this node made durable). Not held when closing does
/// neither (a static assignment without `group.id`).
fn hold_runtime_until_closed(closed: std::sync::mpsc::Receiver<()>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn_blocking(move || {
            // Disconnected (the thread ended) or timed out: either way, stop waiting.
            let _ = closed.recv_timeout(CLOSE_WAIT);
        });
    }
}

/// Wakes the poll thread as soon as the ingest loop drops its receiver: the thread may be
/// blocked in a drain of up to `pollTimeout` (100 ms by default), and the node's shutdown may
/// wait for it to close the consumer (see [`hold_runtime_until_closed`]). Without the wake
/// such a graceful stop idled for up to that long after its last persist. The task's sender is
/// dropped when the thread ends (`thread_ended`), so it never keeps the channel open longer.
fn wake_poll_when_receiver_drops(
    shared: &Arc<Shared>,
    thread_ended: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let tx = shared.tx.clone();
    let shared = Arc::downgrade(shared);
    runtime.spawn(async move {
        tokio::select! {
            _ = tx.closed() => {
                if let Some(shared) = shared.upgrade() {
                    shared.wake_poll();
                }
            }
            _ = thread_ended => {}
        }
    });
}

/// The thread body: start, poll until the receiver goes away or a failure, then close.
fn run(consumer: Arc<KafkaConsumer>, shared: Arc<Shared>) {
    // INVARIANT (`MessageQueue`): the queue is a local, so it is dropped before the consumer
    // (a parameter), also when unwinding; `shared` only holds a weak reference.
    let messages = MessageQueue::new(&consumer, &shared.settings.topic).map(Arc::new);
    if let Ok(queue) = &messages {
        *shared.messages.lock().expect("messages lock") = Arc::downgrade(queue);
    }
    let failure = match &messages {
        Ok(queue) => match start(&consumer, &shared) {
            Ok(()) => poll::poll_loop(&consumer, &shared, queue),
            Err(message) => Some(message),
        },
        Err(message) => Some(message.clone()),
    };
    shared.closing.store(true, Ordering::Release);
    if let Some(message) = failure {
        tracing::error!(topic = %shared.settings.topic, "kafka firehose stopped: {message}");
        let _ = shared.tx.blocking_send(FirehoseMessage::Failed(message));
    }
    drop(messages);
    // Dropping the last strong reference closes the consumer (leaving the group).
    drop(consumer);
}

/// Subscribes (group mode) or assigns the owned partitions at their start offsets.
fn start(consumer: &KafkaConsumer, shared: &Shared) -> Result<(), String> {
    let topic = shared.settings.topic.as_str();
    if shared.settings.assignment == Assignment::Group {
        return consumer
            .subscribe(&[topic])
            .map_err(|e| format!("kafka topic `{topic}`: subscribe failed: {e}"));
    }
    let owned: Vec<i32> = offsets::topic_partitions(consumer, topic)?
        .into_iter()
        .filter(|p| shared.settings.assignment.owns(*p))
        .collect();
    if owned.is_empty() {
        return Err(format!(
            "kafka topic `{topic}`: no partition belongs to this node ({:?})",
            shared.settings.assignment
        ));
    }
    let resume = shared.state.lock().expect("state lock").resume.clone();
    let starts = offsets::resolve_starts(consumer, &shared.settings, &resume, &owned)?;
    if shared.settings.ends_at_latest {
        let ends: BTreeMap<i32, i64> = offsets::watermarks_of(consumer, topic, &owned)?
            .into_iter()
            .map(|(partition, (_, high))| (partition, high))
            .collect();
        tracing::info!(
            topic,
            ?ends,
            "kafka input ends at these offsets (endOffsets: latest)"
        );
        shared.state.lock().expect("state lock").ends = Some(ends);
    }
    shared.forward(&owned);
    let mut tpl = TopicPartitionList::new();
    for &(partition, offset) in &starts {
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
            .map_err(|e| e.to_string())?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| format!("kafka topic `{topic}`: assign failed: {e}"))?;
    tracing::info!(topic, ?starts, "kafka partitions assigned (static)");
    shared.state.lock().expect("state lock").positions = starts.iter().copied().collect();
    shared.fence.lock().expect("fence lock").extend(starts);
    Ok(())
}

/// Commits acknowledged offsets to Kafka (advisory), fenced to the partitions owned now.
#[derive(Debug)]
pub struct KafkaAcknowledger {
    consumer: Weak<KafkaConsumer>,
}

impl Acknowledger for KafkaAcknowledger {
    fn acknowledge(&self, checkpoint: &Value) {
        let Some(consumer) = self.consumer.upgrade() else {
            return;
        };
        let shared = &consumer.context().shared;
        if !shared.settings.has_group() {
            return;
        }
        let checkpoint: KafkaCheckpoint = match serde_json::from_value(checkpoint.clone()) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("kafka acknowledge: not a kafka checkpoint: {e}");
                return;
            }
        };
        let topic = shared.settings.topic.as_str();
        let mut tpl = TopicPartitionList::new();
        // INVARIANT: the fence stays locked until the commit is queued, so a revoke (which
        // removes partitions from the fence and then commits synchronously) is ordered after it.
        let mut fence = shared.fence.lock().expect("fence lock");
        for (partition, offset) in &checkpoint.partitions {
            if let Some(floor) = fence.get_mut(partition)
                && *offset > *floor
            {
                *floor = *offset;
                let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset));
            }
        }
        if tpl.count() > 0
            && let Err(e) = consumer.commit(&tpl, CommitMode::Async)
        {
            tracing::warn!(topic, "kafka advisory offset commit failed: {e}");
        }
        drop(fence);
    }
}
