//! Druid's own realtime specs, read from ../shared/druid: 0.7+ specs validate, pre-0.7 specs are
//! converted as Druid 0.6 converted them, firehoses rtnode does not run are refused by type.

use std::path::PathBuf;

use rtnode::config::{self, SpecError};

fn shared(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/druid")
        .join(path)
}

/// Fills the `%%PLACEHOLDER%%` / `#SHUTOFFTIME` slots of Druid's test task files.
fn substitute(text: &str) -> String {
    let mut out = text
        .replace("#SHUTOFFTIME", "2099-01-01T00:00:00Z")
        .replace("%%SHUTOFFTIME%%", "2099-01-01T00:00:00Z");
    while let Some(start) = out.find("%%") {
        let Some(len) = out[start + 2..].find("%%") else {
            break;
        };
        let name = out[start + 2..start + 2 + len].to_ascii_lowercase();
        out.replace_range(start..start + len + 4, &format!("test_{name}"));
    }
    out
}

fn load(path: &str) -> Result<Vec<config::FireDepartment>, SpecError> {
    let text = std::fs::read_to_string(shared(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    config::load_spec_str(&substitute(&text))
}

/// `path` is refused at `json_path` because rtnode does not run firehose type `kind`.
fn assert_firehose_refused(path: &str, kind: &str, json_path: &str) {
    match load(path) {
        Err(SpecError::Invalid(err)) => {
            assert_eq!(err.path, json_path, "{path}");
            assert!(
                err.message
                    .contains(&format!("firehose type `{kind}` is not supported")),
                "{path}: {err}"
            );
        }
        other => panic!("{path}: expected a firehose type error, got {other:?}"),
    }
}

#[test]
fn druid_07_plus_specs_validate() {
    let valid = [
        "specs/druid-0.8.3/wikipedia.spec",
        "specs/druid-0.8.3/docs-extracted/realtime-ingestion.block1.json",
        "specs/druid-0.9.2/docs-extracted/stream-pull.block1.json",
        "specs/druid-0.9.2/kafka_index_task.json",
        "specs/druid-0.9.2/wikipedia_realtime_index_task.json",
        "it/wikipedia_realtime_index_task.json",
        "it/wikipedia_union_index_task.json",
        "it/wikipedia_realtime_appenderator_index_task.json",
        "it/druid-0.9.2/kafka_index_task.json",
        "it/druid-0.9.2/wikipedia_realtime_index_task.json",
        "it/druid-0.9.2/wikipedia_union_index_task.json",
    ];
    for path in valid {
        let departments = load(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(departments.len(), 1, "{path}");
        let resolved = departments[0].to_resolved_json();
        assert_eq!(
            resolved["tuningConfig"]["windowPeriod"]
                .as_str()
                .map(|s| !s.is_empty()),
            Some(true),
            "{path}"
        );
        assert!(
            resolved["tuningConfig"]["maxRowsInMemory"]
                .as_u64()
                .unwrap()
                >= 1,
            "{path}"
        );
    }
}

#[test]
fn canonical_kafka_spec_resolves_with_druid_defaults() {
    let departments = load("specs/druid-0.9.2/docs-extracted/stream-pull.block1.json").unwrap();
    let resolved = departments[0].to_resolved_json();
    assert_eq!(resolved["dataSchema"]["dataSource"], "wikipedia");
    assert_eq!(
        resolved["dataSchema"]["granularitySpec"]["segmentGranularity"],
        "DAY"
    );
    assert_eq!(
        resolved["dataSchema"]["granularitySpec"]["queryGranularity"],
        "NONE"
    );
    assert_eq!(resolved["dataSchema"]["granularitySpec"]["rollup"], true);
    assert_eq!(resolved["ioConfig"]["firehose"]["type"], "kafka-0.8");
    assert_eq!(resolved["ioConfig"]["plumber"]["type"], "realtime");
    let tuning = &resolved["tuningConfig"];
    assert_eq!(tuning["maxRowsInMemory"], 75000);
    assert_eq!(tuning["intermediatePersistPeriod"], "PT10M");
    assert_eq!(tuning["rejectionPolicy"]["type"], "serverTime");
    assert_eq!(tuning["versioningPolicy"]["type"], "intervalStart");
    assert_eq!(tuning["maxPendingPersists"], 0);
    assert_eq!(tuning["shardSpec"]["type"], "none");
    assert_eq!(tuning["handoffConditionTimeout"], 900000);
    let exclusions =
        &resolved["dataSchema"]["parser"]["parseSpec"]["dimensionsSpec"]["dimensionExclusions"];
    for derived in ["count", "added", "deleted", "delta", "timestamp", "feed"] {
        assert!(
            exclusions.as_array().unwrap().iter().any(|e| e == derived),
            "{derived} not excluded: {exclusions}"
        );
    }
}

#[test]
fn firehoses_rtnode_does_not_run_are_refused_by_type() {
    for (path, kind, json_path) in [
        (
            "specs/druid-0.8.3/wikipedia_realtime.spec",
            "irc",
            "$[0].ioConfig.firehose.type",
        ),
        (
            "specs/druid-0.8.3/twitter_realtime.spec",
            "twitzer",
            "$[0].ioConfig.firehose.type",
        ),
        (
            "specs/druid-0.8.3/wikipedia_realtime_task.json",
            "irc",
            "$.spec.ioConfig.firehose.type",
        ),
    ] {
        assert_firehose_refused(path, kind, json_path);
    }
}

/// Pre-0.7 files whose firehose rtnode runs (Kafka 0.7, RabbitMQ), and their dataSources.
const PRE_07_RUNNABLE: &[(&str, &str)] = &[
    ("specs/druid-0.5.58/realtime.spec", "druidtest"),
    ("specs/druid-0.5.58/rabbitmq_realtime.spec", "rabbitmqtest"),
    ("specs/druid-0.6.174/rabbitmq_realtime.spec", "rabbitmqtest"),
    ("specs/druid-0.6.174/wikipedia.spec", "wikipedia"),
    (
        "specs/druid-0.6.174/docs-extracted/Realtime-ingestion.block1.json",
        "dataSourceName",
    ),
    (
        "specs/druid-0.6.174/wikipedia_kafka_realtime_task.json",
        "wikipedia",
    ),
];

#[test]
fn pre_07_specs_are_read_as_druid_06_read_them() {
    for (path, data_source) in PRE_07_RUNNABLE {
        let departments = load(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(departments.len(), 1, "{path}");
        let resolved = departments[0].to_resolved_json();
        assert_eq!(resolved["dataSchema"]["dataSource"], *data_source, "{path}");
        assert_eq!(
            resolved["dataSchema"]["granularitySpec"]["segmentGranularity"], "HOUR",
            "{path}"
        );
        assert_eq!(
            resolved["tuningConfig"]["maxRowsInMemory"], 500000,
            "{path}"
        );
        let firehose = resolved["ioConfig"]["firehose"]["type"].as_str().unwrap();
        assert!(matches!(firehose, "kafka-0.8" | "rabbitmq"), "{path}");
    }
}

#[test]
fn the_06_kafka_spec_resolves_field_by_field() {
    let departments = load("specs/druid-0.6.174/wikipedia.spec").unwrap();
    let resolved = departments[0].to_resolved_json();
    let schema = &resolved["dataSchema"];
    assert_eq!(schema["granularitySpec"]["queryGranularity"], "NONE");
    let dims = &schema["parser"]["parseSpec"]["dimensionsSpec"]["dimensions"];
    assert_eq!(dims.as_array().unwrap().len(), 12, "{dims}");
    assert_eq!(dims[0]["name"], "page");
    assert_eq!(
        schema["parser"]["parseSpec"]["timestampSpec"]["column"],
        "timestamp"
    );
    assert_eq!(schema["metricsSpec"][3]["fieldName"], "delta");
    let firehose = &resolved["ioConfig"]["firehose"];
    assert_eq!(firehose["feed"], "wikipedia");
    assert_eq!(firehose["consumerProps"]["group.id"], "druid-example");
    assert_eq!(
        firehose["consumerProps"]["zookeeper.connect"],
        "localhost:2181"
    );
    assert_eq!(firehose["consumerProps"]["auto.offset.reset"], "largest");
    let tuning = &resolved["tuningConfig"];
    assert_eq!(tuning["intermediatePersistPeriod"], "PT10M");
    assert_eq!(tuning["windowPeriod"], "PT10M");
    assert_eq!(tuning["rejectionPolicy"]["type"], "test");
    assert_eq!(tuning["basePersistDirectory"], "/tmp/realtime/basePersist");
}

#[test]
fn pre_07_firehoses_rtnode_does_not_run_are_refused_at_their_own_path() {
    for (path, kind, json_path) in [
        (
            "specs/druid-0.5.58/webstream_realtime.spec",
            "webstream",
            "$[0].firehose.type",
        ),
        (
            "specs/druid-0.6.174/rand_realtime.spec",
            "rand",
            "$[0].firehose.type",
        ),
        (
            "specs/druid-0.6.174/twitter_realtime.spec",
            "twitzer",
            "$[0].firehose.type",
        ),
        (
            "specs/druid-0.6.174/webstream_realtime.spec",
            "webstream",
            "$[0].firehose.type",
        ),
        (
            "specs/druid-0.6.174/wikipedia_realtime.spec",
            "irc",
            "$[0].firehose.type",
        ),
        (
            "specs/druid-0.6.174/wikipedia_realtime_task.json",
            "irc",
            "$.firehose.type",
        ),
    ] {
        assert_firehose_refused(path, kind, json_path);
    }
}

/// A mistake in a pre-0.7 spec is reported where it is in that file, not in the converted one.
#[test]
fn pre_07_mistakes_are_reported_at_their_legacy_paths() {
    let text =
        std::fs::read_to_string(shared("specs/druid-0.6.174/rabbitmq_realtime.spec")).unwrap();
    let base: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases: [(&str, serde_json::Value, &str); 6] = [
        (
            "/0/schema/aggregators/1/fieldName",
            serde_json::json!(7),
            "$[0].schema.aggregators[1].fieldName",
        ),
        (
            "/0/schema/dataSource",
            serde_json::json!("a/b"),
            "$[0].schema.dataSource",
        ),
        (
            "/0/schema/indexGranularity",
            serde_json::json!("fortnight"),
            "$[0].schema.indexGranularity",
        ),
        (
            "/0/plumber/windowPeriod",
            serde_json::json!("ten minutes"),
            "$[0].plumber.windowPeriod",
        ),
        (
            "/0/firehose/parser/timestampSpec/format",
            serde_json::json!(1),
            "$[0].firehose.parser.timestampSpec.format",
        ),
        (
            "/0/firehose/config/queue",
            serde_json::json!([1]),
            "$[0].firehose.config.queue",
        ),
    ];
    for (pointer, bad, expected) in cases {
        let mut spec = base.clone();
        *spec.pointer_mut(pointer).unwrap() = bad;
        match config::load_spec_str(&spec.to_string()) {
            Err(SpecError::Invalid(err)) => assert_eq!(err.path, expected, "{pointer}: {err}"),
            other => panic!("{pointer}: expected an error, got {other:?}"),
        }
    }
}
