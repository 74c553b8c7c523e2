//! Znode payloads: optional gzip, as Druid's `PotentiallyGzippedCompressionProvider` does.
//!
//! ```text
//!   written (druid.zk.service.compress=true):   1f 8b 08 …  gzip member of the UTF-8 JSON
//!   written (druid.zk.service.compress=false):  [{"dataSource":…}]  the JSON itself
//!   read:  gunzip when the bytes are a gzip member, otherwise the bytes as they are
//! ```
//!
//! The JSON of a batch znode is an array of `DataSegment` objects (keys in Druid's order), each
//! possibly stripped by `druid.announcer.skipLoadSpec` (`"loadSpec":null`, what Druid's
//! `withLoadSpec(null)` serializes) and `druid.announcer.skipDimensionsAndMetrics` (`""`).

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::Value;

use super::config::BatchConfig;
use crate::segment::descriptor::DataSegment;

/// Largest payload a reader inflates: ZooKeeper caps a znode at about 1 MiB compressed, and
/// Druid's JSON compresses about 10:1, so 64 MiB leaves room while refusing a gzip bomb.
pub const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;

/// The two gzip magic bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// An error in reading a payload.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The gzip stream inflates past [`MAX_INFLATED_BYTES`].
    #[error("gzip payload inflates past {MAX_INFLATED_BYTES} bytes")]
    TooLarge,
    /// The payload is not the JSON expected.
    #[error("payload is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Returns the bytes to store: gzip of `json` when `compress`, else `json` itself.
pub fn encode(json: &[u8], compress: bool) -> Vec<u8> {
    if !compress {
        return json.to_vec();
    }
    let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 4 + 32), Compression::fast());
    encoder
        .write_all(json)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// Returns the JSON bytes of a stored payload: inflated when it is gzip, else as stored.
pub fn decode(stored: &[u8]) -> Result<Vec<u8>, PayloadError> {
    if !stored.starts_with(&GZIP_MAGIC) {
        return Ok(stored.to_vec());
    }
    let mut inflated = Vec::new();
    let mut decoder = GzDecoder::new(stored).take(MAX_INFLATED_BYTES + 1);
    match decoder.read_to_end(&mut inflated) {
        Ok(_) if inflated.len() as u64 > MAX_INFLATED_BYTES => Err(PayloadError::TooLarge),
        Ok(_) => Ok(inflated),
        // Not a gzip stream after all: Druid falls back to the raw bytes too.
        Err(_) => Ok(stored.to_vec()),
    }
}

/// Returns the JSON value of a stored payload.
pub fn decode_json(stored: &[u8]) -> Result<Value, PayloadError> {
    Ok(serde_json::from_slice(&decode(stored)?)?)
}

/// Returns the JSON a batch znode carries for `segment`, stripped as `config` says.
pub fn announced_segment_json(segment: &DataSegment, config: &BatchConfig) -> Vec<u8> {
    let mut json = segment.to_json();
    if let Value::Object(map) = &mut json {
        if config.skip_load_spec {
            map.insert("loadSpec".into(), Value::Null);
        }
        if config.skip_dimensions_and_metrics {
            map.insert("dimensions".into(), Value::from(""));
            map.insert("metrics".into(), Value::from(""));
        }
    }
    serde_json::to_vec(&json).expect("a JSON value serializes")
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::segment::descriptor::ShardSpec;

    fn segment() -> DataSegment {
        let mut load_spec = Map::new();
        load_spec.insert("type".into(), "local".into());
        DataSegment {
            data_source: "wiki".into(),
            interval: "2015-09-12/2015-09-13".parse().unwrap(),
            version: "v1".into(),
            load_spec,
            dimensions: vec!["page".into()],
            metrics: vec!["count".into()],
            shard_spec: ShardSpec::None,
            binary_version: None,
            size_bytes: 0,
        }
    }

    #[test]
    fn gzip_round_trips_and_raw_passes_through() {
        let json = br#"[{"a":1}]"#;
        let gz = encode(json, true);
        assert_eq!(&gz[..2], &GZIP_MAGIC);
        assert_eq!(decode(&gz).unwrap(), json);
        assert_eq!(decode(&encode(json, false)).unwrap(), json);
        let fake = [0x1f, 0x8b, b'x'];
        assert_eq!(decode(&fake).unwrap(), fake);
    }

    #[test]
    fn refuses_a_gzip_bomb() {
        let zeros = vec![0u8; (MAX_INFLATED_BYTES + 10) as usize];
        let bomb = encode(&zeros, true);
        assert!(matches!(decode(&bomb), Err(PayloadError::TooLarge)));
    }

    #[test]
    fn strips_as_configured() {
        let config = BatchConfig {
            skip_load_spec: true,
            skip_dimensions_and_metrics: true,
            ..BatchConfig::default()
        };
        let value: Value =
            serde_json::from_slice(&announced_segment_json(&segment(), &config)).unwrap();
        assert_eq!(value["loadSpec"], Value::Null);
        assert_eq!(value["dimensions"], "");
        assert_eq!(value["metrics"], "");
        let plain: Value =
            serde_json::from_slice(&announced_segment_json(&segment(), &BatchConfig::default()))
                .unwrap();
        assert_eq!(plain, segment().to_json());
    }
}
