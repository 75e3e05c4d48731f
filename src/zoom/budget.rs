//! Zoom's daily request cap, kept on our side: Heavy and
//! Resource-intensive calls share one budget per account that renews at
//! midnight UTC (see docs/configuration.md, `daily_budget`). Retries count
//! too. The budget is pure: the time is an argument. [`BudgetFile`] keeps
//! the day's count in `state_dir`, so a restart does not start from zero.

use std::path::{Path, PathBuf};

use super::ZoomError;
use crate::qos::Timestamp;

const DAY: i64 = 86_400;

/// The daily request budget, renewed at midnight UTC.
#[derive(Debug)]
pub struct Budget {
    limit: u32,
    day: i64,
    spent: u32,
}

impl Budget {
    pub fn new(limit: u32) -> Budget {
        Budget {
            limit,
            day: i64::MIN,
            spent: 0,
        }
    }

    fn roll(&mut self, now: Timestamp) {
        let day = now.0.div_euclid(DAY);
        if day != self.day {
            (self.day, self.spent) = (day, 0);
        }
    }

    /// Spends one request, unless none is left.
    pub fn take(&mut self, now: Timestamp) -> Result<(), ZoomError> {
        self.roll(now);
        if self.spent >= self.limit {
            let renews_at = Timestamp((self.day + 1) * DAY);
            let budget = self.limit;
            return Err(ZoomError::BudgetExhausted { budget, renews_at });
        }
        self.spent += 1;
        Ok(())
    }

    /// Requests left today.
    pub fn left(&mut self, now: Timestamp) -> u32 {
        self.roll(now);
        self.limit - self.spent
    }

    /// Requests spent today (the day of `now`, UTC).
    pub fn spent(&mut self, now: Timestamp) -> u32 {
        self.roll(now);
        self.spent
    }

    /// Takes over a count saved earlier: `spent` requests on `day` (days
    /// since the epoch, UTC). A count of another day than `now`'s is stale
    /// and ignored.
    pub fn restore(&mut self, day: i64, spent: u32, now: Timestamp) {
        self.roll(now);
        if day == self.day {
            self.spent = self.spent.max(spent);
        }
    }

    /// Requests a second that spend what is left evenly until it renews.
    pub fn per_second(&mut self, now: Timestamp) -> f64 {
        let until_renewal = DAY - now.0.rem_euclid(DAY);
        f64::from(self.left(now)) / until_renewal.max(1) as f64
    }
}

/// The day's request count in `state_dir/zoom-budget.json`:
/// `{"day":"2026-03-02","requests":1234}` (the day as Zoom counts it, UTC).
#[derive(Debug)]
pub struct BudgetFile {
    path: PathBuf,
    /// The count last written, and when (unix seconds).
    written: Option<(i64, u32)>,
    written_at: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    day: String,
    requests: u32,
}

/// How often a changing count is written (seconds): a kill -9 loses at
/// most this long's requests.
const SAVE_EVERY: i64 = 1;

impl BudgetFile {
    pub fn new(state_dir: &Path) -> BudgetFile {
        BudgetFile {
            path: state_dir.join("zoom-budget.json"),
            written: None,
            written_at: i64::MIN,
        }
    }

    /// The saved count as (day since the epoch, requests), if readable.
    pub fn load(&mut self) -> Option<(i64, u32)> {
        let text = std::fs::read(&self.path).ok()?;
        let saved: Saved = match serde_json::from_slice(&text) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(file = %self.path.display(), "unreadable Zoom budget count, starting from zero: {e}");
                return None;
            }
        };
        let date = chrono::NaiveDate::parse_from_str(&saved.day, "%Y-%m-%d").ok()?;
        let day = date
            .and_hms_opt(0, 0, 0)?
            .and_utc()
            .timestamp()
            .div_euclid(DAY);
        self.written = Some((day, saved.requests));
        Some((day, saved.requests))
    }

    /// Writes the budget's count when it changed, at most once per
    /// [`SAVE_EVERY`] unless `force`.
    pub fn save(&mut self, budget: &mut Budget, now: Timestamp, force: bool) {
        let spent = budget.spent(now);
        let current = (budget.day, spent);
        if self.written == Some(current) || (!force && now.0 < self.written_at + SAVE_EVERY) {
            return;
        }
        let Some(date) = chrono::DateTime::from_timestamp(budget.day * DAY, 0) else {
            return;
        };
        let saved = Saved {
            day: date.format("%Y-%m-%d").to_string(),
            requests: spent,
        };
        let body = serde_json::to_vec(&saved).unwrap_or_default();
        match crate::persist::write_atomic(&self.path, &body) {
            Ok(()) => {
                self.written = Some(current);
                self.written_at = now.0;
            }
            Err(e) => {
                // Retried at the next request; the budget itself is kept.
                self.written_at = now.0;
                tracing::warn!(file = %self.path.display(), "cannot save the Zoom budget count: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_survives_a_restart_on_the_same_day_only() {
        let dir = tempfile::tempdir().unwrap();
        let morning = Timestamp(DAY * 20_000 + 3600);
        let mut b = Budget::new(100);
        let mut file = BudgetFile::new(dir.path());
        for _ in 0..7 {
            b.take(morning).unwrap();
        }
        file.save(&mut b, morning, true);
        let text = std::fs::read_to_string(dir.path().join("zoom-budget.json")).unwrap();
        assert_eq!(text, r#"{"day":"2024-10-04","requests":7}"#);

        // A restart later that day: the count goes on from 7.
        let evening = Timestamp(DAY * 20_000 + 23 * 3600);
        let (day, spent) = BudgetFile::new(dir.path()).load().unwrap();
        let mut again = Budget::new(100);
        again.restore(day, spent, evening);
        assert_eq!(again.left(evening), 93);

        // A restart the next UTC day: zero.
        let next_day = Timestamp(DAY * 20_001 + 60);
        let mut fresh = Budget::new(100);
        fresh.restore(day, spent, next_day);
        assert_eq!(fresh.left(next_day), 100);
    }

    #[test]
    fn writes_are_throttled_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zoom-budget.json");
        let t = Timestamp(DAY * 20_000 + 10);
        let mut b = Budget::new(100);
        let mut file = BudgetFile::new(dir.path());
        b.take(t).unwrap();
        file.save(&mut b, t, false);
        b.take(t).unwrap();
        file.save(&mut b, t, false);
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("\"requests\":1")
        );
        file.save(&mut b, Timestamp(t.0 + 1), false);
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("\"requests\":2")
        );
        b.take(t).unwrap();
        file.save(&mut b, Timestamp(t.0 + 1), true);
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("\"requests\":3")
        );
    }

    #[test]
    fn budget_renews_daily() {
        let mut b = Budget::new(2);
        let t = Timestamp(DAY * 10 + 5);
        assert!(b.take(t).is_ok());
        assert!(b.take(t).is_ok());
        let spent = b.take(t).unwrap_err();
        assert!(
            matches!(spent, ZoomError::BudgetExhausted { renews_at, .. } if renews_at == Timestamp(DAY * 11))
        );
        assert_eq!(b.left(Timestamp(DAY * 11)), 2);
    }

    #[test]
    fn what_is_left_is_spread_over_what_is_left_of_the_day() {
        let mut b = Budget::new(1000);
        let noon = Timestamp(DAY * 20_000 + DAY / 2);
        assert_eq!(b.per_second(noon), 1000.0 / 43_200.0);
        let half_past_eleven = Timestamp(DAY * 20_000 + 23 * 3600 + 1800);
        assert_eq!(b.per_second(half_past_eleven), 1000.0 / 1800.0);
        b.take(half_past_eleven).unwrap();
        assert_eq!(b.per_second(half_past_eleven), 999.0 / 1800.0);
    }
}
