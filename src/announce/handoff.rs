//! Choosing a handoff notifier.
//!
//! | property | default | meaning |
//! |---|---|---|
//! | `druid.segment.handoff.type` | see below | `none`, `coordinator` or `zookeeper` |
//! | `druid.segment.handoff.pollDuration` | `PT1M` | coordinator polling period |
//! | `druid.coordinator.url` | unset | coordinator base URL, `http://host:8081` (plain HTTP) |
//!
//! Kinds:
//! - `none`: a segment is handed off as soon as it is watched (a single node with no cluster:
//!   the plumber drops its local copy right after the push and publish).
//! - `coordinator`: Druid 0.9+'s `CoordinatorBasedSegmentHandoffNotifier`, see [`super::coordinator`].
//!   Needs `druid.coordinator.url` (rtnode does not look the coordinator up in ZooKeeper
//!   discovery the way Druid does).
//! - `zookeeper`: Druid 0.8's server-view callback, see [`super::view`]. Needs
//!   `druid.zk.service.host`.
//!
//! Default kind: `coordinator` when `druid.coordinator.url` is set, else `zookeeper` when
//! `druid.zk.service.host` is set, else `none`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::config::ZkConfig;
use super::coordinator::CoordinatorHandoffNotifier;
use super::view::ZkHandoffNotifier;
use super::{AnnounceError, HandoffNotifier, SegmentDescriptor};
use crate::config::properties::{PropertiesError, RuntimeProperties};

/// Which notifier decides that a segment was handed off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffKind {
    /// Handed off as soon as watched.
    None,
    /// Poll the coordinator at this base URL.
    Coordinator {
        /// `http://host:port` of the coordinator.
        url: String,
    },
    /// Watch historicals' segment announcements in ZooKeeper.
    Zookeeper(ZkConfig),
}

/// Handoff settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffConfig {
    /// The notifier kind.
    pub kind: HandoffKind,
    /// Coordinator polling period in milliseconds.
    pub poll_period_ms: u64,
}

impl HandoffConfig {
    /// Reads the handoff settings.
    pub fn from_properties(props: &RuntimeProperties) -> Result<Self, PropertiesError> {
        let url_opt = props
            .get_str("druid.coordinator.url")?
            .map(|url| url.trim().trim_end_matches('/').to_string())
            .filter(|url| !url.is_empty());
        let zk_opt = ZkConfig::from_properties(props)?;
        let default_kind = if url_opt.is_some() {
            "coordinator"
        } else if zk_opt.is_some() {
            "zookeeper"
        } else {
            "none"
        };
        let kind_text = props.get_str_or("druid.segment.handoff.type", default_kind)?;
        let invalid = |property: &str, expected: &'static str| PropertiesError::Invalid {
            property: property.into(),
            value: kind_text.clone(),
            expected,
        };
        let kind = match kind_text.trim().to_ascii_lowercase().as_str() {
            "none" | "noop" => HandoffKind::None,
            "coordinator" => HandoffKind::Coordinator {
                url: url_opt.ok_or_else(|| {
                    invalid(
                        "druid.segment.handoff.type",
                        "`none` or `zookeeper` when `druid.coordinator.url` is not set",
                    )
                })?,
            },
            "zookeeper" | "zk" => HandoffKind::Zookeeper(zk_opt.ok_or_else(|| {
                invalid(
                    "druid.segment.handoff.type",
                    "`none` or `coordinator` when `druid.zk.service.host` is not set",
                )
            })?),
            _ => {
                return Err(invalid(
                    "druid.segment.handoff.type",
                    "`none`, `coordinator` or `zookeeper`",
                ));
            }
        };
        Ok(HandoffConfig {
            kind,
            poll_period_ms: props
                .get_duration_ms_or("druid.segment.handoff.pollDuration", 60_000)?,
        })
    }

    /// Returns the polling period.
    pub fn poll_period(&self) -> Duration {
        Duration::from_millis(self.poll_period_ms.max(1))
    }

    /// Starts the configured notifier. Must be called inside a tokio runtime.
    pub fn start(&self) -> Result<Arc<dyn HandoffNotifier>, AnnounceError> {
        Ok(match &self.kind {
            HandoffKind::None => Arc::new(ImmediateHandoffNotifier),
            HandoffKind::Coordinator { url } => Arc::new(CoordinatorHandoffNotifier::start(
                url.clone(),
                self.poll_period(),
            )?),
            HandoffKind::Zookeeper(zk) => Arc::new(ZkHandoffNotifier::start(zk.clone())),
        })
    }
}

/// `druid.segment.handoff.type=none`: every segment counts as handed off when watched.
#[derive(Debug, Default, Clone, Copy)]
pub struct ImmediateHandoffNotifier;

impl HandoffNotifier for ImmediateHandoffNotifier {
    fn watch(&self, _segment: SegmentDescriptor) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        let _ = sender.send(());
        receiver
    }
}

/// A segment being watched, with the sender that fires when it is handed off.
#[derive(Debug)]
pub(crate) struct PendingHandoff {
    pub(crate) descriptor: SegmentDescriptor,
    pub(crate) sender: oneshot::Sender<()>,
}

/// Fires and removes every pending handoff `done` accepts; drops the ones nobody awaits.
pub(crate) fn complete_where(
    pending: &mut Vec<PendingHandoff>,
    mut done: impl FnMut(&SegmentDescriptor) -> bool,
) {
    let mut index = 0;
    while index < pending.len() {
        let entry = &pending[index];
        if entry.sender.is_closed() {
            pending.swap_remove(index);
        } else if done(&entry.descriptor) {
            let entry = pending.swap_remove(index);
            tracing::info!(data_source = %entry.descriptor.data_source, interval = %entry.descriptor.interval, version = %entry.descriptor.version, partition = entry.descriptor.partition, "segment handed off");
            let _ = entry.sender.send(());
        } else {
            index += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> RuntimeProperties {
        let mut props = RuntimeProperties::new();
        for (key, value) in pairs {
            props.set(key, value);
        }
        props
    }

    #[test]
    fn kind_defaults_and_errors() {
        let none = HandoffConfig::from_properties(&props(&[])).unwrap();
        assert_eq!(none.kind, HandoffKind::None);
        assert_eq!(none.poll_period_ms, 60_000);
        let coordinator = HandoffConfig::from_properties(&props(&[
            ("druid.coordinator.url", "http://c:8081/"),
            ("druid.segment.handoff.pollDuration", "PT5S"),
        ]))
        .unwrap();
        assert_eq!(
            coordinator.kind,
            HandoffKind::Coordinator {
                url: "http://c:8081".into()
            }
        );
        assert_eq!(coordinator.poll_period_ms, 5_000);
        let zk = HandoffConfig::from_properties(&props(&[("druid.zk.service.host", "z:2181")]));
        assert!(matches!(zk.unwrap().kind, HandoffKind::Zookeeper(_)));
        let missing_url = HandoffConfig::from_properties(&props(&[(
            "druid.segment.handoff.type",
            "coordinator",
        )]));
        assert!(missing_url.is_err());
        let unknown =
            HandoffConfig::from_properties(&props(&[("druid.segment.handoff.type", "magic")]));
        assert!(unknown.is_err());
    }

    #[tokio::test]
    async fn none_fires_at_once() {
        let descriptor = SegmentDescriptor {
            data_source: "wiki".into(),
            interval: "2015-09-12/2015-09-13".parse().unwrap(),
            version: "v".into(),
            partition: 0,
        };
        let receiver = ImmediateHandoffNotifier.watch(descriptor);
        assert!(receiver.await.is_ok());
    }
}
