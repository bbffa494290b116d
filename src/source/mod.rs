//! Where images come from: a registry, an OCI image layout directory, a `docker save` archive,
//! or a verified bundle. Each source answers two questions by digest ([`ContentSource`]): the
//! exact bytes of a manifest, and a stream of a blob's bytes. A source opened for one image
//! reference also names that image's top manifest ([`ImageSource`]).

mod bundle;
mod docker_archive;
mod oci_layout;
mod overlay;
mod registry;

use std::io::Read;
use std::path::PathBuf;

pub use docker_archive::DockerArchiveSource;
pub use oci_layout::{LayoutIndexes, OciLayoutSource, REF_NAME};
pub use overlay::OverlaySource;
pub use registry::RegistrySource;

use crate::model::Digest;

/// Why a source could not deliver.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// A local file could not be read.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The layout or archive is not what it claims to be.
    #[error("{path}: {reason}")]
    Invalid {
        /// The layout or archive.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The bundle could not deliver (damaged chunk, missing volume).
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    /// Something asked for is not in the source.
    #[error("{what} not found in {source_name}")]
    NotFound {
        /// What was asked for.
        what: String,
        /// The source.
        source_name: String,
    },
}

/// The exact bytes of a manifest and what they are.
#[derive(Debug, Clone)]
pub struct RawManifest {
    /// Its media type.
    pub media_type: crate::model::MediaType,
    /// Its digest (of `bytes`).
    pub digest: Digest,
    /// The exact bytes.
    pub bytes: Vec<u8>,
}

/// A place manifests and blobs are read from by digest: every image source, and a verified
/// bundle.
pub trait ContentSource: Send + Sync {
    /// A short description for messages (`registry quay.io/org/app`, `oci:/path`).
    fn describe(&self) -> String;
    /// A manifest by digest (an index child).
    fn manifest(&self, digest: &Digest) -> Result<RawManifest, SourceError>;
    /// A stream of a blob's bytes (not yet checked against the digest: the caller does).
    fn blob(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + Send + '_>, SourceError>;
    /// Why a blob failed to stream, in more detail than the stream could say (a bundle names
    /// the damaged volume, offset and chunk), when the source can tell.
    fn diagnose(&self, _digest: &Digest) -> Option<SourceError> {
        None
    }
}

/// A source opened for one image reference: it also knows the image's top manifest.
pub trait ImageSource: ContentSource {
    /// The top manifest the user asked for (by tag, by digest, or the only one).
    fn top_manifest(&self) -> Result<RawManifest, SourceError>;
}

pub(crate) fn raw(media_type: Option<&str>, bytes: Vec<u8>) -> RawManifest {
    RawManifest {
        media_type: crate::model::manifest::detect_media_type(media_type, &bytes),
        digest: Digest::sha256_of(&bytes),
        bytes,
    }
}
