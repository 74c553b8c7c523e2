//! Rejection policies (reference §2.2): which event times a sink still accepts, and the time
//! merge-and-push measures sink age against.
//!
//! | policy | accepts `t` when | "current max time" |
//! |---|---|---|
//! | `serverTime` | `now - window ≤ t ≤ now + window` | now |
//! | `messageTime` | `t ≥ maxSeen - window` (maxSeen = the latest event time so far) | maxSeen |
//! | `none` | always | never advances: sinks are pushed only when the input ends |

use std::sync::Arc;

use super::clock::Clock;
use crate::config::RejectionPolicy;

/// Why an event was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Older than the window allows.
    Late,
    /// Further in the future than the window allows.
    Early,
}

impl Rejection {
    /// The `reason` label of `ingest/events/thrownAway`.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::Late => "late",
            Rejection::Early => "early",
        }
    }
}

/// A running rejection policy.
#[derive(Debug, Clone)]
pub struct Rejector {
    policy: RejectionPolicy,
    window_ms: i64,
    clock: Arc<dyn Clock>,
    max_seen_ms: i64,
}

impl Rejector {
    /// A policy with a window of `window_ms`, reading `clock` for `serverTime`.
    pub fn new(policy: RejectionPolicy, window_ms: i64, clock: Arc<dyn Clock>) -> Rejector {
        Rejector {
            policy,
            window_ms,
            clock,
            max_seen_ms: i64::MIN,
        }
    }

    /// Decides for one event time (`now_ms` read once per batch by the caller for speed).
    pub fn check(&mut self, t: i64, now_ms: i64) -> Result<(), Rejection> {
        match self.policy {
            RejectionPolicy::ServerTime => {
                if t < now_ms - self.window_ms {
                    Err(Rejection::Late)
                } else if t > now_ms + self.window_ms {
                    Err(Rejection::Early)
                } else {
                    Ok(())
                }
            }
            RejectionPolicy::MessageTime => {
                self.max_seen_ms = self.max_seen_ms.max(t);
                if t >= self.max_seen_ms - self.window_ms {
                    Ok(())
                } else {
                    Err(Rejection::Late)
                }
            }
            RejectionPolicy::None | RejectionPolicy::Test => Ok(()),
        }
    }

    /// The time sink ages are measured against (`getCurrMaxTime`); `None` for the `none` policy.
    pub fn current_max_time_ms(&self) -> Option<i64> {
        match self.policy {
            RejectionPolicy::ServerTime => Some(self.clock.now_ms()),
            RejectionPolicy::MessageTime => {
                (self.max_seen_ms != i64::MIN).then_some(self.max_seen_ms)
            }
            RejectionPolicy::None | RejectionPolicy::Test => None,
        }
    }

    /// The latest event time seen (`messageTime` only).
    pub fn max_seen_ms(&self) -> Option<i64> {
        (self.max_seen_ms != i64::MIN).then_some(self.max_seen_ms)
    }

    /// The wall clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The window length.
    pub fn window_ms(&self) -> i64 {
        self.window_ms
    }

    /// Restores `maxSeen` after a restart (from the newest recovered data).
    pub fn observe_max(&mut self, t: i64) {
        if self.policy == RejectionPolicy::MessageTime {
            self.max_seen_ms = self.max_seen_ms.max(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::clock::ManualClock;
    use super::*;

    #[test]
    fn server_time_accepts_inside_the_window() {
        let clock = ManualClock::new(1_000_000);
        let mut r = Rejector::new(
            RejectionPolicy::ServerTime,
            600_000,
            Arc::new(clock.clone()),
        );
        let now = clock.now_ms();
        assert_eq!(r.check(now - 600_000, now), Ok(()));
        assert_eq!(r.check(now - 600_001, now), Err(Rejection::Late));
        assert_eq!(r.check(now + 600_001, now), Err(Rejection::Early));
        assert_eq!(r.current_max_time_ms(), Some(now));
    }

    #[test]
    fn message_time_follows_the_latest_event() {
        let mut r = Rejector::new(
            RejectionPolicy::MessageTime,
            100,
            Arc::new(ManualClock::new(0)),
        );
        assert_eq!(r.current_max_time_ms(), None);
        assert_eq!(r.check(1_000, 0), Ok(()));
        assert_eq!(r.check(900, 0), Ok(()));
        assert_eq!(r.check(899, 0), Err(Rejection::Late));
        assert_eq!(r.check(5_000, 0), Ok(()));
        assert_eq!(r.current_max_time_ms(), Some(5_000));
    }

    #[test]
    fn none_accepts_everything_and_never_ages() {
        let mut r = Rejector::new(RejectionPolicy::None, 0, Arc::new(ManualClock::new(0)));
        assert_eq!(r.check(i64::MIN / 4, 0), Ok(()));
        assert_eq!(r.current_max_time_ms(), None);
    }
}
