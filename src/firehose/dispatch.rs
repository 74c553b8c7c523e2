//! [`start`]: runs any firehose spec, the wrappers around any delegate included.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

use super::kafka::{KafkaFirehose, KafkaMetrics};
use super::local::LocalFirehose;
use super::rabbitmq::{DEFAULT_PREFETCH_COUNT, RabbitMqFirehose};
use super::receiver::{ReceiverFirehose, ReceiverRegistry};
use super::{Acknowledger, FirehoseError, FirehoseMessage, NoAck, wrap};
use crate::config::FirehoseSpec;

/// What firehoses need from the node.
#[derive(Debug, Clone)]
pub struct FirehoseContext {
    /// Runtime of the async firehoses (RabbitMQ, receiver) and of the wrappers.
    pub runtime: tokio::runtime::Handle,
    /// `local`: keep watching for new files after the last one.
    pub follow: bool,
    /// The datasource (metric label).
    pub data_source: String,
    /// The node's `partitionNum` (Kafka static assignment).
    pub partition_num: u32,
    /// Kafka lag gauges ([`KafkaMetrics::register`] once per node).
    pub kafka_metrics: Option<KafkaMetrics>,
    /// Receivers served by [`receiver::router`](super::receiver::router).
    pub receivers: ReceiverRegistry,
    /// RabbitMQ `basic.qos` prefetch.
    pub rabbitmq_prefetch: u16,
}

impl FirehoseContext {
    /// A context with defaults: no follow, partition 0, no metrics, a fresh receiver registry.
    pub fn new(runtime: tokio::runtime::Handle, data_source: &str) -> FirehoseContext {
        FirehoseContext {
            runtime,
            follow: false,
            data_source: data_source.to_string(),
            partition_num: 0,
            kafka_metrics: None,
            receivers: ReceiverRegistry::new(),
            rabbitmq_prefetch: DEFAULT_PREFETCH_COUNT,
        }
    }
}

/// The thread or task a firehose runs on. Dropping the message receiver stops it.
#[derive(Debug)]
pub enum FirehoseHandle {
    /// A blocking firehose (local, Kafka).
    Thread(std::thread::JoinHandle<()>),
    /// An async firehose or wrapper.
    Task(tokio::task::JoinHandle<()>),
}

impl FirehoseHandle {
    /// True once the firehose stopped.
    pub fn is_finished(&self) -> bool {
        match self {
            FirehoseHandle::Thread(h) => h.is_finished(),
            FirehoseHandle::Task(h) => h.is_finished(),
        }
    }

    /// Waits until an async firehose whose receiver is gone has ended (a stopping RabbitMQ
    /// firehose confirms the acks of the last commit first, within its own bound). A thread
    /// firehose is left to end on its own: a local one may be blocked reading stdin, and the
    /// Kafka one holds the runtime until its consumer has closed.
    pub async fn join_task(self) {
        if let FirehoseHandle::Task(task) = self
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "a firehose task failed");
        }
    }
}

/// Starts the firehose of `spec` from `resume` (the checkpoint of the commit record); it sends
/// into `tx`. Returns its handle and the acknowledger the plumber calls after each commit.
pub fn start(
    spec: &FirehoseSpec,
    resume: Option<Value>,
    ctx: &FirehoseContext,
    tx: mpsc::Sender<FirehoseMessage>,
) -> Result<(FirehoseHandle, Arc<dyn Acknowledger>), FirehoseError> {
    match spec {
        FirehoseSpec::Local(local) => {
            let handle = LocalFirehose::new(local, ctx.follow)?.spawn(resume, tx)?;
            Ok((FirehoseHandle::Thread(handle), Arc::new(NoAck)))
        }
        FirehoseSpec::Kafka(_) | FirehoseSpec::Kafka08(_) => {
            let firehose = KafkaFirehose::new(
                spec,
                ctx.partition_num,
                &ctx.data_source,
                ctx.kafka_metrics.clone(),
            )?;
            let (handle, ack) = firehose.spawn(resume, tx)?;
            Ok((FirehoseHandle::Thread(handle), ack))
        }
        FirehoseSpec::RabbitMq(rabbit) => {
            let firehose = RabbitMqFirehose::new(rabbit, ctx.rabbitmq_prefetch);
            let (handle, ack) = firehose.spawn(&ctx.runtime, resume, tx)?;
            Ok((FirehoseHandle::Task(handle), ack))
        }
        FirehoseSpec::Receiver(receiver) => {
            let handle = ReceiverFirehose::new(receiver, &ctx.receivers)?.spawn(&ctx.runtime, tx);
            Ok((FirehoseHandle::Task(handle), Arc::new(NoAck)))
        }
        FirehoseSpec::Timed(timed) => wrap::start_timed(timed, resume, ctx, tx),
        FirehoseSpec::Clipped(clipped) => wrap::start_clipped(clipped, resume, ctx, tx),
        FirehoseSpec::Combining(combining) => wrap::start_combining(combining, resume, ctx, tx),
    }
}
