//! Dimension specs: which column a topN/groupBy/search groups on, under which output name, through
//! which extraction function.

use serde_json::Value;

use super::extraction::ExtractionFn;
use super::json::{obj, short};
use crate::query::error::{QueryError, QueryResult};

/// A dimension to group or filter on.
#[derive(Debug, Clone)]
pub struct DimensionSpec {
    /// The column read.
    pub dimension: String,
    /// The name in results.
    pub output_name: String,
    /// Applied to each value, when present.
    pub extraction: Option<ExtractionFn>,
}

impl DimensionSpec {
    /// A plain dimension.
    pub fn plain(name: &str) -> DimensionSpec {
        DimensionSpec {
            dimension: name.to_string(),
            output_name: name.to_string(),
            extraction: None,
        }
    }

    /// Parses a string or a `default` / `extraction` object.
    pub fn parse(value: &Value) -> QueryResult<DimensionSpec> {
        match value {
            Value::String(name) => Ok(DimensionSpec::plain(name)),
            Value::Object(_) => {
                let o = obj(value, "dimension spec")?;
                let kind = o.opt_str("type")?.unwrap_or("default");
                let dimension = o.str("dimension")?.to_string();
                let output_name = o
                    .opt_str("outputName")?
                    .map_or_else(|| dimension.clone(), str::to_string);
                match kind {
                    "default" => Ok(DimensionSpec {
                        dimension,
                        output_name,
                        extraction: None,
                    }),
                    "extraction" => {
                        let function = o
                            .get("extractionFn")
                            .or_else(|| o.get("dimExtractionFn"))
                            .ok_or_else(|| o.missing("extractionFn"))?;
                        Ok(DimensionSpec {
                            dimension,
                            output_name,
                            extraction: Some(ExtractionFn::parse(function)?),
                        })
                    }
                    other => Err(QueryError::unsupported(format!(
                        "dimension spec type `{other}` is not supported (use `default` or `extraction`)"
                    ))),
                }
            }
            other => Err(QueryError::invalid(format!(
                "dimension must be a string or an object, got `{}`",
                short(other)
            ))),
        }
    }

    /// Parses a list of dimension specs.
    pub fn parse_list(value: Option<&Value>) -> QueryResult<Vec<DimensionSpec>> {
        match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(DimensionSpec::parse).collect(),
            Some(single) => Ok(vec![DimensionSpec::parse(single)?]),
        }
    }
}
