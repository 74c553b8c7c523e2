//! `DataSegment`: the JSON that describes a segment everywhere Druid exchanges one: the
//! `descriptor.json` beside `index.zip`, the `payload` of a `druid_segments` row, the entries of
//! a ZooKeeper segment announcement.
//!
//! Keys are written in the order Druid 0.9.2's Jackson writes them: `dataSource`, `interval`,
//! `version`, `loadSpec`, `dimensions`, `metrics`, `shardSpec`, `binaryVersion`, `size`,
//! `identifier`. `dimensions` and `metrics` are comma-joined strings; a reader also accepts arrays.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::time::{self, Interval};

/// How a segment's interval is split among partitions (`tuningConfig.shardSpec`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum ShardSpec {
    /// One partition (number 0); `partitioned` is false in the metadata store.
    #[default]
    None,
    /// Partition `partitionNum` of an open-ended set.
    #[serde(rename_all = "camelCase")]
    Linear {
        /// This node's partition number.
        partition_num: u32,
    },
    /// Partition `partitionNum` of `partitions`.
    #[serde(rename_all = "camelCase")]
    Numbered {
        /// This node's partition number.
        partition_num: u32,
        /// How many partitions make the interval complete.
        partitions: u32,
    },
}

impl ShardSpec {
    /// The partition number (0 for `none`).
    pub fn partition_num(&self) -> u32 {
        match self {
            ShardSpec::None => 0,
            ShardSpec::Linear { partition_num } | ShardSpec::Numbered { partition_num, .. } => {
                *partition_num
            }
        }
    }

    /// False only for `none`: the `partitioned` column of `druid_segments`.
    pub fn is_partitioned(&self) -> bool {
        !matches!(self, ShardSpec::None)
    }
}

/// The Druid `DataSegment` JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSegment {
    /// Datasource name.
    pub data_source: String,
    /// The segment interval.
    pub interval: Interval,
    /// Version string (the segment interval start for realtime segments by default).
    pub version: String,
    /// Where deep storage keeps the segment (`{}` while it is realtime-only).
    pub load_spec: Map<String, Value>,
    /// Dimension names in segment order.
    pub dimensions: Vec<String>,
    /// Metric names in spec order.
    pub metrics: Vec<String>,
    /// Partitioning.
    pub shard_spec: ShardSpec,
    /// Segment format version (9), `None` while realtime-only.
    pub binary_version: Option<u32>,
    /// Sum of the uncompressed segment file sizes in bytes (0 while realtime-only).
    pub size_bytes: u64,
}

impl DataSegment {
    /// A segment as a realtime node first announces it, before any push: no `loadSpec`,
    /// dimensions, metrics, binary version or size yet.
    pub fn unpushed(
        data_source: impl Into<String>,
        interval: Interval,
        version: impl Into<String>,
        shard_spec: ShardSpec,
    ) -> DataSegment {
        DataSegment {
            data_source: data_source.into(),
            interval,
            version: version.into(),
            load_spec: Map::new(),
            dimensions: Vec::new(),
            metrics: Vec::new(),
            shard_spec,
            binary_version: None,
            size_bytes: 0,
        }
    }

    /// The Druid segment identifier: `{ds}_{start}_{end}_{version}`, plus `_{partition}` when the
    /// partition number is not 0.
    pub fn identifier(&self) -> String {
        let mut id = format!(
            "{}_{}_{}_{}",
            self.data_source,
            time::format_iso(self.interval.start_ms),
            time::format_iso(self.interval.end_ms),
            self.version
        );
        let partition = self.shard_spec.partition_num();
        if partition != 0 {
            id.push('_');
            id.push_str(&partition.to_string());
        }
        id
    }

    /// The JSON object, keys in Druid's order.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("dataSource".into(), self.data_source.clone().into());
        map.insert("interval".into(), self.interval.to_string().into());
        map.insert("version".into(), self.version.clone().into());
        map.insert("loadSpec".into(), Value::Object(self.load_spec.clone()));
        map.insert("dimensions".into(), self.dimensions.join(",").into());
        map.insert("metrics".into(), self.metrics.join(",").into());
        map.insert(
            "shardSpec".into(),
            serde_json::to_value(&self.shard_spec).expect("shard spec serializes"),
        );
        map.insert(
            "binaryVersion".into(),
            self.binary_version.map(Value::from).unwrap_or(Value::Null),
        );
        map.insert("size".into(), self.size_bytes.into());
        map.insert("identifier".into(), self.identifier().into());
        Value::Object(map)
    }

    /// Compact JSON bytes, as written to `descriptor.json` and the metadata `payload`.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_json()).expect("a JSON value serializes")
    }
}

impl Serialize for DataSegment {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDataSegment {
    data_source: String,
    interval: Interval,
    version: String,
    #[serde(default)]
    load_spec: Map<String, Value>,
    #[serde(default)]
    dimensions: NameList,
    #[serde(default)]
    metrics: NameList,
    #[serde(default)]
    shard_spec: Option<Value>,
    #[serde(default)]
    binary_version: Option<u32>,
    #[serde(default)]
    size: u64,
}

/// A comma-joined string or an array of names.
#[derive(Default, Deserialize)]
#[serde(untagged)]
enum NameList {
    #[default]
    Empty,
    Joined(String),
    List(Vec<String>),
}

impl NameList {
    fn into_vec(self) -> Vec<String> {
        match self {
            NameList::Empty => Vec::new(),
            NameList::Joined(s) => s
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
            NameList::List(v) => v,
        }
    }
}

impl<'de> Deserialize<'de> for DataSegment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawDataSegment::deserialize(deserializer)?;
        let shard_spec = match raw.shard_spec {
            None | Some(Value::Null) => ShardSpec::None,
            Some(v) => lenient_shard_spec(v),
        };
        Ok(DataSegment {
            data_source: raw.data_source,
            interval: raw.interval,
            version: raw.version,
            load_spec: raw.load_spec,
            dimensions: raw.dimensions.into_vec(),
            metrics: raw.metrics.into_vec(),
            shard_spec,
            binary_version: raw.binary_version,
            size_bytes: raw.size,
        })
    }
}

/// Reads a shard spec written by any Druid version: unknown types (hashed, single-dimension, …)
/// keep their partition number as a `linear` spec.
fn lenient_shard_spec(value: Value) -> ShardSpec {
    if let Ok(spec) = serde_json::from_value::<ShardSpec>(value.clone()) {
        return spec;
    }
    let partition_num = value
        .get("partitionNum")
        .and_then(Value::as_u64)
        .unwrap_or(0) as u32;
    ShardSpec::Linear { partition_num }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_a_druid_descriptor() {
        let druid = r#"{"binaryVersion": 9, "dataSource": "testds", "dimensions": "host",
            "identifier": "testds_2014-10-22T00:00:00.000Z_2014-10-23T00:00:00.000Z_2015-07-15T22:02:40.171Z",
            "interval": "2014-10-22T00:00:00.000Z/2014-10-23T00:00:00.000Z",
            "loadSpec": {"path": "test-segment/index.zip", "type": "local"},
            "metrics": "visited_sum,unique_hosts", "shardSpec": {"type": "none"}, "size": 4096,
            "version": "2015-07-15T22:02:40.171Z"}"#;
        let segment: DataSegment = serde_json::from_str(druid).unwrap();
        assert_eq!(segment.metrics, ["visited_sum", "unique_hosts"]);
        assert_eq!(
            segment.identifier(),
            "testds_2014-10-22T00:00:00.000Z_2014-10-23T00:00:00.000Z_2015-07-15T22:02:40.171Z"
        );
        let written = String::from_utf8(segment.to_json_bytes()).unwrap();
        assert!(written.starts_with(r#"{"dataSource":"testds","interval":"2014-10-22T00:00:00.000Z/2014-10-23T00:00:00.000Z","version":"#));
        assert!(written.ends_with(r#""shardSpec":{"type":"none"},"binaryVersion":9,"size":4096,"identifier":"testds_2014-10-22T00:00:00.000Z_2014-10-23T00:00:00.000Z_2015-07-15T22:02:40.171Z"}"#));
        let again: DataSegment = serde_json::from_str(&written).unwrap();
        assert_eq!(again, segment);
    }

    #[test]
    fn identifier_carries_nonzero_partitions() {
        let mut segment = DataSegment {
            data_source: "wiki".into(),
            interval: "2015-09-12/2015-09-13".parse().unwrap(),
            version: "v1".into(),
            load_spec: Map::new(),
            dimensions: vec![],
            metrics: vec!["count".into()],
            shard_spec: ShardSpec::Numbered {
                partition_num: 2,
                partitions: 3,
            },
            binary_version: None,
            size_bytes: 0,
        };
        assert!(segment.identifier().ends_with("_v1_2"));
        assert_eq!(
            segment.to_json()["shardSpec"],
            serde_json::json!({"type":"numbered","partitionNum":2,"partitions":3})
        );
        segment.shard_spec = ShardSpec::Linear { partition_num: 0 };
        assert!(segment.identifier().ends_with("_v1"));
        assert_eq!(segment.to_json()["binaryVersion"], Value::Null);
    }
}
