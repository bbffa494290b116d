//! Which packages, channels and bundles of a catalog are kept: oc-mirror v2's rules (its filter
//! library, catalog-filter `pkg/filter/mirror-config/v1alpha1`), as pure functions.
//!
//! - No package listed (and not `full`): every package, reduced to its default channel's head.
//! - Packages listed: only those. A package listed without `channels` keeps only its default
//!   channel (or the `defaultChannel` it names), unless `full`; with `channels`, only those.
//! - Per kept channel: `full` keeps every entry; a range (the channel's `minVersion`/
//!   `maxVersion`, else the package's) keeps the `replaces` chain between the chosen versions
//!   plus the in-range `skips` ([`channel::filter_range`]); `minVersion == maxVersion` keeps
//!   that one version; otherwise the channel's head alone. `skipRange` is not used.
//! - A channel emptied by a range is removed, with a note; the default channel emptied is an
//!   error. The default channel must survive: the `defaultChannel` override, or the catalog's.
//!
//! Where ferry differs, and why (oc-mirror's result would be an invalid catalog): the
//! default-channel checks use the effective default (after the override), and a
//! `minVersion == maxVersion` bundle is kept only in the channels that list it.

use std::collections::{BTreeMap, BTreeSet};

use super::channel::{self, Graph};
use super::fbc::{Catalog, Package};
use super::nearest::nearest;
use crate::pack::version::Version;

/// `packages[].channels[]` of an ImageSetConfiguration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelFilter {
    /// The channel.
    pub name: String,
    /// Lowest version wanted.
    pub min_version: Option<Version>,
    /// Highest version wanted.
    pub max_version: Option<Version>,
}

/// `operators[].packages[]` of an ImageSetConfiguration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFilter {
    /// The package.
    pub name: String,
    /// The channels to keep (none: the default channel).
    pub channels: Vec<ChannelFilter>,
    /// Lowest version wanted, in every kept channel.
    pub min_version: Option<Version>,
    /// Highest version wanted, in every kept channel.
    pub max_version: Option<Version>,
    /// The default channel the filtered package gets.
    pub default_channel: Option<String>,
}

/// What to keep of one catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogFilter {
    /// Every bundle of the kept channels.
    pub full: bool,
    /// The packages (none: all).
    pub packages: Vec<PackageFilter>,
}

/// Why a catalog could not be filtered. Each names the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// A listed package is not in the catalog.
    #[error("catalog {catalog}: no package {package:?}{}", hint(nearest))]
    NoPackage {
        /// The catalog.
        catalog: String,
        /// The package asked for.
        package: String,
        /// The names closest to it that exist.
        nearest: Vec<String>,
    },
    /// A listed channel (or `defaultChannel`) is not in the package.
    #[error(
        "catalog {catalog}: package {package:?} has no channel {channel:?}{}",
        hint(nearest)
    )]
    NoChannel {
        /// The catalog.
        catalog: String,
        /// The package.
        package: String,
        /// The channel asked for.
        channel: String,
        /// The names closest to it that exist.
        nearest: Vec<String>,
    },
    /// `minVersion == maxVersion` names a version no bundle of the package has.
    #[error(
        "catalog {catalog}: package {package:?} has no bundle of version {version}{}",
        hint(nearest)
    )]
    NoVersion {
        /// The catalog.
        catalog: String,
        /// The package.
        package: String,
        /// The version asked for.
        version: String,
        /// The versions closest to it that exist.
        nearest: Vec<String>,
    },
    /// The catalog, or what was asked of it, does not allow a valid filtered catalog.
    #[error("catalog {catalog}: package {package:?}: {reason}")]
    Invalid {
        /// The catalog.
        catalog: String,
        /// The package.
        package: String,
        /// What is wrong.
        reason: String,
    },
}

fn hint(nearest: &[String]) -> String {
    if nearest.is_empty() {
        String::new()
    } else {
        format!(" (nearest: {})", nearest.join(", "))
    }
}

/// One kept channel: its name and the names of the entries kept, in catalog order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptChannel {
    /// The channel.
    pub name: String,
    /// Its kept entries.
    pub entries: Vec<String>,
}

/// What is kept of one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptPackage {
    /// The package.
    pub name: String,
    /// Its default channel after filtering.
    pub default_channel: String,
    /// The kept channels, in catalog order.
    pub channels: Vec<KeptChannel>,
    /// The kept bundles (those of the kept entries that the catalog declares).
    pub bundles: BTreeSet<String>,
}

/// What is kept of a catalog, and what the user should know about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The kept packages, by name.
    pub packages: Vec<KeptPackage>,
    /// Channels removed because the range left nothing in them, and kept bundles outside the
    /// range (needed to keep the upgrade chain whole).
    pub notes: Vec<String>,
}

/// Keeps of `catalog` (named `name` in errors) what `filter` asks for.
pub fn select(
    catalog: &Catalog,
    name: &str,
    filter: &CatalogFilter,
) -> Result<Selection, SelectError> {
    let mut out = Selection::default();
    if filter.packages.is_empty() {
        for (pkg_name, pkg) in &catalog.packages {
            let want = PackageFilter {
                name: pkg_name.clone(),
                channels: Vec::new(),
                min_version: None,
                max_version: None,
                default_channel: None,
            };
            out.packages.push(select_package(
                pkg,
                &want,
                name,
                filter.full,
                &mut out.notes,
            )?);
        }
        return Ok(out);
    }
    let names: Vec<&str> = catalog
        .packages
        .keys()
        .chain(&catalog.all_packages)
        .map(String::as_str)
        .collect();
    for want in &filter.packages {
        let pkg = catalog
            .packages
            .get(&want.name)
            .filter(|p| p.raw.is_some())
            .ok_or_else(|| SelectError::NoPackage {
                catalog: name.to_string(),
                package: want.name.clone(),
                nearest: nearest(&want.name, &names),
            })?;
        out.packages.push(select_package(
            pkg,
            want,
            name,
            filter.full,
            &mut out.notes,
        )?);
    }
    Ok(out)
}

/// The range of a channel as oc-mirror writes it: the channel's bounds, else the package's.
fn range_of<'a>(
    want: &'a PackageFilter,
    ch: Option<&'a ChannelFilter>,
) -> (Option<&'a Version>, Option<&'a Version>) {
    match ch {
        Some(c) if c.min_version.is_some() || c.max_version.is_some() => {
            (c.min_version.as_ref(), c.max_version.as_ref())
        }
        _ => (want.min_version.as_ref(), want.max_version.as_ref()),
    }
}

fn select_package(
    pkg: &Package,
    want: &PackageFilter,
    catalog: &str,
    full: bool,
    notes: &mut Vec<String>,
) -> Result<KeptPackage, SelectError> {
    let invalid = |reason: String| SelectError::Invalid {
        catalog: catalog.to_string(),
        package: want.name.clone(),
        reason,
    };
    let channel_names: Vec<&str> = pkg.channels.iter().map(|c| c.name.as_str()).collect();
    let no_channel = |channel: &str| SelectError::NoChannel {
        catalog: catalog.to_string(),
        package: want.name.clone(),
        channel: channel.to_string(),
        nearest: nearest(channel, &channel_names),
    };
    for c in &want.channels {
        if pkg.channel(&c.name).is_none() {
            return Err(no_channel(&c.name));
        }
    }
    // The default channel: the override, which must be among the kept channels; else the
    // catalog's, which must be too.
    let kept_names: Vec<&str> = if want.channels.is_empty() {
        channel_names.clone()
    } else {
        want.channels.iter().map(|c| c.name.as_str()).collect()
    };
    let default_channel = match &want.default_channel {
        Some(d) => {
            if pkg.channel(d).is_none() {
                return Err(no_channel(d));
            }
            if !kept_names.contains(&d.as_str()) {
                return Err(invalid(format!(
                    "defaultChannel {d:?} is not among the channels kept ({})",
                    kept_names.join(", ")
                )));
            }
            d.clone()
        }
        None => {
            let d = &pkg.default_channel;
            if pkg.channel(d).is_none() {
                return Err(invalid(format!(
                    "the catalog's default channel {d:?} is not one of its channels ({})",
                    channel_names.join(", ")
                )));
            }
            if !kept_names.contains(&d.as_str()) {
                return Err(invalid(format!(
                    "the default channel {d:?} was filtered out; name a new one with \
                     defaultChannel (one of {})",
                    kept_names.join(", ")
                )));
            }
            d.clone()
        }
    };
    let channels: Vec<&str> = if want.channels.is_empty() && !full {
        vec![default_channel.as_str()]
    } else {
        kept_names
    };
    let versions: BTreeMap<&str, &Version> = pkg
        .bundles
        .iter()
        .filter_map(|(n, b)| b.version.as_ref().ok().map(|v| (n.as_str(), v)))
        .collect();
    let mut kept = KeptPackage {
        name: want.name.clone(),
        default_channel: default_channel.clone(),
        channels: Vec::new(),
        bundles: BTreeSet::new(),
    };
    for c in &pkg.channels {
        if !channels.contains(&c.name.as_str()) {
            continue;
        }
        // Every bundle of a kept channel needs a version, as oc-mirror's index of the
        // filtered catalog does.
        for e in &c.entries {
            if let Some(Err(why)) = pkg.bundles.get(&e.name).map(|b| &b.version) {
                return Err(invalid(format!("bundle {:?}: {why}", e.name)));
            }
        }
        let ch_filter = want.channels.iter().find(|f| f.name == c.name);
        let (min, max) = range_of(want, ch_filter);
        let ranged = min.is_some() || max.is_some();
        let graph =
            || Graph::new(&c.entries).map_err(|e| invalid(format!("channel {:?}: {e}", c.name)));
        let keep: BTreeSet<String> = if full {
            if ranged {
                return Err(invalid(
                    "full: true cannot be mixed with minVersion/maxVersion".into(),
                ));
            }
            c.entries.iter().map(|e| e.name.clone()).collect()
        } else if let Some(lo) = min.filter(|lo| max == Some(*lo)) {
            let mut hits: Vec<&str> = versions
                .iter()
                .filter(|(_, v)| **v == lo)
                .map(|(n, _)| *n)
                .collect();
            hits.sort();
            let Some(b) = hits.first() else {
                let below = versions.values().filter(|v| **v < lo).max();
                let above = versions.values().filter(|v| **v > lo).min();
                return Err(SelectError::NoVersion {
                    catalog: catalog.to_string(),
                    package: want.name.clone(),
                    version: lo.to_string(),
                    nearest: below
                        .into_iter()
                        .chain(above)
                        .map(|v| v.to_string())
                        .collect(),
                });
            };
            c.entries
                .iter()
                .filter(|e| e.name == *b)
                .map(|e| e.name.clone())
                .collect()
        } else if ranged {
            let g = graph()?;
            let kept = channel::filter_range(&g, &|n| versions.get(n).copied(), min, max);
            for n in kept
                .iter()
                .filter(|n| c.entries.iter().any(|e| &e.name == *n))
            {
                match versions.get(n.as_str()) {
                    Some(v) if channel::in_range(v, min, max) => {}
                    _ => notes.push(format!(
                        "catalog {catalog}: package {:?} channel {:?}: bundle {n:?} is outside \
                         the range but kept to keep the upgrade chain whole",
                        want.name, c.name
                    )),
                }
            }
            kept
        } else {
            [graph()?.head().to_string()].into()
        };
        let entries: Vec<String> = c
            .entries
            .iter()
            .filter(|e| keep.contains(&e.name))
            .map(|e| e.name.clone())
            .collect();
        if entries.is_empty() {
            if c.name == default_channel {
                return Err(invalid(format!(
                    "the range leaves nothing in the default channel {:?}",
                    c.name
                )));
            }
            notes.push(format!(
                "catalog {catalog}: package {:?} channel {:?}: nothing in the range; the \
                 channel is left out",
                want.name, c.name
            ));
            continue;
        }
        for e in &entries {
            if pkg.bundles.contains_key(e) {
                kept.bundles.insert(e.clone());
            } else {
                notes.push(format!(
                    "catalog {catalog}: package {:?} channel {:?}: entry {e:?} has no \
                     olm.bundle in the catalog",
                    want.name, c.name
                ));
            }
        }
        kept.channels.push(KeptChannel {
            name: c.name.clone(),
            entries,
        });
    }
    Ok(kept)
}

#[cfg(test)]
#[path = "select_tests.rs"]
mod tests;
