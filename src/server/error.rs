//! Druid's error body `{"error","errorMessage","errorClass","host"}` as an HTTP response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::query::QueryError;

/// A query error with the host that reports it.
#[derive(Debug)]
pub struct ErrorResponse {
    /// The error.
    pub error: QueryError,
    /// The node's host.
    pub host: String,
    /// The query id, echoed in `X-Druid-Query-Id` when known.
    pub query_id: Option<String>,
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({
            "error": self.error.druid_code(),
            "errorMessage": self.error.to_string(),
            "errorClass": self.error.error_class(),
            "host": self.host,
        });
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(id) = self.query_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
            headers.insert("X-Druid-Query-Id", id);
        }
        response
    }
}
