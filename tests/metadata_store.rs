//! The metadata store against real databases: SQLite in a temp dir, PostgreSQL on
//! 127.0.0.1:5432 and MariaDB/MySQL on 127.0.0.1:3306 (`scripts/ensure-services.sh` starts
//! them). The same suite runs against each; every test uses its own table base `t_…` and drops
//! its tables at the end.
//!
//! `RTNODE_TEST_POSTGRES_URL` and `RTNODE_TEST_MYSQL_URL` override the server URLs.

use std::sync::atomic::{AtomicU32, Ordering};

use rtnode::segment::descriptor::{DataSegment, ShardSpec};
use rtnode::storage::metadata::{
    CommitUpdate, MetadataBackend, MetadataError, MetadataStore, MetadataStoreConfig,
    MetadataTables,
};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use sqlx::{AssertSqlSafe, Row};

#[path = "metadata_store/catalog.rs"]
mod catalog;

/// A store on fresh tables, with what it needs to clean up.
struct TestStore {
    store: MetadataStore,
    config: MetadataStoreConfig,
    _dir: Option<tempfile::TempDir>,
}

fn unique_base() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("t_{:x}_{nanos:x}_{count}", std::process::id())
}

fn test_config(backend: MetadataBackend, dir: Option<&tempfile::TempDir>) -> MetadataStoreConfig {
    let env_url =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    let mut config = match backend {
        MetadataBackend::Sqlite => {
            MetadataStoreConfig::sqlite(dir.unwrap().path().join("var/druid/metadata.db"))
        }
        MetadataBackend::Postgres => {
            let url = env_url(
                "RTNODE_TEST_POSTGRES_URL",
                "postgres://postgres@127.0.0.1:5432/test",
            );
            MetadataStoreConfig::from_uri(backend, Some(&url)).unwrap()
        }
        MetadataBackend::MySql => {
            let url = env_url("RTNODE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test");
            MetadataStoreConfig::from_uri(backend, Some(&url)).unwrap()
        }
    };
    config.tables = MetadataTables::with_base(&unique_base()).unwrap();
    config
}

impl TestStore {
    async fn open(backend: MetadataBackend) -> TestStore {
        let dir = (backend == MetadataBackend::Sqlite).then(|| tempfile::tempdir().unwrap());
        let config = test_config(backend, dir.as_ref());
        let store = MetadataStore::connect(&config)
            .await
            .unwrap_or_else(|error| panic!("{error} (run scripts/ensure-services.sh)"));
        TestStore {
            store,
            config,
            _dir: dir,
        }
    }

    /// Returns a second, independent store (its own pool) on the same tables: another replica.
    async fn another_publisher(&self) -> MetadataStore {
        MetadataStore::connect(&self.config).await.unwrap()
    }

    async fn drop_tables(self) {
        let tables = self.store.tables().clone();
        for table in [&tables.segments, &tables.data_source] {
            sqlx::raw_sql(AssertSqlSafe(format!("DROP TABLE IF EXISTS {table}")))
                .execute(self.store.pool())
                .await
                .unwrap();
        }
        self.store.close().await;
    }

    async fn count_segments(&self, ids: &[String]) -> i64 {
        let mut total = 0;
        for id in ids {
            let sql = placeholders(
                self.store.backend(),
                &format!(
                    "SELECT COUNT(*) FROM {} WHERE id = ?",
                    self.store.tables().segments
                ),
            );
            let row = sqlx::query(AssertSqlSafe(sql))
                .bind(id.as_str())
                .fetch_one(self.store.pool())
                .await
                .unwrap();
            total += row.get::<i64, _>(0);
        }
        total
    }
}

/// Rewrites `?` as `$n` for PostgreSQL.
fn placeholders(backend: MetadataBackend, sql: &str) -> String {
    if backend != MetadataBackend::Postgres {
        return sql.to_string();
    }
    let mut n = 0;
    sql.chars()
        .map(|c| {
            if c == '?' {
                n += 1;
                format!("${n}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn segment(data_source: &str, day: u32, shard_spec: ShardSpec) -> DataSegment {
    let interval = format!("2015-09-{day:02}/2015-09-{:02}", day + 1)
        .parse()
        .unwrap();
    let mut load_spec = serde_json::Map::new();
    load_spec.insert("type".into(), "local".into());
    load_spec.insert(
        "path".into(),
        format!("/tmp/druid/localStorage/{data_source}/{day}/index.zip").into(),
    );
    DataSegment {
        data_source: data_source.to_string(),
        interval,
        version: "2015-09-12T00:00:00.000Z".to_string(),
        load_spec,
        dimensions: vec!["page".into(), "user".into()],
        metrics: vec!["count".into(), "added".into()],
        shard_spec,
        binary_version: Some(9),
        size_bytes: 4096 + u64::from(day),
    }
}

fn ids(segments: &[DataSegment]) -> Vec<String> {
    segments.iter().map(DataSegment::identifier).collect()
}

fn commit(data_source: &str, expected_previous: Option<Value>, new: Value) -> Option<CommitUpdate> {
    Some(CommitUpdate {
        data_source: data_source.to_string(),
        expected_previous,
        new,
    })
}

async fn creates_tables_like_druid(backend: MetadataBackend) {
    let test = TestStore::open(backend).await;
    // Connecting again finds the tables and leaves them as they are.
    test.another_publisher().await.close().await;
    let tables = test.store.tables().clone();
    let pool = test.store.pool();
    let columns = catalog::columns(backend, pool, &tables.segments).await;
    assert_eq!(columns, catalog::expected_segment_columns(backend));
    assert_eq!(
        catalog::primary_key(backend, pool, &tables.segments).await,
        ["id"]
    );
    let indexes = catalog::indexes(backend, pool, &tables.segments).await;
    let lower = tables.segments.to_lowercase();
    for index in [
        format!("idx_{lower}_datasource"),
        format!("idx_{lower}_used"),
    ] {
        assert!(indexes.contains(&index), "{index} missing from {indexes:?}");
    }
    let columns = catalog::columns(backend, pool, &tables.data_source).await;
    assert_eq!(columns, catalog::expected_data_source_columns(backend));
    assert_eq!(
        catalog::primary_key(backend, pool, &tables.data_source).await,
        ["datasource"]
    );
    test.drop_tables().await;
}

async fn publishes_idempotently_and_reads_payloads_back(backend: MetadataBackend) {
    let test = TestStore::open(backend).await;
    let segments = vec![
        segment("wiki", 12, ShardSpec::None),
        segment(
            "wiki",
            12,
            ShardSpec::Numbered {
                partition_num: 1,
                partitions: 2,
            },
        ),
        segment("other", 13, ShardSpec::Linear { partition_num: 0 }),
    ];
    let outcome = test.store.publish(&segments, None).await.unwrap();
    assert_eq!(
        (
            outcome.segments_inserted,
            outcome.segments_already_present,
            outcome.replayed
        ),
        (3, 0, false)
    );
    let again = test.store.publish(&segments, None).await.unwrap();
    assert_eq!(
        (again.segments_inserted, again.segments_already_present),
        (0, 3)
    );
    assert_eq!(test.count_segments(&ids(&segments)).await, 3);

    let sql = format!(
        "SELECT dataSource, created_date, start, version, payload FROM {} WHERE id = ?",
        test.store.tables().segments
    );
    for expected in &segments {
        let row = sqlx::query(AssertSqlSafe(placeholders(backend, &sql)))
            .bind(expected.identifier())
            .fetch_one(test.store.pool())
            .await
            .unwrap();
        assert_eq!(row.get::<String, _>(0), expected.data_source);
        let created = rtnode::time::parse_iso(&row.get::<String, _>(1)).unwrap();
        assert!(
            (rtnode::time::now_ms() - created).abs() < 600_000,
            "created_date is now"
        );
        assert_eq!(
            row.get::<String, _>(2),
            rtnode::time::format_iso(expected.interval.start_ms)
        );
        assert_eq!(row.get::<String, _>(3), expected.version);
        assert_eq!(row.get::<Vec<u8>, _>(4), expected.to_json_bytes());
        let flags = catalog::flags(
            backend,
            test.store.pool(),
            &test.store.tables().segments,
            &expected.identifier(),
        )
        .await;
        assert_eq!(
            flags,
            (expected.shard_spec.is_partitioned(), true),
            "(partitioned, used)"
        );
    }
    assert_eq!(
        test.store.used_segments("wiki").await.unwrap(),
        segments[..2]
    );
    assert_eq!(
        test.store.used_segments("other").await.unwrap(),
        segments[2..]
    );
    test.drop_tables().await;
}

async fn marks_segments_unused(backend: MetadataBackend) {
    let test = TestStore::open(backend).await;
    let segments = vec![
        segment("wiki", 1, ShardSpec::None),
        segment("wiki", 2, ShardSpec::None),
    ];
    test.store.publish(&segments, None).await.unwrap();
    let first = vec![segments[0].identifier(), "wiki_no_such_segment".to_string()];
    assert_eq!(test.store.mark_unused(&first).await.unwrap(), 1);
    assert_eq!(test.store.mark_unused(&first).await.unwrap(), 0);
    assert_eq!(
        test.store.used_segments("wiki").await.unwrap(),
        segments[1..]
    );
    let flags = catalog::flags(
        backend,
        test.store.pool(),
        &test.store.tables().segments,
        &segments[0].identifier(),
    )
    .await;
    assert_eq!(flags, (false, false), "(partitioned, used)");
    test.drop_tables().await;
}

async fn swaps_commit_metadata_with_conflicts_and_replays(backend: MetadataBackend) {
    let test = TestStore::open(backend).await;
    let store = &test.store;
    let first = vec![segment("wiki", 1, ShardSpec::None)];
    let second = vec![
        segment("wiki", 2, ShardSpec::None),
        segment("wiki", 3, ShardSpec::None),
    ];
    let offsets_10 = json!({"type": "kafka", "partitions": {"0": 10, "1": 7}});
    let offsets_20 = json!({"type": "kafka", "partitions": {"0": 20, "1": 9}});
    assert_eq!(store.read_commit_metadata("wiki").await.unwrap(), None);

    let outcome = store
        .publish(&first, commit("wiki", None, offsets_10.clone()))
        .await
        .unwrap();
    assert_eq!((outcome.segments_inserted, outcome.replayed), (1, false));
    assert_eq!(
        store.read_commit_metadata("wiki").await.unwrap(),
        Some(offsets_10.clone())
    );

    // A stale expectation: conflict, and nothing of this publish is written.
    let error = store
        .publish(&second, commit("wiki", None, offsets_20.clone()))
        .await
        .unwrap_err();
    assert!(
        error.is_commit_conflict() && !error.is_retryable(),
        "{error}"
    );
    assert!(error.to_string().contains("datasource `wiki`"), "{error}");
    assert_eq!(test.count_segments(&ids(&second)).await, 0);
    assert_eq!(
        store.read_commit_metadata("wiki").await.unwrap(),
        Some(offsets_10.clone())
    );

    // The right expectation, written with its keys in another order, matches by value.
    let reordered = json!({"partitions": {"1": 7, "0": 10}, "type": "kafka"});
    let outcome = store
        .publish(
            &second,
            commit("wiki", Some(reordered.clone()), offsets_20.clone()),
        )
        .await
        .unwrap();
    assert_eq!((outcome.segments_inserted, outcome.replayed), (2, false));
    assert_eq!(
        store.read_commit_metadata("wiki").await.unwrap(),
        Some(offsets_20.clone())
    );
    let (payload, sha1) =
        catalog::commit_row(backend, store.pool(), &store.tables().data_source, "wiki").await;
    assert_eq!(payload, serde_json::to_vec(&offsets_20).unwrap());
    let expected_sha1: String = Sha1::digest(&payload)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(sha1, expected_sha1);

    // The same publish again (a retry after a crash before the caller saw the answer): success.
    let replay = store
        .publish(
            &second,
            commit("wiki", Some(reordered.clone()), offsets_20.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            replay.segments_inserted,
            replay.segments_already_present,
            replay.replayed
        ),
        (0, 2, true)
    );
    // Not a replay when a segment is missing.
    let third = vec![segment("wiki", 4, ShardSpec::None)];
    let error = store
        .publish(&third, commit("wiki", Some(reordered), offsets_20.clone()))
        .await
        .unwrap_err();
    assert!(error.is_commit_conflict(), "{error}");
    assert_eq!(test.count_segments(&ids(&third)).await, 0);
    // Other datasources have their own rows.
    store
        .publish(&[], commit("other", None, json!({"n": 1})))
        .await
        .unwrap();
    assert_eq!(
        store.read_commit_metadata("wiki").await.unwrap(),
        Some(offsets_20)
    );
    test.drop_tables().await;
}

async fn two_publishers_racing_the_same_swap_exactly_one_wins(backend: MetadataBackend) {
    let test = TestStore::open(backend).await;
    let rival = test.another_publisher().await;
    let mut previous: Option<Value> = None;
    for round in 0..4u32 {
        let ours = vec![segment("wiki", 2 * round + 1, ShardSpec::None)];
        let theirs = vec![segment("wiki", 2 * round + 2, ShardSpec::None)];
        let our_offsets = json!({"round": round, "by": "a"});
        let their_offsets = json!({"round": round, "by": "b"});
        let (a, b) = tokio::join!(
            test.store
                .publish(&ours, commit("wiki", previous.clone(), our_offsets.clone())),
            rival.publish(
                &theirs,
                commit("wiki", previous.clone(), their_offsets.clone())
            ),
        );
        let (winner_offsets, winner, loser) = match (&a, &b) {
            (Ok(_), Err(error)) if error.is_commit_conflict() => (our_offsets, &ours, &theirs),
            (Err(error), Ok(_)) if error.is_commit_conflict() => (their_offsets, &theirs, &ours),
            other => panic!("round {round}: expected exactly one winner, got {other:?}"),
        };
        assert_eq!(
            test.store.read_commit_metadata("wiki").await.unwrap(),
            Some(winner_offsets.clone())
        );
        assert_eq!(test.count_segments(&ids(winner)).await, 1);
        assert_eq!(
            test.count_segments(&ids(loser)).await,
            0,
            "the loser wrote nothing"
        );
        previous = Some(winner_offsets);
    }
    rival.close().await;
    test.drop_tables().await;
}

async fn replicas_publishing_the_same_thing_both_succeed(backend: MetadataBackend) {
    let test = TestStore::open(backend).await;
    let rival = test.another_publisher().await;
    let segments = vec![segment("wiki", 5, ShardSpec::Linear { partition_num: 3 })];
    let offsets = json!({"partitions": {"3": 1000}});
    let (a, b) = tokio::join!(
        test.store
            .publish(&segments, commit("wiki", None, offsets.clone())),
        rival.publish(&segments, commit("wiki", None, offsets.clone())),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.segments_inserted + b.segments_inserted, 1, "{a:?} {b:?}");
    assert!(a.replayed != b.replayed, "one of them replays: {a:?} {b:?}");
    assert_eq!(
        test.store.read_commit_metadata("wiki").await.unwrap(),
        Some(offsets)
    );
    rival.close().await;
    test.drop_tables().await;
}

async fn corrupt_commit_payload_is_an_error_naming_the_row(backend: MetadataBackend) {
    let test = TestStore::open(backend).await;
    let table = test.store.tables().data_source.clone();
    let sql = placeholders(
        backend,
        &format!(
            "INSERT INTO {table} (dataSource, created_date, commit_metadata_payload, commit_metadata_sha1) VALUES (?, ?, ?, ?)"
        ),
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind("broken")
        .bind("2015-09-12T00:00:00.000Z")
        .bind(b"{not json".as_slice())
        .bind("00")
        .execute(test.store.pool())
        .await
        .unwrap();
    let error = test.store.read_commit_metadata("broken").await.unwrap_err();
    assert!(
        matches!(&error, MetadataError::CorruptPayload { key, .. } if key == "broken"),
        "{error}"
    );
    let error = test
        .store
        .publish(&[], commit("broken", None, json!(1)))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains(&format!("table `{table}`")),
        "{error}"
    );
    test.drop_tables().await;
}

macro_rules! suite {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn creates_tables_like_druid() {
                super::creates_tables_like_druid($backend).await;
            }

            #[tokio::test]
            async fn publishes_idempotently_and_reads_payloads_back() {
                super::publishes_idempotently_and_reads_payloads_back($backend).await;
            }

            #[tokio::test]
            async fn marks_segments_unused() {
                super::marks_segments_unused($backend).await;
            }

            #[tokio::test]
            async fn swaps_commit_metadata_with_conflicts_and_replays() {
                super::swaps_commit_metadata_with_conflicts_and_replays($backend).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn two_publishers_racing_the_same_swap_exactly_one_wins() {
                super::two_publishers_racing_the_same_swap_exactly_one_wins($backend).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn replicas_publishing_the_same_thing_both_succeed() {
                super::replicas_publishing_the_same_thing_both_succeed($backend).await;
            }

            #[tokio::test]
            async fn corrupt_commit_payload_is_an_error_naming_the_row() {
                super::corrupt_commit_payload_is_an_error_naming_the_row($backend).await;
            }
        }
    };
}

suite!(sqlite, MetadataBackend::Sqlite);
suite!(postgres, MetadataBackend::Postgres);
suite!(mysql, MetadataBackend::MySql);

#[tokio::test]
async fn an_unreachable_server_is_retryable_and_named_without_the_password() {
    for (backend, uri) in [
        (
            MetadataBackend::Postgres,
            "jdbc:postgresql://127.0.0.1:1/druid?user=druid&password=hunter2",
        ),
        (
            MetadataBackend::MySql,
            "jdbc:mysql://druid:hunter2@127.0.0.1:1/druid",
        ),
    ] {
        let config = MetadataStoreConfig::from_uri(backend, Some(uri)).unwrap();
        let error = MetadataStore::connect(&config).await.unwrap_err();
        let message = error.to_string();
        assert!(error.is_retryable(), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(
            message.starts_with(&format!(
                "cannot connect to the {backend} metadata store at `"
            )),
            "{message}"
        );
        assert!(message.contains("druid@127.0.0.1:1/druid"), "{message}");
    }
}

#[tokio::test]
async fn the_sqlite_store_creates_its_directory_and_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/var/druid/metadata.db");
    let store = MetadataStore::connect(&MetadataStoreConfig::sqlite(&path))
        .await
        .unwrap();
    assert!(path.exists());
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
    assert_eq!(store.tables().segments, "druid_segments");
    store.close().await;
}
