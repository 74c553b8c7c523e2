//! Start positions: the checkpoint is the truth; Kafka's committed group offset and
//! `auto.offset.reset` only fill in partitions the checkpoint does not name. A checkpointed
//! offset outside `[low watermark, high watermark]` is an error naming the partition and the
//! `rtnode reset-offsets` command; nothing is skipped silently.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, DefaultConsumerContext};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use super::settings::{Assignment, KafkaCheckpoint, KafkaSettings, OffsetReset};
use crate::config::FirehoseSpec;
use crate::firehose::{FirehoseError, to_json};

/// Timeout of one metadata, watermark or committed-offset request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Attempts of a watermark or metadata request before giving up (a broker may be restarting).
const REQUEST_ATTEMPTS: u32 = 6;

/// Where `rtnode reset-offsets` moves positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// Each partition's low watermark (the oldest retained message).
    Earliest,
    /// Each partition's high watermark (only new messages).
    Latest,
}

/// The message of an out-of-range checkpointed offset.
pub fn out_of_range_message(
    topic: &str,
    partition: i32,
    offset: i64,
    low: i64,
    high: i64,
) -> String {
    let why = if offset > high {
        format!("is above the high watermark {high} (was the topic deleted and recreated?)")
    } else {
        format!("is below the low watermark {low} (retention deleted those messages)")
    };
    format!(
        "kafka topic `{topic}` partition {partition}: the checkpointed offset {offset} {why}; \
         nothing is skipped silently: stop the node and run \
         `rtnode reset-offsets --spec FILE --to earliest|latest` to rewrite the commit record"
    )
}

/// Runs `request` until it succeeds, at most [`REQUEST_ATTEMPTS`] times with a growing pause
/// (a broker may be restarting), logging each failure as `kafka {what}`; else its last error.
fn with_retries<T>(
    topic: &str,
    what: &str,
    mut request: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let mut last_error = String::new();
    for attempt in 0..REQUEST_ATTEMPTS {
        match request() {
            Ok(value) => return Ok(value),
            Err(e) => {
                tracing::warn!(topic, attempt, "kafka {what}: {e}; retrying");
                last_error = e;
                std::thread::sleep(Duration::from_millis(250 << attempt.min(4)));
            }
        }
    }
    Err(last_error)
}

/// Returns the `(low, high)` watermarks of each of `partitions`, retrying while the broker is
/// unreachable. Two batched requests (every partition's earliest offset, then every latest),
/// where librdkafka's `query_watermark_offsets` takes two round trips per partition, one after
/// the other: on every start and assignment, a node owning 64 partitions behind a 1 ms round
/// trip would wait ~128 ms before it read a message. (Over loopback to the mock cluster the
/// difference is within the noise of the node's start.)
pub fn watermarks_of<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, (i64, i64)>, String> {
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    with_retries(topic, "watermarks", || {
        let lows = list_offsets(consumer, topic, partitions, Offset::Beginning)?;
        let highs = list_offsets(consumer, topic, partitions, Offset::End)?;
        pair_up(partitions, &lows, &highs)
    })
    .map_err(|e| format!("kafka topic `{topic}`: cannot read watermarks: {e}"))
}

/// One ListOffsets round: each partition's offset at `end` (`Beginning`: the low watermark,
/// `End`: the high watermark; Kafka's special timestamps -2 and -1).
fn list_offsets<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partitions: &[i32],
    end: Offset,
) -> Result<BTreeMap<i32, i64>, String> {
    let mut query = TopicPartitionList::new();
    for &partition in partitions {
        query
            .add_partition_offset(topic, partition, end)
            .map_err(|e| e.to_string())?;
    }
    let found = consumer
        .offsets_for_times(query, REQUEST_TIMEOUT)
        .map_err(|e| e.to_string())?;
    found
        .elements_for_topic(topic)
        .iter()
        .map(|element| {
            let partition = element.partition();
            element
                .error()
                .map_err(|e| format!("partition {partition}: {e}"))?;
            match element.offset() {
                Offset::Offset(offset) => Ok((partition, offset)),
                other => Err(format!("partition {partition}: no offset ({other:?})")),
            }
        })
        .collect()
}

fn pair_up(
    partitions: &[i32],
    lows: &BTreeMap<i32, i64>,
    highs: &BTreeMap<i32, i64>,
) -> Result<BTreeMap<i32, (i64, i64)>, String> {
    partitions
        .iter()
        .map(|p| match (lows.get(p), highs.get(p)) {
            (Some(&low), Some(&high)) => Ok((*p, (low, high))),
            _ => Err(format!("partition {p}: no watermarks in the answer")),
        })
        .collect()
}

/// Returns the partition ids of `topic`, retrying while metadata is unavailable.
pub fn topic_partitions<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
) -> Result<Vec<i32>, String> {
    with_retries(topic, "metadata", || {
        let metadata = consumer
            .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
            .map_err(|e| e.to_string())?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err("the topic has no partitions".to_string());
        }
        Ok(partitions)
    })
    .map_err(|e| format!("kafka topic `{topic}`: cannot read partitions: {e}"))
}

/// Resolves the start offset of each partition: checkpoint, else committed offset, else
/// `auto.offset.reset`. Fails on a checkpointed offset out of range.
pub fn resolve_starts<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    settings: &KafkaSettings,
    checkpointed: &BTreeMap<i32, i64>,
    partitions: &[i32],
) -> Result<Vec<(i32, i64)>, String> {
    let topic = settings.topic.as_str();
    let committed = committed_offsets(consumer, settings, checkpointed, partitions);
    let marks = watermarks_of(consumer, topic, partitions)?;
    let mut starts = Vec::with_capacity(partitions.len());
    for &partition in partitions {
        let (low, high) = marks[&partition];
        let start = if let Some(&offset) = checkpointed.get(&partition) {
            if offset < low || offset > high {
                return Err(out_of_range_message(topic, partition, offset, low, high));
            }
            offset
        } else {
            match committed.get(&partition) {
                Some(&offset) if (low..=high).contains(&offset) => offset,
                other => {
                    if let Some(offset) = other {
                        tracing::warn!(
                            topic,
                            partition,
                            offset,
                            low,
                            high,
                            "kafka committed group offset is out of range; applying `auto.offset.reset`"
                        );
                    }
                    match settings.offset_reset {
                        OffsetReset::Earliest => low,
                        OffsetReset::Latest => high,
                        OffsetReset::Fail => {
                            return Err(format!(
                                "kafka topic `{topic}` partition {partition}: no checkpointed or committed offset and `auto.offset.reset` is `error`"
                            ));
                        }
                    }
                }
            }
        };
        starts.push((partition, start));
    }
    Ok(starts)
}

/// Kafka's committed group offsets of the partitions the checkpoint does not name.
fn committed_offsets<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    settings: &KafkaSettings,
    checkpointed: &BTreeMap<i32, i64>,
    partitions: &[i32],
) -> BTreeMap<i32, i64> {
    let mut tpl = TopicPartitionList::new();
    for p in partitions.iter().filter(|p| !checkpointed.contains_key(p)) {
        tpl.add_partition(&settings.topic, *p);
    }
    if tpl.count() == 0 || !settings.has_group() {
        return BTreeMap::new();
    }
    match consumer.committed_offsets(tpl, REQUEST_TIMEOUT) {
        Ok(list) => list
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(topic = %settings.topic, "kafka committed offsets unavailable: {e}");
            BTreeMap::new()
        }
    }
}

/// Rewrites a Kafka firehose checkpoint for `rtnode reset-offsets`: with `current`, only its
/// partitions whose offset is out of range move to `to` (the others keep their position);
/// without, every partition this node reads starts at `to`. Returns the new checkpoint, which
/// the caller writes into the commit record while the node is stopped.
pub fn reset_offsets(
    spec: &FirehoseSpec,
    partition_num: u32,
    current: Option<&Value>,
    to: ResetTo,
) -> Result<Value, FirehoseError> {
    let settings = KafkaSettings::from_spec(spec, partition_num)?;
    let consumer: BaseConsumer<DefaultConsumerContext> = settings
        .client_config()
        .create()
        .map_err(|e| FirehoseError::Broker(format!("kafka consumer: {e}")))?;
    let topic = settings.topic.as_str();
    let mut checkpoint = KafkaCheckpoint::from_resume(current, topic)?;
    let partitions: Vec<i32> = match current {
        Some(_) => checkpoint.partitions.keys().copied().collect(),
        None => topic_partitions(&consumer, topic)
            .map_err(FirehoseError::Broker)?
            .into_iter()
            .filter(|p| settings.assignment.owns(*p))
            .collect(),
    };
    let marks = watermarks_of(&consumer, topic, &partitions).map_err(FirehoseError::Broker)?;
    for partition in partitions {
        let (low, high) = marks[&partition];
        let target = match to {
            ResetTo::Earliest => low,
            ResetTo::Latest => high,
        };
        let entry = checkpoint.partitions.entry(partition).or_insert(target);
        if *entry < low || *entry > high {
            tracing::info!(
                topic,
                partition,
                from = *entry,
                to = target,
                "kafka offset reset"
            );
            *entry = target;
        }
    }
    if let Assignment::Static { .. } = settings.assignment {
        checkpoint
            .partitions
            .retain(|p, _| settings.assignment.owns(*p));
    }
    Ok(to_json(&checkpoint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_message_names_partition_and_command() {
        let above = out_of_range_message("wiki", 3, 2692, 0, 42);
        assert!(above.contains("partition 3"), "{above}");
        assert!(above.contains("above the high watermark 42"), "{above}");
        assert!(
            above.contains("rtnode reset-offsets --spec FILE --to earliest|latest"),
            "{above}"
        );
        let below = out_of_range_message("wiki", 0, 5, 10, 42);
        assert!(below.contains("below the low watermark 10"), "{below}");
    }

    #[test]
    fn a_failed_request_is_retried_until_it_succeeds() {
        let mut calls = 0;
        let answer = with_retries("t", "test", || {
            calls += 1;
            match calls {
                1 | 2 => Err(format!("broker down ({calls})")),
                n => Ok(n),
            }
        });
        assert_eq!(answer, Ok(3));
    }

    #[test]
    fn batched_watermarks_equal_the_per_partition_ones() {
        let kafka = crate::firehose::kafka::mock::MockKafka::new(1).expect("mock cluster");
        kafka.create_topic("t", 3).expect("topic");
        for (partition, messages) in [(0, 5), (1, 2)] {
            for _ in 0..messages {
                kafka.send("t", partition, b"m");
            }
        }
        kafka.flush().expect("flush");
        let consumer: BaseConsumer<DefaultConsumerContext> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", kafka.bootstrap_servers())
            .create()
            .expect("consumer");
        let marks = watermarks_of(&consumer, "t", &[0, 1, 2]).expect("watermarks");
        assert_eq!(marks, [(0, (0, 5)), (1, (0, 2)), (2, (0, 0))].into());
        for (partition, pair) in marks {
            let one = consumer.fetch_watermarks("t", partition, REQUEST_TIMEOUT);
            assert_eq!(one.unwrap(), pair, "partition {partition}");
        }
        assert!(watermarks_of(&consumer, "t", &[]).unwrap().is_empty());
    }
}
