//! Opens a bundle from its volume files. Only a bundle whose root signature checks out against
//! a trusted key ([`Bundle<Verified>`]) yields blobs and manifests: pushing from an unverified
//! bundle does not compile.
//!
//! The order is the format's (bundle-format/SPEC.md §7): [`Bundle::open`] reads each volume's
//! tar structure and label (every member with a bound of its own) and checks that the volumes
//! carry the same root bytes; [`Bundle::verify`] checks the signature over those raw bytes, and
//! only then parses the root and holds every unsigned field (the labels, the data sizes in the
//! tar headers) against it ([`super::set`]).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::blob::BlobReader;
use super::root::{ChunkEntry, Root};
use super::set;
use super::store::{self, VolumeStore};
use super::volume::{self, VolumeError, VolumeFile, VolumeLabel, VolumeTrailer};
use super::BundleError;
use crate::model::{Digest, MediaType};
use crate::sign::{KeyId, PublicKey, Signature};

/// Type state: the root's signature has not been checked, and the root is not parsed.
#[derive(Debug)]
pub struct Unverified;

/// Type state: the root is signed by a trusted key, parsed, and the volume set and every
/// label agree with it.
#[derive(Debug)]
pub struct Verified {
    root: Root,
    signer: KeyId,
    complete: bool,
    /// Position of each blob in `root.blobs`, built once: a blob is looked up for every read.
    blob_positions: HashMap<Digest, usize>,
}

/// A bundle opened from disk.
#[derive(Debug)]
pub struct Bundle<S> {
    root_bytes: Vec<u8>,
    signature: String,
    volumes: BTreeMap<u32, VolumeFile>,
    labels: BTreeMap<u32, VolumeLabel>,
    need_all: bool,
    skipped: Vec<SkippedFile>,
    state: S,
}

/// A file in a bundle directory that is not a ferry volume (no `ferry-data` tar header: a
/// macOS `._` file, an empty file, an unrelated tar), skipped when the bundle is opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// Why it is not a volume.
    pub reason: String,
}

/// Reads the label of every file in `dir` (sorted by name; directories are not looked into).
/// A file that is not a ferry volume at all is skipped; a damaged volume is an error. Only the
/// first volume's root bytes are kept: the others are known by their digest.
fn scan(dir: &Path) -> Result<(Vec<VolumeTrailer>, Vec<SkippedFile>), BundleError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| BundleError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut trailers: Vec<VolumeTrailer> = Vec::new();
    let mut skipped = Vec::new();
    for p in paths {
        match volume::read_trailer(&p) {
            Ok(mut t) => {
                if !trailers.is_empty() {
                    t.root = Vec::new();
                }
                trailers.push(t)
            }
            Err(VolumeError::NotAVolume { path, reason }) => {
                skipped.push(SkippedFile { path, reason })
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((trailers, skipped))
}

impl Bundle<Unverified> {
    /// Opens every volume in `dir` (recognised by its label, whatever its file name, in any
    /// order) and checks what can be checked before the signature: that they are of one
    /// bundle, carry the same root, and no volume number is claimed twice. Files that are not
    /// ferry volumes are skipped and listed ([`Bundle::skipped`]). Missing and truncated
    /// volumes are found by [`Bundle::verify`], against the signed root.
    pub fn open(dir: &Path) -> Result<Self, BundleError> {
        let (trailers, skipped) = scan(dir)?;
        if trailers.is_empty() {
            let staging = dir.join(super::writer::STAGING_DIR);
            return Err(BundleError::NoVolumes {
                dir: dir.to_path_buf(),
                hint: if staging.exists() {
                    "it holds only an unfinished pack; run the same `ferry pack` again to finish it"
                        .into()
                } else {
                    let mut hint = "expected files named ferry-<id>-NNN-of-NNN.tar".to_string();
                    for s in &skipped {
                        hint.push_str(&format!(
                            "; {} is not a volume: {}",
                            s.path.display(),
                            s.reason
                        ));
                    }
                    hint
                },
            });
        }
        let mut b = Self::from_trailers(trailers, true)?;
        b.skipped = skipped;
        Ok(b)
    }

    /// Opens a single volume file, to check it alone (a USB stick as it arrives).
    pub fn open_volume(path: &Path) -> Result<Self, BundleError> {
        let t = volume::read_trailer(path)?;
        Self::from_trailers(vec![t], false)
    }

    /// Opens a single volume file that must belong to the bundle whose volumes are in `dir`
    /// (those that can be read; `dir` may hold only some, or none yet).
    pub fn open_volume_of(dir: &Path, path: &Path) -> Result<Self, BundleError> {
        let t = volume::read_trailer(path)?;
        let mut ids: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| BundleError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter_map(|p| volume::read_trailer(&p).ok())
            .map(|other| other.label.bundle_id)
            .collect();
        ids.sort();
        ids.dedup();
        if !ids.is_empty() && !ids.contains(&t.label.bundle_id) {
            return Err(BundleError::VolumeNotOfDir {
                path: path.to_path_buf(),
                its_bundle: t.label.bundle_id.clone(),
                dir: dir.to_path_buf(),
                bundles: ids.join(", "),
            });
        }
        Self::from_trailers(vec![t], false)
    }

    fn from_trailers(trailers: Vec<VolumeTrailer>, need_all: bool) -> Result<Self, BundleError> {
        // The bundle is the one most volumes belong to; the others are foreign.
        let mut by_bundle: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &trailers {
            *by_bundle.entry(t.label.bundle_id.as_str()).or_default() += 1;
        }
        let main_id = by_bundle
            .iter()
            .max_by_key(|(id, n)| (**n, std::cmp::Reverse(**id)))
            .map(|(id, _)| id.to_string())
            .unwrap_or_default();
        if let Some(t) = trailers.iter().find(|t| t.label.bundle_id != main_id) {
            return Err(BundleError::ForeignVolume {
                path: t.path.clone(),
                its_bundle: t.label.bundle_id.clone(),
                bundle: main_id,
            });
        }
        let mut trailers = trailers.into_iter();
        let Some(first) = trailers.next() else {
            return Err(BundleError::NoVolumes {
                dir: PathBuf::new(),
                hint: "no volume given".into(),
            });
        };
        let mut volumes: BTreeMap<u32, VolumeFile> = BTreeMap::new();
        let mut labels: BTreeMap<u32, VolumeLabel> = BTreeMap::new();
        for t in std::iter::once(&first).chain(trailers.as_slice()) {
            if t.root_digest != t.label.root_digest {
                return Err(BundleError::RootDamaged {
                    path: t.path.clone(),
                });
            }
        }
        for t in std::iter::once(&first).chain(trailers.as_slice()) {
            if t.root_digest != first.root_digest {
                return Err(BundleError::RootMismatch {
                    path: t.path.clone(),
                    other: first.path.clone(),
                });
            }
            if let Some(prev) = volumes.get(&t.label.volume) {
                return Err(BundleError::DuplicateVolume {
                    index: t.label.volume,
                    first: prev.path.clone(),
                    second: t.path.clone(),
                });
            }
            volumes.insert(
                t.label.volume,
                VolumeFile {
                    path: t.path.clone(),
                    index: t.label.volume,
                    data_size: t.data_size,
                },
            );
            labels.insert(t.label.volume, t.label.clone());
        }
        Ok(Bundle {
            root_bytes: first.root,
            signature: first.signature,
            volumes,
            labels,
            need_all,
            skipped: Vec::new(),
            state: Unverified,
        })
    }

    /// The bundle id the volume labels claim (not signed: for messages only).
    fn claimed_id(&self) -> String {
        self.labels
            .values()
            .next()
            .map(|l| l.bundle_id.clone())
            .unwrap_or_default()
    }

    /// The first volume's file, which messages about the root name.
    fn first_path(&self) -> PathBuf {
        self.volumes
            .values()
            .next()
            .map(|v| v.path.clone())
            .unwrap_or_default()
    }

    /// Parses the root and holds the volume set and the labels against it.
    fn parse_and_check(&self) -> Result<(Root, bool), BundleError> {
        let root = Root::from_json(&self.root_bytes).map_err(|source| BundleError::Root {
            path: self.first_path(),
            source,
        })?;
        let complete = set::check(&root, &self.volumes, &self.labels, self.need_all)?;
        Ok((root, complete))
    }

    /// Checks the root's signature against `key` over the root's raw bytes; only then is the
    /// root parsed, its trusted comment compared with it, and the volume set and every label
    /// held against it. Only a bundle that passes all of it is usable.
    pub fn verify(self, key: &PublicKey) -> Result<Bundle<Verified>, BundleError> {
        let bundle = self.claimed_id();
        let sig = Signature::parse(&self.signature).map_err(|source| BundleError::Signature {
            bundle: bundle.clone(),
            source,
        })?;
        key.verify(&self.root_bytes[..], &sig)
            .map_err(|source| BundleError::Signature {
                bundle: bundle.clone(),
                source,
            })?;
        let root = Root::from_json(&self.root_bytes).map_err(|source| BundleError::Root {
            path: self.first_path(),
            source,
        })?;
        let expected = root.trusted_comment(&Digest::sha256_of(&self.root_bytes));
        if sig.trusted_comment() != expected {
            return Err(BundleError::TrustedComment {
                bundle: root.bundle_id.clone(),
                found: sig.trusted_comment().to_string(),
                expected,
            });
        }
        let complete = set::check(&root, &self.volumes, &self.labels, self.need_all)?;
        Ok(Bundle {
            root_bytes: self.root_bytes,
            signature: self.signature,
            volumes: self.volumes,
            labels: self.labels,
            need_all: self.need_all,
            skipped: self.skipped,
            state: Verified {
                blob_positions: root
                    .blobs
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (b.digest.clone(), i))
                    .collect(),
                root,
                signer: sig.key_id(),
                complete,
            },
        })
    }

    /// Checks the root's signature against the one of `keys` (several during a key rotation)
    /// whose key id the signature names; see [`Bundle::verify`].
    pub fn verify_any(self, keys: &[PublicKey]) -> Result<Bundle<Verified>, BundleError> {
        let named = Signature::parse(&self.signature)
            .ok()
            .and_then(|sig| keys.iter().find(|k| k.key_id() == sig.key_id()));
        match named.or(keys.first()) {
            Some(key) => self.verify(key),
            None => Err(BundleError::NoTrustedKey {
                bundle: self.claimed_id(),
            }),
        }
    }

    /// The root parsed WITHOUT its signature checked, with the volume set held against it:
    /// for display only (`ferry inspect`, `--no-verify`). Nothing read from it may be acted on.
    pub fn unverified_root(&self) -> Result<Root, BundleError> {
        self.parse_and_check().map(|(root, _)| root)
    }
}

impl<S> Bundle<S> {
    /// Exact bytes of root.json.
    pub fn root_bytes(&self) -> &[u8] {
        &self.root_bytes
    }

    /// The volume files present.
    pub fn volumes(&self) -> impl Iterator<Item = &VolumeFile> {
        self.volumes.values()
    }

    /// The files of the bundle directory that are not ferry volumes, skipped.
    pub fn skipped(&self) -> &[SkippedFile] {
        &self.skipped
    }
}

impl Bundle<Verified> {
    /// The signed root.
    pub fn root(&self) -> &Root {
        &self.state.root
    }

    /// Whether every volume of the set is present.
    pub fn is_complete(&self) -> bool {
        self.state.complete
    }

    /// The id of the key the root is signed with.
    pub fn signer(&self) -> KeyId {
        self.state.signer
    }

    /// The exact bytes of a manifest, checked against its digest.
    pub fn manifest_bytes(&self, digest: &Digest) -> Result<(MediaType, Vec<u8>), BundleError> {
        let m = self
            .root()
            .manifest(digest)
            .ok_or_else(|| BundleError::NotInBundle(digest.clone()))?;
        let bytes = m.bytes().map_err(|source| BundleError::Root {
            path: self
                .volumes
                .values()
                .next()
                .map(|v| v.path.clone())
                .unwrap_or_default(),
            source,
        })?;
        Ok((m.media_type.clone(), bytes))
    }

    /// The volume holding a chunk.
    pub fn volume_of(&self, chunk: &ChunkEntry) -> Option<&VolumeFile> {
        self.volumes.get(&chunk.volume())
    }

    /// The chunks stored in this bundle's volumes, for rebuilding blobs.
    pub fn chunk_store(&self) -> VolumeStore<'_> {
        VolumeStore::new(self.root(), &self.volumes)
    }

    /// A stream of a blob's bytes rebuilt from its chunks. The caller hashes it (pushing does);
    /// with `check_chunks` every chunk is also checked against its own digest as it is read.
    pub fn blob_reader(
        &self,
        digest: &Digest,
        check_chunks: bool,
    ) -> Result<BlobReader<'_>, BundleError> {
        let blob = self
            .state
            .blob_positions
            .get(digest)
            .map(|&i| self.root().blobs[i].clone())
            .ok_or_else(|| BundleError::NotInBundle(digest.clone()))?;
        Ok(BlobReader::new(
            blob,
            &self.root().chunks,
            self.chunk_store(),
            check_chunks,
        ))
    }

    /// [`Bundle::blob_reader`] for a blob that may be a `gzip-tar` layer (format 1.2): `bases`
    /// serves the base layers' uncompressed content by range (push reads them back from the
    /// target). The layer is checked against its digest before its last bytes are handed out.
    pub fn blob_reader_with_bases<'a>(
        &'a self,
        digest: &Digest,
        check_chunks: bool,
        bases: Box<dyn super::BaseLayers + Send + 'a>,
    ) -> Result<BlobReader<'a>, BundleError> {
        let blob = self
            .state
            .blob_positions
            .get(digest)
            .map(|&i| self.root().blobs[i].clone())
            .ok_or_else(|| BundleError::NotInBundle(digest.clone()))?;
        Ok(BlobReader::with_bases(
            blob,
            &self.root().chunks,
            self.chunk_store(),
            check_chunks,
            Some(bases),
        ))
    }

    /// Reads chunk number `index` of the root, decompresses it and checks it against its
    /// digest, reusing (and adding to) the volume files open in `files`.
    pub fn read_chunk(
        &self,
        files: &mut BTreeMap<u32, File>,
        index: u32,
    ) -> Result<Vec<u8>, BundleError> {
        let root = self.root();
        let c = root
            .chunks
            .get(index as usize)
            .ok_or(BundleError::ChunkOutOfRange {
                index,
                count: root.chunks.len(),
            })?;
        store::read_from_volume(root, &self.volumes, files, c, true)
    }
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
