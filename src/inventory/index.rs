//! The inventories of `pack --base` as lookups: whether the site has a blob (and an image it
//! belongs to there), and which of the site's layers a changed layer may be rebuilt from.

use std::collections::{HashMap, HashSet};

use super::Inventory;
use crate::bundle::root::{BaseRef, BlobBase, InventoryRef};
use crate::model::{Digest, MediaType, Reference};

/// Where the site has a blob, as an inventory saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseSite {
    /// Index of the inventory (in `--base` order).
    pub inventory: u32,
    /// An upstream image holding the blob there (`quay.io/org/app:1.0`).
    pub image: String,
}

/// A layer the site has that a changed layer may be rebuilt from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseLayer {
    /// The layer's digest.
    pub digest: Digest,
    /// Its size (compressed, as stored).
    pub size: u64,
    /// Its media type.
    pub media_type: MediaType,
    /// Its position in the image that has it.
    pub position: usize,
    /// That image's upstream name (`quay.io/org/app:1.0`): where the connected side reads the
    /// layer from, and where the site has it.
    pub image: String,
}

/// One image manifest of the site: its image's name and its layers in order.
#[derive(Debug, Clone)]
struct SiteImage {
    image: String,
    layers: Vec<Digest>,
}

/// What the inventories of `pack --base` say the site has.
#[derive(Debug, Clone, Default)]
pub struct BaseIndex {
    refs: Vec<InventoryRef>,
    blobs: HashMap<Digest, BaseSite>,
    sizes: HashMap<Digest, (u64, MediaType)>,
    images: HashMap<String, Vec<SiteImage>>,
}

/// The repository part (`quay.io/org/app`) of an upstream name, normalised as references are.
fn repository_of(name: &str) -> String {
    Reference::parse(name)
        .map(|r| r.name())
        .unwrap_or_else(|_| name.to_string())
}

impl BaseIndex {
    /// The lookups of `inventories`, the first inventory listing a blob naming it.
    pub fn new(inventories: &[Inventory]) -> BaseIndex {
        let mut index = BaseIndex::default();
        for (n, inv) in inventories.iter().enumerate() {
            index.refs.push(inv.reference());
            let manifests: HashMap<&Digest, _> =
                inv.manifests.iter().map(|m| (&m.digest, m)).collect();
            for b in &inv.blobs {
                index
                    .sizes
                    .entry(b.digest.clone())
                    .or_insert_with(|| (b.size, b.media_type.clone()));
            }
            for repo in &inv.repositories {
                let upstream = repository_of(&repo.upstream);
                let tops = repo
                    .tags
                    .iter()
                    .map(|(t, d)| (format!("{upstream}:{t}"), d))
                    .chain(repo.untagged.iter().map(|d| (format!("{upstream}@{d}"), d)));
                for (image, top) in tops {
                    // The image manifests under this top (itself, or an index's children).
                    let mut stack = vec![top];
                    let mut seen = HashSet::new();
                    while let Some(d) = stack.pop() {
                        let Some(m) = manifests.get(d).filter(|_| seen.insert(d.clone())) else {
                            continue;
                        };
                        stack.extend(m.children.iter().rev());
                        for blob in m.config.iter().chain(&m.layers) {
                            if index.sizes.contains_key(blob) {
                                index.blobs.entry(blob.clone()).or_insert(BaseSite {
                                    inventory: n as u32,
                                    image: image.clone(),
                                });
                            }
                        }
                        if !m.layers.is_empty() {
                            index
                                .images
                                .entry(upstream.clone())
                                .or_default()
                                .push(SiteImage {
                                    image: image.clone(),
                                    layers: m.layers.clone(),
                                });
                        }
                    }
                }
            }
        }
        index
    }

    /// Whether no inventory was given.
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// The root's `base` naming the inventories, if any.
    pub fn base_ref(&self) -> Option<BaseRef> {
        (!self.refs.is_empty()).then(|| BaseRef::of_inventories(self.refs.clone()))
    }

    /// Where the site has `digest`, if an inventory lists it in one of its images.
    pub fn site_of(&self, digest: &Digest) -> Option<&BaseSite> {
        self.blobs.get(digest)
    }

    /// The root's record of where the site has `digest`.
    pub fn blob_base(&self, digest: &Digest) -> Option<BlobBase> {
        self.site_of(digest).map(|s| BlobBase {
            inventory: s.inventory,
            image: s.image.clone(),
        })
    }

    /// The site's layers a changed layer at `position` of an image of `upstream` (an upstream
    /// name; tag or digest ignored) may be rebuilt from: the layers of the same upstream
    /// repository, those at the same position first, then by distance from it; each once.
    pub fn candidates(&self, upstream: &str, position: usize) -> Vec<BaseLayer> {
        let Some(images) = self.images.get(&repository_of(upstream)) else {
            return Vec::new();
        };
        let mut all: Vec<BaseLayer> = Vec::new();
        for img in images {
            for (p, d) in img.layers.iter().enumerate() {
                let Some((size, media_type)) = self.sizes.get(d) else {
                    continue;
                };
                all.push(BaseLayer {
                    digest: d.clone(),
                    size: *size,
                    media_type: media_type.clone(),
                    position: p,
                    image: img.image.clone(),
                });
            }
        }
        all.sort_by_key(|l| (l.position.abs_diff(position), l.position));
        let mut seen = HashSet::new();
        all.retain(|l| seen.insert(l.digest.clone()));
        all
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::inventory::{
        InventoryBlob, InventoryManifest, InventoryRepository, InventorySource, Listing,
    };

    fn d(s: &str) -> Digest {
        Digest::sha256_of(s.as_bytes())
    }

    fn blob(s: &str) -> InventoryBlob {
        InventoryBlob {
            digest: d(s),
            size: s.len() as u64,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        }
    }

    fn image(m: &str, layers: &[&str]) -> InventoryManifest {
        InventoryManifest {
            digest: d(m),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            children: vec![],
            config: Some(d(&format!("{m}-config"))),
            layers: layers.iter().map(|l| d(l)).collect(),
        }
    }

    fn site() -> Inventory {
        let mut inv = Inventory::new(
            InventorySource {
                listing: Listing::Catalog,
                registry: Some("site:5000".into()),
                prefix: Some("mirror".into()),
                flattened: false,
                bundles: vec![],
            },
            0,
        );
        inv.repositories.push(InventoryRepository {
            upstream: "quay.io/org/app".into(),
            mirror: Some("mirror/quay.io/org/app".into()),
            tags: BTreeMap::from([("1.0".to_string(), d("m1")), ("0.9".to_string(), d("m0"))]),
            untagged: vec![],
        });
        inv.manifests = vec![image("m1", &["a1", "b1", "c1"]), image("m0", &["a0", "b0"])];
        inv.blobs = ["a1", "b1", "c1", "a0", "b0", "m1-config"]
            .iter()
            .map(|s| blob(s))
            .collect();
        inv.normalise();
        inv
    }

    #[test]
    fn the_site_has_what_its_images_list_and_names_the_image() {
        let index = BaseIndex::new(&[site()]);
        let s = index.site_of(&d("b1")).unwrap();
        assert_eq!(s.image, "quay.io/org/app:1.0");
        assert_eq!(s.inventory, 0);
        assert!(index.site_of(&d("m1-config")).is_some());
        // Listed by a manifest but not among the blobs (m0's config): not assumed.
        assert!(index.site_of(&d("m0-config")).is_none());
        assert!(index.site_of(&d("zz")).is_none());
        let base = index.base_ref().unwrap();
        assert!(base.is_inventory());
        assert_eq!(base.bundle_id, base.root_digest.hex()[..32]);
    }

    #[test]
    fn candidates_are_the_same_repository_same_position_first() {
        let index = BaseIndex::new(&[site()]);
        let c = index.candidates("quay.io/org/app:2.0", 1);
        let names: Vec<&Digest> = c.iter().map(|l| &l.digest).collect();
        assert_eq!(names[..2], [&d("b0"), &d("b1")]);
        assert_eq!(c.len(), 5);
        assert!(c[2..].iter().all(|l| l.position != 1));
        assert!(index.candidates("quay.io/org/other:1", 0).is_empty());
    }
}
