//! The `receiver` firehose (Druid's `EventReceiverFirehoseFactory`): events pushed over HTTP.
//!
//! - `POST /druid/worker/v1/chat/{serviceName}/push-events` with a JSON array of event objects
//!   answers `{"eventCount":N}`; when the buffer (`bufferSize` events) cannot take the whole
//!   array it answers HTTP 503 and takes none of it (the client retries).
//! - `POST /druid/worker/v1/chat/{serviceName}/shutdown?shutoffTime=ISO` ends the input at that
//!   instant (now when absent): the firehose sends what is buffered, then `End`.
//!
//! Each event is re-serialized as one compact JSON object span. Checkpoint: `{"count": N}`,
//! events handed to the ingest loop so far. **There is no durability**: events buffered or held
//! in memory when the node stops are lost, and a restart does not ask the clients to resend
//! (as in Druid). Smile bodies are not accepted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

use super::{BatchOrigin, EventBatch, FirehoseError, FirehoseMessage, MAX_BATCH_BYTES, to_json};
use crate::config::io::ReceiverFirehose as ReceiverSpec;

/// The buffer of one service.
#[derive(Debug)]
struct Buffer {
    events: Mutex<BufferState>,
    capacity: usize,
    notify: Notify,
}

#[derive(Debug, Default)]
struct BufferState {
    events: VecDeque<Vec<u8>>,
    /// Epoch millis at which the input ends.
    shutoff_ms: Option<i64>,
}

/// The receivers of a node by `serviceName`; [`router`] serves them.
#[derive(Debug, Clone, Default)]
pub struct ReceiverRegistry {
    services: Arc<Mutex<HashMap<String, Arc<Buffer>>>>,
}

impl ReceiverRegistry {
    /// An empty registry.
    pub fn new() -> ReceiverRegistry {
        ReceiverRegistry::default()
    }

    fn get(&self, service: &str) -> Option<Arc<Buffer>> {
        self.services
            .lock()
            .expect("registry lock")
            .get(service)
            .cloned()
    }
}

/// The HTTP routes of every receiver in `registry`; the node merges them into its server.
pub fn router(registry: ReceiverRegistry) -> Router {
    Router::new()
        .route(
            "/druid/worker/v1/chat/{service}/push-events",
            post(push_events),
        )
        .route("/druid/worker/v1/chat/{service}/shutdown", post(shutdown))
        .with_state(registry)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn push_events(
    State(registry): State<ReceiverRegistry>,
    Path(service): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(buffer) = registry.get(&service) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no receiver firehose `{service}`"),
        );
    };
    let events: Vec<Value> = match serde_json::from_slice(&body) {
        Ok(events) => events,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("expected a JSON array of events: {e}"),
            );
        }
    };
    let mut encoded = Vec::with_capacity(events.len());
    for event in &events {
        if !event.is_object() {
            return error(
                StatusCode::BAD_REQUEST,
                format!("an event is not a JSON object: `{event}`"),
            );
        }
        encoded.push(serde_json::to_vec(event).expect("a JSON value serializes"));
    }
    let count = encoded.len();
    {
        let mut state = buffer.events.lock().expect("buffer lock");
        if state.shutoff_ms.is_some() {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("receiver `{service}` is shutting down"),
            );
        }
        if state.events.len() + count > buffer.capacity {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "receiver `{service}` buffer is full ({} events)",
                    buffer.capacity
                ),
            );
        }
        state.events.extend(encoded);
    }
    buffer.notify.notify_one();
    axum::Json(json!({ "eventCount": count })).into_response()
}

#[derive(Debug, Deserialize)]
struct ShutdownQuery {
    #[serde(rename = "shutoffTime")]
    shutoff_time: Option<String>,
}

async fn shutdown(
    State(registry): State<ReceiverRegistry>,
    Path(service): Path<String>,
    Query(query): Query<ShutdownQuery>,
) -> Response {
    let Some(buffer) = registry.get(&service) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no receiver firehose `{service}`"),
        );
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let shutoff_ms = match query.shutoff_time.as_deref() {
        None => now_ms,
        Some(text) => match crate::time::parse_iso(text) {
            Ok(ms) => ms,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("`shutoffTime` `{text}`: {e}"),
                );
            }
        },
    };
    buffer.events.lock().expect("buffer lock").shutoff_ms = Some(shutoff_ms);
    buffer.notify.notify_one();
    axum::Json(json!({ "shutoffTime": crate::time::format_iso(shutoff_ms) })).into_response()
}

/// A configured receiver firehose.
#[derive(Debug)]
pub struct ReceiverFirehose {
    service: String,
    buffer: Arc<Buffer>,
    registry: ReceiverRegistry,
}

impl ReceiverFirehose {
    /// Registers `spec.serviceName` in `registry`; fails when the name is taken.
    pub fn new(
        spec: &ReceiverSpec,
        registry: &ReceiverRegistry,
    ) -> Result<ReceiverFirehose, FirehoseError> {
        let buffer = Arc::new(Buffer {
            events: Mutex::new(BufferState::default()),
            capacity: spec.buffer_size.max(1) as usize,
            notify: Notify::new(),
        });
        let mut services = registry.services.lock().expect("registry lock");
        if services.contains_key(&spec.service_name) {
            return Err(FirehoseError::Config(format!(
                "receiver `serviceName` `{}` is used twice",
                spec.service_name
            )));
        }
        services.insert(spec.service_name.clone(), buffer.clone());
        Ok(ReceiverFirehose {
            service: spec.service_name.clone(),
            buffer,
            registry: registry.clone(),
        })
    }

    /// Forwards pushed events as batches on `runtime` until shutoff (then `End`) or until the
    /// receiver goes away; the service is unregistered then.
    pub fn spawn(
        self,
        runtime: &tokio::runtime::Handle,
        tx: mpsc::Sender<FirehoseMessage>,
    ) -> tokio::task::JoinHandle<()> {
        runtime.spawn(async move {
            let mut count = 0u64;
            let ended = self.forward(&tx, &mut count).await;
            self.registry
                .services
                .lock()
                .expect("registry lock")
                .remove(&self.service);
            if ended {
                let _ = tx
                    .send(FirehoseMessage::End(json!({ "count": count })))
                    .await;
            }
        })
    }

    /// Returns true at shutoff, false when the ingest loop went away.
    async fn forward(&self, tx: &mpsc::Sender<FirehoseMessage>, count: &mut u64) -> bool {
        loop {
            let notified = self.buffer.notify.notified();
            let (batch, shutoff_ms) = self.take_batch(*count);
            if let Some(batch) = batch {
                *count += batch.len() as u64;
                if tx.send(FirehoseMessage::Batch(batch)).await.is_err() {
                    return false;
                }
                continue;
            }
            let wait = match shutoff_ms {
                Some(ms) => {
                    let left_ms = ms - chrono::Utc::now().timestamp_millis();
                    if left_ms <= 0 {
                        return true;
                    }
                    std::time::Duration::from_millis(left_ms as u64)
                }
                None => std::time::Duration::from_secs(3600),
            };
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(wait) => {}
                _ = tx.closed() => return false,
            }
        }
    }

    fn take_batch(&self, count: u64) -> (Option<EventBatch>, Option<i64>) {
        let mut state = self.buffer.events.lock().expect("buffer lock");
        if state.events.is_empty() {
            return (None, state.shutoff_ms);
        }
        let mut data = Vec::new();
        let mut spans = Vec::new();
        while let Some(event) = state.events.front() {
            if !spans.is_empty() && data.len() + event.len() > MAX_BATCH_BYTES {
                break;
            }
            let event = state.events.pop_front().expect("front exists");
            let start = data.len() as u32;
            data.extend_from_slice(&event);
            spans.push((start, data.len() as u32));
        }
        let checkpoint = to_json(&json!({ "count": count + spans.len() as u64 }));
        let origin = BatchOrigin::Lines {
            source: format!("receiver `{}` event", self.service),
            first_line: count + 1,
        };
        (
            Some(EventBatch {
                data,
                spans,
                origin,
                checkpoint,
                clip: None,
            }),
            state.shutoff_ms,
        )
    }
}
