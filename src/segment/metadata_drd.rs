//! `metadata.drd`: the UTF-8 JSON of Druid's `Metadata` (optional in a segment).
//!
//! ```text
//! {"container":{…},"aggregators":[{…combining factory…},…],
//!  "timestampSpec":{"column":…,"format":…,"missingValue":…},"queryGranularity":"HOUR","rollup":true}
//! ```
//! Keys are written in this order. `queryGranularity` is read in both the 0.9 object form
//! (`{"type":"none"}`) and the ≥ 0.12 string form, and written as a string when it has a name.
//! Aggregators are kept as JSON values.

use serde_json::{Map, Value};

use super::format::{FormatError, corrupt};
use crate::index::granularity::Granularity;

/// Segment metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata {
    /// Free-form container (commit metadata of realtime hydrants, …).
    pub container: Map<String, Value>,
    /// Combining aggregator factories, `None` when unknown.
    pub aggregators: Option<Vec<Value>>,
    /// The timestamp spec, `None` when unknown.
    pub timestamp_spec: Option<Value>,
    /// The query granularity, `None` when unknown.
    pub query_granularity: Option<Granularity>,
    /// Whether rows were rolled up, `None` when unknown.
    pub rollup: Option<bool>,
}

fn null_or<T>(
    value: Option<&Value>,
    f: impl FnOnce(&Value) -> Result<T, FormatError>,
) -> Result<Option<T>, FormatError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => f(v).map(Some),
    }
}

impl Metadata {
    /// Parses `metadata.drd`.
    pub fn parse(bytes: &[u8]) -> Result<Metadata, FormatError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| corrupt(format!("bad metadata JSON: {e}")))?;
        let map = value
            .as_object()
            .ok_or_else(|| corrupt("metadata is not a JSON object"))?;
        let container = match map.get("container") {
            Some(Value::Object(c)) => c.clone(),
            _ => Map::new(),
        };
        let aggregators = null_or(map.get("aggregators"), |v| {
            v.as_array()
                .cloned()
                .ok_or_else(|| corrupt("`aggregators` is not a list"))
        })?;
        let timestamp_spec = null_or(map.get("timestampSpec"), |v| Ok(v.clone()))?;
        let query_granularity = null_or(map.get("queryGranularity"), |v| {
            Granularity::from_json(v).map_err(|e| corrupt(format!("bad queryGranularity: {e}")))
        })?;
        let rollup = null_or(map.get("rollup"), |v| {
            v.as_bool()
                .ok_or_else(|| corrupt("`rollup` is not a boolean"))
        })?;
        Ok(Metadata {
            container,
            aggregators,
            timestamp_spec,
            query_granularity,
            rollup,
        })
    }

    /// Returns the JSON object, keys in Druid's order.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("container".into(), Value::Object(self.container.clone()));
        map.insert(
            "aggregators".into(),
            self.aggregators
                .clone()
                .map(Value::Array)
                .unwrap_or(Value::Null),
        );
        map.insert(
            "timestampSpec".into(),
            self.timestamp_spec.clone().unwrap_or(Value::Null),
        );
        map.insert(
            "queryGranularity".into(),
            self.query_granularity
                .as_ref()
                .map(Granularity::to_json)
                .unwrap_or(Value::Null),
        );
        map.insert(
            "rollup".into(),
            self.rollup.map(Value::Bool).unwrap_or(Value::Null),
        );
        Value::Object(map)
    }

    /// Serializes `metadata.drd`.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }

    /// Combines the metadata of merged segments as Druid's `Metadata.merge` does: containers are
    /// unioned; aggregators, timestamp spec, granularity and rollup survive only when every input
    /// has metadata and they agree (aggregators agree per name, in first-seen order). Returns
    /// `None` when no input has metadata.
    pub fn merge(inputs: &[Option<&Metadata>]) -> Option<Metadata> {
        if inputs.iter().all(Option::is_none) {
            return None;
        }
        let mut container = Map::new();
        for metadata in inputs.iter().flatten() {
            container.extend(metadata.container.clone());
        }
        let all: Option<Vec<&Metadata>> = inputs.iter().copied().collect();
        let Some(all) = all else {
            return Some(Metadata {
                container,
                ..Metadata::default()
            });
        };
        Some(Metadata {
            container,
            aggregators: merge_aggregators(&all),
            timestamp_spec: all_equal(all.iter().filter_map(|m| m.timestamp_spec.clone())),
            query_granularity: all_equal(all.iter().map(|m| m.query_granularity.clone())).flatten(),
            rollup: all_equal(all.iter().map(|m| m.rollup)).flatten(),
        })
    }
}

fn all_equal<T: PartialEq>(mut values: impl Iterator<Item = T>) -> Option<T> {
    let first = values.next()?;
    values.all(|v| v == first).then_some(first)
}

fn merge_aggregators(all: &[&Metadata]) -> Option<Vec<Value>> {
    let mut merged: Vec<Value> = Vec::new();
    for metadata in all {
        for factory in metadata.aggregators.as_ref()? {
            let name = factory.get("name");
            match merged.iter().find(|m| m.get("name") == name) {
                Some(existing) if existing != factory => return None,
                Some(_) => {}
                None => merged.push(factory.clone()),
            }
        }
    }
    Some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_2021: &str = r#"{"container":{},"aggregators":[{"type":"longSum","name":"count","fieldName":"count","expression":null}],"timestampSpec":{"column":"timestamp","format":"iso","missingValue":null},"queryGranularity":"HOUR","rollup":true}"#;

    #[test]
    fn reads_and_rewrites_druid_metadata_exactly() {
        let metadata = Metadata::parse(REAL_2021.as_bytes()).unwrap();
        assert_eq!(
            metadata
                .query_granularity
                .as_ref()
                .and_then(Granularity::name),
            Some("HOUR")
        );
        assert_eq!(String::from_utf8(metadata.to_bytes()).unwrap(), REAL_2021);
        let old = Metadata::parse(br#"{"container":{"key":"value"},"aggregators":[],"timestampSpec":null,"queryGranularity":{"type":"none"},"rollup":true}"#).unwrap();
        assert_eq!(old.query_granularity, Some(Granularity::None));
        assert_eq!(old.container["key"], "value");
        assert!(Metadata::parse(b"[1]").is_err());
    }

    #[test]
    fn merge_follows_druid_rules() {
        let a = Metadata::parse(REAL_2021.as_bytes()).unwrap();
        let mut b = a.clone();
        b.container.insert("k".into(), "v".into());
        b.rollup = Some(false);
        let merged = Metadata::merge(&[Some(&a), Some(&b)]).unwrap();
        assert_eq!((merged.rollup, merged.container.len()), (None, 1));
        assert_eq!(merged.aggregators, a.aggregators);
        assert_eq!(merged.query_granularity, a.query_granularity);
        let partial = Metadata::merge(&[Some(&a), None]).unwrap();
        assert_eq!(
            (partial.aggregators, partial.query_granularity),
            (None, None)
        );
        assert_eq!(Metadata::merge(&[None, None]), None);
        let mut c = a.clone();
        c.aggregators = Some(vec![
            serde_json::json!({"type":"doubleSum","name":"count","fieldName":"count"}),
        ]);
        assert_eq!(
            Metadata::merge(&[Some(&a), Some(&c)]).unwrap().aggregators,
            None
        );
    }
}
