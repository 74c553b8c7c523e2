//! The Kafka firehose against librdkafka's mock cluster (the real Kafka protocol on loopback).

mod firehose_common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use firehose_common::{FakeIngest, Received, assert_exactly};
use rtnode::config::FirehoseSpec;
use rtnode::firehose::kafka::mock::MockKafka;
use rtnode::firehose::kafka::{KafkaFirehose, KafkaMetrics, ResetTo, reset_offsets};
use rtnode::firehose::{self, Acknowledger};
use rtnode::metrics::NodeMetrics;
use serde_json::{Value, json};

const TOPIC: &str = "events";
const WAIT: Duration = Duration::from_secs(30);

fn spec(brokers: &str, partitions: Option<u32>, extra: Value) -> FirehoseSpec {
    let mut props = json!({
        "bootstrap.servers": brokers,
        "group.id": "rtnode-test",
        "auto.offset.reset": "earliest",
        "session.timeout.ms": "6000",
        "heartbeat.interval.ms": "500",
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            props.as_object_mut().unwrap().remove(k);
        } else {
            props[k] = v.clone();
        }
    }
    let mut spec = json!({"type": "kafka", "topic": TOPIC, "consumerProperties": props});
    if let Some(p) = partitions {
        spec["partitions"] = json!(p);
    }
    serde_json::from_value(spec).unwrap()
}

/// Produces `count` events `{"id":N}` round-robin over 4 partitions, from `first`.
fn produce(kafka: &MockKafka, first: usize, count: usize) -> BTreeSet<Vec<u8>> {
    let mut sent = BTreeSet::new();
    for id in first..first + count {
        let payload = format!("{{\"id\":{id}}}").into_bytes();
        kafka.send(TOPIC, (id % 4) as i32, &payload);
        sent.insert(payload);
    }
    kafka.flush().unwrap();
    sent
}

struct Running {
    ingest: FakeIngest,
    thread: std::thread::JoinHandle<()>,
}

fn start(
    spec: &FirehoseSpec,
    partition_num: u32,
    resume: Option<Value>,
    metrics: Option<KafkaMetrics>,
) -> Running {
    let (tx, rx) = firehose::channel();
    let (thread, ack) = KafkaFirehose::new(spec, partition_num, "wiki", metrics)
        .unwrap()
        .spawn(resume, tx)
        .unwrap();
    let ack: Arc<dyn Acknowledger> = ack;
    Running {
        ingest: FakeIngest::new(rx, Some(ack)),
        thread,
    }
}

async fn stop(running: Running) -> FakeIngest {
    let Running { mut ingest, thread } = running;
    ingest.rx.close();
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
    ingest
}

fn bytes_of(events: &[Received]) -> Vec<Vec<u8>> {
    events.iter().map(|r| r.bytes.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_assignment_resumes_exactly_at_the_checkpoint() {
    let kafka = MockKafka::new(1).unwrap();
    kafka.create_topic(TOPIC, 4).unwrap();
    let sent = produce(&kafka, 0, 2000);
    let spec = spec(kafka.bootstrap_servers(), Some(1), json!({}));

    let mut first = start(&spec, 0, None, None);
    assert!(first.ingest.receive_until(700, WAIT).await >= 700);
    first.ingest.commit();
    // Events received after the commit are lost with the "crash"; they must come again.
    first.ingest.receive_until(1200, WAIT).await;
    let first = stop(first).await;
    let checkpoint = first.committed_checkpoint.clone().unwrap();
    assert_eq!(checkpoint["topic"], TOPIC);
    let before = bytes_of(&first.committed);

    let mut second = start(&spec, 0, Some(checkpoint), None);
    let rest = 2000 - before.len();
    assert_eq!(second.ingest.receive_until(rest, WAIT).await, rest);
    second.ingest.run_for(Duration::from_millis(500)).await;
    second.ingest.commit();
    let second = stop(second).await;
    let mut all = before;
    all.extend(bytes_of(&second.committed));
    assert_exactly(all, &sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_nodes_split_partitions_by_partition_num() {
    let kafka = MockKafka::new(1).unwrap();
    kafka.create_topic(TOPIC, 4).unwrap();
    let sent = produce(&kafka, 0, 400);
    let spec = spec(kafka.bootstrap_servers(), Some(2), json!({}));
    let mut all = Vec::new();
    for node in 0..2 {
        let mut running = start(&spec, node, None, None);
        assert_eq!(running.ingest.receive_until(200, WAIT).await, 200);
        running.ingest.run_for(Duration::from_millis(300)).await;
        running.ingest.commit();
        let ingest = stop(running).await;
        let partitions: BTreeSet<i64> = ingest.committed.iter().map(|r| r.position.0).collect();
        let expected: BTreeSet<i64> = [node as i64, node as i64 + 2].into();
        assert_eq!(partitions, expected);
        let checkpoint = ingest.committed_checkpoint.unwrap();
        let owned: Vec<&String> = checkpoint["partitions"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(owned.len(), 2, "{checkpoint}");
        all.extend(bytes_of(&ingest.committed));
    }
    assert_exactly(all, &sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_checkpoint_fails_naming_partition_and_reset_command() {
    let kafka = MockKafka::new(1).unwrap();
    kafka.create_topic(TOPIC, 4).unwrap();
    let sent = produce(&kafka, 0, 40);
    let spec = spec(kafka.bootstrap_servers(), Some(1), json!({}));
    let bad = json!({"topic": TOPIC, "partitions": {"0": 5, "2": 2692}});
    let mut running = start(&spec, 0, Some(bad.clone()), None);
    running.ingest.run_for(WAIT).await;
    let ingest = stop(running).await;
    let failure = ingest.failed.expect("the firehose fails");
    assert!(failure.contains("partition 2"), "{failure}");
    assert!(failure.contains("2692"), "{failure}");
    assert!(
        failure.contains("rtnode reset-offsets --spec FILE --to earliest|latest"),
        "{failure}"
    );
    assert!(ingest.committed.is_empty() && ingest.held.is_empty());

    // The reset keeps in-range positions and moves the out-of-range one.
    let spec_for_reset = spec.clone();
    let reset = tokio::task::spawn_blocking(move || {
        reset_offsets(&spec_for_reset, 0, Some(&bad), ResetTo::Earliest).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(reset["partitions"]["0"], 5);
    assert_eq!(reset["partitions"]["2"], 0);
    let mut running = start(&spec, 0, Some(reset), None);
    // Partition 0 starts at 5 (10 events each partition): 5 + 10 + 10 + 10 events.
    assert_eq!(running.ingest.receive_until(35, WAIT).await, 35);
    running.ingest.run_for(Duration::from_millis(300)).await;
    assert_eq!(running.ingest.total(), 35);
    let ingest = stop(running).await;
    let got: BTreeSet<Vec<u8>> = bytes_of(&ingest.held).into_iter().collect();
    assert!(got.is_subset(&sent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_rebalance_flushes_before_revoke_and_loses_or_repeats_nothing() {
    let kafka = MockKafka::new(1).unwrap();
    kafka.create_topic(TOPIC, 4).unwrap();
    let mut sent = produce(&kafka, 0, 1000);
    // KIP-848 (`group.protocol=consumer`): a member still owns partitions being revoked, so
    // its commit before giving them up is accepted (the mock's classic protocol refuses
    // commits once a rebalance started; real Kafka brokers accept them while preparing it).
    let props = json!({"group.id": "rebalance", "group.protocol": "consumer",
        "session.timeout.ms": null, "heartbeat.interval.ms": null});
    let spec = spec(kafka.bootstrap_servers(), None, props);

    let mut a = start(&spec, 0, None, None);
    assert_eq!(a.ingest.receive_until(1000, WAIT).await, 1000);
    // B joins: A must flush before giving partitions up.
    let mut b = start(&spec, 0, None, None);
    let deadline = tokio::time::Instant::now() + WAIT;
    while a.ingest.flushes == 0 && tokio::time::Instant::now() < deadline {
        tokio::join!(
            a.ingest.run_for(Duration::from_millis(200)),
            b.ingest.run_for(Duration::from_millis(200))
        );
    }
    assert!(
        a.ingest.flushes >= 1,
        "A was not asked to flush before the revoke"
    );
    tokio::join!(
        a.ingest.run_for(Duration::from_millis(500)),
        b.ingest.run_for(Duration::from_millis(500))
    );
    sent.extend(produce(&kafka, 1000, 1000));
    while (a.ingest.total() + b.ingest.total() < 2000 || b.ingest.total() == 0)
        && tokio::time::Instant::now() < deadline
    {
        tokio::join!(
            a.ingest.run_for(Duration::from_millis(200)),
            b.ingest.run_for(Duration::from_millis(200))
        );
    }
    assert!(
        a.ingest.flushes >= 1,
        "A was not asked to flush before the revoke"
    );
    assert!(b.ingest.total() > 0, "B got no partition");
    // B leaves after committing what it read (a graceful stop).
    b.ingest.commit();
    let b = stop(b).await;
    sent.extend(produce(&kafka, 2000, 400));
    let expected_rest = 2400 - b.committed.len() - a.ingest.committed.len();
    let deadline = tokio::time::Instant::now() + WAIT;
    while a.ingest.held.len() < expected_rest && tokio::time::Instant::now() < deadline {
        a.ingest.run_for(Duration::from_millis(200)).await;
    }
    a.ingest.run_for(Duration::from_millis(500)).await;
    a.ingest.commit();
    let a = stop(a).await;
    let mut all = bytes_of(&a.committed);
    all.extend(bytes_of(&b.committed));
    assert_exactly(all, &sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_and_up_is_survived() {
    let kafka = MockKafka::new(1).unwrap();
    kafka.create_topic(TOPIC, 4).unwrap();
    let mut sent = produce(&kafka, 0, 200);
    let spec = spec(kafka.bootstrap_servers(), Some(1), json!({}));
    let mut running = start(&spec, 0, None, None);
    assert_eq!(running.ingest.receive_until(200, WAIT).await, 200);
    kafka.cluster().broker_down(1).unwrap();
    running.ingest.run_for(Duration::from_secs(2)).await;
    assert!(running.ingest.failed.is_none());
    kafka.cluster().broker_up(1).unwrap();
    sent.extend(produce(&kafka, 200, 200));
    assert_eq!(running.ingest.receive_until(400, WAIT).await, 400);
    let ingest = stop(running).await;
    assert_exactly(bytes_of(&ingest.held), &sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_pass_through_with_partition_and_offset() {
    let kafka = MockKafka::new(1).unwrap();
    kafka.create_topic(TOPIC, 4).unwrap();
    let mut sent = Vec::new();
    for i in 0..12_000usize {
        let payload: Vec<u8> = match i % 6 {
            0 => format!("{{\"id\":{i}}}").into_bytes(),
            1 => vec![0xff, 0xfe, (i % 251) as u8, b'{'],
            2 => format!("{{\"id\":{i},").into_bytes(),
            3 => format!("not json {i}").into_bytes(),
            4 => format!("{{\"id\":{i}}}").into_bytes(),
            _ => format!("[{i}, \"\\ud800\"").into_bytes(),
        };
        kafka.send(TOPIC, (i % 4) as i32, &payload);
        sent.push(payload);
    }
    kafka.flush().unwrap();
    let spec = spec(kafka.bootstrap_servers(), Some(1), json!({}));
    let mut running = start(&spec, 0, None, None);
    assert_eq!(running.ingest.receive_until(12_000, WAIT).await, 12_000);
    assert!(running.ingest.failed.is_none());
    let ingest = stop(running).await;
    // Every event keeps its partition and offset: per partition, offsets are 0..3000.
    for partition in 0..4i64 {
        let offsets: Vec<i64> = ingest
            .held
            .iter()
            .filter(|r| r.position.0 == partition)
            .map(|r| r.position.1)
            .collect();
        assert_eq!(offsets, (0..3000).collect::<Vec<i64>>());
    }
    let got: Vec<Vec<u8>> = {
        let mut held = ingest.held.clone();
        held.sort_by_key(|r| (r.position.1, r.position.0));
        bytes_of(&held)
    };
    assert_eq!(got, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_gauges_follow_backpressure() {
    let kafka = MockKafka::new(1).unwrap();
    kafka.create_topic(TOPIC, 4).unwrap();
    let payload = vec![b'x'; 100_000];
    for i in 0..80 {
        kafka.send(TOPIC, i % 4, &payload);
    }
    kafka.flush().unwrap();
    let node = NodeMetrics::new();
    let metrics = KafkaMetrics::register(&node);
    let spec = spec(
        kafka.bootstrap_servers(),
        Some(1),
        json!({"statistics.interval.ms": "100"}),
    );
    let mut running = start(&spec, 0, None, Some(metrics.clone()));
    let lag = |metrics: &KafkaMetrics| {
        metrics
            .lag
            .get(&rtnode::metrics::DataSourceLabels {
                dataSource: "wiki".into(),
            })
            .map(|g| g.get())
    };
    // Nothing is received: the channel fills, the consumer pauses, lag shows.
    let deadline = std::time::Instant::now() + WAIT;
    while lag(&metrics).unwrap_or(0) == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(lag(&metrics).unwrap_or(0) > 0, "{}", node.encode());
    assert!(
        node.encode()
            .contains("druid_ingest_kafka_partitionlag{dataSource=\"wiki\",partition=\"3\"}")
    );
    assert_eq!(running.ingest.receive_until(80, WAIT).await, 80);
    let deadline = std::time::Instant::now() + WAIT;
    while lag(&metrics) != Some(0) && std::time::Instant::now() < deadline {
        running.ingest.run_for(Duration::from_millis(100)).await;
    }
    assert_eq!(lag(&metrics), Some(0), "{}", node.encode());
    stop(running).await;
}
