//! Zoom's daily request cap, kept on our side: Heavy and
//! Resource-intensive calls share one budget per account that renews at
//! midnight UTC (see docs/configuration.md, `daily_budget`). Retries count
//! too. The budget is pure: the time is an argument.

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
            self.day = day;
            self.spent = 0;
        }
    }

    /// Spends one request; `Err(renewal time)` when none is left.
    pub fn take(&mut self, now: Timestamp) -> Result<(), Timestamp> {
        self.roll(now);
        if self.spent >= self.limit {
            return Err(Timestamp((self.day + 1) * DAY));
        }
        self.spent += 1;
        Ok(())
    }

    /// Requests left today.
    pub fn left(&mut self, now: Timestamp) -> u32 {
        self.roll(now);
        self.limit - self.spent
    }

    /// Requests a second that spend what is left evenly until it renews.
    pub fn per_second(&mut self, now: Timestamp) -> f64 {
        let until_renewal = DAY - now.0.rem_euclid(DAY);
        f64::from(self.left(now)) / until_renewal.max(1) as f64
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_renews_daily() {
        let mut b = Budget::new(2);
        let t = Timestamp(DAY * 10 + 5);
        assert!(b.take(t).is_ok());
        assert!(b.take(t).is_ok());
        assert_eq!(b.take(t), Err(Timestamp(DAY * 11)));
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
