//! Firehose throughput (raw events, no parsing), a measured run rather than criterion samples
//! because each run needs a broker filled with data:
//!
//! - Kafka: events/s from the librdkafka mock cluster (4 partitions) through the Kafka
//!   firehose, static assignment, versus a bare rdkafka `BaseConsumer` poll loop.
//! - RabbitMQ (127.0.0.1:5672, skipped when unreachable): deliveries/s through the firehose
//!   (acking every batch) versus a bare lapin consumer acking with `multiple=true` as often.
//!
//! `cargo bench --bench firehose` (set `FIREHOSE_BENCH_EVENTS` to change the event count).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use rtnode::firehose::kafka::KafkaFirehose;
use rtnode::firehose::kafka::mock::MockKafka;
use rtnode::firehose::rabbitmq::RabbitMqFirehose;
use rtnode::firehose::{self, Acknowledger, FirehoseMessage};
use serde_json::json;

const EVENT: &[u8] = br#"{"timestamp":"2013-08-31T01:02:33Z","page":"Gypsy Danger","language":"en","user":"nuclear","added":57,"deleted":200,"delta":-143}"#;

fn events() -> usize {
    std::env::var("FIREHOSE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn report(name: &str, count: usize, elapsed: Duration) {
    println!(
        "{name:<40} {count:>9} events in {:>7.3} s = {:>10.0} events/s",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
}

fn bench_kafka(count: usize) {
    let kafka = MockKafka::new(1).unwrap();
    kafka.create_topic("bench", 4).unwrap();
    for i in 0..count {
        kafka.send("bench", (i % 4) as i32, EVENT);
    }
    kafka.flush().unwrap();

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("enable.auto.commit", "false")
        .set("group.id", "bench-bare")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..4 {
        tpl.add_partition_offset("bench", p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let start = Instant::now();
    let (mut seen, mut bytes) = (0usize, 0usize);
    while seen < count {
        if let Some(Ok(m)) = consumer.poll(Duration::from_secs(5)) {
            bytes += rdkafka::Message::payload(&m).map_or(0, <[u8]>::len);
            seen += 1;
        }
    }
    report("kafka: bare BaseConsumer poll", seen, start.elapsed());
    assert!(bytes > 0);
    drop(consumer);

    let spec = serde_json::from_value(json!({"type": "kafka", "topic": "bench", "partitions": 1,
        "consumerProperties": {"bootstrap.servers": kafka.bootstrap_servers(), "auto.offset.reset": "earliest"}}))
        .unwrap();
    let (tx, mut rx) = firehose::channel();
    let start = Instant::now();
    let (thread, _ack) = KafkaFirehose::new(&spec, 0, "bench", None)
        .unwrap()
        .spawn(None, tx)
        .unwrap();
    let mut seen = 0;
    while seen < count {
        match rx.blocking_recv() {
            Some(FirehoseMessage::Batch(batch)) => seen += batch.len(),
            other => panic!("unexpected {other:?}"),
        }
    }
    report(
        "kafka: firehose (batches to the channel)",
        seen,
        start.elapsed(),
    );
    drop(rx);
    thread.join().unwrap();
}

async fn bench_rabbitmq(count: usize) {
    let addr = std::env::var("AMQP_ADDR")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let Ok(connection) = Connection::connect(&addr, ConnectionProperties::default()).await else {
        println!("rabbitmq: not reachable at {addr}; skipped");
        return;
    };
    let channel = connection.create_channel().await.unwrap();
    let queue = format!("rtnode-bench-{}", std::process::id());
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let publish = async |n: usize| {
        for _ in 0..n {
            channel
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    EVENT,
                    BasicProperties::default(),
                )
                .await
                .unwrap();
        }
        // Publisher confirms are off; wait until the broker has every message queued.
        loop {
            let q = channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .unwrap();
            if q.message_count() as usize >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };

    publish(count).await;
    let consumer_channel = connection.create_channel().await.unwrap();
    consumer_channel
        .basic_qos(10_000, BasicQosOptions::default())
        .await
        .unwrap();
    let mut consumer = consumer_channel
        .basic_consume(
            queue.as_str().into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let start = Instant::now();
    let mut seen = 0usize;
    while seen < count {
        let delivery = consumer.next().await.unwrap().unwrap();
        seen += 1;
        if seen.is_multiple_of(1000) || seen == count {
            consumer_channel
                .basic_ack(delivery.delivery_tag, BasicAckOptions { multiple: true })
                .await
                .unwrap();
        }
    }
    report("rabbitmq: bare lapin consumer", seen, start.elapsed());
    consumer_channel.close(200, "done".into()).await.unwrap();

    publish(count).await;
    let spec =
        serde_json::from_value(json!({"connection": {"uri": addr}, "config": {"queue": queue}}))
            .unwrap();
    let (tx, mut rx) = firehose::channel();
    let start = Instant::now();
    let (task, ack) = RabbitMqFirehose::new(&spec, 10_000)
        .spawn(&tokio::runtime::Handle::current(), None, tx)
        .unwrap();
    let ack: Arc<dyn Acknowledger> = ack;
    let mut seen = 0;
    while seen < count {
        match rx.recv().await {
            Some(FirehoseMessage::Batch(batch)) => {
                seen += batch.len();
                ack.acknowledge(&batch.checkpoint);
            }
            Some(FirehoseMessage::Flush(reply)) => drop(reply),
            other => panic!("unexpected {other:?}"),
        }
    }
    report("rabbitmq: firehose (ack per batch)", seen, start.elapsed());
    drop(rx);
    task.await.unwrap();
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let count = events();
    bench_kafka(count);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench_rabbitmq(count));
}
