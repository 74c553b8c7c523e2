//! Consumer settings of the `kafka` and `kafka-0.8` firehose specs: librdkafka properties, the
//! partition assignment mode, and the checkpoint that holds the positions.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::FirehoseSpec;
use crate::firehose::FirehoseError;

/// How often librdkafka reports statistics (lag metrics) unless `statistics.interval.ms` is set.
const DEFAULT_STATISTICS_INTERVAL_MS: &str = "5000";
/// librdkafka's prefetch target per partition unless `queued.min.messages` is set (its default
/// is 100,000). Measured with `benches/broker_e2e.rs` (1M events over 67 partitions of the mock
/// cluster, node on one core): 111,000 events/s with librdkafka's default, 155,000 with this;
/// prefetched bytes stay capped by `queued.max.messages.kbytes`.
const DEFAULT_QUEUED_MIN_MESSAGES: &str = "1000000";
/// How long librdkafka postpones a partition's next fetch once its local queue is full, unless
/// `fetch.queue.backoff.ms` is set. librdkafka's default (1,000 ms) idled the node: the queue
/// (`queued.max.messages.kbytes`, 64 MiB) drains in ~0.7 s at full speed, then nothing arrived
/// for the rest of the second (a `perf record -a` timeline of `benches/broker_e2e.rs` showed
/// both cores idle for ~0.75 s mid-ingest).
const DEFAULT_FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// How many KiB of prefetched messages librdkafka keeps unless `queued.max.messages.kbytes` is
/// set (its default is 65,536). 64 MiB is twice this machine's L3 cache, so every message was
/// read from memory when the poll thread copied it into a batch. Measured with
/// `benches/broker_e2e.rs` (1M events over 67 partitions, node on one core), five pairs
/// alternating: 630,000–665,000 events/s with 8 MiB against 557,000–627,000 with librdkafka's
/// default, and a peak RSS of 328–335 MB against 386–460 MB. At 1M events/s 8 MiB is ~30 ms
/// of messages, three times `fetch.queue.backoff.ms`.
const DEFAULT_QUEUED_MAX_MESSAGES_KBYTES: &str = "8192";

/// How long the broker may hold a fetch that finds no new messages, unless `fetch.wait.max.ms`
/// is set (librdkafka's and Kafka's default is 500 ms). A fetch sent while the partitions with
/// messages wait out `fetch.queue.backoff.ms` holds only partitions at their end, and the
/// broker holds it for the full wait: with 500 ms, `benches/broker_e2e.rs` idled half a second
/// mid-ingest in 8 of 38 runs (none of 22 with 50 ms). Idle, a consumer then asks each broker
/// 20 times a second.
const DEFAULT_FETCH_WAIT_MAX_MS: &str = "50";

/// Whether librdkafka connects to a broker only when it needs it, unless
/// `enable.sparse.connections` is set (librdkafka's default is `true`). With sparse
/// connections the node's first metadata request waited ~50 ms in 3 of 5 starts of
/// `benches/broker_e2e.rs` (none of 5 with `false`): librdkafka drops its bootstrap connection
/// once it has learned the brokers, and the request then finds no broker up, with new
/// connections suppressed for `reconnect.backoff.ms` / 2 (librdkafka's debug log: "Not
/// selecting any broker for cluster connection: still suppressed for 48ms: application
/// metadata request"). A node reads every partition of its topic (or a share of them spread
/// over the brokers), so it connects to their leaders anyway, as Druid's Java consumer does.
const DEFAULT_ENABLE_SPARSE_CONNECTIONS: &str = "false";

/// librdkafka properties rtnode sets unless `consumerProperties` does (each value's reason is
/// at its constant).
const PROPERTY_DEFAULTS: &[(&str, &str)] = &[
    ("statistics.interval.ms", DEFAULT_STATISTICS_INTERVAL_MS),
    ("queued.min.messages", DEFAULT_QUEUED_MIN_MESSAGES),
    ("fetch.queue.backoff.ms", DEFAULT_FETCH_QUEUE_BACKOFF_MS),
    (
        "queued.max.messages.kbytes",
        DEFAULT_QUEUED_MAX_MESSAGES_KBYTES,
    ),
    ("fetch.wait.max.ms", DEFAULT_FETCH_WAIT_MAX_MS),
    (
        "enable.sparse.connections",
        DEFAULT_ENABLE_SPARSE_CONNECTIONS,
    ),
];

/// Kafka 0.8 consumer properties kept as they are (librdkafka knows them by the same name).
const KAFKA08_KEPT: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "group.id",
    "client.id",
    "fetch.message.max.bytes",
    "fetch.min.bytes",
    "fetch.wait.max.ms",
    "socket.timeout.ms",
    "socket.receive.buffer.bytes",
];

/// Properties rtnode sets itself: offsets are stored and committed only by the firehose, and an
/// out-of-range fetch is an error, never a silent reset.
const FIXED_PROPERTIES: &[(&str, &str)] = &[
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("enable.partition.eof", "false"),
    ("auto.offset.reset", "error"),
];

/// Where a Kafka firehose stands: the next offset to read of every partition it owns.
///
/// JSON: `{"topic":"wikipedia","partitions":{"0":1234,"1":98}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaCheckpoint {
    /// The topic.
    pub topic: String,
    /// Next offset to read, by partition.
    pub partitions: BTreeMap<i32, i64>,
}

impl KafkaCheckpoint {
    /// The JSON of `KafkaCheckpoint { topic, partitions }`, built directly: the firehose makes
    /// one for every batch, and going through serde cost a copy of the map and its machinery.
    pub fn json_of(topic: &str, partitions: &BTreeMap<i32, i64>) -> Value {
        let partitions: Map<String, Value> = partitions
            .iter()
            .map(|(partition, offset)| (partition.to_string(), Value::from(*offset)))
            .collect();
        let mut checkpoint = Map::with_capacity(2);
        checkpoint.insert("topic".into(), Value::from(topic));
        checkpoint.insert("partitions".into(), Value::Object(partitions));
        Value::Object(checkpoint)
    }

    /// Reads a recorded checkpoint; `None` starts empty. Fails when it names another topic.
    pub fn from_resume(resume: Option<&Value>, topic: &str) -> Result<Self, FirehoseError> {
        let Some(value) = resume else {
            return Ok(KafkaCheckpoint {
                topic: topic.to_string(),
                partitions: BTreeMap::new(),
            });
        };
        let checkpoint: KafkaCheckpoint = serde_json::from_value(value.clone())
            .map_err(|e| FirehoseError::BadCheckpoint(format!("{value}: {e}")))?;
        if checkpoint.topic != topic {
            return Err(FirehoseError::BadCheckpoint(format!(
                "{value}: it is of topic `{}`, the spec reads `{topic}`",
                checkpoint.topic
            )));
        }
        Ok(checkpoint)
    }
}

/// Where a partition without a checkpointed or committed offset starts (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// The low watermark (`earliest`, Kafka 0.8 `smallest`).
    Earliest,
    /// The high watermark (`latest`, Kafka 0.8 `largest`; librdkafka's default).
    Latest,
    /// Fail the firehose (`error`).
    Fail,
}

/// Which partitions a firehose reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// Consumer-group subscription: the group coordinator assigns partitions (rebalances).
    Group,
    /// Static assignment: partition `p` is read by the node whose `partitionNum` is
    /// `p % node_count` (spec field `partitions`).
    Static {
        /// The spec's `partitions`: how many nodes share the topic.
        node_count: u32,
        /// This node's `partitionNum` (tuningConfig `shardSpec`).
        partition_num: u32,
    },
}

impl Assignment {
    /// True when partition `partition` belongs to this node.
    pub fn owns(&self, partition: i32) -> bool {
        match *self {
            Assignment::Group => true,
            Assignment::Static {
                node_count,
                partition_num,
            } => partition.rem_euclid(node_count.max(1) as i32) == partition_num as i32,
        }
    }
}

/// A Kafka firehose spec resolved into consumer settings.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// The topic.
    pub topic: String,
    /// librdkafka properties, the fixed ones included.
    pub properties: BTreeMap<String, String>,
    /// The user's `auto.offset.reset`, applied by the firehose.
    pub offset_reset: OffsetReset,
    /// Partition assignment mode.
    pub assignment: Assignment,
    /// Longest wait of one poll.
    pub poll_timeout: Duration,
    /// True when the spec names a `group.id`: acknowledged offsets are committed there.
    pub commits_offsets: bool,
    /// `endOffsets: "latest"`: the input ends at each partition's high watermark of the start.
    pub ends_at_latest: bool,
}

impl KafkaSettings {
    /// Resolves a `kafka` or `kafka-0.8` spec; `partition_num` is the node's shard number.
    pub fn from_spec(spec: &FirehoseSpec, partition_num: u32) -> Result<Self, FirehoseError> {
        match spec {
            FirehoseSpec::Kafka(kafka) => {
                let assignment = match kafka.partitions {
                    Some(node_count) if node_count > 0 => Assignment::Static {
                        node_count,
                        partition_num,
                    },
                    Some(_) => {
                        return Err(FirehoseError::Config(
                            "`kafka` firehose: `partitions` must be at least 1".into(),
                        ));
                    }
                    None => Assignment::Group,
                };
                let properties = string_properties(&kafka.consumer_properties);
                let mut settings = Self::build(
                    &kafka.topic,
                    properties,
                    assignment,
                    kafka.poll_timeout,
                    "kafka",
                )?;
                if kafka.end_offsets.is_some() {
                    if assignment == Assignment::Group {
                        return Err(FirehoseError::Config(
                            "`kafka` firehose: `endOffsets` needs `partitions` (static assignment)"
                                .into(),
                        ));
                    }
                    settings.ends_at_latest = true;
                    // A partition whose last offsets hold transaction markers (or whose open
                    // transaction keeps them unreadable) never delivers a message at its end:
                    // librdkafka's end-of-partition event says it was reached.
                    settings
                        .properties
                        .insert("enable.partition.eof".into(), "true".into());
                }
                Ok(settings)
            }
            FirehoseSpec::Kafka08(eight) => {
                let properties = map_kafka08(&eight.consumer_props)?;
                Self::build(&eight.feed, properties, Assignment::Group, 100, "kafka-0.8")
            }
            other => Err(FirehoseError::Config(format!(
                "firehose `{}` is not a kafka firehose",
                other.type_name()
            ))),
        }
    }

    fn build(
        topic: &str,
        mut properties: BTreeMap<String, String>,
        assignment: Assignment,
        poll_timeout_ms: u64,
        kind: &str,
    ) -> Result<Self, FirehoseError> {
        if !properties.contains_key("bootstrap.servers")
            && !properties.contains_key("metadata.broker.list")
        {
            return Err(FirehoseError::Config(format!(
                "`{kind}` firehose: consumer properties lack `bootstrap.servers`"
            )));
        }
        if assignment == Assignment::Group && !properties.contains_key("group.id") {
            return Err(FirehoseError::Config(format!(
                "`{kind}` firehose: group subscription needs `group.id` (or set `partitions` for static assignment)"
            )));
        }
        let offset_reset = match properties.remove("auto.offset.reset").as_deref() {
            None | Some("latest" | "largest" | "end") => OffsetReset::Latest,
            Some("earliest" | "smallest" | "beginning") => OffsetReset::Earliest,
            Some("error") => OffsetReset::Fail,
            Some(other) => {
                return Err(FirehoseError::Config(format!(
                    "`{kind}` firehose: `auto.offset.reset` `{other}` is not earliest, latest or error"
                )));
            }
        };
        for (key, value) in FIXED_PROPERTIES {
            if let Some(old) = properties.insert(key.to_string(), value.to_string())
                && old != *value
                && *key != "auto.offset.reset"
            {
                tracing::warn!(
                    property = key,
                    "kafka consumer property `{key}={old}` is overridden: the firehose commits offsets itself, after the commit record"
                );
            }
        }
        let commits_offsets = properties.contains_key("group.id");
        // librdkafka's consumer needs a group even for `assign`; nothing is committed to it.
        properties
            .entry("group.id".into())
            .or_insert_with(|| format!("rtnode-static-{topic}"));
        for (key, value) in PROPERTY_DEFAULTS {
            properties
                .entry((*key).into())
                .or_insert_with(|| (*value).into());
        }
        Ok(KafkaSettings {
            topic: topic.to_string(),
            properties,
            offset_reset,
            assignment,
            poll_timeout: Duration::from_millis(poll_timeout_ms.max(1)),
            commits_offsets,
            ends_at_latest: false,
        })
    }

    /// The librdkafka client configuration.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }

    /// True when offsets are committed to Kafka (the spec sets a `group.id`).
    pub fn has_group(&self) -> bool {
        self.commits_offsets
    }
}

fn string_properties(map: &Map<String, Value>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (key.clone(), text)
        })
        .collect()
}

/// Maps Kafka 0.8 high-level consumer properties to librdkafka's; ZooKeeper ones are dropped.
fn map_kafka08(props: &Map<String, Value>) -> Result<BTreeMap<String, String>, FirehoseError> {
    let mut out = BTreeMap::new();
    let mut dropped = Vec::new();
    for (key, value) in string_properties(props) {
        match key.as_str() {
            "auto.offset.reset" => {
                let mapped = match value.as_str() {
                    "smallest" => "earliest",
                    "largest" => "latest",
                    other => other,
                };
                out.insert(key, mapped.to_string());
            }
            k if KAFKA08_KEPT.contains(&k) => {
                out.insert(key, value);
            }
            _ => dropped.push(key),
        }
    }
    let has_brokers =
        out.contains_key("bootstrap.servers") || out.contains_key("metadata.broker.list");
    if !has_brokers && dropped.iter().any(|k| k == "zookeeper.connect") {
        return Err(FirehoseError::Config(
            "`kafka-0.8` firehose (or pre-0.7 `kafka-0.7.2`, whose `zk.connect` is read as `zookeeper.connect`): `consumerProps` names only `zookeeper.connect`; rtnode talks to the Kafka brokers directly: add `bootstrap.servers` (the brokers' host:port list) to `consumerProps`".into(),
        ));
    }
    if !dropped.is_empty() {
        tracing::info!(
            "`kafka-0.8` firehose: ignoring Kafka 0.8 consumer properties {}",
            dropped
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: Value) -> FirehoseSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn prefetch_defaults_yield_to_the_operators_values() {
        let set = spec(
            json!({"type": "kafka", "topic": "t", "consumerProperties": {
            "bootstrap.servers": "b:9092", "group.id": "g", "queued.min.messages": "5000",
            "fetch.queue.backoff.ms": "250", "queued.max.messages.kbytes": "65536",
            "fetch.wait.max.ms": "500", "enable.sparse.connections": "true"}}),
        );
        let settings = KafkaSettings::from_spec(&set, 0).unwrap();
        assert_eq!(settings.properties["enable.sparse.connections"], "true");
        assert_eq!(settings.properties["queued.min.messages"], "5000");
        assert_eq!(settings.properties["fetch.queue.backoff.ms"], "250");
        assert_eq!(settings.properties["queued.max.messages.kbytes"], "65536");
        assert_eq!(settings.properties["fetch.wait.max.ms"], "500");
    }

    #[test]
    fn kafka08_maps_names_and_refuses_zookeeper_only() {
        let only_zk = spec(
            json!({"type": "kafka-0.8", "feed": "wiki", "consumerProps": {
            "zookeeper.connect": "zk:2181", "group.id": "druid"}}),
        );
        let err = KafkaSettings::from_spec(&only_zk, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("add `bootstrap.servers`"), "{err}");
        let full = spec(
            json!({"type": "kafka-0.8", "feed": "wiki", "consumerProps": {
            "zookeeper.connect": "zk:2181", "zookeeper.session.timeout.ms": "15000",
            "bootstrap.servers": "b:9092", "group.id": "druid", "auto.offset.reset": "smallest",
            "auto.commit.enable": "false", "fetch.message.max.bytes": "1048586"}}),
        );
        let settings = KafkaSettings::from_spec(&full, 0).unwrap();
        assert_eq!(settings.offset_reset, OffsetReset::Earliest);
        assert_eq!(settings.topic, "wiki");
        assert_eq!(settings.assignment, Assignment::Group);
        assert_eq!(settings.properties["fetch.message.max.bytes"], "1048586");
        assert_eq!(settings.properties["queued.min.messages"], "1000000");
        assert_eq!(settings.properties["fetch.queue.backoff.ms"], "10");
        assert_eq!(settings.properties["queued.max.messages.kbytes"], "8192");
        assert_eq!(settings.properties["fetch.wait.max.ms"], "50");
        assert_eq!(settings.properties["enable.sparse.connections"], "false");
        assert_eq!(settings.properties["statistics.interval.ms"], "5000");
        assert_eq!(settings.properties["auto.offset.reset"], "error");
        assert!(!settings.properties.contains_key("zookeeper.connect"));
        assert!(!settings.properties.contains_key("auto.commit.enable"));
    }

    #[test]
    fn static_assignment_owns_partitions_modulo_node_count() {
        let s = spec(json!({"type": "kafka", "topic": "t", "partitions": 2,
            "consumerProperties": {"bootstrap.servers": "b:9092"}}));
        let settings = KafkaSettings::from_spec(&s, 1).unwrap();
        let owned: Vec<i32> = (0..6).filter(|p| settings.assignment.owns(*p)).collect();
        assert_eq!(owned, [1, 3, 5]);
        assert_eq!(settings.offset_reset, OffsetReset::Latest);
        let group = spec(json!({"type": "kafka", "topic": "t",
            "consumerProperties": {"bootstrap.servers": "b:9092"}}));
        let err = KafkaSettings::from_spec(&group, 0).unwrap_err().to_string();
        assert!(err.contains("`group.id`"), "{err}");
    }

    #[test]
    fn a_checkpoint_built_directly_is_the_serialized_one() {
        for partitions in [
            BTreeMap::new(),
            BTreeMap::from([(0, 0), (1, 98), (10, 1234), (2, i64::MAX), (-1, 5)]),
        ] {
            let serialized = serde_json::to_value(KafkaCheckpoint {
                topic: "wiki".into(),
                partitions: partitions.clone(),
            })
            .unwrap();
            let direct = KafkaCheckpoint::json_of("wiki", &partitions);
            assert_eq!(direct, serialized);
            assert_eq!(direct.to_string(), serialized.to_string());
        }
    }

    #[test]
    fn checkpoint_json_names_topic_and_partitions() {
        let value = json!({"topic": "t", "partitions": {"0": 12, "3": 7}});
        let checkpoint = KafkaCheckpoint::from_resume(Some(&value), "t").unwrap();
        assert_eq!(checkpoint.partitions[&3], 7);
        assert_eq!(serde_json::to_value(&checkpoint).unwrap(), value);
        assert!(KafkaCheckpoint::from_resume(Some(&value), "other").is_err());
    }
}
