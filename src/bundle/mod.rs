//! The bundle: ferry's on-disk format (bundle-format/SPEC.md). One file per on-disk object:
//! [`root`] (root.json), [`volume`] (a volume's tar layout and `volume.json`), [`journal`] (an
//! unfinished pack); [`writer`] writes bundles, [`reader`] opens them (and, once the signature
//! checked out, holds the volume set against the signed root: `set`), [`verify`] checks their
//! content. A blob is rebuilt ([`blob`]) from chunks a chunk [`store`] resolves.

pub mod attached;
pub mod base;
pub mod bases;
pub mod blob;
pub mod catalog_source;
mod chunk_stream;
pub mod freshness;
pub mod journal;
pub mod layer;
mod layer_reader;
pub mod reader;
pub mod root;
mod set;
pub mod store;
mod syncer;
pub mod verify;
pub mod volume;
pub mod whole;
pub mod writer;

use std::io;
use std::path::{Path, PathBuf};

pub use bases::BaseLayers;
pub use blob::BlobReader;
pub use freshness::Freshness;
pub use layer::{LayerTar, TarPiece};
pub use reader::{Bundle, SkippedFile, Unverified, Verified};
pub use root::{BlobEncoding, ImageEntry, Root};
pub use store::{ChunkStore, VolumeStore};
pub use whole::{WholeCode, WholeLayer};

use crate::model::Digest;

/// What can go wrong reading or writing a bundle. Every variant names the file (and where
/// useful the offset, chunk, blob or image) and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file operation failed.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A volume file is damaged or not a volume.
    #[error(transparent)]
    Volume(#[from] volume::VolumeError),
    /// The root does not parse or is inconsistent.
    #[error("{path}")]
    Root {
        /// The volume whose root is bad.
        path: PathBuf,
        /// What is wrong.
        source: root::RootError,
    },
    /// The signature does not verify.
    #[error("bundle {bundle}: root.json is not signed by a trusted key or was modified")]
    Signature {
        /// The bundle id.
        bundle: String,
        /// What the signature check said.
        source: crate::sign::SignError,
    },
    /// The signature is good but its trusted comment does not describe this root (a signature
    /// made for another bundle, or a comment ferry does not write).
    #[error("bundle {bundle}: the signature's trusted comment {found:?} does not match the root (expected {expected:?}): the signature belongs to another bundle")]
    TrustedComment {
        /// The bundle id.
        bundle: String,
        /// The trusted comment found.
        found: String,
        /// The comment the root calls for.
        expected: String,
    },
    /// No trusted key was given.
    #[error("bundle {bundle}: no trusted key to check its signature with")]
    NoTrustedKey {
        /// The bundle id.
        bundle: String,
    },
    /// Signing failed.
    #[error("signing the root failed: {0}")]
    Sign(crate::sign::SignError),
    /// No volume files.
    #[error("no bundle volumes in {dir}: {hint}")]
    NoVolumes {
        /// The directory.
        dir: PathBuf,
        /// What to do.
        hint: String,
    },
    /// A volume of another bundle is among the volumes.
    #[error("{path} belongs to bundle {its_bundle}, not to bundle {bundle}: move it out of the directory")]
    ForeignVolume {
        /// The foreign file.
        path: PathBuf,
        /// Its bundle id.
        its_bundle: String,
        /// The bundle being read.
        bundle: String,
    },
    /// `verify DIR --volume FILE`: FILE belongs to another bundle than the volumes in DIR.
    #[error("{path} belongs to bundle {its_bundle}, but {dir} holds bundle {bundles}: give a volume of that bundle, or the directory of its own")]
    VolumeNotOfDir {
        /// The volume file given.
        path: PathBuf,
        /// Its bundle id.
        its_bundle: String,
        /// The directory given.
        dir: PathBuf,
        /// The bundle ids of the volumes in the directory.
        bundles: String,
    },
    /// Two files claim the same volume number.
    #[error("{first} and {second} are both volume {index}: remove the duplicate")]
    DuplicateVolume {
        /// The volume number.
        index: u32,
        /// One file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// Volumes are missing from the set.
    #[error("bundle {bundle} has {count} volumes; missing: {}. Copy the missing volume(s) into the directory", missing.join(", "))]
    MissingVolumes {
        /// The bundle id.
        bundle: String,
        /// Volumes in the set.
        count: u32,
        /// File names of the missing volumes.
        missing: Vec<String>,
    },
    /// A volume's root.json does not match the digest its label records.
    #[error("{path}: root.json does not match the digest recorded in volume.json: it was damaged or modified; copy the volume again from the original media")]
    RootDamaged {
        /// The volume.
        path: PathBuf,
    },
    /// Two volumes carry different roots.
    #[error("{path} carries a root.json different from the one in {other}: one of them is damaged or from another pack")]
    RootMismatch {
        /// The odd volume.
        path: PathBuf,
        /// A volume it was compared with.
        other: PathBuf,
    },
    /// A field of a volume's label (`volume.json`, not signed) differs from the signed root.
    #[error("{path}: volume.json says {field} {found:?}, but the signed root says {expected:?}: the label was damaged or modified; copy the volume again from the original media")]
    LabelMismatch {
        /// The volume.
        path: PathBuf,
        /// The label field.
        field: &'static str,
        /// What the label says.
        found: String,
        /// What the signed root says.
        expected: String,
    },
    /// The root is larger than a reader accepts ([`volume::MAX_ROOT_LEN`]).
    #[error("the bundle's root.json would be {root_bytes} bytes, more than the {limit} bytes a reader accepts: pack fewer images per bundle")]
    RootTooLarge {
        /// Length of root.json.
        root_bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// A volume's data is shorter than the root says.
    #[error("{path} is truncated: {reason}; copy the volume again")]
    Truncated {
        /// The volume.
        path: PathBuf,
        /// Detail.
        reason: String,
    },
    /// The bundle needs a base bundle that is not present.
    #[error("bundle {bundle} is incremental on base bundle {base}, which is not present; this ferry cannot apply it without the base")]
    BaseMissing {
        /// The bundle id.
        bundle: String,
        /// The base's id.
        base: String,
    },
    /// A chunk's stored bytes are damaged.
    #[error("{path}: chunk {chunk} at offset {offset} is damaged: {reason}")]
    ChunkDamaged {
        /// The volume.
        path: PathBuf,
        /// Offset of the stored bytes in the file.
        offset: u64,
        /// The chunk.
        chunk: Digest,
        /// What is wrong.
        reason: String,
    },
    /// Something asked for is not in the bundle.
    #[error("{0} is not in this bundle")]
    NotInBundle(Digest),
    /// A `gzip-tar` blob was read without the base layers it is rebuilt from.
    #[error("blob {0} is a layer rebuilt from base layers the target holds; it is rebuilt and checked at push")]
    NeedsBaseLayers(Digest),
    /// A byte range of a base layer does not hold what the bundle says.
    #[error("base layer {layer}: bytes {offset}..+{length} {reason}")]
    BaseRange {
        /// The base layer.
        layer: Digest,
        /// Offset in its uncompressed content.
        offset: u64,
        /// Length of the range.
        length: u64,
        /// What is wrong.
        reason: String,
    },
    /// A `gzip-tar` blob could not be rebuilt from its tar and reconstruction data.
    #[error("blob {blob}: cannot rebuild the layer")]
    LayerRebuild {
        /// The blob.
        blob: Digest,
        /// Why.
        source: crate::regen::RegenError,
    },
    /// The output directory already holds other files.
    #[error("{dir} is not empty (found {found}): pack into a new or empty directory")]
    OutputNotEmpty {
        /// The directory.
        dir: PathBuf,
        /// A file found there.
        found: String,
    },
    /// The root names a chunk by a number beyond its chunk list.
    #[error("the root names chunk #{index}, but lists only {count} chunks")]
    ChunkOutOfRange {
        /// The chunk number named.
        index: u32,
        /// How many chunks the root lists.
        count: usize,
    },
    /// Reading a blob's bytes back from the bundle failed.
    #[error("reading blob {blob}")]
    Read {
        /// The blob.
        blob: Digest,
        /// What failed (wrapping the [`BundleError`] that names chunk and volume, when the
        /// bundle's data is at fault).
        source: io::Error,
    },
    /// A blob rebuilt from its chunks does not hash to its digest.
    #[error("blob {digest}: rebuilt content hashes to {got}")]
    BlobMismatch {
        /// The blob.
        digest: Digest,
        /// What its rebuilt content hashes to.
        got: Digest,
    },
    /// A manifest the bundle holds does not parse as what its media type says.
    #[error(transparent)]
    Manifest(#[from] crate::model::manifest::ManifestError),
    /// The signed root does not fit into a volume beside the data packed into it (a bug: the
    /// pack reserves room for it).
    #[error("internal error: root of {root_bytes} bytes does not fit beside {data_bytes} bytes of data in a {limit}-byte volume")]
    RootDoesNotFit {
        /// Length of root.json.
        root_bytes: u64,
        /// Data bytes of the fullest volume.
        data_bytes: u64,
        /// The volume size limit.
        limit: u64,
    },
    /// The pack journal (`.ferry-pack/journal.jsonl`) contradicts itself or the partial volumes
    /// beside it.
    #[error("pack journal: {0}")]
    Journal(String),
}

impl BundleError {
    /// Whether the error is damage to the bundle's files (a volume missing, truncated, with a
    /// damaged or foreign tar structure, a root that does not match): the files must be copied
    /// again, which `ferry` reports with exit code 3 rather than 1.
    pub fn is_damage(&self) -> bool {
        match self {
            BundleError::Volume(v) => !matches!(v, volume::VolumeError::Io { .. }),
            BundleError::MissingVolumes { .. }
            | BundleError::Truncated { .. }
            | BundleError::RootDamaged { .. }
            | BundleError::RootMismatch { .. }
            | BundleError::LabelMismatch { .. }
            | BundleError::ChunkDamaged { .. }
            | BundleError::BlobMismatch { .. } => true,
            _ => false,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: &Path, source: io::Error) -> Self {
        BundleError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A [`BundleError`] met while streaming a blob, as the [`std::io::ErrorKind::InvalidData`] error a
/// reader returns.
fn invalid(e: BundleError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}
