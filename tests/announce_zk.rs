//! The ZooKeeper announcer against a real ZooKeeper: paths, modes and payloads as Druid writes
//! them, batching of many segments, rewrite on unannounce, and clean shutdown.

mod announce_support;

use std::collections::HashSet;
use std::time::Duration;

use announce_support::{ZkServer, client, eventually, read_batches, read_json, segment};
use rtnode::announce::{Announcer, AnnouncerConfig, ZkAnnouncer};
use rtnode::config::properties::RuntimeProperties;

fn config(server: &ZkServer, extra: &[(&str, &str)]) -> AnnouncerConfig {
    let mut props = RuntimeProperties::new();
    props.set("druid.zk.service.host", &server.connect_string());
    props.set("druid.host", "rt1");
    for (key, value) in extra {
        props.set(key, value);
    }
    AnnouncerConfig::from_properties(&props).unwrap().unwrap()
}

const SERVER: &str = "/druid/announcements/rt1:8084";
const PARENT: &str = "/druid/segments/rt1:8084";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announces_server_and_segments_as_druid_does() {
    let zk = ZkServer::start();
    let announcer = ZkAnnouncer::start(config(&zk, &[]));
    let segments = [segment(1, 0), segment(2, 3)];
    for s in &segments {
        announcer.announce(s);
    }
    let reader = client(&zk).await;
    let written = eventually(Duration::from_secs(15), || async {
        read_batches(&reader, PARENT)
            .await
            .iter()
            .map(|(_, a)| a.len())
            .sum::<usize>()
            == 2
    })
    .await;
    assert!(written, "segments were not announced");

    // Server znode: ephemeral, owned by the announcer's session, gzip of Druid's JSON.
    let (raw, stat) = reader.get_data(SERVER).await.unwrap();
    assert_eq!(&raw[..2], &[0x1f, 0x8b], "payload is gzip");
    assert_eq!(
        String::from_utf8(announce_support::gunzip(&raw)).unwrap(),
        r#"{"name":"rt1:8084","host":"rt1:8084","maxSize":0,"type":"realtime","tier":"_default_tier","priority":0}"#
    );
    let session = announcer.session().expect("a live session");
    assert_eq!(stat.ephemeral_owner, session.id().0);

    // Segments parent: persistent. One batch child: ephemeral, Druid's name, Druid's JSON.
    let parent_stat = reader.check_stat(PARENT).await.unwrap().unwrap();
    assert_eq!(parent_stat.ephemeral_owner, 0);
    let batches = read_batches(&reader, PARENT).await;
    assert_eq!(batches.len(), 1);
    let (name, array) = &batches[0];
    let rest = name
        .strip_prefix("rt1:8084_realtime__default_tier_")
        .expect(name);
    assert!(rtnode::time::parse_iso(&rest[..24]).is_ok(), "{name}");
    assert!(
        rest[25..57].bytes().all(|b| b.is_ascii_hexdigit()),
        "{name}"
    );
    assert_eq!(&rest[57..], "0", "{name}");
    let (_, child_stat) = reader.get_data(&format!("{PARENT}/{name}")).await.unwrap();
    assert_eq!(child_stat.ephemeral_owner, session.id().0);
    let (raw_batch, _) = reader.get_data(&format!("{PARENT}/{name}")).await.unwrap();
    let expected = format!(
        "[{},{}]",
        String::from_utf8(segments[0].to_json_bytes()).unwrap(),
        String::from_utf8(segments[1].to_json_bytes()).unwrap()
    );
    assert_eq!(
        String::from_utf8(announce_support::gunzip(&raw_batch)).unwrap(),
        expected
    );
    assert_eq!(array[1]["identifier"], segments[1].identifier());
    assert_eq!(array[1]["loadSpec"], serde_json::json!({}));
    assert_eq!(array[1]["dimensions"], "page,user");
    assert_eq!(array[1]["binaryVersion"], serde_json::Value::Null);

    // Clean shutdown: every znode this node made, and the parents it created, are gone.
    announcer.close().await;
    assert_eq!(read_json(&reader, SERVER).await, None);
    assert!(reader.check_stat(PARENT).await.unwrap().is_none());
    assert!(
        reader
            .check_stat("/druid/announcements")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        reader
            .check_stat("/druid/segments")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_120_segments_and_rewrites_on_unannounce() {
    let zk = ZkServer::start();
    let reader = client(&zk).await;
    // A parent that already exists is kept at shutdown.
    reader
        .mkdir(
            PARENT,
            &zookeeper_client::CreateMode::Persistent
                .with_acls(zookeeper_client::Acls::anyone_all()),
        )
        .await
        .unwrap();
    let announcer = ZkAnnouncer::start(config(&zk, &[("druid.zk.service.compress", "false")]));
    let segments: Vec<_> = (0..120).map(|i| segment(i % 24, i / 24)).collect();
    for s in &segments {
        announcer.announce(s);
    }
    let all = eventually(Duration::from_secs(20), || async {
        read_batches(&reader, PARENT)
            .await
            .iter()
            .map(|(_, a)| a.len())
            .sum::<usize>()
            == 120
    })
    .await;
    assert!(all, "120 segments were not announced");
    let batches = read_batches(&reader, PARENT).await;
    assert_eq!(batches.len(), 3, "50 + 50 + 20");
    let mut seen = HashSet::new();
    for (name, array) in &batches {
        let (raw, _) = reader.get_data(&format!("{PARENT}/{name}")).await.unwrap();
        assert_eq!(raw[0], b'[', "compress=false writes raw JSON");
        assert!(raw.len() <= 512 * 1024);
        assert!(array.len() <= 50, "{name} holds {}", array.len());
        for entry in array {
            assert!(seen.insert(entry["identifier"].as_str().unwrap().to_string()));
        }
    }
    let expected: HashSet<String> = segments.iter().map(|s| s.identifier()).collect();
    assert_eq!(seen, expected);

    // Unannounce every segment of the first znode and every other segment elsewhere.
    let first: HashSet<String> = batches[0]
        .1
        .iter()
        .map(|e| e["identifier"].as_str().unwrap().to_string())
        .collect();
    let mut kept = HashSet::new();
    let mut dropped = 0;
    for (index, s) in segments.iter().enumerate() {
        if first.contains(&s.identifier()) || index % 2 == 0 {
            announcer.unannounce(s);
            dropped += 1;
        } else {
            kept.insert(s.identifier());
        }
    }
    assert!(dropped >= 60);
    let rewritten = eventually(Duration::from_secs(20), || async {
        let now: HashSet<String> = read_batches(&reader, PARENT)
            .await
            .iter()
            .flat_map(|(_, a)| {
                a.iter()
                    .map(|e| e["identifier"].as_str().unwrap().to_string())
            })
            .collect();
        now == kept
    })
    .await;
    assert!(rewritten, "unannounced segments are still listed");
    let after = read_batches(&reader, PARENT).await;
    assert!(
        after.iter().all(|(name, _)| *name != batches[0].0),
        "the emptied znode is deleted"
    );
    assert!(after.iter().all(|(_, a)| !a.is_empty()));
    assert_eq!(after.len(), 2);
    let names: Vec<String> = after.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names, announcer.batch_znode_names());

    announcer.close().await;
    assert!(read_batches(&reader, PARENT).await.is_empty());
    assert!(
        reader.check_stat(PARENT).await.unwrap().is_some(),
        "a parent we did not create is kept"
    );
}
