//! What queries read: [`QueryTarget`] (implemented by the plumber's timeline of sinks) and
//! [`StaticTarget`], a fixed list of segments for tests and tools.

use std::sync::Arc;

use crate::segment::Segment;
use crate::time::Interval;

/// One segment as queries see it: the sink's identity plus its hydrants (persisted pieces and an
/// in-memory snapshot), each a `Segment`. Results of the hydrants of one sink are merged.
#[derive(Debug, Clone)]
pub struct QueryableSegment {
    /// Datasource.
    pub data_source: String,
    /// The segment (sink) interval.
    pub interval: Interval,
    /// The segment version.
    pub version: String,
    /// The partition number.
    pub partition: u32,
    /// The segment identifier (`ds_start_end_version[_partition]`).
    pub identifier: String,
    /// The hydrants, oldest first.
    pub hydrants: Vec<Arc<Segment>>,
}

impl QueryableSegment {
    /// Builds a segment whose identifier follows Druid's `DataSegment` rule.
    pub fn new(
        data_source: &str,
        interval: Interval,
        version: &str,
        partition: u32,
        hydrants: Vec<Arc<Segment>>,
    ) -> QueryableSegment {
        let mut identifier = format!(
            "{data_source}_{}_{}_{version}",
            crate::time::format_iso(interval.start_ms),
            crate::time::format_iso(interval.end_ms)
        );
        if partition != 0 {
            identifier.push_str(&format!("_{partition}"));
        }
        QueryableSegment {
            data_source: data_source.to_string(),
            interval,
            version: version.to_string(),
            partition,
            identifier,
            hydrants,
        }
    }
}

/// What the node serves: implemented by the plumber (the timeline of sinks).
pub trait QueryTarget: Send + Sync {
    /// Returns the datasources the node holds data for.
    fn data_sources(&self) -> Vec<String>;
    /// Returns every segment of `data_source`; the query engine filters them by the query's
    /// intervals or segment specs.
    fn segments(&self, data_source: &str) -> Vec<QueryableSegment>;
    /// Returns the dimension and metric names of `data_source`, or `None` when unknown.
    fn dimensions_and_metrics(&self, data_source: &str) -> Option<(Vec<String>, Vec<String>)>;
}

/// A fixed list of segments.
#[derive(Debug, Clone, Default)]
pub struct StaticTarget {
    /// The segments.
    pub segments: Vec<QueryableSegment>,
}

impl StaticTarget {
    /// Wraps `segments`.
    pub fn new(segments: Vec<QueryableSegment>) -> StaticTarget {
        StaticTarget { segments }
    }
}

impl QueryTarget for StaticTarget {
    fn data_sources(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .segments
            .iter()
            .map(|s| s.data_source.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn segments(&self, data_source: &str) -> Vec<QueryableSegment> {
        self.segments
            .iter()
            .filter(|s| s.data_source == data_source)
            .cloned()
            .collect()
    }

    fn dimensions_and_metrics(&self, data_source: &str) -> Option<(Vec<String>, Vec<String>)> {
        let mut dims: Vec<String> = Vec::new();
        let mut metrics: Vec<String> = Vec::new();
        let mut found = false;
        for segment in self
            .segments
            .iter()
            .filter(|s| s.data_source == data_source)
        {
            found = true;
            for hydrant in &segment.hydrants {
                for d in hydrant.dimension_names() {
                    if !dims.contains(d) {
                        dims.push(d.clone());
                    }
                }
                for m in hydrant.metric_names() {
                    if !metrics.contains(m) {
                        metrics.push(m.clone());
                    }
                }
            }
        }
        found.then_some((dims, metrics))
    }
}
