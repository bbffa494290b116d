//! Which repository holds which manifests, blobs and tags, and in which bundle; and, for an
//! incremental bundle, where the blobs it leaves to the site are among the bundles served.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read};
use std::path::PathBuf;

use super::spool::Spool;
use super::ServeError;
use crate::bundle::{BlobEncoding, Bundle, Verified};
use crate::layerdelta::SpooledBases;
use crate::model::{Digest, DigestingReader, Reference};
use crate::naming::Naming;
use crate::push::base::{base_needs, MissingBase};

/// One repository: its tags and what it may be asked for by digest, each with the bundle
/// (index) that holds it.
#[derive(Debug, Default)]
pub(super) struct Repo {
    pub(super) tags: BTreeMap<String, Digest>,
    pub(super) manifests: HashMap<Digest, usize>,
    pub(super) blobs: HashMap<Digest, (usize, u64)>,
}

/// Where rebuilt layers of incremental bundles are kept while the server runs.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// The directory the spool's own temporary directory is made in.
    pub dir: PathBuf,
    /// The most bytes of rebuilt layers kept at once.
    pub limit: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: std::env::temp_dir(),
            limit: DEFAULT_SPOOL_LIMIT,
        }
    }
}

/// The default [`SpoolConfig::limit`]: 4 GiB.
pub const DEFAULT_SPOOL_LIMIT: u64 = 4 << 30;

/// The repositories of one or more verified bundles, each image under its upstream name and
/// its mirror name; a later bundle adds to (and for a tag, overrides) an earlier one. An
/// incremental bundle's `in_base` blobs are served from the bundles that carry them, and its
/// `gzip-tar` layers rebuilt from base layers those bundles carry.
pub struct Catalog {
    bundles: Vec<Bundle<Verified>>,
    repos: BTreeMap<String, Repo>,
    images: usize,
    /// Every blob a bundle carries (not `in_base`): the last bundle that does, and its size.
    carried: HashMap<Digest, (usize, u64)>,
    /// The `gzip-tar` blobs, rebuilt into the spool before they are served.
    rebuilt: HashSet<Digest>,
    spool: Spool,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("repositories", &self.repos.len())
            .field("images", &self.images)
            .finish()
    }
}

impl Catalog {
    /// Indexes `bundles` (in order); mirror names lie under `prefix`; rebuilt layers spool as
    /// `spool` says. An incremental bundle whose base blobs no served bundle carries is
    /// refused, every missing blob named with its base image and inventory.
    pub fn new(
        bundles: Vec<Bundle<Verified>>,
        prefix: &str,
        spool: SpoolConfig,
    ) -> Result<Self, ServeError> {
        // Only the repository path is used: the target is a placeholder.
        let naming = Naming::new("localhost", prefix)?;
        let mut carried: HashMap<Digest, (usize, u64)> = HashMap::new();
        let mut rebuilt = HashSet::new();
        for (i, b) in bundles.iter().enumerate() {
            for e in b.root().blobs.iter().filter(|e| !e.in_base) {
                carried.insert(e.digest.clone(), (i, e.size));
                if e.encoding == BlobEncoding::GzipTar {
                    rebuilt.insert(e.digest.clone());
                }
            }
        }
        for b in &bundles {
            let missing = missing_bases(b, &carried);
            if !missing.is_empty() {
                return Err(ServeError::BaseMissing {
                    bundle: b.root().bundle_id.clone(),
                    missing,
                });
            }
        }
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
                        let at = match sizes.get(&blob.digest) {
                            Some(e) if !e.in_base => Some((i, e.size)),
                            Some(_) => carried.get(&blob.digest).copied(),
                            None => None,
                        };
                        if let Some(at) = at {
                            repo.blobs.insert(blob.digest.clone(), at);
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
            carried,
            rebuilt,
            spool: Spool::new(spool.dir, spool.limit),
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

    /// How many layers are rebuilt (into the spool) before they are served.
    pub fn rebuilt_layers(&self) -> usize {
        self.rebuilt.len()
    }

    pub(super) fn repo(&self, name: &str) -> Option<&Repo> {
        self.repos.get(name)
    }

    pub(super) fn bundle(&self, index: usize) -> &Bundle<Verified> {
        &self.bundles[index]
    }

    /// The bytes of blob `digest` (`size` bytes) of bundle `bundle`: rebuilt from its chunks as
    /// they are read, or, for a `gzip-tar` layer, from the spool (rebuilt into it first).
    /// The caller hashes what it reads.
    pub(super) fn open_blob(
        &self,
        bundle: usize,
        digest: &Digest,
        size: u64,
    ) -> Result<Box<dyn Read + Send + '_>, String> {
        if !self.rebuilt.contains(digest) {
            let r = self.bundles[bundle]
                .blob_reader(digest, true)
                .map_err(|e| crate::error_chain(&e))?;
            return Ok(Box::new(r));
        }
        let build = |scratch: &std::path::Path, out: &mut dyn io::Write| {
            let mut r = self
                .rebuild(bundle, digest, size, scratch)
                .map_err(|e| e.to_string())?;
            io::copy(&mut r, out).map(|_| ()).map_err(|e| e.to_string())
        };
        let f = self.spool.open(digest, size, &build).inspect_err(|e| {
            log::error!("{e}");
        })?;
        Ok(Box::new(f))
    }

    /// A `gzip-tar` layer rebuilt from its bundle's chunks and the base layers the served
    /// bundles carry (spooled uncompressed under `scratch`), checked against its digest.
    fn rebuild<'a>(
        &'a self,
        bundle: usize,
        digest: &Digest,
        size: u64,
        scratch: &std::path::Path,
    ) -> io::Result<Box<dyn Read + Send + 'a>> {
        let nested = scratch.to_path_buf();
        let open = Box::new(move |d: &Digest| self.base_layer(d, &nested));
        let bases = SpooledBases::new(scratch, open);
        let r = self.bundles[bundle]
            .blob_reader_with_bases(digest, true, Box::new(bases))
            .map_err(|e| io::Error::other(crate::error_chain(&e)))?;
        Ok(Box::new(DigestingReader::verifying(
            r,
            digest.clone(),
            Some(size),
        )))
    }

    /// A base layer's (compressed) bytes from the bundle that carries it; one that is itself a
    /// `gzip-tar` layer is rebuilt on the fly, its own bases spooled in a directory under
    /// `scratch` removed with the reader.
    fn base_layer<'a>(
        &'a self,
        digest: &Digest,
        scratch: &std::path::Path,
    ) -> io::Result<Box<dyn Read + Send + 'a>> {
        let &(bundle, size) = self.carried.get(digest).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("base layer {digest} is in none of the bundles served"),
            )
        })?;
        if !self.rebuilt.contains(digest) {
            let r = self.bundles[bundle]
                .blob_reader(digest, true)
                .map_err(|e| io::Error::other(crate::error_chain(&e)))?;
            return Ok(Box::new(r));
        }
        let dir = tempfile::Builder::new()
            .prefix("bases-")
            .tempdir_in(scratch)?;
        let reader = self.rebuild(bundle, digest, size, dir.path())?;
        Ok(Box::new(WithDir { reader, _dir: dir }))
    }
}

/// The blobs `bundle` leaves to the site that none of the served bundles carries.
fn missing_bases(
    bundle: &Bundle<Verified>,
    carried: &HashMap<Digest, (usize, u64)>,
) -> Vec<MissingBase> {
    let root = bundle.root();
    let inventories = root
        .base
        .as_ref()
        .map(|b| b.inventories.clone())
        .unwrap_or_default();
    base_needs(root)
        .into_iter()
        .filter(|n| !carried.contains_key(&n.digest))
        .map(|n| MissingBase {
            from: n
                .base
                .as_ref()
                .and_then(|b| inventories.get(b.inventory as usize))
                .map(|i| i.to_string())
                .or_else(|| root.base.as_ref().map(|b| format!("base {}", b.bundle_id)))
                .unwrap_or_default(),
            base_image: n.base.map(|b| b.image),
            digest: n.digest,
            looked_in: vec!["the bundles served".to_string()],
            used_by: n.used_by,
        })
        .collect()
}

/// A reader and the temporary directory its spool files live in, removed after the reader
/// (fields drop in order).
struct WithDir<R> {
    reader: R,
    _dir: tempfile::TempDir,
}

impl<R: Read> Read for WithDir<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}
