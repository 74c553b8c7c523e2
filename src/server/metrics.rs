//! Query metrics with Druid's names as the prometheus-emitter exports them: `query/time` →
//! `druid_query_time` (histogram, seconds), `query/bytes` → `druid_query_bytes`, and the
//! `query/count`, `query/success/count`, `query/failed/count`, `query/interrupted/count`,
//! `query/timeout/count` counters (`_total` on exposition).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use crate::metrics::{NodeMetrics, TIMER_BUCKETS_SECONDS};

/// Labels `{dataSource, type}` of per-query metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
#[allow(non_snake_case)]
pub struct QueryLabels {
    /// The datasource (union members joined by commas).
    pub dataSource: String,
    /// The query type.
    pub r#type: String,
}

fn timer() -> Histogram {
    Histogram::new(TIMER_BUCKETS_SECONDS)
}

/// The query metric families.
#[derive(Debug, Clone)]
pub struct QueryMetrics {
    /// `query/time`, seconds.
    pub time: Family<QueryLabels, Histogram, fn() -> Histogram>,
    /// `query/bytes`: response bytes.
    pub bytes: Family<QueryLabels, Counter>,
    /// `query/count`.
    pub count: Counter,
    /// `query/success/count`.
    pub success: Counter,
    /// `query/failed/count`.
    pub failed: Counter,
    /// `query/interrupted/count`.
    pub interrupted: Counter,
    /// `query/timeout/count`.
    pub timeout: Counter,
}

impl QueryMetrics {
    /// Creates the families and registers them in the node's registry.
    pub fn register(node: &NodeMetrics) -> QueryMetrics {
        let metrics = QueryMetrics {
            time: Family::new_with_constructor(timer),
            bytes: Family::default(),
            count: Counter::default(),
            success: Counter::default(),
            failed: Counter::default(),
            interrupted: Counter::default(),
            timeout: Counter::default(),
        };
        node.with_registry(|registry| {
            registry.register("query_time", "Query time in seconds", metrics.time.clone());
            registry.register(
                "query_bytes",
                "Bytes of query responses",
                metrics.bytes.clone(),
            );
            registry.register("query_count", "Queries received", metrics.count.clone());
            registry.register(
                "query_success_count",
                "Queries that succeeded",
                metrics.success.clone(),
            );
            registry.register(
                "query_failed_count",
                "Queries that failed",
                metrics.failed.clone(),
            );
            registry.register(
                "query_interrupted_count",
                "Queries cancelled",
                metrics.interrupted.clone(),
            );
            registry.register(
                "query_timeout_count",
                "Queries that timed out",
                metrics.timeout.clone(),
            );
        });
        metrics
    }
}
