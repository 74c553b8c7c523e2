//! [`QueryError`]: why a query failed, mapped to Druid's error codes and HTTP statuses.

use crate::segment::SegmentError;

/// A failed query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request body is not valid JSON.
    #[error("{0}")]
    Json(String),
    /// The query is well-formed JSON but not a valid query (missing or bad field).
    #[error("{0}")]
    Invalid(String),
    /// A query type, aggregator, filter, … this node does not implement (an extension).
    #[error("{0}")]
    Unsupported(String),
    /// The query would return or hold more rows than the node allows.
    #[error("{0}")]
    ResourceLimit(String),
    /// The query ran past its `timeout`.
    #[error("query `{0}` timed out")]
    Timeout(String),
    /// The query was cancelled (`DELETE /druid/v2/{queryId}`).
    #[error("query `{0}` was cancelled")]
    Cancelled(String),
    /// Too many queries are waiting.
    #[error("{0}")]
    Capacity(String),
    /// A segment could not be read.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// A bug or an unexpected failure of the node.
    #[error("{0}")]
    Internal(String),
}

impl QueryError {
    /// Returns an [`QueryError::Invalid`] error.
    pub fn invalid(message: impl Into<String>) -> QueryError {
        QueryError::Invalid(message.into())
    }

    /// Returns an [`QueryError::Unsupported`] error.
    pub fn unsupported(message: impl Into<String>) -> QueryError {
        QueryError::Unsupported(message.into())
    }

    /// Returns the HTTP status Druid uses for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            QueryError::Json(_)
            | QueryError::Invalid(_)
            | QueryError::Unsupported(_)
            | QueryError::ResourceLimit(_) => 400,
            QueryError::Capacity(_) => 429,
            QueryError::Timeout(_) => 504,
            QueryError::Cancelled(_) | QueryError::Segment(_) | QueryError::Internal(_) => 500,
        }
    }

    /// Returns Druid's error code (the `error` field of the response body).
    pub fn druid_code(&self) -> &'static str {
        match self {
            QueryError::Json(_) => "Json parse failed",
            QueryError::Invalid(_) => "Unknown exception",
            QueryError::Unsupported(_) => "Unsupported operation",
            QueryError::ResourceLimit(_) => "Resource limit exceeded",
            QueryError::Timeout(_) => "Query timeout",
            QueryError::Cancelled(_) => "Query cancelled",
            QueryError::Capacity(_) => "Query capacity exceeded",
            QueryError::Segment(_) | QueryError::Internal(_) => "Unknown exception",
        }
    }

    /// Returns the Java exception class Druid names for this error (`errorClass`).
    pub fn error_class(&self) -> &'static str {
        match self {
            QueryError::Json(_) => "com.fasterxml.jackson.core.JsonParseException",
            QueryError::Invalid(_) => {
                "com.fasterxml.jackson.databind.exc.ValueInstantiationException"
            }
            QueryError::Unsupported(_) => "org.apache.druid.query.QueryUnsupportedException",
            QueryError::ResourceLimit(_) => "org.apache.druid.query.ResourceLimitExceededException",
            QueryError::Timeout(_) => "org.apache.druid.query.QueryTimeoutException",
            QueryError::Cancelled(_) => "org.apache.druid.query.QueryInterruptedException",
            QueryError::Capacity(_) => "org.apache.druid.query.QueryCapacityExceededException",
            QueryError::Segment(_) | QueryError::Internal(_) => {
                "org.apache.druid.java.util.common.ISE"
            }
        }
    }
}

/// The result type of query code.
pub type QueryResult<T> = Result<T, QueryError>;
