//! Announcements and handoff: how a Druid cluster learns what this node serves, and how this
//! node learns that a historical took a pushed segment over.
//!
//! Announcing (`druid.zk.service.host` set → [`ZkAnnouncer`], else [`NoopAnnouncer`]):
//!
//! ```text
//! /druid/announcements/{host:port}             EPHEMERAL   DruidServerMetadata JSON (gzip)
//! /druid/segments/{host:port}                  PERSISTENT  (created if missing)
//! /druid/segments/{host:port}/{batch name}     EPHEMERAL   [DataSegment, …] (gzip), ≤ 50 / 512 KiB
//! ```
//! (`config` lists the properties; `batch` the batch rules and names; `zk` the session life.)
//!
//! Handoff (`druid.segment.handoff.type`, see [`handoff`]): `none`, `coordinator` (HTTP polling,
//! [`CoordinatorHandoffNotifier`]) or `zookeeper` (the 0.8 server view, [`ZkHandoffNotifier`]).
//!
//! Every call into this module is non-blocking: ZooKeeper and HTTP work runs in background
//! tasks that log and retry with backoff; an outage delays announcements and handoff, never the
//! caller.

pub mod batch;
pub mod config;
pub mod coordinator;
pub mod handoff;
pub mod payload;
mod session;
pub mod view;
mod writer;
pub mod zk;

use std::sync::Arc;

use crate::config::properties::{PropertiesError, RuntimeProperties};
pub use crate::segment::descriptor::DataSegment;
use crate::time::Interval;

pub use config::{AnnouncerConfig, BatchConfig, ServerMetadata, ZkConfig};
pub use coordinator::CoordinatorHandoffNotifier;
pub use handoff::{HandoffConfig, HandoffKind, ImmediateHandoffNotifier};
pub use view::ZkHandoffNotifier;
pub use zk::ZkAnnouncer;

/// Announces served segments (realtime sinks) so brokers can find them. Non-blocking: calls
/// enqueue work for a background task; a ZooKeeper outage never blocks or fails the caller.
pub trait Announcer: Send + Sync + std::fmt::Debug {
    /// Announces `segment` (a second announcement of the same identifier is ignored).
    fn announce(&self, segment: &DataSegment);
    /// Withdraws `segment` (unknown segments are logged and ignored).
    fn unannounce(&self, segment: &DataSegment);
}

/// The announcer used when `druid.zk.service.host` is not set: announces nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopAnnouncer;

impl Announcer for NoopAnnouncer {
    fn announce(&self, _segment: &DataSegment) {}
    fn unannounce(&self, _segment: &DataSegment) {}
}

/// A segment the plumber waits to see handed off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentDescriptor {
    /// Datasource.
    pub data_source: String,
    /// The sink interval.
    pub interval: Interval,
    /// The sink version.
    pub version: String,
    /// The shard spec's partition number.
    pub partition: u32,
}

impl SegmentDescriptor {
    /// Returns the descriptor of `segment`.
    pub fn of(segment: &DataSegment) -> Self {
        SegmentDescriptor {
            data_source: segment.data_source.clone(),
            interval: segment.interval,
            version: segment.version.clone(),
            partition: segment.shard_spec.partition_num(),
        }
    }

    /// True when a historical serving `segment` has taken this one over (Druid's rule): same
    /// datasource, its interval contains ours, same partition number, and its version is at
    /// least ours as a string.
    pub fn is_handed_off_by(&self, segment: &DataSegment) -> bool {
        segment.data_source == self.data_source
            && segment.interval.contains_interval(&self.interval)
            && segment.shard_spec.partition_num() == self.partition
            && segment.version.as_str() >= self.version.as_str()
    }
}

/// Tells when a pushed segment is served by a historical.
pub trait HandoffNotifier: Send + Sync + std::fmt::Debug {
    /// Starts watching; the returned receiver fires once when the segment is handed off.
    fn watch(&self, segment: SegmentDescriptor) -> tokio::sync::oneshot::Receiver<()>;
}

/// An error in setting up announcements or handoff.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    /// A property is missing or malformed.
    #[error(transparent)]
    Properties(#[from] PropertiesError),
    /// The HTTP client for the coordinator cannot be built.
    #[error("cannot build the coordinator http client: {0}")]
    HttpClient(String),
}

/// The node's announcer, as chosen by the properties; [`NodeAnnouncer::close`] ends it.
#[derive(Debug, Clone)]
pub struct NodeAnnouncer {
    announcer: Arc<dyn Announcer>,
    zk: Option<Arc<ZkAnnouncer>>,
}

impl NodeAnnouncer {
    /// Starts a [`ZkAnnouncer`] when `druid.zk.service.host` is set, else uses a
    /// [`NoopAnnouncer`]. Must be called inside a tokio runtime.
    pub fn from_properties(props: &RuntimeProperties) -> Result<Self, AnnounceError> {
        let Some(config) = AnnouncerConfig::from_properties(props)? else {
            tracing::info!("`druid.zk.service.host` not set: segments are not announced");
            return Ok(NodeAnnouncer {
                announcer: Arc::new(NoopAnnouncer),
                zk: None,
            });
        };
        let zk = ZkAnnouncer::start(config);
        Ok(NodeAnnouncer {
            announcer: zk.clone(),
            zk: Some(zk),
        })
    }

    /// Returns the announcer to hand to the plumbers.
    pub fn announcer(&self) -> Arc<dyn Announcer> {
        Arc::clone(&self.announcer)
    }

    /// Closes the ZooKeeper session (if any) so this node's ephemeral znodes vanish at once.
    pub async fn close(&self) {
        if let Some(zk) = &self.zk {
            zk.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::segment::descriptor::ShardSpec;

    fn segment(interval: &str, version: &str, partition: u32) -> DataSegment {
        DataSegment {
            data_source: "wiki".into(),
            interval: interval.parse().unwrap(),
            version: version.into(),
            load_spec: Map::new(),
            dimensions: vec![],
            metrics: vec![],
            shard_spec: ShardSpec::Linear {
                partition_num: partition,
            },
            binary_version: Some(9),
            size_bytes: 10,
        }
    }

    #[test]
    fn handoff_rule_follows_druid() {
        let ours = SegmentDescriptor::of(&segment("2015-09-12T01/2015-09-12T02", "v2", 1));
        assert!(ours.is_handed_off_by(&segment("2015-09-12T01/2015-09-12T02", "v2", 1)));
        assert!(ours.is_handed_off_by(&segment("2015-09-12/2015-09-13", "v3", 1)));
        assert!(!ours.is_handed_off_by(&segment("2015-09-12T01/2015-09-12T02", "v1", 1)));
        assert!(!ours.is_handed_off_by(&segment("2015-09-12T01/2015-09-12T02", "v2", 0)));
        assert!(!ours.is_handed_off_by(&segment("2015-09-12T01:30/2015-09-12T02", "v2", 1)));
        let mut other = segment("2015-09-12T01/2015-09-12T02", "v2", 1);
        other.data_source = "other".into();
        assert!(!ours.is_handed_off_by(&other));
    }

    #[test]
    fn noop_announcer_is_chosen_without_zookeeper() {
        let announcer = NodeAnnouncer::from_properties(&RuntimeProperties::new()).unwrap();
        assert!(announcer.zk.is_none());
        announcer
            .announcer()
            .announce(&segment("2015-09-12/2015-09-13", "v", 0));
    }
}
