//! A test double for Kafka: librdkafka's mock cluster (the real Kafka protocol on loopback
//! ports; any process on the machine can connect while this one lives). Used by the tests,
//! the benchmarks and the `mock-kafka` helper binary; never by the node.
//!
//! Limits of the mock: state is in memory only, each partition keeps at most ~5 MiB or 100 000
//! message sets (older ones are dropped: large runs see out-of-range offsets), `CreateTopics`
//! is not supported (use [`MockKafka::create_topic`]).

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

/// A mock Kafka cluster and a producer connected to it.
pub struct MockKafka {
    producer: ThreadedProducer<DefaultProducerContext>,
    bootstrap_servers: String,
}

impl std::fmt::Debug for MockKafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockKafka")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .finish()
    }
}

impl MockKafka {
    /// Starts a cluster of `brokers` brokers with a group initial rebalance delay of 0 ms.
    pub fn new(brokers: u32) -> Result<MockKafka, rdkafka::error::KafkaError> {
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("test.mock.num.brokers", brokers.to_string())
            .set("linger.ms", "5")
            .set("batch.num.messages", "1000")
            .create()?;
        let bootstrap_servers = {
            let cluster = producer
                .client()
                .mock_cluster()
                .expect("`test.mock.num.brokers` creates a mock cluster");
            set_initial_rebalance_delay(&producer, 0);
            cluster.bootstrap_servers()
        };
        Ok(MockKafka {
            producer,
            bootstrap_servers,
        })
    }

    /// The `bootstrap.servers` list (`127.0.0.1:port,…`).
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// The cluster, for fault injection (`broker_down`, `broker_up`, `request_errors`).
    pub fn cluster(&self) -> MockCluster<'_, DefaultProducerContext> {
        self.producer
            .client()
            .mock_cluster()
            .expect("the producer owns a mock cluster")
    }

    /// Creates `topic` with `partitions` partitions.
    pub fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
    ) -> Result<(), rdkafka::error::KafkaError> {
        self.cluster().create_topic(topic, partitions, 1)
    }

    /// Queues one message to `partition` (waits while the producer queue is full).
    pub fn send(&self, topic: &str, partition: i32, payload: &[u8]) {
        let mut record = BaseRecord::<(), [u8]>::to(topic)
            .partition(partition)
            .payload(payload);
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((_, returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    /// Waits until every queued message is delivered.
    pub fn flush(&self) -> Result<(), rdkafka::error::KafkaError> {
        self.producer.flush(Duration::from_secs(30))
    }
}

/// Lowers the group coordinator's initial rebalance delay (3 s by default) so tests join fast.
fn set_initial_rebalance_delay(producer: &ThreadedProducer<DefaultProducerContext>, delay_ms: i32) {
    let client = producer.client();
    // SAFETY: `client.native_ptr()` is a live rd_kafka_t for as long as `producer` lives, and
    // `rd_kafka_handle_mock_cluster` returns the mock cluster that handle owns (non-null, since
    // the client was created with `test.mock.num.brokers`); the setter only stores the value.
    unsafe {
        let cluster = rdkafka::bindings::rd_kafka_handle_mock_cluster(client.native_ptr());
        if !cluster.is_null() {
            rdkafka::bindings::rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, delay_ms);
        }
    }
}
