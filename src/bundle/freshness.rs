//! How new a bundle is (bundle-format/SPEC.md §4.5), and the trusted comment that binds its
//! signature to its root (§6).
//!
//! A bundle's freshness is its `sequence` (format 1.1), which the writer keeps strictly
//! increasing per key and never below the packing time in seconds; a 1.0 bundle has no
//! sequence and its freshness is its `created` time in seconds. Bundles are ordered by
//! (sequence, created), so bundles of different keys (a key rotation) compare by time.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::root::Root;
use crate::model::civil::{civil_from_days, days_from_civil};
use crate::model::Digest;

/// How new a bundle is: ordered by `sequence`, then `created`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freshness {
    /// The writer's sequence number (format 1.1); for a 1.0 bundle, its `created` seconds.
    pub sequence: u64,
    /// The packing time, seconds since the epoch.
    pub created: u64,
}

impl Ord for Freshness {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.sequence, self.created).cmp(&(other.sequence, other.created))
    }
}

impl PartialOrd for Freshness {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Freshness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "created {}, sequence {}",
            rfc3339(self.created),
            self.sequence
        )
    }
}

/// Seconds since the epoch of an RFC 3339 UTC time in whole seconds (`2026-01-31T12:00:00Z`),
/// the form a root's `created` has; `None` for any other form.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// Formats seconds since the epoch as RFC 3339 UTC (whole seconds).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

impl Root {
    /// The bundle's freshness; `None` when `created` is not an RFC 3339 UTC time (such a root
    /// is refused when opened).
    pub fn freshness(&self) -> Option<Freshness> {
        let created = parse_rfc3339(&self.created)?;
        Some(Freshness {
            sequence: self.sequence.unwrap_or(created),
            created,
        })
    }

    /// The trusted comment a signature of this root must carry, `root_digest` being the digest
    /// of the root's exact bytes: `ferry bundle ID format F root DIGEST`, and for a root with
    /// a sequence (1.1) ` sequence N`.
    pub fn trusted_comment(&self, root_digest: &Digest) -> String {
        let mut c = format!(
            "ferry bundle {} format {} root {}",
            self.bundle_id, self.format, root_digest
        );
        if let Some(n) = self.sequence {
            c.push_str(&format!(" sequence {n}"));
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        for secs in [0, 1_700_000_000, 951_782_400, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&rfc3339(secs)), Some(secs), "{secs}");
        }
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        for bad in ["2023-11-14 22:13:20Z", "2023-13-14T22:13:20Z", "x", ""] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    /// A volume whose root (1.1, no images) is signed with `comment`.
    fn signed_bundle(dir: &std::path::Path, comment: impl Fn(&Root, &Digest) -> String) {
        use crate::bundle::volume::{VolumeLabel, VolumeWriter};
        let root = Root::empty_for_tests("0123456789abcdef0123456789abcdef", Some(1_767_225_600));
        let bytes = root.to_json();
        let digest = Digest::sha256_of(&bytes);
        let key = crate::sign::SecretKey::from_seed([7; 32], crate::sign::KeyId(*b"freshtst"));
        let sig = key.sign(&bytes[..], &comment(&root, &digest)).unwrap();
        let label = VolumeLabel {
            format: root.format.clone(),
            bundle_id: root.bundle_id.clone(),
            volume: 1,
            volume_count: 1,
            root_digest: digest,
        };
        let w = VolumeWriter::create(&dir.join("v.tar")).unwrap();
        w.finish(&label, &bytes, &sig.to_file_string(), 0).unwrap();
    }

    #[test]
    fn the_trusted_comment_must_describe_the_root() {
        use crate::bundle::{Bundle, BundleError};
        let pk = crate::sign::SecretKey::from_seed([7; 32], crate::sign::KeyId(*b"freshtst"))
            .public_key();
        let good = tempfile::tempdir().unwrap();
        signed_bundle(good.path(), |r, d| r.trusted_comment(d));
        Bundle::open(good.path()).unwrap().verify(&pk).unwrap();
        // Signed by the trusted key, but with the comment of another bundle (or another
        // sequence): refused.
        for other in [
            |r: &Root, d: &Digest| r.trusted_comment(d).replace("0123", "ffff"),
            |r: &Root, d: &Digest| r.trusted_comment(d).replace("sequence 1", "sequence 9"),
            |_: &Root, _: &Digest| "a file signed with minisign -S".to_string(),
        ] {
            let bad = tempfile::tempdir().unwrap();
            signed_bundle(bad.path(), other);
            let e = Bundle::open(bad.path()).unwrap().verify(&pk).unwrap_err();
            assert!(matches!(e, BundleError::TrustedComment { .. }), "{e}");
        }
    }

    #[test]
    fn sequence_orders_before_time() {
        let a = Freshness {
            sequence: 5,
            created: 100,
        };
        let b = Freshness {
            sequence: 6,
            created: 50,
        };
        assert!(a < b);
        assert!(
            Freshness {
                sequence: 5,
                created: 101
            } > a
        );
    }
}
