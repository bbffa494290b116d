//! Pushing an incremental bundle (format 1.2, packed with `pack --base`): before anything is
//! pushed, every blob it leaves to the site must be in the target; then those blobs are
//! mounted (or, where the registry will not mount, copied within it) into the repositories
//! that lack them, and base layers are read back from the target as streams.

use std::collections::HashMap;
use std::io::{self, Read};

use serde::Serialize;

use crate::bundle::root::{BlobBase, Root};
use crate::bundle::{Bundle, Verified};
use crate::layerdelta::SpooledBases;
use crate::model::{Digest, DigestingReader, Reference};
use crate::naming::Naming;
use crate::registry::{BlobSource, Registry, RegistryError};

/// Opens a base blob by digest (the shape of `layerdelta::OpenBlob`).
pub type OpenBaseBlob<'a> =
    Box<dyn FnMut(&Digest) -> io::Result<Box<dyn Read + Send + 'a>> + Send + 'a>;

/// A blob an incremental bundle needs from the site, and where the site should have it.
#[derive(Debug, Clone)]
pub struct BaseNeed {
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Where the inventory saw it, when the root says.
    pub base: Option<BlobBase>,
    /// The images of this bundle that use it.
    pub used_by: Vec<String>,
}

/// Every blob `root` leaves to the site: the `in_base` blobs, then the base layers that its
/// `gzip-tar` blobs are rebuilt from (each once).
pub fn base_needs(root: &Root) -> Vec<BaseNeed> {
    let users = root.blob_users();
    let mut needs: Vec<BaseNeed> = root
        .blobs
        .iter()
        .filter(|b| b.in_base)
        .map(|b| BaseNeed {
            digest: b.digest.clone(),
            size: b.size,
            base: b.base.clone(),
            used_by: users.get(&b.digest).cloned().unwrap_or_default(),
        })
        .collect();
    let mut at: HashMap<Digest, usize> = needs
        .iter()
        .enumerate()
        .map(|(i, n)| (n.digest.clone(), i))
        .collect();
    for b in &root.blobs {
        let Some(layer) = b.layer.as_ref() else {
            continue;
        };
        for d in &layer.bases {
            let used_by = users.get(&b.digest).cloned().unwrap_or_default();
            match at.get(d) {
                Some(&i) => {
                    let n = &mut needs[i];
                    for u in used_by {
                        if !n.used_by.contains(&u) {
                            n.used_by.push(u);
                        }
                    }
                }
                None => {
                    at.insert(d.clone(), needs.len());
                    needs.push(BaseNeed {
                        digest: d.clone(),
                        // Read back only, never copied: its size is the target's to say.
                        size: 0,
                        base: None,
                        used_by,
                    });
                }
            }
        }
    }
    needs
}

/// A blob the target lacks, named for the operator.
#[derive(Debug, Clone, Serialize)]
pub struct MissingBase {
    /// The blob.
    pub digest: Digest,
    /// The base image the inventory found it in (`quay.io/org/app:1.0`), when known.
    pub base_image: Option<String>,
    /// Where it was looked for at the target.
    pub looked_in: Vec<String>,
    /// The inventory (or bundle) it came from, in words.
    pub from: String,
    /// The images of this bundle that need it.
    pub used_by: Vec<String>,
}

impl std::fmt::Display for MissingBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.base_image {
            Some(image) => write!(f, "{} of base image {image}", self.digest)?,
            None => write!(
                f,
                "{} (a base layer that a layer carried as changes is rebuilt from)",
                self.digest
            )?,
        }
        write!(
            f,
            " is not in {}; needed by {}",
            self.looked_in.join(", "),
            self.used_by.join(", ")
        )
    }
}

/// Where at the target each blob an incremental bundle leaves to the site is, found before
/// anything is pushed; and a way to read them back.
#[derive(Clone)]
pub struct BaseBlobs {
    registry: Registry,
    at: HashMap<Digest, String>,
}

impl BaseBlobs {
    /// The repository at the target that holds `digest`, if it is a base blob.
    pub fn repository_of(&self, digest: &Digest) -> Option<&str> {
        self.at.get(digest).map(String::as_str)
    }

    /// How many base blobs were found.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether the bundle needs nothing from the site.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// A base blob's bytes, streamed back from the target (a cut download resumes where it
    /// stopped) and checked against its digest at the end: what rebuilding a `gzip-tar` layer
    /// reads its base layers from (`layerdelta::OpenBlob`).
    pub fn open_blob(&self, digest: &Digest) -> io::Result<Box<dyn Read + Send>> {
        let repo = self.repository_of(digest).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{digest} is not a base blob found at the target"),
            )
        })?;
        self.registry
            .get_blob(repo, digest, None)
            .map_err(|e| io::Error::other(crate::error_chain(&e)))
    }

    /// [`BaseBlobs::open_blob`] as the boxed opener that spooling base layers for a rebuild
    /// takes (`layerdelta::OpenBlob`).
    pub fn opener(&self) -> OpenBaseBlob<'_> {
        Box::new(move |d: &Digest| self.open_blob(d))
    }

    /// A base blob as an upload source into another repository of the target, for a registry
    /// that will not mount it.
    pub fn source<'a>(&'a self, digest: &'a Digest, size: u64) -> impl BlobSource + 'a {
        TargetBlob {
            bases: self,
            digest,
            size,
        }
    }
}

impl BaseBlobs {
    /// A `gzip-tar` blob of `bundle` as an upload source: rebuilt from the pieces the bundle
    /// carries and ranges of base layers read back from the target, checked against its
    /// digest while it streams. Each try spools the uncompressed base layers of this one layer
    /// into a temporary directory under the system temporary directory, removed when the
    /// upload ends: temporary disk is bounded by the uncompressed base layers of one layer.
    pub fn rebuilt<'a>(
        &'a self,
        bundle: &'a Bundle<Verified>,
        digest: &'a Digest,
        size: u64,
    ) -> impl BlobSource + 'a {
        RebuiltBlob {
            bases: self,
            bundle,
            digest,
            size,
        }
    }
}

struct RebuiltBlob<'a> {
    bases: &'a BaseBlobs,
    bundle: &'a Bundle<Verified>,
    digest: &'a Digest,
    size: u64,
}

impl BlobSource for RebuiltBlob<'_> {
    fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        let dir = tempfile::Builder::new()
            .prefix("ferry-push-bases-")
            .tempdir()?;
        let spooled = SpooledBases::new(dir.path(), self.bases.opener());
        let r = self
            .bundle
            .blob_reader_with_bases(self.digest, true, Box::new(spooled))
            .map_err(|e| io::Error::other(crate::error_chain(&e)))?;
        let reader = DigestingReader::verifying(r, self.digest.clone(), Some(self.size));
        Ok(Box::new(WithDir { reader, _dir: dir }))
    }
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

struct TargetBlob<'a> {
    bases: &'a BaseBlobs,
    digest: &'a Digest,
    size: u64,
}

impl BlobSource for TargetBlob<'_> {
    fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        let repo = self.bases.repository_of(self.digest).unwrap_or_default();
        self.bases
            .registry
            .get_blob(repo, self.digest, Some(self.size))
            .map_err(|e| io::Error::other(crate::error_chain(&e)))
    }
}

/// Looks up, at the target, every blob `bundle` leaves to the site: first in the mirror
/// repository of the base image the inventory named, then in those of the bundle's images
/// that use it. Returns where each is, or every one missing (then nothing may be pushed).
pub fn find_base_blobs(
    bundle: &Bundle<Verified>,
    registry: &Registry,
    naming: &Naming,
    jobs: usize,
) -> Result<Result<BaseBlobs, Vec<MissingBase>>, RegistryError> {
    let root = bundle.root();
    let needs = base_needs(root);
    let inventories = root
        .base
        .as_ref()
        .map(|b| b.inventories.clone())
        .unwrap_or_default();
    let repo_of = |name: &str| {
        Reference::parse(name)
            .ok()
            .and_then(|r| naming.repository(&r).ok())
    };
    type Found = Result<(Digest, String), MissingBase>;
    let found = crate::parallel::map(&needs, jobs, |need| -> Result<Found, RegistryError> {
        let mut looked_in: Vec<String> = Vec::new();
        let candidates = need
            .base
            .iter()
            .map(|b| b.image.as_str())
            .chain(need.used_by.iter().map(String::as_str));
        for repo in candidates.filter_map(repo_of) {
            if looked_in.contains(&repo) {
                continue;
            }
            if registry.blob_exists(&repo, &need.digest)?.is_some() {
                return Ok(Ok((need.digest.clone(), repo)));
            }
            looked_in.push(repo);
        }
        let from = need
            .base
            .as_ref()
            .and_then(|b| inventories.get(b.inventory as usize))
            .map(|i| i.to_string())
            .or_else(|| root.base.as_ref().map(|b| format!("base {}", b.bundle_id)))
            .unwrap_or_default();
        Ok(Err(MissingBase {
            digest: need.digest.clone(),
            base_image: need.base.as_ref().map(|b| b.image.clone()),
            looked_in,
            from,
            used_by: need.used_by.clone(),
        }))
    });
    let mut at = HashMap::new();
    let mut missing = Vec::new();
    for r in found {
        match r? {
            Ok((d, repo)) => {
                at.insert(d, repo);
            }
            Err(m) => missing.push(m),
        }
    }
    Ok(if missing.is_empty() {
        Ok(BaseBlobs {
            registry: registry.clone(),
            at,
        })
    } else {
        Err(missing)
    })
}
