//! `ferry push`: every image of a verified bundle into the mirror registry, digests unchanged:
//! the [`copy`] engine from the bundle (a source) to the registry (a target) under the
//! passthrough names.

pub mod base;
pub mod catalogs;
pub mod copy;
pub mod history;
mod ledger;
mod referrers;
mod workflow;

use serde::Serialize;

use crate::bundle::{Bundle, BundleError, Verified};
use crate::model::Digest;
use crate::naming::Naming;
use crate::progress::Progress;
use crate::registry::{Registry, RegistryError};

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
    /// The source (the bundle) could not deliver a blob.
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    /// The target (other than a registry) refused or failed.
    #[error(transparent)]
    Target(crate::target::TargetError),
    /// The image's name has no mirror name.
    #[error(transparent)]
    Naming(#[from] crate::naming::NamingError),
    /// A `gzip-tar` blob must be rebuilt against base layers, and this target holds none
    /// (only `ferry push` to a registry that has the bundle's base can rebuild it).
    #[error("blob {0} is carried as changes against base layers this target does not hold; push the bundle to the registry that has its base")]
    NoBase(Digest),
    /// The image's name in the root does not parse.
    #[error("image name {0:?} in the bundle is not a valid reference")]
    BadName(String),
    /// The registry refused an index whose platforms were partly left out at pack time.
    #[error("{target} refused the index {digest} because the platforms left out at pack time (--platform) are missing: {absent}. The carried platforms were pushed by digest ({present}); to mirror the whole index, pack without --platform or use a registry that accepts sparse indexes. What the registry said")]
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
    /// The image's manifests in the bundle do not form a graph ferry can walk.
    #[error("image {image}")]
    Graph {
        /// The image.
        image: String,
        /// What is wrong.
        source: crate::model::graph::GraphError<crate::bundle::root::RootError>,
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
    /// Bytes of the blobs whose upload completed (as counted by the client).
    pub bytes_uploaded: u64,
    /// Bytes put in upload requests, every attempt counted: above `bytes_uploaded` by what
    /// was sent again after failures (a resumed upload sends only the rest).
    pub bytes_sent: u64,
    /// Uploads continued where an earlier attempt or run had left them.
    pub uploads_resumed: u64,
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

/// Pushes every image of `bundle` to `target` under the passthrough names of `naming`.
pub fn push(
    bundle: &Bundle<Verified>,
    target: &Registry,
    naming: &Naming,
    jobs: usize,
    progress: &dyn Progress,
) -> PushReport {
    push_hinted(bundle, None, target, naming, jobs, progress, &|_| None)
}

/// Asks what to do about an image's failure (see [`crate::flavor::hint_for`]).
pub(crate) type HintFn<'a> = &'a (dyn Fn(&PushError) -> Option<crate::flavor::Hint> + Sync);

/// [`push`], with each failed image's result carrying the hint `hint` gives for its error.
pub(crate) fn push_hinted(
    bundle: &Bundle<Verified>,
    base: Option<&base::BaseBlobs>,
    target: &Registry,
    naming: &Naming,
    jobs: usize,
    progress: &dyn Progress,
    hint: HintFn<'_>,
) -> PushReport {
    let before = target.stats();
    let mut images = copy::copy_bundle(bundle, base, target, naming, jobs, progress, "push", hint);
    referrers::list_at_target(bundle, target, naming, &mut images);
    let after = target.stats();
    PushReport {
        bundle_id: bundle.root().bundle_id.clone(),
        target: naming.target().to_string(),
        bytes_uploaded: after.blob_bytes_uploaded - before.blob_bytes_uploaded,
        bytes_sent: after.upload_bytes_sent - before.upload_bytes_sent,
        uploads_resumed: after.uploads_resumed - before.uploads_resumed,
        blobs_uploaded: images.iter().map(|i| i.blobs_uploaded).sum(),
        blobs_mounted: images.iter().map(|i| i.blobs_mounted).sum(),
        blobs_present: images.iter().map(|i| i.blobs_present).sum(),
        images,
    }
}
