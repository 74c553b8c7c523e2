//! Value predicates of the single-column filters (`selector`, `in`, `bound`, `regex`, `like`,
//! `search`) and the string orderings `bound` and sorting use.

use std::cmp::Ordering;

use regex::Regex;

use crate::query::spec::SearchSpec;
use crate::segment::string_column::java_str_cmp;

/// How strings compare (`ordering` of `bound`, `dimensionOrder` of `limitSpec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StringOrdering {
    /// Java `String.compareTo` (UTF-16 order).
    #[default]
    Lexicographic,
    /// Runs of digits compare as numbers.
    Alphanumeric,
    /// Values compare as numbers; non-numbers sort first.
    Numeric,
    /// Shorter first, then lexicographic.
    Strlen,
    /// Dotted version numbers.
    Version,
}

impl StringOrdering {
    /// Parses Druid's ordering name (case-insensitive).
    pub fn parse(name: &str) -> Option<StringOrdering> {
        match name.to_ascii_lowercase().as_str() {
            "lexicographic" => Some(StringOrdering::Lexicographic),
            "alphanumeric" => Some(StringOrdering::Alphanumeric),
            "numeric" => Some(StringOrdering::Numeric),
            "strlen" => Some(StringOrdering::Strlen),
            "version" => Some(StringOrdering::Version),
            _ => None,
        }
    }

    /// Compares two non-null values.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            StringOrdering::Lexicographic => java_str_cmp(a, b),
            StringOrdering::Alphanumeric => alphanumeric_cmp(a, b),
            StringOrdering::Numeric => match (parse_number(a), parse_number(b)) {
                (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (None, None) => java_str_cmp(a, b),
            },
            StringOrdering::Strlen => a
                .encode_utf16()
                .count()
                .cmp(&b.encode_utf16().count())
                .then_with(|| java_str_cmp(a, b)),
            StringOrdering::Version => version_cmp(a, b),
        }
    }

    /// Compares optional values, null first.
    pub fn compare_opt(self, a: Option<&str>, b: Option<&str>) -> Ordering {
        match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => self.compare(x, y),
        }
    }
}

/// Parses a number the way Druid's numeric comparators do (`BigDecimal`-like).
pub fn parse_number(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    trimmed.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn alphanumeric_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a, b);
    loop {
        match (x.is_empty(), y.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (dx, dy) = (digits(x), digits(y));
        let order = if dx > 0 && dy > 0 {
            let (nx, ny) = (
                x[..dx].trim_start_matches('0'),
                y[..dy].trim_start_matches('0'),
            );
            nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny))
        } else {
            let cx = x.chars().next().unwrap_or_default();
            let cy = y.chars().next().unwrap_or_default();
            cx.cmp(&cy)
        };
        if order != Ordering::Equal {
            return order;
        }
        let step = |s: &str, d: usize| {
            if d > 0 {
                d
            } else {
                s.chars().next().map_or(0, char::len_utf8)
            }
        };
        x = &x[step(x, dx)..];
        y = &y[step(y, dy)..];
    }
}

fn version_cmp(a: &str, b: &str) -> Ordering {
    let parts = |s: &str| -> Vec<i64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a).cmp(&parts(b)).then_with(|| java_str_cmp(a, b))
}

/// One end of a `bound`.
#[derive(Debug, Clone)]
pub struct BoundEnd {
    /// The limit.
    pub value: String,
    /// Excludes the limit itself.
    pub strict: bool,
}

/// What a single-column filter accepts.
#[derive(Debug, Clone)]
pub enum ValuePredicate {
    /// Equal to the value (`None` = null, which also matches "").
    Equals(Option<String>),
    /// One of the values.
    In(Vec<Option<String>>),
    /// Within bounds under an ordering.
    Bound {
        /// Lower end.
        lower: Option<BoundEnd>,
        /// Upper end.
        upper: Option<BoundEnd>,
        /// How values compare.
        ordering: StringOrdering,
    },
    /// Matches a regex somewhere.
    Regex(Regex),
    /// A SQL LIKE pattern, compiled.
    Like(Regex),
    /// A search spec.
    Search(SearchSpec),
}

impl ValuePredicate {
    /// True when the (possibly null) value is accepted.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let value = value.filter(|v| !v.is_empty());
        match self {
            ValuePredicate::Equals(expected) => expected.as_deref() == value,
            ValuePredicate::In(values) => values.iter().any(|v| v.as_deref() == value),
            ValuePredicate::Bound {
                lower,
                upper,
                ordering,
            } => {
                let Some(v) = value else {
                    // Null sorts first: only a bound without a lower end (or an empty one) holds it.
                    return lower
                        .as_ref()
                        .is_none_or(|l| l.value.is_empty() && !l.strict)
                        && *ordering != StringOrdering::Numeric;
                };
                if *ordering == StringOrdering::Numeric && parse_number(v).is_none() {
                    return false;
                }
                let lower_ok = lower.as_ref().is_none_or(|l| {
                    let o = ordering.compare(v, &l.value);
                    o == Ordering::Greater || (o == Ordering::Equal && !l.strict)
                });
                let upper_ok = upper.as_ref().is_none_or(|u| {
                    let o = ordering.compare(v, &u.value);
                    o == Ordering::Less || (o == Ordering::Equal && !u.strict)
                });
                lower_ok && upper_ok
            }
            ValuePredicate::Regex(regex) => value.is_some_and(|v| regex.is_match(v)),
            ValuePredicate::Like(regex) => regex.is_match(value.unwrap_or("")),
            ValuePredicate::Search(spec) => spec.matches(value),
        }
    }

    /// True when the predicate compares numbers (numeric `bound`).
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            ValuePredicate::Bound {
                ordering: StringOrdering::Numeric,
                ..
            }
        )
    }

    /// Matches a number read from a numeric column.
    pub fn matches_number(&self, value: f64, text: &str) -> bool {
        let eq = |expected: &Option<String>| {
            expected
                .as_deref()
                .and_then(parse_number)
                .is_some_and(|e| e == value)
        };
        match self {
            ValuePredicate::Equals(expected) => eq(expected),
            ValuePredicate::In(values) => values.iter().any(eq),
            ValuePredicate::Bound {
                lower,
                upper,
                ordering: StringOrdering::Numeric | StringOrdering::Lexicographic,
            } => {
                let lower_ok = lower.as_ref().is_none_or(|l| {
                    parse_number(&l.value)
                        .is_none_or(|b| if l.strict { value > b } else { value >= b })
                });
                let upper_ok = upper.as_ref().is_none_or(|u| {
                    parse_number(&u.value)
                        .is_none_or(|b| if u.strict { value < b } else { value <= b })
                });
                lower_ok && upper_ok
            }
            other => other.matches(Some(text)),
        }
    }
}

/// Compiles a SQL LIKE pattern (`%` any run, `_` any char, `escape` quotes the next char).
pub fn compile_like(pattern: &str, escape: Option<char>) -> Result<Regex, regex::Error> {
    let mut out = String::from("(?s)^");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            if let Some(next) = chars.next() {
                out.push_str(&regex::escape(&next.to_string()));
            }
            continue;
        }
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push('$');
    Regex::new(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orderings_compare_like_druid() {
        assert_eq!(
            StringOrdering::Numeric.compare("10", "9"),
            Ordering::Greater
        );
        assert_eq!(
            StringOrdering::Lexicographic.compare("10", "9"),
            Ordering::Less
        );
        assert_eq!(
            StringOrdering::Alphanumeric.compare("a10", "a9"),
            Ordering::Greater
        );
        assert_eq!(StringOrdering::Strlen.compare("bb", "a"), Ordering::Greater);
        assert_eq!(
            StringOrdering::Version.compare("1.10", "1.9"),
            Ordering::Greater
        );
    }

    #[test]
    fn bound_respects_strictness_and_numeric_order() {
        let bound = |lower: &str, strict: bool, ordering| ValuePredicate::Bound {
            lower: Some(BoundEnd {
                value: lower.into(),
                strict,
            }),
            upper: None,
            ordering,
        };
        assert!(bound("a", false, StringOrdering::Lexicographic).matches(Some("a")));
        assert!(!bound("a", true, StringOrdering::Lexicographic).matches(Some("a")));
        assert!(bound("9", true, StringOrdering::Numeric).matches(Some("10")));
        assert!(!bound("9", true, StringOrdering::Lexicographic).matches(Some("10")));
        assert!(!bound("9", false, StringOrdering::Numeric).matches(Some("abc")));
    }

    #[test]
    fn like_patterns_translate_wildcards_and_escapes() {
        let like = compile_like("a%b_c", None).unwrap();
        assert!(like.is_match("axxbyc"));
        assert!(!like.is_match("axxbc"));
        let escaped = compile_like("100\\%", Some('\\')).unwrap();
        assert!(escaped.is_match("100%"));
        assert!(!escaped.is_match("1000"));
    }
}
