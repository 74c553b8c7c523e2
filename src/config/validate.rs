//! Rules that span fields, checked once after parsing; each error names a JSON path.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::FireDepartment;
use super::de::SpecPathError;
use super::io::{FIREHOSE_TYPES, FirehoseSpec, PlumberSpec};
use super::schema::{
    DimensionSchema, DimensionType, DimensionsSpec, InputFormat, ParseSpec, ParserSpec,
    TransformDef,
};
use super::tuning::IndexSpec;
use crate::index::granularity::Granularity;
use crate::segment::descriptor::ShardSpec;

/// Keys that only pre-0.7 specs have at the top of a fire department.
const LEGACY_KEYS: &[&str] = &[
    "schema",
    "config",
    "firehose",
    "plumber",
    "fireDepartmentConfig",
];

/// True when the object looks like a pre-0.7 spec.
pub(super) fn is_legacy(map: &Map<String, Value>) -> bool {
    !map.contains_key("dataSchema") && LEGACY_KEYS.iter().any(|k| map.contains_key(*k))
}

/// Checks that need the raw JSON: the legacy format and firehose types.
pub(super) fn check_raw(root: &str, value: &Value) -> Result<(), SpecPathError> {
    let Some(map) = value.as_object() else {
        return Err(SpecPathError::new(
            root,
            "expected a fire department object",
        ));
    };
    if let Some(firehose) = map.get("ioConfig").and_then(|io| io.get("firehose")) {
        check_firehose_types(&format!("{root}.ioConfig.firehose"), firehose)?;
    }
    Ok(())
}

pub(super) fn check_firehose_types(path: &str, firehose: &Value) -> Result<(), SpecPathError> {
    let Some(kind) = firehose.get("type").and_then(Value::as_str) else {
        return Ok(());
    };
    if !FIREHOSE_TYPES.contains(&kind) {
        return Err(SpecPathError::new(
            format!("{path}.type"),
            format!(
                "firehose type `{kind}` is not supported by rtnode (it runs: {})",
                FIREHOSE_TYPES.join(", ")
            ),
        ));
    }
    if let Some(delegate) = firehose.get("delegate") {
        check_firehose_types(&format!("{path}.delegate"), delegate)?;
    }
    if let Some(Value::Array(delegates)) = firehose.get("delegates") {
        for (i, d) in delegates.iter().enumerate() {
            check_firehose_types(&format!("{path}.delegates[{i}]"), d)?;
        }
    }
    Ok(())
}

/// Cross-field rules over every department; also derives Druid's dimension exclusions.
pub(super) fn check_departments(
    departments: &mut [(String, FireDepartment)],
) -> Result<(), SpecPathError> {
    let mut seen = HashSet::new();
    for (root, department) in departments.iter_mut() {
        check_department(root, department)?;
        let key = (
            department.data_schema.data_source.clone(),
            department.tuning_config.shard_spec.partition_num(),
        );
        if !seen.insert(key) {
            return Err(SpecPathError::new(
                format!("{root}.dataSchema.dataSource"),
                format!(
                    "datasource `{}` with partition {} appears twice; give each fire department of a datasource its own shardSpec partitionNum",
                    department.data_schema.data_source,
                    department.tuning_config.shard_spec.partition_num()
                ),
            ));
        }
    }
    Ok(())
}

fn check_department(root: &str, department: &mut FireDepartment) -> Result<(), SpecPathError> {
    let schema_path = format!("{root}.dataSchema");
    check_data_source(&schema_path, &department.data_schema.data_source)?;
    check_metrics(&schema_path, department)?;
    check_granularity(&schema_path, &department.data_schema.granularity_spec)?;
    check_transforms(
        &format!("{schema_path}.transformSpec.transforms"),
        &department.data_schema.transform_spec.transforms,
    )?;
    check_tuning(&format!("{root}.tuningConfig"), department)?;
    check_firehose(
        &format!("{root}.ioConfig.firehose"),
        &department.io_config.firehose,
    )?;
    check_plumber(
        &format!("{root}.ioConfig.plumber"),
        &department.io_config.plumber,
    )?;
    let derived = derived_exclusions(department);
    let parser_path = format!("{schema_path}.parser");
    check_and_derive_parser(&parser_path, &mut department.data_schema.parser, &derived)?;
    if let FirehoseSpec::Local(local) = &mut department.io_config.firehose
        && let Some(parser) = &mut local.parser
    {
        check_and_derive_parser(
            &format!("{root}.ioConfig.firehose.parser"),
            parser,
            &derived,
        )?;
    }
    Ok(())
}

/// Each transform is an `expression` with a name of its own and an expression that parses.
fn check_transforms(path: &str, transforms: &[TransformDef]) -> Result<(), SpecPathError> {
    let mut names = HashSet::new();
    for (i, transform) in transforms.iter().enumerate() {
        let at = |field: &str| format!("{path}[{i}].{field}");
        if transform.kind != "expression" {
            return Err(SpecPathError::new(
                at("type"),
                format!(
                    "unknown transform type `{}`; Druid's transforms are `expression`",
                    transform.kind
                ),
            ));
        }
        if transform.name.is_empty() {
            return Err(SpecPathError::new(at("name"), "a transform needs a name"));
        }
        if !names.insert(transform.name.as_str()) {
            return Err(SpecPathError::new(
                at("name"),
                format!("transform name `{}` is used twice", transform.name),
            ));
        }
        crate::expr::Expr::parse(&transform.expression)
            .map_err(|e| SpecPathError::new(at("expression"), e.to_string()))?;
    }
    Ok(())
}

fn check_plumber(path: &str, plumber: &PlumberSpec) -> Result<(), SpecPathError> {
    match plumber {
        PlumberSpec::Flushing { flush_duration } if !flush_duration.is_fixed() => {
            Err(SpecPathError::new(
                format!("{path}.flushDuration"),
                format!(
                    "flushDuration `{flush_duration}` must have a fixed length (no years or months)"
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// A datasource name becomes a directory name and part of segment ids.
fn check_data_source(path: &str, name: &str) -> Result<(), SpecPathError> {
    let problem = if name.is_empty() {
        Some("must not be empty")
    } else if name == "." || name == ".." || name.starts_with('.') {
        Some("must not start with `.`")
    } else if name.contains('/') || name.contains('\\') {
        Some("must not contain `/` or `\\`")
    } else if name.chars().any(|c| c.is_control()) {
        Some("must not contain control characters")
    } else if name.trim() != name {
        Some("must not start or end with whitespace")
    } else {
        None
    };
    match problem {
        Some(what) => Err(SpecPathError::new(
            format!("{path}.dataSource"),
            format!(
                "datasource name {:?} {what} (it is used as a directory name)",
                name
            ),
        )),
        None => Ok(()),
    }
}

fn check_metrics(schema_path: &str, department: &FireDepartment) -> Result<(), SpecPathError> {
    let dims: HashSet<&str> = department
        .parser()
        .parse_spec()
        .dimensions_spec
        .dimensions
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    let mut names = HashSet::new();
    for (i, metric) in department.data_schema.metrics_spec.iter().enumerate() {
        let path = format!("{schema_path}.metricsSpec[{i}].name");
        if metric.name.is_empty() {
            return Err(SpecPathError::new(path, "metric name must not be empty"));
        }
        if !names.insert(metric.name.as_str()) {
            return Err(SpecPathError::new(
                path,
                format!("metric name `{}` is used twice", metric.name),
            ));
        }
        if dims.contains(metric.name.as_str()) {
            return Err(SpecPathError::new(
                path,
                format!("metric name `{}` is also a dimension name", metric.name),
            ));
        }
        if metric.name == "__time" {
            return Err(SpecPathError::new(
                path,
                "`__time` is reserved for the time column",
            ));
        }
    }
    Ok(())
}

fn check_granularity(
    schema_path: &str,
    spec: &super::schema::GranularitySpec,
) -> Result<(), SpecPathError> {
    let path = format!("{schema_path}.granularitySpec");
    if spec.kind != "uniform" {
        return Err(SpecPathError::new(
            format!("{path}.type"),
            format!(
                "granularitySpec type `{}` is not supported for realtime ingestion; use `uniform`",
                spec.kind
            ),
        ));
    }
    if matches!(
        spec.segment_granularity,
        Granularity::All | Granularity::None
    ) {
        return Err(SpecPathError::new(
            format!("{path}.segmentGranularity"),
            format!(
                "segmentGranularity `{}` cannot bucket segments; use a period such as HOUR or DAY",
                spec.segment_granularity
            ),
        ));
    }
    if spec.query_granularity.approx_millis() > spec.segment_granularity.approx_millis() {
        return Err(SpecPathError::new(
            format!("{path}.queryGranularity"),
            format!(
                "queryGranularity `{}` is coarser than segmentGranularity `{}`",
                spec.query_granularity, spec.segment_granularity
            ),
        ));
    }
    Ok(())
}

fn check_tuning(path: &str, department: &mut FireDepartment) -> Result<(), SpecPathError> {
    let tuning = &mut department.tuning_config;
    if tuning.kind != "realtime" && tuning.kind != "realtime_appenderator" {
        return Err(SpecPathError::new(
            format!("{path}.type"),
            format!("tuningConfig type `{}` is not `realtime`", tuning.kind),
        ));
    }
    if tuning.max_rows_in_memory == 0 {
        return Err(SpecPathError::new(
            format!("{path}.maxRowsInMemory"),
            "maxRowsInMemory must be at least 1",
        ));
    }
    if tuning.max_bytes_in_memory < -1 {
        return Err(SpecPathError::new(
            format!("{path}.maxBytesInMemory"),
            "maxBytesInMemory must be positive, 0 (default) or -1 (no limit)",
        ));
    }
    for (key, period) in [
        (
            "intermediatePersistPeriod",
            &tuning.intermediate_persist_period,
        ),
        ("windowPeriod", &tuning.window_period),
    ] {
        if !period.is_fixed() {
            return Err(SpecPathError::new(
                format!("{path}.{key}"),
                format!("{key} `{period}` must have a fixed length (no years or months)"),
            ));
        }
    }
    if tuning.intermediate_persist_period.is_zero() {
        return Err(SpecPathError::new(
            format!("{path}.intermediatePersistPeriod"),
            "intermediatePersistPeriod must be longer than zero",
        ));
    }
    if let ShardSpec::Numbered {
        partition_num,
        partitions,
    } = tuning.shard_spec
        && partition_num >= partitions
    {
        return Err(SpecPathError::new(
            format!("{path}.shardSpec.partitionNum"),
            format!("partitionNum {partition_num} must be below partitions {partitions}"),
        ));
    }
    for (key, spec) in [
        ("indexSpec", &mut tuning.index_spec),
        (
            "indexSpecForIntermediatePersists",
            &mut tuning.index_spec_for_intermediate_persists,
        ),
    ] {
        check_index_spec(&format!("{path}.{key}"), spec)?;
    }
    Ok(())
}

/// Lowercases the names of `spec` and refuses what Druid refuses or rtnode cannot write.
fn check_index_spec(path: &str, spec: &mut IndexSpec) -> Result<(), SpecPathError> {
    for (key, value, is_dimension) in [
        (
            "dimensionCompression",
            &mut spec.dimension_compression,
            true,
        ),
        ("metricCompression", &mut spec.metric_compression, false),
    ] {
        *value = value.to_ascii_lowercase();
        let message = match value.as_str() {
            "lz4" | "uncompressed" => continue,
            "none" if !is_dimension => continue,
            "none" => "dimensionCompression `none` is refused by Druid (dimension columns are \
                       always blocked); use `uncompressed` or `lz4`"
                .to_string(),
            "lzf" => "`lzf` is not written by rtnode (deprecated in Druid); use `lz4`, \
                      `uncompressed` or `none`"
                .to_string(),
            other => format!("unknown compression `{other}` (lz4, uncompressed, none)"),
        };
        return Err(SpecPathError::new(format!("{path}.{key}"), message));
    }
    spec.long_encoding = spec.long_encoding.to_ascii_lowercase();
    if !["longs", "auto"].contains(&spec.long_encoding.as_str()) {
        return Err(SpecPathError::new(
            format!("{path}.longEncoding"),
            format!(
                "unknown longEncoding `{}` (longs, auto)",
                spec.long_encoding
            ),
        ));
    }
    Ok(())
}

fn check_firehose(path: &str, firehose: &FirehoseSpec) -> Result<(), SpecPathError> {
    match firehose {
        FirehoseSpec::Local(local) if local.base_dir.is_empty() => Err(SpecPathError::new(
            format!("{path}.baseDir"),
            "baseDir must not be empty",
        )),
        FirehoseSpec::Kafka(kafka) if kafka.topic.is_empty() => Err(SpecPathError::new(
            format!("{path}.topic"),
            "topic must not be empty",
        )),
        FirehoseSpec::Kafka(kafka) if kafka.partitions == Some(0) => Err(SpecPathError::new(
            format!("{path}.partitions"),
            "partitions must be at least 1",
        )),
        FirehoseSpec::Kafka(kafka) if kafka.end_offsets.is_some() && kafka.partitions.is_none() => {
            Err(SpecPathError::new(
                format!("{path}.endOffsets"),
                "endOffsets needs `partitions` (a static assignment): a consumer group can move partitions while their end is being read",
            ))
        }
        FirehoseSpec::Kafka08(kafka) if kafka.feed.is_empty() => Err(SpecPathError::new(
            format!("{path}.feed"),
            "feed must not be empty",
        )),
        FirehoseSpec::Receiver(receiver) if receiver.buffer_size == 0 => Err(SpecPathError::new(
            format!("{path}.bufferSize"),
            "bufferSize must be at least 1",
        )),
        FirehoseSpec::Timed(timed) => {
            crate::time::parse_iso(&timed.shutoff_time)
                .map_err(|e| SpecPathError::new(format!("{path}.shutoffTime"), e.to_string()))?;
            check_firehose(&format!("{path}.delegate"), &timed.delegate)
        }
        FirehoseSpec::Clipped(clipped) => {
            check_firehose(&format!("{path}.delegate"), &clipped.delegate)
        }
        FirehoseSpec::Combining(combining) => {
            if combining.delegates.is_empty() {
                return Err(SpecPathError::new(
                    format!("{path}.delegates"),
                    "a combining firehose needs at least one delegate",
                ));
            }
            combining
                .delegates
                .iter()
                .enumerate()
                .try_for_each(|(i, d)| check_firehose(&format!("{path}.delegates[{i}]"), d))
        }
        _ => Ok(()),
    }
}

/// Druid excludes every aggregator name and input field (a filtered aggregator's filter columns
/// too, as Druid ≥ 0.13 does), the timestamp column (unless listed as a dimension) and, for
/// `kafka-0.8`, the `feed` column from schemaless dimension discovery.
fn derived_exclusions(department: &FireDepartment) -> Vec<String> {
    let mut out = Vec::new();
    for metric in &department.data_schema.metrics_spec {
        out.push(metric.name.clone());
        out.extend(metric.field_name.clone());
        if let Some(filter) = &metric.filter {
            let mut columns = Vec::new();
            filter.filter.columns(&mut columns);
            out.extend(columns.into_iter().filter(|c| c != "__time"));
        }
    }
    let parse_spec = department.parser().parse_spec();
    let ts_column = &parse_spec.timestamp_spec.column;
    if !parse_spec
        .dimensions_spec
        .dimensions
        .iter()
        .any(|d| &d.name == ts_column)
    {
        out.push(ts_column.clone());
    }
    if matches!(department.io_config.firehose, FirehoseSpec::Kafka08(_)) {
        out.push("feed".to_string());
    }
    out
}

fn check_and_derive_parser(
    path: &str,
    parser: &mut ParserSpec,
    derived: &[String],
) -> Result<(), SpecPathError> {
    let is_string = matches!(parser, ParserSpec::String { .. });
    let parse_spec = match parser {
        ParserSpec::String { parse_spec, .. } | ParserSpec::Map { parse_spec } => parse_spec,
    };
    let spec_path = format!("{path}.parseSpec");
    check_parse_spec(&spec_path, parse_spec, is_string)?;
    check_dimensions(
        &format!("{spec_path}.dimensionsSpec"),
        &mut parse_spec.dimensions_spec,
    )?;
    let exclusions = &mut parse_spec.dimensions_spec.dimension_exclusions;
    let listed: HashSet<String> = parse_spec
        .dimensions_spec
        .dimensions
        .iter()
        .map(|d| d.name.clone())
        .collect();
    for name in derived {
        if !exclusions.contains(name) && !listed.contains(name) {
            exclusions.push(name.clone());
        }
    }
    Ok(())
}

/// Druid's `verify` of the CSV, TSV and regex parse specs: with `columns` given, every dimension
/// (a spatial one: every input) must be one of them; it could never get a value otherwise.
fn check_dimensions_in_columns(path: &str, spec: &ParseSpec) -> Result<(), SpecPathError> {
    let Some(columns) = spec.columns.as_ref().filter(|c| !c.is_empty()) else {
        return Ok(());
    };
    for (i, dim) in spec.dimensions_spec.dimensions.iter().enumerate() {
        let inputs = match dim.kind {
            DimensionType::Spatial => dim.dims.clone(),
            _ => vec![dim.name.clone()],
        };
        if let Some(missing) = inputs.iter().find(|input| !columns.contains(input)) {
            return Err(SpecPathError::new(
                format!("{path}.dimensionsSpec.dimensions[{i}]"),
                format!("`{missing}` is not one of `columns` {columns:?}"),
            ));
        }
    }
    Ok(())
}

fn check_parse_spec(path: &str, spec: &ParseSpec, is_string: bool) -> Result<(), SpecPathError> {
    crate::parse::timestamp::TimestampFormat::parse(&spec.timestamp_spec.format)
        .map_err(|e| SpecPathError::new(format!("{path}.timestampSpec.format"), e.to_string()))?;
    if let Some(missing) = &spec.timestamp_spec.missing_value {
        crate::time::parse_iso(missing).map_err(|e| {
            SpecPathError::new(format!("{path}.timestampSpec.missingValue"), e.to_string())
        })?;
    }
    let delimited = matches!(spec.format, InputFormat::Csv | InputFormat::Tsv);
    if is_string
        && delimited
        && spec.columns.as_ref().is_none_or(Vec::is_empty)
        && !spec.has_header_row
    {
        return Err(SpecPathError::new(
            format!("{path}.columns"),
            "csv and tsv need `columns` (or `hasHeaderRow: true`)",
        ));
    }
    if is_string && spec.format == InputFormat::Regex {
        let pattern = spec.pattern.as_deref().ok_or_else(|| {
            SpecPathError::new(format!("{path}.pattern"), "format `regex` needs `pattern`")
        })?;
        crate::parse::regex::compile(pattern)
            .map_err(|e| SpecPathError::new(format!("{path}.pattern"), e.to_string()))?;
    }
    if is_string && spec.format != InputFormat::Json && spec.format != InputFormat::JsonLowercase {
        check_dimensions_in_columns(path, spec)?;
    }
    if let Some(flatten) = &spec.flatten_spec {
        for (i, field) in flatten.fields.iter().enumerate() {
            let expr = field.expr.as_deref().unwrap_or(&field.name);
            crate::parse::flatten::FieldPath::parse(field.kind, expr).map_err(|e| {
                SpecPathError::new(
                    format!("{path}.flattenSpec.fields[{i}].expr"),
                    e.to_string(),
                )
            })?;
        }
    }
    Ok(())
}

fn check_dimensions(path: &str, spec: &mut DimensionsSpec) -> Result<(), SpecPathError> {
    for legacy in std::mem::take(&mut spec.spatial_dimensions) {
        spec.dimensions.push(DimensionSchema {
            kind: DimensionType::Spatial,
            name: legacy.dim_name,
            dims: legacy.dims,
            multi_value_handling: Default::default(),
            create_bitmap_index: true,
        });
    }
    let mut names = HashSet::new();
    for (i, dim) in spec.dimensions.iter().enumerate() {
        if dim.name.is_empty() || dim.name == "__time" {
            return Err(SpecPathError::new(
                format!("{path}.dimensions[{i}]"),
                format!("dimension name `{}` is not allowed", dim.name),
            ));
        }
        if !names.insert(dim.name.as_str()) {
            return Err(SpecPathError::new(
                format!("{path}.dimensions[{i}]"),
                format!("dimension `{}` is listed twice", dim.name),
            ));
        }
        if dim.kind == DimensionType::Spatial && dim.dims.is_empty() {
            return Err(SpecPathError::new(
                format!("{path}.dimensions[{i}].dims"),
                "a spatial dimension needs `dims`",
            ));
        }
    }
    if let Some(i) = spec
        .dimension_exclusions
        .iter()
        .position(|e| names.contains(e.as_str()))
    {
        return Err(SpecPathError::new(
            format!("{path}.dimensionExclusions[{i}]"),
            format!(
                "`{}` is both a dimension and an exclusion",
                spec.dimension_exclusions[i]
            ),
        ));
    }
    Ok(())
}
