//! The passthrough naming: where an upstream image lives on the mirror registry.
//!
//! `HOST[:PORT]/PATH` upstream becomes `TARGET/PREFIX/HOST[_PORT]/PATH` on the mirror. This is the
//! only place in ferry that knows the mapping; pushing, checking and the mirror sets all ask here.
//!
//! The mapping is injective: host names cannot contain `_`, so the `_` that replaces a port's `:`
//! is unambiguous, and the rest of the path is kept as it is. Host names are case-insensitive in
//! DNS, so the host is lower-cased (repository names must be lower case); two references that
//! differ only in the case of their host name denote the same upstream repository.

use crate::model::{Reference, ReferenceError};

/// The prefix used when none is given.
pub const DEFAULT_PREFIX: &str = "mirror";

/// Why an upstream name has no mirror name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    /// The target is not `HOST[:PORT]`.
    #[error("invalid target registry {0:?}: expected HOST[:PORT], without scheme or path")]
    InvalidTarget(String),
    /// The prefix is not a valid repository path.
    #[error("invalid prefix {0:?}: use lower-case path components separated by '/'")]
    InvalidPrefix(String),
    /// The mirror repository name would exceed what registries accept.
    #[error("mirror name {name:?} for {upstream} is {len} characters; registries accept at most 255 — use a shorter --prefix")]
    TooLong {
        /// The upstream reference.
        upstream: String,
        /// The mirror repository it would map to.
        name: String,
        /// Its length.
        len: usize,
    },
    /// The mirror name does not form a valid reference.
    #[error("mirror name for {upstream} is not a valid reference: {source}")]
    Invalid {
        /// The upstream reference.
        upstream: String,
        /// Why the result is invalid.
        source: ReferenceError,
    },
}

/// The passthrough mapping onto one target registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    target: String,
    prefix: String,
}

impl Naming {
    /// A mapping onto `target` (`HOST[:PORT]`) under `prefix` (usually [`DEFAULT_PREFIX`]).
    pub fn new(target: &str, prefix: &str) -> Result<Self, NamingError> {
        let target = target.trim().trim_end_matches('/');
        if target.is_empty()
            || target.contains('/')
            || target.contains("://")
            || Reference::parse(&format!("{target}/x/probe")).map(|r| r.registry().to_string())
                != Ok(target.to_string())
        {
            return Err(NamingError::InvalidTarget(target.to_string()));
        }
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty()
            && !prefix
                .split('/')
                .all(crate::model::reference_component_is_valid)
        {
            return Err(NamingError::InvalidPrefix(prefix.to_string()));
        }
        Ok(Naming {
            target: target.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The target registry, `HOST[:PORT]`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The prefix under which every mirrored repository lives.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The mirror path segment that stands for an upstream registry: `quay.io`,
    /// `127.0.0.1_5001` (a port's `:` becomes `_`), lower-cased.
    pub fn registry_segment(upstream_registry: &str) -> String {
        upstream_registry.to_ascii_lowercase().replace(':', "_")
    }

    /// The repository on the target (without the host) that mirrors `upstream`'s repository:
    /// `PREFIX/HOST[_PORT]/PATH`.
    pub fn repository(&self, upstream: &Reference) -> Result<String, NamingError> {
        let mut name = String::new();
        if !self.prefix.is_empty() {
            name.push_str(&self.prefix);
            name.push('/');
        }
        name.push_str(&Self::registry_segment(upstream.registry()));
        name.push('/');
        name.push_str(upstream.repository());
        if name.len() > crate::model::MAX_NAME_LEN {
            return Err(NamingError::TooLong {
                upstream: upstream.to_string(),
                len: name.len(),
                name,
            });
        }
        Ok(name)
    }

    /// The full mirror reference of `upstream`, keeping its tag and digest:
    /// `quay.io/org/app@sha256:…` → `TARGET/mirror/quay.io/org/app@sha256:…`.
    pub fn mirror(&self, upstream: &Reference) -> Result<Reference, NamingError> {
        let repo = self.repository(upstream)?;
        Reference::from_parts(&self.target, &repo, upstream.tag(), upstream.digest()).map_err(
            |source| NamingError::Invalid {
                upstream: upstream.to_string(),
                source,
            },
        )
    }

    /// The mirror location that stands for a whole upstream registry (used by mirror sets whose
    /// scope is a registry): `TARGET/PREFIX/HOST[_PORT]`.
    pub fn registry_location(&self, upstream_registry: &str) -> String {
        let seg = Self::registry_segment(upstream_registry);
        if self.prefix.is_empty() {
            format!("{}/{seg}", self.target)
        } else {
            format!("{}/{}/{seg}", self.target, self.prefix)
        }
    }

    /// The mirror location of an upstream repository, without tag or digest:
    /// `TARGET/PREFIX/HOST[_PORT]/PATH`.
    pub fn repository_location(&self, upstream: &Reference) -> Result<String, NamingError> {
        Ok(format!("{}/{}", self.target, self.repository(upstream)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn map(target: &str, prefix: &str, upstream: &str) -> Result<String, NamingError> {
        let n = Naming::new(target, prefix)?;
        Ok(n.mirror(&Reference::parse(upstream).unwrap())?.to_string())
    }

    #[test]
    fn table() {
        let t = "registry.local:8443";
        let cases: &[(&str, &str, String)] = &[
            (
                "mirror",
                &format!("quay.io/org/app@{D}"),
                format!("{t}/mirror/quay.io/org/app@{D}"),
            ),
            (
                "mirror",
                "quay.io/org/app:v1",
                format!("{t}/mirror/quay.io/org/app:v1"),
            ),
            (
                "mirror",
                "busybox",
                format!("{t}/mirror/docker.io/library/busybox"),
            ),
            (
                "mirror",
                "bitnami/redis:7",
                format!("{t}/mirror/docker.io/bitnami/redis:7"),
            ),
            (
                "mirror",
                "127.0.0.1:5001/ns/app",
                format!("{t}/mirror/127.0.0.1_5001/ns/app"),
            ),
            (
                "mirror",
                "Quay.IO/org/app",
                format!("{t}/mirror/quay.io/org/app"),
            ),
            (
                "mirror",
                "registry.example.com/a/b/c/d/e:1",
                format!("{t}/mirror/registry.example.com/a/b/c/d/e:1"),
            ),
            (
                "ocp/v4",
                "quay.io/org/app",
                format!("{t}/ocp/v4/quay.io/org/app"),
            ),
            ("", "quay.io/org/app", format!("{t}/quay.io/org/app")),
        ];
        for (prefix, upstream, want) in cases {
            assert_eq!(&map(t, prefix, upstream).unwrap(), want, "{upstream}");
        }
    }

    #[test]
    fn locations() {
        let n = Naming::new("registry.local:8443", "mirror").unwrap();
        assert_eq!(
            n.registry_location("quay.io"),
            "registry.local:8443/mirror/quay.io"
        );
        assert_eq!(
            n.registry_location("localhost:5000"),
            "registry.local:8443/mirror/localhost_5000"
        );
        let r = Reference::parse("quay.io/org/app:v1").unwrap();
        assert_eq!(
            n.repository_location(&r).unwrap(),
            "registry.local:8443/mirror/quay.io/org/app"
        );
    }

    #[test]
    fn names_that_exceed_limits_are_refused() {
        let path = vec!["abcdefghij".repeat(5); 4].join("/"); // 203 characters
        let upstream = format!("a-very-long-registry-host-name.example.com:5000/{path}");
        let err = map("registry.local:8443", "mirror", &upstream).unwrap_err();
        assert!(matches!(err, NamingError::TooLong { .. }), "{err}");
        assert!(err.to_string().contains("--prefix"));
    }

    #[test]
    fn bad_targets_and_prefixes() {
        assert!(Naming::new("https://registry.local", "mirror").is_err());
        assert!(Naming::new("registry.local/path", "mirror").is_err());
        assert!(Naming::new("", "mirror").is_err());
        assert!(Naming::new("registry.local", "Mirror").is_err());
        assert!(Naming::new("registry.local", "a//b").is_err());
        assert!(Naming::new("registry.local:8443", "mirror").is_ok());
    }

    #[test]
    fn mapping_is_injective() {
        let n = Naming::new("registry.local:8443", "mirror").unwrap();
        let inputs = [
            "quay.io/org/app",
            "quay.io:443/org/app",
            "quay.io/org/app/sub",
            "quay.io/org-app",
            "docker.io/library/busybox",
            "busybox",
            "library/busybox",
            "localhost:5000/app",
            "localhost/5000/app",
            "localhost-5000.io/app",
            "127.0.0.1:5001/ns/app",
            "127.0.0.1/5001/ns/app",
            "a.b/c",
            "a/b.c",
        ];
        let mut seen: HashMap<String, String> = HashMap::new();
        for i in inputs {
            let r = Reference::parse(i).unwrap();
            let m = n.repository(&r).unwrap();
            if let Some(prev) = seen.insert(m.clone(), r.name()) {
                assert_eq!(prev, r.name(), "{prev} and {} both map to {m}", r.name());
            }
        }
    }
}
