//! Druid granularities: how time is bucketed into segments (`segmentGranularity`) and rows
//! (`queryGranularity`), and how queries bucket results.
//!
//! Named granularities (`SECOND` … `YEAR`) are UTC-aligned periods, exactly as Druid defines them.
//! `{"type":"period","period":"P1D","timeZone":"America/Los_Angeles","origin":…}` aligns buckets to
//! the wall clock of a zone; `{"type":"duration","duration":3600000,"origin":…}` to fixed lengths.
//! `NONE` keeps millisecond precision; `ALL` puts every instant into one bucket.

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::time::{self, DAY_MS, Period, TimeParseError, WEEK_MS};

/// A bucketing of time.
#[derive(Debug, Clone, PartialEq)]
pub enum Granularity {
    /// Every instant in one bucket.
    All,
    /// Millisecond buckets (no truncation).
    None,
    /// Buckets of a period, aligned to the wall clock of `time_zone` and to `origin_ms`.
    Period {
        /// The bucket length.
        period: Period,
        /// Zone whose wall clock the buckets follow.
        time_zone: Tz,
        /// An instant on a bucket boundary; `None` means the local epoch.
        origin_ms: Option<i64>,
        /// The Druid name when this is a named granularity (`HOUR`, …).
        name: Option<&'static str>,
    },
    /// Fixed-length buckets measured from `origin_ms`.
    Duration {
        /// Bucket length in milliseconds.
        duration_ms: i64,
        /// An instant on a bucket boundary (epoch when 0).
        origin_ms: i64,
    },
}

/// The named granularities Druid accepts, with their periods.
const NAMED: &[(&str, &str)] = &[
    ("SECOND", "PT1S"),
    ("MINUTE", "PT1M"),
    ("FIVE_MINUTE", "PT5M"),
    ("TEN_MINUTE", "PT10M"),
    ("FIFTEEN_MINUTE", "PT15M"),
    ("THIRTY_MINUTE", "PT30M"),
    ("HOUR", "PT1H"),
    ("SIX_HOUR", "PT6H"),
    ("EIGHT_HOUR", "PT8H"),
    ("DAY", "P1D"),
    ("WEEK", "P1W"),
    ("MONTH", "P1M"),
    ("QUARTER", "P3M"),
    ("YEAR", "P1Y"),
];

/// An error in a granularity definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GranularityError {
    /// Not one of the names Druid knows.
    #[error(
        "unknown granularity `{0}` (expected one of ALL, NONE, SECOND, MINUTE, FIVE_MINUTE, TEN_MINUTE, FIFTEEN_MINUTE, THIRTY_MINUTE, HOUR, SIX_HOUR, EIGHT_HOUR, DAY, WEEK, MONTH, QUARTER, YEAR, or a period/duration object)"
    )]
    UnknownName(String),
    /// A period that mixes calendar fields with others, which cannot bucket consistently.
    #[error(
        "period `{0}` mixes calendar fields (years, months) with other fields; use a single kind of field"
    )]
    MixedPeriod(Period),
    /// A zero or negative length.
    #[error("granularity length must be positive")]
    NotPositive,
    /// A malformed time, zone or period.
    #[error(transparent)]
    Time(#[from] TimeParseError),
}

impl Granularity {
    /// Looks up a named granularity, case-insensitively.
    pub fn named(name: &str) -> Result<Granularity, GranularityError> {
        let upper = name.to_ascii_uppercase();
        match upper.as_str() {
            "ALL" => return Ok(Granularity::All),
            "NONE" => return Ok(Granularity::None),
            _ => {}
        }
        let (canonical, period) = NAMED
            .iter()
            .find(|(n, _)| *n == upper)
            .ok_or_else(|| GranularityError::UnknownName(name.to_string()))?;
        Ok(Granularity::Period {
            period: period.parse().expect("named periods are valid"),
            time_zone: Tz::UTC,
            origin_ms: None,
            name: Some(canonical),
        })
    }

    /// Builds a period granularity, checking that it can bucket consistently.
    pub fn period(
        period: Period,
        time_zone: Tz,
        origin_ms: Option<i64>,
    ) -> Result<Granularity, GranularityError> {
        if period.approx_millis() <= 0 {
            return Err(GranularityError::NotPositive);
        }
        if !period.is_fixed()
            && (period
                != Period {
                    years: period.years,
                    months: period.months,
                    ..Period::default()
                })
        {
            return Err(GranularityError::MixedPeriod(period));
        }
        let name = if time_zone == Tz::UTC && origin_ms.is_none() {
            NAMED
                .iter()
                .find(|(_, p)| p.parse::<Period>().ok() == Some(period))
                .map(|(n, _)| *n)
        } else {
            None
        };
        Ok(Granularity::Period {
            period,
            time_zone,
            origin_ms,
            name,
        })
    }

    /// The Druid name of this granularity, if it has one (`ALL`, `NONE`, `HOUR`, …).
    pub fn name(&self) -> Option<&'static str> {
        match self {
            Granularity::All => Some("ALL"),
            Granularity::None => Some("NONE"),
            Granularity::Period { name, .. } => *name,
            Granularity::Duration { .. } => None,
        }
    }

    /// Returns the start of the bucket holding `ms`.
    pub fn truncate(&self, ms: i64) -> i64 {
        match self {
            Granularity::All => i64::MIN / 2,
            Granularity::None => ms,
            Granularity::Duration {
                duration_ms,
                origin_ms,
            } => ms - (ms - origin_ms).rem_euclid(*duration_ms),
            Granularity::Period {
                period,
                time_zone,
                origin_ms,
                ..
            } => truncate_period(period, *time_zone, *origin_ms, ms).unwrap_or(ms),
        }
    }

    /// Returns the start of the bucket after the one that starts at `bucket_start_ms`.
    pub fn increment(&self, bucket_start_ms: i64) -> i64 {
        match self {
            Granularity::All => i64::MAX / 2,
            Granularity::None => bucket_start_ms + 1,
            Granularity::Duration { duration_ms, .. } => bucket_start_ms + duration_ms,
            Granularity::Period {
                period, time_zone, ..
            } => period
                .add_to(bucket_start_ms, 1, *time_zone)
                .unwrap_or(i64::MAX / 2),
        }
    }

    /// Returns the bucket `[start, end)` holding `ms`.
    pub fn bucket(&self, ms: i64) -> time::Interval {
        let start = self.truncate(ms);
        time::Interval::new(start, self.increment(start))
    }

    /// An approximate bucket length in milliseconds, for ordering granularities.
    pub fn approx_millis(&self) -> i64 {
        match self {
            Granularity::All => i64::MAX,
            Granularity::None => 1,
            Granularity::Duration { duration_ms, .. } => *duration_ms,
            Granularity::Period { period, .. } => period.approx_millis(),
        }
    }

    /// Parses the JSON forms Druid accepts: a name, or a `period` / `duration` / `all` / `none` object.
    pub fn from_json(value: &Value) -> Result<Granularity, GranularityError> {
        match value {
            Value::String(name) => Granularity::named(name),
            Value::Object(map) => Granularity::from_object(map),
            other => Err(GranularityError::UnknownName(other.to_string())),
        }
    }

    fn from_object(map: &Map<String, Value>) -> Result<Granularity, GranularityError> {
        let kind = map.get("type").and_then(Value::as_str).unwrap_or("period");
        let origin_ms = match map.get("origin") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(time::parse_iso(s)?),
            Some(Value::Number(n)) => n.as_i64(),
            Some(other) => return Err(GranularityError::UnknownName(other.to_string())),
        };
        match kind {
            "period" => {
                let period_str = map.get("period").and_then(Value::as_str).unwrap_or("");
                let period: Period = period_str.parse()?;
                let time_zone = match map.get("timeZone").and_then(Value::as_str) {
                    Some(zone) => time::parse_time_zone(zone)?,
                    None => Tz::UTC,
                };
                Granularity::period(period, time_zone, origin_ms)
            }
            "duration" => {
                let duration_ms = map.get("duration").and_then(Value::as_i64).unwrap_or(0);
                if duration_ms <= 0 {
                    return Err(GranularityError::NotPositive);
                }
                Ok(Granularity::Duration {
                    duration_ms,
                    origin_ms: origin_ms.unwrap_or(0),
                })
            }
            other => Granularity::named(other),
        }
    }

    /// The JSON Druid ≥ 0.12 writes: a name where there is one, else the object form.
    pub fn to_json(&self) -> Value {
        if let Some(name) = self.name() {
            return Value::String(name.to_string());
        }
        let mut map = Map::new();
        match self {
            Granularity::Period {
                period,
                time_zone,
                origin_ms,
                ..
            } => {
                map.insert("type".into(), "period".into());
                map.insert("period".into(), period.to_string().into());
                map.insert("timeZone".into(), time_zone.name().into());
                map.insert(
                    "origin".into(),
                    origin_ms
                        .map(time::format_iso)
                        .map(Value::from)
                        .unwrap_or(Value::Null),
                );
            }
            Granularity::Duration {
                duration_ms,
                origin_ms,
            } => {
                map.insert("type".into(), "duration".into());
                map.insert("duration".into(), (*duration_ms).into());
                map.insert("origin".into(), time::format_iso(*origin_ms).into());
            }
            Granularity::All | Granularity::None => unreachable!("named above"),
        }
        Value::Object(map)
    }
}

/// Truncates `ms` to a period bucket on the wall clock of `tz`.
fn truncate_period(period: &Period, tz: Tz, origin_ms: Option<i64>, ms: i64) -> Option<i64> {
    if let Some(len) = period.fixed_millis() {
        if tz == Tz::UTC {
            let origin = origin_ms.unwrap_or(if period.weeks > 0 && len % WEEK_MS == 0 {
                4 * DAY_MS
            } else {
                0
            });
            return Some(ms - (ms - origin).rem_euclid(len));
        }
        // Align on local wall-clock time: work in "local millis" and convert back.
        let local_ms = time::utc_to_local(tz, ms)?.and_utc().timestamp_millis();
        let origin_local = match origin_ms {
            Some(o) => time::utc_to_local(tz, o)?.and_utc().timestamp_millis(),
            None if period.weeks > 0 && len % WEEK_MS == 0 => 4 * DAY_MS,
            None => 0,
        };
        let start_local = local_ms - (local_ms - origin_local).rem_euclid(len);
        let naive = chrono::DateTime::from_timestamp_millis(start_local)?.naive_utc();
        return time::local_to_utc_ms(tz, naive);
    }
    let local = time::utc_to_local(tz, ms)?;
    let months_per_bucket = period.years * 12 + period.months;
    let origin_index = match origin_ms {
        Some(o) => month_index(&time::utc_to_local(tz, o)?),
        None => 0,
    };
    let index = month_index(&local);
    let start_index = index - (index - origin_index).rem_euclid(months_per_bucket);
    let start = NaiveDate::from_ymd_opt(
        start_index.div_euclid(12),
        (start_index.rem_euclid(12) + 1) as u32,
        1,
    )?;
    time::local_to_utc_ms(tz, start.and_hms_opt(0, 0, 0)?)
}

fn month_index(local: &NaiveDateTime) -> i32 {
    local.year() * 12 + local.month0() as i32
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => f.write_str(&self.to_json().to_string()),
        }
    }
}

impl Serialize for Granularity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Granularity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Granularity::from_json(&value).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{HOUR_MS, format_iso, parse_iso};

    fn g(json: &str) -> Granularity {
        Granularity::from_json(&serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn named_granularities_truncate_in_utc() {
        let t = parse_iso("2015-09-12T13:47:31.123Z").unwrap();
        let cases = [
            ("\"none\"", "2015-09-12T13:47:31.123Z"),
            ("\"second\"", "2015-09-12T13:47:31.000Z"),
            ("\"MINUTE\"", "2015-09-12T13:47:00.000Z"),
            ("\"fifteen_minute\"", "2015-09-12T13:45:00.000Z"),
            ("\"HOUR\"", "2015-09-12T13:00:00.000Z"),
            ("\"SIX_HOUR\"", "2015-09-12T12:00:00.000Z"),
            ("\"DAY\"", "2015-09-12T00:00:00.000Z"),
            ("\"WEEK\"", "2015-09-07T00:00:00.000Z"),
            ("\"MONTH\"", "2015-09-01T00:00:00.000Z"),
            ("\"QUARTER\"", "2015-07-01T00:00:00.000Z"),
            ("\"YEAR\"", "2015-01-01T00:00:00.000Z"),
        ];
        for (json, expected) in cases {
            assert_eq!(format_iso(g(json).truncate(t)), expected, "{json}");
        }
        let day = g("\"DAY\"");
        assert_eq!(
            format_iso(day.increment(day.truncate(t))),
            "2015-09-13T00:00:00.000Z"
        );
        let month = g("\"MONTH\"");
        assert_eq!(
            format_iso(month.increment(month.truncate(t))),
            "2015-10-01T00:00:00.000Z"
        );
    }

    #[test]
    fn period_granularity_follows_the_zone() {
        let la = g(r#"{"type":"period","period":"P1D","timeZone":"America/Los_Angeles"}"#);
        let t = parse_iso("2015-09-12T03:00:00Z").unwrap();
        assert_eq!(format_iso(la.truncate(t)), "2015-09-11T07:00:00.000Z");
        assert_eq!(la.increment(la.truncate(t)) - la.truncate(t), 24 * HOUR_MS);
        let origin = g(r#"{"type":"period","period":"PT2H","origin":"1970-01-01T01:00:00Z"}"#);
        assert_eq!(
            format_iso(origin.truncate(parse_iso("2015-09-12T02:30:00Z").unwrap())),
            "2015-09-12T01:00:00.000Z"
        );
        assert_eq!(
            g(r#"{"type":"period","period":"PT1H"}"#).name(),
            Some("HOUR")
        );
    }

    #[test]
    fn duration_and_all() {
        let d = g(r#"{"type":"duration","duration":7200000,"origin":"1970-01-01T01:00:00Z"}"#);
        assert_eq!(
            format_iso(d.truncate(parse_iso("2015-09-12T02:30:00Z").unwrap())),
            "2015-09-12T01:00:00.000Z"
        );
        let all = g("\"all\"");
        assert_eq!(all.truncate(5), all.truncate(-5));
        assert!(Granularity::from_json(&serde_json::json!("fortnight")).is_err());
        assert!(
            Granularity::from_json(&serde_json::json!({"type":"period","period":"P1M1D"})).is_err()
        );
    }

    #[test]
    fn serializes_names_and_objects() {
        assert_eq!(g("\"hour\"").to_json(), serde_json::json!("HOUR"));
        let la = g(r#"{"type":"period","period":"P1D","timeZone":"America/Los_Angeles"}"#);
        assert_eq!(la.to_json()["timeZone"], "America/Los_Angeles");
        assert_eq!(Granularity::from_json(&la.to_json()).unwrap(), la);
    }
}
