//! The `regex` parse spec (Druid's `RegexParser`): each line must match `pattern` as a whole;
//! capture group `i` is column `i` (`columns`, or Druid's generated `column_1`, `column_2`, …
//! without them). A line that does not match is unparseable. Values follow the CSV/TSV rules:
//! empty is null, and a value holding `listDelimiter` (default `\u0001`) is a multi-value.

use regex::Regex;

use super::delimited::field_value;
use super::json::{TimestampValue, deliver, finish_spatial};
use super::schema::{RowSchema, Target};
use super::{ParseError, ParsedRow, ParserBuildError};
use crate::config::ParseSpec;

/// State of the regex format: the anchored pattern and the routing of its groups.
#[derive(Debug)]
pub struct RegexFormat {
    regex: Regex,
    pattern: String,
    list_delimiter: String,
    columns: Vec<String>,
    column_targets: Vec<Target>,
}

/// Compiles `pattern` so that it must match a whole line, as Java's `Matcher.matches` does.
pub fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

impl RegexFormat {
    /// Builds the format from its parse spec.
    pub fn new(spec: &ParseSpec) -> Result<RegexFormat, ParserBuildError> {
        let pattern = spec
            .pattern
            .clone()
            .ok_or_else(|| ParserBuildError("format `regex` needs `pattern`".into()))?;
        let regex = compile(&pattern).map_err(|e| ParserBuildError(e.to_string()))?;
        let groups = regex.captures_len() - 1;
        let columns = match &spec.columns {
            Some(columns) if !columns.is_empty() => columns.clone(),
            _ => (1..=groups).map(|i| format!("column_{i}")).collect(),
        };
        Ok(RegexFormat {
            regex,
            pattern,
            list_delimiter: spec
                .list_delimiter
                .clone()
                .unwrap_or_else(|| "\u{1}".to_string()),
            columns,
            column_targets: Vec::new(),
        })
    }

    /// Parses one line into `row`; returns the timestamp value, if any.
    pub fn parse<'a>(
        &mut self,
        line: &'a str,
        schema: &mut RowSchema,
        row: &mut ParsedRow<'a>,
    ) -> Result<Option<TimestampValue<'a>>, ParseError> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let captures = self.regex.captures(line).ok_or_else(|| ParseError::Regex {
            reason: format!("no match for pattern `{}`", self.pattern),
        })?;
        if self.column_targets.len() != self.columns.len() {
            self.column_targets = self.columns.iter().map(|c| schema.target(c)).collect();
        }
        let mut timestamp = None;
        // Groups beyond `columns` are dropped, and columns beyond the groups stay absent
        // (Druid's `zipMapPartial`); a group that took no part in the match is null.
        let groups = captures.len() - 1;
        for (i, target) in self.column_targets.iter().enumerate().take(groups) {
            if let Some(group) = captures.get(i + 1) {
                let value = field_value(group.as_str().into(), &self.list_delimiter);
                deliver(*target, value, row, &mut timestamp);
            }
        }
        finish_spatial(schema, row);
        Ok(timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_must_match_the_whole_line() {
        let regex = compile("a|b").unwrap();
        assert!(regex.is_match("a"));
        assert!(!regex.is_match("ab"), "Java's matches(), not find()");
        assert!(compile("(?<=a)b").is_err(), "look-behind is not supported");
    }
}
