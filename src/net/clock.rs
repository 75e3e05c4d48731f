//! The wall clock as an input. What depends on the time of day (the daily
//! API budget, which renews at midnight UTC, and the poller's cadence)
//! reads it from a [`Clock`], so tests can pin the time of day. HTTP tests
//! run in real time, so a pinned clock starts at the chosen time and runs
//! on at the system clock's pace.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time, UTC: the system clock unless pinned.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Clock {
    /// Seconds added to the system clock.
    offset: f64,
}

impl Clock {
    /// The system clock.
    pub const fn system() -> Clock {
        Clock { offset: 0.0 }
    }

    /// A clock that reads `unix_secs` now and runs on from there.
    pub fn starting_at(unix_secs: f64) -> Clock {
        Clock {
            offset: unix_secs - system_secs(),
        }
    }

    /// Seconds since the Unix epoch.
    pub fn now(&self) -> f64 {
        system_secs() + self.offset
    }
}

fn system_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_clock_runs_on_from_its_start() {
        let start = 1_772_494_200.0; // 2026-03-02T23:30:00Z
        let clock = Clock::starting_at(start);
        let (a, b) = (clock.now(), clock.now());
        assert!(a >= start && b >= a && b - start < 5.0, "{a} {b}");
        assert!((Clock::system().now() - system_secs()).abs() < 5.0);
    }
}
