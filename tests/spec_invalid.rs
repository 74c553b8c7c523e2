//! One invalid spec per validation rule: each is refused with the JSON path of the mistake.

use rtnode::config::{self, SpecError};
use serde_json::{Value, json};

fn base() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/specs/wikipedia-local.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Sets (or with `None` removes) the value at a JSON pointer.
fn set(spec: &mut Value, pointer: &str, value: Option<Value>) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = spec
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no parent {parent}"));
    match (parent, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(key.to_string(), v);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), Some(v)) => {
            let index: usize = key.parse().unwrap();
            if index == items.len() {
                items.push(v);
            } else {
                items[index] = v;
            }
        }
        (Value::Array(items), None) => {
            items.remove(key.parse::<usize>().unwrap());
        }
        _ => panic!("cannot set {pointer}"),
    }
}

fn refuse(spec: &Value) -> (String, String) {
    match config::load_spec_str(&spec.to_string()) {
        Err(SpecError::Invalid(err)) => (err.path, err.message),
        other => panic!("expected a path error, got {other:?}"),
    }
}

const DS: &str = "/0/dataSchema";
const DIMS: &str = "/0/dataSchema/parser/parseSpec/dimensionsSpec";
const TUNING: &str = "/0/tuningConfig";

#[test]
fn the_base_spec_is_valid() {
    config::load_spec_str(&base().to_string()).unwrap();
}

#[test]
fn create_bitmap_index_is_read_and_defaults_to_true() {
    let mut spec = base();
    set(
        &mut spec,
        &format!("{DIMS}/dimensions/1"),
        Some(json!({"type": "string", "name": "language", "createBitmapIndex": false})),
    );
    set(
        &mut spec,
        &format!("{DIMS}/dimensions/2"),
        Some(json!({"type": "string", "name": "user", "createBitmapIndex": true})),
    );
    let departments = config::load_spec_str(&spec.to_string()).unwrap();
    let dims = &departments[0]
        .parser()
        .parse_spec()
        .dimensions_spec
        .dimensions;
    let flags: Vec<(&str, bool)> = dims
        .iter()
        .take(4)
        .map(|d| (d.name.as_str(), d.create_bitmap_index))
        .collect();
    assert_eq!(flags[1], ("language", false));
    assert_eq!(flags[2], ("user", true));
    assert!(
        flags[0].1 && flags[3].1,
        "a plain name has bitmaps: {flags:?}"
    );
}

#[test]
fn each_rule_names_the_json_path() {
    type Case = (
        &'static str,
        Vec<(String, Option<Value>)>,
        &'static str,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "unknown key",
            vec![(format!("{TUNING}/maxRowsInMemroy"), Some(json!(5)))],
            "$[0].tuningConfig.maxRowsInMemroy",
            "unknown field `maxRowsInMemroy`",
        ),
        (
            "wrong type",
            vec![(format!("{TUNING}/maxRowsInMemory"), Some(json!("many")))],
            "$[0].tuningConfig.maxRowsInMemory",
            "invalid type: string \"many\"",
        ),
        (
            "missing field inside a metric",
            vec![(format!("{DS}/metricsSpec/2/fieldName"), None)],
            "$[0].dataSchema.metricsSpec[2]",
            "missing field `fieldName`",
        ),
        (
            "wrong type inside a metric",
            vec![(format!("{DS}/metricsSpec/2/fieldName"), Some(json!(7)))],
            "$[0].dataSchema.metricsSpec[2].fieldName",
            "invalid type: integer `7`",
        ),
        (
            "unknown aggregator",
            vec![(
                format!("{DS}/metricsSpec/1/type"),
                Some(json!("thetaSketch")),
            )],
            "$[0].dataSchema.metricsSpec[1].type",
            "`thetaSketch`",
        ),
        (
            "cardinality at ingest",
            vec![(
                format!("{DS}/metricsSpec/4"),
                Some(json!({"type":"cardinality","name":"c","fields":["user"]})),
            )],
            "$[0].dataSchema.metricsSpec[4].type",
            "query-time aggregator",
        ),
        (
            "filtered aggregator with a filter missing its dimension",
            vec![(
                format!("{DS}/metricsSpec/1"),
                Some(
                    json!({"type": "filtered", "filter": {"type": "selector", "value": "x"},
                    "aggregator": {"type": "longSum", "name": "s", "fieldName": "added"}}),
                ),
            )],
            "$[0].dataSchema.metricsSpec[1].filter",
            "dimension",
        ),
        (
            "duplicate metric name",
            vec![(format!("{DS}/metricsSpec/2/name"), Some(json!("added")))],
            "$[0].dataSchema.metricsSpec[2].name",
            "used twice",
        ),
        (
            "metric named like a dimension",
            vec![(format!("{DS}/metricsSpec/1/name"), Some(json!("page")))],
            "$[0].dataSchema.metricsSpec[1].name",
            "also a dimension",
        ),
        (
            "unsafe dataSource",
            vec![(format!("{DS}/dataSource"), Some(json!("../etc")))],
            "$[0].dataSchema.dataSource",
            "must not start with `.`",
        ),
        (
            "dataSource with a slash",
            vec![(format!("{DS}/dataSource"), Some(json!("a/b")))],
            "$[0].dataSchema.dataSource",
            "must not contain `/`",
        ),
        (
            "dataSource with a control character",
            vec![(format!("{DS}/dataSource"), Some(json!("a\nb")))],
            "$[0].dataSchema.dataSource",
            "control characters",
        ),
        (
            "dimension listed twice",
            vec![(format!("{DIMS}/dimensions/3"), Some(json!("page")))],
            "$[0].dataSchema.parser.parseSpec.dimensionsSpec.dimensions[3]",
            "listed twice",
        ),
        (
            "createBitmapIndex that is not a boolean",
            vec![(
                format!("{DIMS}/dimensions/1"),
                Some(json!({"type": "string", "name": "language", "createBitmapIndex": "no"})),
            )],
            "$[0].dataSchema.parser.parseSpec.dimensionsSpec.dimensions[1].createBitmapIndex",
            "invalid type: string \"no\", expected a boolean",
        ),
        (
            "unknown multiValueHandling",
            vec![(
                format!("{DIMS}/dimensions/1"),
                Some(json!({"type": "string", "name": "language", "multiValueHandling": "SORTED"})),
            )],
            "$[0].dataSchema.parser.parseSpec.dimensionsSpec.dimensions[1].multiValueHandling",
            "`SORTED` is not one of SORTED_ARRAY, SORTED_SET, ARRAY",
        ),
        (
            "exclusion that is a dimension",
            vec![(format!("{DIMS}/dimensionExclusions"), Some(json!(["user"])))],
            "$[0].dataSchema.parser.parseSpec.dimensionsSpec.dimensionExclusions[0]",
            "both a dimension and an exclusion",
        ),
        (
            "segment granularity ALL",
            vec![(
                format!("{DS}/granularitySpec/segmentGranularity"),
                Some(json!("all")),
            )],
            "$[0].dataSchema.granularitySpec.segmentGranularity",
            "cannot bucket segments",
        ),
        (
            "query coarser than segment",
            vec![(
                format!("{DS}/granularitySpec/queryGranularity"),
                Some(json!("MONTH")),
            )],
            "$[0].dataSchema.granularitySpec.queryGranularity",
            "coarser than segmentGranularity",
        ),
        (
            "unknown granularity",
            vec![(
                format!("{DS}/granularitySpec/segmentGranularity"),
                Some(json!("FORTNIGHT")),
            )],
            "$[0].dataSchema.granularitySpec.segmentGranularity",
            "unknown granularity `FORTNIGHT`",
        ),
        (
            "zero maxRowsInMemory",
            vec![(format!("{TUNING}/maxRowsInMemory"), Some(json!(0)))],
            "$[0].tuningConfig.maxRowsInMemory",
            "at least 1",
        ),
        (
            "bad period",
            vec![(format!("{TUNING}/windowPeriod"), Some(json!("10 minutes")))],
            "$[0].tuningConfig.windowPeriod",
            "invalid ISO-8601 period",
        ),
        (
            "calendar flushDuration",
            vec![(
                "/0/ioConfig/plumber".to_string(),
                Some(json!({"type": "flushing", "flushDuration": "P1M"})),
            )],
            "$[0].ioConfig.plumber.flushDuration",
            "fixed length",
        ),
        (
            "unknown plumber",
            vec![(
                "/0/ioConfig/plumber".to_string(),
                Some(json!({"type": "appenderator"})),
            )],
            "$[0].ioConfig.plumber.type",
            "flushing",
        ),
        (
            "calendar period",
            vec![(
                format!("{TUNING}/intermediatePersistPeriod"),
                Some(json!("P1M")),
            )],
            "$[0].tuningConfig.intermediatePersistPeriod",
            "fixed length",
        ),
        (
            "bad timestamp format",
            vec![(
                format!("{DS}/parser/parseSpec/timestampSpec/format"),
                Some(json!("yyyy-qq")),
            )],
            "$[0].dataSchema.parser.parseSpec.timestampSpec.format",
            "unsupported pattern letter `q`",
        ),
        (
            "csv without columns",
            vec![(format!("{DS}/parser/parseSpec/format"), Some(json!("csv")))],
            "$[0].dataSchema.parser.parseSpec.columns",
            "need `columns`",
        ),
        (
            "csv dimension that is not a column",
            vec![
                (format!("{DS}/parser/parseSpec/format"), Some(json!("csv"))),
                (
                    format!("{DS}/parser/parseSpec/columns"),
                    Some(json!(["timestamp", "page", "user"])),
                ),
            ],
            "$[0].dataSchema.parser.parseSpec.dimensionsSpec.dimensions[2]",
            "`language` is not one of `columns`",
        ),
        (
            "regex without pattern",
            vec![(
                format!("{DS}/parser/parseSpec/format"),
                Some(json!("regex")),
            )],
            "$[0].dataSchema.parser.parseSpec.pattern",
            "format `regex` needs `pattern`",
        ),
        (
            "regex pattern with look-behind",
            vec![
                (
                    format!("{DS}/parser/parseSpec/format"),
                    Some(json!("regex")),
                ),
                (
                    format!("{DS}/parser/parseSpec/pattern"),
                    Some(json!("(?<=x)(\\S+)")),
                ),
            ],
            "$[0].dataSchema.parser.parseSpec.pattern",
            "look-around",
        ),
        (
            "pattern on json",
            vec![(
                format!("{DS}/parser/parseSpec/pattern"),
                Some(json!("(.*)")),
            )],
            "$[0].dataSchema.parser.parseSpec.pattern",
            "does not apply to format `json`",
        ),
        (
            "flattenSpec on csv",
            vec![
                (format!("{DS}/parser/parseSpec/format"), Some(json!("csv"))),
                (
                    format!("{DS}/parser/parseSpec/flattenSpec"),
                    Some(json!({"fields": []})),
                ),
            ],
            "$[0].dataSchema.parser.parseSpec.flattenSpec",
            "does not apply to format `csv`",
        ),
        (
            "bad JSONPath",
            vec![(
                format!("{DS}/parser/parseSpec/flattenSpec"),
                Some(json!({"fields": [{"type":"path","name":"x","expr":"a.b"}]})),
            )],
            "$[0].dataSchema.parser.parseSpec.flattenSpec.fields[0].expr",
            "must start with `$`",
        ),
        (
            "unknown parse format",
            vec![(
                format!("{DS}/parser/parseSpec/format"),
                Some(json!("javascript")),
            )],
            "$[0].dataSchema.parser.parseSpec.format",
            "unknown or unsupported parseSpec format `javascript`",
        ),
        (
            "unknown parser type",
            vec![(format!("{DS}/parser/type"), Some(json!("avro")))],
            "$[0].dataSchema.parser.type",
            "parser type `avro`",
        ),
        (
            "non UTF-8 encoding",
            vec![(format!("{DS}/parser/encoding"), Some(json!("ISO-8859-1")))],
            "$[0].dataSchema.parser.encoding",
            "only UTF-8",
        ),
        (
            "unsupported firehose",
            vec![(
                "/0/ioConfig/firehose".to_string(),
                Some(json!({"type":"irc","host":"irc.example"})),
            )],
            "$[0].ioConfig.firehose.type",
            "firehose type `irc` is not supported",
        ),
        (
            "missing local baseDir",
            vec![("/0/ioConfig/firehose/baseDir".to_string(), None)],
            "$[0].ioConfig.firehose",
            "missing field `baseDir`",
        ),
        (
            "bad shutoffTime",
            vec![(
                "/0/ioConfig/firehose".to_string(),
                Some(
                    json!({"type":"timed","shutoffTime":"soon","delegate":{"type":"local","baseDir":"data","filter":"*"}}),
                ),
            )],
            "$[0].ioConfig.firehose.shutoffTime",
            "invalid ISO-8601 time",
        ),
        (
            "nested firehose mistake",
            vec![(
                "/0/ioConfig/firehose".to_string(),
                Some(
                    json!({"type":"timed","shutoffTime":"2030-01-01","delegate":{"type":"kafka","topic":"t","consumerProperties":{"a":[1]}}}),
                ),
            )],
            "$[0].ioConfig.firehose.delegate.consumerProperties.a",
            "expected a string value",
        ),
        (
            "kafka endOffsets without a static assignment",
            vec![(
                "/0/ioConfig/firehose".to_string(),
                Some(
                    json!({"type":"kafka","topic":"t","endOffsets":"latest","consumerProperties":{"bootstrap.servers":"b:9092","group.id":"g"}}),
                ),
            )],
            "$[0].ioConfig.firehose.endOffsets",
            "endOffsets needs `partitions`",
        ),
        (
            "unknown kafka endOffsets",
            vec![(
                "/0/ioConfig/firehose".to_string(),
                Some(
                    json!({"type":"kafka","topic":"t","partitions":1,"endOffsets":"earliest","consumerProperties":{"bootstrap.servers":"b:9092"}}),
                ),
            )],
            "$[0].ioConfig.firehose.endOffsets",
            "unknown variant `earliest`",
        ),
        (
            "numbered shard out of range",
            vec![(
                format!("{TUNING}/shardSpec"),
                Some(json!({"type":"numbered","partitionNum":3,"partitions":3})),
            )],
            "$[0].tuningConfig.shardSpec.partitionNum",
            "below partitions 3",
        ),
        (
            "unknown rejection policy",
            vec![(
                format!("{TUNING}/rejectionPolicy"),
                Some(json!({"type":"sometimes"})),
            )],
            "$[0].tuningConfig.rejectionPolicy.type",
            "unknown variant `sometimes`",
        ),
        (
            "unknown compression",
            vec![(
                format!("{TUNING}/indexSpec"),
                Some(json!({"metricCompression":"zstd"})),
            )],
            "$[0].tuningConfig.indexSpec.metricCompression",
            "unknown compression `zstd`",
        ),
        (
            "dimension compression none",
            vec![(
                format!("{TUNING}/indexSpec"),
                Some(json!({"dimensionCompression":"NONE"})),
            )],
            "$[0].tuningConfig.indexSpec.dimensionCompression",
            "refused by Druid",
        ),
        (
            "lzf is not written",
            vec![(
                format!("{TUNING}/indexSpecForIntermediatePersists"),
                Some(json!({"metricCompression":"lzf"})),
            )],
            "$[0].tuningConfig.indexSpecForIntermediatePersists.metricCompression",
            "`lzf` is not written",
        ),
        (
            "unknown long encoding of hydrants",
            vec![(
                format!("{TUNING}/indexSpecForIntermediatePersists"),
                Some(json!({"longEncoding":"delta"})),
            )],
            "$[0].tuningConfig.indexSpecForIntermediatePersists.longEncoding",
            "unknown longEncoding `delta`",
        ),
        (
            "duplicate fire department",
            vec![("/1".to_string(), Some(base()[0].clone()))],
            "$[1].dataSchema.dataSource",
            "appears twice",
        ),
        (
            "granularitySpec type arbitrary",
            vec![(
                format!("{DS}/granularitySpec/type"),
                Some(json!("arbitrary")),
            )],
            "$[0].dataSchema.granularitySpec.type",
            "not supported for realtime",
        ),
        (
            "transform expression that does not parse",
            vec![(
                format!("{DS}/transformSpec"),
                Some(json!({"transforms": [
                    {"type": "expression", "name": "a", "expression": "upper(page)"},
                    {"type": "expression", "name": "b", "expression": "added * "}]})),
            )],
            "$[0].dataSchema.transformSpec.transforms[1].expression",
            "unexpected end of expression (at character 8 of `added * `)",
        ),
        (
            "transform calling an unknown function",
            vec![(
                format!("{DS}/transformSpec"),
                Some(
                    json!({"transforms": [{"type": "expression", "name": "a", "expression": "uppr(page)"}]}),
                ),
            )],
            "$[0].dataSchema.transformSpec.transforms[0].expression",
            "unknown function `uppr`",
        ),
        (
            "transform of another type",
            vec![(
                format!("{DS}/transformSpec"),
                Some(
                    json!({"transforms": [{"type": "javascript", "name": "a", "expression": "1"}]}),
                ),
            )],
            "$[0].dataSchema.transformSpec.transforms[0].type",
            "unknown transform type `javascript`",
        ),
        (
            "two transforms of one name",
            vec![(
                format!("{DS}/transformSpec"),
                Some(json!({"transforms": [
                    {"type": "expression", "name": "a", "expression": "1"},
                    {"type": "expression", "name": "a", "expression": "2"}]})),
            )],
            "$[0].dataSchema.transformSpec.transforms[1].name",
            "transform name `a` is used twice",
        ),
        (
            "transform without an expression",
            vec![(
                format!("{DS}/transformSpec"),
                Some(json!({"transforms": [{"type": "expression", "name": "a"}]})),
            )],
            "$[0].dataSchema.transformSpec.transforms[0]",
            "missing field `expression`",
        ),
    ];
    assert!(cases.len() >= 15);
    for (what, edits, path, message) in cases {
        let mut spec = base();
        for (pointer, value) in edits {
            set(&mut spec, &pointer, value);
        }
        let (got_path, got_message) = refuse(&spec);
        assert_eq!(got_path, path, "{what}: {got_message}");
        assert!(
            got_message.contains(message),
            "{what}: `{got_message}` lacks `{message}`"
        );
    }
}

#[test]
fn shapes_other_than_fire_departments_are_refused() {
    assert!(matches!(config::load_spec_str("[]"), Err(SpecError::Invalid(e)) if e.path == "$"));
    assert!(matches!(
        config::load_spec_str("{not json"),
        Err(SpecError::Json(_))
    ));
    assert!(
        matches!(config::load_spec_str("42"), Err(SpecError::Invalid(e)) if e.message.contains("expected an array"))
    );
    let task = json!({"type": "index", "spec": {}});
    assert!(
        matches!(config::load_spec_str(&task.to_string()), Err(SpecError::Invalid(e)) if e.path == "$.type")
    );
    let single = base()[0].clone();
    assert_eq!(config::load_spec_str(&single.to_string()).unwrap().len(), 1);
}
