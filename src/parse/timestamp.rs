//! `timestampSpec.format`: turning the event-time field into epoch milliseconds.
//!
//! `auto` reads numbers and all-digit strings as epoch millis and anything else as ISO-8601
//! (optionally followed by a space and a zone id); `iso`, `millis`, `posix` (seconds), `micro`,
//! `nano` and `ruby` (fractional seconds) are Druid's named formats; anything else is a Joda
//! `DateTimeFormat` pattern such as `yyyy-MM-dd HH:mm:ss` or `dd/MMM/yyyy:HH:mm:ss Z`.

use chrono_tz::Tz;

use crate::time::{self, TimeParseError};

pub mod joda;

pub use joda::JodaPattern;

/// A compiled timestamp format.
#[derive(Debug, Clone, PartialEq)]
pub enum TimestampFormat {
    /// Millis for numbers and digit strings, ISO-8601 otherwise.
    Auto,
    /// ISO-8601 only.
    Iso,
    /// Epoch milliseconds.
    Millis,
    /// Epoch seconds.
    Posix,
    /// Epoch microseconds.
    Micro,
    /// Epoch nanoseconds.
    Nano,
    /// Epoch seconds with a fraction.
    Ruby,
    /// A Joda pattern.
    Pattern(JodaPattern),
}

/// A timestamp that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The format string itself is not valid.
    #[error("invalid timestamp format `{format}`: {reason}")]
    BadFormat {
        /// The format string.
        format: String,
        /// Why.
        reason: String,
    },
    /// The value does not match the format.
    #[error("cannot parse timestamp `{value}` as `{format}`")]
    BadValue {
        /// The offending value (shortened).
        value: String,
        /// The format name.
        format: String,
    },
}

/// A field value the timestamp is read from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimestampInput<'a> {
    /// A JSON string or delimited field.
    Text(&'a str),
    /// A JSON integer.
    Long(i64),
    /// A JSON fractional number.
    Double(f64),
}

impl TimestampFormat {
    /// Compiles a format string.
    pub fn parse(format: &str) -> Result<TimestampFormat, TimestampError> {
        Ok(match format {
            "auto" => TimestampFormat::Auto,
            "iso" => TimestampFormat::Iso,
            "millis" => TimestampFormat::Millis,
            "posix" => TimestampFormat::Posix,
            "micro" => TimestampFormat::Micro,
            "nano" => TimestampFormat::Nano,
            "ruby" => TimestampFormat::Ruby,
            pattern => {
                TimestampFormat::Pattern(JodaPattern::compile(pattern).map_err(|reason| {
                    TimestampError::BadFormat {
                        format: pattern.to_string(),
                        reason,
                    }
                })?)
            }
        })
    }

    fn name(&self) -> String {
        match self {
            TimestampFormat::Auto => "auto".into(),
            TimestampFormat::Iso => "iso".into(),
            TimestampFormat::Millis => "millis".into(),
            TimestampFormat::Posix => "posix".into(),
            TimestampFormat::Micro => "micro".into(),
            TimestampFormat::Nano => "nano".into(),
            TimestampFormat::Ruby => "ruby".into(),
            TimestampFormat::Pattern(p) => p.source().to_string(),
        }
    }

    /// Reads `input` as epoch millis (UTC).
    pub fn read(&self, input: TimestampInput<'_>) -> Result<i64, TimestampError> {
        let result = match (self, input) {
            (TimestampFormat::Auto, TimestampInput::Text(s)) => read_auto(s),
            (TimestampFormat::Auto | TimestampFormat::Millis, TimestampInput::Long(n)) => Some(n),
            (TimestampFormat::Auto | TimestampFormat::Millis, TimestampInput::Double(x)) => {
                Some(x as i64)
            }
            (TimestampFormat::Iso, TimestampInput::Text(s)) => read_iso(s),
            (TimestampFormat::Millis, TimestampInput::Text(s)) => s.trim().parse::<i64>().ok(),
            (TimestampFormat::Posix, _) => read_scaled(input, 1000, 1),
            (TimestampFormat::Micro, _) => read_scaled(input, 1, 1000),
            (TimestampFormat::Nano, _) => read_scaled(input, 1, 1_000_000),
            (TimestampFormat::Ruby, TimestampInput::Text(s)) => {
                s.trim().parse::<f64>().ok().map(|x| (x * 1000.0) as i64)
            }
            (TimestampFormat::Ruby, TimestampInput::Long(n)) => n.checked_mul(1000),
            (TimestampFormat::Ruby, TimestampInput::Double(x)) => Some((x * 1000.0) as i64),
            (TimestampFormat::Pattern(p), TimestampInput::Text(s)) => p.parse(s),
            _ => None,
        };
        result
            .filter(|ms| (time::MIN_INSTANT_MS..=time::MAX_INSTANT_MS).contains(ms))
            .ok_or_else(|| TimestampError::BadValue {
                value: display(input),
                format: self.name(),
            })
    }
}

fn display(input: TimestampInput<'_>) -> String {
    match input {
        TimestampInput::Text(s) => s.chars().take(80).collect(),
        TimestampInput::Long(n) => n.to_string(),
        TimestampInput::Double(x) => x.to_string(),
    }
}

fn read_scaled(input: TimestampInput<'_>, multiply: i64, divide: i64) -> Option<i64> {
    let value = match input {
        TimestampInput::Text(s) => s.trim().parse::<i64>().ok()?,
        TimestampInput::Long(n) => n,
        TimestampInput::Double(x) => x as i64,
    };
    value.checked_mul(multiply).map(|v| v.div_euclid(divide))
}

fn read_auto(s: &str) -> Option<i64> {
    if let Some(ms) = fast_iso(s.as_bytes()) {
        return Some(ms);
    }
    let trimmed = s.trim();
    let digits = trimmed.strip_prefix('-').unwrap_or(trimmed);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed.parse().ok();
    }
    read_iso(trimmed)
}

/// ISO-8601 with a fast path for the canonical `YYYY-MM-DDTHH:MM:SS[.sss]Z` form, and Druid's
/// trailing ` ZoneId` form (`2015-09-12 00:00:00 America/Los_Angeles`).
pub fn read_iso(s: &str) -> Option<i64> {
    if let Some(ms) = fast_iso(s.as_bytes()) {
        return Some(ms);
    }
    match time::parse_iso(s) {
        Ok(ms) => Some(ms),
        Err(_) => {
            let (head, zone) = s.trim().rsplit_once(' ')?;
            let tz: Tz = time::parse_time_zone(zone).ok()?;
            time::parse_iso_in(head, Some(tz)).ok()
        }
    }
}

/// Parses exactly `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS.sssZ` without allocation.
fn fast_iso(b: &[u8]) -> Option<i64> {
    let ms_of_day = fast_iso_time(b)?;
    let mut not_digits = false;
    let mut digit = |at: usize| {
        let value = b[at].wrapping_sub(b'0');
        not_digits |= value > 9;
        i64::from(value)
    };
    let year = digit(0) * 1000 + digit(1) * 100 + digit(2) * 10 + digit(3);
    let month = digit(5) * 10 + digit(6);
    let day = digit(8) * 10 + digit(9);
    if not_digits || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day) * time::DAY_MS + ms_of_day)
}

/// The time-of-day part of [`fast_iso`]'s two forms, in milliseconds, with every byte but the
/// date's digits checked (the `-`s between them included).
fn fast_iso_time(b: &[u8]) -> Option<i64> {
    let with_millis = match b.len() {
        20 => false,
        24 => true,
        _ => return None,
    };
    // A fixed-size copy (`0`s for absent millis) makes every index below a constant in bounds.
    let mut t = [b'0'; 24];
    t[..b.len()].copy_from_slice(b);
    if t[4] != b'-' || t[7] != b'-' || t[10] != b'T' || t[13] != b':' || t[16] != b':' {
        return None;
    }
    if b[b.len() - 1] != b'Z' || (with_millis && t[19] != b'.') {
        return None;
    }
    let mut not_digits = false;
    let mut digit = |at: usize| {
        let value = t[at].wrapping_sub(b'0');
        not_digits |= value > 9;
        i64::from(value)
    };
    let hour = digit(11) * 10 + digit(12);
    let minute = digit(14) * 10 + digit(15);
    let second = digit(17) * 10 + digit(18);
    let millis = digit(20) * 100 + digit(21) * 10 + digit(22);
    if not_digits || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(hour * time::HOUR_MS + minute * time::MINUTE_MS + second * 1000 + millis)
}

/// The date of the last timestamp [`fast_iso_cached`] read and its day number: the events of a
/// stream mostly share their date, which is then neither checked nor converted again.
#[derive(Debug, Clone, Default)]
pub struct DayCache {
    date: [u8; 10],
    days: Option<i64>,
}

/// [`fast_iso`], reusing the day number of the previous timestamp when the date bytes are equal
/// (equal bytes are the same valid date).
pub fn fast_iso_cached(b: &[u8], cache: &mut DayCache) -> Option<i64> {
    if let Some(days) = cache.days
        && b.get(..10) == Some(&cache.date[..])
    {
        return Some(days * time::DAY_MS + fast_iso_time(b)?);
    }
    let ms = fast_iso(b)?;
    cache.date.copy_from_slice(&b[..10]);
    cache.days = Some(ms.div_euclid(time::DAY_MS));
    Some(ms)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl From<TimeParseError> for TimestampError {
    fn from(err: TimeParseError) -> Self {
        TimestampError::BadFormat {
            format: String::new(),
            reason: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_iso;

    fn read(format: &str, input: TimestampInput<'_>) -> Option<i64> {
        TimestampFormat::parse(format).unwrap().read(input).ok()
    }

    #[test]
    fn auto_reads_millis_and_iso() {
        let base = parse_iso("2015-09-12T00:46:58.771Z").unwrap();
        assert_eq!(
            read("auto", TimestampInput::Text("2015-09-12T00:46:58.771Z")),
            Some(base)
        );
        assert_eq!(
            read("auto", TimestampInput::Text("1442018818771")),
            Some(base)
        );
        assert_eq!(read("auto", TimestampInput::Long(base)), Some(base));
        assert_eq!(
            read("auto", TimestampInput::Text("2015-09-12 00:46:58.771")),
            Some(base)
        );
        assert_eq!(
            read(
                "auto",
                TimestampInput::Text("2015-09-11 17:46:58.771 America/Los_Angeles")
            ),
            Some(base)
        );
        assert_eq!(read("auto", TimestampInput::Text("not a time")), None);
        assert_eq!(read("auto", TimestampInput::Text("")), None);
    }

    #[test]
    fn fast_path_agrees_with_the_general_parser() {
        for s in [
            "2016-06-27T23:59:59.999Z",
            "2000-02-29T12:00:00Z",
            "1969-12-31T23:59:59.001Z",
            "2100-03-01T00:00:00Z",
        ] {
            assert_eq!(fast_iso(s.as_bytes()), parse_iso(s).ok(), "{s}");
        }
        assert_eq!(fast_iso(b"2001-02-29T00:00:00Z"), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The day cache never changes an answer: a run of timestamps (valid and invalid, often
        /// sharing a date) reads the same through one cache as through `fast_iso` alone.
        #[test]
        fn the_day_cache_agrees_with_fast_iso(texts in proptest::collection::vec(
            "(2000-02-2[89]|2001-02-29|2016-06-27|0000-01-01|20x6-06-27)T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{3})?Z?",
            1..12,
        )) {
            let mut cache = DayCache::default();
            for text in &texts {
                proptest::prop_assert_eq!(fast_iso_cached(text.as_bytes(), &mut cache), fast_iso(text.as_bytes()), "{}", text);
            }
        }
    }

    #[test]
    fn numeric_formats() {
        assert_eq!(
            read("posix", TimestampInput::Long(1_442_016_000)),
            Some(1_442_016_000_000)
        );
        assert_eq!(
            read("posix", TimestampInput::Text("1442016000")),
            Some(1_442_016_000_000)
        );
        assert_eq!(
            read("millis", TimestampInput::Text("1442016000000")),
            Some(1_442_016_000_000)
        );
        assert_eq!(
            read("nano", TimestampInput::Long(1_442_016_000_000_000_000)),
            Some(1_442_016_000_000)
        );
        assert_eq!(
            read("micro", TimestampInput::Long(1_442_016_000_000_000)),
            Some(1_442_016_000_000)
        );
        assert_eq!(
            read("ruby", TimestampInput::Text("1442016000.5")),
            Some(1_442_016_000_500)
        );
        assert_eq!(read("iso", TimestampInput::Long(5)), None);
    }

    #[test]
    fn joda_patterns() {
        let base = parse_iso("2015-09-12T07:08:09Z").unwrap();
        assert_eq!(
            read(
                "yyyy-MM-dd HH:mm:ss",
                TimestampInput::Text("2015-09-12 07:08:09")
            ),
            Some(base)
        );
        assert_eq!(
            read(
                "dd/MMM/yyyy:HH:mm:ss Z",
                TimestampInput::Text("12/Sep/2015:00:08:09 -0700")
            ),
            Some(base)
        );
        assert_eq!(
            read("yyyyMMdd'T'HHmmss", TimestampInput::Text("20150912T070809")),
            Some(base)
        );
        assert_eq!(
            read(
                "MM/dd/yyyy hh:mm:ss a",
                TimestampInput::Text("09/12/2015 07:08:09 AM")
            ),
            Some(base)
        );
        assert_eq!(
            read("yyyy-MM-dd HH:mm:ss", TimestampInput::Text("2015-09-12")),
            None
        );
        assert!(TimestampFormat::parse("yyyy-MM-dd'T").is_err());
        assert!(TimestampFormat::parse("qqqq").is_err());
    }
}
