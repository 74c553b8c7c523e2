//! The SQL text of every statement, per backend, with the configured table names spliced in.
//!
//! Table names are validated identifiers (`[A-Za-z0-9_]`), so splicing them is safe; every value
//! is a bound parameter. The dialects differ only in:
//!
//! | | SQLite | PostgreSQL | MySQL / MariaDB |
//! |---|---|---|---|
//! | payload type | `BLOB` | `BYTEA` | `LONGBLOB` |
//! | `end` quoted as | `"end"` | `"end"` | `` `end` `` |
//! | `dataSource` collation | | | `CHARACTER SET utf8mb4 COLLATE utf8mb4_bin` |
//! | placeholders | `?` | `$1`, `$2`, … | `?` |
//! | row lock for the commit CAS | `BEGIN IMMEDIATE` (database lock) | `SELECT … FOR UPDATE` | `SELECT … FOR UPDATE` |
//! | indexes | `CREATE INDEX IF NOT EXISTS` | `CREATE INDEX IF NOT EXISTS` | inside `CREATE TABLE` |

use super::config::{MetadataBackend, MetadataTables};

/// Every statement the store runs, ready to execute.
#[derive(Debug, Clone)]
pub(super) struct Statements {
    /// `CREATE TABLE` (and index) statements for `{base}_segments` and `{base}_dataSource`, in order.
    pub create_tables: Vec<String>,
    /// `SELECT id … WHERE id = ?`.
    pub segment_exists: String,
    /// `INSERT` of one segment row (9 parameters in column order).
    pub insert_segment: String,
    /// `SELECT id, payload … WHERE dataSource = ? AND used = ?`.
    pub used_payloads: String,
    /// `UPDATE … SET used = ? WHERE id = ? AND used = ?`.
    pub mark_unused: String,
    /// `SELECT commit_metadata_payload … WHERE dataSource = ?`, locking the row where the
    /// backend can.
    pub read_commit_for_update: String,
    /// `SELECT commit_metadata_payload … WHERE dataSource = ?` without a lock.
    pub read_commit: String,
    /// `INSERT` of the commit row (dataSource, created_date, payload, sha1).
    pub insert_commit: String,
    /// `UPDATE` of the commit row guarded by the previous sha1 (payload, sha1, dataSource, old sha1).
    pub update_commit: String,
}

impl Statements {
    /// Returns the statements for `backend` and `tables`.
    pub fn new(backend: MetadataBackend, tables: &MetadataTables) -> Self {
        let segments = &tables.segments;
        let data_source = &tables.data_source;
        let end = match backend {
            MetadataBackend::MySql => "`end`",
            MetadataBackend::Sqlite | MetadataBackend::Postgres => "\"end\"",
        };
        let lock = match backend {
            MetadataBackend::Sqlite => "",
            MetadataBackend::Postgres | MetadataBackend::MySql => " FOR UPDATE",
        };
        let read_commit =
            format!("SELECT commit_metadata_payload FROM {data_source} WHERE dataSource = ?");
        let statements = Statements {
            create_tables: create_tables(backend, tables, end),
            segment_exists: format!("SELECT id FROM {segments} WHERE id = ?"),
            insert_segment: format!(
                "INSERT INTO {segments} (id, dataSource, created_date, start, {end}, partitioned, version, used, payload) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            used_payloads: format!(
                "SELECT id, payload FROM {segments} WHERE dataSource = ? AND used = ? ORDER BY start, {end}, id"
            ),
            mark_unused: format!("UPDATE {segments} SET used = ? WHERE id = ? AND used = ?"),
            read_commit_for_update: format!("{read_commit}{lock}"),
            read_commit,
            insert_commit: format!(
                "INSERT INTO {data_source} (dataSource, created_date, commit_metadata_payload, commit_metadata_sha1) \
                 VALUES (?, ?, ?, ?)"
            ),
            update_commit: format!(
                "UPDATE {data_source} SET commit_metadata_payload = ?, commit_metadata_sha1 = ? \
                 WHERE dataSource = ? AND commit_metadata_sha1 = ?"
            ),
        };
        match backend {
            MetadataBackend::Postgres => statements.with_numbered_placeholders(),
            MetadataBackend::Sqlite | MetadataBackend::MySql => statements,
        }
    }

    fn with_numbered_placeholders(self) -> Self {
        Statements {
            create_tables: self.create_tables,
            segment_exists: numbered(&self.segment_exists),
            insert_segment: numbered(&self.insert_segment),
            used_payloads: numbered(&self.used_payloads),
            mark_unused: numbered(&self.mark_unused),
            read_commit_for_update: numbered(&self.read_commit_for_update),
            read_commit: numbered(&self.read_commit),
            insert_commit: numbered(&self.insert_commit),
            update_commit: numbered(&self.update_commit),
        }
    }
}

/// Druid's `createSegmentTable` (0.9.2 indexes) and `createDataSourceTable`, `IF NOT EXISTS`.
fn create_tables(backend: MetadataBackend, tables: &MetadataTables, end: &str) -> Vec<String> {
    let segments = &tables.segments;
    let data_source = &tables.data_source;
    let (payload, collation) = match backend {
        MetadataBackend::Sqlite => ("BLOB", ""),
        MetadataBackend::Postgres => ("BYTEA", ""),
        MetadataBackend::MySql => ("LONGBLOB", " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
    };
    let inline_indexes = match backend {
        MetadataBackend::MySql => format!(
            ",\n  INDEX idx_{segments}_datasource (dataSource),\n  INDEX idx_{segments}_used (used)"
        ),
        MetadataBackend::Sqlite | MetadataBackend::Postgres => String::new(),
    };
    let mut statements = vec![format!(
        "CREATE TABLE IF NOT EXISTS {segments} (\n  id VARCHAR(255) NOT NULL,\n  \
         dataSource VARCHAR(255){collation} NOT NULL,\n  created_date VARCHAR(255) NOT NULL,\n  \
         start VARCHAR(255) NOT NULL,\n  {end} VARCHAR(255) NOT NULL,\n  partitioned BOOLEAN NOT NULL,\n  \
         version VARCHAR(255) NOT NULL,\n  used BOOLEAN NOT NULL,\n  payload {payload} NOT NULL,\n  \
         PRIMARY KEY (id){inline_indexes}\n)"
    )];
    if backend != MetadataBackend::MySql {
        statements.push(format!(
            "CREATE INDEX IF NOT EXISTS idx_{segments}_datasource ON {segments}(dataSource)"
        ));
        statements.push(format!(
            "CREATE INDEX IF NOT EXISTS idx_{segments}_used ON {segments}(used)"
        ));
    }
    statements.push(format!(
        "CREATE TABLE IF NOT EXISTS {data_source} (\n  dataSource VARCHAR(255){collation} NOT NULL,\n  \
         created_date VARCHAR(255) NOT NULL,\n  commit_metadata_payload {payload} NOT NULL,\n  \
         commit_metadata_sha1 VARCHAR(255) NOT NULL,\n  PRIMARY KEY (dataSource)\n)"
    ));
    statements
}

/// Rewrites `?` placeholders as PostgreSQL's `$1`, `$2`, … (the statements contain no other `?`).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1;
    for c in sql.chars() {
        if c == '?' {
            out.push('$');
            out.push_str(&next.to_string());
            next += 1;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_postgres_placeholders_in_order() {
        let tables = MetadataTables::with_base("druid").unwrap();
        let pg = Statements::new(MetadataBackend::Postgres, &tables);
        assert_eq!(
            pg.update_commit,
            "UPDATE druid_dataSource SET commit_metadata_payload = $1, commit_metadata_sha1 = $2 \
             WHERE dataSource = $3 AND commit_metadata_sha1 = $4"
        );
        assert!(
            pg.insert_segment
                .ends_with("VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        );
        assert_eq!(
            pg.read_commit_for_update,
            "SELECT commit_metadata_payload FROM druid_dataSource WHERE dataSource = $1 FOR UPDATE"
        );
        let sqlite = Statements::new(MetadataBackend::Sqlite, &tables);
        assert_eq!(sqlite.read_commit_for_update, sqlite.read_commit);
    }

    #[test]
    fn quotes_end_and_types_the_payload_per_backend() {
        let tables = MetadataTables::with_base("druid").unwrap();
        let mysql = Statements::new(MetadataBackend::MySql, &tables);
        assert_eq!(mysql.create_tables.len(), 2);
        assert!(mysql.create_tables[0].contains("`end` VARCHAR(255) NOT NULL"));
        assert!(mysql.create_tables[0].contains("payload LONGBLOB NOT NULL"));
        assert!(mysql.create_tables[0].contains("INDEX idx_druid_segments_used (used)"));
        let pg = Statements::new(MetadataBackend::Postgres, &tables);
        assert_eq!(pg.create_tables.len(), 4);
        assert!(pg.create_tables[0].contains("\"end\" VARCHAR(255) NOT NULL"));
        assert!(pg.create_tables[0].contains("payload BYTEA NOT NULL"));
        assert_eq!(
            pg.create_tables[1],
            "CREATE INDEX IF NOT EXISTS idx_druid_segments_datasource ON druid_segments(dataSource)"
        );
        assert!(pg.create_tables[3].contains("commit_metadata_payload BYTEA NOT NULL"));
    }
}
