//! Merging two registries.conf drop-ins that ferry wrote: every prefix and mirror of both, a
//! mirror that serves digests in one and tags in the other serving `all`.
//!
//! containers-registries.conf.d(5) lets a later drop-in's `[[registry]]` replace an earlier one
//! with the same prefix, so per-bundle drop-ins would not add up the way per-bundle OpenShift
//! objects do; ferry keeps one drop-in and merges each bundle into it instead.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One `[[registry]]`: whether it is blocked, and its mirrors with their `pull-from-mirror`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Registry {
    blocked: bool,
    mirrors: BTreeMap<String, String>,
}

/// A drop-in as ferry writes it: its leading comment lines and its registries by prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Conf {
    header: String,
    registries: BTreeMap<String, Registry>,
}

fn quoted<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line
        .strip_prefix(key)?
        .trim_start()
        .strip_prefix('=')?
        .trim();
    rest.strip_prefix('"')?.strip_suffix('"')
}

/// Parses a drop-in ferry wrote; `None` for anything else.
fn parse(text: &str) -> Option<Conf> {
    let mut conf = Conf::default();
    let mut prefix: Option<String> = None;
    let mut mirror: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            if prefix.is_none() {
                conf.header.push_str(line);
                conf.header.push('\n');
            }
            continue;
        }
        match line {
            "[[registry]]" => {
                prefix = None;
                mirror = None;
            }
            "[[registry.mirror]]" => mirror = Some(String::new()),
            "blocked = true" => conf.registries.get_mut(prefix.as_ref()?)?.blocked = true,
            _ => {
                if let Some(p) = quoted(line, "prefix") {
                    prefix = Some(p.to_string());
                    conf.registries.entry(p.to_string()).or_default();
                } else if let Some(l) = quoted(line, "location") {
                    match &mut mirror {
                        Some(m) => *m = l.to_string(),
                        None if prefix.as_deref() == Some(l) => {}
                        None => return None,
                    }
                } else if let Some(k) = quoted(line, "pull-from-mirror") {
                    let m = mirror.take().filter(|m| !m.is_empty())?;
                    let reg = conf.registries.get_mut(prefix.as_ref()?)?;
                    reg.mirrors.insert(m, k.to_string());
                } else {
                    return None;
                }
            }
        }
    }
    Some(conf)
}

fn render(conf: &Conf) -> String {
    let mut out = conf.header.clone();
    for (prefix, reg) in &conf.registries {
        let _ = write!(
            out,
            "\n[[registry]]\nprefix = \"{prefix}\"\nlocation = \"{prefix}\"\n"
        );
        if reg.blocked {
            out.push_str("blocked = true\n");
        }
        for (location, pull_from) in &reg.mirrors {
            let _ = write!(
                out,
                "\n[[registry.mirror]]\nlocation = \"{location}\"\npull-from-mirror = \"{pull_from}\"\n"
            );
        }
    }
    out
}

/// What [`merge`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Merged {
    /// The merged drop-in.
    pub text: String,
    /// Prefixes only the earlier drop-in had, kept.
    pub kept: usize,
}

/// `new` (this bundle's drop-in) merged into `earlier` (the drop-in already there, from earlier
/// bundles); `None` when `earlier` is not a drop-in ferry wrote. The header is `new`'s.
pub(super) fn merge(earlier: &str, new: &str) -> Option<Merged> {
    let mut acc = parse(earlier)?;
    let new = parse(new).expect("ferry parses its own registries.conf");
    let kept = acc
        .registries
        .keys()
        .filter(|p| !new.registries.contains_key(*p))
        .count();
    acc.header = new.header;
    for (prefix, reg) in new.registries {
        let into = acc.registries.entry(prefix).or_default();
        into.blocked |= reg.blocked;
        for (m, k) in reg.mirrors {
            into.mirrors
                .entry(m)
                .and_modify(|old| {
                    if *old != k {
                        *old = "all".to_string();
                    }
                })
                .or_insert(k);
        }
    }
    Some(Merged {
        text: render(&acc),
        kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "# h1\n\n[[registry]]\nprefix = \"quay.io\"\nlocation = \"quay.io\"\n\n[[registry.mirror]]\nlocation = \"t/mirror/quay.io\"\npull-from-mirror = \"all\"\n";
    const B: &str = "# h2\n\n[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\n\n[[registry.mirror]]\nlocation = \"t/mirror/docker.io\"\npull-from-mirror = \"digest-only\"\n\n[[registry]]\nprefix = \"quay.io\"\nlocation = \"quay.io\"\n\n[[registry.mirror]]\nlocation = \"t/mirror/quay.io\"\npull-from-mirror = \"digest-only\"\n";

    #[test]
    fn own_output_round_trips() {
        assert_eq!(render(&parse(B).unwrap()), B);
    }

    #[test]
    fn merging_keeps_every_prefix_and_widens_pulls() {
        let m = merge(A, B).unwrap();
        assert_eq!(m.kept, 0);
        let c = parse(&m.text).unwrap();
        assert_eq!(c.header, "# h2\n");
        assert_eq!(c.registries.len(), 2);
        assert_eq!(c.registries["quay.io"].mirrors["t/mirror/quay.io"], "all");
        let back = merge(B, A).unwrap();
        assert_eq!(back.kept, 1);
        assert_eq!(
            parse(&back.text).unwrap().registries["docker.io"].mirrors["t/mirror/docker.io"],
            "digest-only"
        );
    }

    #[test]
    fn a_foreign_file_is_not_merged() {
        assert!(merge("unqualified-search-registries = [\"x\"]\n", B).is_none());
    }
}
