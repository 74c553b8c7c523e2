//! Cooperative cancellation: engines call [`Cancel::check`] between chunks of rows, so a query
//! stops soon after its timeout passes or `DELETE /druid/v2/{queryId}` arrives.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::query::error::{QueryError, QueryResult};

/// A query's stop signal.
#[derive(Debug, Clone)]
pub struct Cancel {
    query_id: String,
    flag: Arc<AtomicBool>,
    deadline_opt: Option<Instant>,
}

impl Cancel {
    /// A signal for `query_id` that also fires at `deadline_opt`.
    pub fn new(query_id: &str, deadline_opt: Option<Instant>) -> Cancel {
        Cancel {
            query_id: query_id.to_string(),
            flag: Arc::new(AtomicBool::new(false)),
            deadline_opt,
        }
    }

    /// A signal that never fires (tests, tools).
    pub fn never() -> Cancel {
        Cancel::new("-", None)
    }

    /// Asks the query to stop.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// True once [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Returns the query id.
    pub fn query_id(&self) -> &str {
        &self.query_id
    }

    /// Returns an error when the query must stop.
    pub fn check(&self) -> QueryResult<()> {
        if self.flag.load(Ordering::Relaxed) {
            return Err(QueryError::Cancelled(self.query_id.clone()));
        }
        if self.deadline_opt.is_some_and(|d| Instant::now() >= d) {
            return Err(QueryError::Timeout(self.query_id.clone()));
        }
        Ok(())
    }
}
