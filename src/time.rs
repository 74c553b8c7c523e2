//! Time as Druid speaks it: epoch milliseconds, ISO-8601 instants, periods and intervals.
//!
//! Druid prints instants the way Joda's `DateTime.toString()` does in UTC
//! (`2015-09-12T00:00:00.000Z`) and accepts the lenient forms of Joda's
//! `ISODateTimeFormat.dateTimeParser()` (`2015-09-12`, `2015-09-12T01`, `2015-09-12 01:02:03+02:00`,
//! any number of fraction digits). Periods are ISO-8601 (`PT10M`, `P1D`, case-insensitive, as
//! Druid's examples write `PT10m`). Intervals are `start/end`, `start/period` or `period/end`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Milliseconds in one second, minute, hour, day and week.
pub const SECOND_MS: i64 = 1_000;
/// Milliseconds in a minute.
pub const MINUTE_MS: i64 = 60 * SECOND_MS;
/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
/// Milliseconds in a day.
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// Milliseconds in a week.
pub const WEEK_MS: i64 = 7 * DAY_MS;

/// An error in a time, period or interval string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{input}`")]
pub struct TimeParseError {
    what: &'static str,
    input: String,
}

impl TimeParseError {
    fn new(what: &'static str, input: &str) -> Self {
        Self {
            what,
            input: input.chars().take(100).collect(),
        }
    }
}

/// Formats epoch millis as Joda prints a UTC `DateTime`: `2015-09-12T00:00:00.000Z`.
pub fn format_iso(ms: i64) -> String {
    let mut out = String::with_capacity(24);
    write_iso(&mut out, ms);
    out
}

/// Appends the Joda UTC form of `ms` to `out`.
pub fn write_iso(out: &mut String, ms: i64) {
    use std::fmt::Write;
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(dt) => {
            let year = dt.year();
            if (0..=9999).contains(&year) {
                let _ = write!(out, "{year:04}");
            } else {
                let _ = write!(out, "{year:+05}");
            }
            let _ = write!(
                out,
                "-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second(),
                dt.timestamp_subsec_millis()
            );
        }
        None => {
            let _ = write!(out, "{ms}");
        }
    }
}

/// Parses an ISO-8601 instant as Joda's lenient `dateTimeParser` does; no offset means UTC.
pub fn parse_iso(input: &str) -> Result<i64, TimeParseError> {
    parse_iso_in(input, None)
}

/// Parses an ISO-8601 instant; a value without an offset is read in `zone` (UTC when `None`).
pub fn parse_iso_in(input: &str, zone: Option<Tz>) -> Result<i64, TimeParseError> {
    let err = || TimeParseError::new("ISO-8601 time", input);
    let s = input.trim();
    let (date_part, rest) = split_date(s).ok_or_else(err)?;
    let date = parse_date(date_part).ok_or_else(err)?;
    let (time_part, offset_part) = split_offset(rest);
    let (hms, nanos) = parse_time_of_day(time_part).ok_or_else(err)?;
    let naive = date
        .and_hms_nano_opt(hms.0, hms.1, hms.2, nanos)
        .ok_or_else(err)?;
    let utc_ms = match offset_part {
        Some(off) => {
            let offset_ms = parse_offset_ms(off).ok_or_else(err)?;
            naive.and_utc().timestamp_millis() - offset_ms
        }
        None => match zone {
            Some(tz) => local_to_utc_ms(tz, naive).ok_or_else(err)?,
            None => naive.and_utc().timestamp_millis(),
        },
    };
    Ok(utc_ms)
}

/// Splits `s` into the date and everything after it (`T...`, ` ...` or empty).
fn split_date(s: &str) -> Option<(&str, &str)> {
    let end = s.find(['T', 't', ' ']).unwrap_or(s.len());
    let (date, rest) = s.split_at(end);
    let rest = rest.get(1..).unwrap_or("");
    if date.is_empty() {
        return None;
    }
    Some((date, rest))
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let mut parts = s.split('-');
    let year_str = parts.next()?;
    let year = parse_digits(year_str, 4, 9)? as i32;
    let month = match parts.next() {
        Some(m) => parse_digits(m, 1, 2)? as u32,
        None => 1,
    };
    let day = match parts.next() {
        Some(d) => parse_digits(d, 1, 2)? as u32,
        None => 1,
    };
    if parts.next().is_some() {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

fn parse_digits(s: &str, min_len: usize, max_len: usize) -> Option<i64> {
    if s.len() < min_len || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Splits `HH:mm:ss.SSS+02:00` into the time and the offset (`Z`, `+02:00`, `-0530`, `+02`).
fn split_offset(s: &str) -> (&str, Option<&str>) {
    if let Some(stripped) = s.strip_suffix(['Z', 'z']) {
        return (stripped, Some("Z"));
    }
    match s.rfind(['+', '-']) {
        Some(pos) => (&s[..pos], Some(&s[pos..])),
        None => (s, None),
    }
}

fn parse_time_of_day(s: &str) -> Option<((u32, u32, u32), u32)> {
    if s.is_empty() {
        return Some(((0, 0, 0), 0));
    }
    let (main, fraction) = match s.find(['.', ',']) {
        Some(pos) => (&s[..pos], Some(&s[pos + 1..])),
        None => (s, None),
    };
    let mut fields = main.split(':');
    let hour = parse_digits(fields.next()?, 2, 2)? as u32;
    let minute = fields
        .next()
        .map(|m| parse_digits(m, 2, 2))
        .unwrap_or(Some(0))? as u32;
    let second = fields
        .next()
        .map(|m| parse_digits(m, 2, 2))
        .unwrap_or(Some(0))? as u32;
    if fields.next().is_some() {
        return None;
    }
    let nanos = match fraction {
        Some(f) => {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let digits: String = f.chars().chain(std::iter::repeat('0')).take(9).collect();
            digits.parse().ok()?
        }
        None => 0,
    };
    Some(((hour, minute, second), nanos))
}

fn parse_offset_ms(s: &str) -> Option<i64> {
    if s == "Z" {
        return Some(0);
    }
    let sign = if s.starts_with('-') { -1 } else { 1 };
    let body = &s[1..];
    let (h, m) = match body.len() {
        2 => (body, "00"),
        4 => (&body[..2], &body[2..]),
        5 if &body[2..3] == ":" => (&body[..2], &body[3..]),
        _ => return None,
    };
    let hours = parse_digits(h, 2, 2)?;
    let minutes = parse_digits(m, 2, 2)?;
    Some(sign * (hours * HOUR_MS + minutes * MINUTE_MS))
}

/// Converts a local wall-clock time in `tz` to UTC millis, taking the earlier instant when the
/// wall-clock time is ambiguous and the instant after the gap when it does not exist.
pub fn local_to_utc_ms(tz: Tz, naive: NaiveDateTime) -> Option<i64> {
    use chrono::LocalResult;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(dt) => Some(dt.timestamp_millis()),
        LocalResult::Ambiguous(early, _) => Some(early.timestamp_millis()),
        LocalResult::None => {
            // Inside a DST gap: move forward until the wall clock exists again.
            let mut probe = naive;
            for _ in 0..(4 * 60) {
                probe += chrono::Duration::minutes(1);
                if let LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) =
                    tz.from_local_datetime(&probe)
                {
                    return Some(dt.timestamp_millis());
                }
            }
            None
        }
    }
}

/// Returns the wall-clock time of `ms` in `tz`.
pub fn utc_to_local(tz: Tz, ms: i64) -> Option<NaiveDateTime> {
    let utc = DateTime::<Utc>::from_timestamp_millis(ms)?;
    Some(utc.with_timezone(&tz).naive_local())
}

/// An ISO-8601 period such as `PT10M` or `P1Y2M`: calendar fields, kept apart so that months and
/// years follow the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Period {
    /// Years.
    pub years: i32,
    /// Months.
    pub months: i32,
    /// Weeks.
    pub weeks: i32,
    /// Days.
    pub days: i32,
    /// Hours.
    pub hours: i32,
    /// Minutes.
    pub minutes: i32,
    /// Seconds.
    pub seconds: i32,
    /// Milliseconds.
    pub millis: i32,
}

impl Period {
    /// A period of `ms` milliseconds, as Druid writes durations (hours, minutes, seconds, millis).
    pub fn from_millis(ms: i64) -> Self {
        let mut rest = ms;
        let hours = rest / HOUR_MS;
        rest %= HOUR_MS;
        let minutes = rest / MINUTE_MS;
        rest %= MINUTE_MS;
        let seconds = rest / SECOND_MS;
        let millis = rest % SECOND_MS;
        Period {
            hours: hours as i32,
            minutes: minutes as i32,
            seconds: seconds as i32,
            millis: millis as i32,
            ..Period::default()
        }
    }

    /// True when the period has no calendar fields (years, months), so it has a fixed length.
    pub fn is_fixed(&self) -> bool {
        self.years == 0 && self.months == 0
    }

    /// Returns the length in milliseconds when the period is fixed (weeks, days as 24 h).
    pub fn fixed_millis(&self) -> Option<i64> {
        if !self.is_fixed() {
            return None;
        }
        Some(
            self.weeks as i64 * WEEK_MS
                + self.days as i64 * DAY_MS
                + self.hours as i64 * HOUR_MS
                + self.minutes as i64 * MINUTE_MS
                + self.seconds as i64 * SECOND_MS
                + self.millis as i64,
        )
    }

    /// Returns an approximate length in milliseconds (months as 30 days, years as 365 days), for
    /// comparisons between periods only.
    pub fn approx_millis(&self) -> i64 {
        let calendar = self.years as i64 * 365 * DAY_MS + self.months as i64 * 30 * DAY_MS;
        calendar
            + Period {
                years: 0,
                months: 0,
                ..*self
            }
            .fixed_millis()
            .unwrap_or(0)
    }

    /// True when every field is zero.
    pub fn is_zero(&self) -> bool {
        *self == Period::default()
    }

    /// Adds `times` of this period to the UTC instant `ms`, calendar fields in `tz`.
    pub fn add_to(&self, ms: i64, times: i32, tz: Tz) -> Option<i64> {
        if self.is_fixed() && tz == Tz::UTC {
            return self
                .fixed_millis()
                .and_then(|len| len.checked_mul(times as i64))
                .and_then(|d| ms.checked_add(d));
        }
        let local = utc_to_local(tz, ms)?;
        let months = (self.years * 12 + self.months) * times;
        let shifted = if months >= 0 {
            local.checked_add_months(Months::new(months as u32))?
        } else {
            local.checked_sub_months(Months::new(months.unsigned_abs()))?
        };
        let days = (self.weeks * 7 + self.days) * times;
        let shifted = if days >= 0 {
            shifted.checked_add_days(Days::new(days as u64))?
        } else {
            shifted.checked_sub_days(Days::new(days.unsigned_abs() as u64))?
        };
        let base = local_to_utc_ms(tz, shifted)?;
        let clock = Period {
            years: 0,
            months: 0,
            weeks: 0,
            days: 0,
            ..*self
        };
        base.checked_add(
            clock
                .fixed_millis()
                .unwrap_or(0)
                .checked_mul(times as i64)?,
        )
    }
}

impl FromStr for Period {
    type Err = TimeParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = || TimeParseError::new("ISO-8601 period", input);
        let upper = input.trim().to_ascii_uppercase();
        let body = upper.strip_prefix('P').ok_or_else(err)?;
        if body.is_empty() {
            return Err(err());
        }
        let mut period = Period::default();
        let mut in_time = false;
        let mut number = String::new();
        let mut seen_field = false;
        for c in body.chars() {
            match c {
                'T' if !in_time && number.is_empty() => in_time = true,
                '0'..='9' | '.' | '-' => number.push(c),
                _ => {
                    seen_field = true;
                    apply_period_field(&mut period, c, in_time, &number).ok_or_else(err)?;
                    number.clear();
                }
            }
        }
        if !number.is_empty() || !seen_field {
            return Err(err());
        }
        Ok(period)
    }
}

fn apply_period_field(period: &mut Period, unit: char, in_time: bool, number: &str) -> Option<()> {
    if unit == 'S' && in_time && number.contains('.') {
        let (whole, frac) = number.split_once('.')?;
        period.seconds = whole.parse().ok()?;
        let frac3: String = frac.chars().chain(std::iter::repeat('0')).take(3).collect();
        period.millis = frac3.parse().ok()?;
        return Some(());
    }
    let value: i32 = number.parse().ok()?;
    match (unit, in_time) {
        ('Y', false) => period.years = value,
        ('M', false) => period.months = value,
        ('W', false) => period.weeks = value,
        ('D', false) => period.days = value,
        ('H', true) => period.hours = value,
        ('M', true) => period.minutes = value,
        ('S', true) => period.seconds = value,
        _ => return None,
    }
    Some(())
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("PT0S");
        }
        f.write_str("P")?;
        for (value, unit) in [
            (self.years, 'Y'),
            (self.months, 'M'),
            (self.weeks, 'W'),
            (self.days, 'D'),
        ] {
            if value != 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        if self.hours != 0 || self.minutes != 0 || self.seconds != 0 || self.millis != 0 {
            f.write_str("T")?;
            if self.hours != 0 {
                write!(f, "{}H", self.hours)?;
            }
            if self.minutes != 0 {
                write!(f, "{}M", self.minutes)?;
            }
            if self.millis != 0 {
                write!(f, "{}.{:03}S", self.seconds, self.millis)?;
            } else if self.seconds != 0 {
                write!(f, "{}S", self.seconds)?;
            }
        }
        Ok(())
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A half-open UTC interval `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval {
    /// Inclusive start, epoch millis.
    pub start_ms: i64,
    /// Exclusive end, epoch millis.
    pub end_ms: i64,
}

/// The interval Druid uses for "everything": `-146136543-09-08T08:23:32.096Z/146140482-04-24T15:36:27.903Z`.
pub const ETERNITY: Interval = Interval {
    start_ms: -4_611_686_018_427_387_904,
    end_ms: 4_611_686_018_427_387_903,
};

impl Interval {
    /// Builds `[start_ms, end_ms)`.
    pub fn new(start_ms: i64, end_ms: i64) -> Self {
        Interval { start_ms, end_ms }
    }

    /// True when `ms` lies inside the interval.
    pub fn contains(&self, ms: i64) -> bool {
        self.start_ms <= ms && ms < self.end_ms
    }

    /// True when `other` lies entirely inside this interval.
    pub fn contains_interval(&self, other: &Interval) -> bool {
        self.start_ms <= other.start_ms && other.end_ms <= self.end_ms
    }

    /// True when the two intervals share at least one millisecond.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start_ms < other.end_ms && other.start_ms < self.end_ms
    }

    /// The overlap of the two intervals, if any.
    pub fn intersect(&self, other: &Interval) -> Option<Interval> {
        let start_ms = self.start_ms.max(other.start_ms);
        let end_ms = self.end_ms.min(other.end_ms);
        (start_ms < end_ms).then_some(Interval { start_ms, end_ms })
    }

    /// Length in milliseconds.
    pub fn duration_ms(&self) -> i64 {
        self.end_ms - self.start_ms
    }

    /// The directory-name form Druid uses: `start_end` with Joda ISO instants.
    pub fn to_path_component(&self) -> String {
        format!("{}_{}", format_iso(self.start_ms), format_iso(self.end_ms))
    }

    /// Parses `start/end`, `start/period` or `period/end`, instants read in `zone` (UTC if `None`).
    pub fn parse_in(input: &str, zone: Option<Tz>) -> Result<Interval, TimeParseError> {
        let err = || TimeParseError::new("ISO-8601 interval", input);
        let (left, right) = input.trim().split_once('/').ok_or_else(err)?;
        let tz = zone.unwrap_or(Tz::UTC);
        let is_period = |s: &str| s.starts_with(['P', 'p']);
        let (start_ms, end_ms) = match (is_period(left), is_period(right)) {
            (false, false) => (parse_iso_in(left, zone)?, parse_iso_in(right, zone)?),
            (false, true) => {
                let start = parse_iso_in(left, zone)?;
                let period: Period = right.parse()?;
                (start, period.add_to(start, 1, tz).ok_or_else(err)?)
            }
            (true, false) => {
                let end = parse_iso_in(right, zone)?;
                let period: Period = left.parse()?;
                (period.add_to(end, -1, tz).ok_or_else(err)?, end)
            }
            (true, true) => return Err(err()),
        };
        if end_ms < start_ms {
            return Err(err());
        }
        Ok(Interval { start_ms, end_ms })
    }
}

impl FromStr for Interval {
    type Err = TimeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Interval::parse_in(s, None)
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            format_iso(self.start_ms),
            format_iso(self.end_ms)
        )
    }
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a time zone id (`UTC`, `America/Los_Angeles`, `+05:30`, `Etc/GMT-5`).
pub fn parse_time_zone(input: &str) -> Result<Tz, TimeParseError> {
    let err = || TimeParseError::new("time zone", input);
    if input.eq_ignore_ascii_case("utc") || input == "Z" {
        return Ok(Tz::UTC);
    }
    if let Ok(tz) = input.parse::<Tz>() {
        return Ok(tz);
    }
    // Fixed offsets: chrono-tz only knows whole-hour `Etc/GMT±N` zones (with inverted sign).
    if input.starts_with(['+', '-']) {
        let offset_ms = parse_offset_ms(input).ok_or_else(err)?;
        if offset_ms % HOUR_MS == 0 {
            let hours = offset_ms / HOUR_MS;
            let name = if hours == 0 {
                "Etc/GMT".to_string()
            } else {
                format!("Etc/GMT{:+}", -hours)
            };
            return name.parse::<Tz>().map_err(|_| err());
        }
    }
    Err(err())
}

/// Earliest instant rtnode accepts as an event time: 0001-01-01T00:00:00Z.
pub const MIN_INSTANT_MS: i64 = -62_135_596_800_000;
/// Latest instant rtnode accepts as an event time: 9999-12-31T23:59:59.999Z.
pub const MAX_INSTANT_MS: i64 = 253_402_300_799_999;

/// Returns the current wall-clock time in epoch millis.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_joda() {
        assert_eq!(format_iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_iso(1_442_016_000_000), "2015-09-12T00:00:00.000Z");
        assert_eq!(format_iso(1_442_016_000_123), "2015-09-12T00:00:00.123Z");
    }

    #[test]
    fn parses_lenient_iso_forms() {
        let base = 1_442_016_000_000;
        for s in [
            "2015-09-12",
            "2015-09-12T00",
            "2015-09-12T00:00",
            "2015-09-12T00:00:00Z",
            "2015-09-12 00:00:00",
            "2015-09-12T02:00:00+02:00",
            "2015-09-12T02:00:00.000+0200",
            "2015-09-11T22:00:00-02",
        ] {
            assert_eq!(parse_iso(s), Ok(base), "{s}");
        }
        assert_eq!(
            parse_iso("2015-09-12T00:46:58.771Z"),
            Ok(base + 46 * MINUTE_MS + 58_771)
        );
        assert_eq!(parse_iso("2015-09-12T00:00:00.1234567Z"), Ok(base + 123));
        assert_eq!(parse_iso("2015"), Ok(1_420_070_400_000));
        for bad in [
            "",
            "x",
            "2015-13-01",
            "2015-09-12T25:00",
            "2015-09-12T00:00:00+2",
            "12/09/2015",
        ] {
            assert!(parse_iso(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_periods_case_insensitively() {
        assert_eq!(
            "PT10m".parse::<Period>().unwrap().fixed_millis(),
            Some(10 * MINUTE_MS)
        );
        assert_eq!(
            "p1d".parse::<Period>().unwrap().fixed_millis(),
            Some(DAY_MS)
        );
        assert_eq!(
            "PT1.5S".parse::<Period>().unwrap().fixed_millis(),
            Some(1500)
        );
        let p: Period = "P1Y2M".parse().unwrap();
        assert_eq!((p.years, p.months, p.is_fixed()), (1, 2, false));
        assert_eq!(p.to_string(), "P1Y2M");
        assert_eq!("PT10M".parse::<Period>().unwrap().to_string(), "PT10M");
        for bad in ["", "P", "PT", "10M", "P1H", "PT1D", "P1.5D"] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_intervals_with_periods() {
        let i: Interval = "2015-09-12/p1d".parse().unwrap();
        assert_eq!(
            i.to_string(),
            "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z"
        );
        let j: Interval = "P1D/2015-09-13".parse().unwrap();
        assert_eq!(i, j);
        let m: Interval = "2016-01-31/P1M".parse().unwrap();
        assert_eq!(format_iso(m.end_ms), "2016-02-29T00:00:00.000Z");
        assert!("2015-09-13/2015-09-12".parse::<Interval>().is_err());
        assert_eq!(
            i.to_path_component(),
            "2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z"
        );
    }

    #[test]
    fn parses_zones_and_local_times() {
        let la = parse_time_zone("America/Los_Angeles").unwrap();
        assert_eq!(
            parse_iso_in("2015-09-12T00:00:00", Some(la)),
            Ok(1_442_016_000_000 + 7 * HOUR_MS)
        );
        assert_eq!(
            parse_time_zone("+05:00").unwrap(),
            "Etc/GMT-5".parse::<Tz>().unwrap()
        );
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }
}
