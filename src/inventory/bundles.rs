//! An inventory of bundles (`ferry inventory --bundle DIR…`): what the site holds once they
//! are pushed — their images' repositories, tags, manifests and blobs — without asking it.

use std::collections::BTreeMap;

use super::{
    Inventory, InventoryBlob, InventoryError, InventoryManifest, InventoryRepository,
    InventorySource, Listing,
};
use crate::bundle::{Bundle, Verified};
use crate::model::manifest::ManifestRefs;
use crate::model::Reference;

/// Describes what `bundles` carry for their images (blobs an incremental bundle left to its
/// base included: the site has them once it is pushed), taken at `taken` (seconds since the
/// epoch).
pub fn of_bundles(bundles: &[Bundle<Verified>], taken: u64) -> Result<Inventory, InventoryError> {
    let mut inv = Inventory::new(
        InventorySource {
            listing: Listing::Bundles,
            registry: None,
            prefix: None,
            flattened: false,
            bundles: bundles.iter().map(|b| b.root().bundle_id.clone()).collect(),
        },
        taken,
    );
    let mut repos: BTreeMap<String, InventoryRepository> = BTreeMap::new();
    for bundle in bundles {
        let root = bundle.root();
        for img in &root.images {
            let bad = |reason: String| InventoryError::Bundle {
                bundle: root.bundle_id.clone(),
                reason,
            };
            let name = Reference::parse(&img.name)
                .map_err(|_| bad(format!("image name {:?} is not a reference", img.name)))?;
            let graph = root
                .image_graph(img)
                .map_err(|e| bad(format!("image {}: {}", img.name, crate::error_chain(&e))))?;
            let repo = repos
                .entry(name.name())
                .or_insert_with(|| InventoryRepository {
                    upstream: name.name(),
                    mirror: None,
                    tags: BTreeMap::new(),
                    untagged: Vec::new(),
                });
            if img.tags.is_empty() {
                repo.untagged.push(img.digest.clone());
            }
            for t in &img.tags {
                repo.tags.insert(t.clone(), img.digest.clone());
            }
            for node in &graph.nodes {
                let (children, config, layers) = match &node.refs {
                    ManifestRefs::Index { children } => (
                        children.iter().map(|c| c.digest.clone()).collect(),
                        None,
                        Vec::new(),
                    ),
                    ManifestRefs::Image { config, layers } => (
                        Vec::new(),
                        Some(config.digest.clone()),
                        layers
                            .iter()
                            .filter(|l| !l.foreign)
                            .map(|l| l.digest.clone())
                            .collect(),
                    ),
                };
                inv.manifests.push(InventoryManifest {
                    digest: node.digest.clone(),
                    media_type: node.media_type.clone(),
                    children,
                    config,
                    layers,
                });
            }
            for b in &graph.blobs {
                inv.blobs.push(InventoryBlob {
                    digest: b.digest.clone(),
                    size: b.size,
                    media_type: b.media_type.clone(),
                });
            }
        }
    }
    inv.repositories = repos.into_values().collect();
    inv.normalise();
    Ok(inv)
}
