//! Sizes, rates and durations for people. One convention everywhere ferry prints a size: IEC
//! binary units with one decimal (`24.3 MiB`, `512 B`), as `ferry inspect` has always shown them
//! and as `--volume-size` reads them. JSON output keeps exact byte counts.

use std::time::Duration;

/// A byte count: `512 B`, `1.5 KiB`, `24.3 MiB`, `4.0 GiB`.
pub fn size(n: u64) -> String {
    ferry::units::size(n)
}

/// Bytes per second over `elapsed`: `5.8 MiB/s` (`0 B/s` when no time has passed).
pub fn rate(bytes: u64, elapsed: Duration) -> String {
    format!("{}/s", size(per_second(bytes, elapsed)))
}

/// Bytes per second over `elapsed`, rounded down; 0 when no time has passed.
pub fn per_second(bytes: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        0
    } else {
        (bytes as f64 / secs) as u64
    }
}

/// A duration: `0.4s`, `12.0s`, `3m 05s`, `1h 02m`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

/// What is left of `total` after `done`, at the rate so far: `eta 3m 05s`, or `eta ?` before
/// anything is done.
pub fn eta(done: u64, total: u64, elapsed: Duration) -> String {
    if done == 0 || elapsed.is_zero() {
        return "eta ?".to_string();
    }
    let left = total.saturating_sub(done) as f64 * elapsed.as_secs_f64() / done as f64;
    format!("eta {}", duration(Duration::from_secs_f64(left)))
}

/// Seconds left of `total` after `done` at the rate so far; `None` before anything is done.
pub fn eta_secs(done: u64, total: u64, elapsed: Duration) -> Option<u64> {
    if done == 0 || elapsed.is_zero() {
        return None;
    }
    let left = total.saturating_sub(done) as f64;
    Some((left * elapsed.as_secs_f64() / done as f64).ceil() as u64)
}

/// `done` as a whole percentage of `total` (100 when the total is 0).
pub fn percent(done: u64, total: u64) -> u64 {
    if total == 0 {
        100
    } else {
        (u128::from(done.min(total)) * 100 / u128::from(total)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(25_519_077), "24.3 MiB");
        assert_eq!(size(4 << 30), "4.0 GiB");
    }

    #[test]
    fn rates_durations_eta() {
        assert_eq!(rate(3 << 20, Duration::from_secs(2)), "1.5 MiB/s");
        assert_eq!(rate(10, Duration::ZERO), "0 B/s");
        assert_eq!(duration(Duration::from_millis(420)), "0.4s");
        assert_eq!(duration(Duration::from_secs(185)), "3m 05s");
        assert_eq!(duration(Duration::from_secs(3720)), "1h 02m");
        assert_eq!(eta(0, 10, Duration::from_secs(1)), "eta ?");
        assert_eq!(eta(25, 100, Duration::from_secs(1)), "eta 3.0s");
        assert_eq!(eta(80, 100, Duration::from_secs(1)), "eta 0.2s");
        assert_eq!(eta_secs(80, 100, Duration::from_secs(1)), Some(1));
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(5, 0), 100);
    }
}
