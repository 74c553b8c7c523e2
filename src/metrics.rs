//! Metrics with Druid's names, exported as Druid's prometheus-emitter maps them:
//! lower-cased, `/` as `_`: `ingest/events/thrownAway` → `druid_ingest_events_thrownaway` (counters get `_total` on
//! exposition), timers are histograms in seconds, and every series carries a `dataSource` label.
//!
//! The ingest hot path counts into plain integers and adds them to these counters once per
//! batch; nothing here is touched per event.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Histogram buckets of Druid's prometheus-emitter timers, in seconds.
pub const TIMER_BUCKETS_SECONDS: [f64; 13] = [
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Label set `{dataSource}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
#[allow(non_snake_case)]
pub struct DataSourceLabels {
    /// The datasource (the field is named as the Prometheus label).
    pub dataSource: String,
}

/// Label set `{dataSource, reason}` of thrown-away events.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
#[allow(non_snake_case)]
pub struct ThrownAwayLabels {
    /// The datasource (the field is named as the Prometheus label).
    pub dataSource: String,
    /// Why: `late` (before the window, or its sink already closed), `early` (after the
    /// window), `outOfInterval` (outside a `clipped` firehose's interval).
    pub reason: String,
}

fn timer() -> Histogram {
    Histogram::new(TIMER_BUCKETS_SECONDS)
}

/// Every metric family of the node.
#[derive(Debug, Clone)]
pub struct NodeMetrics {
    registry: Arc<Mutex<Registry>>,
    /// `ingest/events/processed`.
    pub events_processed: Family<DataSourceLabels, Counter>,
    /// `ingest/events/thrownAway`, by reason.
    pub events_thrown_away: Family<ThrownAwayLabels, Counter>,
    /// `ingest/events/unparseable`.
    pub events_unparseable: Family<DataSourceLabels, Counter>,
    /// `ingest/rows/output`.
    pub rows_output: Family<DataSourceLabels, Counter>,
    /// `ingest/persists/count`.
    pub persists_count: Family<DataSourceLabels, Counter>,
    /// `ingest/persists/time` (seconds).
    pub persists_time: Family<DataSourceLabels, Histogram, fn() -> Histogram>,
    /// `ingest/persists/backPressure` (seconds).
    pub persists_back_pressure: Family<DataSourceLabels, Histogram, fn() -> Histogram>,
    /// `ingest/persists/failed`.
    pub persists_failed: Family<DataSourceLabels, Counter>,
    /// `ingest/merge/time` (seconds).
    pub merge_time: Family<DataSourceLabels, Histogram, fn() -> Histogram>,
    /// `ingest/handoff/count`.
    pub handoff_count: Family<DataSourceLabels, Counter>,
    /// `ingest/handoff/failed`.
    pub handoff_failed: Family<DataSourceLabels, Counter>,
    /// `ingest/handoff/time` (seconds from push and publish to handoff).
    pub handoff_time: Family<DataSourceLabels, Histogram, fn() -> Histogram>,
    /// `ingest/sink/count`.
    pub sink_count: Family<DataSourceLabels, Gauge>,
    /// `ingest/events/messageGap`: milliseconds from the latest processed event's timestamp to
    /// the scrape (set from `latest_event_ms` when encoding, as Druid computes it at emission).
    pub events_message_gap: Family<DataSourceLabels, Gauge>,
    /// Per datasource, the greatest timestamp of a processed event (`i64::MIN`: none yet).
    latest_event_ms: Arc<Mutex<Vec<LatestEvent>>>,
}

/// A datasource's label set and the greatest timestamp of its processed events.
type LatestEvent = (DataSourceLabels, Arc<AtomicI64>);

impl Default for NodeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeMetrics {
    /// Creates and registers every family under the `druid` prefix.
    pub fn new() -> NodeMetrics {
        let mut registry = Registry::with_prefix("druid");
        let metrics = NodeMetrics {
            registry: Arc::new(Mutex::new(Registry::default())),
            events_processed: Family::default(),
            events_thrown_away: Family::default(),
            events_unparseable: Family::default(),
            rows_output: Family::default(),
            persists_count: Family::default(),
            persists_time: Family::new_with_constructor(timer),
            persists_back_pressure: Family::new_with_constructor(timer),
            persists_failed: Family::default(),
            merge_time: Family::new_with_constructor(timer),
            handoff_count: Family::default(),
            handoff_failed: Family::default(),
            handoff_time: Family::new_with_constructor(timer),
            sink_count: Family::default(),
            events_message_gap: Family::default(),
            latest_event_ms: Arc::default(),
        };
        registry.register(
            "ingest_events_processed",
            "Events added to an index",
            metrics.events_processed.clone(),
        );
        registry.register(
            "ingest_events_thrownaway",
            "Events rejected, by reason",
            metrics.events_thrown_away.clone(),
        );
        registry.register(
            "ingest_events_unparseable",
            "Events that failed to parse",
            metrics.events_unparseable.clone(),
        );
        registry.register(
            "ingest_rows_output",
            "Rows persisted (after rollup)",
            metrics.rows_output.clone(),
        );
        registry.register(
            "ingest_persists_count",
            "Persists",
            metrics.persists_count.clone(),
        );
        registry.register(
            "ingest_persists_time",
            "Persist time in seconds",
            metrics.persists_time.clone(),
        );
        registry.register(
            "ingest_persists_backpressure",
            "Seconds ingestion waited for persists",
            metrics.persists_back_pressure.clone(),
        );
        registry.register(
            "ingest_persists_failed",
            "Failed persists",
            metrics.persists_failed.clone(),
        );
        registry.register(
            "ingest_merge_time",
            "Merge time in seconds",
            metrics.merge_time.clone(),
        );
        registry.register(
            "ingest_handoff_count",
            "Completed handoffs",
            metrics.handoff_count.clone(),
        );
        registry.register(
            "ingest_handoff_failed",
            "Failed merge/push/handoff attempts",
            metrics.handoff_failed.clone(),
        );
        registry.register(
            "ingest_handoff_time",
            "Seconds from push and publish to handoff",
            metrics.handoff_time.clone(),
        );
        registry.register(
            "ingest_sink_count",
            "Sinks held",
            metrics.sink_count.clone(),
        );
        registry.register(
            "ingest_events_messagegap",
            "Milliseconds between now and the timestamp of the latest processed event",
            metrics.events_message_gap.clone(),
        );
        *metrics.registry.lock().expect("registry lock") = registry;
        metrics
    }

    /// Registers more families (query metrics, firehose metrics) in the same registry.
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut registry = self.registry.lock().expect("registry lock");
        f(&mut registry)
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        self.refresh_message_gaps(crate::time::now_ms());
        let mut out = String::new();
        let registry = self.registry.lock().expect("registry lock");
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Sets each datasource's `ingest/events/messageGap` to `now_ms` minus its latest processed
    /// event time (datasources without one yet have no series).
    fn refresh_message_gaps(&self, now_ms: i64) {
        let latest = self.latest_event_ms.lock().expect("latest event lock");
        for (labels, latest_ms) in latest.iter() {
            let ms = latest_ms.load(Ordering::Relaxed);
            if ms != i64::MIN {
                let gap = now_ms.saturating_sub(ms);
                self.events_message_gap.get_or_create(labels).set(gap);
            }
        }
    }

    /// The per-datasource handles the ingest loop adds to.
    pub fn for_data_source(&self, data_source: &str) -> DataSourceMetrics {
        let labels = DataSourceLabels {
            dataSource: data_source.to_string(),
        };
        let latest_event_ms = {
            let mut all = self.latest_event_ms.lock().expect("latest event lock");
            match all.iter().find(|(l, _)| *l == labels) {
                Some((_, latest)) => latest.clone(),
                None => {
                    let latest = Arc::new(AtomicI64::new(i64::MIN));
                    all.push((labels.clone(), latest.clone()));
                    latest
                }
            }
        };
        DataSourceMetrics {
            latest_event_ms,
            node: self.clone(),
            data_source: data_source.to_string(),
            processed: self.events_processed.get_or_create_owned(&labels),
            unparseable: self.events_unparseable.get_or_create_owned(&labels),
            rows_output: self.rows_output.get_or_create_owned(&labels),
            labels,
        }
    }
}

/// Counters of one datasource, resolved once.
#[derive(Debug, Clone)]
pub struct DataSourceMetrics {
    node: NodeMetrics,
    data_source: String,
    labels: DataSourceLabels,
    /// `ingest/events/processed`.
    pub processed: Counter,
    /// `ingest/events/unparseable`.
    pub unparseable: Counter,
    /// `ingest/rows/output`.
    pub rows_output: Counter,
    latest_event_ms: Arc<AtomicI64>,
}

impl DataSourceMetrics {
    /// Adds thrown-away events with a reason.
    pub fn thrown_away(&self, reason: &str, count: u64) {
        if count > 0 {
            let labels = ThrownAwayLabels {
                dataSource: self.data_source.clone(),
                reason: reason.to_string(),
            };
            self.node
                .events_thrown_away
                .get_or_create(&labels)
                .inc_by(count);
        }
    }

    /// Total thrown-away events over every reason.
    pub fn thrown_away_total(&self) -> u64 {
        ["late", "early", "outOfInterval"]
            .iter()
            .map(|reason| {
                let labels = ThrownAwayLabels {
                    dataSource: self.data_source.clone(),
                    reason: reason.to_string(),
                };
                self.node
                    .events_thrown_away
                    .get(&labels)
                    .map(|c| c.get())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// Reports the greatest timestamp of the events just processed (the base of
    /// `ingest/events/messageGap`; an earlier one than already reported changes nothing).
    pub fn report_latest_event_ms(&self, time_ms: i64) {
        self.latest_event_ms.fetch_max(time_ms, Ordering::Relaxed);
    }

    /// The node-wide families.
    pub fn node(&self) -> &NodeMetrics {
        &self.node
    }

    /// The `{dataSource}` label set.
    pub fn labels(&self) -> &DataSourceLabels {
        &self.labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_druid_names_with_data_source_labels() {
        let metrics = NodeMetrics::new();
        let wiki = metrics.for_data_source("wiki");
        wiki.processed.inc_by(5);
        wiki.thrown_away("late", 2);
        let text = metrics.encode();
        assert!(
            text.contains("druid_ingest_events_processed_total{dataSource=\"wiki\"} 5"),
            "{text}"
        );
        assert!(
            text.contains(
                "druid_ingest_events_thrownaway_total{dataSource=\"wiki\",reason=\"late\"} 2"
            ),
            "{text}"
        );
        assert_eq!(wiki.thrown_away_total(), 2);
    }

    #[test]
    fn message_gap_is_now_minus_the_latest_event_at_scrape_time() {
        let metrics = NodeMetrics::new();
        let wiki = metrics.for_data_source("wiki");
        metrics.refresh_message_gaps(10_000);
        assert!(
            !metrics.encode().contains("messagegap{"),
            "no event, no series"
        );
        wiki.report_latest_event_ms(7_000);
        wiki.report_latest_event_ms(4_000);
        metrics
            .for_data_source("wiki")
            .report_latest_event_ms(6_000);
        metrics.refresh_message_gaps(10_000);
        let gauge = metrics
            .events_message_gap
            .get_or_create(wiki.labels())
            .get();
        assert_eq!(
            gauge, 3_000,
            "the latest of every report, shared by both handles"
        );
        let text = metrics.encode();
        assert!(
            text.contains("# TYPE druid_ingest_events_messagegap gauge"),
            "{text}"
        );
    }
}
