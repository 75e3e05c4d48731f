//! When to poll: the learner of Zoom's publication delay (the default
//! cadence), the next occurrence of a cron schedule, and the budget
//! stretch that every cadence obeys.

use super::Poller;
use crate::config::Cadence;

/// Learns Zoom's publication delay from what polls find. One learner serves
/// every meeting (the delay is Zoom's, not a meeting's), so it moves at most
/// once per sample time stamp: a thousand meetings finding the same sample
/// on time count as one probe, not a thousand.
#[derive(Debug, Clone)]
pub struct DelayLearner {
    estimate: f64,
    min: f64,
    step: f64,
    /// The sample time stamp the estimate last moved for.
    moved_for: f64,
}

impl DelayLearner {
    pub fn new(initial: f64, min: f64, step: f64) -> DelayLearner {
        DelayLearner {
            estimate: initial.max(min),
            min,
            step,
            moved_for: f64::NEG_INFINITY,
        }
    }

    pub fn estimate(&self) -> f64 {
        self.estimate
    }

    /// A planned poll found the sample stamped `sample` on time: try a
    /// little earlier next time.
    pub fn on_time(&mut self, sample: f64) {
        if sample > self.moved_for {
            self.moved_for = sample;
            self.estimate = (self.estimate - self.step).max(self.min);
        }
    }

    /// A retry found the sample stamped `sample` `after` seconds past its
    /// stamp: the delay is at most that (and more than the estimate that
    /// missed it). Of several meetings retrying for the same sample, the
    /// earliest find is the tightest bound.
    pub fn late(&mut self, sample: f64, after: f64) {
        if !after.is_finite() {
            return;
        }
        if sample > self.moved_for {
            self.moved_for = sample;
            self.estimate = after.max(self.min);
        } else {
            self.estimate = self.estimate.min(after.max(self.min));
        }
    }
}

/// The next cron occurrence after `now`, skipping occurrences to honour a
/// budget stretch.
pub(super) fn next_cron(cron: &croner::Cron, now: f64, stretch: f64) -> f64 {
    let at = |t: f64| chrono::DateTime::from_timestamp(t as i64, 0).unwrap_or_default();
    let Ok(first) = cron.find_next_occurrence(&at(now), false) else {
        return now + 3600.0;
    };
    let first_s = first.timestamp() as f64;
    if stretch <= 1.0 {
        return first_s;
    }
    let gap = first_s - now;
    let min_at = now + gap * stretch;
    cron.find_next_occurrence(&at(min_at), true)
        .map_or(min_at, |t| t.timestamp() as f64)
}

impl Poller {
    /// Recomputes the budget stretch factor (at most every 10 s).
    pub(super) fn check_stretch(&mut self, now: f64) {
        if now < self.next_stretch_check {
            return;
        }
        self.next_stretch_check = now + 10.0;
        let period = match &self.config.cadence {
            Cadence::Auto => self.tuning.sample_period,
            Cadence::Interval(d) => d.as_secs_f64(),
            Cadence::Schedule(c) => (next_cron(c, now, 1.0) - now).max(1.0),
        };
        let mut planned: f64 = self
            .tracked
            .values()
            .map(|t| f64::from(t.requests_per_poll) / period)
            .sum();
        if self.config.discover {
            planned += 1.0 / self.config.discover_interval.as_secs_f64();
        }
        let allowed = self.client.budget_per_second();
        let stretch = if allowed <= 0.0 {
            1000.0
        } else {
            (planned / allowed).max(1.0)
        };
        let changed = (stretch - self.stretch).abs() / self.stretch > 0.1
            || (stretch == 1.0) != (self.stretch == 1.0);
        if changed {
            if stretch > 1.0 {
                tracing::warn!(
                    stretch = format!("{stretch:.2}"),
                    planned_per_min = format!("{:.1}", planned * 60.0),
                    allowed_per_min = format!("{:.1}", allowed * 60.0),
                    "the cadence would exceed the daily API budget ({} left today): polling {stretch:.2}x less often",
                    self.client.budget_left()
                );
            } else {
                tracing::info!(
                    "the cadence fits the daily API budget again: polling at the full cadence"
                );
            }
        }
        self.stretch = stretch;
        self.metrics.stretch.set(stretch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learner_probes_earlier_and_jumps_on_a_miss() {
        let mut l = DelayLearner::new(10.0, 1.0, 0.25);
        l.on_time(60.0);
        l.on_time(60.0); // another meeting, same sample: no second step
        l.on_time(120.0);
        assert_eq!(l.estimate(), 9.5);
        l.late(180.0, 17.0);
        l.late(180.0, 21.0); // another meeting's retry found it later: keep the tighter bound
        assert_eq!(l.estimate(), 17.0);
        for i in 0..100 {
            l.on_time(240.0 + 60.0 * i as f64);
        }
        assert_eq!(l.estimate(), 1.0);
    }

    #[test]
    fn cron_stretch_skips_occurrences() {
        let c: croner::Cron = "*/30 * * * * *".parse().unwrap();
        let now = 1_700_000_000.0; // divisible by 10 and 20, not by 30*?
        let n1 = next_cron(&c, now, 1.0);
        assert!(n1 > now && n1 - now <= 30.0);
        let n3 = next_cron(&c, now, 3.0);
        assert!(n3 - now >= (n1 - now) * 3.0 - 1.0, "{n1} {n3}");
    }
}
