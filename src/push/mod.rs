//! `ferry push`: every image of a verified bundle into the mirror registry, digests unchanged.
//!
//! Order per image: blobs, then child manifests, then the index, then tags, so that a tag
//! never points at something incomplete. Blobs the registry has are skipped; a blob already
//! pushed to another repository in this run is mounted; a blob another image is uploading right
//! now is left for last, so the image uploads its own blobs meanwhile and then mounts it. Images
//! run in parallel; one failing does not stop the others.

mod ledger;
mod workflow;

use std::io::Read;

use serde::Serialize;

use crate::bundle::root::ImageEntry;
use crate::bundle::{Bundle, BundleError, Verified};
use crate::model::manifest::{parse_refs, ManifestRefs, Referenced};
use crate::model::{Digest, DigestingReader, Reference};
use crate::naming::Naming;
use crate::progress::Progress;
use crate::registry::{BlobSource, Registry, RegistryError};
use ledger::{Claim, Ledger};

pub use workflow::{run, PushOptions, PushOutcome, WorkflowError};

/// Why one image could not be pushed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The registry refused or failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The bundle's content is damaged.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The image's name has no mirror name.
    #[error(transparent)]
    Naming(#[from] crate::naming::NamingError),
    /// The image's name in the root does not parse.
    #[error("image name {0:?} in the bundle is not a valid reference")]
    BadName(String),
    /// The registry refused an index whose platforms were partly left out at pack time.
    #[error("{target} refused the index {digest} because the platforms left out at pack time (--platform) are missing: {absent}. The carried platforms were pushed by digest ({present}); to mirror the whole index, pack without --platform or use a registry that accepts sparse indexes. Registry said: {source}")]
    SparseIndexRefused {
        /// The target registry.
        target: String,
        /// The index.
        digest: Digest,
        /// Platforms left out.
        absent: String,
        /// Platforms pushed, with digests.
        present: String,
        /// What the registry said.
        source: RegistryError,
    },
    /// A blob another image was pushing failed.
    #[error("blob {0} could not be pushed (see the image that failed on it)")]
    BlobFailed(Digest),
}

/// How one image went.
#[derive(Debug, Clone, Serialize)]
pub struct ImageResult {
    /// Upstream name.
    pub name: String,
    /// Mirror repository reference (by digest).
    pub mirror: String,
    /// Top manifest digest.
    pub digest: Digest,
    /// Whether every step succeeded.
    pub ok: bool,
    /// Why not, when it failed.
    pub error: Option<String>,
    /// What to do about the failure, when the registry product's limits explain it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<crate::flavor::Hint>,
    /// Blobs uploaded for this image.
    pub blobs_uploaded: usize,
    /// Blobs mounted from another repository.
    pub blobs_mounted: usize,
    /// Blobs the registry already had.
    pub blobs_present: usize,
    /// Manifests (and tags) written.
    pub manifests_pushed: usize,
}

/// The outcome of a push.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    /// The bundle id.
    pub bundle_id: String,
    /// The target registry.
    pub target: String,
    /// Per image.
    pub images: Vec<ImageResult>,
    /// Blob bytes sent to the registry (as counted by the client).
    pub bytes_uploaded: u64,
    /// Blobs uploaded.
    pub blobs_uploaded: usize,
    /// Blobs mounted.
    pub blobs_mounted: usize,
    /// Blobs already present.
    pub blobs_present: usize,
}

impl PushReport {
    /// Images that failed.
    pub fn failed(&self) -> impl Iterator<Item = &ImageResult> {
        self.images.iter().filter(|i| !i.ok)
    }
}

struct BundleBlob<'a> {
    bundle: &'a Bundle<Verified>,
    digest: Digest,
    size: u64,
}

impl BlobSource for BundleBlob<'_> {
    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>> {
        let r = self
            .bundle
            .blob_reader(&self.digest, false)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()))?;
        // Hash while streaming: a mismatch fails the upload before the registry commits it.
        Ok(Box::new(DigestingReader::verifying(
            r,
            self.digest.clone(),
            Some(self.size),
        )))
    }
}

struct Pusher<'a> {
    bundle: &'a Bundle<Verified>,
    target: &'a Registry,
    naming: &'a Naming,
    ledger: Ledger,
    progress: &'a dyn Progress,
}

impl Pusher<'_> {
    /// Finds the damaged chunk of a blob that failed to stream, for a precise message.
    fn locate_damage(&self, digest: &Digest) -> Option<BundleError> {
        let blob = self
            .bundle
            .root()
            .blob_index()
            .get(digest)
            .copied()
            .cloned()?;
        let mut files = Default::default();
        blob.chunks
            .iter()
            .find_map(|&ci| self.bundle.read_chunk(&mut files, ci).err())
    }

    fn ensure_blob(
        &self,
        repo: &str,
        b: &Referenced,
        r: &mut ImageResult,
    ) -> Result<(), PushError> {
        if self.target.blob_exists(repo, &b.digest)?.is_some() {
            r.blobs_present += 1;
            self.ledger.done(&b.digest, repo);
            self.progress.advance(b.size);
            return Ok(());
        }
        loop {
            match self.ledger.claim(&b.digest) {
                Claim::Mine => {
                    let src = BundleBlob {
                        bundle: self.bundle,
                        digest: b.digest.clone(),
                        size: b.size,
                    };
                    match self.target.push_blob(repo, &b.digest, b.size, &src) {
                        Ok(()) => {
                            self.ledger.done(&b.digest, repo);
                            r.blobs_uploaded += 1;
                            self.progress.advance(b.size);
                            return Ok(());
                        }
                        Err(e) => {
                            self.ledger.failed(&b.digest);
                            if let Some(damage) = self.locate_damage(&b.digest) {
                                return Err(damage.into());
                            }
                            return Err(e.into());
                        }
                    }
                }
                Claim::DoneIn(from) => {
                    if from == repo || self.target.mount_blob(repo, &b.digest, &from)? {
                        r.blobs_mounted += 1;
                        self.progress.advance(b.size);
                        return Ok(());
                    }
                    // The registry would not mount it: upload it here too.
                    self.ledger.forget(&b.digest);
                }
                Claim::Failed => return Err(PushError::BlobFailed(b.digest.clone())),
            }
        }
    }

    fn put_manifest_once(
        &self,
        repo: &str,
        reference: &str,
        digest: &Digest,
        r: &mut ImageResult,
    ) -> Result<(), PushError> {
        if self.target.manifest_digest(repo, reference)?.as_ref() == Some(digest) {
            return Ok(());
        }
        let (mt, bytes) = self.bundle.manifest_bytes(digest)?;
        self.target.put_manifest(repo, reference, &mt, &bytes)?;
        r.manifests_pushed += 1;
        Ok(())
    }

    fn push_image(&self, img: &ImageEntry, r: &mut ImageResult) -> Result<(), PushError> {
        let name = Reference::parse(&img.name).map_err(|_| PushError::BadName(img.name.clone()))?;
        let repo = self.naming.repository(&name)?;
        // The manifests of this image, children before parents.
        let mut order: Vec<Digest> = Vec::new();
        let mut blobs: Vec<Referenced> = Vec::new();
        let mut stack = vec![img.digest.clone()];
        while let Some(d) = stack.pop() {
            if img.platforms.iter().any(|p| p.digest == d && !p.present) {
                continue;
            }
            let (mt, bytes) = self.bundle.manifest_bytes(&d)?;
            match parse_refs(&d, &mt, &bytes).map_err(|e| BundleError::Journal(e.to_string()))? {
                ManifestRefs::Index { children } => {
                    stack.extend(children.into_iter().map(|c| c.digest))
                }
                refs => {
                    for b in refs.blobs() {
                        if !blobs.iter().any(|x| x.digest == b.digest) {
                            blobs.push(b.clone());
                        }
                    }
                }
            }
            order.push(d);
        }
        // Blobs another image is uploading right now (a shared base) come last: by then they
        // are mounted rather than waited for, and this image's own blobs went up meanwhile.
        let mut later = Vec::new();
        for b in &blobs {
            if self.ledger.busy(&b.digest) {
                later.push(b);
            } else {
                self.ensure_blob(&repo, b, r)?;
            }
        }
        for b in later {
            self.ensure_blob(&repo, b, r)?;
        }
        for d in order.iter().rev() {
            match self.put_manifest_once(&repo, &d.to_string(), d, r) {
                Err(PushError::Registry(source))
                    if d == &img.digest
                        && img.platforms.iter().any(|p| !p.present)
                        && source.status() == Some(400) =>
                {
                    let list = |present: bool| {
                        img.platforms
                            .iter()
                            .filter(|p| p.present == present)
                            .map(|p| format!("{} {}", p.platform, p.digest))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    return Err(PushError::SparseIndexRefused {
                        target: self.target.host().to_string(),
                        digest: d.clone(),
                        absent: list(false),
                        present: list(true),
                        source,
                    });
                }
                other => other?,
            }
        }
        for t in &img.tags {
            self.put_manifest_once(&repo, t, &img.digest, r)?;
        }
        Ok(())
    }
}

/// Pushes every image of `bundle` to `target` under the passthrough names of `naming`.
pub fn push(
    bundle: &Bundle<Verified>,
    target: &Registry,
    naming: &Naming,
    jobs: usize,
    progress: &dyn Progress,
) -> PushReport {
    push_hinted(bundle, target, naming, jobs, progress, &|_| None)
}

/// Asks what to do about an image's failure (see [`crate::flavor::hint_for`]).
pub(crate) type HintFn<'a> = &'a (dyn Fn(&PushError) -> Option<crate::flavor::Hint> + Sync);

/// [`push`], with each failed image's result carrying the hint `hint` gives for its error.
pub(crate) fn push_hinted(
    bundle: &Bundle<Verified>,
    target: &Registry,
    naming: &Naming,
    jobs: usize,
    progress: &dyn Progress,
    hint: HintFn<'_>,
) -> PushReport {
    let root = bundle.root();
    let before = target.stats();
    let pusher = Pusher {
        bundle,
        target,
        naming,
        ledger: Ledger::default(),
        progress,
    };
    // Largest images first, so that no large upload is left alone at the end while the other
    // workers idle (the report keeps the bundle's order).
    let sizes = root.blob_index();
    let mut order: Vec<usize> = (0..root.images.len()).collect();
    let bytes = |i: usize| -> u64 {
        crate::bundle::image_blobs(root, &root.images[i])
            .iter()
            .filter_map(|d| sizes.get(d).map(|b| b.size))
            .sum()
    };
    let weights: Vec<u64> = order.iter().map(|&i| bytes(i)).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(weights[i]));
    // Each image advances by its own blobs (mounted and present ones too), so the total is the
    // sum over images.
    progress.start("push", Some(weights.iter().sum()));
    let done = crate::parallel::map(&order, jobs, |&i| {
        let img = &root.images[i];
        let mirror = Reference::parse(&img.name)
            .ok()
            .and_then(|n| naming.mirror(&n.by_digest(img.digest.clone())).ok())
            .map(|m| m.to_string())
            .unwrap_or_default();
        let mut r = ImageResult {
            name: img.name.clone(),
            mirror,
            digest: img.digest.clone(),
            ok: false,
            error: None,
            hint: None,
            blobs_uploaded: 0,
            blobs_mounted: 0,
            blobs_present: 0,
            manifests_pushed: 0,
        };
        match pusher.push_image(img, &mut r) {
            Ok(()) => {
                r.ok = true;
                progress.note(&format!("pushed {} → {}", r.name, r.mirror));
            }
            Err(e) => {
                r.error = Some(e.to_string());
                r.hint = hint(&e);
                progress.note(&format!("could not push {}: {e}", r.name));
            }
        }
        (i, r)
    });
    // The report keeps the bundle's order.
    let mut results: Vec<Option<ImageResult>> = vec![None; root.images.len()];
    for (i, r) in done {
        results[i] = Some(r);
    }
    progress.finish();
    let after = target.stats();
    let images: Vec<ImageResult> = results.into_iter().flatten().collect();
    PushReport {
        bundle_id: root.bundle_id.clone(),
        target: naming.target().to_string(),
        bytes_uploaded: after.blob_bytes_uploaded - before.blob_bytes_uploaded,
        blobs_uploaded: images.iter().map(|i| i.blobs_uploaded).sum(),
        blobs_mounted: images.iter().map(|i| i.blobs_mounted).sum(),
        blobs_present: images.iter().map(|i| i.blobs_present).sum(),
        images,
    }
}
