//! The poll thread's loop: drain the message queue into batches, hand them to the ingest
//! loop through the bounded channel (pausing the partitions when it stays full), and serve the
//! consumer's own queue (rebalances, errors, statistics).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::Message as _;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tokio::sync::mpsc::error::TrySendError;

use super::context::Shared;
use super::message_queue::{DRAIN_MAX_MESSAGES, DrainBudget, MessageQueue};
use super::{KafkaConsumer, offsets, out_of_range_message};
use crate::firehose::FirehoseMessage;

/// How long the poll loop waits while the channel is full before trying again.
const BACKPRESSURE_POLL: Duration = Duration::from_millis(5);
/// How often every owned partition is forwarded to the message queue again (see
/// `message_queue`: a revoke's fetch stop can clear a forwarding made after it).
const REFORWARD_INTERVAL: Duration = Duration::from_secs(1);
/// A full channel is first waited out without pausing: pausing makes librdkafka drop what it
/// has prefetched, and resuming refetches it, which cost a fetch round trip every time the
/// ingest loop was a batch behind (the node read from Kafka at a fifth of its ingest rate).
/// Only a stall longer than this (a persist or merge holding the ingest loop) pauses.
const PAUSE_AFTER_STALL: Duration = Duration::from_millis(200);
/// The longest wait for room in the channel while not paused; the wait ends as soon as the
/// ingest loop takes a batch (see [`wait_for_room`]).
const FULL_CHANNEL_WAIT: Duration = Duration::from_millis(1);

/// Returns the failure that stopped the loop, `None` when the receiver went away.
pub(super) fn poll_loop(
    consumer: &KafkaConsumer,
    shared: &Shared,
    messages: &MessageQueue,
) -> Option<String> {
    let mut paused = false;
    // `endOffsets`: `End` was sent; the loop goes on serving the consumer (acknowledgements
    // commit offsets) until the ingest loop drops the receiver.
    let mut ended = false;
    let mut stalled_since: Option<Instant> = None;
    let mut drainer = Drainer {
        buffer: vec![std::ptr::null_mut(); DRAIN_MAX_MESSAGES],
        budget: DrainBudget::default(),
    };
    let mut forwarded_at = Instant::now();
    loop {
        if shared.tx.is_closed() {
            return None;
        }
        if let Some(message) = shared.failure.lock().expect("failure lock").take() {
            return Some(message);
        }
        if shared.rebalanced.swap(false, Ordering::AcqRel) {
            paused = false;
        }
        let next = shared.state.lock().expect("state lock").pending.pop_front();
        if let Some(batch) = next {
            match shared.tx.try_send(FirehoseMessage::Batch(batch)) {
                Ok(()) => {
                    stalled_since = None;
                    continue;
                }
                Err(TrySendError::Closed(_)) => return None,
                Err(TrySendError::Full(FirehoseMessage::Batch(batch))) => {
                    shared
                        .state
                        .lock()
                        .expect("state lock")
                        .pending
                        .push_front(batch);
                    let since = *stalled_since.get_or_insert_with(Instant::now);
                    if !paused && since.elapsed() < PAUSE_AFTER_STALL {
                        wait_for_room(&shared.tx, FULL_CHANNEL_WAIT);
                        continue;
                    }
                    if !paused {
                        set_paused(consumer, true);
                        paused = true;
                    }
                    // Serves heartbeats and rebalances; paused partitions deliver nothing.
                    serve_events(consumer, shared, BACKPRESSURE_POLL);
                    continue;
                }
                Err(TrySendError::Full(_)) => unreachable!("only batches are sent here"),
            }
        }
        if paused {
            set_paused(consumer, false);
            paused = false;
        }
        if shared.settings.ends_at_latest && !ended && end_input(consumer, shared) {
            ended = true;
        }
        if forwarded_at.elapsed() >= REFORWARD_INTERVAL {
            let owned: Vec<i32> = shared
                .state
                .lock()
                .expect("state lock")
                .positions
                .keys()
                .copied()
                .collect();
            shared.forward(&owned);
            forwarded_at = Instant::now();
        }
        let building = !shared.state.lock().expect("state lock").builder.is_empty();
        let wait = if building {
            Duration::ZERO
        } else {
            shared.settings.poll_timeout
        };
        drain_messages(consumer, shared, messages, &mut drainer, wait);
        serve_events(consumer, shared, Duration::ZERO);
    }
}

/// Files the messages waiting in the firehose's queue, as many as the budget allows (waiting up
/// to `wait` for that many); seals the batch being built when fewer were ready.
fn drain_messages(
    consumer: &KafkaConsumer,
    shared: &Shared,
    messages: &MessageQueue,
    drainer: &mut Drainer,
    wait: Duration,
) {
    let room_bytes = shared
        .state
        .lock()
        .expect("state lock")
        .builder
        .room_bytes();
    let limit = drainer.budget.limit(room_bytes);
    let drained = messages.drain(&mut drainer.buffer[..limit], wait);
    let mut errors = Vec::new();
    {
        let topic = shared.settings.topic.as_str();
        let mut state = shared.state.lock().expect("state lock");
        let mut bytes = 0;
        for received in drained.iter() {
            match received {
                Ok(m) => {
                    bytes += m.payload.len();
                    state.file(topic, m.partition, m.offset, m.payload);
                }
                Err(e) => errors.push(e),
            }
        }
        drainer.budget.record(drained.len(), bytes);
        if drained.len() < limit {
            state.seal(topic);
        }
    }
    drop(drained);
    for error in errors {
        on_poll_error(consumer, shared, error);
    }
}

/// With `endOffsets`: once every owned partition was read to its end and every batch went out,
/// pauses the partitions (nothing past the end is fetched), sends `End` with the positions and
/// returns true. A batch still being built is sealed first (the loop sends it, then comes back).
fn end_input(consumer: &KafkaConsumer, shared: &Shared) -> bool {
    let topic = shared.settings.topic.as_str();
    let checkpoint = {
        let mut state = shared.state.lock().expect("state lock");
        if !state.reached_ends() {
            return false;
        }
        state.seal(topic);
        if !state.pending.is_empty() {
            return false;
        }
        state.checkpoint(topic)
    };
    set_paused(consumer, true);
    tracing::info!(topic, %checkpoint, "kafka input read to its end offsets");
    // An error means the ingest loop is gone: the loop's next turn returns.
    let _ = shared.tx.blocking_send(FirehoseMessage::End(checkpoint));
    true
}

/// Blocks until the channel has room for a batch, it closes, or `timeout` passes.
///
/// A fixed sleep instead idled the core on one-core runs: the ingest loop emptied the channel
/// (4 batches) in ~0.65 ms and then waited out the rest of the poll thread's 1 ms sleep, ~8 %
/// of the ingest phase. This waits on the channel's own semaphore: the reservation's waker
/// unparks this thread the moment the ingest loop takes a batch. The permit is given back at
/// once; the loop's next `try_send` takes the room (nothing else sends on this channel while
/// the poll loop runs).
fn wait_for_room(tx: &tokio::sync::mpsc::Sender<FirehoseMessage>, timeout: Duration) {
    use std::future::Future as _;
    use std::task::{Context, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut reserve = std::pin::pin!(tx.reserve());
    let deadline = Instant::now() + timeout;
    // Parking may end early (an unrelated unpark): poll again until the deadline.
    while reserve.as_mut().poll(&mut context).is_pending() {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::park_timeout(deadline - now);
    }
}

/// What the poll loop drains the message queue with.
struct Drainer {
    buffer: Vec<*mut rdkafka::bindings::rd_kafka_message_t>,
    budget: DrainBudget,
}

/// Polls the consumer's own queue once: rebalances, errors, statistics, commit results.
/// Messages come through [`MessageQueue`]; one found here is filed all the same.
fn serve_events(consumer: &KafkaConsumer, shared: &Shared, timeout: Duration) {
    match consumer.poll(timeout) {
        None => {}
        Some(Ok(message)) => {
            let payload = message.payload().unwrap_or_default();
            let mut state = shared.state.lock().expect("state lock");
            state.file(
                &shared.settings.topic,
                message.partition(),
                message.offset(),
                payload,
            );
        }
        Some(Err(e)) => on_poll_error(consumer, shared, e),
    }
}

fn on_poll_error(consumer: &KafkaConsumer, shared: &Shared, error: KafkaError) {
    let topic = shared.settings.topic.as_str();
    match error {
        KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset)
        | KafkaError::MessageConsumption(RDKafkaErrorCode::OffsetOutOfRange) => {
            shared.fail(find_out_of_range(consumer, shared));
        }
        KafkaError::MessageConsumptionFatal(code) => {
            shared.fail(format!(
                "kafka topic `{topic}`: fatal consumer error: {code}"
            ));
        }
        KafkaError::PartitionEOF(partition) => {
            // Enabled only with `endOffsets`: the partition holds nothing more to read now.
            let mut state = shared.state.lock().expect("state lock");
            if state.ends.is_some() {
                state.caught_up.insert(partition);
            }
        }
        other => tracing::warn!(topic, "kafka poll error (retrying): {other}"),
    }
}

/// Names the partition whose position left the retained range.
fn find_out_of_range(consumer: &KafkaConsumer, shared: &Shared) -> String {
    let topic = shared.settings.topic.as_str();
    let positions = shared.state.lock().expect("state lock").positions.clone();
    let partitions: Vec<i32> = positions.keys().copied().collect();
    if let Ok(marks) = offsets::watermarks_of(consumer, topic, &partitions) {
        for (partition, position) in positions {
            let (low, high) = marks[&partition];
            if position < low || position > high {
                return out_of_range_message(topic, partition, position, low, high);
            }
        }
    }
    format!(
        "kafka topic `{topic}`: a fetch offset is out of range; run `rtnode reset-offsets --spec FILE --to earliest|latest`"
    )
}

fn set_paused(consumer: &KafkaConsumer, paused: bool) {
    let Ok(assignment) = consumer.assignment() else {
        return;
    };
    let result = if paused {
        consumer.pause(&assignment)
    } else {
        consumer.resume(&assignment)
    };
    if let Err(e) = result {
        tracing::warn!("kafka pause/resume failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn batch() -> FirehoseMessage {
        FirehoseMessage::End(serde_json::Value::Null)
    }

    #[test]
    fn wait_for_room_ends_when_the_receiver_takes_a_message() {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(batch()).unwrap();
        let receiver = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let taken = rx.blocking_recv();
            (taken.is_some(), rx)
        });
        let waited = Instant::now();
        wait_for_room(&tx, Duration::from_secs(600));
        // Far shorter than the timeout: the taken message woke the wait.
        assert!(waited.elapsed() < Duration::from_secs(60));
        assert!(
            tx.try_send(batch()).is_ok(),
            "the taken message's room is free"
        );
        let (took, _rx) = receiver.join().unwrap();
        assert!(took);
    }

    #[test]
    fn wait_for_room_gives_up_at_its_timeout_and_on_close() {
        let (tx, rx) = mpsc::channel(1);
        tx.try_send(batch()).unwrap();
        wait_for_room(&tx, Duration::from_millis(5));
        assert!(matches!(tx.try_send(batch()), Err(TrySendError::Full(_))));
        drop(rx);
        let waited = Instant::now();
        wait_for_room(&tx, Duration::from_secs(600));
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "closing ends the wait"
        );
        assert!(matches!(tx.try_send(batch()), Err(TrySendError::Closed(_))));
    }
}
