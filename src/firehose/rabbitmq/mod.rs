//! The `rabbitmq` firehose (Druid's `RabbitMQFirehoseFactory`): a lapin consumer on one queue,
//! declared `(durable, exclusive, autoDelete)` and bound to `exchange` with `routingKey`.
//!
//! **At-least-once.** RabbitMQ has no offsets: deliveries are acknowledged
//! (`basic.ack(deliveryTag, multiple=true)`) only after the commit record that covers them, and
//! whatever was delivered but not acknowledged when the node or the connection dies is delivered
//! again. Rolled-up metrics may therefore count a replayed event twice.
//!
//! Checkpoint: `{"channel": G, "deliveryTag": N}`, where `G` is the connection generation (one
//! per (re)connection; a restarted node continues above the recorded one) and `N` the last
//! delivery tag of the batch. Delivery tags belong to their channel: each connection has its
//! own ack worker (`ack.rs`) holding that connection's channel and acking only checkpoints of its
//! generation, so tags of a dead channel are never sent on a new one (the broker redelivers
//! those messages instead).
//!
//! Prefetch: `basic.qos(prefetch)` caps unacknowledged deliveries; since acks wait for
//! persists, the consumer would stall once the ingest loop holds `prefetch` events. When the
//! unacknowledged deliveries reach [`FLUSH_FRACTION`] of the prefetch the firehose sends
//! [`FirehoseMessage::Flush`](super::FirehoseMessage::Flush) and waits for the committed
//! checkpoint (or for the ingest loop to go away), then acks it. It asks the same when
//! deliveries have stayed unacknowledged for [`MAX_UNACKED_AGE`] (15 min), whatever the
//! `intermediatePersistPeriod`: RabbitMQ's `consumer_timeout` (30 min by default) closes a
//! channel with a delivery unacknowledged longer, and redelivers everything.
//!
//! **Stop.** Closing (or dropping) the receiver stops the firehose. The ingest loop acknowledges
//! its last commit before it lets the receiver go, so a stopping session (`session.rs`) first
//! lets its ack worker send the ack of the latest checkpoint, then closes the channel: the
//! broker answers `channel.close-ok` only after it has applied every method sent before on that
//! channel, so the acks are confirmed. Deliveries past the last commit go back to the queue.
//! The whole stop is bounded by [`STOP_TIMEOUT`]: with a broker that does not answer the
//! firehose gives up (logged) and the unconfirmed deliveries are redelivered, never lost.
//!
//! Connection or channel loss is logged and retried with backoff: `retryIntervalSeconds`,
//! doubling up to `maxDurationSeconds`, at most `maxRetries` attempts in a row.

mod ack;
mod batch;
mod reader;
mod session;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::{FirehoseError, FirehoseMessage};
use crate::config::io::{RabbitMqConnection, RabbitMqFirehose as RabbitSpec};

pub use ack::RabbitAcknowledger;

/// Prefetch when the node does not choose one.
pub const DEFAULT_PREFETCH_COUNT: u16 = 10_000;

/// Share of the prefetch window, in quarters, at which the firehose asks for a flush.
pub const FLUSH_FRACTION: (u16, u16) = (3, 4);

/// How long a stopping firehose may take to send and confirm the acks of the last commit and
/// close its connection (the node waits 15 s for a stopping firehose).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a RabbitMQ firehose stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RabbitCheckpoint {
    /// Connection generation the delivery tag belongs to.
    pub channel: u64,
    /// Last delivery tag consumed.
    #[serde(rename = "deliveryTag")]
    pub delivery_tag: u64,
}

/// Why a consuming session could not start, or ended.
#[derive(Debug, thiserror::Error)]
enum RabbitError {
    /// A step of opening a session failed (`connect`, `channel`, `basic.qos`, …).
    #[error("{step}: {source}")]
    Setup {
        /// The step, with the queue or exchange it names.
        step: String,
        /// The broker's or the client's error.
        source: lapin::Error,
    },
    /// The consumer's stream failed (the connection or the channel was lost).
    #[error("delivery: {0}")]
    Delivery(#[source] lapin::Error),
    /// The broker cancelled the consumer (the queue was deleted, for one).
    #[error("the consumer was cancelled")]
    Cancelled,
}

impl RabbitError {
    fn setup(step: impl Into<String>) -> impl FnOnce(lapin::Error) -> RabbitError {
        let step = step.into();
        move |source| RabbitError::Setup { step, source }
    }
}

/// Deliveries left unacknowledged this long are flushed (persisted, committed, acked) even when
/// the prefetch window is far from full: RabbitMQ (3.8.15+) closes a channel whose delivery
/// stays unacknowledged past `consumer_timeout` (default 30 minutes), and everything unacked
/// would be redelivered, again and again, with an `intermediatePersistPeriod` that long.
pub const MAX_UNACKED_AGE: Duration = Duration::from_secs(15 * 60);

/// A configured RabbitMQ firehose.
#[derive(Debug, Clone)]
pub struct RabbitMqFirehose {
    spec: RabbitSpec,
    prefetch_count: u16,
    max_unacked_age: Duration,
}

impl RabbitMqFirehose {
    /// A firehose over `spec` with `basic.qos(prefetch_count)`.
    pub fn new(spec: &RabbitSpec, prefetch_count: u16) -> RabbitMqFirehose {
        RabbitMqFirehose {
            spec: spec.clone(),
            prefetch_count: prefetch_count.max(4),
            max_unacked_age: MAX_UNACKED_AGE,
        }
    }

    /// Sets how long deliveries may stay unacknowledged before a flush is asked for.
    pub fn with_max_unacked_age(mut self, age: Duration) -> RabbitMqFirehose {
        self.max_unacked_age = age;
        self
    }

    /// The prefetch window.
    pub fn prefetch_count(&self) -> u16 {
        self.prefetch_count
    }

    /// Starts consuming on `runtime`; `resume` only sets the first generation above the
    /// recorded one (the broker redelivers what was not acknowledged). The task ends once the
    /// receiver of `tx` is closed and the last acks are confirmed (at most [`STOP_TIMEOUT`]).
    pub fn spawn(
        self,
        runtime: &tokio::runtime::Handle,
        resume: Option<Value>,
        tx: mpsc::Sender<FirehoseMessage>,
    ) -> Result<(tokio::task::JoinHandle<()>, Arc<RabbitAcknowledger>), FirehoseError> {
        let last_generation = match resume {
            Some(v) => {
                serde_json::from_value::<RabbitCheckpoint>(v.clone())
                    .map_err(|e| FirehoseError::BadCheckpoint(format!("{v}: {e}")))?
                    .channel
            }
            None => 0,
        };
        let (requests, _) = watch::channel(RabbitCheckpoint::default());
        let acknowledger = Arc::new(RabbitAcknowledger::new(requests));
        let reader = reader::Reader {
            uri: connection_uri(&self.spec.connection),
            spec: self.spec,
            prefetch_count: self.prefetch_count,
            generation: last_generation,
            tx,
            acknowledger: acknowledger.clone(),
            max_unacked_age: self.max_unacked_age,
        };
        Ok((runtime.spawn(reader.run()), acknowledger))
    }
}

/// The `amqp://` URI of the connection settings (`uri` wins when set).
pub fn connection_uri(connection: &RabbitMqConnection) -> String {
    if let Some(uri) = connection.uri.as_deref().filter(|u| !u.is_empty()) {
        return uri.to_string();
    }
    let encode = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let mut query = Vec::new();
    for (name, value) in [
        ("heartbeat", connection.requested_heartbeat),
        ("frame_max", connection.requested_frame_max),
        ("channel_max", connection.requested_channel_max),
        ("connection_timeout", connection.connection_timeout),
    ] {
        if value > 0 {
            query.push(format!("{name}={value}"));
        }
    }
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    format!(
        "amqp://{}:{}@{}:{}/{}{query}",
        encode(&connection.username),
        encode(&connection.password),
        connection.host,
        connection.port,
        encode(&connection.virtual_host),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firehose::to_json;

    #[test]
    fn uri_encodes_credentials_and_default_vhost() {
        let mut connection = RabbitMqConnection {
            password: "p@ss".into(),
            requested_heartbeat: 30,
            ..Default::default()
        };
        assert_eq!(
            connection_uri(&connection),
            "amqp://guest:p%40ss@localhost:5672/%2F?heartbeat=30"
        );
        connection.uri = Some("amqp://h/v".into());
        assert_eq!(connection_uri(&connection), "amqp://h/v");
    }

    #[test]
    fn checkpoint_json_has_channel_and_delivery_tag() {
        let value = to_json(&RabbitCheckpoint {
            channel: 2,
            delivery_tag: 17,
        });
        assert_eq!(value, serde_json::json!({"channel": 2, "deliveryTag": 17}));
    }
}
