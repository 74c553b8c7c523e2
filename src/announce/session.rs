//! ZooKeeper session helpers shared by the announcer and the ZooKeeper handoff notifier:
//! opening a session, retry delays, and `mkdir -p` that reports what it created.
//!
//! A session is opened with `druid.zk.service.sessionTimeoutMs`. `zookeeper-client` reconnects a
//! live session by itself (state `Disconnected` → `SyncConnected`); a session the server expired,
//! or that the client gave up on after 7/5 of the timeout without a server, is dead
//! (`SessionState::Expired`): its owner opens a new one and re-creates what it announced.

use std::time::Duration;

use zookeeper_client::{Acls, Client, CreateMode, CreateOptions};

use super::config::ZkConfig;

/// The ACL Druid's Curator uses: world-readable and writable.
pub(crate) const PERSISTENT: CreateOptions<'static> =
    CreateMode::Persistent.with_acls(Acls::anyone_all());
/// Ephemeral znodes, same ACL.
pub(crate) const EPHEMERAL: CreateOptions<'static> =
    CreateMode::Ephemeral.with_acls(Acls::anyone_all());

/// Opens a session on the configured ensemble.
pub(crate) async fn connect(zk: &ZkConfig) -> Result<Client, zookeeper_client::Error> {
    Client::connector()
        .with_session_timeout(zk.session_timeout())
        .connect(&zk.connect)
        .await
}

/// True when `client`'s session can no longer be used (expired, closed, auth failed).
pub(crate) fn is_dead(client: &Client, error: &zookeeper_client::Error) -> bool {
    use zookeeper_client::Error;
    client.state().is_terminated()
        || matches!(
            error,
            Error::SessionExpired | Error::ClientClosed | Error::AuthFailed | Error::SessionMoved
        )
}

/// Creates `path` and its missing ancestors as persistent znodes; returns true when `path`
/// itself was created by this call.
pub(crate) async fn ensure_path(
    client: &Client,
    path: &str,
) -> Result<bool, zookeeper_client::Error> {
    if client.check_stat(path).await?.is_some() {
        return Ok(false);
    }
    if let Some((parent, _)) = path.rsplit_once('/')
        && !parent.is_empty()
    {
        client.mkdir(parent, &PERSISTENT).await?;
    }
    match client.create(path, &[], &PERSISTENT).await {
        Ok(_) => Ok(true),
        Err(zookeeper_client::Error::NodeExists) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Closes `client`'s session (all ephemeral znodes vanish at once) and waits, at most
/// `timeout`, for the server to confirm.
pub(crate) async fn close(client: Client, timeout: Duration) {
    let mut state = client.state_watcher();
    drop(client);
    let closed = async {
        loop {
            if state.changed().await.is_terminated() {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(timeout, closed).await;
}

/// Exponential retry delays: `min`, doubling up to `max`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Returns a backoff starting at `min` and capped at `max`.
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// Returns the delay to wait now, and doubles the next one.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Starts over at `min` after a success.
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Returns the retry ceiling for a session timeout: a quarter of it, between 1 s and 10 s, so a
/// returning ZooKeeper is noticed well within one session timeout.
pub(crate) fn max_retry_delay(zk: &ZkConfig) -> Duration {
    (zk.session_timeout() / 4).clamp(Duration::from_secs(1), Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<u128> = (0..4).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }
}
