//! The ZooKeeper announcer: Druid's `Announcer` + `BatchDataSegmentAnnouncer` on one session.
//!
//! ```text
//! {announcementsPath}/{host:port}          EPHEMERAL  {"name":…,"host":…,"maxSize":…,"type":"realtime",…}
//! {liveSegmentsPath}/{host:port}           PERSISTENT created if missing; deleted by close() if
//!                                                     this node created it (and it is empty)
//! {liveSegmentsPath}/{host:port}/{batch}   EPHEMERAL  JSON array of DataSegment (see `batch`)
//! ```
//! Payloads are gzip when `druid.zk.service.compress` is true (the default).
//!
//! Calls never touch the network: [`Announcer::announce`] updates the in-memory
//! [`BatchLayout`] under a short lock and wakes a background task, which owns the session and
//! writes whatever the layout says ZooKeeper lacks. So a ZooKeeper outage never blocks or fails a
//! caller; the work waiting is bounded by the number of announced segments, not by the calls.
//!
//! The task's life:
//! 1. open a session (retrying with exponential backoff, each failure logged);
//! 2. create the parents, the server znode and every batch znode; watch the server znode and the
//!    segments parent, re-creating an own znode that someone deleted (Curator's `Announcer` does
//!    the same);
//! 3. on connection loss, retry writes with backoff until the client reconnects the session;
//! 4. on session expiry, go back to 1: the new session re-creates every announcement;
//! 5. on [`ZkAnnouncer::close`], delete the batch znodes, the server znode and the parents this
//!    node created, then close the session.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use zookeeper_client::SessionInfo;

use super::batch::BatchLayout;
use super::config::AnnouncerConfig;
use super::session::{self, Backoff};
use super::writer::{SessionEnd, SessionWriter};
use super::{Announcer, DataSegment};

/// The ZooKeeper announcer. Create it with [`ZkAnnouncer::start`] inside a tokio runtime.
pub struct ZkAnnouncer {
    shared: Arc<Shared>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

pub(super) struct Shared {
    pub(super) config: AnnouncerConfig,
    pub(super) layout: Mutex<BatchLayout>,
    pub(super) wake: Notify,
    pub(super) stop: watch::Sender<bool>,
    pub(super) session: Mutex<Option<SessionInfo>>,
}

impl std::fmt::Debug for ZkAnnouncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkAnnouncer")
            .field("server", &self.shared.config.server.host_and_port)
            .field("zookeeper", &self.shared.config.zk.connect)
            .finish()
    }
}

impl ZkAnnouncer {
    /// Starts the background task (which announces the server at once) and returns the
    /// announcer. Must be called inside a tokio runtime.
    pub fn start(config: AnnouncerConfig) -> Arc<Self> {
        let layout = BatchLayout::new(
            config.batch,
            &config.server.host_and_port,
            &config.server.server_type,
            &config.server.tier,
        );
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            config,
            layout: Mutex::new(layout),
            wake: Notify::new(),
            stop,
            session: Mutex::new(None),
        });
        let task = tokio::spawn(run(Arc::clone(&shared), stop_rx));
        Arc::new(ZkAnnouncer {
            shared,
            task: tokio::sync::Mutex::new(Some(task)),
        })
    }

    /// Returns the current session (id and password), `None` between sessions. For diagnostics
    /// and tests that need to expire the session from another client.
    pub fn session(&self) -> Option<SessionInfo> {
        lock(&self.shared.session).clone()
    }

    /// Returns the names of the batch znodes that hold segments (in this process's view).
    pub fn batch_znode_names(&self) -> Vec<String> {
        lock(&self.shared.layout).znode_names()
    }

    /// Unannounces everything, deletes the parents this node created and closes the session so
    /// the ephemeral znodes vanish at once. Waits at most one session timeout for ZooKeeper.
    pub async fn close(&self) {
        self.shared.stop.send_replace(true);
        let task = self.task.lock().await.take();
        if let Some(task) = task
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "zookeeper announcer task failed");
        }
    }
}

impl Drop for ZkAnnouncer {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
    }
}

impl Announcer for ZkAnnouncer {
    fn announce(&self, segment: &DataSegment) {
        let result = lock(&self.shared.layout).announce(segment);
        match result {
            Ok(name) => {
                tracing::info!(segment = %segment.identifier(), znode = %name, "announcing segment");
                self.shared.wake.notify_one();
            }
            Err(error) => tracing::error!(%error, "segment not announced"),
        }
    }

    fn unannounce(&self, segment: &DataSegment) {
        let removed = lock(&self.shared.layout).unannounce(segment);
        match removed {
            Some(name) => {
                tracing::info!(segment = %segment.identifier(), znode = %name, "unannouncing segment");
                self.shared.wake.notify_one();
            }
            None => {
                tracing::warn!(segment = %segment.identifier(), "no znode to unannounce segment from")
            }
        }
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the layout stays
/// consistent: every mutation is complete before it can panic).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sessions, one after another, until stopped.
async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let max_delay = session::max_retry_delay(&shared.config.zk);
    let mut backoff = Backoff::new(Duration::from_millis(200), max_delay);
    let mut parents_created: HashSet<String> = HashSet::new();
    loop {
        let connected = tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            result = session::connect(&shared.config.zk) => result,
        };
        let client = match connected {
            Ok(client) => client,
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, zookeeper = %shared.config.zk.connect, delay_ms = delay.as_millis() as u64, "cannot open a zookeeper session; retrying");
                tokio::select! {
                    _ = stop.wait_for(|stopped| *stopped) => return,
                    _ = tokio::time::sleep(delay) => continue,
                }
            }
        };
        backoff.reset();
        tracing::info!(session = %client.session_id(), "zookeeper session opened; announcing");
        *lock(&shared.session) = Some(client.session().clone());
        lock(&shared.layout).clear_deletions();
        let mut writer = SessionWriter::new(&shared, client, &mut parents_created);
        let ended = writer.serve(&mut stop).await;
        *lock(&shared.session) = None;
        match ended {
            SessionEnd::Dead => tracing::warn!("zookeeper session lost; opening a new one"),
            SessionEnd::Stopped => {
                writer.shutdown().await;
                return;
            }
        }
    }
}
