//! Extraction functions (`extractionFn`): map a dimension value (or `__time`) to another
//! string before filtering or grouping. Druid's legacy null rule applies: an empty result is null.

use std::collections::HashMap;

use chrono_tz::Tz;
use regex::Regex;
use serde_json::Value;

use super::json::obj;
use super::search_spec::SearchSpec;
use crate::index::granularity::Granularity;
use crate::query::error::{QueryError, QueryResult};

/// An extraction function.
#[derive(Debug, Clone)]
pub enum ExtractionFn {
    /// `substring`: `length` chars (all when `None`) from char `index`.
    Substring {
        /// First char.
        index: usize,
        /// Char count.
        length: Option<usize>,
    },
    /// `regex`: capture group `index` of the first match.
    Regex {
        /// The expression.
        regex: Regex,
        /// The group.
        index: usize,
        /// Replace non-matching values with `replace_with` instead of keeping them.
        replace_missing: bool,
        /// The replacement.
        replace_with: Option<String>,
    },
    /// `partial`: the value when the regex matches, else null.
    Partial(Regex),
    /// `searchQuery`: the value when the search spec matches, else null.
    SearchQuery(SearchSpec),
    /// `upper`.
    Upper,
    /// `lower`.
    Lower,
    /// `strlen`: the length in UTF-16 units.
    Strlen,
    /// `lookup` with an inline `map`.
    Lookup {
        /// The map.
        map: HashMap<String, String>,
        /// Keep unmapped values.
        retain_missing: bool,
        /// Replacement of unmapped values.
        replace_missing_with: Option<String>,
    },
    /// `stringFormat`: `format` with `%s` replaced by the value.
    StringFormat {
        /// The format.
        format: String,
        /// `nullString` (default), `emptyString` or `returnNull`.
        null_handling: String,
    },
    /// `timeFormat`: formats epoch millis (or an ISO string) with a Joda pattern.
    TimeFormat {
        /// The chrono form of the pattern; `None` is ISO.
        chrono_format: Option<String>,
        /// Zone.
        time_zone: Tz,
        /// Granularity applied before formatting.
        granularity: Option<Granularity>,
        /// Return epoch millis as a string.
        as_millis: bool,
    },
    /// `cascade`: each function in turn.
    Cascade(Vec<ExtractionFn>),
}

impl ExtractionFn {
    /// Parses an extraction function.
    pub fn parse(value: &Value) -> QueryResult<ExtractionFn> {
        let o = obj(value, "extractionFn")?;
        let regex = |key: &str| -> QueryResult<Regex> {
            let pattern = o.str(key)?;
            Regex::new(pattern)
                .map_err(|e| QueryError::invalid(format!("invalid regex `{pattern}`: {e}")))
        };
        Ok(match o.type_name()? {
            "substring" => ExtractionFn::Substring {
                index: o.opt_i64("index")?.unwrap_or(0).max(0) as usize,
                length: o.opt_i64("length")?.map(|l| l.max(0) as usize),
            },
            "regex" => ExtractionFn::Regex {
                regex: regex("expr")?,
                index: o.opt_i64("index")?.unwrap_or(1).max(0) as usize,
                replace_missing: o.opt_bool("replaceMissingValue")?.unwrap_or(false),
                replace_with: o.opt_text("replaceMissingValueWith")?,
            },
            "partial" => ExtractionFn::Partial(regex("expr")?),
            "searchQuery" => ExtractionFn::SearchQuery(SearchSpec::parse(
                o.get("query").ok_or_else(|| o.missing("query"))?,
            )?),
            "upper" => ExtractionFn::Upper,
            "lower" => ExtractionFn::Lower,
            "strlen" => ExtractionFn::Strlen,
            "lookup" => parse_lookup(o)?,
            "stringFormat" => ExtractionFn::StringFormat {
                format: o.str("format")?.to_string(),
                null_handling: o
                    .opt_str("nullHandling")?
                    .unwrap_or("nullString")
                    .to_string(),
            },
            "timeFormat" => parse_time_format(o)?,
            "cascade" => ExtractionFn::Cascade(
                o.array("extractionFns")?
                    .iter()
                    .map(ExtractionFn::parse)
                    .collect::<QueryResult<Vec<_>>>()?,
            ),
            other @ ("registeredLookup" | "javascript" | "bucket" | "time") => {
                return Err(QueryError::unsupported(format!(
                    "extraction function `{other}` is not supported by this node"
                )));
            }
            other => {
                return Err(QueryError::invalid(format!(
                    "unknown extraction function type `{other}`"
                )));
            }
        })
    }

    /// Applies the function to a string value (null in, possibly non-null out).
    pub fn apply(&self, value: Option<&str>) -> Option<String> {
        let out = self.apply_raw(value);
        out.filter(|s| !s.is_empty())
    }

    /// Applies the function to epoch millis (`__time`).
    pub fn apply_time(&self, ms: i64) -> Option<String> {
        match self {
            ExtractionFn::TimeFormat { .. } => self.format_time(ms),
            ExtractionFn::Cascade(fns) => {
                let mut iter = fns.iter();
                let first = iter.next()?;
                let mut value = first.apply_time(ms);
                for f in iter {
                    value = f.apply(value.as_deref());
                }
                value
            }
            _ => self.apply(Some(&ms.to_string())),
        }
    }

    fn apply_raw(&self, value: Option<&str>) -> Option<String> {
        match self {
            ExtractionFn::Substring { index, length } => {
                let v = value?;
                let chars: Vec<char> = v.chars().collect();
                if *index >= chars.len() {
                    return None;
                }
                let end = length.map_or(chars.len(), |l| (index + l).min(chars.len()));
                Some(chars[*index..end].iter().collect())
            }
            ExtractionFn::Regex {
                regex,
                index,
                replace_missing,
                replace_with,
            } => {
                let v = value.unwrap_or("");
                match regex.captures(v).and_then(|c| c.get(*index)) {
                    Some(m) => Some(m.as_str().to_string()),
                    None if *replace_missing => replace_with.clone(),
                    None => value.map(str::to_string),
                }
            }
            ExtractionFn::Partial(regex) => value.filter(|v| regex.is_match(v)).map(Into::into),
            ExtractionFn::SearchQuery(spec) => {
                value.filter(|v| spec.matches(Some(v))).map(Into::into)
            }
            ExtractionFn::Upper => value.map(str::to_uppercase),
            ExtractionFn::Lower => value.map(str::to_lowercase),
            ExtractionFn::Strlen => Some(value.map_or(0, |v| v.encode_utf16().count()).to_string()),
            ExtractionFn::Lookup {
                map,
                retain_missing,
                replace_missing_with,
            } => match value.and_then(|v| map.get(v)) {
                Some(mapped) => Some(mapped.clone()),
                None if *retain_missing => value.map(str::to_string),
                None => replace_missing_with.clone(),
            },
            ExtractionFn::StringFormat {
                format,
                null_handling,
            } => {
                let v = match (value, null_handling.as_str()) {
                    (None, "returnNull") => return None,
                    (None, "emptyString") => "",
                    (None, _) => "null",
                    (Some(v), _) => v,
                };
                Some(format.replacen("%s", v, 1))
            }
            ExtractionFn::TimeFormat { .. } => {
                let v = value?;
                let ms = v
                    .parse::<i64>()
                    .ok()
                    .or_else(|| crate::time::parse_iso(v).ok())?;
                self.format_time(ms)
            }
            ExtractionFn::Cascade(fns) => {
                let mut current = value.map(str::to_string);
                for f in fns {
                    current = f.apply(current.as_deref());
                }
                current
            }
        }
    }

    fn format_time(&self, ms: i64) -> Option<String> {
        let ExtractionFn::TimeFormat {
            chrono_format,
            time_zone,
            granularity,
            as_millis,
        } = self
        else {
            return None;
        };
        let ms = granularity.as_ref().map_or(ms, |g| g.truncate(ms));
        if *as_millis {
            return Some(ms.to_string());
        }
        let utc = chrono::DateTime::from_timestamp_millis(ms)?;
        let local = utc.with_timezone(time_zone);
        Some(match chrono_format {
            None if *time_zone == Tz::UTC => crate::time::format_iso(ms),
            None => local.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string(),
            Some(format) => local.format(format).to_string(),
        })
    }
}

fn parse_lookup(o: super::json::Obj<'_>) -> QueryResult<ExtractionFn> {
    let lookup = obj(
        o.get("lookup").ok_or_else(|| o.missing("lookup"))?,
        "lookup",
    )?;
    if lookup.type_name()? != "map" {
        return Err(QueryError::unsupported(format!(
            "lookup type `{}` is not supported (only inline `map`)",
            lookup.type_name()?
        )));
    }
    let map_value = lookup.get("map").ok_or_else(|| lookup.missing("map"))?;
    let map = obj(map_value, "lookup map")?
        .map
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), Into::into),
            )
        })
        .collect();
    Ok(ExtractionFn::Lookup {
        map,
        retain_missing: o.opt_bool("retainMissingValue")?.unwrap_or(false),
        replace_missing_with: o.opt_text("replaceMissingValueWith")?,
    })
}

fn parse_time_format(o: super::json::Obj<'_>) -> QueryResult<ExtractionFn> {
    let time_zone = match o.opt_str("timeZone")? {
        Some(zone) => crate::time::parse_time_zone(zone)
            .map_err(|e| QueryError::invalid(format!("invalid timeZone: {e}")))?,
        None => Tz::UTC,
    };
    let granularity = match o.get("granularity") {
        Some(g) => Some(
            Granularity::from_json(g)
                .map_err(|e| QueryError::invalid(format!("invalid granularity: {e}")))?,
        ),
        None => None,
    };
    Ok(ExtractionFn::TimeFormat {
        chrono_format: o.opt_str("format")?.map(joda_to_chrono),
        time_zone,
        granularity,
        as_millis: o.opt_bool("asMillis")?.unwrap_or(false),
    })
}

/// Translates the common Joda pattern letters to chrono's `strftime` form.
pub fn joda_to_chrono(pattern: &str) -> String {
    const TOKENS: &[(&str, &str)] = &[
        ("yyyy", "%Y"),
        ("YYYY", "%Y"),
        ("yy", "%y"),
        ("MMMM", "%B"),
        ("MMM", "%b"),
        ("MM", "%m"),
        ("dd", "%d"),
        ("EEEE", "%A"),
        ("EEE", "%a"),
        ("HH", "%H"),
        ("hh", "%I"),
        ("mm", "%M"),
        ("ss", "%S"),
        ("SSS", "%3f"),
        ("a", "%p"),
        ("ZZ", "%:z"),
        ("Z", "%z"),
        ("z", "%Z"),
        ("D", "%j"),
    ];
    let mut out = String::new();
    let mut rest = pattern;
    while !rest.is_empty() {
        if let Some(stripped) = rest.strip_prefix('\'') {
            let end = stripped.find('\'').unwrap_or(stripped.len());
            out.push_str(&stripped[..end].replace('%', "%%"));
            rest = stripped.get(end + 1..).unwrap_or("");
            continue;
        }
        if let Some((token, format)) = TOKENS.iter().find(|(t, _)| rest.starts_with(t)) {
            out.push_str(format);
            rest = &rest[token.len()..];
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn apply(spec: serde_json::Value, value: Option<&str>) -> Option<String> {
        ExtractionFn::parse(&spec).unwrap().apply(value)
    }

    #[test]
    fn string_functions_follow_druid() {
        let substring = json!({"type": "substring", "index": 1, "length": 3});
        assert_eq!(
            apply(substring.clone(), Some("abcdef")).as_deref(),
            Some("bcd")
        );
        assert_eq!(apply(substring, Some("a")), None, "empty results are null");
        let regex = json!({"type": "regex", "expr": "(\\w+)-(\\d+)", "index": 2});
        assert_eq!(apply(regex.clone(), Some("ab-12")).as_deref(), Some("12"));
        assert_eq!(
            apply(regex, Some("zz")).as_deref(),
            Some("zz"),
            "kept when not matching"
        );
        let lookup = json!({"type": "lookup", "lookup": {"type": "map", "map": {"a": "A"}},
            "replaceMissingValueWith": "?"});
        assert_eq!(apply(lookup.clone(), Some("a")).as_deref(), Some("A"));
        assert_eq!(apply(lookup, Some("b")).as_deref(), Some("?"));
        let cascade =
            json!({"type": "cascade", "extractionFns": [{"type": "upper"}, {"type": "strlen"}]});
        assert_eq!(apply(cascade, Some("héllo")).as_deref(), Some("5"));
        let format =
            json!({"type": "stringFormat", "format": "[%s]", "nullHandling": "returnNull"});
        assert_eq!(apply(format.clone(), Some("x")).as_deref(), Some("[x]"));
        assert_eq!(apply(format, None), None);
        assert!(matches!(
            ExtractionFn::parse(&json!({"type": "registeredLookup", "lookup": "x"})),
            Err(QueryError::Unsupported(_))
        ));
    }

    #[test]
    fn time_format_uses_joda_patterns_zones_and_granularity() {
        let f = ExtractionFn::parse(&json!({"type": "timeFormat", "format": "yyyy-MM-dd'T'HH",
            "timeZone": "Asia/Kolkata", "granularity": "hour"}))
        .unwrap();
        assert_eq!(
            f.apply_time(1_377_910_953_000).as_deref(),
            Some("2013-08-31T06")
        );
        let iso =
            ExtractionFn::parse(&json!({"type": "timeFormat", "granularity": "day"})).unwrap();
        assert_eq!(
            iso.apply_time(1_377_910_953_000).as_deref(),
            Some("2013-08-31T00:00:00.000Z")
        );
    }
}
