//! When and how long to wait before trying a failed registry request again.

use std::time::{Duration, Instant, SystemTime};

use super::error::RegistryError;

/// Longest `Retry-After` ferry honours; registries asking for more are treated as asking for this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Exponential backoff within a time budget: a failing step is tried again until it succeeds,
/// fails for good, or has been failing for longer than `budget` (or `attempts` ran out, when a
/// count is given). A time budget rather than a small count: a registry that is overloaded or
/// rate limiting for a minute must not make a run give up that a rerun would finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first (1 means no retry); `u32::MAX` means no count limit,
    /// only the budget.
    pub attempts: u32,
    /// How long one step (one request, one blob upload) may keep failing before ferry gives up
    /// on it: no retry starts after this much time since the step's first attempt.
    pub budget: Duration,
    /// Delay before the first retry; doubled for each further retry. The delay waited is
    /// drawn between half of it and all of it, so that many clients do not retry in step.
    pub base_delay: Duration,
    /// Upper bound of the computed delay (a `Retry-After` from the registry may exceed it).
    pub max_delay: Duration,
}

/// The default budget of one step: long enough to ride out a registry restart or a storm of
/// 429s, short enough that a registry that is really gone is reported within minutes.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(300);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: u32::MAX,
            budget: DEFAULT_BUDGET,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// The retry state of one step: when it started and how many attempts it made.
#[derive(Debug, Clone, Copy)]
pub struct Attempts {
    started: Instant,
    made: u32,
}

impl Attempts {
    /// A step starting now, before its first attempt.
    pub fn start() -> Attempts {
        Attempts {
            started: Instant::now(),
            made: 0,
        }
    }

    /// Counts one attempt; returns how many were made.
    pub fn count(&mut self) -> u32 {
        self.made = self.made.saturating_add(1);
        self.made
    }

    /// Time since the step started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl RetryPolicy {
    /// After `attempts_made` attempts over `elapsed`, the last failing with `err`: the delay
    /// before the next attempt, or `None` when the error is final or the budget (or the count)
    /// is used up. The delay never reaches past the budget.
    pub fn next_delay(
        &self,
        attempts_made: u32,
        elapsed: Duration,
        err: &RegistryError,
    ) -> Option<Duration> {
        if attempts_made >= self.attempts || !err.is_retryable() || elapsed >= self.budget {
            return None;
        }
        let left = self.budget - elapsed;
        if let Some(wait) = err.retry_after() {
            return Some(wait.min(MAX_RETRY_AFTER).min(left));
        }
        Some(jitter(self.backoff(attempts_made)).min(left))
    }

    /// [`RetryPolicy::next_delay`] for the step `attempts` (counted by its caller).
    pub fn next_delay_for(&self, attempts: &Attempts, err: &RegistryError) -> Option<Duration> {
        self.next_delay(attempts.made, attempts.elapsed(), err)
    }

    /// The computed delay after `attempts_made` attempts: base * 2^(attempts_made-1), capped.
    pub fn backoff(&self, attempts_made: u32) -> Duration {
        let shift = attempts_made.saturating_sub(1).min(20);
        self.base_delay
            .saturating_mul(1u32 << shift)
            .min(self.max_delay)
    }
}

/// A delay drawn uniformly between half of `d` and `d` ("equal jitter").
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 8];
    if getrandom::getrandom(&mut b).is_err() {
        return d;
    }
    let half = d / 2;
    let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(u64::from_le_bytes(b) % nanos.saturating_add(1))
}

/// Parses a `Retry-After` header: seconds, or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`),
/// which is turned into the time left from now (nothing left: no wait).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    parse_retry_after_at(value, SystemTime::now())
}

/// [`parse_retry_after`] with the clock given.
fn parse_retry_after_at(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(v)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form HTTP senders must use.
fn parse_http_date(v: &str) -> Option<SystemTime> {
    let (_, rest) = v.split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms[..] else { return None };
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = crate::model::civil::days_from_civil(year, month, day);
    let secs = u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::super::error::ApiErrors;
    use super::*;

    fn status(s: u16, retry_after: Option<Duration>) -> RegistryError {
        RegistryError::Status {
            host: "h".into(),
            action: "pull blob from",
            repository: "r".into(),
            method: "GET",
            url: "u".into(),
            status: s,
            errors: ApiErrors::default(),
            retry_after,
        }
    }

    const NOW: Duration = Duration::ZERO;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            budget: Duration::from_secs(3600),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
        }
    }

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let p = policy();
        let e = status(503, None);
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(250));
        for attempts in 1..=3 {
            let d = p.next_delay(attempts, NOW, &e).unwrap();
            let full = p.backoff(attempts);
            assert!(d >= full / 2 && d <= full, "{d:?} within half of {full:?}");
        }
        assert_eq!(p.next_delay(4, NOW, &e), None, "attempts used up");
    }

    #[test]
    fn backoff_is_jittered() {
        let p = policy();
        let e = status(503, None);
        let delays: std::collections::BTreeSet<Duration> =
            (0..32).map(|_| p.next_delay(2, NOW, &e).unwrap()).collect();
        assert!(delays.len() > 1, "32 delays, all equal: {delays:?}");
    }

    #[test]
    fn honours_retry_after_on_429() {
        let p = policy();
        let e = status(429, Some(Duration::from_secs(2)));
        assert_eq!(p.next_delay(1, NOW, &e), Some(Duration::from_secs(2)));
        let huge = status(429, Some(Duration::from_secs(100_000)));
        assert_eq!(p.next_delay(1, NOW, &huge), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn never_retries_other_client_errors() {
        let p = policy();
        for s in [400, 401, 403, 404, 405, 416] {
            assert_eq!(p.next_delay(1, NOW, &status(s, None)), None, "status {s}");
        }
    }

    #[test]
    fn gives_up_when_the_time_budget_is_spent_not_after_a_count() {
        let p = RetryPolicy {
            budget: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let e = status(503, None);
        assert!(
            p.next_delay(1000, Duration::from_secs(9), &e).is_some(),
            "no count limit by default"
        );
        let d = p.next_delay(40, Duration::from_millis(9_900), &e).unwrap();
        assert!(
            d <= Duration::from_millis(100),
            "never past the budget: {d:?}"
        );
        assert_eq!(p.next_delay(2, Duration::from_secs(10), &e), None);
        let slow = status(429, Some(Duration::from_secs(60)));
        assert_eq!(
            p.next_delay(1, Duration::from_secs(4), &slow),
            Some(Duration::from_secs(6)),
            "a Retry-After is cut to what is left of the budget"
        );
    }

    #[test]
    fn parses_retry_after_seconds_and_http_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        // 2015-10-21T07:28:00Z is 1445412480 s after the epoch.
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480 - 90);
        assert_eq!(
            parse_retry_after_at(date, now),
            Some(Duration::from_secs(90))
        );
        let later = now + Duration::from_secs(1000);
        assert_eq!(parse_retry_after_at(date, later), Some(Duration::ZERO));
        let leap = "Thu, 29 Feb 2024 23:59:59 GMT";
        let at = parse_http_date(leap).unwrap();
        assert_eq!(
            at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_709_251_199
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("Wed, 21 Foo 2015 07:28:00 GMT"), None);
    }
}
