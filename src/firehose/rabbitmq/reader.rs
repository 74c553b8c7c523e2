//! [`Reader`]: the consuming task. It opens a [`Session`], reads deliveries into batches, asks
//! for a flush when the prefetch window fills, and reconnects with backoff when the connection
//! is lost; it ends when the ingest loop closes its receiver.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::batch::BatchBuilder;
use super::session::Session;
use super::{FLUSH_FRACTION, RabbitAcknowledger, RabbitError};
use crate::config::io::RabbitMqFirehose as RabbitSpec;
use crate::firehose::{Acknowledger, FirehoseMessage};

/// The consuming task.
pub(super) struct Reader {
    pub(super) spec: RabbitSpec,
    pub(super) uri: String,
    pub(super) prefetch_count: u16,
    /// The generation of the last session (the recorded one before the first).
    pub(super) generation: u64,
    pub(super) tx: mpsc::Sender<FirehoseMessage>,
    pub(super) acknowledger: Arc<RabbitAcknowledger>,
    /// Deliveries unacknowledged this long are flushed even with the prefetch window far from
    /// full (see [`super::MAX_UNACKED_AGE`]).
    pub(super) max_unacked_age: Duration,
}

/// Why a consuming session ended.
enum SessionEnd {
    /// The ingest loop went away.
    Stopped,
    /// The connection or channel was lost (retry).
    Lost(RabbitError),
}

impl Reader {
    pub(super) async fn run(mut self) {
        let mut failures = 0u64;
        loop {
            let opening = Session::open(
                &self.uri,
                &self.spec.config,
                self.prefetch_count,
                self.generation + 1,
                &self.acknowledger,
            );
            let opened = tokio::select! {
                opened = opening => opened,
                _ = self.tx.closed() => return,
            };
            let reason = match opened {
                Ok(session) => {
                    failures = 0;
                    match self.run_session(session).await {
                        SessionEnd::Stopped => return,
                        SessionEnd::Lost(reason) => reason,
                    }
                }
                Err(reason) => reason,
            };
            failures += 1;
            if !self.wait_to_retry(failures, reason).await {
                return;
            }
        }
    }

    /// Consumes until the session ends, then ends it (gracefully when the ingest loop stopped).
    async fn run_session(&mut self, mut session: Session) -> SessionEnd {
        self.generation = session.generation;
        let queue = self.spec.config.queue.as_str();
        tracing::info!(
            queue,
            generation = session.generation,
            prefetch = self.prefetch_count,
            "rabbitmq consumer started"
        );
        let end = self.consume(&mut session).await;
        match &end {
            SessionEnd::Stopped => session.stop(queue).await,
            SessionEnd::Lost(_) => session.abandon(queue).await,
        }
        end
    }

    /// Waits the backoff before reconnect attempt `failures + 1`; false when the firehose should
    /// end instead (too many failures, reported to the ingest loop, or the loop went away).
    async fn wait_to_retry(&self, failures: u64, reason: RabbitError) -> bool {
        let queue = self.spec.config.queue.as_str();
        let max_retries = match self.spec.config.max_retries {
            0 => 100,
            n => n,
        };
        if failures > max_retries {
            let message = format!(
                "rabbitmq queue `{queue}`: giving up after {max_retries} reconnect attempts: {reason}"
            );
            let _ = self.tx.send(FirehoseMessage::Failed(message)).await;
            return false;
        }
        let delay = self.backoff(failures);
        tracing::warn!(queue, attempt = failures, ?delay, error = %reason, "rabbitmq connection lost; reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = self.tx.closed() => false,
        }
    }

    fn backoff(&self, failures: u64) -> Duration {
        let base = self.spec.config.retry_interval_seconds.max(1);
        let cap = self.spec.config.max_duration_seconds.max(base);
        let secs = base.saturating_mul(1 << (failures - 1).min(16)).min(cap);
        Duration::from_secs(secs)
    }

    /// Reads deliveries into batches until the session ends.
    async fn consume(&self, session: &mut Session) -> SessionEnd {
        let flush_at = u64::from(self.prefetch_count) * u64::from(FLUSH_FRACTION.0)
            / u64::from(FLUSH_FRACTION.1);
        let mut last_flush_tag = 0u64;
        let mut last_tag = 0u64;
        // When the oldest delivery not acknowledged yet was passed on (`None`: all acked).
        let mut unacked_since: Option<Instant> = None;
        loop {
            if last_tag <= session.acker.acked_tag() {
                unacked_since = None;
            }
            let Some(next) = self.next_batch_before_aged(session, unacked_since).await else {
                tracing::info!(queue = %self.spec.config.queue, unacked = last_tag - session.acker.acked_tag().min(last_tag), max_unacked_age_s = self.max_unacked_age.as_secs(), "rabbitmq: deliveries unacknowledged too long; asking for a persist before the broker's consumer_timeout closes the channel");
                if !self.flush().await {
                    return SessionEnd::Stopped;
                }
                unacked_since = Some(Instant::now());
                continue;
            };
            let batch = match next {
                Ok(batch) => batch,
                Err(end) => return end,
            };
            last_tag = batch.last_tag();
            if self
                .tx
                .send(FirehoseMessage::Batch(batch.finish()))
                .await
                .is_err()
            {
                return SessionEnd::Stopped;
            }
            let unacked = last_tag - session.acker.acked_tag().min(last_tag);
            if unacked > 0 && unacked_since.is_none() {
                unacked_since = Some(Instant::now());
            }
            if unacked >= flush_at && last_tag - last_flush_tag >= flush_at / 3 {
                last_flush_tag = last_tag;
                if !self.flush().await {
                    return SessionEnd::Stopped;
                }
            }
        }
    }

    /// [`Reader::next_batch`], or `None` once deliveries unacknowledged since `unacked_since`
    /// reach `max_unacked_age` first (`next_batch` only waits before taking its first delivery,
    /// so giving up takes nothing).
    async fn next_batch_before_aged(
        &self,
        session: &mut Session,
        unacked_since: Option<Instant>,
    ) -> Option<Result<BatchBuilder, SessionEnd>> {
        match unacked_since {
            Some(since) => {
                let aged_at = since + self.max_unacked_age;
                tokio::time::timeout_at(aged_at.into(), self.next_batch(session))
                    .await
                    .ok()
            }
            None => Some(self.next_batch(session).await),
        }
    }

    /// Waits for a delivery, then takes what is already buffered, without waiting, up to the
    /// batch limit.
    async fn next_batch(&self, session: &mut Session) -> Result<BatchBuilder, SessionEnd> {
        let first = tokio::select! {
            delivery = session.consumer.next() => delivery,
            _ = self.tx.closed() => return Err(SessionEnd::Stopped),
        };
        let mut batch = BatchBuilder::new(session.generation);
        push(&mut batch, first)?;
        while !batch.is_full() {
            match session.consumer.next().now_or_never() {
                Some(delivery) => push(&mut batch, delivery)?,
                None => break,
            }
        }
        Ok(batch)
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
            Ok(Value::Null) => {} // nothing committed yet
            Ok(checkpoint) => self.acknowledger.acknowledge(&checkpoint),
            Err(_) => {
                tracing::warn!(queue = %self.spec.config.queue, "rabbitmq: the ingest loop did not flush; the consumer waits for the next persist (prefetch window full)")
            }
        }
        true
    }
}

/// Adds one delivery of the consumer's stream to `batch`.
fn push(
    batch: &mut BatchBuilder,
    delivery: Option<Result<Delivery, lapin::Error>>,
) -> Result<(), SessionEnd> {
    match delivery {
        Some(Ok(delivery)) => {
            batch.push(&delivery.data, delivery.delivery_tag);
            Ok(())
        }
        Some(Err(e)) => Err(SessionEnd::Lost(RabbitError::Delivery(e))),
        None => Err(SessionEnd::Lost(RabbitError::Cancelled)),
    }
}
