//! Configuration: the Druid realtime spec (a JSON array of fire departments) and the node's
//! runtime properties.
//!
//! A spec is read once, at start, into typed values with Druid's defaults filled in
//! ([`load_spec_str`]); every mistake is refused with the JSON path where it is
//! (`$[0].dataSchema.metricsSpec[2].fieldName`). Accepted shapes: an array of fire departments
//! (what `druid.realtime.specFile` held), a single fire department, or an `index_realtime` task
//! file (its `spec`). Pre-0.7 specs (`schema` / `config` / `firehose` / `plumber` at the top, and
//! the 0.6 `index_realtime` task) are converted first, as Druid 0.6 converted them ([`legacy`]);
//! their mistakes are still reported at their paths in the operator's file.

pub mod aggregator;
pub mod de;
pub mod io;
mod legacy;
pub mod properties;
pub mod schema;
pub mod tuning;
mod validate;

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use aggregator::{AggregatorFilter, AggregatorKind, AggregatorSpec, MetricType};
pub use de::SpecPathError;
pub use io::{FirehoseSpec, IoConfig, PlumberSpec};
pub use schema::{
    DataSchema, DimensionSchema, DimensionType, DimensionsSpec, InputFormat, MultiValueHandling,
    ParseSpec, ParserSpec, TimestampSpec, TransformDef, TransformSpec,
};
pub use tuning::{RejectionPolicy, TuningConfig, VersioningPolicy};

/// One stream: what to ingest, from where, and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FireDepartment {
    /// Datasource, parser, metrics, granularities.
    pub data_schema: DataSchema,
    /// Firehose and plumber.
    pub io_config: IoConfig,
    /// Persist, window and handoff settings.
    #[serde(default)]
    pub tuning_config: TuningConfig,
}

/// Why a spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read spec file `{path}`: {error}")]
    Io {
        /// The spec file.
        path: String,
        /// The I/O error (in the message, not a separate cause: it would be printed twice).
        error: std::io::Error,
    },
    /// Not JSON at all.
    #[error("spec is not valid JSON: {0}")]
    Json(String),
    /// A mistake at a JSON path.
    #[error("invalid spec at {0}")]
    Invalid(SpecPathError),
}

impl From<SpecPathError> for SpecError {
    fn from(err: SpecPathError) -> Self {
        SpecError::Invalid(err)
    }
}

/// What the command line changes in a spec before it is validated, so that one spec file can
/// serve every machine (Druid's realtime node needed one file per machine).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpecOverrides {
    /// Sets `tuningConfig.shardSpec.partitionNum` of every fire department; a `none` (or
    /// absent) shardSpec becomes `linear`. Kafka partitions are then split by it as well.
    pub partition_num: Option<u32>,
}

impl SpecOverrides {
    fn apply(&self, department: &mut Value) {
        let Some(partition_num) = self.partition_num else {
            return;
        };
        let Some(object) = department.as_object_mut() else {
            return;
        };
        let tuning = object
            .entry("tuningConfig")
            .or_insert_with(|| serde_json::json!({"type": "realtime"}));
        let Some(tuning) = tuning.as_object_mut() else {
            return;
        };
        let shard = tuning
            .entry("shardSpec")
            .or_insert_with(|| serde_json::json!({"type": "none"}));
        if let Some(shard) = shard.as_object_mut() {
            if shard.get("type").and_then(Value::as_str) == Some("none") {
                shard.insert("type".into(), "linear".into());
            }
            shard.insert("partitionNum".into(), partition_num.into());
        }
    }
}

/// Reads and validates a spec file.
pub fn load_spec_file(path: &Path) -> Result<Vec<FireDepartment>, SpecError> {
    load_spec_file_with(path, &SpecOverrides::default())
}

/// Reads a spec file, applies the command line's overrides and validates the result.
pub fn load_spec_file_with(
    path: &Path,
    overrides: &SpecOverrides,
) -> Result<Vec<FireDepartment>, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|error| SpecError::Io {
        path: path.display().to_string(),
        error,
    })?;
    load_spec_str_with(&text, overrides)
}

/// Reads and validates a spec from its JSON text.
pub fn load_spec_str(text: &str) -> Result<Vec<FireDepartment>, SpecError> {
    load_spec_str_with(text, &SpecOverrides::default())
}

/// [`load_spec_str`] with the command line's overrides applied before validation (so a
/// mistake they cause is reported at the JSON path it lands on).
pub fn load_spec_str_with(
    text: &str,
    overrides: &SpecOverrides,
) -> Result<Vec<FireDepartment>, SpecError> {
    let value: Value = serde_json::from_str(text).map_err(|e| SpecError::Json(e.to_string()))?;
    let entries = split_fire_departments(value)?;
    if entries.is_empty() {
        return Err(SpecPathError::new("$", "the spec holds no fire department").into());
    }
    let mut departments = Vec::with_capacity(entries.len());
    let mut legacy_paths = Vec::new();
    for (root, value) in entries {
        let (mut value, paths) = match value {
            Value::Object(map) if validate::is_legacy(&map) => legacy::convert(&root, map)?,
            other => (other, legacy::LegacyPaths::default()),
        };
        validate::check_raw(&root, &value).map_err(|e| paths.restore(e))?;
        overrides.apply(&mut value);
        let department: FireDepartment = serde_path_to_error::deserialize(value)
            .map_err(|e| paths.restore(SpecPathError::from_path_error(&root, e)))?;
        departments.push((root, department));
        legacy_paths.push(paths);
    }
    validate::check_departments(&mut departments)
        .map_err(|e| legacy_paths.iter().fold(e, |e, paths| paths.restore(e)))?;
    Ok(departments.into_iter().map(|(_, d)| d).collect())
}

/// Splits the accepted top-level shapes into (JSON path, fire department value) pairs.
fn split_fire_departments(value: Value) -> Result<Vec<(String, Value)>, SpecPathError> {
    match value {
        Value::Array(items) => Ok(items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("$[{i}]"), v))
            .collect()),
        Value::Object(mut map) => {
            let task_type = map.get("type").and_then(Value::as_str).map(str::to_string);
            match task_type.as_deref() {
                Some("index_realtime" | "index_realtime_appenderator")
                    if map.contains_key("spec") =>
                {
                    let spec = map.remove("spec").unwrap_or(Value::Null);
                    Ok(vec![("$.spec".to_string(), spec)])
                }
                Some(other) if !map.contains_key("dataSchema") && !validate::is_legacy(&map) => {
                    Err(SpecPathError::new(
                        "$.type",
                        format!(
                            "task type `{other}` is not a realtime spec (accepted: an array of fire departments, one fire department, or an `index_realtime` task)"
                        ),
                    ))
                }
                _ => Ok(vec![("$".to_string(), Value::Object(map))]),
            }
        }
        other => Err(SpecPathError::new(
            "$",
            format!(
                "expected an array of fire departments, found `{}`",
                short(&other)
            ),
        )),
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 60 {
        format!("{}…", &text[..60])
    } else {
        text
    }
}

impl FireDepartment {
    /// The resolved spec as JSON, every default filled in (what `rtnode validate` prints).
    pub fn to_resolved_json(&self) -> Value {
        serde_json::to_value(self).expect("a fire department serializes")
    }

    /// The effective parser: the firehose's own parser when it has one, else the data schema's.
    pub fn parser(&self) -> &ParserSpec {
        fn firehose_parser(spec: &FirehoseSpec) -> Option<&ParserSpec> {
            match spec {
                FirehoseSpec::Local(local) => local.parser.as_deref(),
                FirehoseSpec::RabbitMq(rabbit) => rabbit.parser.as_deref(),
                FirehoseSpec::Timed(t) => firehose_parser(&t.delegate),
                FirehoseSpec::Clipped(c) => firehose_parser(&c.delegate),
                _ => None,
            }
        }
        firehose_parser(&self.io_config.firehose).unwrap_or(&self.data_schema.parser)
    }
}
