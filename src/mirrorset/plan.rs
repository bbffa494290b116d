//! Which sources redirect to which mirrors, grouped by scope, before any rendering.

use std::collections::{BTreeMap, BTreeSet};

use super::validate::{is_valid_mirror, is_valid_source};
use super::{MirrorInput, MirrorSetError, Scope};
use crate::model::Reference;
use crate::naming::Naming;

/// One source and the mirror locations that serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorEntry {
    /// The upstream registry or repository that pulls name.
    pub source: String,
    /// The locations on the target that hold the same content, without duplicates, sorted.
    pub mirrors: Vec<String>,
}

/// The redirections for a set of images, validated and in a deterministic order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorPlan {
    /// Entries for pulls by digest (every image), sorted by source.
    pub digest: Vec<MirrorEntry>,
    /// Entries for pulls by tag (sources with an image held by tag), sorted by source.
    pub tag: Vec<MirrorEntry>,
    /// Each image as (`SOURCE@DIGEST`, `MIRROR@DIGEST`), sorted, without duplicates.
    pub images: Vec<(String, String)>,
}

/// Groups `inputs` into entries of width `scope`, asking `naming` for every location, and
/// checks every source and mirror against the OpenShift CRD patterns.
pub fn plan(
    inputs: &[MirrorInput],
    naming: &Naming,
    scope: Scope,
) -> Result<MirrorPlan, MirrorSetError> {
    let mut digest: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut tag: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut images: BTreeSet<(String, String)> = BTreeSet::new();

    for input in inputs {
        let upstream = &input.source;
        let image = upstream.to_string();
        let Some(d) = upstream.digest() else {
            return Err(MirrorSetError::MissingDigest { image });
        };
        if input.by_tag && upstream.tag().is_none() {
            return Err(MirrorSetError::MissingTag { image });
        }
        let naming_err = |source| MirrorSetError::Naming {
            image: image.clone(),
            source,
        };
        let (source, mirror) = entry_for(upstream, naming, scope, &image)?;
        if !is_valid_source(&source) {
            return Err(MirrorSetError::InvalidSource {
                location: source,
                image,
            });
        }
        if !is_valid_mirror(&mirror) {
            return Err(MirrorSetError::InvalidMirror {
                location: source,
                mirror,
            });
        }
        let pinned = upstream.by_digest(d.clone());
        let mirrored = naming.mirror(&pinned).map_err(naming_err)?;
        images.insert((pinned.to_string(), mirrored.to_string()));
        if input.by_tag {
            tag.entry(source.clone())
                .or_default()
                .insert(mirror.clone());
        }
        digest.entry(source).or_default().insert(mirror);
    }

    Ok(MirrorPlan {
        digest: entries(digest),
        tag: entries(tag),
        images: images.into_iter().collect(),
    })
}

/// The (source, mirror) pair that redirects `upstream` at width `scope`.
fn entry_for(
    upstream: &Reference,
    naming: &Naming,
    scope: Scope,
    image: &str,
) -> Result<(String, String), MirrorSetError> {
    let repository_location =
        naming
            .repository_location(upstream)
            .map_err(|source| MirrorSetError::Naming {
                image: image.to_string(),
                source,
            })?;
    match scope {
        Scope::Repository => Ok((upstream.name(), repository_location)),
        Scope::Registry => {
            let registry_location = naming.registry_location(upstream.registry());
            // A registry-wide entry redirects by prefix replacement, so it is right only if the
            // naming keeps the repository path under the registry location.
            if repository_location != format!("{registry_location}/{}", upstream.repository()) {
                return Err(MirrorSetError::ScopeMismatch {
                    image: image.to_string(),
                    registry_location,
                    repository_location,
                });
            }
            Ok((upstream.registry().to_string(), registry_location))
        }
    }
}

fn entries(map: BTreeMap<String, BTreeSet<String>>) -> Vec<MirrorEntry> {
    map.into_iter()
        .map(|(source, mirrors)| MirrorEntry {
            source,
            mirrors: mirrors.into_iter().collect(),
        })
        .collect()
}

impl MirrorPlan {
    /// Checks that every source can be blocked without blocking one of its own mirrors: a
    /// mirror equal to its source, or inside it (`source/...`), would be blocked as well.
    pub fn check_sources_blockable(&self) -> Result<(), MirrorSetError> {
        let all_sources = self.digest.iter().chain(&self.tag).map(|e| &e.source);
        let all_mirrors: Vec<&String> = self
            .digest
            .iter()
            .chain(&self.tag)
            .flat_map(|e| &e.mirrors)
            .collect();
        for source in all_sources {
            for mirror in &all_mirrors {
                if *mirror == source || mirror.starts_with(&format!("{source}/")) {
                    return Err(MirrorSetError::MirrorInsideSource {
                        location: source.clone(),
                        mirror: (*mirror).clone(),
                    });
                }
            }
        }
        Ok(())
    }
}
