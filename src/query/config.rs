//! [`QueryConfig`]: the limits and identity of the query server, read from runtime properties.
//!
//! | property | default | meaning |
//! |---|---|---|
//! | `druid.host` | `localhost` | the `host` of error bodies |
//! | `druid.server.http.defaultQueryTimeout` | 300000 | ms a query may run when its context has no `timeout` |
//! | `druid.server.http.maxQueryTimeout` | unlimited | upper bound of a context `timeout` |
//! | `druid.server.http.maxRequestSize` | 10 MiB | largest request body |
//! | `druid.query.groupBy.maxResults` | 500000 | largest groupBy result (rows) |
//! | `druid.rtnode.query.maxScanRows` | 500000 | largest scan/select result (rows) |
//! | `druid.rtnode.query.maxConcurrent` | cores | queries computing at once |
//! | `druid.rtnode.query.maxQueued` | 100 | queries waiting for a slot before 429 |

use std::collections::BTreeMap;

use crate::config::properties::{PropertiesError, RuntimeProperties};

/// Limits of the query server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryConfig {
    /// The node's `host:port`, reported in error bodies.
    pub host: String,
    /// The Druid-compatible version reported by `/status`.
    pub version: String,
    /// Timeout of queries without a context `timeout`, ms (0: none).
    pub default_timeout_ms: u64,
    /// Upper bound of any timeout, ms (`None`: unbounded).
    pub max_timeout_ms: Option<u64>,
    /// Largest request body, bytes.
    pub max_request_bytes: usize,
    /// Largest groupBy result, rows.
    pub max_group_rows: usize,
    /// Largest scan or select result, rows.
    pub max_scan_rows: usize,
    /// Queries computing at once (each on a blocking thread).
    pub max_concurrent: usize,
    /// Queries allowed to wait for a slot.
    pub max_queued: usize,
    /// The runtime properties `GET /status/properties` shows (hidden ones left out).
    pub properties: BTreeMap<String, String>,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            host: "localhost".into(),
            version: crate::query::DRUID_VERSION.into(),
            default_timeout_ms: 300_000,
            max_timeout_ms: None,
            max_request_bytes: 10 << 20,
            max_group_rows: 500_000,
            max_scan_rows: 500_000,
            max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_queued: 100,
            properties: BTreeMap::new(),
        }
    }
}

impl QueryConfig {
    /// Reads the configuration from runtime properties (see the module table).
    pub fn from_properties(props: &RuntimeProperties) -> Result<QueryConfig, PropertiesError> {
        let d = QueryConfig::default();
        let host = match (
            props.get_str("druid.host")?,
            props.get_u64("druid.plaintextPort")?,
        ) {
            (Some(host), Some(port)) if !host.contains(':') => format!("{host}:{port}"),
            (Some(host), _) => host,
            (None, _) => d.host.clone(),
        };
        Ok(QueryConfig {
            host,
            version: d.version.clone(),
            default_timeout_ms: props.get_u64_or(
                "druid.server.http.defaultQueryTimeout",
                d.default_timeout_ms,
            )?,
            max_timeout_ms: props.get_u64("druid.server.http.maxQueryTimeout")?,
            max_request_bytes: props.get_u64_or(
                "druid.server.http.maxRequestSize",
                d.max_request_bytes as u64,
            )? as usize,
            max_group_rows: props
                .get_u64_or("druid.query.groupBy.maxResults", d.max_group_rows as u64)?
                as usize,
            max_scan_rows: props
                .get_u64_or("druid.rtnode.query.maxScanRows", d.max_scan_rows as u64)?
                as usize,
            max_concurrent: props
                .get_u64_or("druid.rtnode.query.maxConcurrent", d.max_concurrent as u64)?
                .max(1) as usize,
            max_queued: props.get_u64_or("druid.rtnode.query.maxQueued", d.max_queued as u64)?
                as usize,
            properties: props.visible()?,
        })
    }

    /// Returns the timeout of a query whose context asks for `requested_ms`.
    pub fn timeout_ms(&self, requested_ms: Option<u64>) -> Option<u64> {
        let timeout = requested_ms.unwrap_or(self.default_timeout_ms);
        let timeout = match self.max_timeout_ms {
            Some(max) if timeout == 0 || timeout > max => max,
            _ => timeout,
        };
        (timeout > 0).then_some(timeout)
    }
}
