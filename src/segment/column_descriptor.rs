//! `ColumnDescriptor`: the JSON at the start of every column's internal file.
//!
//! ```text
//! +-------------------+-------------------------------------------+----------------------+
//! | length i32 (BE)   | UTF-8 JSON                                | part bytes, in order |
//! +-------------------+-------------------------------------------+----------------------+
//! {"valueType":"LONG","hasMultipleValues":false,"parts":[{"type":"long","byteOrder":"LITTLE_ENDIAN"}]}
//! parts: {"type":"long"|"float"|"double","byteOrder":…}
//!        {"type":"complex","typeName":"hyperUnique"}
//!        {"type":"stringDictionary","bitmapSerdeFactory":{"type":"roaring"},"byteOrder":…}
//! ```
//! Keys are written in Jackson's order so the JSON matches Druid's byte for byte; any key order
//! is read.

use serde_json::{Map, Value, json};

use super::bitmap::BitmapKind;
use super::block_column::ByteOrder;
use super::format::{Cursor, FormatError, corrupt};

/// The `valueType` of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// `STRING`.
    String,
    /// `LONG`.
    Long,
    /// `FLOAT`.
    Float,
    /// `DOUBLE`.
    Double,
    /// `COMPLEX`.
    Complex,
}

impl ValueType {
    /// Returns Druid's name.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "STRING",
            ValueType::Long => "LONG",
            ValueType::Float => "FLOAT",
            ValueType::Double => "DOUBLE",
            ValueType::Complex => "COMPLEX",
        }
    }

    fn from_name(name: &str) -> Result<ValueType, FormatError> {
        match name {
            "STRING" => Ok(ValueType::String),
            "LONG" => Ok(ValueType::Long),
            "FLOAT" => Ok(ValueType::Float),
            "DOUBLE" => Ok(ValueType::Double),
            "COMPLEX" => Ok(ValueType::Complex),
            other => Err(FormatError::Unsupported(format!("value type `{other}`"))),
        }
    }
}

/// One column part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Compressed longs.
    Long(ByteOrder),
    /// Compressed floats.
    Float(ByteOrder),
    /// Compressed doubles.
    Double(ByteOrder),
    /// Per-row serialized objects of a complex type.
    Complex {
        /// The serde type name (`hyperUnique`, …).
        type_name: String,
    },
    /// A dictionary-encoded string column with bitmap indexes.
    StringDictionary {
        /// Bitmap serialization.
        bitmap: BitmapKind,
        /// Byte order of the id blocks.
        order: ByteOrder,
    },
}

impl Part {
    fn to_json(&self) -> Value {
        match self {
            Part::Long(order) => json!({"type": "long", "byteOrder": order.name()}),
            Part::Float(order) => json!({"type": "float", "byteOrder": order.name()}),
            Part::Double(order) => json!({"type": "double", "byteOrder": order.name()}),
            Part::Complex { type_name } => json!({"type": "complex", "typeName": type_name}),
            Part::StringDictionary { bitmap, order } => {
                json!({"type": "stringDictionary", "bitmapSerdeFactory": bitmap.to_json(), "byteOrder": order.name()})
            }
        }
    }

    fn from_json(value: &Value) -> Result<Part, FormatError> {
        let map = value
            .as_object()
            .ok_or_else(|| corrupt("column part is not a JSON object"))?;
        let kind = map
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| corrupt("column part without `type`"))?;
        let order = || -> Result<ByteOrder, FormatError> {
            match map.get("byteOrder").and_then(Value::as_str) {
                Some(name) => ByteOrder::from_name(name),
                None => Ok(ByteOrder::Little),
            }
        };
        match kind {
            "long" => Ok(Part::Long(order()?)),
            "float" => Ok(Part::Float(order()?)),
            "double" => Ok(Part::Double(order()?)),
            "complex" => {
                let type_name = map
                    .get("typeName")
                    .and_then(Value::as_str)
                    .ok_or_else(|| corrupt("complex part without `typeName`"))?;
                Ok(Part::Complex {
                    type_name: type_name.to_string(),
                })
            }
            "stringDictionary" => {
                let bitmap = match map.get("bitmapSerdeFactory") {
                    Some(factory) => BitmapKind::from_json(factory)?,
                    None => BitmapKind::Concise,
                };
                Ok(Part::StringDictionary {
                    bitmap,
                    order: order()?,
                })
            }
            "longV2" | "nestedCommonFormat" | "variant" | "json" => Err(FormatError::Unsupported(
                format!("column part type `{kind}` (newer Druid format)"),
            )),
            other => Err(corrupt(format!("unknown column part type `{other}`"))),
        }
    }
}

/// A parsed column descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDescriptor {
    /// The column value type.
    pub value_type: ValueType,
    /// True for multi-value string columns.
    pub has_multiple_values: bool,
    /// The parts (one in every column this crate reads or writes).
    pub parts: Vec<Part>,
}

impl ColumnDescriptor {
    /// Builds a one-part descriptor.
    pub fn single(value_type: ValueType, has_multiple_values: bool, part: Part) -> Self {
        ColumnDescriptor {
            value_type,
            has_multiple_values,
            parts: vec![part],
        }
    }

    /// Returns the JSON text in Jackson's key order.
    pub fn to_json_string(&self) -> String {
        let mut map = Map::new();
        map.insert("valueType".into(), self.value_type.name().into());
        map.insert("hasMultipleValues".into(), self.has_multiple_values.into());
        map.insert(
            "parts".into(),
            Value::Array(self.parts.iter().map(Part::to_json).collect()),
        );
        Value::Object(map).to_string()
    }

    /// Parses the descriptor JSON.
    pub fn from_json_str(text: &str) -> Result<ColumnDescriptor, FormatError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| corrupt(format!("bad column descriptor JSON: {e}")))?;
        let value_type = value
            .get("valueType")
            .and_then(Value::as_str)
            .ok_or_else(|| corrupt("descriptor without `valueType`"))?;
        let value_type = ValueType::from_name(value_type)?;
        let has_multiple_values = value
            .get("hasMultipleValues")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let parts = value
            .get("parts")
            .and_then(Value::as_array)
            .ok_or_else(|| corrupt("descriptor without `parts`"))?;
        let parts = parts
            .iter()
            .map(Part::from_json)
            .collect::<Result<Vec<_>, _>>()?;
        if parts.len() != 1 {
            return Err(FormatError::Unsupported(format!(
                "column with {} parts",
                parts.len()
            )));
        }
        Ok(ColumnDescriptor {
            value_type,
            has_multiple_values,
            parts,
        })
    }

    /// Reads the serialized descriptor at the start of a column file, leaving the cursor on the
    /// first part.
    pub fn read(cursor: &mut Cursor<'_>) -> Result<ColumnDescriptor, FormatError> {
        ColumnDescriptor::from_json_str(cursor.string("column descriptor")?)
    }

    /// Returns the only part.
    pub fn part(&self) -> &Part {
        &self.parts[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_match_druid_json_exactly() {
        let cases = [
            r#"{"valueType":"LONG","hasMultipleValues":false,"parts":[{"type":"long","byteOrder":"LITTLE_ENDIAN"}]}"#,
            r#"{"valueType":"COMPLEX","hasMultipleValues":false,"parts":[{"type":"complex","typeName":"hyperUnique"}]}"#,
            r#"{"valueType":"STRING","hasMultipleValues":true,"parts":[{"type":"stringDictionary","bitmapSerdeFactory":{"type":"concise"},"byteOrder":"LITTLE_ENDIAN"}]}"#,
            r#"{"valueType":"STRING","hasMultipleValues":false,"parts":[{"type":"stringDictionary","bitmapSerdeFactory":{"type":"roaring"},"byteOrder":"LITTLE_ENDIAN"}]}"#,
            r#"{"valueType":"DOUBLE","hasMultipleValues":false,"parts":[{"type":"double","byteOrder":"LITTLE_ENDIAN"}]}"#,
            r#"{"valueType":"FLOAT","hasMultipleValues":false,"parts":[{"type":"float","byteOrder":"LITTLE_ENDIAN"}]}"#,
        ];
        for text in cases {
            assert_eq!(
                ColumnDescriptor::from_json_str(text)
                    .unwrap()
                    .to_json_string(),
                text
            );
        }
    }

    #[test]
    fn damaged_and_newer_parts_are_errors() {
        let damaged = r#"{"valueType":"LONG","hasMultipleValues":false,"parts":[{"type":"llll","byteOrder":"LITTLE_ENDIAN"}]}"#;
        assert!(
            matches!(ColumnDescriptor::from_json_str(damaged), Err(FormatError::Corrupt(m)) if m.contains("llll"))
        );
        let newer = r#"{"valueType":"LONG","hasMultipleValues":false,"parts":[{"type":"longV2"}]}"#;
        assert!(matches!(
            ColumnDescriptor::from_json_str(newer),
            Err(FormatError::Unsupported(_))
        ));
        assert!(ColumnDescriptor::from_json_str("{").is_err());
    }
}
