//! Status, health, datasource listing, metrics and parse-error routes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ErrorResponse, ServerState};
use crate::query::QueryError;

pub(super) async fn status(State(state): State<Arc<ServerState>>) -> Json<Value> {
    Json(json!({
        "version": state.config.version,
        "modules": [],
        "memory": memory(),
    }))
}

/// Reads the process's resident memory and the machine's total from `/proc` (zeros elsewhere).
fn memory() -> Value {
    let read = |path: &str, key: &str| -> u64 {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .map_or(0, |kib| kib * 1024)
    };
    let total = read("/proc/meminfo", "MemTotal:");
    let free = read("/proc/meminfo", "MemAvailable:");
    let used = read("/proc/self/status", "VmRSS:");
    json!({"maxMemory": total, "totalMemory": total, "freeMemory": free, "usedMemory": used})
}

pub(super) async fn health(State(state): State<Arc<ServerState>>) -> Response {
    if (state.health)() {
        (StatusCode::OK, Json(Value::Bool(true))).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(Value::Bool(false))).into_response()
    }
}

/// Druid's `GET /status/properties`: the runtime properties, hidden ones left out.
pub(super) async fn properties(
    State(state): State<Arc<ServerState>>,
) -> Json<std::collections::BTreeMap<String, String>> {
    Json(state.config.properties.clone())
}

pub(super) async fn self_discovered() -> Json<Value> {
    Json(json!({"selfDiscovered": true}))
}

pub(super) async fn data_sources(State(state): State<Arc<ServerState>>) -> Json<Vec<String>> {
    let mut names = state.target.data_sources();
    names.sort();
    Json(names)
}

pub(super) async fn data_source(
    State(state): State<Arc<ServerState>>,
    Path(name): Path<String>,
) -> Response {
    match state.target.dimensions_and_metrics(&name) {
        Some((dimensions, metrics)) => {
            Json(json!({"dimensions": dimensions, "metrics": metrics})).into_response()
        }
        None => {
            let error = ErrorResponse {
                error: QueryError::Invalid(format!("unknown datasource `{name}`")),
                host: state.config.host.clone(),
                query_id: None,
            };
            let mut response = error.into_response();
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    }
}

pub(super) async fn metrics(State(state): State<Arc<ServerState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

pub(super) async fn parse_errors(State(state): State<Arc<ServerState>>) -> Json<Value> {
    let mut records = Vec::new();
    for log in &state.parse_errors {
        records.extend(log.snapshot());
    }
    records.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    Json(serde_json::to_value(records).unwrap_or(Value::Array(Vec::new())))
}
