//! The connected store: connecting, table creation, and the reads.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe, Connection, Row, Transaction};

use super::config::{MetadataBackend, MetadataLocation, MetadataStoreConfig, MetadataTables};
use super::sql::Statements;
use super::{MetadataError, is_lost_race};
use crate::segment::descriptor::DataSegment;

/// How many times a transaction that lost a race is run in all.
pub(super) const MAX_RACE_ATTEMPTS: u32 = 5;
/// Connections per pool: enough for the publisher, the handoff poller and a racing replica.
const MAX_CONNECTIONS: u32 = 4;
/// How long to wait for a connection before failing (the caller retries with backoff).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection pool to the metadata store, with the SQL for its backend and tables.
#[derive(Debug)]
pub struct MetadataStore {
    pub(super) pool: AnyPool,
    pub(super) backend: MetadataBackend,
    pub(super) tables: MetadataTables,
    pub(super) sql: Statements,
    pub(super) uri: String,
}

impl MetadataStore {
    /// Connects (creating the SQLite file and its directory when missing, in WAL mode) and
    /// creates the tables when the configuration asks for it.
    pub async fn connect(config: &MetadataStoreConfig) -> Result<Self, MetadataError> {
        config
            .tables
            .validate()
            .map_err(|reason| MetadataError::Config {
                property: "druid.metadata.storage.tables",
                reason,
            })?;
        sqlx::any::install_default_drivers();
        let working_dir = std::env::current_dir().map_err(|source| MetadataError::CreateDir {
            path: ".".into(),
            source,
        })?;
        if let MetadataLocation::SqliteFile(path) = &config.location {
            create_parent_dir(&working_dir.join(path)).await?;
        }
        let url = config.connect_url(&working_dir)?;
        let uri = config.display_uri();
        let pool =
            open_pool(&url, config.backend)
                .await
                .map_err(|source| MetadataError::Connect {
                    backend: config.backend,
                    uri: uri.clone(),
                    source,
                })?;
        let store = MetadataStore {
            pool,
            backend: config.backend,
            tables: config.tables.clone(),
            sql: Statements::new(config.backend, &config.tables),
            uri,
        };
        if config.create_tables {
            store.create_tables().await?;
        }
        tracing::info!(backend = %store.backend, uri = %store.uri, "connected to the metadata store");
        Ok(store)
    }

    /// Creates `{base}_segments` (with its indexes) and `{base}_dataSource` when missing.
    pub async fn create_tables(&self) -> Result<(), MetadataError> {
        let mut attempt = 1;
        loop {
            match self.create_tables_once().await {
                // Two nodes creating the same table at once can collide in the catalog.
                Err(error) if is_lost_race(&error) && attempt < MAX_RACE_ATTEMPTS => attempt += 1,
                Err(error) => return Err(self.query_error("create tables", error)),
                Ok(()) => return Ok(()),
            }
        }
    }

    async fn create_tables_once(&self) -> Result<(), sqlx::Error> {
        for statement in &self.sql.create_tables {
            sqlx::raw_sql(AssertSqlSafe(statement.clone()))
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Begins a transaction; on SQLite with `BEGIN IMMEDIATE`, which takes the write lock now
    /// rather than at the first write (SQLite has no `SELECT … FOR UPDATE`).
    pub(super) async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            MetadataBackend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            MetadataBackend::Postgres | MetadataBackend::MySql => self.pool.begin().await,
        }
    }
    /// Returns the commit metadata stored for `data_source`, `None` when there is no row.
    pub async fn read_commit_metadata(
        &self,
        data_source: &str,
    ) -> Result<Option<Value>, MetadataError> {
        let row = sqlx::query(AssertSqlSafe(self.sql.read_commit.as_str()))
            .bind(data_source)
            .fetch_optional(&self.pool)
            .await
            .map_err(|error| self.query_error("read commit metadata", error))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let bytes: Vec<u8> = row
            .try_get(0)
            .map_err(|error| self.query_error("read commit metadata", error))?;
        self.parse_commit(data_source, &bytes).map(Some)
    }

    /// Returns the segments of `data_source` whose rows are `used`, read from their payloads, in
    /// interval order.
    pub async fn used_segments(
        &self,
        data_source: &str,
    ) -> Result<Vec<DataSegment>, MetadataError> {
        let rows = sqlx::query(AssertSqlSafe(self.sql.used_payloads.as_str()))
            .bind(data_source)
            .bind(true)
            .fetch_all(&self.pool)
            .await
            .map_err(|error| self.query_error("read used segments", error))?;
        let mut segments = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row
                .try_get(0)
                .map_err(|error| self.query_error("read used segments", error))?;
            let payload: Vec<u8> = row
                .try_get(1)
                .map_err(|error| self.query_error("read used segments", error))?;
            let segment = serde_json::from_slice(&payload).map_err(|error| {
                MetadataError::CorruptPayload {
                    table: self.tables.segments.clone(),
                    key: id,
                    reason: error.to_string(),
                }
            })?;
            segments.push(segment);
        }
        Ok(segments)
    }

    /// Marks the segments with these ids unused (the coordinator then drops them); returns how
    /// many rows changed from used to unused.
    pub async fn mark_unused(&self, segment_ids: &[String]) -> Result<u64, MetadataError> {
        let run = async {
            let mut tx = self.begin().await?;
            let mut changed = 0;
            for id in segment_ids {
                let result = sqlx::query(AssertSqlSafe(self.sql.mark_unused.as_str()))
                    .bind(false)
                    .bind(id.as_str())
                    .bind(true)
                    .execute(&mut *tx)
                    .await?;
                changed += result.rows_affected();
            }
            tx.commit().await?;
            Ok(changed)
        };
        run.await
            .map_err(|error| self.query_error("mark segments unused", error))
    }

    /// Returns the backend.
    pub fn backend(&self) -> MetadataBackend {
        self.backend
    }

    /// Returns the table names.
    pub fn tables(&self) -> &MetadataTables {
        &self.tables
    }

    /// Returns the location as shown in messages (no password).
    pub fn display_uri(&self) -> &str {
        &self.uri
    }

    /// Returns the connection pool, for administration and tests.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(super) fn parse_commit(
        &self,
        data_source: &str,
        bytes: &[u8],
    ) -> Result<Value, MetadataError> {
        serde_json::from_slice(bytes).map_err(|error| MetadataError::CorruptPayload {
            table: self.tables.data_source.clone(),
            key: data_source.to_string(),
            reason: error.to_string(),
        })
    }

    pub(super) fn query_error(
        &self,
        operation: &'static str,
        source: sqlx::Error,
    ) -> MetadataError {
        MetadataError::Query {
            operation,
            backend: self.backend,
            uri: self.uri.clone(),
            source,
        }
    }
}

/// Creates the directory of the SQLite file when missing.
async fn create_parent_dir(file: &Path) -> Result<(), MetadataError> {
    let Some(parent) = file.parent() else {
        return Ok(());
    };
    tokio::fs::create_dir_all(parent)
        .await
        .map_err(|source| MetadataError::CreateDir {
            path: parent.to_path_buf(),
            source,
        })
}

/// Makes one direct connection attempt (the pool would retry until `ACQUIRE_TIMEOUT`, but at
/// start-up the caller retries with its own backoff and wants the error at once), then returns a
/// lazily filled pool; SQLite is switched to WAL mode.
async fn open_pool(url: &str, backend: MetadataBackend) -> Result<AnyPool, sqlx::Error> {
    let probe = AnyConnection::connect(url).await?;
    let _ = probe.close().await;
    let pool = AnyPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy(url)?;
    if backend == MetadataBackend::Sqlite {
        sqlx::query("PRAGMA journal_mode = WAL")
            .fetch_one(&pool)
            .await?;
    }
    Ok(pool)
}
