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
//! delivery tag of the batch. Delivery tags belong to their channel: [`RabbitAcknowledger`] acks
//! a checkpoint only when its generation is the live one, so tags of a dead channel are never
//! sent on a new one (the broker redelivers those messages instead).
//!
//! Prefetch: `basic.qos(prefetch)` caps unacknowledged deliveries; since acks wait for
//! persists, the consumer would stall once the ingest loop holds `prefetch` events. When the
//! unacknowledged deliveries reach [`FLUSH_FRACTION`] of the prefetch the firehose sends
//! [`FirehoseMessage::Flush`] and waits for the committed checkpoint, then acks it. Keep
//! `intermediatePersistPeriod` below RabbitMQ's `consumer_timeout` (30 min by default), after
//! which the broker closes a channel with unacknowledged deliveries.
//!
//! Connection or channel loss is logged and retried with backoff: `retryIntervalSeconds`,
//! doubling up to `maxDurationSeconds`, at most `maxRetries` attempts in a row.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, Consumer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use super::{
    Acknowledger, BatchOrigin, EventBatch, FirehoseError, FirehoseMessage, MAX_BATCH_BYTES, to_json,
};
use crate::config::io::{RabbitMqConnection, RabbitMqFirehose as RabbitSpec};

/// Prefetch when the node does not choose one.
pub const DEFAULT_PREFETCH_COUNT: u16 = 10_000;

/// Share of the prefetch window, in quarters, at which the firehose asks for a flush.
pub const FLUSH_FRACTION: (u16, u16) = (3, 4);

/// Where a RabbitMQ firehose stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RabbitCheckpoint {
    /// Connection generation the delivery tag belongs to.
    pub channel: u64,
    /// Last delivery tag consumed.
    #[serde(rename = "deliveryTag")]
    pub delivery_tag: u64,
}

/// The live channel: acks go there only with its generation.
#[derive(Debug, Default)]
struct Live {
    generation: u64,
    channel: Option<Channel>,
    acked_tag: u64,
}

/// A configured RabbitMQ firehose.
#[derive(Debug, Clone)]
pub struct RabbitMqFirehose {
    spec: RabbitSpec,
    prefetch_count: u16,
}

impl RabbitMqFirehose {
    /// A firehose over `spec` with `basic.qos(prefetch_count)`.
    pub fn new(spec: &RabbitSpec, prefetch_count: u16) -> RabbitMqFirehose {
        RabbitMqFirehose {
            spec: spec.clone(),
            prefetch_count: prefetch_count.max(4),
        }
    }

    /// The prefetch window.
    pub fn prefetch_count(&self) -> u16 {
        self.prefetch_count
    }

    /// Starts consuming on `runtime`; `resume` only sets the first generation above the
    /// recorded one (the broker redelivers what was not acknowledged).
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
        let live = Arc::new(Mutex::new(Live {
            generation: last_generation,
            ..Live::default()
        }));
        let (ack_tx, ack_rx) = watch::channel(RabbitCheckpoint::default());
        let acknowledger = Arc::new(RabbitAcknowledger { requests: ack_tx });
        runtime.spawn(ack_worker(live.clone(), ack_rx));
        let reader = Reader {
            uri: connection_uri(&self.spec.connection),
            spec: self.spec,
            prefetch_count: self.prefetch_count,
            live,
            tx,
            acknowledger: acknowledger.clone(),
        };
        Ok((runtime.spawn(reader.run()), acknowledger))
    }
}

/// Acks checkpoints on the live channel, in order, one at a time.
#[derive(Debug)]
pub struct RabbitAcknowledger {
    requests: watch::Sender<RabbitCheckpoint>,
}

impl Acknowledger for RabbitAcknowledger {
    fn acknowledge(&self, checkpoint: &Value) {
        let Ok(checkpoint) = serde_json::from_value::<RabbitCheckpoint>(checkpoint.clone()) else {
            tracing::warn!("rabbitmq acknowledge: `{checkpoint}` is not a rabbitmq checkpoint");
            return;
        };
        self.requests.send_if_modified(|latest| {
            let newer = (checkpoint.channel, checkpoint.delivery_tag)
                > (latest.channel, latest.delivery_tag);
            if newer {
                *latest = checkpoint;
            }
            newer
        });
    }
}

async fn ack_worker(live: Arc<Mutex<Live>>, mut requests: watch::Receiver<RabbitCheckpoint>) {
    while requests.changed().await.is_ok() {
        let request = *requests.borrow_and_update();
        let channel = {
            let mut live = live.lock().expect("live lock");
            if request.channel != live.generation || request.delivery_tag <= live.acked_tag {
                if request.channel != live.generation {
                    tracing::debug!(
                        ?request,
                        live = live.generation,
                        "rabbitmq ack of a dead channel ignored"
                    );
                }
                continue;
            }
            live.acked_tag = request.delivery_tag;
            live.channel.clone()
        };
        if let Some(channel) = channel {
            let options = BasicAckOptions { multiple: true };
            if let Err(e) = channel.basic_ack(request.delivery_tag, options).await {
                tracing::warn!(
                    ?request,
                    "rabbitmq ack failed (the broker will redeliver): {e}"
                );
            }
        }
    }
}

/// The consuming task.
struct Reader {
    spec: RabbitSpec,
    uri: String,
    prefetch_count: u16,
    live: Arc<Mutex<Live>>,
    tx: mpsc::Sender<FirehoseMessage>,
    acknowledger: Arc<RabbitAcknowledger>,
}

/// Why a consuming session ended.
enum SessionEnd {
    /// The ingest loop went away.
    Stopped,
    /// The connection or channel was lost (retry).
    Lost(String),
}

impl Reader {
    async fn run(self) {
        let max_retries = match self.spec.config.max_retries {
            0 => 100,
            n => n,
        };
        let mut failures = 0u64;
        loop {
            let outcome = match self.connect().await {
                Ok((connection, consumer, generation)) => {
                    failures = 0;
                    let end = self.consume(consumer, generation).await;
                    self.live.lock().expect("live lock").channel = None;
                    let _ = connection.close(200, "rtnode firehose stops".into()).await;
                    end
                }
                Err(e) => SessionEnd::Lost(e),
            };
            let SessionEnd::Lost(reason) = outcome else {
                return;
            };
            failures += 1;
            if failures > max_retries {
                let message = format!(
                    "rabbitmq queue `{}`: giving up after {max_retries} reconnect attempts: {reason}",
                    self.spec.config.queue
                );
                let _ = self.tx.send(FirehoseMessage::Failed(message)).await;
                return;
            }
            let delay = self.backoff(failures);
            tracing::warn!(queue = %self.spec.config.queue, attempt = failures, ?delay, "rabbitmq connection lost: {reason}; reconnecting");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.tx.closed() => return,
            }
        }
    }

    fn backoff(&self, failures: u64) -> Duration {
        let base = self.spec.config.retry_interval_seconds.max(1);
        let cap = self.spec.config.max_duration_seconds.max(base);
        let secs = base.saturating_mul(1 << (failures - 1).min(16)).min(cap);
        Duration::from_secs(secs)
    }

    /// Connects, declares and binds, and starts the consumer; returns the new generation.
    async fn connect(&self) -> Result<(Connection, Consumer, u64), String> {
        let config = &self.spec.config;
        let connection = Connection::connect(&self.uri, ConnectionProperties::default())
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| format!("channel: {e}"))?;
        channel
            .basic_qos(self.prefetch_count, BasicQosOptions::default())
            .await
            .map_err(|e| format!("basic.qos: {e}"))?;
        let options = QueueDeclareOptions {
            durable: config.durable,
            exclusive: config.exclusive,
            auto_delete: config.auto_delete,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(config.queue.as_str().into(), options, FieldTable::default())
            .await
            .map_err(|e| format!("queue.declare `{}`: {e}", config.queue))?;
        if let Some(exchange) = config.exchange.as_deref().filter(|e| !e.is_empty()) {
            let key = config.routing_key.clone().unwrap_or_default();
            channel
                .queue_bind(
                    config.queue.as_str().into(),
                    exchange.into(),
                    key.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| format!("queue.bind `{}` to `{exchange}`: {e}", config.queue))?;
        }
        let consumer = channel
            .basic_consume(
                config.queue.as_str().into(),
                format!("rtnode-{}", config.queue).into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("basic.consume: {e}"))?;
        let generation = {
            let mut live = self.live.lock().expect("live lock");
            live.generation += 1;
            live.channel = Some(channel);
            live.acked_tag = 0;
            live.generation
        };
        tracing::info!(queue = %config.queue, generation, prefetch = self.prefetch_count, "rabbitmq consumer started");
        Ok((connection, consumer, generation))
    }

    /// Reads deliveries into batches until the session ends.
    async fn consume(&self, mut consumer: Consumer, generation: u64) -> SessionEnd {
        let flush_at = u64::from(self.prefetch_count) * u64::from(FLUSH_FRACTION.0)
            / u64::from(FLUSH_FRACTION.1);
        let mut last_flush_tag = 0u64;
        loop {
            let first = tokio::select! {
                delivery = consumer.next() => delivery,
                _ = self.tx.closed() => return SessionEnd::Stopped,
            };
            let mut batch = BatchBuilder::new(generation);
            match first {
                Some(Ok(delivery)) => batch.push(&delivery.data, delivery.delivery_tag),
                Some(Err(e)) => return SessionEnd::Lost(e.to_string()),
                None => return SessionEnd::Lost("the consumer was cancelled".into()),
            }
            // Take what is already buffered, without waiting, up to the batch limit.
            while !batch.is_full() {
                match consumer.next().now_or_never() {
                    Some(Some(Ok(delivery))) => batch.push(&delivery.data, delivery.delivery_tag),
                    Some(Some(Err(e))) => return SessionEnd::Lost(e.to_string()),
                    Some(None) => return SessionEnd::Lost("the consumer was cancelled".into()),
                    None => break,
                }
            }
            let last_tag = batch.last_tag;
            if self
                .tx
                .send(FirehoseMessage::Batch(batch.finish()))
                .await
                .is_err()
            {
                return SessionEnd::Stopped;
            }
            let acked = self.live.lock().expect("live lock").acked_tag;
            if last_tag - acked >= flush_at && last_tag - last_flush_tag >= flush_at / 3 {
                last_flush_tag = last_tag;
                if !self.flush().await {
                    return SessionEnd::Stopped;
                }
            }
        }
    }

    /// Asks the ingest loop to persist and acks the committed checkpoint it answers with.
    /// Returns false when the ingest loop is gone: it may close its receiver with the `Flush`
    /// still queued, and then the reply is neither sent nor dropped until the receiver is, so
    /// the wait also ends when the receiver closes.
    async fn flush(&self) -> bool {
        let (reply_tx, reply_rx) = oneshot::channel();
        if self
            .tx
            .send(FirehoseMessage::Flush(reply_tx))
            .await
            .is_err()
        {
            return false;
        }
        let reply = tokio::select! {
            biased;
            reply = reply_rx => reply,
            _ = self.tx.closed() => return false,
        };
        match reply {
            Ok(checkpoint) => self.acknowledger.acknowledge(&checkpoint),
            Err(_) => {
                tracing::warn!(queue = %self.spec.config.queue, "rabbitmq: the ingest loop did not flush; the consumer waits for the next persist (prefetch window full)")
            }
        }
        true
    }
}

/// Deliveries of one batch.
struct BatchBuilder {
    generation: u64,
    data: Vec<u8>,
    spans: Vec<(u32, u32)>,
    first_tag: u64,
    last_tag: u64,
}

impl BatchBuilder {
    fn new(generation: u64) -> Self {
        BatchBuilder {
            generation,
            data: Vec::new(),
            spans: Vec::new(),
            first_tag: 0,
            last_tag: 0,
        }
    }

    fn push(&mut self, payload: &[u8], tag: u64) {
        if self.spans.is_empty() {
            self.first_tag = tag;
        }
        debug_assert!(
            self.spans.is_empty() || tag == self.last_tag + 1,
            "delivery tags of one channel are consecutive"
        );
        let start = self.data.len() as u32;
        self.data.extend_from_slice(payload);
        self.spans.push((start, self.data.len() as u32));
        self.last_tag = tag;
    }

    fn is_full(&self) -> bool {
        self.data.len() >= MAX_BATCH_BYTES
    }

    fn finish(self) -> EventBatch {
        EventBatch {
            data: self.data,
            spans: self.spans,
            origin: BatchOrigin::DeliveryTags {
                channel: self.generation,
                first_tag: self.first_tag,
            },
            checkpoint: to_json(&RabbitCheckpoint {
                channel: self.generation,
                delivery_tag: self.last_tag,
            }),
            clip: None,
        }
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
