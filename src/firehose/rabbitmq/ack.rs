//! Acknowledgements: [`RabbitAcknowledger`] keeps the latest committed checkpoint (a `watch`
//! slot: a newer checkpoint replaces an older one, `multiple=true` acks cover the older one),
//! and each connection runs one [`AckWorker`] that sends the acks of its own generation on its
//! own channel, in order, one at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lapin::Channel;
use lapin::options::BasicAckOptions;
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::RabbitCheckpoint;
use crate::firehose::Acknowledger;

/// Takes the checkpoints the plumber committed; never blocks.
#[derive(Debug)]
pub struct RabbitAcknowledger {
    /// The newest checkpoint asked for (one slot, replaced by newer ones).
    requests: watch::Sender<RabbitCheckpoint>,
}

impl RabbitAcknowledger {
    pub(super) fn new(requests: watch::Sender<RabbitCheckpoint>) -> RabbitAcknowledger {
        RabbitAcknowledger { requests }
    }
}

impl Acknowledger for RabbitAcknowledger {
    fn acknowledge(&self, checkpoint: &Value) {
        let Ok(checkpoint) = serde_json::from_value::<RabbitCheckpoint>(checkpoint.clone()) else {
            tracing::warn!(%checkpoint, "rabbitmq acknowledge: not a rabbitmq checkpoint");
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

/// Sends the acks of one connection generation on that connection's channel.
struct AckWorker {
    generation: u64,
    channel: Channel,
    requests: watch::Receiver<RabbitCheckpoint>,
    /// The last delivery tag whose `basic.ack` was written to the connection.
    acked_tag: Arc<AtomicU64>,
}

/// The running [`AckWorker`] of a session.
pub(super) struct AckWorkerHandle {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    acked_tag: Arc<AtomicU64>,
}

impl AckWorkerHandle {
    /// Starts acking the checkpoints of `generation` on `channel` (on the current runtime).
    pub(super) fn spawn(
        acknowledger: &RabbitAcknowledger,
        channel: Channel,
        generation: u64,
    ) -> AckWorkerHandle {
        let acked_tag = Arc::new(AtomicU64::new(0));
        let worker = AckWorker {
            generation,
            channel,
            requests: acknowledger.requests.subscribe(),
            acked_tag: acked_tag.clone(),
        };
        let (stop, stopped) = oneshot::channel();
        AckWorkerHandle {
            stop,
            task: tokio::spawn(worker.run(stopped)),
            acked_tag,
        }
    }

    /// The last delivery tag acked on the channel.
    pub(super) fn acked_tag(&self) -> u64 {
        self.acked_tag.load(Ordering::Acquire)
    }

    /// Lets the worker send the ack of the latest checkpoint (when it is of this generation)
    /// and stop. Returns the last tag acked, or `None` when it did not finish by `deadline` (it
    /// is then aborted: whatever it did not send is redelivered).
    pub(super) async fn finish(self, deadline: Instant) -> Option<u64> {
        let _ = self.stop.send(());
        let mut task = self.task;
        match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(_) => Some(self.acked_tag.load(Ordering::Acquire)),
            Err(_) => {
                task.abort();
                None
            }
        }
    }

    /// Stops the worker at once: its channel is dead, nothing more can be acked on it.
    pub(super) fn abort(self) {
        self.task.abort();
    }
}

impl AckWorker {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        loop {
            tokio::select! {
                biased;
                changed = self.requests.changed() => {
                    if changed.is_err() {
                        return; // the acknowledger is gone: nothing more will be committed
                    }
                    self.ack_latest().await;
                }
                _ = &mut stop => {
                    self.ack_latest().await;
                    return;
                }
            }
        }
    }

    /// Acks the latest checkpoint when it is of this generation and newer than the last ack.
    async fn ack_latest(&mut self) {
        let request = *self.requests.borrow_and_update();
        if request.channel != self.generation {
            if request.channel != 0 {
                tracing::debug!(
                    channel = request.channel,
                    delivery_tag = request.delivery_tag,
                    live = self.generation,
                    "rabbitmq ack of another channel generation ignored"
                );
            }
            return;
        }
        if request.delivery_tag <= self.acked_tag.load(Ordering::Acquire) {
            return;
        }
        let options = BasicAckOptions { multiple: true };
        match self.channel.basic_ack(request.delivery_tag, options).await {
            Ok(()) => self
                .acked_tag
                .store(request.delivery_tag, Ordering::Release),
            Err(e) => tracing::warn!(
                channel = request.channel,
                delivery_tag = request.delivery_tag,
                error = %e,
                "rabbitmq ack failed (the broker will redeliver)"
            ),
        }
    }
}
