//! Issue 7 end to end through the `rtnode` binary and a real ZooKeeper: what a broker reads
//! (Druid's znodes and payloads), graceful and failed stops withdrawing them at once, handoff
//! through ZooKeeper and through a coordinator, `handoffConditionTimeout`, and a ZooKeeper
//! outage during ingestion.

mod announce_support;
mod node_support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use announce_support::{ZkServer, client, eventually, gunzip, read_batches};
use node_support::cluster::{
    Coordinator, Historical, announced, exists, start_coordinator, zk_props,
};
use node_support::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_match_druid_and_vanish_at_once_on_sigterm() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let firehose = local_firehose(tmp.path(), &two_hours());
    let spec = write_spec(
        tmp.path(),
        firehose,
        json!({"rejectionPolicy": {"type": "none"}}),
    );
    // The longest session the test server grants: expiry would take a minute.
    let (props, me) = zk_props(&zk, 60_000);
    let mut node = Node::start(tmp.path(), &spec, false, &props, false);
    let c = client(&zk).await;
    let segments_parent = format!("/druid/segments/{me}");
    let both = vec![hour_identifier(1), hour_identifier(2)];
    assert!(
        eventually(Duration::from_secs(60), || async {
            announced(&c, &me).await == both
        })
        .await,
        "sinks never announced; log:\n{}",
        node.stderr()
    );

    // The server: ephemeral, gzip, DruidServerMetadata of a realtime node.
    let server_path = format!("/druid/announcements/{me}");
    let (raw, stat) = c.get_data(&server_path).await.unwrap();
    assert_eq!(raw[..2], [0x1f, 0x8b], "gzip payload");
    assert_ne!(stat.ephemeral_owner, 0, "the server znode is ephemeral");
    let session = stat.ephemeral_owner;
    let server: Value = serde_json::from_slice(&gunzip(&raw)).unwrap();
    assert_eq!(
        server,
        json!({"name": me, "host": me, "maxSize": 0, "type": "realtime", "tier": "_default_tier", "priority": 0})
    );
    let parent = c.check_stat(&segments_parent).await.unwrap().unwrap();
    assert_eq!(
        parent.ephemeral_owner, 0,
        "the segments parent is persistent"
    );

    // One batch znode, named as Druid names it, holding both realtime segments.
    let batches = read_batches(&c, &segments_parent).await;
    assert_eq!(batches.len(), 1, "{batches:?}");
    let (name, entries) = &batches[0];
    let rest = name
        .strip_prefix(&format!("{me}_realtime__default_tier_"))
        .unwrap_or_else(|| panic!("batch znode name `{name}`"));
    let (when, uuid_and_counter) = rest.split_once('_').unwrap();
    rtnode::time::parse_iso(when).unwrap();
    assert_eq!(when.len(), "2015-09-12T00:00:00.000Z".len(), "{when}");
    let (uuid, counter) = uuid_and_counter.split_at(32);
    assert!(uuid.chars().all(|ch| ch.is_ascii_hexdigit()), "{uuid}");
    counter.parse::<u64>().unwrap();
    let (raw, stat) = c
        .get_data(&format!("{segments_parent}/{name}"))
        .await
        .unwrap();
    assert_eq!(raw[..2], [0x1f, 0x8b], "gzip payload");
    assert_eq!(stat.ephemeral_owner, session, "ephemeral, same session");
    let mut entries = entries.clone();
    entries.sort_by_key(|e| e["interval"].as_str().unwrap().to_string());
    for (entry, hour) in entries.iter().zip([1, 2]) {
        let expected = realtime_segment_json(hour);
        let keys: HashSet<&String> = entry.as_object().unwrap().keys().collect();
        assert_eq!(keys, expected.as_object().unwrap().keys().collect());
        for (key, value) in expected.as_object().unwrap() {
            assert_eq!(&entry[key], value, "hour {hour} `{key}`");
        }
    }

    // SIGTERM: the session closes, so every ephemeral znode goes at once, not in a minute.
    let signalled = Instant::now();
    node.terminate();
    assert!(
        eventually(Duration::from_secs(15), || async {
            !exists(&c, &server_path).await && !exists(&c, &segments_parent).await
        })
        .await,
        "announcements still there 15 s after SIGTERM; log:\n{}",
        node.stderr()
    );
    println!("announcements gone {:?} after SIGTERM", signalled.elapsed());
    let summary = node.wait_success(Duration::from_secs(30)).await;
    assert_eq!(summary["dataSources"][0]["processed"], 5, "{summary}");
    assert!(node.stderr().contains("zookeeper announcer closed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_withdraws_its_announcements_at_once() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let firehose = local_firehose(tmp.path(), &two_hours());
    let tuning = json!({"rejectionPolicy": {"type": "none"}, "reportParseExceptions": true});
    let spec = write_spec(tmp.path(), firehose, tuning);
    let (props, me) = zk_props(&zk, 60_000);
    let mut node = Node::start(tmp.path(), &spec, false, &props, false);
    let c = client(&zk).await;
    let server_path = format!("/druid/announcements/{me}");
    let both = vec![hour_identifier(1), hour_identifier(2)];
    assert!(
        eventually(Duration::from_secs(60), || async {
            announced(&c, &me).await == both
        })
        .await,
        "sinks never announced; log:\n{}",
        node.stderr()
    );
    // A second file with an unparseable line stops the node (`reportParseExceptions`).
    std::fs::write(tmp.path().join("in/events-2.json"), "not json\n").unwrap();
    let status = node.wait(Duration::from_secs(30)).await;
    assert!(!status.success(), "the parse error fails the run");
    let exited = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || async {
            !exists(&c, &server_path).await
        })
        .await,
        "announcements outlive the failed node; log:\n{}",
        node.stderr()
    );
    println!("announcements gone {:?} after the exit", exited.elapsed());
}

/// Two sinks pushed and published with `--exit-when-done`; the historical takes hour 1 over,
/// then hour 2: each is unannounced and its files deleted when (and only when) handed off,
/// then the node exits 0 with both segments, published as pushed.
async fn hand_off_two_sinks(zk: &ZkServer, historical: Historical, handoff_props: &[String]) {
    let tmp = tempfile::tempdir().unwrap();
    let firehose = local_firehose(tmp.path(), &two_hours());
    let spec = write_spec(
        tmp.path(),
        firehose,
        json!({"rejectionPolicy": {"type": "none"}}),
    );
    let (mut props, me) = zk_props(zk, 10_000);
    props.extend_from_slice(handoff_props);
    let mut node = Node::start(tmp.path(), &spec, true, &props, false);
    let c = client(zk).await;
    let d1 = read_descriptor(&descriptor_path(tmp.path(), 1), Duration::from_secs(60)).await;
    let d2 = read_descriptor(&descriptor_path(tmp.path(), 2), Duration::from_secs(60)).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            all_pushed(tmp.path(), 2)
        })
        .await,
        "sinks never recorded as published; log:\n{}",
        node.stderr()
    );
    // Published, not handed off: the node waits, announcing both, keeping both.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(node.running(), "the node must wait for handoff");
    assert_eq!(
        announced(&c, &me).await,
        [hour_identifier(1), hour_identifier(2)]
    );
    assert!(sink_dir(tmp.path(), 1).exists() && sink_dir(tmp.path(), 2).exists());

    historical.serve(std::slice::from_ref(&d1)).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            announced(&c, &me).await == [hour_identifier(2)] && !sink_dir(tmp.path(), 1).exists()
        })
        .await,
        "hour 1 not dropped after its handoff; log:\n{}",
        node.stderr()
    );
    assert!(node.running(), "hour 2 is not handed off yet");
    assert!(sink_dir(tmp.path(), 2).exists());
    assert!(exists(&c, &format!("/druid/announcements/{me}")).await);

    historical.serve(&[d1.clone(), d2.clone()]).await;
    let summary = node.wait_success(Duration::from_secs(60)).await;
    assert!(!sink_dir(tmp.path(), 2).exists());
    let ds = &summary["dataSources"][0];
    assert_eq!(ds["processed"], 5, "{summary}");
    let segments = summary_segments(&summary);
    assert_eq!(segments, [(hour_identifier(1), 3), (hour_identifier(2), 2)]);
    for d in [&d1, &d2] {
        assert_eq!(d["loadSpec"]["type"], "local");
        assert_eq!(d["binaryVersion"], 9);
        assert_eq!(d["metrics"], "count,added");
    }
    assert_eq!(
        used_segments(tmp.path()).await,
        [d1, d2],
        "published as pushed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_handoff_drops_each_sink_when_a_historical_serves_it() {
    let zk = ZkServer::start();
    let historical = Historical::Zk(client(&zk).await);
    hand_off_two_sinks(
        &zk,
        historical,
        &["druid.segment.handoff.type=zookeeper".into()],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_handoff_drops_each_sink_when_handoff_complete_says_so() {
    let zk = ZkServer::start();
    let state = Arc::new(Mutex::new(Coordinator::default()));
    let url = start_coordinator(state.clone()).await;
    let props = [
        "druid.segment.handoff.type=coordinator".to_string(),
        format!("druid.coordinator.url={url}"),
        "druid.segment.handoff.pollDuration=PT0.2S".to_string(),
    ];
    hand_off_two_sinks(&zk, Historical::Coordinator(state.clone()), &props).await;
    let coordinator = state.lock().unwrap();
    for hour in [1, 2] {
        let answers: Vec<bool> = coordinator
            .calls
            .iter()
            .filter(|(q, _)| q["interval"] == hour_interval(hour))
            .map(|(q, done)| {
                assert_eq!(q["version"], hour_start(hour));
                assert_eq!(q["partitionNumber"], "0");
                *done
            })
            .collect();
        assert!(
            answers.len() >= 2 && !answers[0],
            "hour {hour}: {answers:?}"
        );
        assert_eq!(
            answers.last(),
            Some(&true),
            "hour {hour}: polled until true"
        );
        assert_eq!(
            answers.iter().filter(|d| **d).count(),
            1,
            "hour {hour}: not polled after true"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_condition_timeout_drops_the_sink_and_exits() {
    let zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let firehose = local_firehose(
        tmp.path(),
        &event("2015-09-12T01:05:00Z", "Apple", "ann", 10),
    );
    let tuning = json!({"rejectionPolicy": {"type": "none"}, "handoffConditionTimeout": 2000});
    let spec = write_spec(tmp.path(), firehose, tuning);
    // ZooKeeper handoff (the default with `druid.zk.service.host`), and no historical at all.
    let (props, _) = zk_props(&zk, 10_000);
    let mut node = Node::start(tmp.path(), &spec, true, &props, false);
    assert!(
        eventually(Duration::from_secs(60), || async {
            all_pushed(tmp.path(), 1)
        })
        .await,
        "sink never recorded as published; log:\n{}",
        node.stderr()
    );
    let published = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(node.running(), "the node waits for the timeout");
    let summary = node.wait_success(Duration::from_secs(30)).await;
    let waited = published.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "exited {waited:?} after publishing"
    );
    let log = node.stderr();
    assert!(
        log.contains("handoff did not complete within handoffConditionTimeout"),
        "{log}"
    );
    assert!(
        !sink_dir(tmp.path(), 1).exists(),
        "the local copy is dropped"
    );
    let segments = summary["dataSources"][0]["segments"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(segments.len(), 1, "{summary}");
    assert_eq!(segments[0]["identifier"], hour_identifier(1));
    assert!(
        descriptor_path(tmp.path(), 1).exists(),
        "the segment stays in deep storage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_outage_never_stops_ingestion() {
    use std::io::Write;
    let mut zk = ZkServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let firehose = json!({"type": "local", "baseDir": "-"});
    let tuning = json!({"rejectionPolicy": {"type": "none"}, "intermediatePersistPeriod": "PT1S"});
    let spec = write_spec(tmp.path(), firehose, tuning);
    let session_timeout_ms = 4000;
    let (mut props, me) = zk_props(&zk, session_timeout_ms);
    props.push("druid.segment.handoff.type=none".into());
    let mut node = Node::start(tmp.path(), &spec, true, &props, true);
    let mut stdin = node.take_stdin();
    // Hour 1 before the outage; hours 1 and 2 during it; hour 2 after it (in a second one).
    let before = events_from("2015-09-12T01:00:00Z", 200, 1, "a");
    let during = events_from("2015-09-12T01:40:00Z", 200, 15, "b"); // 80 in hour 1
    let after = events_from("2015-09-12T02:40:00Z", 200, 1, "c");
    stdin.write_all(before.as_bytes()).unwrap();
    stdin.flush().unwrap();
    {
        let c = client(&zk).await;
        assert!(
            eventually(Duration::from_secs(60), || async {
                announced(&c, &me).await == [hour_identifier(1)]
            })
            .await,
            "hour 1 never announced; log:\n{}",
            node.stderr()
        );
    }

    zk.stop();
    let down = Instant::now();
    stdin.write_all(during.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let offset = (before.len() + during.len()) as u64;
    assert!(
        eventually(Duration::from_secs(30), || async {
            committed_checkpoint(tmp.path()) == Some(json!({"file": "-", "offset": offset}))
        })
        .await,
        "rows sent during the outage were not ingested and persisted; log:\n{}",
        node.stderr()
    );
    println!(
        "ingested and persisted {:?} into the outage",
        down.elapsed()
    );
    // Outlast the session (the client gives it up after 7/5 of the timeout): a new one must
    // announce everything, including hour 2, created while ZooKeeper was away.
    let outage = Duration::from_millis(session_timeout_ms * 2);
    tokio::time::sleep(outage.saturating_sub(down.elapsed())).await;
    assert!(node.running());

    zk.restart();
    let back = Instant::now();
    let c = client(&zk).await;
    assert!(
        eventually(Duration::from_secs(60), || async {
            announced(&c, &me).await == [hour_identifier(1), hour_identifier(2)]
                && exists(&c, &format!("/druid/announcements/{me}")).await
        })
        .await,
        "announcements did not come back; log:\n{}",
        node.stderr()
    );
    println!("announcements back {:?} after ZooKeeper", back.elapsed());

    // Down again for the end: pushing, publishing, unannouncing and closing need no ZooKeeper
    // (closing waits at most two session timeouts for it).
    zk.stop();
    stdin.write_all(after.as_bytes()).unwrap();
    drop(stdin);
    let ended = Instant::now();
    let summary = node.wait_success(Duration::from_secs(60)).await;
    let exit = ended.elapsed();
    println!("exited {exit:?} after the input ended, ZooKeeper down");
    let bound = Duration::from_millis(2 * session_timeout_ms) + Duration::from_secs(5);
    assert!(exit < bound, "closing waited {exit:?} for ZooKeeper");
    let ds = &summary["dataSources"][0];
    assert_eq!(ds["processed"], 600, "{summary}");
    let segments = summary_segments(&summary);
    assert_eq!(
        segments,
        [(hour_identifier(1), 280), (hour_identifier(2), 320)]
    );
    assert_eq!(used_segments(tmp.path()).await.len(), 2);
    assert!(
        node.stderr().contains("zookeeper session lost"),
        "{}",
        node.stderr()
    );
}
