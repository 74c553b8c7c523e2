//! Druid's time functions (macros in Druid: their period, origin, format, unit and zone
//! arguments must be literals, compiled once here). Times are epoch milliseconds.
//!
//! | function | result |
//! |---|---|
//! | `timestamp(s[, pattern])` | `s` parsed (ISO-8601, or a Joda pattern); an error when it does not parse |
//! | `timestamp_parse(s[, pattern[, zone]])` | the same, null when it does not parse; `zone` for strings without one |
//! | `timestamp_floor(t, period[, origin[, zone]])` | start of `t`'s bucket |
//! | `timestamp_ceil(t, period[, origin[, zone]])` | `t` if on a bucket start, else the next start |
//! | `timestamp_shift(t, period, step[, zone])` | `t` plus `step` periods |
//! | `timestamp_extract(t, unit[, zone])` | `EPOCH`, `MILLISECOND`, `SECOND`, `MINUTE`, `HOUR`, `DAY`, `DOW`, `ISODOW`, `DOY`, `WEEK`, `MONTH`, `QUARTER`, `YEAR`, `ISOYEAR`, `DECADE`, `CENTURY`, `MILLENNIUM` |
//! | `timestamp_format(t[, pattern[, zone]])` | `t` as text (ISO-8601 by default) |

use std::borrow::Cow;

use chrono::{Datelike, Timelike};
use chrono_tz::Tz;

use super::eval::{EvalError, EvalResult, eval};
use super::{Bindings, Expr, Value};
use crate::index::granularity::Granularity;
use crate::parse::timestamp::joda::JodaPattern;
use crate::time::{self, Period};

/// A compiled time function.
#[derive(Debug, Clone)]
pub enum TimeFn {
    /// `timestamp` (`lenient`: false) or `timestamp_parse` (true).
    Parse {
        /// Joda pattern; ISO-8601 when `None`.
        pattern: Option<JodaPattern>,
        /// Zone of strings without one.
        zone: Tz,
        /// Null instead of an error when a string does not parse.
        lenient: bool,
    },
    /// `timestamp_floor` / `timestamp_ceil`.
    Bucket {
        /// The period granularity.
        granularity: Granularity,
        /// Ceil instead of floor.
        ceil: bool,
    },
    /// `timestamp_shift` (the step is argument 3).
    Shift {
        /// The period.
        period: Period,
        /// Zone.
        zone: Tz,
    },
    /// `timestamp_extract`.
    Extract {
        /// Upper-case unit name.
        unit: &'static str,
        /// Zone.
        zone: Tz,
    },
    /// `timestamp_format`.
    Format {
        /// chrono form of the Joda pattern; ISO-8601 when `None`.
        chrono_format: Option<String>,
        /// Zone.
        zone: Tz,
    },
}

const UNITS: &[&str] = &[
    "EPOCH",
    "MICROSECOND",
    "MILLISECOND",
    "SECOND",
    "MINUTE",
    "HOUR",
    "DAY",
    "DOW",
    "ISODOW",
    "DOY",
    "WEEK",
    "MONTH",
    "QUARTER",
    "YEAR",
    "ISOYEAR",
    "DECADE",
    "CENTURY",
    "MILLENNIUM",
];

/// Literal argument `i`: a string, `None` when absent or `null`.
fn literal<'e>(name: &str, args: &'e [Expr], i: usize) -> Result<Option<&'e str>, String> {
    match args.get(i) {
        None | Some(Expr::Null) => Ok(None),
        Some(Expr::Str(s)) => Ok(Some(s)),
        Some(_) => Err(format!(
            "argument {} of `{name}` must be a string literal",
            i + 1
        )),
    }
}

fn arity(name: &str, args: &[Expr], fewest: usize, most: usize) -> Result<(), String> {
    if (fewest..=most).contains(&args.len()) {
        Ok(())
    } else {
        Err(format!(
            "function `{name}` takes {fewest} to {most} arguments, not {}",
            args.len()
        ))
    }
}

fn zone(name: &str, args: &[Expr], i: usize) -> Result<Tz, String> {
    match literal(name, args, i)? {
        Some(z) => time::parse_time_zone(z).map_err(|e| format!("`{name}`: {e}")),
        None => Ok(Tz::UTC),
    }
}

fn period(name: &str, args: &[Expr], i: usize) -> Result<Period, String> {
    let text = literal(name, args, i)?.ok_or_else(|| format!("`{name}` needs a period"))?;
    text.parse::<Period>()
        .map_err(|e| format!("`{name}`: bad period `{text}`: {e}"))
}

impl TimeFn {
    /// The time function `name` (lower case) over `args`, `Ok(None)` for other names.
    pub fn compile(name: &str, args: &[Expr]) -> Result<Option<TimeFn>, String> {
        Ok(Some(match name {
            "timestamp" | "timestamp_parse" => {
                arity(name, args, 1, if name == "timestamp" { 2 } else { 3 })?;
                let pattern = literal(name, args, 1)?
                    .map(|p| JodaPattern::compile(p).map_err(|e| format!("`{name}`: {e}")))
                    .transpose()?;
                TimeFn::Parse {
                    pattern,
                    zone: zone(name, args, 2)?,
                    lenient: name != "timestamp",
                }
            }
            "timestamp_floor" | "timestamp_ceil" => {
                arity(name, args, 2, 4)?;
                let origin_ms = literal(name, args, 2)?
                    .map(|o| time::parse_iso(o).map_err(|e| format!("`{name}`: {e}")))
                    .transpose()?;
                let granularity =
                    Granularity::period(period(name, args, 1)?, zone(name, args, 3)?, origin_ms)
                        .map_err(|e| format!("`{name}`: {e}"))?;
                TimeFn::Bucket {
                    granularity,
                    ceil: name == "timestamp_ceil",
                }
            }
            "timestamp_shift" => {
                arity(name, args, 3, 4)?;
                TimeFn::Shift {
                    period: period(name, args, 1)?,
                    zone: zone(name, args, 3)?,
                }
            }
            "timestamp_extract" => {
                arity(name, args, 2, 3)?;
                let unit = literal(name, args, 1)?.unwrap_or("").to_ascii_uppercase();
                let unit = UNITS
                    .iter()
                    .find(|u| **u == unit)
                    .ok_or_else(|| format!("`{name}`: unknown unit `{unit}`"))?;
                TimeFn::Extract {
                    unit,
                    zone: zone(name, args, 2)?,
                }
            }
            "timestamp_format" => {
                arity(name, args, 1, 3)?;
                let chrono_format =
                    literal(name, args, 1)?.map(crate::query::spec::extraction::joda_to_chrono);
                TimeFn::Format {
                    chrono_format,
                    zone: zone(name, args, 2)?,
                }
            }
            _ => return Ok(None),
        }))
    }

    /// Evaluates the function; argument 1 is the time (or the string to parse).
    pub(super) fn call<'b>(&'b self, args: &'b [Expr], b: &'b dyn Bindings) -> EvalResult<'b> {
        let first = eval(&args[0], b)?;
        if first.is_null() {
            return Ok(Value::Null);
        }
        let t = first.as_long();
        Ok(match self {
            TimeFn::Parse {
                pattern,
                zone,
                lenient,
            } => {
                let text = first.as_text().unwrap_or_default();
                match (parse_time(&text, pattern.as_ref(), *zone), &first) {
                    (Some(ms), _) => Value::Long(ms),
                    (None, Value::Long(ms)) => Value::Long(*ms),
                    (None, _) if *lenient => Value::Null,
                    (None, _) => {
                        return Err(EvalError(format!("`timestamp`: cannot parse `{text}`")));
                    }
                }
            }
            TimeFn::Bucket { granularity, ceil } => {
                let floor = granularity.truncate(t);
                Value::Long(if *ceil && floor != t {
                    granularity.increment(floor)
                } else {
                    floor
                })
            }
            TimeFn::Shift { period, zone } => {
                let step = eval(&args[2], b)?
                    .as_long()
                    .clamp(i32::MIN.into(), i32::MAX.into()) as i32;
                period
                    .add_to(t, step, *zone)
                    .map_or(Value::Null, Value::Long)
            }
            TimeFn::Extract { unit, zone } => {
                extract(t, unit, *zone).map_or(Value::Null, Value::Long)
            }
            TimeFn::Format {
                chrono_format,
                zone,
            } => format(t, chrono_format.as_deref(), *zone)
                .map_or(Value::Null, |s| Value::Str(Cow::Owned(s))),
        })
    }
}

/// `text` as epoch millis: ISO-8601 (read in `zone` when it has no offset), or `pattern`.
fn parse_time(text: &str, pattern: Option<&JodaPattern>, zone: Tz) -> Option<i64> {
    let Some(pattern) = pattern else {
        let zone = (zone != Tz::UTC).then_some(zone);
        return time::parse_iso_in(text, zone)
            .ok()
            .or_else(|| crate::parse::timestamp::read_iso(text));
    };
    let utc_ms = pattern.parse(text)?;
    let has_zone = pattern.source().contains(['Z', 'z']);
    if zone == Tz::UTC || has_zone {
        return Some(utc_ms);
    }
    time::local_to_utc_ms(
        zone,
        chrono::DateTime::from_timestamp_millis(utc_ms)?.naive_utc(),
    )
}

fn extract(ms: i64, unit: &str, zone: Tz) -> Option<i64> {
    let local = chrono::DateTime::from_timestamp_millis(ms)?.with_timezone(&zone);
    let year = i64::from(local.year());
    Some(match unit {
        "EPOCH" => ms.div_euclid(1000),
        "MICROSECOND" => i64::from(local.timestamp_subsec_millis()) * 1000,
        "MILLISECOND" => i64::from(local.timestamp_subsec_millis()),
        "SECOND" => local.second().into(),
        "MINUTE" => local.minute().into(),
        "HOUR" => local.hour().into(),
        "DAY" => local.day().into(),
        "DOW" | "ISODOW" => local.weekday().number_from_monday().into(),
        "DOY" => local.ordinal().into(),
        "WEEK" => local.iso_week().week().into(),
        "MONTH" => local.month().into(),
        "QUARTER" => (i64::from(local.month()) - 1) / 3 + 1,
        "YEAR" => year,
        "ISOYEAR" => local.iso_week().year().into(),
        "DECADE" => year.div_euclid(10),
        "CENTURY" => (year + 99).div_euclid(100),
        _ => (year + 999).div_euclid(1000),
    })
}

fn format(ms: i64, chrono_format: Option<&str>, zone: Tz) -> Option<String> {
    let local = chrono::DateTime::from_timestamp_millis(ms)?.with_timezone(&zone);
    Some(match chrono_format {
        None if zone == Tz::UTC => time::format_iso(ms),
        None => local.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string(),
        Some(f) => local.format(f).to_string(),
    })
}
