//! The publish transaction: segment rows and the commit metadata compare-and-swap.

use std::time::Duration;

use serde_json::Value;
use sha1::{Digest, Sha1};
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use super::store::MAX_RACE_ATTEMPTS;
use super::{MetadataError, MetadataStore, is_lost_race};
use crate::segment::descriptor::DataSegment;
use crate::time;

/// Backoff after a lost race, multiplied by the attempt number.
const RACE_BACKOFF_MS: u64 = 25;
/// Longest stored payload quoted in a conflict message.
const MAX_QUOTED_PAYLOAD_CHARS: usize = 300;

/// The commit metadata to write with the segments, compare-and-swap.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitUpdate {
    /// The datasource whose row is updated.
    pub data_source: String,
    /// The payload the row must hold now (`None`: there must be no row yet).
    pub expected_previous: Option<Value>,
    /// The payload to store (the end positions of the ingestion).
    pub new: Value,
}

/// What a successful publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishOutcome {
    /// Segment rows inserted by this call.
    pub segments_inserted: usize,
    /// Segment rows that were already there (idempotent re-insert).
    pub segments_already_present: usize,
    /// True when the commit metadata already held `new` and every segment was present: the
    /// publish had been applied before (a retry after a crash), and nothing was written.
    pub replayed: bool,
}

/// One `druid_segments` row.
struct SegmentRow {
    id: String,
    data_source: String,
    start: String,
    end: String,
    partitioned: bool,
    version: String,
    payload: Vec<u8>,
}

impl SegmentRow {
    fn new(segment: &DataSegment) -> Self {
        SegmentRow {
            id: segment.identifier(),
            data_source: segment.data_source.clone(),
            start: time::format_iso(segment.interval.start_ms),
            end: time::format_iso(segment.interval.end_ms),
            partitioned: segment.shard_spec.is_partitioned(),
            version: segment.version.clone(),
            payload: segment.to_json_bytes(),
        }
    }
}

/// A `CommitUpdate` with its new payload serialised.
struct PreparedCommit<'a> {
    update: &'a CommitUpdate,
    new_payload: Vec<u8>,
}

/// Why one run of the publish transaction stopped.
enum Step {
    Sql(sqlx::Error),
    Store(MetadataError),
}

impl From<sqlx::Error> for Step {
    fn from(error: sqlx::Error) -> Self {
        Step::Sql(error)
    }
}

impl MetadataStore {
    /// Publishes `segments` (`used = true`; a row already present is left as it is) and, in the
    /// same transaction, swaps the commit metadata when `commit` is given. On a
    /// `CommitConflict` nothing is written.
    pub async fn publish(
        &self,
        segments: &[DataSegment],
        commit: Option<CommitUpdate>,
    ) -> Result<PublishOutcome, MetadataError> {
        let rows: Vec<SegmentRow> = segments.iter().map(SegmentRow::new).collect();
        let prepared = commit.as_ref().map(|update| PreparedCommit {
            update,
            new_payload: serde_json::to_vec(&update.new).expect("a JSON value serializes"),
        });
        let mut attempt = 1;
        loop {
            match self.publish_once(&rows, prepared.as_ref()).await {
                Ok(outcome) => return Ok(outcome),
                Err(Step::Store(error)) => return Err(error),
                Err(Step::Sql(error)) if is_lost_race(&error) && attempt < MAX_RACE_ATTEMPTS => {
                    tracing::debug!(attempt, %error, "publish lost a race with another writer; retrying");
                    tokio::time::sleep(Duration::from_millis(RACE_BACKOFF_MS * u64::from(attempt)))
                        .await;
                    attempt += 1;
                }
                Err(Step::Sql(error)) => return Err(self.query_error("publish", error)),
            }
        }
    }

    async fn publish_once(
        &self,
        rows: &[SegmentRow],
        commit: Option<&PreparedCommit<'_>>,
    ) -> Result<PublishOutcome, Step> {
        let mut tx = self.begin().await?;
        let mut stored_payload = None;
        if let Some(commit) = commit {
            let data_source = &commit.update.data_source;
            stored_payload = self.read_commit_payload(&mut tx, data_source).await?;
            let stored = stored_payload
                .as_deref()
                .map(|bytes| self.parse_commit(data_source, bytes))
                .transpose();
            let stored = stored.map_err(Step::Store)?;
            if stored != commit.update.expected_previous {
                let replayed = stored.as_ref() == Some(&commit.update.new)
                    && self.all_present(&mut tx, rows).await?;
                tx.rollback().await?;
                if replayed {
                    return Ok(PublishOutcome {
                        segments_inserted: 0,
                        segments_already_present: rows.len(),
                        replayed,
                    });
                }
                return Err(Step::Store(conflict(commit.update, stored.as_ref())));
            }
        }
        let segments_inserted = self.insert_missing(&mut tx, rows).await?;
        if let Some(commit) = commit {
            self.write_commit(&mut tx, commit, stored_payload.as_deref())
                .await?;
        }
        tx.commit().await?;
        Ok(PublishOutcome {
            segments_inserted,
            segments_already_present: rows.len() - segments_inserted,
            replayed: false,
        })
    }

    async fn read_commit_payload(
        &self,
        tx: &mut Transaction<'static, Any>,
        data_source: &str,
    ) -> Result<Option<Vec<u8>>, sqlx::Error> {
        let row = sqlx::query(AssertSqlSafe(self.sql.read_commit_for_update.as_str()))
            .bind(data_source)
            .fetch_optional(&mut **tx)
            .await?;
        row.map(|row| row.try_get::<Vec<u8>, _>(0)).transpose()
    }

    async fn segment_exists(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        let row = sqlx::query(AssertSqlSafe(self.sql.segment_exists.as_str()))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(row.is_some())
    }

    async fn all_present(
        &self,
        tx: &mut Transaction<'static, Any>,
        rows: &[SegmentRow],
    ) -> Result<bool, sqlx::Error> {
        for row in rows {
            if !self.segment_exists(tx, &row.id).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Inserts the rows not present yet (Druid's `SELECT id … WHERE id = ?` first); returns how
    /// many were inserted.
    async fn insert_missing(
        &self,
        tx: &mut Transaction<'static, Any>,
        rows: &[SegmentRow],
    ) -> Result<usize, sqlx::Error> {
        let created_date = time::format_iso(time::now_ms());
        let mut inserted = 0;
        for row in rows {
            if self.segment_exists(tx, &row.id).await? {
                continue;
            }
            sqlx::query(AssertSqlSafe(self.sql.insert_segment.as_str()))
                .bind(row.id.as_str())
                .bind(row.data_source.as_str())
                .bind(created_date.as_str())
                .bind(row.start.as_str())
                .bind(row.end.as_str())
                .bind(row.partitioned)
                .bind(row.version.as_str())
                .bind(true)
                .bind(row.payload.as_slice())
                .execute(&mut **tx)
                .await?;
            inserted += 1;
        }
        Ok(inserted)
    }

    /// Inserts the commit row, or updates it guarded by the sha1 of the payload read under the
    /// lock (Druid's compare-and-swap `UPDATE`).
    async fn write_commit(
        &self,
        tx: &mut Transaction<'static, Any>,
        commit: &PreparedCommit<'_>,
        stored_payload: Option<&[u8]>,
    ) -> Result<(), Step> {
        let data_source = commit.update.data_source.as_str();
        let new_sha1 = sha1_hex(&commit.new_payload);
        let affected = match stored_payload {
            None => sqlx::query(AssertSqlSafe(self.sql.insert_commit.as_str()))
                .bind(data_source)
                .bind(time::format_iso(time::now_ms()))
                .bind(commit.new_payload.as_slice())
                .bind(new_sha1.as_str())
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Some(stored) => sqlx::query(AssertSqlSafe(self.sql.update_commit.as_str()))
                .bind(commit.new_payload.as_slice())
                .bind(new_sha1.as_str())
                .bind(data_source)
                .bind(sha1_hex(stored))
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        };
        if affected != 1 {
            // The row changed under us although we held its lock: someone writes without locking.
            let stored = stored_payload
                .map(|bytes| Value::String(String::from_utf8_lossy(bytes).into_owned()));
            return Err(Step::Store(conflict(commit.update, stored.as_ref())));
        }
        Ok(())
    }
}

fn conflict(update: &CommitUpdate, stored: Option<&Value>) -> MetadataError {
    MetadataError::CommitConflict {
        data_source: update.data_source.clone(),
        expected: quote(update.expected_previous.as_ref()),
        stored: quote(stored),
    }
}

/// Returns a payload for a message: compact JSON cut at `MAX_QUOTED_PAYLOAD_CHARS`, or `none`.
fn quote(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "none".to_string();
    };
    let text = value.to_string();
    match text.char_indices().nth(MAX_QUOTED_PAYLOAD_CHARS) {
        Some((cut, _)) => format!("`{}…`", &text[..cut]),
        None => format!("`{text}`"),
    }
}

/// Returns the SHA-1 of `bytes` in upper-case hex, as Druid's `BaseEncoding.base16()` writes it.
fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_is_upper_case_hex_like_druid() {
        assert_eq!(sha1_hex(b"abc"), "A9993E364706816ABA3E25717850C26C9CD0D89D");
    }

    #[test]
    fn quotes_long_payloads_cut_and_none_as_none() {
        assert_eq!(quote(None), "none");
        assert_eq!(quote(Some(&serde_json::json!({"p": 1}))), "`{\"p\":1}`");
        let long = Value::String("x".repeat(1000));
        let quoted = quote(Some(&long));
        assert_eq!(quoted.chars().count(), MAX_QUOTED_PAYLOAD_CHARS + 3);
        assert!(quoted.ends_with("…`"));
    }
}
