//! What the OpenShift CRDs accept as a source, a mirror and a resource name.
//!
//! The checks follow the `pattern`s of `config.openshift.io/v1` `ImageDigestMirrorSet` and
//! `ImageTagMirrorSet` (which the machine-config-operator also applies to ICSP) exactly; the
//! tests compare them with the CRD regexes themselves.

use crate::model::reference_component_is_valid;
use crate::naming::Naming;

/// Whether `s` matches the CRD `mirrors[]` pattern: `HOST[:PORT][/COMPONENT...]`, where the host
/// is DNS labels (either case), the port is digits and each path component is lower case.
pub fn is_valid_mirror(s: &str) -> bool {
    let (authority, path) = match s.find('/') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let host = match authority.split_once(':') {
        Some((host, port)) => {
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            host
        }
        None => authority,
    };
    if !host.split('.').all(is_host_label) {
        return false;
    }
    match path {
        None => true,
        Some(p) => p.split('/').all(reference_component_is_valid),
    }
}

/// Whether `s` matches the CRD `source` pattern: a mirror location, or a wildcard host
/// `*.LABEL[.LABEL...]` without port or path.
pub fn is_valid_source(s: &str) -> bool {
    match s.strip_prefix("*.") {
        Some(rest) => rest.split('.').all(is_host_label),
        None => is_valid_mirror(s),
    }
}

/// `[a-zA-Z0-9]` or `[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_host_label(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// Whether `name` is a Kubernetes DNS-1123 subdomain, as `metadata.name` of a cluster-scoped
/// resource must be: at most 253 characters, dot-separated labels of lower-case letters,
/// digits and `-`, each starting and ending with a letter or digit.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && is_lower_alnum(b[0])
                && is_lower_alnum(b[b.len() - 1])
                && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        })
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// The resource name used when none is given: `ferry-` and the target registry, lower-cased,
/// with every character a name cannot hold (such as the port's `:`) turned into `-`:
/// `registry.local:8443` → `ferry-registry.local-8443`.
pub fn default_name(naming: &Naming) -> String {
    let labels: Vec<String> = naming
        .target()
        .to_ascii_lowercase()
        .split('.')
        .map(|label| {
            let mapped: String = label
                .chars()
                .map(|c| {
                    if c.is_ascii_lowercase() || c.is_ascii_digit() {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            let mut collapsed = String::with_capacity(mapped.len());
            for c in mapped.chars() {
                if !(c == '-' && collapsed.ends_with('-')) {
                    collapsed.push(c);
                }
            }
            collapsed.trim_matches('-').to_string()
        })
        .filter(|l| !l.is_empty())
        .collect();
    let mut name = format!("ferry-{}", labels.join("."));
    name.truncate(253);
    let trimmed = name.trim_end_matches(['-', '.']).len();
    name.truncate(trimmed);
    name
}
