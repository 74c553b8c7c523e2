//! Waiting for handoff (reference §2.12), and saying why it takes long.
//!
//! Druid logged only "Still waiting for Handoff for Segments", and nodes waited forever for a
//! historical that could not load the segment (reference user-pains §1 #4: local deep storage on
//! another host, rules that drop the segment). While waiting, every
//! [`HandoffContext::handoff_report_interval`] a warning says what rtnode can check itself: is the
//! segment's row `used` in the metadata store, is its `index.zip` where the load spec says, and
//! what a historical needs to load it. After `handoffConditionTimeout` the local copy is dropped.

use std::time::Instant;

use super::handoff::HandoffContext;
use crate::announce::SegmentDescriptor;
use crate::segment::descriptor::DataSegment;

/// Waits until the segment is handed off (true), or the timeout passes or the notifier stops
/// (false).
pub(super) async fn wait_for_handoff(ctx: &HandoffContext, segment: &DataSegment) -> bool {
    let mut notified = ctx.handoff.watch(SegmentDescriptor::of(segment));
    let started = Instant::now();
    let deadline = ctx.handoff_timeout.map(|timeout| started + timeout);
    let mut next_report = started + ctx.handoff_report_interval;
    loop {
        let wake = deadline.map_or(next_report, |d| d.min(next_report));
        tokio::select! {
            outcome = &mut notified => {
                if outcome.is_err() {
                    tracing::warn!(segment = %segment.identifier(), "handoff notifier stopped; dropping the sink");
                }
                return outcome.is_ok();
            }
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            tracing::warn!(segment = %segment.identifier(), timeout_ms = ctx.handoff_timeout.map(|t| t.as_millis() as u64), "handoff did not complete within handoffConditionTimeout; dropping the local copy (the segment is in deep storage and the metadata store)");
            return false;
        }
        let diagnosis = waiting_diagnosis(ctx, segment).await;
        tracing::warn!(segment = %segment.identifier(), waited_s = started.elapsed().as_secs(), %diagnosis, "still waiting for handoff");
        next_report += ctx.handoff_report_interval;
    }
}

/// What rtnode can see of a segment that is not handed off yet.
pub(super) async fn waiting_diagnosis(ctx: &HandoffContext, segment: &DataSegment) -> String {
    let id = segment.identifier();
    let published = match &ctx.metadata {
        None => "not published (druid.publish.type is noop): no coordinator will assign it".into(),
        Some(store) => match store.used_segments(&segment.data_source).await {
            Ok(used) if used.iter().any(|s| s.identifier() == id) => {
                "its druid_segments row is used".to_string()
            }
            Ok(_) => "its druid_segments row is missing or not used (a coordinator rule or a kill may have disabled it)".to_string(),
            Err(e) => format!("the metadata store cannot be read ({e})"),
        },
    };
    let path = segment.load_spec.get("path").and_then(|p| p.as_str());
    let present = match path {
        Some(path) => tokio::fs::metadata(path)
            .await
            .is_ok_and(|meta| meta.is_file()),
        None => false,
    };
    let stored = match path {
        Some(path) if present => format!(
            "index.zip is at {path}; a historical must read that same path (local deep storage needs a shared mount)"
        ),
        Some(path) => format!("index.zip is missing at {path}"),
        None => "its load spec has no local path".to_string(),
    };
    format!(
        "{published}; {stored}; check the coordinator's load rules and the historicals' free space"
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::segment::descriptor::ShardSpec;
    use crate::storage::metadata::{MetadataStore, MetadataStoreConfig};

    fn segment(path: &Path) -> DataSegment {
        let mut load_spec = serde_json::Map::new();
        load_spec.insert("type".into(), "local".into());
        load_spec.insert("path".into(), path.display().to_string().into());
        DataSegment {
            data_source: "wiki".into(),
            interval: "2015-09-12T01/2015-09-12T02".parse().unwrap(),
            version: "2015-09-12T01:00:00.000Z".into(),
            load_spec,
            dimensions: vec![],
            metrics: vec!["count".into()],
            shard_spec: ShardSpec::None,
            binary_version: Some(9),
            size_bytes: 10,
        }
    }

    #[tokio::test]
    async fn the_diagnosis_says_what_is_published_and_where_the_file_is() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("index.zip");
        let store = MetadataStore::connect(&MetadataStoreConfig::sqlite(dir.path().join("m.db")))
            .await
            .unwrap();
        store.create_tables().await.unwrap();
        let (persist, _commands) = std::sync::mpsc::channel();
        let mut ctx = super::super::handoff::tests::context(
            Arc::new(crate::announce::ImmediateHandoffNotifier),
            None,
            persist,
        );
        let no_store = waiting_diagnosis(&ctx, &segment(&zip)).await;
        assert!(no_store.contains("not published"), "{no_store}");
        assert!(no_store.contains("missing at"), "{no_store}");
        ctx.metadata = Some(Arc::new(store));
        std::fs::write(&zip, b"zip").unwrap();
        let unpublished = waiting_diagnosis(&ctx, &segment(&zip)).await;
        assert!(unpublished.contains("missing or not used"), "{unpublished}");
        assert!(unpublished.contains("same path"), "{unpublished}");
        let store = ctx.metadata.clone().unwrap();
        store.publish(&[segment(&zip)], None).await.unwrap();
        let published = waiting_diagnosis(&ctx, &segment(&zip)).await;
        assert!(published.contains("row is used"), "{published}");
    }
}
