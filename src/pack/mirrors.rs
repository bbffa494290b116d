//! `--source-mirror PREFIX=MIRROR`: read images named under PREFIX from MIRROR instead, keeping
//! their upstream names in the bundle — the mirror resolution of containers' registries.conf
//! (`[[registry]] prefix = "quay.io" … [[registry.mirror]] location = "…"`), for a connected
//! side that reaches upstream content only through a pull-through cache or a local copy.
//!
//! PREFIX is `HOST[/PATH]`, MIRROR is `HOST[:PORT][/PATH]`; the longest matching prefix wins
//! and the rest of the repository path is appended to MIRROR: with `quay.io=127.0.0.1:5000`,
//! `quay.io/openshift-release-dev/ocp-release@sha256:…` is read from
//! `127.0.0.1:5000/openshift-release-dev/ocp-release@sha256:…`. Digests are checked as for any
//! source, so a mirror can withhold content but not change it.

use crate::model::Reference;

/// One `PREFIX=MIRROR` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMirror {
    prefix: String,
    mirror: String,
}

impl SourceMirror {
    /// Parses `PREFIX=MIRROR`.
    pub fn parse(s: &str) -> Result<SourceMirror, String> {
        let bad = |why: &str| {
            format!("--source-mirror {s:?}: {why}; write PREFIX=MIRROR, e.g. quay.io=mirror.example.com:5000")
        };
        let (prefix, mirror) = s.split_once('=').ok_or_else(|| bad("no '='"))?;
        let (prefix, mirror) = (
            prefix.trim().trim_end_matches('/'),
            mirror.trim().trim_end_matches('/'),
        );
        for (what, v) in [("PREFIX", prefix), ("MIRROR", mirror)] {
            // A valid reference with this name proves host and path are well formed.
            let probe = if v.contains('/') {
                v.to_string()
            } else {
                format!("{v}/x")
            };
            let r = Reference::parse(&probe).map_err(|e| bad(&crate::error_chain(&e)))?;
            if !v.starts_with(r.registry()) || r.tag().is_some() || r.digest().is_some() {
                return Err(bad(&format!(
                    "{what} {v:?} must start with a registry host (HOST[:PORT][/PATH])"
                )));
            }
        }
        Ok(SourceMirror {
            prefix: prefix.to_string(),
            mirror: mirror.to_string(),
        })
    }

    /// The mirror's registry host (`HOST[:PORT]`).
    pub fn mirror_host(&self) -> &str {
        self.mirror.split('/').next().unwrap_or(&self.mirror)
    }

    /// The remainder of `name` (`registry/repository`) after this prefix, when it matches.
    fn rest<'a>(&self, name: &'a str) -> Option<&'a str> {
        let rest = name.strip_prefix(&self.prefix)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }
}

/// Where to read `reference` from: through the rule with the longest matching prefix, or
/// itself when no rule matches.
pub fn source_of(mirrors: &[SourceMirror], reference: &Reference) -> Reference {
    let name = format!("{}/{}", reference.registry(), reference.repository());
    let best = mirrors
        .iter()
        .filter_map(|m| m.rest(&name).map(|rest| (m, rest)))
        .max_by_key(|(m, _)| m.prefix.len());
    let Some((m, rest)) = best else {
        return reference.clone();
    };
    let full = format!("{}{rest}", m.mirror);
    let (host, repo) = full.split_once('/').unwrap_or((&full, ""));
    Reference::from_parts(
        host,
        repo.trim_start_matches('/'),
        reference.tag(),
        reference.digest(),
    )
    .unwrap_or_else(|_| reference.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_names_keep_tag_and_digest() {
        let m = vec![
            SourceMirror::parse("quay.io=127.0.0.1:5000").unwrap(),
            SourceMirror::parse("quay.io/openshift-release-dev=cache.example:8443/ocp/").unwrap(),
        ];
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let r =
            Reference::parse(&format!("quay.io/openshift-release-dev/ocp-release@{d}")).unwrap();
        assert_eq!(
            source_of(&m, &r).to_string(),
            format!("cache.example:8443/ocp/ocp-release@{d}")
        );
        let r = Reference::parse("quay.io/org/app:1").unwrap();
        assert_eq!(source_of(&m, &r).to_string(), "127.0.0.1:5000/org/app:1");
        // A prefix matches whole path components only.
        let r = Reference::parse("quay.io.example/org/app:1").unwrap();
        assert_eq!(source_of(&m, &r), r);
        let r = Reference::parse("quay.io/openshift-release-devx/app:1").unwrap();
        assert_eq!(
            source_of(&m, &r).to_string(),
            "127.0.0.1:5000/openshift-release-devx/app:1"
        );
        assert_eq!(m[1].mirror_host(), "cache.example:8443");
    }

    #[test]
    fn bad_rules_are_refused() {
        for bad in [
            "quay.io",
            "quay.io=",
            "=127.0.0.1:5000",
            "quay.io=http://x",
            "quay.io=a/B",
        ] {
            assert!(SourceMirror::parse(bad).is_err(), "{bad}");
        }
    }
}
