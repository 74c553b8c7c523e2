//! Handoff notifiers: the ZooKeeper server view (a test session announcing itself as a
//! historical) and the coordinator poller (a small axum server answering as a coordinator).

mod announce_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use announce_support::{ZkServer, client, segment};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rtnode::announce::{
    Announcer, AnnouncerConfig, CoordinatorHandoffNotifier, HandoffNotifier, SegmentDescriptor,
    ZkAnnouncer, ZkConfig, ZkHandoffNotifier, payload,
};
use rtnode::config::properties::RuntimeProperties;
use serde_json::json;
use zookeeper_client::{Acls, CreateMode};

fn zk_props(server: &ZkServer) -> RuntimeProperties {
    let mut props = RuntimeProperties::new();
    props.set("druid.zk.service.host", &server.connect_string());
    props.set("druid.zk.service.sessionTimeoutMs", "5000");
    props
}

/// Waits `within` for the receiver; returns whether it fired.
async fn fires(receiver: &mut tokio::sync::oneshot::Receiver<()>, within: Duration) -> bool {
    matches!(tokio::time::timeout(within, receiver).await, Ok(Ok(())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_notifier_fires_when_a_historical_serves_the_segment() {
    let zk = ZkServer::start();
    let props = zk_props(&zk);
    let notifier = ZkHandoffNotifier::start(ZkConfig::from_properties(&props).unwrap().unwrap());
    let ours = segment(5, 2);
    let mut receiver = notifier.watch(SegmentDescriptor::of(&ours));

    // The realtime node announcing the segment itself is no handoff.
    let mut rt_props = props.clone();
    rt_props.set("druid.host", "rt1");
    let realtime = ZkAnnouncer::start(
        AnnouncerConfig::from_properties(&rt_props)
            .unwrap()
            .unwrap(),
    );
    realtime.announce(&ours);
    assert!(!fires(&mut receiver, Duration::from_secs(2)).await);

    // A historical comes up and first serves an older version of the day (raw JSON): not done.
    let historical = client(&zk).await;
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let metadata = json!({"name":"h1:8083","host":"h1:8083","maxSize":10000000,"type":"historical","tier":"_default_tier","priority":0});
    historical
        .mkdir("/druid/segments/h1:8083", &persistent)
        .await
        .unwrap();
    historical
        .create(
            "/druid/announcements/h1:8083",
            &payload::encode(metadata.to_string().as_bytes(), true),
            &ephemeral,
        )
        .await
        .unwrap();
    let mut served = ours.clone();
    served.interval = "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z"
        .parse()
        .unwrap();
    served.version = "2015-09-12T04:00:00.000Z".into(); // older than ours
    served.binary_version = Some(9);
    let batch = "/druid/segments/h1:8083/h1:8083_historical__default_tier_2015-09-13T00:00:00.000Z_0123456789abcdef0123456789abcdef0";
    let older = format!("[{}]", String::from_utf8(served.to_json_bytes()).unwrap());
    historical
        .create(batch, older.as_bytes(), &ephemeral)
        .await
        .unwrap();
    assert!(!fires(&mut receiver, Duration::from_secs(2)).await);

    // The historical loads the newer version of the whole day (gzip this time): done.
    served.version = "2015-09-12T06:00:00.000Z".into();
    let newer = format!("[{}]", String::from_utf8(served.to_json_bytes()).unwrap());
    historical
        .set_data(batch, &payload::encode(newer.as_bytes(), true), None)
        .await
        .unwrap();
    assert!(
        fires(&mut receiver, Duration::from_secs(10)).await,
        "handoff not seen"
    );

    // A segment watched after the fact is found in the view at once.
    let mut again = notifier.watch(SegmentDescriptor::of(&ours));
    assert!(fires(&mut again, Duration::from_secs(5)).await);
    realtime.close().await;
}

/// What the fake coordinator answers, and what it was asked.
#[derive(Default)]
struct Coordinator {
    /// `handoffComplete` answers `false` this many times, then `true`; `None`: 404.
    false_answers: Option<usize>,
    handoff_calls: Vec<HashMap<String, String>>,
    serverview_calls: Vec<String>,
}

type Shared = Arc<Mutex<Coordinator>>;

async fn handoff_complete(
    State(state): State<Shared>,
    Path(data_source): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut coordinator = state.lock().unwrap();
    assert_eq!(data_source, "wiki");
    coordinator.handoff_calls.push(query);
    match coordinator.false_answers {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(0) => axum::Json(json!(true)).into_response(),
        Some(n) => {
            coordinator.false_answers = Some(n - 1);
            axum::Json(json!(false)).into_response()
        }
    }
}

async fn serverview(
    State(state): State<Shared>,
    Path((data_source, interval)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut coordinator = state.lock().unwrap();
    assert_eq!(data_source, "wiki");
    assert_eq!(query.get("partial").map(String::as_str), Some("true"));
    coordinator.serverview_calls.push(interval.clone());
    if interval != "2015-09-12T05:00:00.000Z_2015-09-12T06:00:00.000Z" {
        return axum::Json(json!([])).into_response();
    }
    let ours_calls = coordinator
        .serverview_calls
        .iter()
        .filter(|i| **i == interval)
        .count();
    let mut served = segment(5, 2);
    served.binary_version = Some(9);
    let realtime = json!({"name":"rt1:8084","host":"rt1:8084","maxSize":0,"type":"realtime","tier":"_default_tier","priority":0});
    let historical = json!({"name":"h1:8083","host":"h1:8083","maxSize":1,"type":"historical","tier":"_default_tier","priority":0});
    match ours_calls {
        1 => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        2 => axum::Json(json!([])).into_response(),
        3 => axum::Json(json!([{"segment": served.to_json(), "servers": [realtime]}]))
            .into_response(),
        _ => axum::Json(json!([{"segment": served.to_json(), "servers": [realtime, historical]}]))
            .into_response(),
    }
}

async fn start_coordinator(state: Shared) -> String {
    let app = axum::Router::new()
        .route(
            "/druid/coordinator/v1/datasources/{ds}/handoffComplete",
            get(handoff_complete),
        )
        .route(
            "/druid/coordinator/v1/datasources/{ds}/intervals/{interval}/serverview",
            get(serverview),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_notifier_polls_handoff_complete() {
    let state: Shared = Arc::new(Mutex::new(Coordinator {
        false_answers: Some(2),
        ..Coordinator::default()
    }));
    let url = start_coordinator(state.clone()).await;
    let notifier = CoordinatorHandoffNotifier::start(url, Duration::from_millis(100)).unwrap();
    let ours = segment(5, 2);
    let mut receiver = notifier.watch(SegmentDescriptor::of(&ours));
    assert!(
        fires(&mut receiver, Duration::from_secs(10)).await,
        "handoff not seen"
    );
    let coordinator = state.lock().unwrap();
    assert_eq!(coordinator.handoff_calls.len(), 3, "false, false, true");
    assert!(coordinator.serverview_calls.is_empty());
    let query = &coordinator.handoff_calls[0];
    assert_eq!(
        query["interval"],
        "2015-09-12T05:00:00.000Z/2015-09-12T06:00:00.000Z"
    );
    assert_eq!(query["partitionNumber"], "2");
    assert_eq!(query["version"], "2015-09-12T05:00:00.000Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_notifier_falls_back_to_serverview() {
    let state: Shared = Arc::new(Mutex::new(Coordinator::default()));
    let url = start_coordinator(state.clone()).await;
    let notifier = CoordinatorHandoffNotifier::start(url, Duration::from_millis(100)).unwrap();
    let ours = segment(5, 2);
    let mut receiver = notifier.watch(SegmentDescriptor::of(&ours));
    // A second segment nobody serves stays pending.
    let mut other = notifier.watch(SegmentDescriptor::of(&segment(7, 2)));
    assert!(
        fires(&mut receiver, Duration::from_secs(10)).await,
        "handoff not seen"
    );
    let coordinator = state.lock().unwrap();
    // 500, [], realtime only, then historical: the first three polls do not complete it.
    let ours_calls: Vec<&String> = coordinator
        .serverview_calls
        .iter()
        .filter(|i| *i == "2015-09-12T05:00:00.000Z_2015-09-12T06:00:00.000Z")
        .collect();
    assert_eq!(ours_calls.len(), 4, "{:?}", coordinator.serverview_calls);
    assert!(
        coordinator.serverview_calls.len() > 4,
        "the other segment is polled too"
    );
    assert!(
        coordinator.handoff_calls.len() >= 4,
        "`handoffComplete` is tried first"
    );
    drop(coordinator);
    assert!(matches!(
        other.try_recv(),
        Err(tokio::sync::oneshot::error::TryRecvError::Empty)
    ));
}
