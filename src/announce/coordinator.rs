//! Coordinator-based handoff (Druid's `CoordinatorBasedSegmentHandoffNotifier`).
//!
//! Every poll period, for each watched segment:
//!
//! ```text
//! GET {coordinator}/druid/coordinator/v1/datasources/{ds}/handoffComplete
//!         ?interval={start/end}&partitionNumber={n}&version={v}
//!     200 true | false                        → done | not yet           (Druid ≥ 0.10)
//!     anything else (404 on 0.9, error, …)    → fall back to:
//! GET {coordinator}/druid/coordinator/v1/datasources/{ds}/intervals/{start_end}/serverview?partial=true
//!     200 [{"segment":{DataSegment},"servers":[{DruidServerMetadata},…]},…]
//!         done when an entry's segment hands ours off (`SegmentDescriptor::is_handed_off_by`)
//!         and one of its servers has type `historical` or `bridge`
//!     anything else → logged, retried at the next poll
//! ```
//! Plain HTTP only; proxies from the environment are ignored (coordinators are cluster-internal).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use super::handoff::{PendingHandoff, complete_where};
use super::{AnnounceError, DataSegment, HandoffNotifier, SegmentDescriptor};

/// Longest an HTTP call may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls the coordinator for watched segments. Dropping it stops polling.
pub struct CoordinatorHandoffNotifier {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    base_url: String,
    pending: Mutex<Vec<PendingHandoff>>,
    wake: Notify,
}

impl std::fmt::Debug for CoordinatorHandoffNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorHandoffNotifier")
            .field("coordinator", &self.shared.base_url)
            .finish()
    }
}

impl CoordinatorHandoffNotifier {
    /// Starts polling `base_url` (`http://host:port`) every `poll_period`. Must be called inside
    /// a tokio runtime.
    pub fn start(base_url: String, poll_period: Duration) -> Result<Self, AnnounceError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|error| AnnounceError::HttpClient(error.to_string()))?;
        let shared = Arc::new(Shared {
            base_url,
            pending: Mutex::new(Vec::new()),
            wake: Notify::new(),
        });
        let task = tokio::spawn(poll_loop(Arc::clone(&shared), http, poll_period));
        Ok(CoordinatorHandoffNotifier { shared, task })
    }
}

impl Drop for CoordinatorHandoffNotifier {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HandoffNotifier for CoordinatorHandoffNotifier {
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

async fn poll_loop(shared: Arc<Shared>, http: reqwest::Client, poll_period: Duration) {
    let mut ticker = tokio::time::interval(poll_period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let watched: Vec<SegmentDescriptor> = {
            let mut pending = lock(&shared.pending);
            complete_where(&mut pending, |_| false);
            pending.iter().map(|p| p.descriptor.clone()).collect()
        };
        if watched.is_empty() {
            // Nothing to poll: sleep until something is watched, then poll at the next tick.
            shared.wake.notified().await;
            continue;
        }
        let mut handed_off = Vec::new();
        for descriptor in watched {
            if check(&http, &shared.base_url, &descriptor).await {
                handed_off.push(descriptor);
            }
        }
        complete_where(&mut lock(&shared.pending), |d| handed_off.contains(d));
    }
}

/// Returns true when the coordinator says `descriptor` was handed off; logs failures.
async fn check(http: &reqwest::Client, base_url: &str, descriptor: &SegmentDescriptor) -> bool {
    match handoff_complete(http, base_url, descriptor).await {
        Ok(done) => return done,
        Err(reason) => {
            tracing::debug!(%reason, "`handoffComplete` unavailable; trying `serverview`");
        }
    }
    match server_view(http, base_url, descriptor).await {
        Ok(done) => done,
        Err(reason) => {
            tracing::warn!(data_source = %descriptor.data_source, interval = %descriptor.interval, %reason, "cannot check handoff with the coordinator; retrying at the next poll");
            false
        }
    }
}

/// Builds `{base}/druid/coordinator/v1/datasources/{ds}/{tail…}`.
fn datasource_url(base_url: &str, data_source: &str, tail: &[&str]) -> Result<url::Url, String> {
    let mut url = url::Url::parse(base_url)
        .map_err(|error| format!("bad coordinator url `{base_url}`: {error}"))?;
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|_| format!("bad coordinator url `{base_url}`"))?;
        segments.pop_if_empty();
        segments.extend(["druid", "coordinator", "v1", "datasources", data_source]);
        segments.extend(tail);
    }
    Ok(url)
}

/// `GET …/handoffComplete`: `Ok(bool)` on a 200 with a JSON boolean, else `Err(reason)`.
async fn handoff_complete(
    http: &reqwest::Client,
    base_url: &str,
    descriptor: &SegmentDescriptor,
) -> Result<bool, String> {
    let mut url = datasource_url(base_url, &descriptor.data_source, &["handoffComplete"])?;
    url.query_pairs_mut()
        .append_pair("interval", &descriptor.interval.to_string())
        .append_pair("partitionNumber", &descriptor.partition.to_string())
        .append_pair("version", &descriptor.version);
    let body = get_json(http, url).await?;
    body.as_bool()
        .ok_or_else(|| format!("`handoffComplete` answered `{body}`, not a boolean"))
}

/// `GET …/serverview?partial=true`, judged with Druid 0.9's rule.
async fn server_view(
    http: &reqwest::Client,
    base_url: &str,
    descriptor: &SegmentDescriptor,
) -> Result<bool, String> {
    let interval = descriptor.interval.to_string().replace('/', "_");
    let mut url = datasource_url(
        base_url,
        &descriptor.data_source,
        &["intervals", &interval, "serverview"],
    )?;
    url.query_pairs_mut().append_pair("partial", "true");
    let body = get_json(http, url).await?;
    let entries = body
        .as_array()
        .ok_or_else(|| "`serverview` did not answer a JSON array".to_string())?;
    Ok(entries
        .iter()
        .any(|entry| entry_hands_off(entry, descriptor)))
}

/// True when one `ImmutableSegmentLoadInfo` entry shows `descriptor` served by a historical.
pub fn entry_hands_off(entry: &Value, descriptor: &SegmentDescriptor) -> bool {
    let Some(segment) = entry
        .get("segment")
        .and_then(|s| serde_json::from_value::<DataSegment>(s.clone()).ok())
    else {
        return false;
    };
    let on_historical = entry
        .get("servers")
        .and_then(Value::as_array)
        .is_some_and(|servers| servers.iter().any(serves_segments));
    on_historical && descriptor.is_handed_off_by(&segment)
}

/// True for a `DruidServerMetadata` of type `historical` or `bridge` (any case).
pub fn serves_segments(server: &Value) -> bool {
    server
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|kind| {
            kind.eq_ignore_ascii_case("historical") || kind.eq_ignore_ascii_case("bridge")
        })
}

async fn get_json(http: &reqwest::Client, url: url::Url) -> Result<Value, String> {
    let response = http
        .get(url.clone())
        .send()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("GET {url}: status {status}"));
    }
    response
        .json::<Value>()
        .await
        .map_err(|error| format!("GET {url}: {error}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn descriptor() -> SegmentDescriptor {
        SegmentDescriptor {
            data_source: "wiki edits".into(),
            interval: "2015-09-12T01/2015-09-12T02".parse().unwrap(),
            version: "2015-09-12T01:00:00.000Z".into(),
            partition: 1,
        }
    }

    #[test]
    fn urls_are_druids() {
        let url = datasource_url("http://c:8081/", "wiki edits", &["handoffComplete"]).unwrap();
        assert_eq!(
            url.as_str(),
            "http://c:8081/druid/coordinator/v1/datasources/wiki%20edits/handoffComplete"
        );
    }

    #[test]
    fn serverview_entries_need_a_historical() {
        let segment = json!({"dataSource":"wiki edits","interval":"2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z",
            "version":"2015-09-12T01:00:00.000Z","loadSpec":{},"dimensions":"","metrics":"",
            "shardSpec":{"type":"linear","partitionNum":1},"binaryVersion":9,"size":1});
        let historical = json!({"name":"h:8083","host":"h:8083","maxSize":1,"type":"historical","tier":"_default_tier","priority":0});
        let realtime = json!({"name":"r:8084","host":"r:8084","maxSize":0,"type":"realtime","tier":"_default_tier","priority":0});
        let on_historical = json!({"segment": segment, "servers": [realtime, historical]});
        let on_realtime = json!({"segment": segment, "servers": [realtime]});
        assert!(entry_hands_off(&on_historical, &descriptor()));
        assert!(!entry_hands_off(&on_realtime, &descriptor()));
        assert!(!entry_hands_off(&json!({"servers": []}), &descriptor()));
    }
}
