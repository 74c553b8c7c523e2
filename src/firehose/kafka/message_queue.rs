//! The firehose's own librdkafka queue: every owned partition's fetch queue is forwarded to it,
//! and it is drained in batches (`rd_kafka_consume_batch_queue`).
//!
//! Why: rdkafka's `BaseConsumer::poll` hands out one message per call and pays, per message, a
//! clock read, an event wrapper, an `Arc` allocation and librdkafka's poll bookkeeping (two
//! more clock reads). A batch pays those once. The consumer's own queue still carries everything
//! else (rebalances, errors, statistics, offset commits) and is polled as before.
//!
//! **Ordering.** A partition is forwarded here *before* it is assigned: librdkafka then never
//! routes it to the consumer's queue (an application forwarding survives the fetch start), so
//! each partition's messages arrive in one queue, in offset order. librdkafka clears the
//! forwarding when it stops fetching a partition (revoke, unassign); when a partition comes back
//! while that stop is still in flight, the stop can clear the new forwarding too, and the
//! partition's messages then wait in its fetch queue. [`MessageQueue::forward`] is therefore
//! also called periodically for every owned partition: forwarding moves what waits in the
//! fetch queue to the end of this queue, behind everything of that partition already here.

use std::ffi::CString;
use std::ptr::NonNull;
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaRespErr;

/// Most messages taken from the queue at once.
pub(super) const DRAIN_MAX_MESSAGES: usize = 1024;
/// The message size a [`DrainBudget`] assumes before it has seen one.
const ASSUMED_MESSAGE_BYTES: u64 = 64 << 10;

/// How many messages one drain may take: about what fits in the batch being built, at the
/// average message size seen so far. A drain cannot hand messages back, so without this it
/// would read up to [`DRAIN_MAX_MESSAGES`] past a batch the full channel cannot take (100 MB of
/// 100 KB messages), where reading one message at a time stopped right after it; memory then
/// stops being bounded by the channel, and lag gauges read zero while the node is behind.
#[derive(Debug, Default)]
pub(super) struct DrainBudget {
    bytes: u64,
    messages: u64,
}

impl DrainBudget {
    /// The number of messages to take when `room_bytes` are left in the batch (at least one).
    pub fn limit(&self, room_bytes: usize) -> usize {
        let average = match self.messages {
            0 => ASSUMED_MESSAGE_BYTES,
            n => (self.bytes / n).max(1),
        };
        usize::try_from(room_bytes as u64 / average)
            .unwrap_or(usize::MAX)
            .clamp(1, DRAIN_MAX_MESSAGES)
    }

    /// Counts `messages` messages of `bytes` bytes in all; older sizes fade out.
    pub fn record(&mut self, messages: usize, bytes: usize) {
        if self.messages > 1 << 16 {
            self.messages /= 2;
            self.bytes /= 2;
        }
        self.messages += messages as u64;
        self.bytes += bytes as u64;
    }
}

/// A queue owned by the firehose's poll thread. INVARIANT: dropped before the consumer it was
/// created from (`run` holds it in a local; everything else holds weak references).
#[derive(Debug)]
pub(super) struct MessageQueue {
    queue: NonNull<rdsys::rd_kafka_queue_t>,
    client: NonNull<rdsys::rd_kafka_t>,
    topic: CString,
}

// SAFETY: librdkafka's queue and client handles are thread-safe (every operation used here
// takes the queue's own lock), and the pointers stay valid for the queue's life (invariant
// above).
unsafe impl Send for MessageQueue {}
// SAFETY: as for `Send`: no method mutates Rust-side state.
unsafe impl Sync for MessageQueue {}

impl MessageQueue {
    /// A new, empty queue on `consumer`'s client for partitions of `topic`.
    pub fn new<C: ConsumerContext>(
        consumer: &BaseConsumer<C>,
        topic: &str,
    ) -> Result<Self, String> {
        let topic = CString::new(topic).map_err(|_| format!("kafka topic `{topic}`: NUL byte"))?;
        let client = NonNull::new(consumer.client().native_ptr())
            .ok_or("kafka consumer has no client handle")?;
        // SAFETY: `client` is a live rd_kafka_t (the consumer is borrowed).
        let queue = unsafe { rdsys::rd_kafka_queue_new(client.as_ptr()) };
        let queue = NonNull::new(queue).ok_or("librdkafka could not create a queue")?;
        Ok(MessageQueue {
            queue,
            client,
            topic,
        })
    }

    /// Routes every message of `partitions` to this queue, with what already waits in their
    /// fetch queues. Returns the partitions librdkafka did not know (none, in practice: it
    /// creates unknown ones).
    pub fn forward(&self, partitions: impl IntoIterator<Item = i32>) -> Vec<i32> {
        let mut failed = Vec::new();
        for partition in partitions {
            // SAFETY: `client` is live (invariant); `topic` is NUL-terminated. The returned
            // handle is a new reference to the partition's fetch queue, released at once:
            // forwarding is a property of the fetch queue, not of the handle.
            unsafe {
                let fetch_queue = rdsys::rd_kafka_queue_get_partition(
                    self.client.as_ptr(),
                    self.topic.as_ptr(),
                    partition,
                );
                if fetch_queue.is_null() {
                    failed.push(partition);
                    continue;
                }
                rdsys::rd_kafka_queue_forward(fetch_queue, self.queue.as_ptr());
                rdsys::rd_kafka_queue_destroy(fetch_queue);
            }
        }
        failed
    }

    /// Takes up to `buffer.len()` messages, waiting at most `timeout` for the buffer to fill
    /// (zero: only what is there now).
    pub fn drain<'q>(
        &'q self,
        buffer: &'q mut [*mut rdsys::rd_kafka_message_t],
        timeout: Duration,
    ) -> Drained<'q> {
        let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `queue` is live; `buffer` has room for `buffer.len()` pointers, which
        // librdkafka fills from the front and counts in its return value.
        let taken = unsafe {
            rdsys::rd_kafka_consume_batch_queue(
                self.queue.as_ptr(),
                timeout_ms,
                buffer.as_mut_ptr(),
                buffer.len(),
            )
        };
        let taken = usize::try_from(taken).unwrap_or(0).min(buffer.len());
        Drained {
            messages: &mut buffer[..taken],
        }
    }

    /// Makes a [`MessageQueue::drain`] in progress return at once, or the next one if none
    /// is (librdkafka keeps the request until a wait sees it).
    pub fn wake(&self) {
        // SAFETY: `queue` is live (invariant); librdkafka's yield takes the queue's lock.
        unsafe { rdsys::rd_kafka_queue_yield(self.queue.as_ptr()) }
    }
}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        // SAFETY: the handle was created by `rd_kafka_queue_new` and is released once; the
        // client is still alive (invariant). Partitions still forwarded here keep the queue's
        // memory until their fetch stops; it no longer accepts messages.
        unsafe { rdsys::rd_kafka_queue_destroy(self.queue.as_ptr()) }
    }
}

/// Messages taken from the queue, destroyed when this is dropped.
pub(super) struct Drained<'q> {
    messages: &'q mut [*mut rdsys::rd_kafka_message_t],
}

/// One message: its partition, offset and payload (empty when it has none).
pub(super) struct Received<'m> {
    pub partition: i32,
    pub offset: i64,
    pub payload: &'m [u8],
}

impl Drained<'_> {
    /// How many messages (and errors) were taken.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// The messages in queue order; a consumer error (a fetch that failed, an offset out of
    /// range) comes as the error rdkafka's `poll` would return for it.
    pub fn iter(&self) -> impl Iterator<Item = Result<Received<'_>, KafkaError>> + '_ {
        self.messages.iter().map(|&message| {
            // SAFETY: librdkafka returned this non-null message; it lives until `drop`.
            let message = unsafe { &*message };
            if message.err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
                return Err(match message.err {
                    RDKafkaRespErr::RD_KAFKA_RESP_ERR__PARTITION_EOF => {
                        KafkaError::PartitionEOF(message.partition)
                    }
                    code => KafkaError::MessageConsumption(code.into()),
                });
            }
            let payload = if message.payload.is_null() {
                &[][..]
            } else {
                // SAFETY: a message's payload is `len` bytes owned by the message.
                unsafe { std::slice::from_raw_parts(message.payload.cast::<u8>(), message.len) }
            };
            Ok(Received {
                partition: message.partition,
                offset: message.offset,
                payload,
            })
        })
    }
}

impl Drop for Drained<'_> {
    fn drop(&mut self) {
        for &message in self.messages.iter() {
            // SAFETY: each message was returned by librdkafka and is destroyed exactly once.
            unsafe { rdsys::rd_kafka_message_destroy(message) }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Instant;

    #[test]
    fn a_drain_takes_about_what_fits_in_the_batch() {
        let mut budget = DrainBudget::default();
        assert_eq!(
            budget.limit(1 << 20),
            16,
            "64 KiB assumed before any message"
        );
        budget.record(10, 1_000_000);
        assert_eq!(budget.limit(1 << 20), 10);
        assert_eq!(budget.limit(50_000), 1, "never less than one");
        let mut small = DrainBudget::default();
        small.record(1_000, 300_000);
        assert_eq!(small.limit(1 << 20), DRAIN_MAX_MESSAGES);
        for _ in 0..200 {
            small.record(1_000, 100_000_000);
        }
        assert_eq!(small.limit(1 << 20), 10, "recent sizes win");
    }

    use rdkafka::consumer::DefaultConsumerContext;
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};

    use super::*;
    use crate::firehose::kafka::mock::MockKafka;

    fn consumer(kafka: &MockKafka) -> BaseConsumer<DefaultConsumerContext> {
        ClientConfig::new()
            .set("bootstrap.servers", kafka.bootstrap_servers())
            .set("auto.offset.reset", "error")
            // Assignment needs a group id; nothing is committed to it.
            .set("group.id", "message-queue-test")
            .create()
            .expect("consumer")
    }

    /// A received message's partition, offset and payload.
    type Copied = (i32, i64, Vec<u8>);

    /// Drains until `want` messages or errors arrived (or 20 s passed), serving the consumer's
    /// own queue in between; returns them with what that queue delivered.
    fn drain_all(
        consumer: &BaseConsumer<DefaultConsumerContext>,
        queue: &MessageQueue,
        want: usize,
    ) -> (Vec<Result<Copied, KafkaError>>, usize) {
        let mut buffer = vec![std::ptr::null_mut(); 64];
        let (mut got, mut on_consumer_queue) = (Vec::new(), 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        while got.len() < want && Instant::now() < deadline {
            let drained = queue.drain(&mut buffer, Duration::from_millis(50));
            got.extend(
                drained
                    .iter()
                    .map(|r| r.map(|m| (m.partition, m.offset, m.payload.to_vec()))),
            );
            drop(drained);
            if let Some(Ok(_)) = consumer.poll(Duration::ZERO) {
                on_consumer_queue += 1;
            }
        }
        (got, on_consumer_queue)
    }

    #[test]
    fn forwarded_partitions_arrive_whole_and_in_offset_order() {
        let kafka = MockKafka::new(1).expect("mock cluster");
        kafka.create_topic("t", 2).expect("topic");
        for i in 0..300 {
            kafka.send("t", i % 2, format!("m{i}").as_bytes());
        }
        kafka.flush().expect("flush");
        let consumer = consumer(&kafka);
        let queue = MessageQueue::new(&consumer, "t").expect("queue");
        assert!(queue.forward([0, 1]).is_empty());
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("t", 0, Offset::Offset(0)).unwrap();
        tpl.add_partition_offset("t", 1, Offset::Offset(10))
            .unwrap();
        consumer.assign(&tpl).expect("assign");

        let (got, on_consumer_queue) = drain_all(&consumer, &queue, 290);
        assert_eq!(
            on_consumer_queue, 0,
            "a message bypassed the firehose's queue"
        );
        let mut next: BTreeMap<i32, i64> = [(0, 0), (1, 10)].into();
        for message in got {
            let (partition, offset, payload) = message.expect("no consumer error");
            assert_eq!(
                offset, next[&partition],
                "partition {partition} out of order"
            );
            *next.get_mut(&partition).unwrap() += 1;
            let sent = offset * 2 + i64::from(partition);
            assert_eq!(payload, format!("m{sent}").into_bytes());
        }
        assert_eq!(next, [(0, 150), (1, 150)].into());
        drop(queue);
    }

    #[test]
    fn an_offset_out_of_range_comes_out_as_a_consumer_error() {
        let kafka = MockKafka::new(1).expect("mock cluster");
        kafka.create_topic("t", 1).expect("topic");
        kafka.send("t", 0, b"only");
        kafka.flush().expect("flush");
        let consumer = consumer(&kafka);
        let queue = MessageQueue::new(&consumer, "t").expect("queue");
        assert!(queue.forward([0]).is_empty());
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("t", 0, Offset::Offset(1_000))
            .unwrap();
        consumer.assign(&tpl).expect("assign");

        let (got, _) = drain_all(&consumer, &queue, 1);
        match got.as_slice() {
            [Err(KafkaError::MessageConsumption(code))] => {
                assert_eq!(*code, rdkafka::error::RDKafkaErrorCode::AutoOffsetReset)
            }
            other => panic!("expected one out-of-range error, got {other:?}"),
        }
        drop(queue);
    }

    #[test]
    fn a_wake_ends_a_drain_at_once_or_the_next_one() {
        let kafka = MockKafka::new(1).expect("mock cluster");
        kafka.create_topic("t", 1).expect("topic");
        let consumer = consumer(&kafka);
        let queue = MessageQueue::new(&consumer, "t").expect("queue");
        let mut buffer = vec![std::ptr::null_mut(); 8];
        let long = Duration::from_secs(30);

        queue.wake();
        let started = Instant::now();
        assert_eq!(queue.drain(&mut buffer, long).len(), 0);
        assert!(
            started.elapsed() < long / 2,
            "a wake before the drain ends it"
        );

        let started = Instant::now();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                queue.wake();
            });
            assert_eq!(queue.drain(&mut buffer, long).len(), 0);
        });
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(50) && waited < long / 2,
            "the drain waited {waited:?}"
        );
        drop(queue);
    }
}
