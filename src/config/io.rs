//! `ioConfig`: the firehose that feeds a fire department and its plumber (reference §1.3).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::de;
use super::schema::ParserSpec;
use crate::time::{Interval, Period};

/// `ioConfig` (type `realtime`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IoConfig {
    /// Always `realtime`.
    #[serde(rename = "type", default = "default_realtime")]
    pub kind: String,
    /// Where events come from.
    pub firehose: FirehoseSpec,
    /// What builds and hands off segments.
    #[serde(default)]
    pub plumber: PlumberSpec,
}

fn default_realtime() -> String {
    "realtime".to_string()
}

/// `plumber`: Druid's `realtime` plumber, or its `flushing` variant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum PlumberSpec {
    /// Persist, merge, push, publish and hand off segments.
    #[default]
    Realtime,
    /// Persist and answer queries, never push: a sink whose window has passed is dropped (its
    /// files deleted) `flushDuration` later, and every sink at once when the input ends.
    #[serde(rename_all = "camelCase")]
    Flushing {
        /// How long a closed sink stays queryable (Druid's default `PT1H`).
        #[serde(default = "default_flush_duration")]
        flush_duration: Period,
    },
}

fn default_flush_duration() -> Period {
    Period {
        hours: 1,
        ..Period::default()
    }
}

/// The firehose types rtnode runs.
pub const FIREHOSE_TYPES: &[&str] = &[
    "local",
    "kafka",
    "kafka-0.8",
    "rabbitmq",
    "receiver",
    "timed",
    "clipped",
    "combining",
];

/// `firehose`: where events come from.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum FirehoseSpec {
    /// Files in a directory (or standard input).
    #[serde(rename = "local")]
    Local(LocalFirehose),
    /// Kafka through a consumer (group subscription or explicit partitions).
    #[serde(rename = "kafka")]
    Kafka(KafkaFirehose),
    /// Druid's legacy Kafka 0.8 firehose spec, run with the same consumer.
    #[serde(rename = "kafka-0.8")]
    Kafka08(Kafka08Firehose),
    /// A RabbitMQ queue.
    #[serde(rename = "rabbitmq")]
    RabbitMq(Box<RabbitMqFirehose>),
    /// Events pushed over HTTP.
    #[serde(rename = "receiver")]
    Receiver(ReceiverFirehose),
    /// A delegate that ends at `shutoffTime`.
    #[serde(rename = "timed")]
    Timed(TimedFirehose),
    /// A delegate whose rows outside `interval` are dropped.
    #[serde(rename = "clipped")]
    Clipped(ClippedFirehose),
    /// Several delegates read one after another.
    #[serde(rename = "combining")]
    Combining(CombiningFirehose),
}

/// `local` firehose.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalFirehose {
    /// Directory to read; `-` reads standard input.
    pub base_dir: String,
    /// Wildcard over file names (`*.json`, `events-?.gz`).
    #[serde(default = "default_filter")]
    pub filter: String,
    /// Overrides the data schema's parser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parser: Option<Box<ParserSpec>>,
}

fn default_filter() -> String {
    "*".to_string()
}

/// `kafka` firehose.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KafkaFirehose {
    /// librdkafka consumer properties (`bootstrap.servers`, `group.id`, …).
    #[serde(deserialize_with = "de::string_map")]
    pub consumer_properties: Map<String, Value>,
    /// Topic to read.
    pub topic: String,
    /// Explicit partition count for static assignment; absent means group subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<u32>,
    /// Poll timeout in milliseconds.
    #[serde(default = "default_poll_timeout_ms")]
    pub poll_timeout: u64,
    /// rtnode's addition: `"latest"` makes the input finite, ending at the offsets that were
    /// each partition's end when the firehose started (a replay or backfill of a topic: with
    /// `--exit-when-done` the node then merges, pushes, publishes and exits). Needs
    /// `partitions` (static assignment). Absent: the input never ends (Druid's behaviour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_offsets: Option<KafkaEndOffsets>,
}

fn default_poll_timeout_ms() -> u64 {
    100
}

/// Where a finite `kafka` input ends (`endOffsets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KafkaEndOffsets {
    /// Each partition's high watermark when the firehose starts.
    Latest,
}

/// Druid's legacy `kafka-0.8` firehose.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kafka08Firehose {
    /// Kafka 0.8 high-level consumer properties.
    #[serde(deserialize_with = "de::string_map")]
    pub consumer_props: Map<String, Value>,
    /// Topic to read.
    pub feed: String,
}

/// `rabbitmq` firehose.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RabbitMqFirehose {
    /// Connection settings (`connectionFactory` is accepted as Druid's legacy alias).
    #[serde(default, alias = "connectionFactory")]
    pub connection: RabbitMqConnection,
    /// Queue settings.
    pub config: RabbitMqConfig,
    /// Overrides the data schema's parser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parser: Option<Box<ParserSpec>>,
}

/// RabbitMQ connection settings (AMQP client defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RabbitMqConnection {
    /// Broker host.
    #[serde(default = "default_rabbit_host")]
    pub host: String,
    /// Broker port.
    #[serde(default = "default_rabbit_port", deserialize_with = "de::lenient_u64")]
    pub port: u64,
    /// User name.
    #[serde(default = "default_guest")]
    pub username: String,
    /// Password.
    #[serde(default = "default_guest")]
    pub password: String,
    /// Virtual host.
    #[serde(default = "default_vhost")]
    pub virtual_host: String,
    /// An `amqp://` URI that overrides the fields above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Requested channel max (0 = default).
    #[serde(default, deserialize_with = "de::lenient_u64")]
    pub requested_channel_max: u64,
    /// Requested frame max (0 = default).
    #[serde(default, deserialize_with = "de::lenient_u64")]
    pub requested_frame_max: u64,
    /// Requested heartbeat in seconds (0 = default).
    #[serde(default, deserialize_with = "de::lenient_u64")]
    pub requested_heartbeat: u64,
    /// Connection timeout in milliseconds (0 = default).
    #[serde(default, deserialize_with = "de::lenient_u64")]
    pub connection_timeout: u64,
    /// AMQP client properties.
    #[serde(default)]
    pub client_properties: Map<String, Value>,
}

fn default_rabbit_host() -> String {
    "localhost".to_string()
}
fn default_rabbit_port() -> u64 {
    5672
}
fn default_guest() -> String {
    "guest".to_string()
}
fn default_vhost() -> String {
    "/".to_string()
}

impl Default for RabbitMqConnection {
    fn default() -> Self {
        serde_json::from_value(Value::Object(Map::new())).expect("every field has a default")
    }
}

/// RabbitMQ queue settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RabbitMqConfig {
    /// Exchange to bind the queue to.
    #[serde(default)]
    pub exchange: Option<String>,
    /// Queue to consume.
    pub queue: String,
    /// Binding routing key.
    #[serde(default)]
    pub routing_key: Option<String>,
    /// Declare the queue durable.
    #[serde(default, deserialize_with = "de::lenient_bool")]
    pub durable: bool,
    /// Declare the queue exclusive.
    #[serde(default, deserialize_with = "de::lenient_bool")]
    pub exclusive: bool,
    /// Declare the queue auto-delete.
    #[serde(default, deserialize_with = "de::lenient_bool")]
    pub auto_delete: bool,
    /// Reconnect attempts before giving up (0 = the default 100).
    #[serde(default = "default_max_retries", deserialize_with = "de::lenient_u64")]
    pub max_retries: u64,
    /// Seconds between reconnect attempts (doubling up to `maxDurationSeconds`).
    #[serde(
        default = "default_retry_interval",
        deserialize_with = "de::lenient_u64"
    )]
    pub retry_interval_seconds: u64,
    /// Longest wait between reconnect attempts, seconds.
    #[serde(default = "default_max_duration", deserialize_with = "de::lenient_u64")]
    pub max_duration_seconds: u64,
}

fn default_max_retries() -> u64 {
    100
}
fn default_retry_interval() -> u64 {
    2
}
fn default_max_duration() -> u64 {
    300
}

/// `receiver` firehose.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiverFirehose {
    /// The `{serviceName}` of the push URL.
    pub service_name: String,
    /// Events buffered before pushes get HTTP 503.
    #[serde(default = "default_buffer_size")]
    pub buffer_size: u64,
}

fn default_buffer_size() -> u64 {
    100_000
}

/// `timed` firehose.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimedFirehose {
    /// ISO instant at which the input ends.
    pub shutoff_time: String,
    /// The wrapped firehose.
    pub delegate: Box<FirehoseSpec>,
}

/// `clipped` firehose.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClippedFirehose {
    /// The wrapped firehose.
    pub delegate: Box<FirehoseSpec>,
    /// Rows outside this interval are dropped.
    pub interval: Interval,
}

/// `combining` firehose.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CombiningFirehose {
    /// Firehoses read in order.
    pub delegates: Vec<FirehoseSpec>,
}

impl<'de> Deserialize<'de> for FirehoseSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        de::tagged(
            deserializer,
            "firehose",
            "type",
            None,
            |tag, body| {
                Some(match tag {
                    "local" => de::from_value_nested(body).map(FirehoseSpec::Local),
                    "kafka" => de::from_value_nested(body).map(FirehoseSpec::Kafka),
                    "kafka-0.8" => de::from_value_nested(body).map(FirehoseSpec::Kafka08),
                    "rabbitmq" => {
                        de::from_value_nested(body).map(|r| FirehoseSpec::RabbitMq(Box::new(r)))
                    }
                    "receiver" => de::from_value_nested(body).map(FirehoseSpec::Receiver),
                    "timed" => de::from_value_nested(body).map(FirehoseSpec::Timed),
                    "clipped" => de::from_value_nested(body).map(FirehoseSpec::Clipped),
                    "combining" => de::from_value_nested(body).map(FirehoseSpec::Combining),
                    _ => return None,
                })
            },
            FIREHOSE_TYPES,
        )
    }
}

impl FirehoseSpec {
    /// The Druid type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            FirehoseSpec::Local(_) => "local",
            FirehoseSpec::Kafka(_) => "kafka",
            FirehoseSpec::Kafka08(_) => "kafka-0.8",
            FirehoseSpec::RabbitMq(_) => "rabbitmq",
            FirehoseSpec::Receiver(_) => "receiver",
            FirehoseSpec::Timed(_) => "timed",
            FirehoseSpec::Clipped(_) => "clipped",
            FirehoseSpec::Combining(_) => "combining",
        }
    }
}
