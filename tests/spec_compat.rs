//! Druid's own realtime specs, read from ../shared/druid: 0.7+ specs validate, firehoses rtnode
//! does not run are refused by type, pre-0.7 specs get the legacy-format error.

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
}

#[test]
fn pre_07_specs_get_the_legacy_error() {
    let legacy = [
        "specs/druid-0.5.58/realtime.spec",
        "specs/druid-0.5.58/rabbitmq_realtime.spec",
        "specs/druid-0.5.58/webstream_realtime.spec",
        "specs/druid-0.6.174/rabbitmq_realtime.spec",
        "specs/druid-0.6.174/rand_realtime.spec",
        "specs/druid-0.6.174/twitter_realtime.spec",
        "specs/druid-0.6.174/webstream_realtime.spec",
        "specs/druid-0.6.174/wikipedia.spec",
        "specs/druid-0.6.174/wikipedia_realtime.spec",
        "specs/druid-0.6.174/docs-extracted/Realtime-ingestion.block1.json",
        "specs/druid-0.6.174/wikipedia_realtime_task.json",
        "specs/druid-0.6.174/wikipedia_kafka_realtime_task.json",
    ];
    for path in legacy {
        match load(path) {
            Err(SpecError::Invalid(err)) => {
                assert!(err.message.contains("pre-0.7 Druid spec"), "{path}: {err}")
            }
            other => panic!("{path}: expected the legacy error, got {other:?}"),
        }
    }
}
