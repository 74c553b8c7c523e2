//! The ZooKeeper announcer across session loss and outages: announcements come back in a new
//! session, and announce/unannounce calls never block meanwhile.

mod announce_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use announce_support::{ZkServer, client, eventually, read_batches, segment};
use rtnode::announce::{Announcer, AnnouncerConfig, ZkAnnouncer};
use rtnode::config::properties::RuntimeProperties;
use rtnode::segment::descriptor::DataSegment;
use zookeeper_client::{Client, SessionInfo};

const SERVER: &str = "/druid/announcements/rt1:8084";
const PARENT: &str = "/druid/segments/rt1:8084";

fn config(server: &ZkServer, session_timeout_ms: u64) -> AnnouncerConfig {
    let mut props = RuntimeProperties::new();
    props.set("druid.zk.service.host", &server.connect_string());
    props.set("druid.host", "rt1");
    props.set(
        "druid.zk.service.sessionTimeoutMs",
        &session_timeout_ms.to_string(),
    );
    AnnouncerConfig::from_properties(&props).unwrap().unwrap()
}

/// True when ZooKeeper holds exactly `expected` segments and the server znode, all owned by the
/// announcer's current session.
async fn all_announced(
    reader: &Client,
    announcer: &ZkAnnouncer,
    expected: &HashSet<String>,
) -> bool {
    let Some(session) = announcer.session() else {
        return false;
    };
    let owner = session.id().0;
    match reader.check_stat(SERVER).await {
        Ok(Some(stat)) if stat.ephemeral_owner == owner => {}
        _ => return false,
    }
    let mut found = HashSet::new();
    for (name, array) in read_batches(reader, PARENT).await {
        match reader.check_stat(&format!("{PARENT}/{name}")).await {
            Ok(Some(stat)) if stat.ephemeral_owner == owner => {}
            _ => return false,
        }
        found.extend(
            array
                .iter()
                .map(|e| e["identifier"].as_str().unwrap().to_string()),
        );
    }
    found == *expected
}

/// Calls announce/unannounce of a throwaway segment from a plain thread until stopped; records
/// the slowest call in microseconds.
fn spawn_caller(
    announcer: Arc<ZkAnnouncer>,
    stop: Arc<AtomicBool>,
    slowest_us: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let throwaway = segment(23, 99);
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            announcer.announce(&throwaway);
            announcer.unannounce(&throwaway);
            let took = started.elapsed().as_micros() as u64;
            slowest_us.fetch_max(took, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// Takes the session `old` over from a second client and closes it, again and again until a
/// connect with `old` is refused as expired.
async fn expire_from_another_client(zk: &ZkServer, old: &SessionInfo, timeout: Duration) {
    let mut takeovers = 0;
    for attempt in 1..=20 {
        let twin = Client::connector()
            .with_session(old.clone())
            .with_session_timeout(timeout)
            .connect(&zk.connect_string())
            .await;
        match twin {
            Ok(twin) => {
                takeovers += 1;
                let mut twin_state = twin.state_watcher();
                drop(twin);
                let closed = async { while !twin_state.changed().await.is_terminated() {} };
                let _ = tokio::time::timeout(Duration::from_secs(5), closed).await;
            }
            Err(zookeeper_client::Error::SessionExpired) => {
                eprintln!("session expired after {takeovers} takeover(s) in {attempt} attempts");
                return;
            }
            Err(error) => eprintln!("twin connect attempt {attempt}: {error}"),
        }
    }
    panic!("the session outlived 20 attempts to close it from another client");
}

fn identifiers(segments: &[DataSegment]) -> HashSet<String> {
    segments.iter().map(DataSegment::identifier).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_closed_by_another_client_is_replaced_and_reannounced() {
    let zk = ZkServer::start();
    let session_timeout = Duration::from_millis(4000);
    let announcer = ZkAnnouncer::start(config(&zk, 4000));
    let segments: Vec<_> = (0..3).map(|h| segment(h, 0)).collect();
    segments.iter().for_each(|s| announcer.announce(s));
    let reader = client(&zk).await;
    let expected = identifiers(&segments);
    assert!(
        eventually(Duration::from_secs(15), || all_announced(
            &reader, &announcer, &expected
        ))
        .await
    );
    let old = announcer.session().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let slowest_us = Arc::new(AtomicU64::new(0));
    let caller = spawn_caller(announcer.clone(), stop.clone(), slowest_us.clone());

    // Expire the session: a second client takes it over with the same id/password and closes
    // it. The announcer's client may win the session back before the close arrives (its
    // reconnect moves the session back and the twin's close goes nowhere): so take it over
    // again until ZooKeeper answers that the session is gone.
    expire_from_another_client(&zk, &old, session_timeout).await;
    let expired_at = Instant::now();
    let back = eventually(2 * session_timeout, || async {
        announcer.session().is_some_and(|s| s.id() != old.id())
            && all_announced(&reader, &announcer, &expected).await
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    caller.join().unwrap();
    eprintln!(
        "re-announced {:?} after the session was closed; slowest call {} µs",
        expired_at.elapsed(),
        slowest_us.load(Ordering::Relaxed)
    );
    assert!(back, "announcements not back within two session timeouts");
    assert!(expired_at.elapsed() <= 2 * session_timeout);
    let slowest = slowest_us.load(Ordering::Relaxed);
    assert!(slowest < 50_000, "a call took {slowest} µs");
    announcer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_paused_past_the_session_timeout() {
    let zk = ZkServer::start();
    let session_timeout = Duration::from_millis(2000);
    let announcer = ZkAnnouncer::start(config(&zk, 2000));
    let segments: Vec<_> = (0..2).map(|h| segment(h, 1)).collect();
    segments.iter().for_each(|s| announcer.announce(s));
    let reader = client(&zk).await;
    let expected = identifiers(&segments);
    assert!(
        eventually(Duration::from_secs(15), || all_announced(
            &reader, &announcer, &expected
        ))
        .await
    );
    let old = announcer.session().unwrap();
    drop(reader);

    let stop = Arc::new(AtomicBool::new(false));
    let slowest_us = Arc::new(AtomicU64::new(0));
    let caller = spawn_caller(announcer.clone(), stop.clone(), slowest_us.clone());
    zk.pause();
    tokio::time::sleep(3 * session_timeout).await;
    zk.resume();
    let resumed_at = Instant::now();
    let reader = client(&zk).await;
    let back = eventually(2 * session_timeout, || async {
        announcer.session().is_some_and(|s| s.id() != old.id())
            && all_announced(&reader, &announcer, &expected).await
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    caller.join().unwrap();
    eprintln!(
        "re-announced {:?} after the resume; slowest call {} µs",
        resumed_at.elapsed(),
        slowest_us.load(Ordering::Relaxed)
    );
    assert!(
        back,
        "announcements not back within two session timeouts of the resume ({:?})",
        resumed_at.elapsed()
    );
    let slowest = slowest_us.load(Ordering::Relaxed);
    assert!(slowest < 50_000, "a call took {slowest} µs");
    announcer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_down_for_30_seconds() {
    announce_support::init_logs();
    let mut zk = ZkServer::start();
    let session_timeout = Duration::from_millis(4000);
    let announcer = ZkAnnouncer::start(config(&zk, 4000));
    let mut segments: Vec<_> = (0..4).map(|h| segment(h, 2)).collect();
    segments.iter().for_each(|s| announcer.announce(s));
    let reader = client(&zk).await;
    let first = identifiers(&segments);
    assert!(
        eventually(Duration::from_secs(15), || all_announced(
            &reader, &announcer, &first
        ))
        .await
    );
    drop(reader);

    zk.stop();
    let down_at = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut hour = 4;
    while down_at.elapsed() < Duration::from_secs(30) {
        // The node keeps working: new sinks are announced, old ones unannounced.
        let started = Instant::now();
        let fresh = segment(hour % 24, 10 + hour); // distinct identifiers
        announcer.announce(&fresh);
        segments.push(fresh);
        if hour % 3 == 0 {
            let old = segments.remove(0);
            announcer.unannounce(&old);
        }
        slowest = slowest.max(started.elapsed());
        hour += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        slowest < Duration::from_millis(50),
        "a call took {slowest:?}"
    );
    zk.restart();
    let reader = client(&zk).await;
    let expected = identifiers(&segments);
    let restarted_at = Instant::now();
    let back = eventually(3 * session_timeout, || {
        all_announced(&reader, &announcer, &expected)
    })
    .await;
    eprintln!(
        "re-announced {:?} after the restart; slowest call during the outage {slowest:?}",
        restarted_at.elapsed()
    );
    if !back {
        eprintln!(
            "expected {expected:?}\nsession {:?}\nserver {:?}",
            announcer.session(),
            reader.check_stat(SERVER).await
        );
        for (name, array) in read_batches(&reader, PARENT).await {
            let stat = reader.check_stat(&format!("{PARENT}/{name}")).await;
            eprintln!(
                "{name} {stat:?} {:?}",
                array
                    .iter()
                    .map(|e| e["identifier"].clone())
                    .collect::<Vec<_>>()
            );
        }
    }
    assert!(back, "announcements not back after zookeeper returned");
    announcer.close().await;
    assert!(reader.check_stat(SERVER).await.unwrap().is_none());
}
