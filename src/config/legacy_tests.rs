use serde_json::{Value, json};

use super::*;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn rabbit_06() -> Value {
    json!({
        "schema": {"dataSource": "rabbitmqtest",
            "aggregators": [{"type": "count", "name": "impressions"},
                            {"type": "doubleSum", "name": "wp", "fieldName": "wp"}],
            "indexGranularity": "minute", "shardSpec": {"type": "none"}},
        "config": {"maxRowsInMemory": 500000, "intermediatePersistPeriod": "PT1m"},
        "firehose": {"type": "rabbitmq",
            "connection": {"host": "localhost", "virtualHost": "test-vhost"},
            "config": {"exchange": "test-exchange", "queue": "druidtest", "routingKey": "#"},
            "parser": {"timestampSpec": {"column": "utcdt", "format": "iso"},
                       "data": {"format": "json"}, "dimensionExclusions": ["wp"]}},
        "plumber": {"type": "realtime", "windowPeriod": "PT5m", "segmentGranularity": "hour",
            "basePersistDirectory": "/tmp/realtime/basePersist",
            "rejectionPolicy": {"type": "test"}}
    })
}

#[test]
fn a_06_department_becomes_the_07_shape() {
    let (value, _) = convert("$[0]", object(rabbit_06())).unwrap();
    let expected = json!({
        "dataSchema": {
            "dataSource": "rabbitmqtest",
            "parser": {"type": "string", "parseSpec": {"format": "json",
                "timestampSpec": {"column": "utcdt", "format": "iso"},
                "dimensionsSpec": {"dimensionExclusions": ["wp"]}}},
            "metricsSpec": [{"type": "count", "name": "impressions"},
                            {"type": "doubleSum", "name": "wp", "fieldName": "wp"}],
            "granularitySpec": {"type": "uniform", "segmentGranularity": "hour",
                                "queryGranularity": "minute"}},
        "ioConfig": {"type": "realtime",
            "firehose": {"type": "rabbitmq",
                "connection": {"host": "localhost", "virtualHost": "test-vhost"},
                "config": {"exchange": "test-exchange", "queue": "druidtest", "routingKey": "#"}},
            "plumber": {"type": "realtime"}},
        "tuningConfig": {"type": "realtime", "maxRowsInMemory": 500000,
            "intermediatePersistPeriod": "PT1m", "windowPeriod": "PT5m",
            "basePersistDirectory": "/tmp/realtime/basePersist",
            "rejectionPolicy": {"type": "test"}, "shardSpec": {"type": "none"}}
    });
    assert_eq!(value, expected);
}

#[test]
fn delimited_data_keeps_columns_and_defaults_to_tsv() {
    let mut spec = rabbit_06();
    spec["firehose"]["parser"] = json!({
        "timestampSpec": {"column": "ts"},
        "data": {"columns": ["ts", "page", "n"], "dimensions": ["page"], "delimiter": "|",
                 "listDelimiter": ";"}});
    let (value, _) = convert("$[0]", object(spec)).unwrap();
    assert_eq!(
        value["dataSchema"]["parser"]["parseSpec"],
        json!({"format": "tsv", "timestampSpec": {"column": "ts"},
               "dimensionsSpec": {"dimensions": ["page"]},
               "columns": ["ts", "page", "n"], "delimiter": "|", "listDelimiter": ";"})
    );
}

#[test]
fn kafka_07_properties_take_their_08_names() {
    let mut spec = rabbit_06();
    spec["firehose"] = json!({"type": "kafka-0.7.2", "feed": "wikipedia",
        "consumerProps": {"zk.connect": "zk:2181", "groupid": "g", "autooffset.reset": "largest",
                          "bootstrap.servers": "b:9092"},
        "parser": {"timestampSpec": {"column": "timestamp"}, "data": {"format": "json"}}});
    let (value, _) = convert("$[0]", object(spec)).unwrap();
    assert_eq!(
        value["ioConfig"]["firehose"],
        json!({"type": "kafka-0.8", "feed": "wikipedia", "consumerProps": {
            "zookeeper.connect": "zk:2181", "group.id": "g", "auto.offset.reset": "largest",
            "bootstrap.servers": "b:9092"}})
    );
}

#[test]
fn a_06_task_takes_the_plumber_keys_from_its_top_level() {
    let spec = json!({"type": "index_realtime", "id": "t1",
        "schema": {"dataSource": "w", "aggregators": [], "indexGranularity": "none"},
        "fireDepartmentConfig": {"maxRowsInMemory": 1000},
        "firehose": {"type": "local", "baseDir": "/data",
            "parser": {"timestampSpec": {"column": "ts"}, "data": {"format": "json"}}},
        "windowPeriod": "PT10m", "segmentGranularity": "hour",
        "rejectionPolicyFactory": {"type": "messageTime"}});
    let (value, paths) = convert("$", object(spec)).unwrap();
    assert_eq!(value["ioConfig"]["plumber"], json!({"type": "realtime"}));
    assert_eq!(value["tuningConfig"]["windowPeriod"], "PT10m");
    assert_eq!(value["tuningConfig"]["maxRowsInMemory"], 1000);
    assert_eq!(
        value["tuningConfig"]["rejectionPolicy"]["type"],
        "messageTime"
    );
    assert_eq!(
        value["dataSchema"]["granularitySpec"]["segmentGranularity"],
        "hour"
    );
    let at = |path: &str| paths.restore(SpecPathError::new(path, "x")).path;
    assert_eq!(
        at("$.tuningConfig.rejectionPolicy.type"),
        "$.rejectionPolicyFactory.type"
    );
    assert_eq!(
        at("$.tuningConfig.maxRowsInMemory"),
        "$.fireDepartmentConfig.maxRowsInMemory"
    );
    assert_eq!(
        at("$.dataSchema.granularitySpec.segmentGranularity"),
        "$.segmentGranularity"
    );
    assert_eq!(at("$.ioConfig.plumber.type"), "$.type");
}

#[test]
fn converted_paths_lead_back_to_the_legacy_file() {
    let (_, paths) = convert("$[1]", object(rabbit_06())).unwrap();
    let at = |path: &str| paths.restore(SpecPathError::new(path, "x")).path;
    for (converted, legacy) in [
        ("$[1].dataSchema.dataSource", "$[1].schema.dataSource"),
        (
            "$[1].dataSchema.metricsSpec[1].fieldName",
            "$[1].schema.aggregators[1].fieldName",
        ),
        (
            "$[1].dataSchema.granularitySpec.queryGranularity",
            "$[1].schema.indexGranularity",
        ),
        (
            "$[1].dataSchema.granularitySpec.segmentGranularity",
            "$[1].plumber.segmentGranularity",
        ),
        (
            "$[1].dataSchema.parser.parseSpec.format",
            "$[1].firehose.parser.data.format",
        ),
        (
            "$[1].dataSchema.parser.parseSpec.timestampSpec.format",
            "$[1].firehose.parser.timestampSpec.format",
        ),
        (
            "$[1].dataSchema.parser.parseSpec.dimensionsSpec.dimensions[0]",
            "$[1].firehose.parser.data.dimensions[0]",
        ),
        (
            "$[1].dataSchema.parser.parseSpec.dimensionsSpec.dimensionExclusions",
            "$[1].firehose.parser.dimensionExclusions",
        ),
        (
            "$[1].ioConfig.firehose.config.queue",
            "$[1].firehose.config.queue",
        ),
        ("$[1].ioConfig.plumber.type", "$[1].plumber.type"),
        (
            "$[1].tuningConfig.windowPeriod",
            "$[1].plumber.windowPeriod",
        ),
        (
            "$[1].tuningConfig.rejectionPolicy.type",
            "$[1].plumber.rejectionPolicy.type",
        ),
        (
            "$[1].tuningConfig.intermediatePersistPeriod",
            "$[1].config.intermediatePersistPeriod",
        ),
        (
            "$[1].tuningConfig.shardSpec.partitionNum",
            "$[1].schema.shardSpec.partitionNum",
        ),
        // Another department's paths, and prefixes that are not whole segments, stay as they are.
        ("$[10].dataSchema.dataSource", "$[10].dataSchema.dataSource"),
        ("$[0].tuningConfig", "$[0].tuningConfig"),
    ] {
        assert_eq!(at(converted), legacy, "{converted}");
    }
}

#[test]
fn legacy_mistakes_are_refused_at_their_paths() {
    let cases = [
        (
            json!({"schema": {"dataSource": "x", "rollup": true}}),
            "$[0].schema.rollup",
        ),
        (
            json!({"plumber": {"mergeThreadPriority": 1}}),
            "$[0].plumber.mergeThreadPriority",
        ),
        (
            json!({"config": {"maxBytesInMemory": 5}}),
            "$[0].config.maxBytesInMemory",
        ),
        (
            json!({"firehose": {"type": "local", "baseDir": "/d"}}),
            "$[0].firehose",
        ),
        (
            json!({"firehose": {"type": "irc", "parser": {}}}),
            "$[0].firehose.type",
        ),
        (
            json!({"firehose": {"type": "local", "baseDir": "/d",
            "parser": {"timestampSpec": {"column": "t"}}}}),
            "$[0].firehose.parser",
        ),
        (
            json!({"firehose": {"type": "local", "baseDir": "/d",
            "parser": {"data": {"format": "json", "flatten": 1}}}}),
            "$[0].firehose.parser.data.flatten",
        ),
        (json!({"schema": 3}), "$[0].schema"),
    ];
    for (patch, path) in cases {
        let mut spec = rabbit_06();
        for (key, value) in object(patch) {
            match (spec.get_mut(&key), value) {
                (Some(Value::Object(target)), Value::Object(fields)) if key != "firehose" => {
                    target.extend(fields)
                }
                (_, value) => spec[key] = value,
            }
        }
        let err = convert("$[0]", object(spec)).unwrap_err();
        assert_eq!(err.path, path, "{err}");
    }
}

#[test]
fn a_flushing_plumber_keeps_its_type_and_flush_duration() {
    let mut spec = rabbit_06();
    spec["plumber"]["type"] = json!("flushing");
    spec["plumber"]["flushDuration"] = json!("PT10m");
    let (value, _) = convert("$[0]", object(spec)).unwrap();
    assert_eq!(
        value["ioConfig"]["plumber"],
        json!({"type": "flushing", "flushDuration": "PT10m"})
    );
    assert_eq!(value["tuningConfig"]["windowPeriod"], "PT5m");
}
