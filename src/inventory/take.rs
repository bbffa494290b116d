//! Taking an inventory of a registry: repositories under the prefix (from the catalog, else
//! from ferry's push history), each tag's manifest graph, and every blob it names.

use std::collections::{BTreeMap, HashMap};

use super::{
    Inventory, InventoryBlob, InventoryError, InventoryManifest, InventoryRepository,
    InventorySource, Listing,
};
use crate::model::graph::{self, FetchedManifest};
use crate::model::manifest::{ManifestRefs, Referenced};
use crate::model::Digest;
use crate::naming::Naming;
use crate::progress::Progress;
use crate::push::history::{state_repository, SiteHistory};
use crate::registry::{Registry, RegistryError};

/// How to take an inventory.
#[derive(Debug, Clone)]
pub struct TakeOptions {
    /// When (seconds since the epoch).
    pub taken: u64,
    /// Repositories read in parallel.
    pub jobs: usize,
}

/// What one repository holds.
struct Listed {
    repository: InventoryRepository,
    manifests: Vec<InventoryManifest>,
    blobs: Vec<InventoryBlob>,
}

/// Lists what `registry` holds under `naming`'s prefix: every repository the mapping names
/// (its upstream name found by [`Naming::upstream_name`]), every tag, the manifests under each
/// tag and their blobs. Without a catalog, the repositories and tags come from the push
/// history in `PREFIX/ferry-state`.
pub fn take(
    registry: &Registry,
    naming: &Naming,
    opts: &TakeOptions,
    progress: &dyn Progress,
) -> Result<Inventory, InventoryError> {
    let state = state_repository(naming);
    let mut inv = Inventory::new(
        InventorySource {
            listing: Listing::Catalog,
            registry: Some(naming.target().to_string()),
            prefix: Some(naming.prefix().to_string()),
            flattened: naming.is_flattened(),
            bundles: Vec::new(),
        },
        opts.taken,
    );
    // Repository → tags known before listing (from the history), or None to list them.
    let repos: Vec<(String, Option<Vec<String>>)> = match registry.catalog()? {
        Some(all) => {
            let under = match naming.prefix() {
                "" => String::new(),
                p => format!("{p}/"),
            };
            all.into_iter()
                .filter(|r| r.starts_with(&under) && *r != state)
                .map(|r| (r, None))
                .collect()
        }
        None => {
            inv.source.listing = Listing::History;
            let history = SiteHistory::load(registry, naming)?;
            if history.records.is_empty() {
                return Err(InventoryError::NoListing {
                    registry: naming.target().to_string(),
                    state,
                });
            }
            let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for t in history.records.iter().flat_map(|r| &r.tags) {
                tags.entry(t.repository.clone())
                    .or_default()
                    .push(t.tag.clone());
            }
            inv.notes.push(format!(
                "{} offers no catalog: repositories and tags come from the {} bundle record(s) \
                 in {state}; images pushed by other tools are not listed",
                naming.target(),
                history.records.len()
            ));
            tags.into_iter().map(|(r, t)| (r, Some(t))).collect()
        }
    };
    let mut named = Vec::new();
    for (repo, tags) in repos {
        match naming.upstream_name(&repo) {
            Some(up) => named.push((repo, up, tags)),
            None => inv.notes.push(format!(
                "{repo}: not a mirror name of this prefix{}, left out",
                if naming.is_flattened() {
                    " (flattened)"
                } else {
                    ""
                }
            )),
        }
    }
    progress.start("inventory", Some(named.len() as u64));
    let results = crate::parallel::map(&named, opts.jobs, |(repo, up, tags)| {
        let r = list_repository(registry, repo, up, tags.as_deref());
        progress.advance(1);
        r
    });
    progress.finish();
    for r in results {
        let listed = r?;
        if listed.repository.tags.is_empty() {
            continue;
        }
        inv.repositories.push(listed.repository);
        inv.manifests.extend(listed.manifests);
        inv.blobs.extend(listed.blobs);
    }
    inv.normalise();
    Ok(inv)
}

/// Every tag of `repo` with its manifests and blobs. A tag the history names that is gone, or
/// now points elsewhere, is taken as it is now.
fn list_repository(
    registry: &Registry,
    repo: &str,
    upstream: &str,
    known_tags: Option<&[String]>,
) -> Result<Listed, InventoryError> {
    let tags = match known_tags {
        Some(t) => {
            let mut t = t.to_vec();
            t.sort();
            t.dedup();
            t
        }
        None => registry.tags(repo)?,
    };
    let mut out = Listed {
        repository: InventoryRepository {
            upstream: upstream.to_string(),
            mirror: Some(repo.to_string()),
            tags: BTreeMap::new(),
            untagged: Vec::new(),
        },
        manifests: Vec::new(),
        blobs: Vec::new(),
    };
    let mut cache: HashMap<Digest, FetchedManifest> = HashMap::new();
    let mut walked: HashMap<Digest, ()> = HashMap::new();
    let bad = |reference: &str, reason: String| InventoryError::Manifest {
        repository: repo.to_string(),
        reference: reference.to_string(),
        reason,
    };
    for tag in tags {
        let top = match registry.get_manifest(repo, &tag) {
            Ok(m) => m,
            // Deleted since it was listed (or a history tag that is gone): not at the site.
            Err(RegistryError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        out.repository.tags.insert(tag.clone(), top.digest.clone());
        if walked.insert(top.digest.clone(), ()).is_some() {
            continue;
        }
        let mut fetch = |d: &Digest| -> Result<FetchedManifest, RegistryError> {
            if let Some(m) = cache.get(d) {
                return Ok(m.clone());
            }
            let m = registry.get_manifest(repo, &d.to_string())?;
            let f = FetchedManifest {
                media_type: m.media_type,
                bytes: m.bytes,
            };
            cache.insert(d.clone(), f.clone());
            Ok(f)
        };
        let fetched = FetchedManifest {
            media_type: top.media_type,
            bytes: top.bytes,
        };
        // A sparse index (platforms left out at pack) lists children the site lacks: only
        // those present are followed; one that cannot be looked up counts as absent, so its
        // blobs are carried again rather than assumed.
        let present = |_: &Digest, c: &Referenced| {
            matches!(
                registry.manifest_digest(repo, &c.digest.to_string()),
                Ok(Some(_))
            )
        };
        let g = graph::walk(&top.digest, fetched, &mut fetch, &present)
            .map_err(|e| bad(&tag, crate::error_chain(&e)))?;
        for node in &g.nodes {
            let mut m = InventoryManifest {
                digest: node.digest.clone(),
                media_type: node.media_type.clone(),
                children: Vec::new(),
                config: None,
                layers: Vec::new(),
            };
            match &node.refs {
                ManifestRefs::Index { children } => {
                    m.children = children.iter().map(|c| c.digest.clone()).collect()
                }
                ManifestRefs::Image { config, layers } => {
                    m.config = Some(config.digest.clone());
                    m.layers = layers
                        .iter()
                        .filter(|l| !l.foreign)
                        .map(|l| l.digest.clone())
                        .collect();
                }
            }
            out.manifests.push(m);
        }
        for b in &g.blobs {
            out.blobs.push(InventoryBlob {
                digest: b.digest.clone(),
                size: b.size,
                media_type: b.media_type.clone(),
            });
        }
    }
    Ok(out)
}
