//! End to end through the `rtnode` binary: the wikiticker sample with DAY segments, pushed to
//! local deep storage at Druid's path and published to the metadata store (SQLite, PostgreSQL,
//! MariaDB); the published segment holds exactly the rollup of the input.

mod ingest_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ingest_support::{read_json_lines_gz, shared};
use rtnode::segment::compression::Compression;
use rtnode::segment::descriptor::DataSegment;
use rtnode::segment::long_column::LongDecoder;
use rtnode::segment::{Column, Segment};
use rtnode::storage::metadata::{MetadataStore, MetadataStoreConfig};
use rtnode::time::HOUR_MS;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Row};

fn spec(dir: &Path) -> std::path::PathBuf {
    spec_with(dir, json!({}))
}

/// The spec with `index_specs` (`indexSpec` and/or `indexSpecForIntermediatePersists`) merged
/// into its tuningConfig.
fn spec_with(dir: &Path, index_specs: Value) -> std::path::PathBuf {
    let mut spec = json!([{
        "dataSchema": {
            "dataSource": "wikiticker",
            "parser": {"type": "string", "parseSpec": {"format": "json",
                "timestampSpec": {"column": "time", "format": "iso"},
                "dimensionsSpec": {"dimensions": ["channel", "isRobot"]}}},
            "metricsSpec": [
                {"type": "count", "name": "count"},
                {"type": "longSum", "name": "added", "fieldName": "added"},
                {"type": "longSum", "name": "deleted", "fieldName": "deleted"},
                {"type": "longSum", "name": "delta", "fieldName": "delta"}
            ],
            "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": "HOUR", "rollup": true}
        },
        "ioConfig": {"type": "realtime", "firehose": {"type": "local", "baseDir": shared("data").display().to_string(), "filter": "wikiticker-2015-09-12-sampled.json.gz"}},
        "tuningConfig": {"type": "realtime", "maxRowsInMemory": 500, "rejectionPolicy": {"type": "messageTime"}, "windowPeriod": "PT10M"}
    }]);
    for (key, value) in index_specs.as_object().unwrap() {
        spec[0]["tuningConfig"][key] = value.clone();
    }
    let path = dir.join("spec.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    path
}

fn run_node(workdir: &Path, spec: &Path, props: &[String]) -> Value {
    let mut args: Vec<String> = vec![
        "run".into(),
        "--spec".into(),
        spec.display().to_string(),
        "--exit-when-done".into(),
        "-D".into(),
        "druid.plaintextPort=0".into(),
    ];
    for p in props {
        args.push("-D".into());
        args.push(p.clone());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rtnode"))
        .args(&args)
        .current_dir(workdir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// The expected rows: (hour, channel, isRobot) → [count, added, deleted, delta].
fn expected_rollup() -> BTreeMap<(i64, String, String), [i64; 4]> {
    let mut rows = BTreeMap::new();
    for e in read_json_lines_gz(&shared("data/wikiticker-2015-09-12-sampled.json.gz")) {
        let t = rtnode::time::parse_iso(e["time"].as_str().unwrap()).unwrap();
        let key = (
            t - t.rem_euclid(HOUR_MS),
            e["channel"].as_str().unwrap().to_string(),
            e["isRobot"].to_string(),
        );
        let acc: &mut [i64; 4] = rows.entry(key).or_default();
        acc[0] += 1;
        acc[1] += e["added"].as_i64().unwrap();
        acc[2] += e["deleted"].as_i64().unwrap();
        acc[3] += e["delta"].as_i64().unwrap();
    }
    rows
}

fn dumped(zip: &Path) -> BTreeMap<(i64, String, String), [i64; 4]> {
    let mut out = Vec::new();
    rtnode::segment::dump::dump_rows(zip, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            let key = (
                r["__time"].as_i64().unwrap(),
                r["channel"].as_str().unwrap().to_string(),
                r["isRobot"].as_str().unwrap().to_string(),
            );
            (
                key,
                [
                    r["count"].as_i64().unwrap(),
                    r["added"].as_i64().unwrap(),
                    r["deleted"].as_i64().unwrap(),
                    r["delta"].as_i64().unwrap(),
                ],
            )
        })
        .collect()
}

async fn check_published(config: &MetadataStoreConfig, summary: &Value, workdir: &Path) {
    let ds = &summary["dataSources"][0];
    assert_eq!(ds["processed"], 39_244);
    assert_eq!(ds["unparseable"], 0);
    let segments = ds["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 1, "{summary}");
    let id = segments[0]["identifier"].as_str().unwrap();
    assert_eq!(
        id,
        "wikiticker_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_2015-09-12T00:00:00.000Z"
    );
    let zip = Path::new(segments[0]["path"].as_str().unwrap());
    let druid_path = workdir.join("var/druid/segments/wikiticker/2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z/2015-09-12T00:00:00.000Z/0");
    assert_eq!(zip, druid_path.join("index.zip"));
    let descriptor = std::fs::read(druid_path.join("descriptor.json")).unwrap();
    let store = MetadataStore::connect(config).await.unwrap();
    let table = &store.tables().segments;
    let sql = format!("SELECT payload FROM {table} WHERE id = '{id}'");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let payload: Vec<u8> = rows[0].get(0);
    assert_eq!(payload, descriptor, "payload equals descriptor.json");
    let used: Vec<DataSegment> = store.used_segments("wikiticker").await.unwrap();
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].metrics, ["count", "added", "deleted", "delta"]);
    assert_eq!(dumped(zip), expected_rollup());
    let commit = store
        .read_commit_metadata("wikiticker")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        commit["partitions"]["0"]["checkpoint"]["file"],
        "wikiticker-2015-09-12-sampled.json.gz"
    );
    assert!(commit["partitions"]["0"]["writerId"].is_string());
    for t in [
        store.tables().segments.clone(),
        store.tables().data_source.clone(),
    ] {
        if !t.starts_with("druid") {
            let _ = sqlx::query(AssertSqlSafe(format!("DROP TABLE {t}")))
                .execute(store.pool())
                .await;
        }
    }
}

fn unique_base() -> String {
    format!(
        "t_e2e_{:x}_{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// The compression and long decoder of the `added` column of a pushed `index.zip`.
fn added_format(zip: &Path) -> (Compression, LongDecoder) {
    let segment = Segment::open_zip(zip).unwrap();
    let Some(Column::Long(added)) = segment.column("added").unwrap() else {
        panic!("`added` is a long column")
    };
    let (blocks, decoder, _) = added.into_parts();
    (blocks.compression(), decoder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_spec_sets_the_pushed_segment_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let index_specs = json!({
        "indexSpec": {"metricCompression": "NONE", "longEncoding": "auto", "dimensionCompression": "uncompressed"},
        "indexSpecForIntermediatePersists": {"metricCompression": "lz4", "longEncoding": "longs"}
    });
    let summary = run_node(tmp.path(), &spec_with(tmp.path(), index_specs), &[]);
    let zip = PathBuf::from(
        summary["dataSources"][0]["segments"][0]["path"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(dumped(&zip), expected_rollup());
    let (compression, decoder) = added_format(&zip);
    assert_eq!(compression, Compression::None);
    assert!(
        matches!(
            decoder,
            LongDecoder::Packed {
                table_opt: None,
                ..
            }
        ),
        "{decoder:?}"
    );
}

/// `createBitmapIndex: false` on `channel`: the pushed segment's `channel` column carries no
/// bitmap index (Druid's `NO_BITMAP_INDEX` part), `isRobot` keeps its own, the rows are the
/// same, and a filter on `channel` still selects exactly its rows (bitmaps built from the ids).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_bitmap_index_false_leaves_the_bitmaps_out_of_the_pushed_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let path = spec(tmp.path());
    let mut spec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec[0]["dataSchema"]["parser"]["parseSpec"]["dimensionsSpec"]["dimensions"][0] =
        json!({"type": "string", "name": "channel", "createBitmapIndex": false});
    std::fs::write(&path, spec.to_string()).unwrap();
    let summary = run_node(tmp.path(), &path, &[]);
    let zip = PathBuf::from(
        summary["dataSources"][0]["segments"][0]["path"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(dumped(&zip), expected_rollup());
    let segment = Segment::open_zip(&zip).unwrap();
    let string_column = |name: &str| match segment.column(name).unwrap() {
        Some(Column::String(column)) => column,
        _ => panic!("`{name}` is a string column"),
    };
    let (channel, is_robot) = (string_column("channel"), string_column("isRobot"));
    assert!(!channel.has_bitmap_index());
    assert!(is_robot.has_bitmap_index());
    let en = channel
        .dictionary()
        .index_of(Some("#en.wikipedia"))
        .unwrap()
        .unwrap();
    let rows: Vec<u32> = (0..segment.num_rows())
        .filter(|row| channel.single_id(*row).unwrap() == Some(en))
        .collect();
    assert!(!rows.is_empty());
    assert_eq!(channel.bitmap(en).unwrap().iter().collect::<Vec<_>>(), rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wikiticker_day_segment_published_to_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let summary = run_node(tmp.path(), &spec(tmp.path()), &[]);
    let config = MetadataStoreConfig::sqlite(tmp.path().join("var/druid/metadata.db"));
    check_published(&config, &summary, tmp.path()).await;
    let ds = &summary["dataSources"][0];
    let zip = PathBuf::from(ds["segments"][0]["path"].as_str().unwrap());
    let (compression, decoder) = added_format(&zip);
    assert_eq!(compression, Compression::Lz4, "Druid's default indexSpec");
    assert!(matches!(decoder, LongDecoder::Longs(_)), "{decoder:?}");
    assert!(
        ds["persists"].as_u64().unwrap() >= 2,
        "maxRowsInMemory 500 forces several persists: {summary}"
    );
    assert!(!tmp.path().join("var/druid/realtime/basePersist/wikiticker/2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z").exists(), "local files are deleted after handoff");
}

async fn against_server(kind: &str, uri: &str, user: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let base = unique_base();
    let props = vec![
        format!("druid.metadata.storage.type={kind}"),
        format!("druid.metadata.storage.connector.connectURI={uri}"),
        format!("druid.metadata.storage.connector.user={user}"),
        format!("druid.metadata.storage.tables.base={base}"),
    ];
    let summary = run_node(tmp.path(), &spec(tmp.path()), &props);
    let mut properties = rtnode::config::properties::RuntimeProperties::new();
    for p in &props {
        properties.apply_override(p).unwrap();
    }
    let config = MetadataStoreConfig::from_properties(&properties).unwrap();
    check_published(&config, &summary, tmp.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wikiticker_day_segment_published_to_postgresql() {
    against_server(
        "postgresql",
        "jdbc:postgresql://127.0.0.1:5432/test",
        "postgres",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wikiticker_day_segment_published_to_mariadb() {
    against_server("mysql", "jdbc:mysql://127.0.0.1:3306/test", "root").await;
}
