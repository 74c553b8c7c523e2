//! The metadata store: Druid's `{base}_segments` rows and the `{base}_dataSource` commit row.
//!
//! Publishing a segment is what makes a Druid coordinator load it: a row in `druid_segments`
//! (`used = true`, `payload` = the `DataSegment` JSON). rtnode also keeps, like Druid's Kafka
//! indexing service, the committed end positions of the ingestion in `druid_dataSource`, written
//! **in the same transaction** as the segment rows, with compare-and-swap semantics:
//!
//! ```text
//! BEGIN                      (SQLite: BEGIN IMMEDIATE, which takes the database write lock)
//!   SELECT commit_metadata_payload FROM {base}_dataSource WHERE dataSource = ?  [FOR UPDATE]
//!   stored == expected_previous ?  ── no ─▶ stored == new and every segment present ?
//!   │ yes                                    ├─ yes ▶ ROLLBACK, success (a replay after a crash)
//!   │                                        └─ no  ▶ ROLLBACK, CommitConflict (nothing written)
//!   for each segment: SELECT id … WHERE id = ?; INSERT unless present
//!   INSERT the commit row              (expected_previous = None)
//!   UPDATE … WHERE commit_metadata_sha1 = sha1(stored bytes)   (otherwise, as Druid does)
//! COMMIT
//! ```
//!
//! Two publishers racing the same row: PostgreSQL and MySQL serialise on the row lock (or on the
//! primary key when the row does not exist yet: the loser's insert fails as a duplicate, or as a
//! deadlock on MySQL); SQLite serialises on the write lock. A transaction that loses such a race
//! is retried from the start (a few times, with a short backoff), where it sees the winner's row
//! and reports a conflict, or a replay when it was publishing the same thing.

mod config;
mod publish;
mod sql;
mod store;

pub use config::{
    DEFAULT_SQLITE_PATH, MetadataBackend, MetadataLocation, MetadataStoreConfig, MetadataTables,
};
pub use publish::{CommitUpdate, PublishOutcome};
pub use store::MetadataStore;

use crate::config::properties::PropertiesError;

/// An error of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// A configuration property is invalid.
    #[error("metadata store property `{property}`: {reason}")]
    Config {
        /// The property.
        property: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A property could not be read (interpolation, type).
    #[error(transparent)]
    Properties(#[from] PropertiesError),
    /// The SQLite file's directory could not be created.
    #[error("cannot create directory `{path}` for the sqlite metadata store: {source}")]
    CreateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store could not be reached.
    #[error("cannot connect to the {backend} metadata store at `{uri}`: {source}")]
    Connect {
        /// The backend.
        backend: MetadataBackend,
        /// The location, without the password.
        uri: String,
        /// The driver error.
        source: sqlx::Error,
    },
    /// A statement failed.
    #[error("{operation} failed on the {backend} metadata store at `{uri}`: {source}")]
    Query {
        /// What was being done (`publish`, `create tables`, …).
        operation: &'static str,
        /// The backend.
        backend: MetadataBackend,
        /// The location, without the password.
        uri: String,
        /// The driver error.
        source: sqlx::Error,
    },
    /// The stored commit metadata is not the expected one: another writer committed first.
    #[error(
        "commit metadata of datasource `{data_source}` is {stored}, expected {expected}; nothing was published"
    )]
    CommitConflict {
        /// The datasource.
        data_source: String,
        /// The expected previous payload (`none` when no row was expected).
        expected: String,
        /// The stored payload (`none` when there is no row).
        stored: String,
    },
    /// A stored payload is not valid JSON (or not a `DataSegment`).
    #[error("row `{key}` of table `{table}` has a corrupt payload: {reason}")]
    CorruptPayload {
        /// The table.
        table: String,
        /// The row's key (segment id or datasource).
        key: String,
        /// The parse error.
        reason: String,
    },
}

impl MetadataError {
    /// Returns true when trying again later may succeed: the server was unreachable, the
    /// connection broke, the pool timed out, or a transaction lost a race (lock, deadlock,
    /// serialization failure, busy database). Configuration errors, conflicts and corrupt rows are
    /// not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            MetadataError::Connect { source, .. } | MetadataError::Query { source, .. } => {
                is_transient(source) || is_lost_race(source)
            }
            _ => false,
        }
    }

    /// Returns true when another writer committed different metadata first.
    pub fn is_commit_conflict(&self) -> bool {
        matches!(self, MetadataError::CommitConflict { .. })
    }
}

/// Connection-level failures: worth retrying later with backoff.
fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLSTATE 08xxx: connection exception; 57P0x: server shutting down; 53300: too many
            // connections.
            code.starts_with("08")
                || code.starts_with("57P0")
                || code == "53300"
                || mysql_number(db.as_ref()) == Some(1040)
        }
        _ => false,
    }
}

/// Failures of a transaction that lost a race with another writer: retried from the start.
fn is_lost_race(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    if db.is_unique_violation() {
        return true;
    }
    let code = db.code().unwrap_or_default();
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
        return code
            .parse::<u32>()
            .is_ok_and(|code| matches!(code & 0xff, 5 | 6));
    }
    // 40001 serialization failure (and MySQL deadlock), 40P01 deadlock, MySQL 1205 lock wait
    // timeout.
    code == "40001" || code == "40P01" || mysql_number(db.as_ref()) == Some(1205)
}

fn mysql_number(db: &(dyn sqlx::error::DatabaseError + 'static)) -> Option<u16> {
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|error| error.number())
}
