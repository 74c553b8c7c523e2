//! The HTTP server: Druid's query endpoint (`POST /druid/v2/`), query cancellation, status,
//! health, datasource listing (for Grafana), Prometheus metrics and recent parse errors.
//!
//! | method and path | answer |
//! |---|---|
//! | `POST /druid/v2`, `/druid/v2/` | native query (JSON; `?pretty`); headers `X-Druid-Query-Id`, `X-Druid-Response-Context` |
//! | `DELETE /druid/v2/{queryId}` | cancels a running query (202), 404 when unknown |
//! | `GET /druid/v2/datasources` | datasource names |
//! | `GET /druid/v2/datasources/{ds}` | `{"dimensions":[…],"metrics":[…]}` |
//! | `GET /status` | `{"version","modules","memory"}` |
//! | `GET /status/health` | `true` (200), or `false` (503) when ingestion is wedged |
//! | `GET /status/properties` | the runtime properties (passwords, keys and tokens hidden) |
//! | `GET /status/selfDiscovered/status` | `{"selfDiscovered":true}` |
//! | `GET /metrics` | Prometheus text of every node metric |
//! | `GET /druid/realtime/v1/parseErrors` | recent unparseable events |
//!
//! Queries compute on blocking threads, at most `max_concurrent` at once (a semaphore), so the
//! async runtime never blocks; more than `max_queued` waiting queries get 429.

mod error;
pub mod metrics;
mod query;
mod status;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use tokio::sync::Semaphore;

use crate::metrics::NodeMetrics;
use crate::plumber::parse_errors::ParseErrorLog;
use crate::query::{Cancel, QueryConfig, QueryTarget};
pub use error::ErrorResponse;
use metrics::QueryMetrics;

/// Everything the routes need.
pub struct ServerState {
    /// What queries read.
    pub target: Arc<dyn QueryTarget>,
    /// The node's metrics (query metrics are registered into it).
    pub metrics: NodeMetrics,
    /// Parse error logs of every datasource.
    pub parse_errors: Vec<Arc<ParseErrorLog>>,
    /// False when ingestion is wedged.
    pub health: Arc<dyn Fn() -> bool + Send + Sync>,
    /// Limits and identity.
    pub config: QueryConfig,
    running: Mutex<HashMap<String, Cancel>>,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    query_metrics: QueryMetrics,
}

impl ServerState {
    /// Builds the state; registers the query metrics in `metrics`.
    pub fn new(
        target: Arc<dyn QueryTarget>,
        metrics: NodeMetrics,
        parse_errors: Vec<Arc<ParseErrorLog>>,
        health: Arc<dyn Fn() -> bool + Send + Sync>,
        config: QueryConfig,
    ) -> ServerState {
        let query_metrics = QueryMetrics::register(&metrics);
        ServerState {
            slots: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            target,
            metrics,
            parse_errors,
            health,
            config,
            running: Mutex::new(HashMap::new()),
            waiting: AtomicUsize::new(0),
            query_metrics,
        }
    }

    /// A state serving `target` with default metrics, health and limits (tests, tools).
    pub fn for_target(target: Arc<dyn QueryTarget>) -> ServerState {
        ServerState::new(
            target,
            NodeMetrics::new(),
            Vec::new(),
            Arc::new(|| true),
            QueryConfig::default(),
        )
    }
}

/// Returns the router of every endpoint.
pub fn router(state: Arc<ServerState>) -> Router {
    let limit = state.config.max_request_bytes;
    Router::new()
        .route("/druid/v2", post(query::post_query))
        .route("/druid/v2/", post(query::post_query))
        .route("/druid/v2/{query_id}", delete(query::cancel_query))
        .route("/druid/v2/datasources", get(status::data_sources))
        .route(
            "/druid/v2/datasources/{data_source}",
            get(status::data_source),
        )
        .route("/status", get(status::status))
        .route("/status/health", get(status::health))
        .route("/status/properties", get(status::properties))
        .route(
            "/status/selfDiscovered/status",
            get(status::self_discovered),
        )
        .route("/metrics", get(status::metrics))
        .route("/druid/realtime/v1/parseErrors", get(status::parse_errors))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes (in-flight requests finish).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
