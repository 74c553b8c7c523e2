//! Shared helpers of the query integration tests: segments built through the real ingest path
//! (local firehose → parser → plumber → in-memory index → persisted v9 segment), a router over
//! them, HTTP round trips without a socket, and Druid-style JSON comparison.

#![allow(dead_code)]

#[path = "../ingest_support/mod.rs"]
mod ingest_support;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use rtnode::index::persist::{PersistMetadata, write_index};
use rtnode::query::{QueryableSegment, StaticTarget};
use rtnode::segment::{Segment, SegmentOutput, WriteOptions};
use rtnode::server::{ServerState, router};
use serde_json::{Value, json};
use tower::ServiceExt;

pub use ingest_support::shared;

/// Ingests the files matching `filter` in `base_dir` with `data_schema`; returns one segment per
/// sink (persisted into `dir` when given, else in memory) as `(interval start, segment)`.
pub fn ingest_segments(
    base_dir: &Path,
    filter: &str,
    data_schema: Value,
    dir: Option<&Path>,
) -> Vec<(rtnode::time::Interval, Arc<Segment>)> {
    let department =
        ingest_support::local_spec(base_dir, filter, data_schema, json!({"type": "realtime"}));
    let (chief, report) = ingest_support::ingest(&department, 1_700_000_000_000);
    assert_eq!(
        report.counts.unparseable, 0,
        "unparseable events in {filter}"
    );
    let metadata = PersistMetadata::from_spec(&department);
    let mut out = Vec::new();
    for (index, sink) in chief.plumber().sinks().values().enumerate() {
        let output = match dir {
            Some(d) => {
                SegmentOutput::Directory(d.join(format!("{filter}-{index}").replace('*', "_")))
            }
            None => SegmentOutput::Memory,
        };
        let written = write_index(
            &sink.current,
            sink.interval,
            Some(&metadata),
            output,
            WriteOptions::default(),
        )
        .expect("persist the index");
        out.push((
            sink.interval,
            Arc::new(Segment::from_written(written).expect("open segment")),
        ));
    }
    out
}

/// Groups hydrants by interval into queryable segments of `data_source`.
pub fn to_segments(
    data_source: &str,
    hydrants: Vec<(rtnode::time::Interval, Arc<Segment>)>,
) -> Vec<QueryableSegment> {
    let mut segments: Vec<QueryableSegment> = Vec::new();
    for (interval, segment) in hydrants {
        match segments.iter_mut().find(|s| s.interval == interval) {
            Some(existing) => existing.hydrants.push(segment),
            None => segments.push(QueryableSegment::new(
                data_source,
                interval,
                "2013-09-02T00:00:00.000Z",
                0,
                vec![segment],
            )),
        }
    }
    segments
}

/// The router over `segments`.
pub fn app(segments: Vec<QueryableSegment>) -> axum::Router {
    router(Arc::new(ServerState::for_target(Arc::new(
        StaticTarget::new(segments),
    ))))
}

/// Sends one request through the router; returns the status and the body parsed as JSON.
pub async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(match body {
            Some(b) => Body::from(b.to_string()),
            None => Body::empty(),
        })
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

/// Posts a query; returns the status and the JSON body.
pub async fn query(app: &axum::Router, body: &Value) -> (StatusCode, Value) {
    call(app, "POST", "/druid/v2/", Some(body)).await
}

/// Compares JSON as Druid's integration tests do: objects field by field, lists in order,
/// integers exactly, doubles within 1e-9 relative; an integer never equals a double.
pub fn json_matches(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let mut ek: Vec<_> = e.keys().collect();
            let mut ak: Vec<_> = a.keys().collect();
            ek.sort();
            ak.sort();
            if ek != ak {
                return Err(format!("{path}: keys {ek:?} != {ak:?}"));
            }
            for (k, v) in e {
                json_matches(v, &a[k], &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: {} items expected, got {}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                json_matches(x, y, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(a)) => {
            if e.is_f64() != a.is_f64() {
                return Err(format!(
                    "{path}: {e} and {a} differ in type (long vs double)"
                ));
            }
            let (x, y) = (e.as_f64().unwrap(), a.as_f64().unwrap());
            let close = if e.is_f64() {
                (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-300)
            } else {
                e == a
            };
            if close {
                Ok(())
            } else {
                Err(format!("{path}: {e} != {a}"))
            }
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{path}: {e} != {a}")),
    }
}

/// Substitutes `%%DATASOURCE%%` in a query file's text and parses it.
pub fn load_queries(file: &str, data_source: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(shared(file)).unwrap();
    serde_json::from_str::<Value>(&text.replace("%%DATASOURCE%%", data_source))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}
