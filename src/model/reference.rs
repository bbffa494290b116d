//! Image references (`[HOST[:PORT]/]PATH[:TAG][@DIGEST]`), parsed and normalised the way the
//! containers ecosystem (docker, podman, skopeo) does.

use std::fmt;
use std::str::FromStr;

use super::digest::{Digest, DigestError};

/// The registry a reference without a host points at.
pub const DEFAULT_REGISTRY: &str = "docker.io";
const LEGACY_DEFAULT_REGISTRY: &str = "index.docker.io";
/// Longest repository name (host excluded) distribution accepts.
pub const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// Why an image reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Nothing to parse.
    #[error("empty image reference")]
    Empty,
    /// The host part is not a host name, IP address or `host:port`.
    #[error("invalid registry host {host:?} in image reference {input:?}")]
    InvalidHost {
        /// The reference as given.
        input: String,
        /// The offending host.
        host: String,
    },
    /// A path component breaks the repository name grammar.
    #[error("invalid repository path component {component:?} in image reference {input:?}: use lower-case letters, digits and single separators (. _ __ -)")]
    InvalidComponent {
        /// The reference as given.
        input: String,
        /// The offending component.
        component: String,
    },
    /// The tag is malformed.
    #[error("invalid tag {tag:?} in image reference {input:?}: up to 128 characters of letters, digits, _ . - not starting with . or -")]
    InvalidTag {
        /// The reference as given.
        input: String,
        /// The offending tag.
        tag: String,
    },
    /// The digest is malformed.
    #[error("invalid digest in image reference {input:?}")]
    InvalidDigest {
        /// The reference as given.
        input: String,
        /// What was wrong with it.
        source: DigestError,
    },
    /// The repository name is too long.
    #[error("repository name in {input:?} is {len} characters long; registries accept at most {MAX_NAME_LEN}")]
    TooLong {
        /// The reference as given.
        input: String,
        /// The length found.
        len: usize,
    },
}

/// A normalised image reference: registry host, repository path, and a tag and/or digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises a reference: no host means `docker.io`, a one-component name on
    /// docker.io gains `library/`, `index.docker.io` becomes `docker.io`.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (
                r,
                Some(
                    Digest::parse(d).map_err(|source| ReferenceError::InvalidDigest {
                        input: input.to_string(),
                        source,
                    })?,
                ),
            ),
            None => (s, None),
        };
        // A tag is the part after the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(ReferenceError::InvalidTag {
                    input: input.to_string(),
                    tag: t.to_string(),
                });
            }
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), remainder.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        if !valid_host(&registry) {
            return Err(ReferenceError::InvalidHost {
                input: input.to_string(),
                host: registry,
            });
        }
        let registry = if registry.eq_ignore_ascii_case(LEGACY_DEFAULT_REGISTRY) {
            DEFAULT_REGISTRY.to_string()
        } else {
            registry
        };
        let path = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        for component in path.split('/') {
            if !valid_component(component) {
                return Err(ReferenceError::InvalidComponent {
                    input: input.to_string(),
                    component: component.to_string(),
                });
            }
        }
        if path.len() > MAX_NAME_LEN {
            return Err(ReferenceError::TooLong {
                input: input.to_string(),
                len: path.len(),
            });
        }
        Ok(Reference {
            registry,
            repository: path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Builds a reference from parts that are already valid (for example a repository derived
    /// from another reference); the parts are validated again.
    pub fn from_parts(
        registry: &str,
        repository: &str,
        tag: Option<&str>,
        digest: Option<&Digest>,
    ) -> Result<Self, ReferenceError> {
        let mut s = format!("{registry}/{repository}");
        if let Some(t) = tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        Reference::parse(&s)
    }

    /// Registry host, with port when one was given (`quay.io`, `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Repository path within the registry (`library/busybox`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The host without its port.
    pub fn host(&self) -> &str {
        split_port(&self.registry).0
    }

    /// The port, if one was given.
    pub fn port(&self) -> Option<&str> {
        split_port(&self.registry).1
    }

    /// What to ask the registry for: the digest when known, else the tag, else `latest`.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The same repository pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository with only `digest`, no tag.
    pub fn by_digest(&self, digest: Digest) -> Self {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository with only `tag`, no digest.
    pub fn by_tag(&self, tag: &str) -> Self {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

fn split_port(registry: &str) -> (&str, Option<&str>) {
    match registry.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || registry.starts_with('[') => (h, Some(p)),
        _ => (registry, None),
    }
}

/// Host name, IPv4 address or bracketed IPv6, optionally with `:PORT`.
fn valid_host(host: &str) -> bool {
    let (h, port) = if host.starts_with('[') {
        match host.find(']') {
            Some(i) => {
                let rest = &host[i + 1..];
                let port = match rest {
                    "" => None,
                    r if r.starts_with(':') => Some(&r[1..]),
                    _ => return false,
                };
                let inner = &host[1..i];
                if inner.is_empty() || !inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
                    return false;
                }
                (None, port)
            }
            None => return false,
        }
    } else {
        match host.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    match h {
        None => true,
        Some(h) => {
            !h.is_empty()
                && h.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                })
        }
    }
}

/// A repository path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub(crate) fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__', or one or more '-'.
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalises_like_the_containers_ecosystem() {
        let cases = [
            ("busybox", "docker.io/library/busybox"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("library/busybox", "docker.io/library/busybox"),
            ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
            ("index.docker.io/busybox", "docker.io/library/busybox"),
            ("docker.io/busybox", "docker.io/library/busybox"),
            ("quay.io/org/app:v1", "quay.io/org/app:v1"),
            ("localhost/app", "localhost/app"),
            ("localhost:5000/app:1", "localhost:5000/app:1"),
            ("127.0.0.1:5001/ns/app", "127.0.0.1:5001/ns/app"),
            ("Quay.IO/org/app", "Quay.IO/org/app"),
            (
                "registry.local:8443/a/b/c/d:tag",
                "registry.local:8443/a/b/c/d:tag",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                Reference::parse(input).unwrap().to_string(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn keeps_tag_and_digest() {
        let r = Reference::parse(&format!("quay.io/org/app:v1@{D}")).unwrap();
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.manifest_ref(), D);
        let r = Reference::parse("quay.io/org/app").unwrap();
        assert_eq!(r.manifest_ref(), "latest");
        let r = Reference::parse(&format!("host:5000/app@{D}")).unwrap();
        assert_eq!(r.registry(), "host:5000");
        assert_eq!(r.host(), "host");
        assert_eq!(r.port(), Some("5000"));
        assert_eq!(r.tag(), None);
    }

    #[test]
    fn rejects_invalid_references() {
        assert_eq!(Reference::parse("  "), Err(ReferenceError::Empty));
        assert!(matches!(
            Reference::parse("quay.io/Org/app"),
            Err(ReferenceError::InvalidComponent { .. })
        ));
        assert!(matches!(
            Reference::parse("quay.io/org//app"),
            Err(ReferenceError::InvalidComponent { .. })
        ));
        assert!(matches!(
            Reference::parse("quay.io/org/app:-bad"),
            Err(ReferenceError::InvalidTag { .. })
        ));
        assert!(matches!(
            Reference::parse("quay.io/org/app@sha256:1234"),
            Err(ReferenceError::InvalidDigest { .. })
        ));
        assert!(matches!(
            Reference::parse("bad_host.io:99999999/app"),
            Err(ReferenceError::InvalidHost { .. })
        ));
        let long = format!("quay.io/{}", vec!["a".repeat(60); 5].join("/"));
        assert!(matches!(
            Reference::parse(&long),
            Err(ReferenceError::TooLong { .. })
        ));
        assert!(matches!(
            Reference::parse("quay.io/a..b"),
            Err(ReferenceError::InvalidComponent { .. })
        ));
    }

    #[test]
    fn component_grammar() {
        for ok in ["a", "a.b", "a_b", "a__b", "a---b", "0", "a-b.c_d"] {
            assert!(valid_component(ok), "{ok}");
        }
        for bad in ["", "A", "a_", "_a", "a___b", "a.-b", "a..b", "a:b"] {
            assert!(!valid_component(bad), "{bad}");
        }
    }
}
