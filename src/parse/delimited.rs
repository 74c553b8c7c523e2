//! The `csv` and `tsv` parse specs.
//!
//! CSV follows RFC 4180 quoting (`"a,b"`, `""` for a quote), as Druid's opencsv-based parser
//! does; TSV splits on `delimiter` (default tab) without quoting, as Druid's Guava splitter does.
//! Empty fields are null; a field holding `listDelimiter` (default `\u0001`) is a multi-value.
//! Column names come from `columns` or, with `hasHeaderRow`, from each file's first line.

use std::borrow::Cow;

use super::json::{JsonValue, TimestampValue, deliver, finish_spatial};
use super::schema::{RowSchema, Target};
use super::{ParseError, ParsedRow, ParserBuildError};
use crate::config::{InputFormat, ParseSpec};

/// State of a delimited format: columns, header handling, routing per column.
#[derive(Debug)]
pub struct DelimitedFormat {
    csv: bool,
    delimiter: String,
    list_delimiter: String,
    columns: Vec<String>,
    has_header_row: bool,
    skip_header_rows: u32,
    lines_in_file: u64,
    column_targets: Vec<Target>,
}

impl DelimitedFormat {
    /// Builds the format from its parse spec.
    pub fn new(format: InputFormat, spec: &ParseSpec) -> Result<DelimitedFormat, ParserBuildError> {
        let csv = format == InputFormat::Csv;
        let delimiter = if csv {
            ",".to_string()
        } else {
            spec.delimiter.clone().unwrap_or_else(|| "\t".to_string())
        };
        if delimiter.is_empty() {
            return Err(ParserBuildError(
                "`delimiter` must not be empty".to_string(),
            ));
        }
        Ok(DelimitedFormat {
            csv,
            delimiter,
            list_delimiter: spec
                .list_delimiter
                .clone()
                .unwrap_or_else(|| "\u{1}".to_string()),
            columns: spec.columns.clone().unwrap_or_default(),
            has_header_row: spec.has_header_row,
            skip_header_rows: spec.skip_header_rows,
            lines_in_file: 0,
            column_targets: Vec::new(),
        })
    }

    /// Resets per-file header state.
    pub fn start_file(&mut self) {
        self.lines_in_file = 0;
    }

    fn name(&self) -> &'static str {
        if self.csv { "csv" } else { "tsv" }
    }

    /// Parses one line; `Ok(None)` for header lines, else the timestamp value (if any).
    #[allow(clippy::type_complexity)]
    pub fn parse<'a>(
        &mut self,
        line: &'a str,
        schema: &mut RowSchema,
        row: &mut ParsedRow<'a>,
    ) -> Result<Option<Option<TimestampValue<'a>>>, ParseError> {
        self.lines_in_file += 1;
        if self.lines_in_file <= self.skip_header_rows as u64 {
            return Ok(None);
        }
        let values = self.split(line)?;
        if self.has_header_row && self.lines_in_file == self.skip_header_rows as u64 + 1 {
            self.columns = values.into_iter().map(|v| v.into_owned()).collect();
            self.column_targets.clear();
            return Ok(None);
        }
        if values.len() > self.columns.len() {
            return Err(ParseError::Delimited {
                format: self.name(),
                reason: format!(
                    "line has {} fields but `columns` lists {}",
                    values.len(),
                    self.columns.len()
                ),
            });
        }
        if self.column_targets.len() != self.columns.len() {
            self.column_targets = self.columns.iter().map(|c| schema.target(c)).collect();
        }
        let mut timestamp = None;
        for (i, value) in values.into_iter().enumerate() {
            let target = self.column_targets[i];
            let json = field_value(value, &self.list_delimiter);
            deliver(target, json, row, &mut timestamp);
        }
        finish_spatial(schema, row);
        Ok(Some(timestamp))
    }

    fn split<'a>(&self, line: &'a str) -> Result<Vec<Cow<'a, str>>, ParseError> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !self.csv {
            return Ok(line
                .split(self.delimiter.as_str())
                .map(Cow::Borrowed)
                .collect());
        }
        split_csv(line).map_err(|reason| ParseError::Delimited {
            format: "csv",
            reason,
        })
    }
}

/// A CSV/TSV/regex field as a value: empty is null, and a field holding `list_delimiter` is a
/// multi-value (its empty parts null).
pub(super) fn field_value<'a>(value: Cow<'a, str>, list_delimiter: &str) -> JsonValue<'a> {
    if value.is_empty() {
        return JsonValue::Null;
    }
    if value.contains(list_delimiter) {
        let parts = value
            .split(list_delimiter)
            .map(|p| (!p.is_empty()).then(|| Cow::Owned(p.to_string())))
            .collect();
        return JsonValue::List(parts);
    }
    JsonValue::Str(value)
}

/// Splits one CSV line with RFC 4180 quoting; unquoted fields stay borrowed.
pub fn split_csv(line: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let mut fields = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    loop {
        if bytes.get(i) == Some(&b'"') {
            let mut value = String::new();
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err("unterminated quoted field".to_string()),
                    Some(b'"') if bytes.get(i + 1) == Some(&b'"') => {
                        value.push('"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(_) => {
                        let next = line[i..].find('"').map(|p| i + p).unwrap_or(line.len());
                        value.push_str(&line[i..next]);
                        i = next;
                    }
                }
            }
            fields.push(Cow::Owned(value));
            match bytes.get(i) {
                None => return Ok(fields),
                Some(b',') => i += 1,
                Some(_) => {
                    return Err(format!(
                        "unexpected character after a closing quote at byte {i}"
                    ));
                }
            }
        } else {
            let end = line[i..].find(',').map(|p| i + p);
            match end {
                Some(end) => {
                    fields.push(Cow::Borrowed(&line[i..end]));
                    i = end + 1;
                }
                None => {
                    fields.push(Cow::Borrowed(&line[i..]));
                    return Ok(fields);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_csv_with_quotes() {
        let fields = split_csv(r#"a,"b,c","say ""hi""",,e"#).unwrap();
        assert_eq!(fields, ["a", "b,c", "say \"hi\"", "", "e"]);
        assert!(matches!(fields[0], Cow::Borrowed(_)));
        assert!(split_csv(r#"a,"b"#).is_err());
        assert!(split_csv(r#""a"b"#).is_err());
        assert_eq!(split_csv("").unwrap(), [""]);
    }
}
