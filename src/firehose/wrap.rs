//! The wrapper firehoses, each a task between its delegate's channel and the ingest loop:
//!
//! - `timed`: the input ends at `shutoffTime`; the delegate is stopped and `End` carries the
//!   checkpoint of the last batch forwarded.
//! - `clipped`: sets [`EventBatch::clip`](super::EventBatch::clip) to `interval` (intersected
//!   with any clip already set); the ingest loop drops rows outside it after parsing, since the
//!   timestamp is known only there (parsing it here too would cost a second parse per event).
//! - `combining`: delegates read one after another. Checkpoint: a JSON array with one entry per
//!   delegate (`null` for delegates not started); a restart resumes at the last non-null entry
//!   (the delegates before it had ended).
//!
//! `Flush` requests pass through (for `combining`, the reply is translated back to the
//! delegate's own checkpoint), and acknowledgements are routed to the delegate(s). A wrapper's
//! task ends after its async delegate's, so whoever awaits the wrapper (the node, on a graceful
//! stop) also waits for the delegate's last acknowledgements.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::dispatch::{FirehoseContext, FirehoseHandle, start};
use super::{Acknowledger, FirehoseError, FirehoseMessage, channel};
use crate::config::io::{ClippedFirehose, CombiningFirehose, TimedFirehose};
use crate::time::Interval;

type Started = Result<(FirehoseHandle, Arc<dyn Acknowledger>), FirehoseError>;

/// Starts a `timed` firehose.
pub fn start_timed(
    spec: &TimedFirehose,
    resume: Option<Value>,
    ctx: &FirehoseContext,
    tx: mpsc::Sender<FirehoseMessage>,
) -> Started {
    let shutoff_ms = crate::time::parse_iso(&spec.shutoff_time).map_err(|e| {
        FirehoseError::Config(format!(
            "`timed` firehose: `shutoffTime` `{}`: {e}",
            spec.shutoff_time
        ))
    })?;
    let (inner_tx, inner_rx) = channel();
    let (delegate, ack) = start(&spec.delegate, resume.clone(), ctx, inner_tx)?;
    let last = resume.unwrap_or(Value::Null);
    let task = ctx.runtime.spawn(async move {
        forward_until(shutoff_ms, inner_rx, &tx, last).await;
        delegate.join_task().await;
    });
    Ok((FirehoseHandle::Task(task), ack))
}

/// Forwards the delegate's messages until `shutoff_ms` (then sends `End` with the checkpoint of
/// the last batch forwarded), the delegate's end, or the ingest loop's; the delegate's receiver
/// is dropped on return, which stops it.
async fn forward_until(
    shutoff_ms: i64,
    mut inner_rx: mpsc::Receiver<FirehoseMessage>,
    tx: &mpsc::Sender<FirehoseMessage>,
    mut last: Value,
) {
    let left_ms = (shutoff_ms - chrono::Utc::now().timestamp_millis()).max(0) as u64;
    let shutoff = tokio::time::sleep(std::time::Duration::from_millis(left_ms));
    tokio::pin!(shutoff);
    loop {
        let message = tokio::select! {
            biased;
            _ = &mut shutoff => {
                tracing::info!("`timed` firehose: shutoff time reached");
                inner_rx.close();
                let _ = tx.send(FirehoseMessage::End(last)).await;
                return;
            }
            message = inner_rx.recv() => message,
            _ = tx.closed() => return,
        };
        let Some(message) = message else { return };
        if let FirehoseMessage::Batch(batch) = &message {
            last = batch.checkpoint.clone();
        }
        let done = matches!(
            message,
            FirehoseMessage::End(_) | FirehoseMessage::Failed(_)
        );
        if tx.send(message).await.is_err() || done {
            return;
        }
    }
}

/// Starts a `clipped` firehose.
pub fn start_clipped(
    spec: &ClippedFirehose,
    resume: Option<Value>,
    ctx: &FirehoseContext,
    tx: mpsc::Sender<FirehoseMessage>,
) -> Started {
    let interval = spec.interval;
    let (inner_tx, mut inner_rx) = channel();
    let (delegate, ack) = start(&spec.delegate, resume, ctx, inner_tx)?;
    let task = ctx.runtime.spawn(async move {
        while let Some(mut message) = inner_rx.recv().await {
            if let FirehoseMessage::Batch(batch) = &mut message {
                batch.clip = Some(match batch.clip {
                    Some(inner) => intersect(inner, interval),
                    None => interval,
                });
            }
            let done = matches!(
                message,
                FirehoseMessage::End(_) | FirehoseMessage::Failed(_)
            );
            if tx.send(message).await.is_err() || done {
                break;
            }
        }
        drop(inner_rx); // stops the delegate
        delegate.join_task().await;
    });
    Ok((FirehoseHandle::Task(task), ack))
}

fn intersect(a: Interval, b: Interval) -> Interval {
    let start_ms = a.start_ms.max(b.start_ms);
    Interval::new(start_ms, a.end_ms.min(b.end_ms).max(start_ms))
}

/// Routes a combined checkpoint's entries to the delegates' acknowledgers.
#[derive(Default, Debug)]
struct CombiningAck {
    delegates: Mutex<Vec<Option<Arc<dyn Acknowledger>>>>,
}

impl Acknowledger for CombiningAck {
    fn acknowledge(&self, checkpoint: &Value) {
        let Some(entries) = checkpoint.as_array() else {
            tracing::warn!("`combining` acknowledge: `{checkpoint}` is not an array");
            return;
        };
        let delegates = self.delegates.lock().expect("delegates lock").clone();
        for (entry, ack) in entries.iter().zip(delegates) {
            if let (false, Some(ack)) = (entry.is_null(), ack) {
                ack.acknowledge(entry);
            }
        }
    }
}

/// Starts a `combining` firehose.
pub fn start_combining(
    spec: &CombiningFirehose,
    resume: Option<Value>,
    ctx: &FirehoseContext,
    tx: mpsc::Sender<FirehoseMessage>,
) -> Started {
    let count = spec.delegates.len();
    let mut entries: Vec<Value> = match resume {
        Some(Value::Array(items)) if items.len() == count => items,
        Some(other) => {
            return Err(FirehoseError::BadCheckpoint(format!(
                "`combining` firehose: `{other}` is not an array of {count} checkpoints"
            )));
        }
        None => vec![Value::Null; count],
    };
    let first = entries.iter().rposition(|e| !e.is_null()).unwrap_or(0);
    let ack = Arc::new(CombiningAck {
        delegates: Mutex::new(vec![None; count]),
    });
    let delegates = spec.delegates.clone();
    let ctx_task = ctx.clone();
    let ack_task = ack.clone();
    let task = ctx.runtime.spawn(async move {
        for (index, delegate) in delegates.iter().enumerate().skip(first) {
            let (inner_tx, inner_rx) = channel();
            let resume = Some(entries[index].clone()).filter(|v| !v.is_null());
            let handle = match start(delegate, resume, &ctx_task, inner_tx) {
                Ok((handle, delegate_ack)) => {
                    ack_task.delegates.lock().expect("delegates lock")[index] = Some(delegate_ack);
                    handle
                }
                Err(e) => {
                    let _ = tx
                        .send(FirehoseMessage::Failed(format!(
                            "`combining` delegate {index}: {e}"
                        )))
                        .await;
                    return;
                }
            };
            let ended = forward_delegate(inner_rx, &tx, &mut entries, index).await;
            handle.join_task().await;
            if !ended {
                return;
            }
        }
        let _ = tx.send(FirehoseMessage::End(Value::Array(entries))).await;
    });
    Ok((FirehoseHandle::Task(task), ack))
}

/// Forwards delegate `index` until it ends (true) or the input stops (false).
async fn forward_delegate(
    mut inner_rx: mpsc::Receiver<FirehoseMessage>,
    tx: &mpsc::Sender<FirehoseMessage>,
    entries: &mut [Value],
    index: usize,
) -> bool {
    while let Some(message) = inner_rx.recv().await {
        let outgoing = match message {
            FirehoseMessage::Batch(mut batch) => {
                entries[index] = std::mem::take(&mut batch.checkpoint);
                batch.checkpoint = Value::Array(entries.to_vec());
                FirehoseMessage::Batch(batch)
            }
            FirehoseMessage::End(checkpoint) => {
                entries[index] = checkpoint;
                return true;
            }
            FirehoseMessage::Failed(message) => {
                let _ = tx.send(FirehoseMessage::Failed(message)).await;
                return false;
            }
            FirehoseMessage::Flush(reply) => {
                let (outer_tx, outer_rx) = oneshot::channel::<Value>();
                tokio::spawn(async move {
                    if let Ok(Value::Array(items)) = outer_rx.await
                        && let Some(own) = items.into_iter().nth(index)
                    {
                        let _ = reply.send(own);
                    }
                });
                FirehoseMessage::Flush(outer_tx)
            }
        };
        if tx.send(outgoing).await.is_err() {
            return false;
        }
    }
    false
}
