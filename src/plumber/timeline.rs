//! The node's timeline for queries: every sink of every fire department, as
//! [`QueryableSegment`]s whose hydrants are the persisted (mmapped) pieces plus in-memory
//! snapshots of the indexes not yet on disk.
//!
//! The sinks belong to the fire chiefs' threads; a query asks each chief of the datasource for
//! its view over a bounded channel (capacity [`REQUEST_CAPACITY`]) and waits for the answer, which
//! the chief gives between two batches. Snapshots of an in-memory index are written to memory
//! (uncompressed) and cached until the index changes, so repeated queries cost nothing extra.
//! Datasource names and dimension lists are kept in shared state, so the HTTP handlers that
//! list them never wait on a chief.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::query::target::{QueryTarget, QueryableSegment};

/// View requests queued per fire department.
pub const REQUEST_CAPACITY: usize = 16;

/// How long a query waits for a busy chief before it goes without that chief's sinks.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// A query's request for a chief's sinks.
#[derive(Debug)]
pub struct ViewRequest {
    /// Gets every sink as a queryable segment (capacity 1: one answer).
    pub reply: std::sync::mpsc::SyncSender<Vec<QueryableSegment>>,
}

/// What a fire department shares with the timeline.
#[derive(Debug)]
struct Department {
    data_source: String,
    requests: mpsc::Sender<ViewRequest>,
    dimensions: Arc<RwLock<Vec<String>>>,
    metrics: Vec<String>,
}

/// Every fire department's sinks, for queries.
#[derive(Debug, Default)]
pub struct NodeTimeline {
    departments: RwLock<Vec<Department>>,
}

/// The chief's side of the timeline.
#[derive(Debug)]
pub struct ChiefView {
    /// View requests to answer.
    pub requests: mpsc::Receiver<ViewRequest>,
    /// Where to publish the current dimension names.
    pub dimensions: Arc<RwLock<Vec<String>>>,
}

impl NodeTimeline {
    /// Registers a fire department; returns its side of the channel.
    pub fn register(&self, data_source: &str, metrics: Vec<String>) -> ChiefView {
        let (tx, rx) = mpsc::channel(REQUEST_CAPACITY);
        let dimensions = Arc::new(RwLock::new(Vec::new()));
        let department = Department {
            data_source: data_source.to_string(),
            requests: tx,
            dimensions: dimensions.clone(),
            metrics,
        };
        self.departments
            .write()
            .expect("timeline lock")
            .push(department);
        ChiefView {
            requests: rx,
            dimensions,
        }
    }
}

impl QueryTarget for NodeTimeline {
    fn data_sources(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .departments
            .read()
            .expect("timeline lock")
            .iter()
            .map(|d| d.data_source.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn segments(&self, data_source: &str) -> Vec<QueryableSegment> {
        let senders: Vec<mpsc::Sender<ViewRequest>> = self
            .departments
            .read()
            .expect("timeline lock")
            .iter()
            .filter(|d| d.data_source == data_source)
            .map(|d| d.requests.clone())
            .collect();
        let mut out = Vec::new();
        for sender in senders {
            let (reply, answer) = std::sync::mpsc::sync_channel(1);
            if sender.blocking_send(ViewRequest { reply }).is_err() {
                continue;
            }
            match answer.recv_timeout(ANSWER_TIMEOUT) {
                Ok(segments) => out.extend(segments),
                Err(_) => tracing::warn!(
                    data_source,
                    "a fire chief did not answer a query in time; its sinks are left out"
                ),
            }
        }
        out
    }

    fn dimensions_and_metrics(&self, data_source: &str) -> Option<(Vec<String>, Vec<String>)> {
        let departments = self.departments.read().expect("timeline lock");
        let mut found = None::<(Vec<String>, Vec<String>)>;
        for d in departments.iter().filter(|d| d.data_source == data_source) {
            let (dims, metrics) = found.get_or_insert_with(|| (Vec::new(), Vec::new()));
            for dim in d.dimensions.read().expect("dimensions lock").iter() {
                if !dims.contains(dim) {
                    dims.push(dim.clone());
                }
            }
            for metric in &d.metrics {
                if !metrics.contains(metric) {
                    metrics.push(metric.clone());
                }
            }
        }
        found
    }
}

/// The queryable segment of a sink: persisted hydrants plus cached snapshots of the rest.
pub fn sink_view(
    data_source: &str,
    sink: &mut super::sink::Sink,
) -> Result<QueryableSegment, crate::segment::SegmentError> {
    let mut hydrants: Vec<Arc<crate::segment::Segment>> =
        sink.hydrants.iter().map(|h| h.segment.clone()).collect();
    for flight in &sink.in_flight {
        hydrants.push(flight.snapshot()?);
    }
    if let Some(current) = sink.current_snapshot()? {
        hydrants.push(current);
    }
    Ok(QueryableSegment::new(
        data_source,
        sink.interval,
        &sink.version,
        sink.shard_spec.partition_num(),
        hydrants,
    ))
}
