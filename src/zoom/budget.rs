//! Zoom's daily request cap, kept on our side: Heavy and
//! Resource-intensive calls share one budget per account that renews at
//! midnight UTC (see docs/configuration.md, `daily_budget`). Retries count
//! too. The budget is pure: the time is an argument.

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

    /// Requests a second that spend what is left evenly until it renews.
    pub fn per_second(&mut self, now: Timestamp) -> f64 {
        let until_renewal = DAY - now.0.rem_euclid(DAY);
        f64::from(self.left(now)) / until_renewal.max(1) as f64
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
