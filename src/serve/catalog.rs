//! Which repository holds which manifests, blobs and tags, and in which bundle.

use std::collections::{BTreeMap, HashMap};

use super::ServeError;
use crate::bundle::{Bundle, Verified};
use crate::model::{Digest, Reference};
use crate::naming::Naming;

/// One repository: its tags and what it may be asked for by digest, each with the bundle
/// (index) that holds it.
#[derive(Debug, Default)]
pub(super) struct Repo {
    pub(super) tags: BTreeMap<String, Digest>,
    pub(super) manifests: HashMap<Digest, usize>,
    pub(super) blobs: HashMap<Digest, (usize, u64)>,
}

/// The repositories of one or more verified bundles, each image under its upstream name and
/// its mirror name; a later bundle adds to (and for a tag, overrides) an earlier one.
#[derive(Debug)]
pub struct Catalog {
    bundles: Vec<Bundle<Verified>>,
    repos: BTreeMap<String, Repo>,
    images: usize,
}

impl Catalog {
    /// Indexes `bundles` (in order); mirror names lie under `prefix`.
    pub fn new(bundles: Vec<Bundle<Verified>>, prefix: &str) -> Result<Self, ServeError> {
        // Only the repository path is used: the target is a placeholder.
        let naming = Naming::new("localhost", prefix)?;
        let mut repos: BTreeMap<String, Repo> = BTreeMap::new();
        let mut images = 0;
        for (i, b) in bundles.iter().enumerate() {
            let root = b.root();
            let sizes = root.blob_index();
            for img in &root.images {
                let fail = |message: String| ServeError::Image {
                    bundle: root.bundle_id.clone(),
                    image: img.name.clone(),
                    message,
                };
                let name = Reference::parse(&img.name).map_err(|e| fail(e.to_string()))?;
                let graph = root.image_graph(img).map_err(|e| fail(e.to_string()))?;
                let mirror = naming.repository(&name)?;
                for repo_name in [name.name(), mirror] {
                    let repo = repos.entry(repo_name).or_default();
                    for t in &img.tags {
                        repo.tags.insert(t.clone(), img.digest.clone());
                    }
                    for n in &graph.nodes {
                        repo.manifests.insert(n.digest.clone(), i);
                    }
                    for blob in &graph.blobs {
                        if let Some(e) = sizes.get(&blob.digest).filter(|e| !e.in_base) {
                            repo.blobs.insert(blob.digest.clone(), (i, e.size));
                        }
                    }
                }
                images += 1;
            }
        }
        Ok(Catalog {
            bundles,
            repos,
            images,
        })
    }

    /// The bundles served, in the order given.
    pub fn bundles(&self) -> &[Bundle<Verified>] {
        &self.bundles
    }

    /// How many images (counted per bundle) are served.
    pub fn image_count(&self) -> usize {
        self.images
    }

    /// The repository names served, sorted.
    pub fn repositories(&self) -> impl Iterator<Item = &str> {
        self.repos.keys().map(|k| k.as_str())
    }

    pub(super) fn repo(&self, name: &str) -> Option<&Repo> {
        self.repos.get(name)
    }

    pub(super) fn bundle(&self, index: usize) -> &Bundle<Verified> {
        &self.bundles[index]
    }
}
