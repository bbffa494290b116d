//! Where images are written: a registry, or an OCI image layout directory. The copy engine of
//! `push` speaks only this small trait, so `ferry push` (bundle → registry) and
//! `ferry export` (bundle → OCI layout) share one ordering, one dedup and one set of checks.

mod oci_layout;
mod registry;

use std::path::PathBuf;

pub use oci_layout::OciLayoutTarget;

use crate::model::Digest;
use crate::registry::{BlobSource, RegistryError};

/// Why a target refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The registry refused or failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A file of the layout could not be written or read.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes offered for a blob do not hash to its digest (nothing was stored).
    #[error("blob {digest}: the bytes offered hash to {got} ({size} bytes); nothing was stored")]
    Mismatch {
        /// The digest asked for.
        digest: Digest,
        /// What the bytes hash to.
        got: Digest,
        /// How many bytes were read.
        size: u64,
    },
    /// The layout directory holds something that is not an OCI layout.
    #[error("{path}: {reason}")]
    Layout {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A manifest as the target receives it: exact bytes, their digest and media type.
#[derive(Debug, Clone, Copy)]
pub struct ManifestRef<'a> {
    /// Digest of `bytes`.
    pub digest: &'a Digest,
    /// Media type.
    pub media_type: &'a crate::model::MediaType,
    /// The exact bytes.
    pub bytes: &'a [u8],
}

/// A place images are written to. Repositories (`repo`) are the names the caller chose for
/// the target (a mirror path for a registry, the upstream name for a layout).
pub trait ImageTarget: Send + Sync {
    /// A short description for messages (`registry.local:5000`, `oci:/path`).
    fn describe(&self) -> String;
    /// Whether `repo` has the blob.
    fn has_blob(&self, repo: &str, digest: &Digest) -> Result<bool, TargetError>;
    /// Stores a blob of `size` bytes, read from `data` (opened again for each retry). The
    /// bytes are checked against `digest` before the target keeps them.
    fn put_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        data: &dyn BlobSource,
    ) -> Result<(), TargetError>;
    /// Makes a blob that `from` holds available in `repo` without sending it; `false` when the
    /// target would not (the caller then uploads it).
    fn mount(&self, repo: &str, digest: &Digest, from: &str) -> Result<bool, TargetError>;
    /// The digest `reference` (a tag or a digest) resolves to in `repo`, if any.
    fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<Digest>, TargetError>;
    /// Stores a manifest by digest (its blobs and children must be there already).
    fn put_manifest(&self, repo: &str, manifest: ManifestRef<'_>) -> Result<(), TargetError>;
    /// Points `repo:tag` at a manifest already stored.
    fn tag(&self, repo: &str, tag: &str, manifest: ManifestRef<'_>) -> Result<(), TargetError>;
}
