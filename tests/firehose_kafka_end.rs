//! The Kafka firehose's finite input (`endOffsets: "latest"`) against librdkafka's mock cluster.
//! (The mock writes no transaction markers, so the end-of-partition path that ends a partition
//! whose last offsets are markers is tested at `PollState::reached_ends` only.)

mod firehose_common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use firehose_common::{FakeIngest, assert_exactly};
use rtnode::config::FirehoseSpec;
use rtnode::firehose::kafka::KafkaFirehose;
use rtnode::firehose::kafka::mock::MockKafka;
use rtnode::firehose::{self, Acknowledger};
use serde_json::{Value, json};

const TOPIC: &str = "events";
const WAIT: Duration = Duration::from_secs(30);

fn bounded_spec(brokers: &str) -> FirehoseSpec {
    serde_json::from_value(json!({
        "type": "kafka",
        "topic": TOPIC,
        "partitions": 1,
        "endOffsets": "latest",
        "consumerProperties": {"bootstrap.servers": brokers, "auto.offset.reset": "earliest"},
    }))
    .unwrap()
}

/// Produces `{"id":N}` for `ids`, round robin over partitions 0–3.
fn produce(kafka: &MockKafka, ids: std::ops::Range<usize>) -> BTreeSet<Vec<u8>> {
    let mut sent = BTreeSet::new();
    for id in ids {
        let payload = format!("{{\"id\":{id}}}").into_bytes();
        kafka.send(TOPIC, (id % 4) as i32, &payload);
        sent.insert(payload);
    }
    kafka.flush().unwrap();
    sent
}

/// Runs a bounded firehose from `resume` until it ends; returns what it delivered (committed)
/// and the `End` checkpoint. `after_first` runs once the first event has arrived.
async fn run_to_end(
    spec: &FirehoseSpec,
    resume: Option<Value>,
    after_first: impl FnOnce(),
) -> (FakeIngest, Value) {
    let (tx, rx) = firehose::channel();
    let (thread, ack) = KafkaFirehose::new(spec, 0, "wiki", None)
        .unwrap()
        .spawn(resume, tx)
        .unwrap();
    let ack: Arc<dyn Acknowledger> = ack;
    let mut ingest = FakeIngest::new(rx, Some(ack));
    ingest.receive_until(1, WAIT).await;
    after_first();
    ingest.run_for(WAIT).await;
    assert!(ingest.failed.is_none(), "{:?}", ingest.failed);
    let end = ingest.ended.clone().expect("the input ends");
    ingest.commit();
    ingest.rx.close();
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
    (ingest, end)
}

fn positions(checkpoint: &Value) -> BTreeMap<String, i64> {
    serde_json::from_value(checkpoint["partitions"].clone()).unwrap()
}

fn delivered(ingest: &FakeIngest) -> Vec<Vec<u8>> {
    ingest.committed.iter().map(|r| r.bytes.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_input_ends_at_the_offsets_of_its_start_and_resumes_there() {
    let kafka = MockKafka::new(1).unwrap();
    // Partition 4 stays empty: it is at its end from the start.
    kafka.create_topic(TOPIC, 5).unwrap();
    let first = produce(&kafka, 0..2000);
    let spec = bounded_spec(kafka.bootstrap_servers());

    // Events produced after the start are past its end offsets.
    let mut later = BTreeSet::new();
    let (ingest, end) = run_to_end(&spec, None, || later = produce(&kafka, 2000..2500)).await;
    assert_exactly(delivered(&ingest), &first);
    let expected: BTreeMap<String, i64> =
        [("0", 500), ("1", 500), ("2", 500), ("3", 500), ("4", 0)]
            .into_iter()
            .map(|(p, o)| (p.to_string(), o))
            .collect();
    assert_eq!(positions(&end), expected);
    assert_eq!(ingest.committed_checkpoint.as_ref(), Some(&end));

    // Resumed at that checkpoint it reads exactly the later events, to the new end.
    let (ingest, end) = run_to_end(&spec, Some(end), || {}).await;
    assert_exactly(delivered(&ingest), &later);
    assert_eq!(positions(&end)["0"], 625);

    // At its end already: `End` at once, nothing delivered.
    let (tx, rx) = firehose::channel();
    let (thread, _) = KafkaFirehose::new(&spec, 0, "wiki", None)
        .unwrap()
        .spawn(Some(end.clone()), tx)
        .unwrap();
    let mut ingest = FakeIngest::new(rx, None);
    ingest.run_for(WAIT).await;
    assert_eq!(ingest.ended.as_ref(), Some(&end));
    assert_eq!(ingest.total(), 0);
    ingest.rx.close();
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
}
