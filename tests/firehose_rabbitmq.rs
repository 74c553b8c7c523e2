//! The RabbitMQ firehose against the real server on 127.0.0.1:5672 (guest/guest), or
//! `AMQP_ADDR`. Each test uses its own durable queue and deletes it.

mod firehose_common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use firehose_common::FakeIngest;
use lapin::options::{BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use rtnode::config::io::RabbitMqFirehose as RabbitSpec;
use rtnode::firehose::rabbitmq::RabbitMqFirehose;
use rtnode::firehose::{self, Acknowledger, FirehoseMessage};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// Tests hold it shared; the broker-restart test holds it exclusively.
static BROKER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn addr() -> String {
    std::env::var("AMQP_ADDR").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn queue_name(test: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "rtnode-test-{test}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn publisher(queue: &str) -> (Connection, Channel) {
    let connection = Connection::connect(&addr(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672 (scripts/ensure-services.sh starts it)");
    let channel = connection.create_channel().await.unwrap();
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await
        .unwrap();
    (connection, channel)
}

async fn publish(channel: &Channel, queue: &str, payloads: &[Vec<u8>]) {
    for payload in payloads {
        channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                payload,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

async fn delete(queue: &str) {
    let (connection, channel) = publisher(queue).await;
    channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    let _ = connection.close(200, "done".into()).await;
}

fn events(first: usize, count: usize) -> Vec<Vec<u8>> {
    (first..first + count)
        .map(|i| format!("{{\"id\":{i}}}").into_bytes())
        .collect()
}

fn spec(queue: &str) -> RabbitSpec {
    serde_json::from_value(json!({
        "connection": {"uri": addr()},
        "config": {"queue": queue, "durable": "true", "exchange": "amq.direct", "routingKey": queue,
                   "retryIntervalSeconds": "1", "maxDurationSeconds": "2", "maxRetries": "60"}
    }))
    .unwrap()
}

fn start(
    queue: &str,
    prefetch: u16,
    resume: Option<Value>,
) -> (FakeIngest, tokio::task::JoinHandle<()>) {
    let (tx, rx) = firehose::channel();
    let runtime = tokio::runtime::Handle::current();
    let (task, ack) = RabbitMqFirehose::new(&spec(queue), prefetch)
        .spawn(&runtime, resume, tx)
        .unwrap();
    let ack: Arc<dyn Acknowledger> = ack;
    (FakeIngest::new(rx, Some(ack)), task)
}

async fn stop(mut ingest: FakeIngest, task: tokio::task::JoinHandle<()>) -> FakeIngest {
    ingest.rx.close();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    ingest
}

fn set(events: &[firehose_common::Received]) -> BTreeSet<Vec<u8>> {
    events.iter().map(|r| r.bytes.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_deliveries_come_again_after_the_firehose_dies() {
    let _shared = BROKER.read().await;
    let queue = queue_name("redeliver");
    let (connection, channel) = publisher(&queue).await;
    let sent = events(0, 300);
    publish(&channel, &queue, &sent).await;
    let (mut ingest, task) = start(&queue, 1000, None);
    assert_eq!(ingest.receive_until(300, WAIT).await, 300);
    // Commit (and ack) only the first 120 events' batch boundary, then die without acking more.
    let cut = 120;
    let mut first = FakeIngest::new(tokio::sync::mpsc::channel(1).1, ingest.acknowledger.clone());
    first.held = ingest.held.drain(..cut).collect();
    let tag = first.held.last().unwrap().position;
    first.held_checkpoint = Some(json!({"channel": tag.0, "deliveryTag": tag.1}));
    first.commit();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let checkpoint = first.committed_checkpoint.clone();
    let _ = stop(ingest, task).await;

    let (mut again, task) = start(&queue, 1000, checkpoint.clone());
    assert_eq!(again.receive_until(180, WAIT).await, 180);
    again.run_for(Duration::from_millis(500)).await;
    assert_eq!(
        again.total(),
        180,
        "only the unacknowledged events come again"
    );
    // The restarted firehose runs a generation above the recorded one.
    assert!(again.held[0].position.0 > checkpoint.unwrap()["channel"].as_i64().unwrap());
    let mut all = set(&first.committed);
    all.extend(set(&again.held));
    assert_eq!(all, sent.iter().cloned().collect());
    again.commit();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(again, task).await;
    let _ = connection.close(200, "done".into()).await;
    delete(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_window_full_asks_for_a_flush_instead_of_stalling() {
    let _shared = BROKER.read().await;
    let queue = queue_name("prefetch");
    let (connection, channel) = publisher(&queue).await;
    let sent = events(0, 1000);
    publish(&channel, &queue, &sent).await;
    // The fake loop commits only when asked to flush; prefetch 40 < 1000 events.
    let (mut ingest, task) = start(&queue, 40, None);
    assert_eq!(ingest.receive_until(1000, WAIT).await, 1000);
    assert!(
        ingest.flushes >= 1000 / 40 / 2,
        "flushes: {}",
        ingest.flushes
    );
    let got: BTreeSet<Vec<u8>> = set(&ingest.committed)
        .union(&set(&ingest.held))
        .cloned()
        .collect();
    assert_eq!(got, sent.iter().cloned().collect());
    stop(ingest, task).await;
    let _ = connection.close(200, "done".into()).await;
    delete(&queue).await;
}

/// A trickle far below the prefetch window is still flushed (and acked) once its deliveries
/// have waited `max_unacked_age`: RabbitMQ would close the channel at `consumer_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_unacked_too_long_ask_for_a_flush() {
    let _shared = BROKER.read().await;
    let queue = queue_name("aged");
    let (connection, channel) = publisher(&queue).await;
    let sent = events(0, 10);
    publish(&channel, &queue, &sent).await;
    let (tx, rx) = firehose::channel();
    let (task, ack) = RabbitMqFirehose::new(&spec(&queue), 1000)
        .with_max_unacked_age(Duration::from_millis(700))
        .spawn(&tokio::runtime::Handle::current(), None, tx)
        .unwrap();
    let ack: Arc<dyn Acknowledger> = ack;
    let mut ingest = FakeIngest::new(rx, Some(ack));
    assert_eq!(ingest.receive_until(10, WAIT).await, 10);
    assert_eq!(ingest.flushes, 0, "10 of 1000: the window is far from full");
    let deadline = tokio::time::Instant::now() + WAIT;
    while ingest.flushes == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no flush of aged deliveries"
        );
        ingest.run_for(Duration::from_millis(100)).await;
    }
    assert_eq!(set(&ingest.committed), sent.iter().cloned().collect());
    // Acked: nothing comes back once the consumer is gone.
    ingest.run_for(Duration::from_millis(300)).await;
    stop(ingest, task).await;
    assert_eq!(ready_without_consumers(&queue).await, 0);
    let _ = connection.close(200, "done".into()).await;
    delete(&queue).await;
}

/// An ingest loop may close its receiver while a `Flush` request is still unanswered (queued
/// in the channel, its reply neither sent nor dropped): the firehose must stop anyway. Before,
/// it waited for the reply forever; `prefetch_window_full_asks_for_a_flush_instead_of_stalling`
/// hung that way whenever its last batch was followed by a `Flush`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_a_flush_request_unanswered_does_not_hang() {
    let _shared = BROKER.read().await;
    let queue = queue_name("pending-flush");
    let (connection, channel) = publisher(&queue).await;
    publish(&channel, &queue, &events(0, 100)).await;
    // Prefetch 8: the firehose asks for a flush once 6 deliveries are unacknowledged.
    let (mut ingest, task) = start(&queue, 8, None);
    let unanswered = loop {
        match tokio::time::timeout(WAIT, ingest.rx.recv()).await.unwrap() {
            Some(FirehoseMessage::Flush(reply)) => break reply,
            Some(FirehoseMessage::Batch(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    ingest.rx.close();
    tokio::time::timeout(WAIT, task)
        .await
        .expect("the firehose stops while its flush request is unanswered")
        .unwrap();
    drop(unanswered);
    let _ = connection.close(200, "done".into()).await;
    delete(&queue).await;
}

/// `(ready, consumers)` of `queue`.
async fn queue_state(queue: &str) -> (u32, u32) {
    let (connection, channel) = publisher(queue).await;
    let state = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let _ = connection.close(200, "done".into()).await;
    (state.message_count(), state.consumer_count())
}

/// `ready` of `queue` once no consumer holds deliveries any more.
async fn ready_without_consumers(queue: &str) -> u32 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (ready, consumers) = queue_state(queue).await;
        if consumers == 0 {
            return ready;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the consumer never went away"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ingest loop commits (acknowledges) and closes its receiver at once, as the node does on
/// a graceful stop: the firehose must send that ack and have it confirmed before it closes
/// the connection, so nothing committed comes again. Five rounds on one queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_right_after_a_commit_acknowledges_that_commit() {
    let _shared = BROKER.read().await;
    let queue = queue_name("commit-stop");
    let (connection, channel) = publisher(&queue).await;
    let mut resume = None;
    for round in 0..5 {
        let sent = events(round * 500, 500);
        publish(&channel, &queue, &sent).await;
        let (mut ingest, task) = start(&queue, 1000, resume.clone());
        assert_eq!(ingest.receive_until(500, WAIT).await, 500, "round {round}");
        ingest.commit();
        resume = ingest.committed_checkpoint.clone();
        let ingest = stop(ingest, task).await;
        assert_eq!(set(&ingest.committed), sent.iter().cloned().collect());
        assert_eq!(
            ready_without_consumers(&queue).await,
            0,
            "round {round}: committed deliveries were not acknowledged before the stop"
        );
    }
    let _ = connection.close(200, "done".into()).await;
    delete(&queue).await;
}

/// A TCP relay to the broker that can freeze: it then forwards nothing either way and closes
/// nothing, like a broker that stopped answering.
struct Relay {
    port: u16,
    frozen: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start() -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = frozen.clone();
        let task = tokio::spawn(async move {
            let mut pipes = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let broker = tokio::net::TcpStream::connect("127.0.0.1:5672")
                    .await
                    .unwrap();
                let (client_read, client_write) = client.into_split();
                let (broker_read, broker_write) = broker.into_split();
                pipes.spawn(Relay::pipe(client_read, broker_write, flag.clone()));
                pipes.spawn(Relay::pipe(broker_read, client_write, flag.clone()));
            }
        });
        Relay { port, frozen, task }
    }

    async fn pipe(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        frozen: Arc<std::sync::atomic::AtomicBool>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            while frozen.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }

    fn uri(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}

/// With a broker that stopped answering, a stopping firehose gives up on confirming its last
/// acks after `rabbitmq::STOP_TIMEOUT` instead of hanging; once the connection is gone the
/// broker delivers the unconfirmed messages again (duplicates, never loss).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_an_unresponsive_broker_is_bounded() {
    if addr() != "amqp://guest:guest@127.0.0.1:5672/%2f" {
        return; // the relay forwards to the local broker only
    }
    let _shared = BROKER.read().await;
    let queue = queue_name("frozen");
    let (connection, channel) = publisher(&queue).await;
    publish(&channel, &queue, &events(0, 50)).await;
    let relay = Relay::start().await;
    let mut spec = spec(&queue);
    spec.connection.uri = Some(relay.uri());
    let (tx, rx) = firehose::channel();
    let (task, ack) = RabbitMqFirehose::new(&spec, 1000)
        .spawn(&tokio::runtime::Handle::current(), None, tx)
        .unwrap();
    let mut ingest = FakeIngest::new(rx, Some(ack as Arc<dyn Acknowledger>));
    assert_eq!(ingest.receive_until(50, WAIT).await, 50);
    relay.frozen.store(true, Ordering::Relaxed);
    ingest.commit();
    ingest.rx.close();
    let started = std::time::Instant::now();
    let bound = rtnode::firehose::rabbitmq::STOP_TIMEOUT + Duration::from_secs(5);
    tokio::time::timeout(bound, task)
        .await
        .expect("a stop with an unresponsive broker is bounded")
        .unwrap();
    assert!(started.elapsed() >= rtnode::firehose::rabbitmq::STOP_TIMEOUT - Duration::from_secs(1));
    relay.task.abort();
    drop(relay);
    assert_eq!(
        ready_without_consumers(&queue).await,
        50,
        "the unconfirmed deliveries come again"
    );
    let _ = connection.close(200, "done".into()).await;
    delete(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_pass_through_with_delivery_tags() {
    let _shared = BROKER.read().await;
    let queue = queue_name("malformed");
    let (connection, channel) = publisher(&queue).await;
    let sent: Vec<Vec<u8>> = (0..12_000usize)
        .map(|i| match i % 6 {
            0 | 3 => format!("{{\"id\":{i}}}").into_bytes(),
            1 => vec![0xff, 0xfe, (i % 251) as u8],
            2 => format!("{{\"id\":{i},").into_bytes(),
            4 => Vec::new(),
            _ => format!("not json {i}").into_bytes(),
        })
        .collect();
    publish(&channel, &queue, &sent).await;
    let (mut ingest, task) = start(&queue, 20_000, None);
    assert_eq!(ingest.receive_until(12_000, WAIT).await, 12_000);
    assert!(ingest.failed.is_none());
    let tags: Vec<i64> = ingest.held.iter().map(|r| r.position.1).collect();
    assert_eq!(tags, (1..=12_000).collect::<Vec<i64>>());
    let got: Vec<Vec<u8>> = ingest.held.iter().map(|r| r.bytes.clone()).collect();
    assert_eq!(got, sent);
    ingest.commit();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(ingest, task).await;
    let _ = connection.close(200, "done".into()).await;
    delete(&queue).await;
}

fn rabbitmqctl(args: &[&str]) {
    let status = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl");
    assert!(
        status.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// One test restarts the broker, so the connection-loss cases share it (tests run in parallel).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_reconnects_and_stale_tags_are_never_acked() {
    let _exclusive = BROKER.write().await;
    let queue = queue_name("restart");
    let (connection, channel) = publisher(&queue).await;
    let sent = events(0, 200);
    publish(&channel, &queue, &sent).await;
    let _ = connection.close(200, "done".into()).await;
    let (mut ingest, task) = start(&queue, 1000, None);
    assert_eq!(ingest.receive_until(200, WAIT).await, 200);
    let stale = ingest.held_checkpoint.clone().unwrap();
    assert_eq!(stale["channel"], 1);

    rabbitmqctl(&["stop_app"]);
    rabbitmqctl(&["start_app"]);
    rabbitmqctl(&["await_startup"]);
    // The 200 unacked deliveries come again on generation 2.
    ingest.held.clear();
    assert_eq!(ingest.receive_until(200, WAIT).await, 200);
    assert!(
        ingest.held.iter().all(|r| r.position.0 == 2),
        "{:?}",
        &ingest.held[..1]
    );
    // Acknowledging generation 1's checkpoint must not ack tag 200 on the new channel (that
    // would be an unknown tag and close it): the channel stays, nothing is acked.
    ingest.acknowledger.clone().unwrap().acknowledge(&stale);
    let (connection, channel) = publisher(&queue).await;
    let more = events(200, 50);
    publish(&channel, &queue, &more).await;
    assert_eq!(ingest.receive_until(250, WAIT).await, 250);
    assert!(
        ingest.held.iter().all(|r| r.position.0 == 2),
        "the channel was closed by a stale ack"
    );
    let got = set(&ingest.held);
    assert_eq!(got, sent.iter().chain(&more).cloned().collect());
    ingest.commit();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(ingest, task).await;
    // Everything was acked on generation 2: the queue is empty.
    assert_eq!(queue_state(&queue).await.0, 0);
    let _ = connection.close(200, "done".into()).await;
    delete(&queue).await;
}
