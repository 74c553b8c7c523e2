//! [`BatchBuilder`]: consecutive deliveries of one channel generation into an [`EventBatch`].

use super::RabbitCheckpoint;
use crate::firehose::{BatchOrigin, EventBatch, MAX_BATCH_BYTES, to_json};

/// Deliveries of one batch.
pub(super) struct BatchBuilder {
    generation: u64,
    data: Vec<u8>,
    spans: Vec<(u32, u32)>,
    first_tag: u64,
    last_tag: u64,
}

impl BatchBuilder {
    pub(super) fn new(generation: u64) -> Self {
        BatchBuilder {
            generation,
            data: Vec::new(),
            spans: Vec::new(),
            first_tag: 0,
            last_tag: 0,
        }
    }

    pub(super) fn push(&mut self, payload: &[u8], tag: u64) {
        if self.spans.is_empty() {
            self.first_tag = tag;
        }
        debug_assert!(
            self.spans.is_empty() || tag == self.last_tag + 1,
            "delivery tags of one channel are consecutive"
        );
        if self.data.capacity() == 0 {
            // A recycled buffer: its pages are already faulted in (`firehose::buffers`).
            self.data = crate::firehose::buffers::take(MAX_BATCH_BYTES + (64 << 10));
        }
        let start = self.data.len() as u32;
        self.data.extend_from_slice(payload);
        self.spans.push((start, self.data.len() as u32));
        self.last_tag = tag;
    }

    pub(super) fn is_full(&self) -> bool {
        self.data.len() >= MAX_BATCH_BYTES
    }

    /// The delivery tag of the last delivery pushed.
    pub(super) fn last_tag(&self) -> u64 {
        self.last_tag
    }

    pub(super) fn finish(self) -> EventBatch {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_carries_its_tags_and_the_checkpoint_after_it() {
        let mut batch = BatchBuilder::new(3);
        for (tag, payload) in [(7u64, b"a".as_slice()), (8, b""), (9, b"ccc")] {
            batch.push(payload, tag);
        }
        assert_eq!(batch.last_tag(), 9);
        let batch = batch.finish();
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.event(1), b"");
        assert_eq!(batch.event(2), b"ccc");
        assert_eq!(batch.describe_position(2), "channel 3 deliveryTag 9");
        assert_eq!(
            batch.checkpoint,
            serde_json::json!({"channel": 3, "deliveryTag": 9})
        );
    }
}
