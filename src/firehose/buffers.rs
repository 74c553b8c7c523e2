//! Batch buffers handed back by the ingest loop for the next batches to fill.
//!
//! A batch's bytes are read into a buffer of [`MAX_BATCH_BYTES`], which the ingest loop drops
//! once it has indexed them. Allocated afresh per batch, each buffer's pages would be faulted in
//! from long-free memory (a host fault each on this project's VMs: BENCHMARKS.md, "fresh pages
//! cost a host fault") and zeroed, 2.8 GB of them for the 10M-event benchmark. Instead the ingest
//! loop gives consumed batches back ([`recycle`]) and firehoses take their buffers from here
//! ([`take`]): a few MiB of pages that stay warm.

use std::sync::Mutex;

use super::{CHANNEL_CAPACITY_BATCHES, EventBatch, MAX_BATCH_BYTES};

/// Buffers kept: one per batch the channel holds, plus the one being filled and the one being
/// indexed.
pub const KEPT_BUFFERS: usize = CHANNEL_CAPACITY_BATCHES + 2;

/// A bounded stack of empty byte buffers of at least [`MAX_BATCH_BYTES`].
#[derive(Debug)]
pub struct BufferPool {
    buffers: Mutex<Vec<Vec<u8>>>,
    kept_max: usize,
}

impl BufferPool {
    /// An empty pool keeping at most `kept_max` buffers.
    pub const fn new(kept_max: usize) -> BufferPool {
        BufferPool {
            buffers: Mutex::new(Vec::new()),
            kept_max,
        }
    }

    /// An empty buffer with room for at least `min_capacity_bytes`: a kept one when there is one.
    pub fn take(&self, min_capacity_bytes: usize) -> Vec<u8> {
        let kept = self.lock().pop();
        let mut buffer = kept.unwrap_or_default();
        buffer.reserve(min_capacity_bytes);
        buffer
    }

    /// Keeps `buffer` (emptied) unless it is smaller than a batch, more than twice as large (a
    /// one-off), or the pool is full.
    pub fn give(&self, mut buffer: Vec<u8>) {
        let capacity = buffer.capacity();
        if !(MAX_BATCH_BYTES..=2 * MAX_BATCH_BYTES).contains(&capacity) {
            return;
        }
        buffer.clear();
        let mut buffers = self.lock();
        if buffers.len() < self.kept_max {
            buffers.push(buffer);
        }
    }

    /// Number of buffers kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no buffer is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // The stack stays valid whatever a panicking holder did: pushes and pops are whole.
        self.buffers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The process's batch buffers.
static BATCH_BUFFERS: BufferPool = BufferPool::new(KEPT_BUFFERS);

/// An empty buffer for a batch of up to `min_capacity_bytes`.
pub fn take(min_capacity_bytes: usize) -> Vec<u8> {
    BATCH_BUFFERS.take(min_capacity_bytes)
}

/// Gives an indexed batch's buffer back for the next batch.
pub fn recycle(batch: EventBatch) {
    BATCH_BUFFERS.give(batch.data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_empty_with_its_pages() {
        let pool = BufferPool::new(2);
        let mut buffer = pool.take(MAX_BATCH_BYTES);
        assert!(buffer.capacity() >= MAX_BATCH_BYTES);
        buffer.extend_from_slice(b"{\"a\":1}\n");
        let address = buffer.as_ptr();
        pool.give(buffer);
        assert_eq!(pool.len(), 1);
        let again = pool.take(MAX_BATCH_BYTES);
        assert_eq!(again.as_ptr(), address);
        assert!(again.is_empty());
        assert!(pool.is_empty());
    }

    #[test]
    fn the_pool_is_bounded_and_refuses_odd_sizes() {
        let pool = BufferPool::new(2);
        pool.give(Vec::with_capacity(4096));
        pool.give(Vec::with_capacity(3 * MAX_BATCH_BYTES));
        assert!(pool.is_empty());
        for _ in 0..3 {
            pool.give(Vec::with_capacity(MAX_BATCH_BYTES));
        }
        assert_eq!(pool.len(), 2);
        // A kept buffer grows when more is asked of it.
        assert!(pool.take(2 * MAX_BATCH_BYTES).capacity() >= 2 * MAX_BATCH_BYTES);
    }
}
