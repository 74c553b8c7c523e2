//! Kafka lag gauges with Druid's names (`ingest/kafka/lag`, `ingest/kafka/maxLag`,
//! `ingest/kafka/avgLag`, `ingest/kafka/partitionLag`), exported as `druid_ingest_kafka_lag`,
//! `druid_ingest_kafka_maxlag`, `druid_ingest_kafka_avglag` and `druid_ingest_kafka_partitionlag`. Lag is the partition's high watermark (from librdkafka
//! statistics, every `statistics.interval.ms`) minus the firehose's next offset to read.

use std::collections::BTreeMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::metrics::{DataSourceLabels, NodeMetrics};

/// Label set `{dataSource, partition}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
#[allow(non_snake_case)]
pub struct PartitionLabels {
    /// The datasource (the field is named as the Prometheus label).
    pub dataSource: String,
    /// The Kafka partition.
    pub partition: String,
}

/// The Kafka lag families, registered once per node.
#[derive(Debug, Clone, Default)]
pub struct KafkaMetrics {
    /// `ingest/kafka/lag`: total lag over the partitions read.
    pub lag: Family<DataSourceLabels, Gauge>,
    /// `ingest/kafka/maxLag`: the largest partition lag.
    pub max_lag: Family<DataSourceLabels, Gauge>,
    /// `ingest/kafka/avgLag`: the mean partition lag (rounded down, as Druid's long division).
    pub avg_lag: Family<DataSourceLabels, Gauge>,
    /// `ingest/kafka/partitionLag`: lag of each partition.
    pub partition_lag: Family<PartitionLabels, Gauge>,
}

impl KafkaMetrics {
    /// Creates the families and registers them in the node's registry. Call once per node.
    pub fn register(node: &NodeMetrics) -> KafkaMetrics {
        let metrics = KafkaMetrics::default();
        node.with_registry(|registry| {
            registry.register(
                "ingest_kafka_lag",
                "Total Kafka consumer lag in messages",
                metrics.lag.clone(),
            );
            registry.register(
                "ingest_kafka_maxlag",
                "Largest Kafka partition lag in messages",
                metrics.max_lag.clone(),
            );
            registry.register(
                "ingest_kafka_avglag",
                "Mean Kafka partition lag in messages",
                metrics.avg_lag.clone(),
            );
            registry.register(
                "ingest_kafka_partitionlag",
                "Kafka consumer lag in messages by partition",
                metrics.partition_lag.clone(),
            );
        });
        metrics
    }

    /// Publishes the lag of every partition read now; partitions not listed lose their series.
    pub fn publish(&self, data_source: &str, lag_by_partition: &BTreeMap<i32, i64>) {
        let labels = DataSourceLabels {
            dataSource: data_source.to_string(),
        };
        let total: i64 = lag_by_partition.values().sum();
        self.lag.get_or_create(&labels).set(total);
        let partitions = (lag_by_partition.len() as i64).max(1);
        self.avg_lag.get_or_create(&labels).set(total / partitions);
        self.max_lag
            .get_or_create(&labels)
            .set(lag_by_partition.values().copied().max().unwrap_or(0));
        for (partition, lag) in lag_by_partition {
            self.partition_lag
                .get_or_create(&PartitionLabels {
                    dataSource: data_source.to_string(),
                    partition: partition.to_string(),
                })
                .set(*lag);
        }
    }

    /// Drops the series of partitions this node no longer reads.
    pub fn forget(&self, data_source: &str, partitions: &[i32]) {
        for partition in partitions {
            self.partition_lag.remove(&PartitionLabels {
                dataSource: data_source.to_string(),
                partition: partition.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_families_use_druid_names() {
        let node = NodeMetrics::new();
        let kafka = KafkaMetrics::register(&node);
        kafka.publish("wiki", &BTreeMap::from([(0, 5), (1, 7)]));
        let text = node.encode();
        assert!(
            text.contains("druid_ingest_kafka_lag{dataSource=\"wiki\"} 12"),
            "{text}"
        );
        assert!(
            text.contains("druid_ingest_kafka_maxlag{dataSource=\"wiki\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("druid_ingest_kafka_avglag{dataSource=\"wiki\"} 6"),
            "{text}"
        );
        assert!(
            text.contains("druid_ingest_kafka_partitionlag{dataSource=\"wiki\",partition=\"1\"} 7"),
            "{text}"
        );
        kafka.forget("wiki", &[1]);
        assert!(!node.encode().contains("partition=\"1\""));
    }
}
