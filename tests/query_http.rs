//! The HTTP surface: errors in Druid's shape (never a 500 for a user's mistake), timeouts,
//! cancellation, query ids, `?pretty`, status, health, datasources, metrics and parse errors.

mod query_support;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use query_support::{call, ingest_segments, query, shared, to_segments};
use rtnode::metrics::NodeMetrics;
use rtnode::plumber::parse_errors::ParseErrorLog;
use rtnode::query::{QueryConfig, QueryTarget, QueryableSegment, StaticTarget};
use rtnode::server::{ServerState, router};
use serde_json::{Value, json};

fn wiki_segments() -> Vec<QueryableSegment> {
    let schema = json!({
        "dataSource": "wiki",
        "parser": {"type": "string", "parseSpec": {
            "format": "json",
            "timestampSpec": {"column": "timestamp", "format": "iso"},
            "dimensionsSpec": {"dimensions": ["page", "language", "user", "namespace", "robot"]}
        }},
        "metricsSpec": [
            {"type": "count", "name": "count"},
            {"type": "longSum", "name": "added", "fieldName": "added"}
        ],
        "granularitySpec": {"type": "uniform", "segmentGranularity": "DAY", "queryGranularity": "second"}
    });
    let hydrants = ingest_segments(
        &shared("druid/it/union_query"),
        "wikipedia_index_data.json",
        schema,
        None,
    );
    to_segments("wiki", hydrants)
}

/// A target whose segment listing blocks, to hold a query running.
struct SlowTarget {
    inner: StaticTarget,
    delay: Duration,
}

impl QueryTarget for SlowTarget {
    fn data_sources(&self) -> Vec<String> {
        self.inner.data_sources()
    }
    fn segments(&self, data_source: &str) -> Vec<QueryableSegment> {
        std::thread::sleep(self.delay);
        self.inner.segments(data_source)
    }
    fn dimensions_and_metrics(&self, data_source: &str) -> Option<(Vec<String>, Vec<String>)> {
        self.inner.dimensions_and_metrics(data_source)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn timeseries(extra_context: Value) -> Value {
    json!({
        "queryType": "timeseries", "dataSource": "wiki", "intervals": "2013-08-31/p2d",
        "granularity": "all", "aggregations": [{"type": "longSum", "name": "added", "fieldName": "added"}],
        "context": extra_context
    })
}

#[test]
fn user_mistakes_get_400_with_druid_error_bodies() {
    let app = query_support::app(wiki_segments());
    runtime().block_on(async {
        let cases = [
            (json!("not a query"), "Unknown exception", "query must be a JSON object"),
            (json!({"queryType": "fancy", "dataSource": "wiki"}), "Unsupported operation", "`fancy`"),
            (
                json!({"queryType": "timeseries", "dataSource": "wiki", "intervals": "2013/p1d",
                       "aggregations": [{"type": "approxHistogramFold", "name": "h", "fieldName": "x"}]}),
                "Unsupported operation",
                "`approxHistogramFold`",
            ),
            (
                json!({"queryType": "topN", "intervals": "2013-08-31/p1d", "dimension": "x", "metric": "c",
                       "threshold": 1, "aggregations": [{"type": "count", "name": "c"}],
                       "dataSource": {"type": "join", "left": "wiki", "right": {"type": "inline"}}}),
                "Unsupported operation",
                "`join`",
            ),
            (json!({"queryType": "timeseries", "dataSource": "wiki", "intervals": "yesterday"}), "Unknown exception", "`yesterday`"),
            (json!({"queryType": "timeseries", "dataSource": "wiki", "filter": {"type": "selector"}}), "Unknown exception", "`dimension`"),
        ];
        for (body, code, fragment) in cases {
            let (status, error) = query(&app, &body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
            assert_eq!(error["error"], code, "{error}");
            assert!(error["errorMessage"].as_str().unwrap().contains(fragment), "{error}");
            assert!(error["errorClass"].is_string() && error["host"].is_string(), "{error}");
        }
        let request = axum::http::Request::post("/druid/v2/")
            .header("content-type", "application/json")
            .body(axum::body::Body::from("{\"queryType\": "))
            .unwrap();
        let response = tower::ServiceExt::oneshot(app.clone(), request).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let error: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["error"], "Json parse failed");
    });
}

#[test]
fn query_id_pretty_and_both_paths() {
    let app = query_support::app(wiki_segments());
    runtime().block_on(async {
        let request = axum::http::Request::post("/druid/v2?pretty")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                timeseries(json!({"queryId": "q-42"})).to_string(),
            ))
            .unwrap();
        let response = tower::ServiceExt::oneshot(app.clone(), request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["X-Druid-Query-Id"], "q-42");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("\n  "), "pretty output is indented: {text}");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value[0]["result"]["added"], json!(3090));
        let (status, again) = call(&app, "POST", "/druid/v2/", Some(&timeseries(json!({})))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again, value);
    });
}

#[test]
fn timeouts_give_504_and_delete_cancels() {
    let slow = SlowTarget {
        inner: StaticTarget::new(wiki_segments()),
        delay: Duration::from_millis(400),
    };
    let app = router(Arc::new(ServerState::for_target(Arc::new(slow))));
    runtime().block_on(async {
        let (status, error) = query(&app, &timeseries(json!({"timeout": 50}))).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{error}");
        assert_eq!(error["error"], "Query timeout");

        let running = tokio::spawn({
            let app = app.clone();
            async move { query(&app, &timeseries(json!({"queryId": "cancel-me"}))).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (status, _) = call(&app, "DELETE", "/druid/v2/cancel-me", None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let (status, error) = running.await.unwrap();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{error}");
        assert_eq!(error["error"], "Query cancelled");
        let (status, _) = call(&app, "DELETE", "/druid/v2/cancel-me", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    });
}

#[test]
fn status_health_datasources_metrics_and_parse_errors() {
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = healthy.clone();
    let log = Arc::new(ParseErrorLog::new(10));
    log.record(
        "wiki",
        "file.json:3".into(),
        b"{oops",
        "invalid JSON: eof".into(),
    );
    let node_metrics = NodeMetrics::new();
    let _ingest = node_metrics.for_data_source("wiki");
    let mut properties = rtnode::config::properties::RuntimeProperties::new();
    properties.set("druid.host", "rt1");
    properties.set("druid.service", "druid/realtime");
    properties.set("druid.metadata.storage.connector.password", "secret");
    let state = ServerState::new(
        Arc::new(StaticTarget::new(wiki_segments())),
        node_metrics,
        vec![log],
        Arc::new(move || flag.load(std::sync::atomic::Ordering::SeqCst)),
        QueryConfig::from_properties(&properties).unwrap(),
    );
    let app = router(Arc::new(state));
    runtime().block_on(async {
        assert_eq!(
            call(&app, "GET", "/status/properties", None).await,
            (
                StatusCode::OK,
                json!({"druid.host": "rt1", "druid.service": "druid/realtime"})
            ),
            "the password is hidden"
        );
        let (status, body) = call(&app, "GET", "/status", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body["version"].as_str().unwrap().starts_with("0."),
            "{body}"
        );
        assert_eq!(
            call(&app, "GET", "/status/health", None).await,
            (StatusCode::OK, json!(true))
        );
        healthy.store(false, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            call(&app, "GET", "/status/health", None).await,
            (StatusCode::SERVICE_UNAVAILABLE, json!(false))
        );
        assert_eq!(
            call(&app, "GET", "/druid/v2/datasources", None).await.1,
            json!(["wiki"])
        );
        let (status, body) = call(&app, "GET", "/druid/v2/datasources/wiki", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["metrics"], json!(["added", "count"]));
        assert!(
            body["dimensions"]
                .as_array()
                .unwrap()
                .contains(&json!("page"))
        );
        assert_eq!(
            call(&app, "GET", "/druid/v2/datasources/nope", None)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        let (status, body) = call(&app, "GET", "/druid/realtime/v1/parseErrors", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body[0]["position"], "file.json:3");

        assert_eq!(query(&app, &timeseries(json!({}))).await.0, StatusCode::OK);
        let (_, text) = call(&app, "GET", "/metrics", None).await;
        let text = text.as_str().unwrap().to_string();
        assert!(
            text.contains(
                "druid_query_time_bucket{le=\"0.1\",dataSource=\"wiki\",type=\"timeseries\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("druid_query_count_total 1"), "{text}");
        assert!(text.contains("druid_query_success_count_total 1"), "{text}");
        assert!(
            text.contains("druid_ingest_events_processed_total{dataSource=\"wiki\"} 0"),
            "{text}"
        );
    });
}

#[test]
fn limits_refuse_large_bodies_and_results() {
    let config = QueryConfig {
        max_request_bytes: 2_000,
        max_scan_rows: 4,
        max_group_rows: 3,
        ..QueryConfig::default()
    };
    let state = ServerState::new(
        Arc::new(StaticTarget::new(wiki_segments())),
        NodeMetrics::new(),
        Vec::new(),
        Arc::new(|| true),
        config,
    );
    let app = router(Arc::new(state));
    runtime().block_on(async {
        let mut big = timeseries(json!({}));
        big["context"]["padding"] = json!("x".repeat(5_000));
        let (status, _) = query(&app, &big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let scan = json!({"queryType": "scan", "dataSource": "wiki", "intervals": "2013-08-31/p2d"});
        let (status, error) = query(&app, &scan).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(error["error"], "Resource limit exceeded");
        let mut limited = scan.clone();
        limited["limit"] = json!(4);
        assert_eq!(query(&app, &limited).await.0, StatusCode::OK);
        let group = json!({"queryType": "groupBy", "dataSource": "wiki", "intervals": "2013-08-31/p2d",
            "granularity": "all", "dimensions": ["page"], "aggregations": [{"type": "count", "name": "n"}]});
        let (status, error) = query(&app, &group).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert!(error["errorMessage"].as_str().unwrap().contains("druid.query.groupBy.maxResults"));
    });
}
