//! A fake ingest loop for the firehose tests: it receives batches, holds their events until it
//! "commits" (as a persist would), then acknowledges the checkpoint; it answers `Flush` by
//! committing. Events past the last commit are what a crash would lose and the source re-send.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use rtnode::firehose::{Acknowledger, BatchOrigin, EventBatch, FirehoseMessage};
use serde_json::Value;
use tokio::sync::mpsc;

/// One received event: its position (`partition`/`offset`, or channel/tag) and bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Received {
    pub position: (i64, i64),
    pub bytes: Vec<u8>,
}

/// The fake ingest loop.
pub struct FakeIngest {
    pub rx: mpsc::Receiver<FirehoseMessage>,
    pub acknowledger: Option<Arc<dyn Acknowledger>>,
    pub held: Vec<Received>,
    pub committed: Vec<Received>,
    pub held_checkpoint: Option<Value>,
    pub committed_checkpoint: Option<Value>,
    pub flushes: usize,
    pub ended: Option<Value>,
    pub failed: Option<String>,
    pub clip: Option<rtnode::time::Interval>,
}

impl FakeIngest {
    pub fn new(
        rx: mpsc::Receiver<FirehoseMessage>,
        acknowledger: Option<Arc<dyn Acknowledger>>,
    ) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        FakeIngest {
            rx,
            acknowledger,
            held: Vec::new(),
            committed: Vec::new(),
            held_checkpoint: None,
            committed_checkpoint: None,
            flushes: 0,
            ended: None,
            failed: None,
            clip: None,
        }
    }

    /// Persists what is held: the commit record takes the last batch's checkpoint, then acks.
    pub fn commit(&mut self) {
        self.committed.append(&mut self.held);
        if let Some(checkpoint) = self.held_checkpoint.take() {
            if let Some(ack) = &self.acknowledger {
                ack.acknowledge(&checkpoint);
            }
            self.committed_checkpoint = Some(checkpoint);
        }
    }

    fn take_batch(&mut self, batch: EventBatch) {
        for i in 0..batch.len() {
            let position = match &batch.origin {
                BatchOrigin::Offsets(o) => (o[i].0 as i64, o[i].1),
                BatchOrigin::DeliveryTags { channel, first_tag } => {
                    (*channel as i64, (*first_tag + i as u64) as i64)
                }
                _ => (0, i as i64),
            };
            self.held.push(Received {
                position,
                bytes: batch.event(i).to_vec(),
            });
        }
        self.held_checkpoint = Some(batch.checkpoint);
        self.clip = batch.clip;
    }

    /// Handles one message; returns false on timeout, end or failure.
    pub async fn step(&mut self, timeout: Duration) -> bool {
        match tokio::time::timeout(timeout, self.rx.recv()).await {
            Ok(Some(FirehoseMessage::Batch(batch))) => {
                self.take_batch(batch);
                true
            }
            Ok(Some(FirehoseMessage::Flush(reply))) => {
                self.flushes += 1;
                self.commit();
                let _ = reply.send(self.committed_checkpoint.clone().unwrap_or(Value::Null));
                true
            }
            Ok(Some(FirehoseMessage::End(end))) => {
                self.ended = Some(end);
                false
            }
            Ok(Some(FirehoseMessage::Failed(message))) => {
                self.failed = Some(message);
                false
            }
            Ok(None) | Err(_) => false,
        }
    }

    /// Steps until `count` events were received in total (held + committed) or `timeout` passes.
    pub async fn receive_until(&mut self, count: usize, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.total() < count {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let stepped = !left.is_zero() && self.step(left.min(Duration::from_millis(500))).await;
            if !stepped && (self.failed.is_some() || self.ended.is_some() || left.is_zero()) {
                break;
            }
        }
        self.total()
    }

    /// Steps for `duration`, answering flushes, whatever arrives.
    pub async fn run_for(&mut self, duration: Duration) {
        let deadline = tokio::time::Instant::now() + duration;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            if !self.step(left).await && (self.failed.is_some() || self.ended.is_some()) {
                return;
            }
        }
    }

    pub fn total(&self) -> usize {
        self.held.len() + self.committed.len()
    }
}

/// Asserts `events` hold each of `expected` exactly once.
pub fn assert_exactly(events: Vec<Vec<u8>>, expected: &std::collections::BTreeSet<Vec<u8>>) {
    let total = events.len();
    let set: std::collections::BTreeSet<Vec<u8>> = events.into_iter().collect();
    assert_eq!(set.len(), total, "duplicates among {total} events");
    assert_eq!(&set, expected);
}
