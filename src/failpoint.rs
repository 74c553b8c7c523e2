//! Crash points for the crash tests.
//!
//! `RTNODE_CRASH_AT=name` (or `name:N`) makes the process abort — as a `kill -9` would stop it —
//! the first (or N-th) time execution reaches [`hit`]`("name")`. Without the variable every call
//! is one relaxed atomic load. The points sit between the steps of the commit protocol and of
//! merge-push-publish-handoff, where a crash is most likely to expose a mistake.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Target {
    name: String,
    nth: u64,
    seen: AtomicU64,
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let spec = std::env::var("RTNODE_CRASH_AT").ok()?;
            let (name, nth) = match spec.split_once(':') {
                Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
                None => (spec, 1),
            };
            Some(Target {
                name,
                nth,
                seen: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Aborts the process if this is the configured crash point and hit count.
pub fn hit(name: &str) {
    if let Some(target) = target()
        && target.name == name
        && target.seen.fetch_add(1, Ordering::SeqCst) + 1 == target.nth
    {
        eprintln!("RTNODE_CRASH_AT: aborting at `{name}`");
        std::process::abort();
    }
}
