//! ZooKeeper handoff: Druid 0.8's server-view callback, for clusters whose coordinator has no
//! handoff API.
//!
//! ```text
//! {announcementsPath}/                       children watched: the servers
//!   {server}                                 data read once: DruidServerMetadata, its "type"
//! {liveSegmentsPath}/{server}/               children watched, for historical and bridge servers
//!   {batch znode}                            data watched: [DataSegment, …] (gzip or raw JSON)
//! ```
//! A watched segment is handed off when a `historical` (or `bridge`) server announces a segment
//! that hands it off ([`super::SegmentDescriptor::is_handed_off_by`]: same datasource, interval
//! containing ours, same partition, version ≥ ours). Only one-shot watches are used (ZooKeeper
//! 3.4 has no persistent ones); each is set once per path and re-set when it fires. A lost
//! session is replaced and the view rebuilt from scratch.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use zookeeper_client::{Client, EventType, WatchedEvent};

use super::config::{ZkConfig, join_path};
use super::coordinator::serves_segments;
use super::handoff::{PendingHandoff, complete_where};
use super::payload;
use super::session::{self, Backoff};
use super::{DataSegment, HandoffNotifier, SegmentDescriptor};

/// Watches historicals' announcements in ZooKeeper. Dropping it closes its session.
pub struct ZkHandoffNotifier {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    zk: ZkConfig,
    pending: Mutex<Vec<PendingHandoff>>,
    wake: Notify,
}

impl std::fmt::Debug for ZkHandoffNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkHandoffNotifier")
            .field("zookeeper", &self.shared.zk.connect)
            .finish()
    }
}

impl ZkHandoffNotifier {
    /// Starts watching the server view. Must be called inside a tokio runtime.
    pub fn start(zk: ZkConfig) -> Self {
        let shared = Arc::new(Shared {
            zk,
            pending: Mutex::new(Vec::new()),
            wake: Notify::new(),
        });
        let task = tokio::spawn(run(Arc::clone(&shared)));
        ZkHandoffNotifier { shared, task }
    }
}

impl Drop for ZkHandoffNotifier {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HandoffNotifier for ZkHandoffNotifier {
    fn watch(&self, segment: SegmentDescriptor) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        lock(&self.shared.pending).push(PendingHandoff {
            descriptor: segment,
            sender,
        });
        self.shared.wake.notify_one();
        receiver
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn run(shared: Arc<Shared>) {
    let mut backoff = Backoff::new(
        Duration::from_millis(200),
        session::max_retry_delay(&shared.zk),
    );
    loop {
        match session::connect(&shared.zk).await {
            Ok(client) => {
                backoff.reset();
                tracing::info!(session = %client.session_id(), "zookeeper server view session opened");
                let mut view = ServerView::new(&shared.zk, client);
                let error = view.serve(&shared).await;
                tracing::warn!(%error, "zookeeper server view session lost; opening a new one");
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, delay_ms = delay.as_millis() as u64, "cannot open a zookeeper session for the server view; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// What one session knows of the servers and their segments.
struct ServerView {
    client: Client,
    announcements_path: String,
    segments_path: String,
    /// Historical/bridge server names.
    servers: HashSet<String>,
    /// Servers seen that do not serve segments (realtime, broker, …).
    others: HashSet<String>,
    /// Batch znode path → its segments.
    segments: HashMap<String, Vec<DataSegment>>,
    /// Paths with a watch set and not yet fired.
    watched: HashSet<String>,
    watches: JoinSet<WatchedEvent>,
}

impl ServerView {
    fn new(zk: &ZkConfig, client: Client) -> Self {
        ServerView {
            client,
            announcements_path: zk.announcements_path.clone(),
            segments_path: zk.live_segments_path.clone(),
            servers: HashSet::new(),
            others: HashSet::new(),
            segments: HashMap::new(),
            watched: HashSet::new(),
            watches: JoinSet::new(),
        }
    }

    /// Follows the view until the session dies; returns why.
    async fn serve(&mut self, shared: &Shared) -> zookeeper_client::Error {
        let mut state = self.client.state_watcher();
        let mut dirty_servers = true;
        let mut dirty_paths: Vec<(String, EventType)> = Vec::new();
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            let refreshed = self.refresh(&mut dirty_servers, &mut dirty_paths).await;
            let retry_delay = match refreshed {
                Ok(()) => {
                    backoff.reset();
                    None
                }
                Err(error) if session::is_dead(&self.client, &error) => return error,
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(%error, "zookeeper server view read failed; retrying");
                    Some(delay)
                }
            };
            self.complete(shared);
            let retry = async {
                match retry_delay {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shared.wake.notified() => {}
                new_state = state.changed() => {
                    if new_state.is_terminated() {
                        return zookeeper_client::Error::SessionExpired;
                    }
                }
                Some(Ok(event)) = self.watches.join_next() => {
                    self.watched.remove(&event.path);
                    if event.path == self.announcements_path {
                        dirty_servers = true;
                    } else if !event.path.is_empty() {
                        dirty_paths.push((event.path, event.event_type));
                    }
                }
                _ = retry => {}
            }
        }
    }

    /// Applies the pending changes; on error, they stay pending.
    async fn refresh(
        &mut self,
        dirty_servers: &mut bool,
        dirty_paths: &mut Vec<(String, EventType)>,
    ) -> Result<(), zookeeper_client::Error> {
        if *dirty_servers {
            self.refresh_servers().await?;
            *dirty_servers = false;
        }
        while let Some((path, event_type)) = dirty_paths.last().cloned() {
            self.refresh_path(&path, event_type).await?;
            dirty_paths.pop();
        }
        Ok(())
    }

    async fn refresh_servers(&mut self) -> Result<(), zookeeper_client::Error> {
        let root = self.announcements_path.clone();
        let children = self.children(&root).await?.unwrap_or_default();
        let present: HashSet<String> = children.iter().cloned().collect();
        let gone: Vec<String> = self
            .servers
            .iter()
            .filter(|s| !present.contains(*s))
            .cloned()
            .collect();
        for server in gone {
            self.servers.remove(&server);
            let prefix = format!("{}/", join_path(&self.segments_path, &server));
            self.segments.retain(|path, _| !path.starts_with(&prefix));
        }
        self.others.retain(|server| present.contains(server));
        for server in children {
            if self.servers.contains(&server) || self.others.contains(&server) {
                continue;
            }
            let data = match self.client.get_data(&join_path(&root, &server)).await {
                Ok((data, _)) => data,
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(error) => return Err(error),
            };
            let serves = payload::decode_json(&data).is_ok_and(|meta| serves_segments(&meta));
            if serves {
                tracing::info!(server, "historical found in zookeeper");
                self.servers.insert(server.clone());
                self.refresh_server_segments(&server).await?;
            } else {
                self.others.insert(server);
            }
        }
        Ok(())
    }

    /// Re-lists one server's batch znodes, reading the new ones.
    async fn refresh_server_segments(
        &mut self,
        server: &str,
    ) -> Result<(), zookeeper_client::Error> {
        let parent = join_path(&self.segments_path, server);
        let Some(children) = self.children(&parent).await? else {
            // Not created yet: `children` set a watch on its creation.
            return Ok(());
        };
        let prefix = format!("{parent}/");
        let present: HashSet<String> = children.iter().map(|c| join_path(&parent, c)).collect();
        self.segments
            .retain(|path, _| !path.starts_with(&prefix) || present.contains(path));
        for path in present {
            if !self.segments.contains_key(&path) {
                self.read_batch(&path).await?;
            }
        }
        Ok(())
    }

    async fn refresh_path(
        &mut self,
        path: &str,
        event_type: EventType,
    ) -> Result<(), zookeeper_client::Error> {
        let Some(rest) = path.strip_prefix(&format!("{}/", self.segments_path)) else {
            return Ok(());
        };
        match rest.split_once('/') {
            None if self.servers.contains(rest) => self.refresh_server_segments(rest).await,
            None => Ok(()),
            Some(_) if event_type == EventType::NodeDeleted => {
                self.segments.remove(path);
                Ok(())
            }
            Some((server, _)) if self.servers.contains(server) => self.read_batch(path).await,
            Some(_) => Ok(()),
        }
    }

    /// Reads one batch znode (setting a data watch) into the cache.
    async fn read_batch(&mut self, path: &str) -> Result<(), zookeeper_client::Error> {
        let read = if self.watched.contains(path) {
            self.client.get_data(path).await.map(|(data, _)| data)
        } else {
            match self.client.get_and_watch_data(path).await {
                Ok((data, _, watcher)) => {
                    self.watched.insert(path.to_string());
                    self.watches.spawn(watcher.changed());
                    Ok(data)
                }
                Err(error) => Err(error),
            }
        };
        match read {
            Ok(data) => {
                self.segments
                    .insert(path.to_string(), parse_batch(&data, path));
                Ok(())
            }
            Err(zookeeper_client::Error::NoNode) => {
                self.segments.remove(path);
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// Lists `path`'s children with a child watch, or `None` (with an existence watch) when
    /// `path` does not exist.
    async fn children(
        &mut self,
        path: &str,
    ) -> Result<Option<Vec<String>>, zookeeper_client::Error> {
        if self.watched.contains(path) {
            return match self.client.list_children(path).await {
                Ok(children) => Ok(Some(children)),
                Err(zookeeper_client::Error::NoNode) => Ok(None),
                Err(error) => Err(error),
            };
        }
        match self.client.list_and_watch_children(path).await {
            Ok((children, watcher)) => {
                self.watched.insert(path.to_string());
                self.watches.spawn(watcher.changed());
                Ok(Some(children))
            }
            Err(zookeeper_client::Error::NoNode) => {
                let (stat, watcher) = self.client.check_and_watch_stat(path).await?;
                self.watched.insert(path.to_string());
                self.watches.spawn(watcher.changed());
                if stat.is_none() {
                    return Ok(None);
                }
                // Created between the two calls: list it (a second watch on it is harmless).
                let (children, watcher) = self.client.list_and_watch_children(path).await?;
                self.watches.spawn(watcher.changed());
                Ok(Some(children))
            }
            Err(error) => Err(error),
        }
    }

    /// Fires every watched segment some historical now serves.
    fn complete(&self, shared: &Shared) {
        let mut pending = lock(&shared.pending);
        if pending.is_empty() {
            return;
        }
        complete_where(&mut pending, |descriptor| {
            self.segments
                .values()
                .flatten()
                .any(|segment| descriptor.is_handed_off_by(segment))
        });
    }
}

/// Parses a batch znode's payload; a malformed one is logged and counts as empty.
fn parse_batch(data: &[u8], path: &str) -> Vec<DataSegment> {
    let value = match payload::decode_json(data) {
        Ok(value) => value,
        Err(error) => {
            tracing::warn!(path, %error, "unreadable segment announcement");
            return Vec::new();
        }
    };
    let Value::Array(entries) = value else {
        tracing::warn!(path, "segment announcement is not a JSON array");
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|entry| serde_json::from_value(entry).ok())
        .collect()
}
