//! The rest of a Druid cluster around the node under test: ZooKeeper properties and readers
//! (what a broker sees), and a historical taking segments over, seen through ZooKeeper
//! (`/druid/announcements/hist:8083`, `/druid/segments/hist:8083/…`) or through a coordinator's
//! `handoffComplete` (a small axum server).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, Query, State};
use rtnode::announce::payload;
use serde_json::{Value, json};
use zookeeper_client::{Acls, Client, CreateMode};

use super::free_port;
use crate::announce_support::{ZkServer, read_batches};

/// Properties pointing the node at `zk` as `127.0.0.1:{port}`; returns them and `host:port`.
pub fn zk_props(zk: &ZkServer, session_timeout_ms: u64) -> (Vec<String>, String) {
    let port = free_port();
    let props = vec![
        format!("druid.zk.service.host={}", zk.connect_string()),
        format!("druid.zk.service.sessionTimeoutMs={session_timeout_ms}"),
        "druid.host=127.0.0.1".to_string(),
        format!("druid.port={port}"),
    ];
    (props, format!("127.0.0.1:{port}"))
}

/// Identifiers in the node's batch znodes, sorted.
pub async fn announced(zk: &Client, host: &str) -> Vec<String> {
    let mut ids: Vec<String> = read_batches(zk, &format!("/druid/segments/{host}"))
        .await
        .into_iter()
        .flat_map(|(_, entries)| entries)
        .map(|entry| entry["identifier"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// True when `path` exists.
pub async fn exists(zk: &Client, path: &str) -> bool {
    zk.check_stat(path).await.unwrap().is_some()
}

/// The historical that takes published segments over: a ZooKeeper session announcing
/// `hist:8083`, or a coordinator whose `handoffComplete` says so.
pub enum Historical {
    /// A session announcing the historical.
    Zk(Client),
    /// The coordinator's state.
    Coordinator(Arc<Mutex<Coordinator>>),
}

/// The fake coordinator's state.
#[derive(Default)]
pub struct Coordinator {
    /// `(interval, version)` of the segments loaded by a historical.
    pub loaded: Vec<(String, String)>,
    /// Every `handoffComplete` query and its answer.
    pub calls: Vec<(HashMap<String, String>, bool)>,
}

/// `GET …/datasources/{ds}/handoffComplete`: true for a loaded `(interval, version)`, partition 0.
async fn handoff_complete(
    State(state): State<Arc<Mutex<Coordinator>>>,
    UrlPath(data_source): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
) -> axum::Json<Value> {
    assert_eq!(data_source, "wiki");
    let mut coordinator = state.lock().unwrap();
    let asked = (query["interval"].clone(), query["version"].clone());
    let done = query["partitionNumber"] == "0" && coordinator.loaded.contains(&asked);
    coordinator.calls.push((query, done));
    axum::Json(json!(done))
}

/// Serves `handoffComplete` from `state` on a free port; returns its base URL.
pub async fn start_coordinator(state: Arc<Mutex<Coordinator>>) -> String {
    let app = axum::Router::new()
        .route(
            "/druid/coordinator/v1/datasources/{ds}/handoffComplete",
            axum::routing::get(handoff_complete),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// The historical's `host:port`.
pub const HISTORICAL: &str = "hist:8083";

impl Historical {
    /// Makes the historical serve exactly `descriptors` (published DataSegment JSON).
    pub async fn serve(&self, descriptors: &[Value]) {
        match self {
            Historical::Zk(zk) => {
                let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
                let server = format!("/druid/announcements/{HISTORICAL}");
                let batch = format!(
                    "/druid/segments/{HISTORICAL}/{HISTORICAL}_historical__default_tier_2015-09-12T05:00:00.000Z_0123456789abcdef0123456789abcdef0"
                );
                let array = payload::encode(
                    Value::from(descriptors.to_vec()).to_string().as_bytes(),
                    true,
                );
                if zk.check_stat(&server).await.unwrap().is_none() {
                    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
                    zk.mkdir(&format!("/druid/segments/{HISTORICAL}"), &persistent)
                        .await
                        .unwrap();
                    let metadata = json!({"name": HISTORICAL, "host": HISTORICAL, "maxSize": 10_000_000_000u64, "type": "historical", "tier": "_default_tier", "priority": 0});
                    zk.create(
                        &server,
                        &payload::encode(metadata.to_string().as_bytes(), true),
                        &ephemeral,
                    )
                    .await
                    .unwrap();
                    zk.create(&batch, &array, &ephemeral).await.unwrap();
                } else {
                    zk.set_data(&batch, &array, None).await.unwrap();
                }
            }
            Historical::Coordinator(state) => {
                state.lock().unwrap().loaded = descriptors
                    .iter()
                    .map(|d| {
                        (
                            d["interval"].as_str().unwrap().to_string(),
                            d["version"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect();
            }
        }
    }
}
