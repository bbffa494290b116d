//! `root.json`: the signed root of a bundle (bundle-format/SPEC.md §4).
//!
//! The root names everything a bundle holds: images, their exact manifest bytes, blobs, the
//! chunks that rebuild each blob and where each chunk is stored. Its signature covers every
//! payload byte through these digests.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

pub use super::attached::{Attachment, AttachmentKind, ReleaseSignature};
pub use super::base::{BaseRef, BlobBase, InventoryRef};
pub use super::catalog_source::CatalogSourceTemplate;
use super::layer::LayerTar;
pub use super::whole::{WholeCode, WholeLayer};
use crate::chunk::Compression;
use crate::model::graph::{self, FetchedManifest, GraphError, ImageGraph};
use crate::model::{Digest, MediaType};

/// The format version this ferry writes for a bundle that needs nothing newer (1.1: the root
/// has a `sequence`, SPEC.md §4.5).
pub const FORMAT_VERSION: &str = "1.1";
/// The format version of a root that uses the fields of 1.2 (artifacts attached to images,
/// release signatures: SPEC.md §4.8, §4.7); a root without them stays [`FORMAT_VERSION`].
pub const FORMAT_VERSION_ATTACHED: &str = "1.2";
/// The format version of a bundle packed against inventories of a site (1.2: `base` names
/// inventories, blobs the site has are `in_base`, SPEC.md §8).
pub const FORMAT_INCREMENTAL: &str = "1.2";
/// The format version of a bundle holding `gzip-tar` blobs (SPEC.md §4.8); readers of 1.1 refuse
/// such a bundle by the unknown-encoding rule, naming the blob.
pub const FORMAT_VERSION_GZIP_TAR: &str = "1.3";
/// The major format version this ferry reads.
pub const FORMAT_MAJOR: u32 = 1;

/// How a blob is rebuilt from its chunks (the `encoding` of a blob entry, SPEC.md §4).
///
/// Serialised as its name in kebab case (`"plain"`). An encoding this ferry does not know is
/// refused when the root is opened ([`RootError::UnknownEncoding`]), never while reading. A new
/// encoding is a new variant here and a new arm where [`crate::bundle::BlobReader`] dispatches
/// on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobEncoding {
    /// The blob is the concatenation of its chunks (format 1.0).
    Plain,
    /// A gzip layer rebuilt byte for byte from its uncompressed tar (the blob's `layer`) and
    /// the reconstruction data its chunks hold (format 1.2, SPEC.md §4.8).
    GzipTar,
}

impl BlobEncoding {
    /// The encoding called `name` in a root, if this ferry knows it.
    pub fn from_name(name: &str) -> Option<BlobEncoding> {
        use serde::de::IntoDeserializer;
        let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            name.into_deserializer();
        BlobEncoding::deserialize(de).ok()
    }
}

/// Why a root was refused.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// The JSON does not parse as a root.
    #[error("root.json is not a valid ferry root")]
    Parse(#[from] serde_json::Error),
    /// The format's major version is one this ferry cannot read.
    #[error("bundle format {found} is not supported by this ferry (it reads format {FORMAT_MAJOR}.x); upgrade ferry")]
    UnsupportedFormat {
        /// The version found.
        found: String,
    },
    /// A blob uses an encoding this ferry does not know.
    #[error("blob {digest} uses encoding {encoding:?}, which this ferry (format {FORMAT_VERSION}) does not know; upgrade ferry")]
    UnknownEncoding {
        /// The blob.
        digest: Digest,
        /// The encoding named.
        encoding: String,
    },
    /// The root contradicts itself (an index out of range, a size that does not add up, ...).
    #[error("root.json is inconsistent: {0}")]
    Inconsistent(String),
}

/// The first blob whose encoding this ferry does not know, as an error: what a root that failed
/// to parse is refused for when that is the reason (found only then, so a good root is not
/// parsed a third time).
fn unknown_encoding(bytes: &[u8]) -> Option<RootError> {
    #[derive(Deserialize)]
    struct Blobs {
        #[serde(default)]
        blobs: Vec<EncodingOf>,
    }
    #[derive(Deserialize)]
    struct EncodingOf {
        digest: Digest,
        encoding: String,
    }
    let parsed: Blobs = serde_json::from_slice(bytes).ok()?;
    parsed
        .blobs
        .into_iter()
        .find(|b| BlobEncoding::from_name(&b.encoding).is_none())
        .map(|b| RootError::UnknownEncoding {
            digest: b.digest,
            encoding: b.encoding,
        })
}

/// The content-defined chunking parameters a bundle was cut with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkingInfo {
    /// Algorithm name, `fastcdc-2020`.
    pub algorithm: String,
    /// Minimum chunk length in bytes.
    pub min: u32,
    /// Average (target) chunk length in bytes.
    pub avg: u32,
    /// Maximum chunk length in bytes.
    pub max: u32,
}

/// One volume of the set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInfo {
    /// 1-based volume number.
    pub index: u32,
    /// Length of the volume's data member in bytes.
    pub data_size: u64,
}

/// One platform of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformEntry {
    /// `os/architecture[/variant]`, or `unknown` when the index gives none.
    pub platform: String,
    /// The child manifest's digest.
    pub digest: Digest,
    /// Whether the child's manifest and blobs are in the bundle (false when left out by
    /// `--platform`).
    pub present: bool,
}

/// One image as the user asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEntry {
    /// The source reference exactly as written in the image list.
    pub source: String,
    /// The upstream name it stands for, normalised (`quay.io/org/app:v1`); mirrors are named
    /// after it.
    pub name: String,
    /// The digest of the top manifest (image manifest or index).
    pub digest: Digest,
    /// Its media type.
    pub media_type: MediaType,
    /// Tags the image is known by upstream (empty for a by-digest reference).
    #[serde(default)]
    pub tags: Vec<String>,
    /// For an index: its children. Empty for a single image.
    #[serde(default)]
    pub platforms: Vec<PlatformEntry>,
    /// Non-distributable ("foreign") layers referenced but not carried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign: Vec<Digest>,
    /// Format 1.2: this image is an artifact attached to another image of the same repository
    /// (a cosign signature, attestation or SBOM, or an OCI 1.1 referrer); absent for an image
    /// asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<Attachment>,
}

impl ImageEntry {
    /// Whether the index child `digest` was left out at pack (`--platform`).
    pub fn is_absent(&self, digest: &Digest) -> bool {
        self.platforms
            .iter()
            .any(|p| &p.digest == digest && !p.present)
    }
}

/// Exact bytes of one manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Digest of `data`.
    pub digest: Digest,
    /// Its media type.
    pub media_type: MediaType,
    /// The manifest bytes, base64 (standard alphabet, padded).
    pub data: String,
}

impl ManifestEntry {
    /// Builds an entry from exact bytes.
    pub fn new(media_type: &MediaType, bytes: &[u8]) -> Self {
        ManifestEntry {
            digest: Digest::sha256_of(bytes),
            media_type: media_type.clone(),
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// The manifest bytes, checked against the digest.
    pub fn bytes(&self) -> Result<Vec<u8>, RootError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .map_err(|e| RootError::Inconsistent(format!("manifest {}: {e}", self.digest)))?;
        let mut h = self.digest.hasher();
        h.update(&bytes);
        let got = h.finish();
        if got != self.digest {
            return Err(RootError::Inconsistent(format!(
                "manifest {} hashes to {got}",
                self.digest
            )));
        }
        Ok(bytes)
    }
}

/// One blob: how to rebuild it from chunks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobEntry {
    /// The blob's digest.
    pub digest: Digest,
    /// Its length in bytes.
    pub size: u64,
    /// Its media type as the first manifest that uses it names it.
    pub media_type: MediaType,
    /// How the blob is rebuilt from its chunks.
    pub encoding: BlobEncoding,
    /// Indices into [`Root::chunks`], in order. Empty when `in_base` is set.
    pub chunks: Vec<u32>,
    /// The blob is carried by the base (a base bundle, or the site an inventory lists), not
    /// this one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_base: bool,
    /// 1.2, with `in_base`: which inventory listed the blob and an image it belongs to there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BlobBase>,
    /// For a `gzip-tar` blob: its uncompressed tar's pieces (format 1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Box<LayerTar>>,
    /// 1.2, on a `plain` blob of an incremental bundle: why this changed layer is carried
    /// whole rather than as a `gzip-tar` blob (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole: Option<Box<WholeLayer>>,
}

/// One stored chunk: `[digest, length, volume, offset, stored_length, compression]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkEntry(
    /// Digest of the uncompressed chunk.
    pub Digest,
    /// Uncompressed length.
    pub u64,
    /// 1-based volume number.
    pub u32,
    /// Offset of the stored bytes within the volume's data member.
    pub u64,
    /// Stored (possibly compressed) length.
    pub u64,
    /// Compression of the stored bytes.
    pub Compression,
);

impl ChunkEntry {
    /// Digest of the uncompressed chunk.
    pub fn digest(&self) -> &Digest {
        &self.0
    }
    /// Uncompressed length.
    pub fn len(&self) -> u64 {
        self.1
    }
    /// Whether the chunk is empty (never, in a valid bundle).
    pub fn is_empty(&self) -> bool {
        self.1 == 0
    }
    /// 1-based volume number.
    pub fn volume(&self) -> u32 {
        self.2
    }
    /// Offset within the volume's data member.
    pub fn offset(&self) -> u64 {
        self.3
    }
    /// Stored length.
    pub fn stored_len(&self) -> u64 {
        self.4
    }
    /// Compression.
    pub fn compression(&self) -> Compression {
        self.5
    }
}

/// The signed root of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// `MAJOR.MINOR`.
    pub format: String,
    /// 32 lower-case hex digits naming this bundle.
    pub bundle_id: String,
    /// RFC 3339 UTC time of packing (from `SOURCE_DATE_EPOCH` when set).
    pub created: String,
    /// Format 1.1: the writer's sequence number, strictly increasing per signing key and never
    /// below `created` in seconds (SPEC.md §4.5); absent in a 1.0 root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// The program that wrote the bundle.
    pub tool: String,
    /// The base bundle, for an incremental bundle.
    #[serde(default)]
    pub base: Option<BaseRef>,
    /// Chunking parameters.
    pub chunking: ChunkingInfo,
    /// The volumes, in index order.
    pub volumes: Vec<VolumeInfo>,
    /// The images.
    pub images: Vec<ImageEntry>,
    /// Every manifest (index, image manifests, index children), by digest order.
    pub manifests: Vec<ManifestEntry>,
    /// Every blob, in the order they were packed.
    pub blobs: Vec<BlobEntry>,
    /// Every stored chunk.
    pub chunks: Vec<ChunkEntry>,
    /// Format 1.2: OpenShift release signatures, by release digest and index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub release_signatures: Vec<ReleaseSignature>,
    /// Format 1.2: the CatalogSource templates of operator catalogs, by catalog name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catalog_sources: Vec<CatalogSourceTemplate>,
}

#[cfg(test)]
impl Root {
    /// A root of one empty volume and no content, for the module tests of bundle readers.
    pub(crate) fn empty_for_tests(bundle_id: &str, sequence: Option<u64>) -> Root {
        Root {
            format: FORMAT_VERSION.into(),
            bundle_id: bundle_id.into(),
            created: "2026-01-01T00:00:00Z".into(),
            sequence,
            tool: "test".into(),
            base: None,
            chunking: ChunkingInfo {
                algorithm: "fastcdc-2020".into(),
                min: 1,
                avg: 2,
                max: 3,
            },
            volumes: vec![VolumeInfo {
                index: 1,
                data_size: 0,
            }],
            images: vec![],
            manifests: vec![],
            blobs: vec![],
            chunks: vec![],
            release_signatures: vec![],
            catalog_sources: vec![],
        }
    }
}

impl Root {
    /// Parses and checks a root: format version, encodings and internal consistency.
    pub fn from_json(bytes: &[u8]) -> Result<Root, RootError> {
        // Check the version before the full parse, so that a future format with other fields
        // still gets the clear "unsupported format" message.
        #[derive(Deserialize)]
        struct VersionOnly {
            format: String,
        }
        let v: VersionOnly = serde_json::from_slice(bytes)?;
        let major = v
            .format
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok());
        if major != Some(FORMAT_MAJOR) {
            return Err(RootError::UnsupportedFormat { found: v.format });
        }
        let root: Root = match serde_json::from_slice(bytes) {
            Ok(root) => root,
            Err(e) => return Err(unknown_encoding(bytes).unwrap_or(RootError::Parse(e))),
        };
        root.validate()?;
        Ok(root)
    }

    /// The canonical bytes of this root (compact JSON and a final newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).expect("root serialises");
        v.push(b'\n');
        v
    }

    fn validate(&self) -> Result<(), RootError> {
        let bad = |m: String| Err(RootError::Inconsistent(m));
        if self.freshness().is_none() {
            return bad(format!(
                "created {:?} is not an RFC 3339 UTC time in whole seconds",
                self.created
            ));
        }
        for (i, v) in self.volumes.iter().enumerate() {
            if v.index as usize != i + 1 {
                return bad(format!("volume {} listed at position {}", v.index, i + 1));
            }
        }
        if !super::volume::is_bundle_id(&self.bundle_id) {
            return bad(format!(
                "bundle_id {:?} is not 32 lower-case hex digits",
                self.bundle_id
            ));
        }
        for c in &self.chunks {
            let vol = match (c.volume() as usize)
                .checked_sub(1)
                .and_then(|i| self.volumes.get(i))
            {
                Some(v) => v,
                None => return bad(format!("chunk {} names volume {}", c.digest(), c.volume())),
            };
            if c.offset()
                .checked_add(c.stored_len())
                .is_none_or(|end| end > vol.data_size)
            {
                return bad(format!(
                    "chunk {} lies beyond the data of volume {}",
                    c.digest(),
                    c.volume()
                ));
            }
            // A chunk is at most the chunker's maximum, and stored compressed only when that
            // makes it smaller (SPEC.md §5): no chunk makes a reader allocate more.
            let stored_ok = match c.compression() {
                Compression::None => c.stored_len() == c.len(),
                _ => c.stored_len() <= c.len(),
            };
            if c.len() > u64::from(self.chunking.max) || !stored_ok {
                return bad(format!(
                    "chunk {} is {} bytes, stored as {}, with a chunk maximum of {}",
                    c.digest(),
                    c.len(),
                    c.stored_len(),
                    self.chunking.max
                ));
            }
        }
        if let Some(w) = self
            .manifests
            .windows(2)
            .find(|w| w[0].digest >= w[1].digest)
        {
            return bad(format!(
                "manifests are not sorted by digest without duplicates ({} before {})",
                w[0].digest, w[1].digest
            ));
        }
        // What push writes into a ConfigMap must be the bytes it claims to be.
        for sig in &self.release_signatures {
            if let Err(e) = sig.bytes() {
                return bad(format!(
                    "signature {} of release {}: {e}",
                    sig.index, sig.release
                ));
            }
        }
        for b in &self.blobs {
            if b.in_base {
                if self.base.is_none() || !b.chunks.is_empty() || b.whole.is_some() {
                    return bad(format!(
                        "blob {} is marked in_base, but the root has no base or the blob \
                         names chunks or why it is whole",
                        b.digest
                    ));
                }
                let inventories = self.base.as_ref().map_or(0, |b| b.inventories.len());
                if let Some(bb) = b
                    .base
                    .as_ref()
                    .filter(|bb| bb.inventory as usize >= inventories)
                {
                    return bad(format!(
                        "blob {} names base inventory #{} of {inventories}",
                        b.digest, bb.inventory
                    ));
                }
                continue;
            }
            if b.base.is_some() || (b.whole.is_some() && b.encoding != BlobEncoding::Plain) {
                return bad(format!(
                    "blob {} names a base but is not in_base, or says why it is whole but is not plain",
                    b.digest
                ));
            }
            match (b.encoding, &b.layer) {
                (BlobEncoding::Plain, None) => {}
                (BlobEncoding::GzipTar, Some(layer)) => {
                    let len = |i: u32| self.chunks.get(i as usize).map(|c| c.len());
                    if let Err(m) = layer.check(len) {
                        return bad(format!("gzip-tar blob {}: {m}", b.digest));
                    }
                }
                (encoding, _) => {
                    return bad(format!(
                        "blob {} has encoding {encoding:?} {} a layer object",
                        b.digest,
                        if b.layer.is_some() { "and" } else { "but not" }
                    ))
                }
            }
            let mut total = 0u64;
            for &ci in &b.chunks {
                let len = match self.chunks.get(ci as usize) {
                    Some(c) => c.len(),
                    None => return bad(format!("blob {} names chunk #{ci}", b.digest)),
                };
                total = match total.checked_add(len) {
                    Some(t) => t,
                    None => return bad(format!("blob {}: its chunks add up past 2^64", b.digest)),
                };
            }
            if b.encoding == BlobEncoding::Plain && total != b.size {
                return bad(format!(
                    "blob {} is {} bytes but its chunks add up to {total}",
                    b.digest, b.size
                ));
            }
        }
        Ok(())
    }

    /// The manifest with `digest`, if the bundle holds it (the list is sorted by digest:
    /// [`Root::from_json`] checks it).
    pub fn manifest(&self, digest: &Digest) -> Option<&ManifestEntry> {
        self.manifests
            .binary_search_by(|m| m.digest.cmp(digest))
            .ok()
            .map(|i| &self.manifests[i])
    }

    /// The manifest graph of `image` as the bundle carries it: children left out at pack
    /// (`--platform`) are absent, everything else must be in the bundle.
    pub fn image_graph(&self, image: &ImageEntry) -> Result<ImageGraph, GraphError<RootError>> {
        let top = self.fetch_manifest(&image.name, &image.digest);
        let top = top.map_err(GraphError::Fetch)?;
        let include =
            |_: &Digest, c: &crate::model::manifest::Referenced| !image.is_absent(&c.digest);
        let mut fetch = |d: &Digest| self.fetch_manifest(&image.name, d);
        graph::walk(&image.digest, top, &mut fetch, &include)
    }

    fn fetch_manifest(&self, image: &str, digest: &Digest) -> Result<FetchedManifest, RootError> {
        let m = self.manifest(digest).ok_or_else(|| {
            RootError::Inconsistent(format!(
                "image {image} needs manifest {digest}, which the bundle does not hold"
            ))
        })?;
        Ok(FetchedManifest {
            media_type: m.media_type.clone(),
            bytes: m.bytes()?,
        })
    }

    /// Blob entries by digest.
    pub fn blob_index(&self) -> HashMap<&Digest, &BlobEntry> {
        self.blobs.iter().map(|b| (&b.digest, b)).collect()
    }

    /// Which images use each blob (by the image's `name`), for damage reports.
    pub fn blob_users(&self) -> BTreeMap<Digest, Vec<String>> {
        let mut users: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        for img in &self.images {
            let Ok(graph) = self.image_graph(img) else {
                continue;
            };
            for b in graph.blobs {
                let v = users.entry(b.digest).or_default();
                // Images are visited one after another, so an image already listed for this
                // blob is its last entry: no scan of a list that grows with the image count
                // (a base layer is used by thousands).
                if v.last() != Some(&img.name) {
                    v.push(img.name.clone());
                }
            }
        }
        users
    }
}
