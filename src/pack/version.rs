//! Semantic versions as OpenShift release versions use them (`4.16.5`, `4.17.0-rc.1`,
//! `4.16.0-0.okd-2024-05-01`): parsed and ordered by the rules of semver 2.0.0, build metadata
//! ignored. oc-mirror compares channel bounds and graph nodes this way.

use std::cmp::Ordering;
use std::fmt;

/// A semantic version.
#[derive(Debug, Clone)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<String>,
    text: String,
}

impl Version {
    /// Parses `MAJOR.MINOR.PATCH[-PRE][+BUILD]`; a leading `v` is refused, as semver does.
    pub fn parse(s: &str) -> Result<Version, String> {
        let bad = |why: &str| format!("{s:?} is not a semantic version ({why}), e.g. 4.16.5");
        let core_pre = s.split_once('+').map(|(c, _)| c).unwrap_or(s);
        let (core, pre) = match core_pre.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (core_pre, None),
        };
        let nums: Vec<&str> = core.split('.').collect();
        if nums.len() != 3 {
            return Err(bad("three numbers MAJOR.MINOR.PATCH"));
        }
        let mut n = [0u64; 3];
        for (slot, part) in n.iter_mut().zip(&nums) {
            if part.is_empty()
                || !part.bytes().all(|b| b.is_ascii_digit())
                || (part.len() > 1 && part.starts_with('0'))
            {
                return Err(bad("numbers without leading zeros"));
            }
            *slot = part.parse().map_err(|_| bad("number too large"))?;
        }
        let pre: Vec<String> = match pre {
            Some(p) => {
                let ids: Vec<String> = p.split('.').map(str::to_string).collect();
                if ids.iter().any(|i| {
                    i.is_empty() || !i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }) {
                    return Err(bad("pre-release identifiers are [0-9A-Za-z-]"));
                }
                ids
            }
            None => Vec::new(),
        };
        Ok(Version {
            major: n[0],
            minor: n[1],
            patch: n[2],
            pre,
            text: s.to_string(),
        })
    }

    /// Whether the version has a pre-release part (`1.2.0-rc.1`).
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// `MAJOR.MINOR`, e.g. `4.16`.
    pub fn minor_line(&self) -> (u64, u64) {
        (self.major, self.minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn cmp_ident(a: &str, b: &str) -> Ordering {
    let num = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match (num(a), num(b)) {
        (true, true) => (a.len(), a).cmp(&(b.len(), b)),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        match cmp_ident(a, b) {
                            Ordering::Equal => continue,
                            o => return o,
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_order() {
        let v = |s| Version::parse(s).unwrap();
        let sorted = [
            "4.9.0",
            "4.16.0-ec.1",
            "4.16.0-rc.0",
            "4.16.0-rc.2",
            "4.16.0-rc.10",
            "4.16.0",
            "4.16.5",
            "4.16.10",
            "4.17.0",
        ];
        for w in sorted.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(v("4.16.5+build.1"), v("4.16.5+build.1"));
        assert_eq!(v("4.16.5").minor_line(), (4, 16));
        for bad in [
            "4.16",
            "v4.16.5",
            "4.16.05",
            "4.16.x",
            "4.16.5-",
            "4.16.5-a..b",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }
}
