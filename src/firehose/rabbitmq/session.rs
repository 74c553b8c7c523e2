//! [`Session`]: one connection, its channel and consumer, and the ack worker of its generation;
//! opened by [`Session::open`], ended by [`Session::stop`] (graceful: the last acks are sent and
//! confirmed) or [`Session::abandon`] (the connection is lost: nothing can be acked any more).

use lapin::options::{BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, Consumer};
use tokio::time::{Duration, Instant};

use super::ack::{AckWorkerHandle, RabbitAcknowledger};
use super::{RabbitError, STOP_TIMEOUT};
use crate::config::io::RabbitMqConfig;

/// How long closing a lost connection may take (it is usually closed already).
const ABANDON_TIMEOUT: Duration = Duration::from_secs(1);

/// AMQP reply code of a normal close.
const REPLY_SUCCESS: u16 = 200;

/// A consuming connection.
pub(super) struct Session {
    connection: Connection,
    channel: Channel,
    pub(super) consumer: Consumer,
    /// The connection generation (checkpoint `channel`).
    pub(super) generation: u64,
    pub(super) acker: AckWorkerHandle,
}

impl Session {
    /// Connects, declares and binds the queue, sets the prefetch, starts the consumer and its
    /// ack worker.
    pub(super) async fn open(
        uri: &str,
        config: &RabbitMqConfig,
        prefetch_count: u16,
        generation: u64,
        acknowledger: &RabbitAcknowledger,
    ) -> Result<Session, RabbitError> {
        let connection = Connection::connect(uri, ConnectionProperties::default())
            .await
            .map_err(RabbitError::setup("connect"))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(RabbitError::setup("channel"))?;
        channel
            .basic_qos(prefetch_count, BasicQosOptions::default())
            .await
            .map_err(RabbitError::setup("basic.qos"))?;
        declare_and_bind(&channel, config).await?;
        let consumer = channel
            .basic_consume(
                config.queue.as_str().into(),
                format!("rtnode-{}", config.queue).into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(RabbitError::setup("basic.consume"))?;
        let acker = AckWorkerHandle::spawn(acknowledger, channel.clone(), generation);
        Ok(Session {
            connection,
            channel,
            consumer,
            generation,
            acker,
        })
    }

    /// Ends a session whose ingest loop stopped, within [`STOP_TIMEOUT`]: the ack worker sends
    /// the ack of the last commit, `channel.close-ok` confirms the broker applied it (and
    /// returns every later delivery to the queue), then the connection closes.
    pub(super) async fn stop(self, queue: &str) {
        let deadline = Instant::now() + STOP_TIMEOUT;
        let generation = self.generation;
        match self.acker.finish(deadline).await {
            Some(acked_tag) => {
                confirm_acks(&self.channel, deadline, queue, generation, acked_tag).await;
            }
            None => tracing::warn!(
                queue,
                generation,
                timeout = ?STOP_TIMEOUT,
                "rabbitmq: the ack of the last commit was not sent in time; the broker will redeliver"
            ),
        }
        drop(self.consumer);
        close_connection(self.connection, deadline, queue, generation).await;
    }

    /// Ends a session whose connection or channel was lost: its delivery tags are dead, so the
    /// ack worker stops without sending anything more.
    pub(super) async fn abandon(self, queue: &str) {
        self.acker.abort();
        drop(self.consumer);
        drop(self.channel);
        let deadline = Instant::now() + ABANDON_TIMEOUT;
        close_connection(self.connection, deadline, queue, self.generation).await;
    }
}

async fn declare_and_bind(channel: &Channel, config: &RabbitMqConfig) -> Result<(), RabbitError> {
    let options = QueueDeclareOptions {
        durable: config.durable,
        exclusive: config.exclusive,
        auto_delete: config.auto_delete,
        ..QueueDeclareOptions::default()
    };
    let queue = config.queue.as_str();
    channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await
        .map_err(RabbitError::setup(format!("queue.declare `{queue}`")))?;
    let Some(exchange) = config.exchange.as_deref().filter(|e| !e.is_empty()) else {
        return Ok(());
    };
    let key = config.routing_key.clone().unwrap_or_default();
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(RabbitError::setup(format!(
            "queue.bind `{queue}` to `{exchange}`"
        )))?;
    Ok(())
}

/// Closes `channel` and waits for `channel.close-ok` until `deadline`: the broker applies the
/// methods of a channel in order, so the answer confirms every ack sent before.
async fn confirm_acks(
    channel: &Channel,
    deadline: Instant,
    queue: &str,
    generation: u64,
    acked_tag: u64,
) {
    let closing = channel.close(REPLY_SUCCESS, "rtnode firehose stops".into());
    match tokio::time::timeout_at(deadline, closing).await {
        Ok(Ok(())) => tracing::info!(
            queue,
            generation,
            acked_tag,
            "rabbitmq consumer stopped; acks confirmed"
        ),
        Ok(Err(e)) => tracing::warn!(
            queue,
            generation,
            acked_tag,
            error = %e,
            "rabbitmq: closing the channel failed; unconfirmed acks may be redelivered"
        ),
        Err(_) => tracing::warn!(
            queue,
            generation,
            acked_tag,
            timeout = ?STOP_TIMEOUT,
            "rabbitmq: the broker did not confirm the channel close in time; unconfirmed acks may be redelivered"
        ),
    }
}

/// Closes `connection`, waiting for `connection.close-ok` until `deadline` at most (closing a
/// lost connection fails at once).
async fn close_connection(connection: Connection, deadline: Instant, queue: &str, generation: u64) {
    let closing = connection.close(REPLY_SUCCESS, "rtnode firehose stops".into());
    match tokio::time::timeout_at(deadline, closing).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(queue, generation, error = %e, "rabbitmq connection close"),
        Err(_) => tracing::warn!(
            queue,
            generation,
            "rabbitmq: the broker did not confirm the connection close in time"
        ),
    }
}
