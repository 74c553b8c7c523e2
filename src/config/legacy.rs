//! Pre-0.7 specs (Druid 0.5 and 0.6), read as Druid 0.6 read them.
//!
//! Before 0.7 a fire department was `schema` (dataSource, aggregators, indexGranularity,
//! shardSpec), `config` (maxRowsInMemory, intermediatePersistPeriod), `firehose` (which carried
//! the parser: `timestampSpec`, `data` with the format and dimensions, `dimensionExclusions`) and
//! `plumber` (windowPeriod, segmentGranularity, basePersistDirectory, rejectionPolicy, …). The
//! 0.6 `index_realtime` task had `fireDepartmentConfig` and the plumber's keys at its top level.
//! Druid 0.6's `FireDepartment` converted that shape into `dataSchema` / `ioConfig` /
//! `tuningConfig`; [`convert`] does the same conversion on the JSON, so the rest of the loader
//! sees one shape. [`LegacyPaths`] maps the converted value's JSON paths back to where the values
//! were in the operator's file, so a mistake is still reported where it is
//! (`$[0].schema.aggregators[1].fieldName`, `$[0].firehose.parser.data.format`).
//!
//! The legacy `kafka-0.7.2` firehose becomes `kafka-0.8` with its properties renamed to the 0.8
//! names (`zk.connect` → `zookeeper.connect`, `groupid` → `group.id`, …): it then needs
//! `bootstrap.servers`, as `kafka-0.8` does.

use serde_json::{Map, Value, json};

use super::de::SpecPathError;

/// Keys of a legacy fire department.
const DEPARTMENT_KEYS: &[&str] = &["schema", "config", "firehose", "plumber"];
/// Keys of a 0.6 `index_realtime` task (the plumber's keys sit at its top level).
#[rustfmt::skip]
const TASK_KEYS: &[&str] = &[
    "type", "id", "resource", "availabilityGroup", "requiredCapacity", "schema",
    "fireDepartmentConfig", "firehose", "windowPeriod", "segmentGranularity",
    "maxPendingPersists", "rejectionPolicy", "rejectionPolicyFactory", "versioningPolicy",
];
#[rustfmt::skip]
const SCHEMA_KEYS: &[&str] = &[
    "dataSource", "aggregators", "indexGranularity", "shardSpec", "spatialDimensions",
];
const CONFIG_KEYS: &[&str] = &["maxRowsInMemory", "intermediatePersistPeriod"];
#[rustfmt::skip]
const PLUMBER_KEYS: &[&str] = &[
    "type", "windowPeriod", "basePersistDirectory", "versioningPolicy", "maxPendingPersists",
    "segmentGranularity", "rejectionPolicy", "rejectionPolicyFactory", "flushDuration",
];
/// Plumber keys that keep their name in `tuningConfig`.
#[rustfmt::skip]
const PLUMBER_TUNING_KEYS: &[&str] = &[
    "windowPeriod", "basePersistDirectory", "versioningPolicy", "maxPendingPersists",
];
#[rustfmt::skip]
const PARSER_KEYS: &[&str] = &[
    "type", "timestampSpec", "data", "dimensionExclusions", "parseSpec", "encoding",
];
#[rustfmt::skip]
const DATA_KEYS: &[&str] = &[
    "format", "dimensions", "spatialDimensions", "columns", "delimiter", "listDelimiter",
];
/// Kafka 0.7 consumer property names and their Kafka 0.8 names.
const KAFKA07_RENAMES: &[(&str, &str)] = &[
    ("zk.connect", "zookeeper.connect"),
    ("zk.connectiontimeout.ms", "zookeeper.connection.timeout.ms"),
    ("zk.sessiontimeout.ms", "zookeeper.session.timeout.ms"),
    ("zk.synctime.ms", "zookeeper.sync.time.ms"),
    ("groupid", "group.id"),
    ("fetch.size", "fetch.message.max.bytes"),
    ("autooffset.reset", "auto.offset.reset"),
    ("autocommit.enable", "auto.commit.enable"),
    ("autocommit.interval.ms", "auto.commit.interval.ms"),
];

/// Where the converted spec's values came from: pairs of (converted path suffix, legacy path
/// suffix) under the department's root. The default maps nothing.
#[derive(Debug, Clone, Default)]
pub(super) struct LegacyPaths {
    root: String,
    pairs: Vec<(String, String)>,
}

impl LegacyPaths {
    fn map(&mut self, converted: &str, legacy: impl Into<String>) {
        self.pairs.push((converted.to_string(), legacy.into()));
    }

    /// Rewrites an error's path into the legacy file's terms (the longest known prefix wins);
    /// an error outside this department is returned unchanged.
    pub(super) fn restore(&self, mut err: SpecPathError) -> SpecPathError {
        let Some(rest) = err.path.strip_prefix(self.root.as_str()) else {
            return err;
        };
        let at_boundary = |tail: &str| tail.is_empty() || tail.starts_with(['.', '[']);
        let best = self
            .pairs
            .iter()
            .filter(|(new, _)| rest.strip_prefix(new.as_str()).is_some_and(at_boundary))
            .max_by_key(|(new, _)| new.len());
        if let Some((new, old)) = best {
            err.path = format!("{}{}{}", self.root, old, &rest[new.len()..]);
        }
        err
    }
}

/// The parts of a legacy department, taken apart.
struct Parts {
    schema: Map<String, Value>,
    config: Map<String, Value>,
    /// `.config` or `.fireDepartmentConfig`.
    config_path: String,
    firehose: Map<String, Value>,
    plumber: Map<String, Value>,
    /// `.plumber`, or empty for a task (the plumber's keys are the task's own).
    plumber_path: String,
}

/// Converts the legacy department `map` found at `root` into `{dataSchema, ioConfig,
/// tuningConfig}`, and says where each part came from.
pub(super) fn convert(
    root: &str,
    map: Map<String, Value>,
) -> Result<(Value, LegacyPaths), SpecPathError> {
    let mut parts = split(root, map)?;
    rename_kafka07(&mut parts.firehose);
    super::validate::check_firehose_types(
        &format!("{root}.firehose"),
        &Value::Object(parts.firehose.clone()),
    )?;
    let Some((parser, parser_path)) = take_parser(&mut parts.firehose, ".firehose".into()) else {
        return Err(SpecPathError::new(
            format!("{root}.firehose"),
            "missing field `parser` (in a pre-0.7 spec the firehose carries the parser)",
        ));
    };
    let mut paths = LegacyPaths {
        root: root.to_string(),
        pairs: Vec::new(),
    };
    let parser = convert_parser(root, parser, &parser_path, &parts.schema, &mut paths)?;
    let data_schema = data_schema(&parts, parser, &mut paths);
    let tuning_config = tuning_config(&parts, &mut paths);
    let mut plumber = Map::new();
    plumber.insert("type".into(), "realtime".into());
    copy(&parts.plumber, "type", &mut plumber, "type");
    copy(
        &parts.plumber,
        "flushDuration",
        &mut plumber,
        "flushDuration",
    );
    paths.map(".ioConfig.firehose", ".firehose");
    paths.map(".ioConfig.plumber", parts.plumber_path.clone());
    paths.map(".ioConfig", "");
    let value = json!({
        "dataSchema": data_schema,
        "ioConfig": {
            "type": "realtime",
            "firehose": Value::Object(parts.firehose),
            "plumber": Value::Object(plumber),
        },
        "tuningConfig": tuning_config,
    });
    tracing::info!(
        root,
        "read a pre-0.7 spec as Druid 0.6 did (`rtnode validate` prints it in the 0.7+ format)"
    );
    Ok((value, paths))
}

fn split(root: &str, mut map: Map<String, Value>) -> Result<Parts, SpecPathError> {
    map.retain(|_, v| !v.is_null());
    let is_task = map.contains_key("type");
    check_keys(
        root,
        &map,
        if is_task { TASK_KEYS } else { DEPARTMENT_KEYS },
    )?;
    let config_key = if is_task {
        "fireDepartmentConfig"
    } else {
        "config"
    };
    let schema = take_object(root, &mut map, "schema", true)?;
    let config = take_object(root, &mut map, config_key, false)?;
    let firehose = take_object(root, &mut map, "firehose", true)?;
    let (plumber, plumber_path) = if is_task {
        for key in [
            "type",
            "id",
            "resource",
            "availabilityGroup",
            "requiredCapacity",
        ] {
            map.remove(key);
        }
        (map, String::new())
    } else {
        let plumber = take_object(root, &mut map, "plumber", false)?;
        check_keys(&format!("{root}.plumber"), &plumber, PLUMBER_KEYS)?;
        (plumber, ".plumber".to_string())
    };
    check_keys(&format!("{root}.schema"), &schema, SCHEMA_KEYS)?;
    check_keys(&format!("{root}.{config_key}"), &config, CONFIG_KEYS)?;
    Ok(Parts {
        schema,
        config,
        config_path: format!(".{config_key}"),
        firehose,
        plumber,
        plumber_path,
    })
}

fn data_schema(parts: &Parts, parser: Value, paths: &mut LegacyPaths) -> Value {
    let mut out = Map::new();
    copy(&parts.schema, "dataSource", &mut out, "dataSource");
    out.insert("parser".into(), parser);
    copy(&parts.schema, "aggregators", &mut out, "metricsSpec");
    let mut granularity = Map::new();
    granularity.insert("type".into(), "uniform".into());
    copy(
        &parts.plumber,
        "segmentGranularity",
        &mut granularity,
        "segmentGranularity",
    );
    copy(
        &parts.schema,
        "indexGranularity",
        &mut granularity,
        "queryGranularity",
    );
    out.insert("granularitySpec".into(), Value::Object(granularity));
    paths.map(".dataSchema", ".schema");
    paths.map(".dataSchema.metricsSpec", ".schema.aggregators");
    paths.map(".dataSchema.granularitySpec", ".schema");
    paths.map(
        ".dataSchema.granularitySpec.queryGranularity",
        ".schema.indexGranularity",
    );
    paths.map(
        ".dataSchema.granularitySpec.segmentGranularity",
        format!("{}.segmentGranularity", parts.plumber_path),
    );
    Value::Object(out)
}

fn tuning_config(parts: &Parts, paths: &mut LegacyPaths) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), "realtime".into());
    paths.map(".tuningConfig", parts.config_path.clone());
    for key in CONFIG_KEYS {
        copy(&parts.config, key, &mut out, key);
    }
    for key in PLUMBER_TUNING_KEYS {
        copy(&parts.plumber, key, &mut out, key);
        paths.map(
            &format!(".tuningConfig.{key}"),
            format!("{}.{key}", parts.plumber_path),
        );
    }
    for key in ["rejectionPolicy", "rejectionPolicyFactory"] {
        if copy(&parts.plumber, key, &mut out, "rejectionPolicy") {
            paths.map(
                ".tuningConfig.rejectionPolicy",
                format!("{}.{key}", parts.plumber_path),
            );
        }
    }
    copy(&parts.schema, "shardSpec", &mut out, "shardSpec");
    paths.map(".tuningConfig.shardSpec", ".schema.shardSpec");
    Value::Object(out)
}

/// The legacy parser (`timestampSpec`, `data`, `dimensionExclusions`) as a 0.7+ `string` parser.
fn convert_parser(
    root: &str,
    parser: Value,
    parser_path: &str,
    schema: &Map<String, Value>,
    paths: &mut LegacyPaths,
) -> Result<Value, SpecPathError> {
    paths.map(".dataSchema.parser", parser_path);
    let Value::Object(mut parser) = parser else {
        return Err(not_object(&format!("{root}{parser_path}"), &parser));
    };
    parser.retain(|_, v| !v.is_null());
    check_keys(&format!("{root}{parser_path}"), &parser, PARSER_KEYS)?;
    if parser.contains_key("parseSpec") {
        return Ok(Value::Object(parser));
    }
    let data_path = format!("{parser_path}.data");
    let mut data = match parser.remove("data") {
        Some(Value::Object(data)) => data,
        Some(other) => return Err(not_object(&format!("{root}{data_path}"), &other)),
        None => {
            return Err(SpecPathError::new(
                format!("{root}{parser_path}"),
                "missing field `data` (the pre-0.7 parser's format and dimensions)",
            ));
        }
    };
    data.retain(|_, v| !v.is_null());
    check_keys(&format!("{root}{data_path}"), &data, DATA_KEYS)?;
    let mut dimensions = Map::new();
    copy(&data, "dimensions", &mut dimensions, "dimensions");
    copy(
        &parser,
        "dimensionExclusions",
        &mut dimensions,
        "dimensionExclusions",
    );
    let spatial_path = if copy(
        &data,
        "spatialDimensions",
        &mut dimensions,
        "spatialDimensions",
    ) {
        format!("{data_path}.spatialDimensions")
    } else {
        copy(
            schema,
            "spatialDimensions",
            &mut dimensions,
            "spatialDimensions",
        );
        ".schema.spatialDimensions".to_string()
    };
    let mut parse_spec = Map::new();
    // Druid's `DataSpec` defaults to the delimited (tsv) format.
    let format = data.remove("format").unwrap_or_else(|| "tsv".into());
    parse_spec.insert("format".into(), format);
    copy(&parser, "timestampSpec", &mut parse_spec, "timestampSpec");
    parse_spec.insert("dimensionsSpec".into(), Value::Object(dimensions));
    for key in ["columns", "delimiter", "listDelimiter"] {
        copy(&data, key, &mut parse_spec, key);
    }
    let spec = ".dataSchema.parser.parseSpec";
    paths.map(spec, data_path.clone());
    paths.map(
        &format!("{spec}.timestampSpec"),
        format!("{parser_path}.timestampSpec"),
    );
    paths.map(&format!("{spec}.dimensionsSpec"), data_path.clone());
    paths.map(
        &format!("{spec}.dimensionsSpec.dimensionExclusions"),
        format!("{parser_path}.dimensionExclusions"),
    );
    paths.map(
        &format!("{spec}.dimensionsSpec.spatialDimensions"),
        spatial_path,
    );
    let mut out = Map::new();
    out.insert(
        "type".into(),
        parser.remove("type").unwrap_or_else(|| "string".into()),
    );
    copy(&parser, "encoding", &mut out, "encoding");
    out.insert("parseSpec".into(), Value::Object(parse_spec));
    Ok(Value::Object(out))
}

/// Removes the parser from the firehose (or from the delegate it wraps).
fn take_parser(firehose: &mut Map<String, Value>, path: String) -> Option<(Value, String)> {
    if let Some(parser) = firehose.remove("parser").filter(|p| !p.is_null()) {
        return Some((parser, format!("{path}.parser")));
    }
    match firehose.get_mut("delegate") {
        Some(Value::Object(delegate)) => take_parser(delegate, format!("{path}.delegate")),
        _ => None,
    }
}

/// `kafka-0.7.2` → `kafka-0.8`, its consumer properties renamed to their 0.8 names.
fn rename_kafka07(firehose: &mut Map<String, Value>) {
    if firehose.get("type").and_then(Value::as_str) != Some("kafka-0.7.2") {
        return;
    }
    firehose.insert("type".into(), "kafka-0.8".into());
    if let Some(Value::Object(props)) = firehose.get_mut("consumerProps") {
        for (old, new) in KAFKA07_RENAMES {
            if let Some(value) = props.remove(*old) {
                props.entry(*new).or_insert(value);
            }
        }
    }
}

/// Copies `from[key]` to `to[as_key]` when present; true when it was.
fn copy(from: &Map<String, Value>, key: &str, to: &mut Map<String, Value>, as_key: &str) -> bool {
    match from.get(key) {
        Some(value) if !value.is_null() => {
            to.insert(as_key.to_string(), value.clone());
            true
        }
        _ => false,
    }
}

fn take_object(
    root: &str,
    map: &mut Map<String, Value>,
    key: &str,
    required: bool,
) -> Result<Map<String, Value>, SpecPathError> {
    match map.remove(key) {
        Some(Value::Object(object)) => Ok(object),
        Some(other) => Err(not_object(&format!("{root}.{key}"), &other)),
        None if required => Err(SpecPathError::new(
            root,
            format!(
                "missing field `{key}` (a pre-0.7 spec has `schema`, `config`, `firehose` and `plumber`)"
            ),
        )),
        None => Ok(Map::new()),
    }
}

fn check_keys(path: &str, map: &Map<String, Value>, known: &[&str]) -> Result<(), SpecPathError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(SpecPathError::new(
            super::de::key_path(path, key),
            format!(
                "unknown field `{key}` in a pre-0.7 spec, expected one of {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        None => Ok(()),
    }
}

fn not_object(path: &str, value: &Value) -> SpecPathError {
    SpecPathError::new(path, format!("expected an object, found `{value}`"))
}

#[cfg(test)]
#[path = "legacy_tests.rs"]
mod tests;
