//! The one retry policy: how long to wait before trying again, and which
//! answers are worth trying again at all.
//!
//! - Backoff is exponential with full jitter (AWS's "full jitter": a uniform
//!   draw below the exponential cap), above a floor of half the base so a
//!   run of bad luck never becomes a hot loop.
//! - `Retry-After` is what a peer asks for; [`Backoff::honour`] never waits
//!   less than asked, and never longer than the policy's cap, whatever the
//!   peer sends (a day, a date in year 9999, `u64::MAX` seconds).

use std::time::{Duration, SystemTime};

/// Exponential backoff with full jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first step's cap; also sets the floor (half of it).
    pub base: Duration,
    /// The longest wait, whether computed or asked for with `Retry-After`.
    pub max: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration) -> Backoff {
        Backoff { base, max }
    }

    /// The exponential cap for `attempt` (1-based): `base * 2^(attempt-1)`,
    /// at most `max`.
    pub fn cap(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << shift).min(self.max)
    }

    /// The wait before try `attempt + 1`, after `attempt` failed tries: a
    /// uniform draw between half the base and the cap.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::random_range(0.0..=1.0))
    }

    /// [`Backoff::delay`] with the random draw given (`unit` in 0..=1), for
    /// tests.
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        let cap = self.cap(attempt);
        let floor = (self.base / 2).min(cap);
        let span = cap.saturating_sub(floor);
        floor + span.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait after a failed try when the peer may have sent
    /// `Retry-After`: never sooner than asked, never longer than `max`.
    pub fn honour(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(asked) => asked.min(self.max),
            None => self.delay(attempt),
        }
    }
}

/// What an HTTP status means for a retrying client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx.
    Success,
    /// 3xx: never followed (a redirect would carry a secret URL or a token
    /// elsewhere), so a permanent failure.
    Redirect,
    /// 408, 429 and 5xx: try again later.
    Retryable,
    /// Every other status: trying again will not help.
    Permanent,
}

impl StatusClass {
    pub fn of(status: u16) -> StatusClass {
        match status {
            200..=299 => StatusClass::Success,
            300..=399 => StatusClass::Redirect,
            408 | 429 | 500..=599 => StatusClass::Retryable,
            _ => StatusClass::Permanent,
        }
    }
}

/// Parses a `Retry-After` value: seconds (whole or not), an HTTP date, or
/// an RFC 3339 date (Zoom sends those). A date in the past is zero. The
/// result is unbounded: bound it with [`Backoff::honour`].
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v)
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(v))
        .ok()?;
    let at = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(
        u64::try_from(at.timestamp()).unwrap_or(0),
    ))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn backoff_doubles_within_a_floor_and_a_cap() {
        let b = Backoff::new(S(1), S(60));
        assert_eq!(b.cap(1), S(1));
        assert_eq!(b.cap(3), S(4));
        assert_eq!(b.cap(40), S(60));
        assert_eq!(b.delay_with(1, 0.0), Duration::from_millis(500));
        assert_eq!(b.delay_with(3, 1.0), S(4));
        assert_eq!(b.delay_with(10, 1.0), S(60));
        for attempt in 0..50 {
            let d = b.delay(attempt);
            assert!(d >= Duration::from_millis(500) && d <= S(60), "{d:?}");
        }
    }

    #[test]
    fn retry_after_is_honoured_but_bounded() {
        let b = Backoff::new(S(1), S(300));
        assert_eq!(b.honour(1, Some(S(7))), S(7));
        assert_eq!(b.honour(1, Some(S(86_400))), S(300));
        assert_eq!(b.honour(1, Some(Duration::MAX)), S(300));
        assert!(b.honour(1, None) <= S(1));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + S(1_600_000_000);
        assert_eq!(parse_retry_after(" 12 ", now), Some(S(12)));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(S(u64::MAX))
        );
        assert_eq!(parse_retry_after("1e300", now), Some(Duration::MAX));
        // 2020-09-13T12:26:40Z is `now`; ten seconds later:
        assert_eq!(
            parse_retry_after("Sun, 13 Sep 2020 12:26:50 GMT", now),
            Some(S(10))
        );
        assert_eq!(parse_retry_after("2020-09-13T12:27:40Z", now), Some(S(60)));
        assert_eq!(parse_retry_after("2000-01-01T00:00:00Z", now), Some(S(0)));
        assert!(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now).unwrap() > S(1 << 37));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn status_classes() {
        assert_eq!(StatusClass::of(202), StatusClass::Success);
        assert_eq!(StatusClass::of(301), StatusClass::Redirect);
        assert_eq!(StatusClass::of(307), StatusClass::Redirect);
        for s in [408, 429, 500, 503, 599] {
            assert_eq!(StatusClass::of(s), StatusClass::Retryable, "{s}");
        }
        for s in [400, 401, 403, 404, 410, 100, 600] {
            assert_eq!(StatusClass::of(s), StatusClass::Permanent, "{s}");
        }
    }
}
