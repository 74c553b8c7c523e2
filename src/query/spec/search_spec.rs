//! Search query specs (`contains`, `insensitive_contains`, `fragment`, `regex`): used by the
//! `search` query, the `search` filter and the `searchQuery` extraction function.

use regex::Regex;
use serde_json::Value;

use super::json::obj;
use crate::query::error::{QueryError, QueryResult};

/// A predicate on a string value.
#[derive(Debug, Clone)]
pub enum SearchSpec {
    /// The value contains `value` (case-sensitive or not).
    Contains {
        /// The searched text (lower-cased when not case-sensitive).
        value: String,
        /// Case sensitivity.
        case_sensitive: bool,
    },
    /// The value contains every fragment.
    Fragment {
        /// The fragments (lower-cased when not case-sensitive).
        values: Vec<String>,
        /// Case sensitivity.
        case_sensitive: bool,
    },
    /// The value matches the regular expression somewhere.
    Regex(Regex),
}

impl SearchSpec {
    /// Parses a search spec object.
    pub fn parse(value: &Value) -> QueryResult<SearchSpec> {
        let o = obj(value, "search query spec")?;
        let case = |cs: bool, s: &str| if cs { s.to_string() } else { s.to_lowercase() };
        match o.type_name()? {
            "contains" => {
                let case_sensitive = o.opt_bool("caseSensitive")?.unwrap_or(false);
                Ok(SearchSpec::Contains {
                    value: case(case_sensitive, &o.opt_text("value")?.unwrap_or_default()),
                    case_sensitive,
                })
            }
            "insensitive_contains" => Ok(SearchSpec::Contains {
                value: o.opt_text("value")?.unwrap_or_default().to_lowercase(),
                case_sensitive: false,
            }),
            "fragment" => {
                let case_sensitive = o.opt_bool("caseSensitive")?.unwrap_or(false);
                let values = o.opt_strings("values")?.unwrap_or_default();
                Ok(SearchSpec::Fragment {
                    values: values.iter().map(|v| case(case_sensitive, v)).collect(),
                    case_sensitive,
                })
            }
            "regex" => {
                let pattern = o.str("pattern")?;
                Regex::new(pattern)
                    .map(SearchSpec::Regex)
                    .map_err(|e| QueryError::invalid(format!("invalid regex `{pattern}`: {e}")))
            }
            other => Err(QueryError::invalid(format!(
                "unknown search query spec type `{other}`"
            ))),
        }
    }

    /// True when `value` matches (null never matches).
    pub fn matches(&self, value: Option<&str>) -> bool {
        let Some(value) = value else {
            return false;
        };
        match self {
            SearchSpec::Contains {
                value: needle,
                case_sensitive: true,
            } => value.contains(needle.as_str()),
            SearchSpec::Contains { value: needle, .. } => {
                value.to_lowercase().contains(needle.as_str())
            }
            SearchSpec::Fragment {
                values,
                case_sensitive,
            } => {
                let haystack = if *case_sensitive {
                    value.to_string()
                } else {
                    value.to_lowercase()
                };
                values.iter().all(|v| haystack.contains(v.as_str()))
            }
            SearchSpec::Regex(regex) => regex.is_match(value),
        }
    }
}
