//! Truncating event times to a granularity's bucket start, the hot-path form of
//! [`Granularity::truncate`].

use chrono_tz::Tz;

use super::granularity::Granularity;
use crate::time::{DAY_MS, WEEK_MS};

/// A granularity's truncation with fixed-length UTC buckets (every named granularity up to
/// `WEEK` in UTC, and durations) resolved once into plain arithmetic: the hot path truncates
/// every event twice (segment and query granularity).
#[derive(Debug, Clone)]
pub struct Truncator {
    /// `(bucket length, origin)` in milliseconds, when the buckets are fixed.
    fixed: Option<(i64, i64)>,
    granularity: Granularity,
}

impl Truncator {
    /// The truncation of `granularity`.
    pub fn new(granularity: &Granularity) -> Truncator {
        let fixed = match granularity {
            Granularity::Duration {
                duration_ms,
                origin_ms,
            } => Some((*duration_ms, *origin_ms)),
            Granularity::Period {
                period,
                time_zone: Tz::UTC,
                origin_ms,
                ..
            } => period.fixed_millis().map(|len| {
                let origin = origin_ms.unwrap_or(if period.weeks > 0 && len % WEEK_MS == 0 {
                    4 * DAY_MS
                } else {
                    0
                });
                (len, origin)
            }),
            _ => None,
        };
        Truncator {
            fixed: fixed.filter(|(len, _)| *len > 0),
            granularity: granularity.clone(),
        }
    }

    /// Same as [`Granularity::truncate`].
    #[inline]
    pub fn truncate(&self, ms: i64) -> i64 {
        match self.fixed {
            Some((len, origin)) => ms - (ms - origin).rem_euclid(len),
            None => self.granularity.truncate(ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn granularities() -> Vec<Granularity> {
        let names = [
            "\"NONE\"",
            "\"ALL\"",
            "\"SECOND\"",
            "\"MINUTE\"",
            "\"FIFTEEN_MINUTE\"",
            "\"HOUR\"",
            "\"DAY\"",
            "\"WEEK\"",
            "\"MONTH\"",
            "\"YEAR\"",
            r#"{"type":"period","period":"PT1H","timeZone":"America/Los_Angeles"}"#,
            r#"{"type":"period","period":"P1D","origin":"2015-01-01T05:00:00Z"}"#,
            r#"{"type":"duration","duration":7200000,"origin":"1970-01-01T00:30:00Z"}"#,
        ];
        names
            .iter()
            .map(|n| serde_json::from_str(n).unwrap())
            .collect()
    }

    proptest! {
        #[test]
        fn agrees_with_the_granularity(ms in -100_000_000_000_000i64..100_000_000_000_000) {
            for granularity in granularities() {
                prop_assert_eq!(Truncator::new(&granularity).truncate(ms), granularity.truncate(ms), "{:?}", granularity);
            }
        }
    }
}
