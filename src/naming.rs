//! The passthrough naming: where an upstream image lives on the mirror registry.
//!
//! `HOST[:PORT]/PATH` upstream becomes `TARGET/PREFIX/HOST[_PORT]/PATH` on the mirror. This is the
//! only place in ferry that knows the mapping; pushing, checking and the mirror sets all ask here.
//!
//! The mapping is injective: host names cannot contain `_`, so the `_` that replaces a port's `:`
//! is unambiguous, and the rest of the path is kept as it is. Host names are case-insensitive in
//! DNS, so the host is lower-cased (repository names must be lower case); two references that
//! differ only in the case of their host name denote the same upstream repository.
//!
//! **Flattened mode** ([`Naming::flattened`]), for registries that refuse nested repository
//! paths: `HOST[_PORT]/PATH` becomes one path component, `TARGET/PREFIX/FLAT`, by [`flatten`]:
//! every `/` becomes `-`, and every run of k dashes becomes k+1 dashes; `.`, `_`, `__` and the
//! letters and digits stay. A valid name is letters-and-digits runs joined by the separators
//! `.`, `_`, `__`, `-`…, `/`; the encoding maps that separator set one-to-one onto the separators
//! of one component (`.`, `_`, `__`, `-`, `--`, …), so it is injective and [`unflatten`]
//! reverses it: `quay.io/org/app` → `quay.io-org-app`, `my-host.io/a--b` → `my--host.io-a---b`.

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
    /// The upstream name cannot be flattened into one repository component.
    #[error("{upstream} cannot be flattened into one repository name component: {reason}")]
    Unflattenable {
        /// The upstream reference.
        upstream: String,
        /// Why.
        reason: String,
    },
    /// The mirror name does not form a valid reference.
    #[error("mirror name for {upstream} is not a valid reference")]
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
    flat: bool,
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
            flat: false,
        })
    }

    /// The same mapping in flattened mode: `TARGET/PREFIX/FLAT`, where `FLAT` is the one
    /// component [`flatten`] makes of `HOST[_PORT]/PATH`. Mirror sets must then use
    /// repository-wide entries, since repository paths no longer lie under a registry location.
    pub fn flattened(mut self) -> Self {
        self.flat = true;
        self
    }

    /// Whether repository paths are flattened into one component.
    pub fn is_flattened(&self) -> bool {
        self.flat
    }

    /// The upstream name (`HOST[:PORT]/PATH`) a repository on the target mirrors, if it lies
    /// under the prefix and was made by this mapping: the reverse of [`Naming::repository`].
    pub fn upstream_name(&self, repository: &str) -> Option<String> {
        let rest = if self.prefix.is_empty() {
            repository
        } else {
            repository
                .strip_prefix(&self.prefix)
                .and_then(|r| r.strip_prefix('/'))?
        };
        let joined = if self.flat {
            unflatten(rest)?
        } else {
            rest.to_string()
        };
        let (seg, path) = joined.split_once('/')?;
        // Host names hold no '_': the one in a segment stands for the port's ':'.
        let host = match seg.rsplit_once('_') {
            Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                format!("{h}:{port}")
            }
            Some(_) => return None,
            None => seg.to_string(),
        };
        Some(format!("{host}/{path}"))
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
    /// `PREFIX/HOST[_PORT]/PATH`, or `PREFIX/FLAT` when flattened.
    pub fn repository(&self, upstream: &Reference) -> Result<String, NamingError> {
        let mut name = String::new();
        if !self.prefix.is_empty() {
            name.push_str(&self.prefix);
            name.push('/');
        }
        let path = format!(
            "{}/{}",
            Self::registry_segment(upstream.registry()),
            upstream.repository()
        );
        if self.flat {
            let flat = flatten(&path).map_err(|reason| NamingError::Unflattenable {
                upstream: upstream.to_string(),
                reason,
            })?;
            name.push_str(&flat);
        } else {
            name.push_str(&path);
        }
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

/// Flattens `HOST[_PORT]/PATH` (letters-and-digits runs joined by `.`, `_`, `__`, dashes or
/// `/`) into one repository component: `/` → `-`, a run of k dashes → k+1 dashes.
/// Fails (saying why) when `path` is not such a name.
pub fn flatten(path: &str) -> Result<String, String> {
    let mut out = String::with_capacity(path.len() + 8);
    for (sep, run) in separators_and_runs(path)? {
        match sep {
            Sep::Start => {}
            Sep::Other("/") => out.push('-'),
            Sep::Other(s) if s.bytes().all(|b| b == b'-') => {
                out.push_str(s);
                out.push('-');
            }
            Sep::Other(s) if s == "." || s == "_" || s == "__" => out.push_str(s),
            Sep::Other(s) => return Err(format!("separator {s:?} is not allowed in a name")),
        }
        out.push_str(run);
    }
    if !crate::model::reference_component_is_valid(&out) {
        return Err(format!("{out:?} is not a valid repository component"));
    }
    Ok(out)
}

/// The reverse of [`flatten`]: `None` when `flat` is not a component that [`flatten`] makes.
pub fn unflatten(flat: &str) -> Option<String> {
    if !crate::model::reference_component_is_valid(flat) {
        return None;
    }
    let mut out = String::with_capacity(flat.len());
    for (sep, run) in separators_and_runs(flat).ok()? {
        match sep {
            Sep::Start => {}
            Sep::Other("-") => out.push('/'),
            Sep::Other(s) if s.bytes().all(|b| b == b'-') => out.push_str(&s[1..]),
            Sep::Other(s) => out.push_str(s),
        }
        out.push_str(run);
    }
    // The first component is a registry segment: never two slashes, never a leading dash.
    Some(out)
}

enum Sep<'a> {
    Start,
    Other(&'a str),
}

/// Splits `s` into (separator before, letters-and-digits run), failing on empty runs.
fn separators_and_runs(s: &str) -> Result<Vec<(Sep<'_>, &str)>, String> {
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = s.as_bytes();
    let mut parts = Vec::new();
    let mut i = 0;
    let mut sep = Sep::Start;
    while i < b.len() {
        let start = i;
        while i < b.len() && is_alnum(b[i]) {
            i += 1;
        }
        if start == i {
            return Err(format!(
                "{s:?} must be lower-case letters and digits joined by '.', '_', '__', '-' or '/'"
            ));
        }
        parts.push((sep, &s[start..i]));
        let sep_start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        if sep_start == b.len() {
            break;
        }
        if i == b.len() {
            return Err(format!("{s:?} ends with a separator"));
        }
        sep = Sep::Other(&s[sep_start..i]);
    }
    if parts.is_empty() {
        return Err("empty name".into());
    }
    Ok(parts)
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

    #[test]
    fn flatten_table() {
        let cases = [
            ("quay.io/org/app", "quay.io-org-app"),
            ("docker.io/library/busybox", "docker.io-library-busybox"),
            ("127.0.0.1_5001/ns/app", "127.0.0.1_5001-ns-app"),
            ("my-host.io/a--b/c", "my--host.io-a---b-c"),
            ("quay.io/org__x/a_b.c", "quay.io-org__x-a_b.c"),
            (
                "registry.example.com/a/b/c/d/e",
                "registry.example.com-a-b-c-d-e",
            ),
        ];
        for (path, flat) in cases {
            assert_eq!(flatten(path).unwrap(), flat, "{path}");
            assert!(crate::model::reference_component_is_valid(flat), "{flat}");
            assert_eq!(unflatten(flat).as_deref(), Some(path), "{flat}");
        }
        for bad in ["", "a//b", "a/-b", "a/", "/a", "A/b", "a._b"] {
            assert!(flatten(bad).is_err(), "{bad:?}");
        }
        assert_eq!(unflatten("a._b"), None);
    }

    #[test]
    fn flattened_naming_is_injective_and_reversible() {
        let n = Naming::new("registry.local:8443", "mirror")
            .unwrap()
            .flattened();
        assert!(n.is_flattened());
        let inputs = [
            "quay.io/org/app",
            "quay.io/org-app",
            "quay.io/org--app",
            "quay.io-org/app",
            "quay.io/org/app/sub",
            "quay.io/org/app-sub",
            "quay.io:443/org/app",
            "quay.io/org_app",
            "quay.io/org__app",
            "quay.io/org.app",
            "localhost:5000/app",
            "localhost/5000/app",
            "localhost-5000.io/app",
            "127.0.0.1:5001/ns/app",
            "busybox",
            "a.b/c",
            "a/b.c",
            "a-b/c",
            "a/b-c",
        ];
        let mut seen: HashMap<String, String> = HashMap::new();
        for i in inputs {
            let r = Reference::parse(i).unwrap();
            let repo = n.repository(&r).unwrap();
            let flat = repo.strip_prefix("mirror/").unwrap();
            assert!(!flat.contains('/'), "{repo}");
            assert!(crate::model::reference_component_is_valid(flat), "{repo}");
            assert_eq!(n.upstream_name(&repo), Some(r.name()), "{i} via {repo}");
            if let Some(prev) = seen.insert(repo.clone(), r.name()) {
                assert_eq!(prev, r.name(), "{prev} and {} both map to {repo}", r.name());
            }
        }
        assert_eq!(seen.len(), inputs.len());
        let r = Reference::parse("quay.io/org/app:v1").unwrap();
        assert_eq!(
            n.mirror(&r).unwrap().to_string(),
            "registry.local:8443/mirror/quay.io-org-app:v1"
        );
        assert_eq!(
            n.repository_location(&r).unwrap(),
            "registry.local:8443/mirror/quay.io-org-app"
        );
        // Not under the prefix, or not made by the mapping.
        assert_eq!(n.upstream_name("other/quay.io-org-app"), None);
        assert_eq!(n.upstream_name("mirror/noslash"), None);
    }

    #[test]
    fn passthrough_names_reverse_too() {
        let n = Naming::new("registry.local:8443", "mirror").unwrap();
        for i in [
            "quay.io/org/app",
            "127.0.0.1:5001/ns/app",
            "docker.io/library/busybox",
        ] {
            let r = Reference::parse(i).unwrap();
            assert_eq!(n.upstream_name(&n.repository(&r).unwrap()), Some(r.name()));
        }
    }
}
