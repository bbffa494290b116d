//! When and how long to wait before trying a failed registry request again.

use std::time::Duration;

use super::error::RegistryError;

/// Longest `Retry-After` ferry honours; registries asking for more are treated as asking for this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Exponential backoff: how many attempts, and the delay bounds between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first (1 means no retry).
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further retry.
    pub base_delay: Duration,
    /// Upper bound of the computed delay (a `Retry-After` from the registry may exceed it).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// After `attempts_made` attempts, the last failing with `err`: the delay before the next
    /// attempt, or `None` when the error is final or the attempts are used up.
    pub fn next_delay(&self, attempts_made: u32, err: &RegistryError) -> Option<Duration> {
        if attempts_made >= self.attempts || !err.is_retryable() {
            return None;
        }
        if let Some(wait) = err.retry_after() {
            return Some(wait.min(MAX_RETRY_AFTER));
        }
        Some(self.backoff(attempts_made))
    }

    /// The computed delay after `attempts_made` attempts: base * 2^(attempts_made-1), capped.
    pub fn backoff(&self, attempts_made: u32) -> Duration {
        let shift = attempts_made.saturating_sub(1).min(20);
        self.base_delay
            .saturating_mul(1u32 << shift)
            .min(self.max_delay)
    }
}

/// Parses a `Retry-After` header given in seconds (the HTTP-date form is not used by registries
/// and yields `None`).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
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

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
        }
    }

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let p = policy();
        let e = status(503, None);
        assert_eq!(p.next_delay(1, &e), Some(Duration::from_millis(100)));
        assert_eq!(p.next_delay(2, &e), Some(Duration::from_millis(200)));
        assert_eq!(p.next_delay(3, &e), Some(Duration::from_millis(250)));
        assert_eq!(p.next_delay(4, &e), None, "attempts used up");
    }

    #[test]
    fn honours_retry_after_on_429() {
        let p = policy();
        let e = status(429, Some(Duration::from_secs(2)));
        assert_eq!(p.next_delay(1, &e), Some(Duration::from_secs(2)));
        let huge = status(429, Some(Duration::from_secs(100_000)));
        assert_eq!(p.next_delay(1, &huge), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn never_retries_other_client_errors() {
        let p = policy();
        for s in [400, 401, 403, 404, 405, 416] {
            assert_eq!(p.next_delay(1, &status(s, None)), None, "status {s}");
        }
    }

    #[test]
    fn parses_retry_after_seconds_only() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
