//! One ZooKeeper session of the announcer: writes what the [`super::batch::BatchLayout`] says ZooKeeper
//! lacks, watches its own znodes, and cleans up at close.
//!
//! Per session it remembers which batch znodes it wrote, at which layout generation:
//!
//! ```text
//! layout generation g  vs  written[name]       → action
//!   absent                  -                  → create EPHEMERAL (NodeExists: overwrite if ours,
//!                                                 else delete the dead session's node and create)
//!   g                       g' < g             → setData (NoNode: create)
//!   g                       g                  → nothing
//!   emptied (deletion)      any                → delete (NoNode is fine)
//! ```
//! A fired watch on the segments parent or the server znode re-lists them; an own znode that
//! is gone is forgotten, so the next pass re-creates it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use zookeeper_client::{Client, WatchedEvent};

use super::batch::PendingWrite;
use super::config::join_path;
use super::payload;
use super::session::{self, Backoff};
use super::zk::{Shared, lock};

/// How a session ended.
pub(super) enum SessionEnd {
    /// Expired or closed under us: open a new one.
    Dead,
    /// [`super::ZkAnnouncer::close`] was called.
    Stopped,
}

enum Wake {
    Stop,
    Work,
    State(zookeeper_client::SessionState),
    Watch,
}

/// A one-shot watch waited on in its own task (a `JoinHandle` keeps the writer `Sync`).
type WatchFuture = JoinHandle<WatchedEvent>;

/// One session's writer: knows what this session has written.
pub(super) struct SessionWriter<'a> {
    shared: &'a Shared,
    client: Client,
    parents_created: &'a mut HashSet<String>,
    /// Batch znode name → generation written in this session.
    written: HashMap<String, u64>,
    parents_ready: bool,
    server_written: bool,
    verify: bool,
    server_watch: Option<WatchFuture>,
    parent_watch: Option<WatchFuture>,
}

impl<'a> SessionWriter<'a> {
    pub(super) fn new(
        shared: &'a Shared,
        client: Client,
        parents_created: &'a mut HashSet<String>,
    ) -> Self {
        SessionWriter {
            shared,
            client,
            parents_created,
            written: HashMap::new(),
            parents_ready: false,
            server_written: false,
            verify: false,
            server_watch: None,
            parent_watch: None,
        }
    }

    pub(super) async fn serve(&mut self, stop: &mut watch::Receiver<bool>) -> SessionEnd {
        let mut state = self.client.state_watcher();
        let max_delay = session::max_retry_delay(&self.shared.config.zk);
        let mut backoff = Backoff::new(Duration::from_millis(100), max_delay);
        loop {
            let mut retry_delay = None;
            if let Err(error) = self.sync().await {
                if session::is_dead(&self.client, &error) {
                    return SessionEnd::Dead;
                }
                let delay = backoff.next_delay();
                tracing::warn!(%error, delay_ms = delay.as_millis() as u64, "zookeeper announcement write failed; retrying");
                retry_delay = Some(delay);
            } else {
                backoff.reset();
            }
            let retry = async {
                match retry_delay {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => std::future::pending().await,
                }
            };
            let wake = tokio::select! {
                _ = stop.wait_for(|stopped| *stopped) => Wake::Stop,
                _ = self.shared.wake.notified() => Wake::Work,
                new_state = state.changed() => Wake::State(new_state),
                _ = wait_slot(&mut self.server_watch) => Wake::Watch,
                _ = wait_slot(&mut self.parent_watch) => Wake::Watch,
                _ = retry => Wake::Work,
            };
            match wake {
                Wake::Stop => return SessionEnd::Stopped,
                Wake::Work => {}
                Wake::State(new_state) if new_state.is_terminated() => return SessionEnd::Dead,
                Wake::State(new_state) => {
                    tracing::info!(state = %new_state, "zookeeper connection state changed");
                }
                Wake::Watch => self.verify = true,
            }
        }
    }

    /// Writes whatever ZooKeeper lacks.
    async fn sync(&mut self) -> Result<(), zookeeper_client::Error> {
        if !self.parents_ready {
            self.ensure_parents().await?;
            self.parents_ready = true;
        }
        if self.verify {
            self.verify_own_znodes().await?;
            self.verify = false;
        }
        if !self.server_written {
            let path = self.shared.config.server_path();
            let json = serde_json::to_vec(&self.shared.config.server.to_json())
                .expect("a JSON value serializes");
            self.put(&path, &json, false).await?;
            self.server_written = true;
            tracing::info!(path, "server announced");
        }
        let writes = lock(&self.shared.layout).pending_writes(&self.written);
        for write in writes {
            self.apply(write).await?;
        }
        Ok(())
    }

    async fn apply(&mut self, write: PendingWrite) -> Result<(), zookeeper_client::Error> {
        let parent = self.shared.config.segments_parent_path();
        match write {
            PendingWrite::Put {
                name,
                generation,
                json,
            } => {
                let exists = self.written.contains_key(&name);
                self.put(&join_path(&parent, &name), &json, exists).await?;
                self.written.insert(name, generation);
            }
            PendingWrite::Delete { name } => {
                match self.client.delete(&join_path(&parent, &name), None).await {
                    Ok(()) | Err(zookeeper_client::Error::NoNode) => {}
                    Err(error) => return Err(error),
                }
                lock(&self.shared.layout).confirm_deleted(&name);
                self.written.remove(&name);
            }
        }
        Ok(())
    }

    /// Creates the ephemeral `path` with `json` (compressed as configured), or overwrites it.
    async fn put(
        &self,
        path: &str,
        json: &[u8],
        exists: bool,
    ) -> Result<(), zookeeper_client::Error> {
        use zookeeper_client::Error;
        let data = payload::encode(json, self.shared.config.zk.compress);
        if exists {
            match self.client.set_data(path, &data, None).await {
                Ok(_) => return Ok(()),
                Err(Error::NoNode) => {}
                Err(error) => return Err(error),
            }
        }
        match self.client.create(path, &data, &session::EPHEMERAL).await {
            Ok(_) => Ok(()),
            Err(Error::NodeExists) => self.replace_existing(path, &data).await,
            Err(error) => Err(error),
        }
    }

    /// `path` exists already: overwrite it if this session owns it, else it belongs to a dead
    /// session of ours the server has not expired yet: delete it and create our own.
    async fn replace_existing(
        &self,
        path: &str,
        data: &[u8],
    ) -> Result<(), zookeeper_client::Error> {
        let Some(stat) = self.client.check_stat(path).await? else {
            self.client.create(path, data, &session::EPHEMERAL).await?;
            return Ok(());
        };
        if stat.ephemeral_owner == self.client.session_id().0 {
            self.client.set_data(path, data, None).await?;
            return Ok(());
        }
        tracing::info!(
            path,
            owner = stat.ephemeral_owner,
            "replacing a znode left by another session"
        );
        match self.client.delete(path, Some(stat.version)).await {
            Ok(()) | Err(zookeeper_client::Error::NoNode) => {}
            Err(error) => return Err(error),
        }
        self.client.create(path, data, &session::EPHEMERAL).await?;
        Ok(())
    }

    async fn ensure_parents(&mut self) -> Result<(), zookeeper_client::Error> {
        let config = &self.shared.config;
        for path in [
            config.zk.announcements_path.clone(),
            config.segments_parent_path(),
        ] {
            if session::ensure_path(&self.client, &path).await? {
                tracing::info!(path, "created zookeeper parent");
                self.parents_created.insert(path);
            }
        }
        self.verify = true;
        Ok(())
    }

    /// Re-arms the fired watches and forgets own znodes that are gone, so they are re-created.
    async fn verify_own_znodes(&mut self) -> Result<(), zookeeper_client::Error> {
        let parent = self.shared.config.segments_parent_path();
        let children = if self.parent_watch.is_some() {
            self.client.list_children(&parent).await?
        } else {
            let (children, watcher) = self.client.list_and_watch_children(&parent).await?;
            self.parent_watch = Some(tokio::spawn(watcher.changed()));
            children
        };
        let present: HashSet<String> = children.into_iter().collect();
        let lost: Vec<String> = self
            .written
            .keys()
            .filter(|name| !present.contains(*name))
            .cloned()
            .collect();
        for name in lost {
            tracing::warn!(znode = %name, "own segment znode disappeared; re-creating it");
            self.written.remove(&name);
        }
        let server_path = self.shared.config.server_path();
        let stat = if self.server_watch.is_some() {
            self.client.check_stat(&server_path).await?
        } else {
            let (stat, watcher) = self.client.check_and_watch_stat(&server_path).await?;
            self.server_watch = Some(tokio::spawn(watcher.changed()));
            stat
        };
        if stat.is_none() && self.server_written {
            tracing::warn!(path = %server_path, "own server znode disappeared; re-creating it");
            self.server_written = false;
        }
        Ok(())
    }

    /// Deletes everything this node announced and the parents it created, then closes the
    /// session (bounded by one session timeout).
    pub(super) async fn shutdown(self) {
        let timeout = self.shared.config.zk.session_timeout();
        let cleanup = async {
            let parent = self.shared.config.segments_parent_path();
            for name in self.written.keys() {
                let _ = self.client.delete(&join_path(&parent, name), None).await;
            }
            let _ = self
                .client
                .delete(&self.shared.config.server_path(), None)
                .await;
            for path in self.parents_created.iter() {
                match self.client.delete(path, None).await {
                    Ok(()) => tracing::info!(path, "deleted zookeeper parent"),
                    Err(error) => tracing::info!(path, %error, "zookeeper parent kept"),
                }
            }
        };
        if tokio::time::timeout(timeout, cleanup).await.is_err() {
            tracing::warn!("zookeeper cleanup timed out; closing the session");
        }
        session::close(self.client, timeout).await;
        tracing::info!("zookeeper announcer closed");
    }
}

/// Waits for the watch in `slot`, forever when there is none; empties the slot when it fires.
async fn wait_slot(slot: &mut Option<WatchFuture>) {
    match slot {
        Some(handle) => {
            let _ = handle.await;
            *slot = None;
        }
        None => std::future::pending().await,
    }
}
