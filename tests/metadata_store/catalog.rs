//! Reads each backend's catalog: columns with their types, primary keys, index names.

use rtnode::storage::metadata::MetadataBackend;
use sqlx::{AnyPool, AssertSqlSafe, Row};

use super::placeholders;

/// A column as `(lower-case name, lower-case type, NOT NULL)`.
pub type Column = (String, String, bool);

fn column(name: &str, sql_type: &str) -> Column {
    (name.to_string(), sql_type.to_string(), true)
}

/// The spelling of (VARCHAR(255), BOOLEAN, payload type) in each catalog.
fn types(backend: MetadataBackend) -> (&'static str, &'static str, &'static str) {
    match backend {
        MetadataBackend::Sqlite => ("varchar(255)", "boolean", "blob"),
        MetadataBackend::Postgres => ("character varying(255)", "boolean", "bytea"),
        MetadataBackend::MySql => ("varchar(255)", "tinyint(1)", "longblob"),
    }
}

/// Druid's `druid_segments` columns (reference §2.11).
pub fn expected_segment_columns(backend: MetadataBackend) -> Vec<Column> {
    let (varchar, boolean, payload) = types(backend);
    vec![
        column("id", varchar),
        column("datasource", varchar),
        column("created_date", varchar),
        column("start", varchar),
        column("end", varchar),
        column("partitioned", boolean),
        column("version", varchar),
        column("used", boolean),
        column("payload", payload),
    ]
}

/// Druid's `druid_dataSource` columns (`createDataSourceTable`).
pub fn expected_data_source_columns(backend: MetadataBackend) -> Vec<Column> {
    let (varchar, _, payload) = types(backend);
    vec![
        column("datasource", varchar),
        column("created_date", varchar),
        column("commit_metadata_payload", payload),
        column("commit_metadata_sha1", varchar),
    ]
}

/// PostgreSQL folds unquoted names to lower case; the others keep them.
fn catalog_name(backend: MetadataBackend, table: &str) -> String {
    match backend {
        MetadataBackend::Postgres => table.to_lowercase(),
        MetadataBackend::Sqlite | MetadataBackend::MySql => table.to_string(),
    }
}

async fn strings(
    pool: &AnyPool,
    backend: MetadataBackend,
    sql: &str,
    table: &str,
) -> Vec<Vec<String>> {
    let rows = sqlx::query(AssertSqlSafe(placeholders(backend, sql)))
        .bind(catalog_name(backend, table))
        .fetch_all(pool)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| row.get::<String, _>(i).to_lowercase())
                .collect()
        })
        .collect()
}

/// Returns the columns of `table` in order.
pub async fn columns(backend: MetadataBackend, pool: &AnyPool, table: &str) -> Vec<Column> {
    let sql = match backend {
        MetadataBackend::Sqlite => {
            "SELECT name, type, CASE WHEN \"notnull\" = 1 THEN 'NO' ELSE 'YES' END FROM pragma_table_info(?) ORDER BY cid"
        }
        MetadataBackend::Postgres => {
            "SELECT column_name::text, CASE WHEN character_maximum_length IS NULL THEN data_type::text \
             ELSE data_type::text || '(' || character_maximum_length || ')' END, is_nullable::text \
             FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? \
             ORDER BY ordinal_position"
        }
        MetadataBackend::MySql => {
            "SELECT CAST(column_name AS CHAR), CAST(column_type AS CHAR), CAST(is_nullable AS CHAR) \
             FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? \
             ORDER BY ordinal_position"
        }
    };
    let rows = strings(pool, backend, sql, table).await;
    rows.into_iter()
        .map(|row| (row[0].clone(), row[1].clone(), row[2] == "no"))
        .collect()
}

/// Returns the primary key columns of `table`, lower-case.
pub async fn primary_key(backend: MetadataBackend, pool: &AnyPool, table: &str) -> Vec<String> {
    let sql = match backend {
        MetadataBackend::Sqlite => "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
        MetadataBackend::Postgres => {
            "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a \
             ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = ?::text::regclass AND i.indisprimary"
        }
        MetadataBackend::MySql => {
            "SELECT CAST(column_name AS CHAR) FROM information_schema.key_column_usage \
             WHERE table_schema = DATABASE() AND table_name = ? AND constraint_name = 'PRIMARY' \
             ORDER BY ordinal_position"
        }
    };
    strings(pool, backend, sql, table)
        .await
        .into_iter()
        .map(|row| row[0].clone())
        .collect()
}

/// Returns the index names of `table`, lower-case.
pub async fn indexes(backend: MetadataBackend, pool: &AnyPool, table: &str) -> Vec<String> {
    let sql = match backend {
        MetadataBackend::Sqlite => "SELECT name FROM pragma_index_list(?)",
        MetadataBackend::Postgres => {
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?"
        }
        MetadataBackend::MySql => {
            "SELECT DISTINCT CAST(index_name AS CHAR) FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = ?"
        }
    };
    strings(pool, backend, sql, table)
        .await
        .into_iter()
        .map(|row| row[0].clone())
        .collect()
}

/// Returns `(partitioned, used)` of a segment row, by asking which combination matches.
pub async fn flags(
    backend: MetadataBackend,
    pool: &AnyPool,
    table: &str,
    id: &str,
) -> (bool, bool) {
    let sql = placeholders(
        backend,
        &format!("SELECT COUNT(*) FROM {table} WHERE id = ? AND partitioned = ? AND used = ?"),
    );
    let mut matches = Vec::new();
    for partitioned in [false, true] {
        for used in [false, true] {
            let row = sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(id)
                .bind(partitioned)
                .bind(used)
                .fetch_one(pool)
                .await
                .unwrap();
            if row.get::<i64, _>(0) == 1 {
                matches.push((partitioned, used));
            }
        }
    }
    assert_eq!(
        matches.len(),
        1,
        "segment `{id}` must match exactly one flag combination"
    );
    matches[0]
}

/// Returns the stored commit payload bytes and sha1 of `data_source`.
pub async fn commit_row(
    backend: MetadataBackend,
    pool: &AnyPool,
    table: &str,
    data_source: &str,
) -> (Vec<u8>, String) {
    let sql = placeholders(
        backend,
        &format!(
            "SELECT commit_metadata_payload, commit_metadata_sha1 FROM {table} WHERE dataSource = ?"
        ),
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(data_source)
        .fetch_one(pool)
        .await
        .unwrap();
    (row.get(0), row.get(1))
}
