//! `POST /druid/v2/` and `DELETE /druid/v2/{queryId}`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::metrics::QueryLabels;
use super::{ErrorResponse, ServerState};
use crate::query::{Cancel, Query, QueryError, QueryResult};

pub(super) async fn post_query(
    State(state): State<Arc<ServerState>>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    state.query_metrics.count.inc();
    let pretty = raw_query.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "pretty" || p.starts_with("pretty="))
    });
    let smile = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("smile"));
    let parsed = if smile {
        Err(QueryError::unsupported(
            "`application/x-jackson-smile` is not supported; send `application/json`",
        ))
    } else {
        crate::query::parse(&body)
    };
    let query = match parsed {
        Ok(query) => query,
        Err(error) => {
            state.query_metrics.failed.inc();
            return fail(&state, error, None);
        }
    };
    let query_id = query
        .context
        .query_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let labels = QueryLabels {
        dataSource: query.data_source.label(),
        r#type: query.query_type.clone(),
    };
    let result = run(&state, query, &query_id).await;
    let elapsed = started.elapsed().as_secs_f64();
    state
        .query_metrics
        .time
        .get_or_create(&labels)
        .observe(elapsed);
    match result {
        Ok(value) => {
            state.query_metrics.success.inc();
            let body = if pretty {
                serde_json::to_vec_pretty(&value)
            } else {
                serde_json::to_vec(&value)
            }
            .unwrap_or_default();
            state
                .query_metrics
                .bytes
                .get_or_create(&labels)
                .inc_by(body.len() as u64);
            let mut response = (StatusCode::OK, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(id) = HeaderValue::from_str(&query_id) {
                headers.insert("X-Druid-Query-Id", id);
            }
            headers.insert("X-Druid-Response-Context", HeaderValue::from_static("{}"));
            response
        }
        Err(error) => {
            match &error {
                QueryError::Timeout(_) => state.query_metrics.timeout.inc(),
                QueryError::Cancelled(_) => state.query_metrics.interrupted.inc(),
                _ => state.query_metrics.failed.inc(),
            };
            fail(&state, error, Some(query_id))
        }
    }
}

fn fail(state: &ServerState, error: QueryError, query_id: Option<String>) -> Response {
    if error.http_status() >= 500 {
        tracing::warn!(queryId = query_id.as_deref().unwrap_or("-"), %error, "query failed");
    }
    ErrorResponse {
        error,
        host: state.config.host.clone(),
        query_id,
    }
    .into_response()
}

/// Waits for a slot, runs the query on a blocking thread and enforces its timeout.
async fn run(
    state: &Arc<ServerState>,
    query: Query,
    query_id: &str,
) -> QueryResult<serde_json::Value> {
    let timeout_ms = state.config.timeout_ms(query.context.timeout_ms);
    let deadline = timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
    let cancel = Cancel::new(query_id, deadline);
    let _registration = Registration::new(state, query_id, &cancel);
    if state.waiting.fetch_add(1, Ordering::SeqCst) >= state.config.max_queued {
        state.waiting.fetch_sub(1, Ordering::SeqCst);
        return Err(QueryError::Capacity(format!(
            "too many queries are waiting (more than {}); retry later",
            state.config.max_queued
        )));
    }
    let acquire = state.slots.clone().acquire_owned();
    let permit = match deadline {
        Some(d) => tokio::time::timeout_at(d.into(), acquire).await,
        None => Ok(acquire.await),
    };
    state.waiting.fetch_sub(1, Ordering::SeqCst);
    let permit = match permit {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) => return Err(QueryError::Internal("query slots closed".into())),
        Err(_) => return Err(QueryError::Timeout(query_id.to_string())),
    };
    let (target, config, task_cancel) =
        (state.target.clone(), state.config.clone(), cancel.clone());
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let result = crate::query::execute(&query, target.as_ref(), &config, &task_cancel);
        let _ = done_tx.send(result);
    });
    let outcome = match deadline {
        Some(d) => tokio::time::timeout_at(d.into(), done_rx).await,
        None => Ok(done_rx.await),
    };
    match outcome {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(QueryError::Internal(
            "the query thread stopped unexpectedly".into(),
        )),
        Err(_) => {
            cancel.cancel();
            Err(QueryError::Timeout(query_id.to_string()))
        }
    }
}

/// Keeps a running query cancellable by id until dropped.
struct Registration<'a> {
    state: &'a ServerState,
    query_id: String,
}

impl<'a> Registration<'a> {
    fn new(state: &'a ServerState, query_id: &str, cancel: &Cancel) -> Registration<'a> {
        if let Ok(mut running) = state.running.lock() {
            running.insert(query_id.to_string(), cancel.clone());
        }
        Registration {
            state,
            query_id: query_id.to_string(),
        }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.state.running.lock() {
            running.remove(&self.query_id);
        }
    }
}

pub(super) async fn cancel_query(
    State(state): State<Arc<ServerState>>,
    Path(query_id): Path<String>,
) -> StatusCode {
    let found = state
        .running
        .lock()
        .ok()
        .and_then(|running| running.get(&query_id).cloned());
    match found {
        Some(cancel) => {
            cancel.cancel();
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}
