//! Opens a bundle from its volume files. Only a bundle whose root signature checks out against
//! a trusted key ([`Bundle<Verified>`]) yields blobs and manifests: pushing from an unverified
//! bundle does not compile.

use std::collections::BTreeMap;
use std::fs::File;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::blob::BlobReader;
use super::root::{ChunkEntry, Root};
use super::store::{self, VolumeStore};
use super::volume::{self, VolumeError, VolumeFile, VolumeTrailer};
use super::BundleError;
use crate::model::{Digest, MediaType};
use crate::sign::{PublicKey, Signature};

/// Type state: the root's signature has not been checked.
#[derive(Debug)]
pub struct Unverified;
/// Type state: the root is signed by a trusted key and the volume set is consistent.
#[derive(Debug)]
pub struct Verified;

/// A bundle opened from disk.
#[derive(Debug)]
pub struct Bundle<S> {
    root: Root,
    root_bytes: Vec<u8>,
    signature: String,
    volumes: BTreeMap<u32, VolumeFile>,
    complete: bool,
    skipped: Vec<SkippedFile>,
    _state: PhantomData<S>,
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
/// A file that is not a ferry volume at all is skipped; a damaged volume is an error.
fn scan(dir: &Path) -> Result<(Vec<VolumeTrailer>, Vec<SkippedFile>), BundleError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| BundleError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut trailers = Vec::new();
    let mut skipped = Vec::new();
    for p in paths {
        match volume::read_trailer(&p) {
            Ok(t) => trailers.push(t),
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
    /// order) and checks that they form one complete set: no volume missing, duplicated,
    /// truncated or from another bundle. Files that are not ferry volumes are skipped and
    /// listed ([`Bundle::skipped`]).
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
        let (main_id, _) = by_bundle
            .iter()
            .max_by_key(|(id, n)| (**n, std::cmp::Reverse(**id)))
            .expect("at least one volume");
        let main_id = main_id.to_string();
        if let Some(t) = trailers.iter().find(|t| t.label.bundle_id != main_id) {
            return Err(BundleError::ForeignVolume {
                path: t.path.clone(),
                its_bundle: t.label.bundle_id.clone(),
                bundle: main_id,
            });
        }
        let first = &trailers[0];
        let root_digest = Digest::sha256_of(&first.root);
        let mut volumes: BTreeMap<u32, VolumeFile> = BTreeMap::new();
        for t in &trailers {
            if Digest::sha256_of(&t.root) != t.label.root_digest {
                return Err(BundleError::RootDamaged {
                    path: t.path.clone(),
                });
            }
        }
        for t in &trailers {
            if t.label.root_digest != root_digest {
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
        }
        let root = Root::from_json(&first.root).map_err(|source| BundleError::Root {
            path: first.path.clone(),
            source,
        })?;
        let count = root.volumes.len() as u32;
        for v in volumes.values() {
            match root.volumes.get(v.index as usize - 1) {
                Some(info) if v.index <= count && info.data_size == v.data_size => {}
                Some(info) => {
                    return Err(BundleError::Truncated {
                        path: v.path.clone(),
                        reason: format!(
                            "its data is {} bytes, the root says {}",
                            v.data_size, info.data_size
                        ),
                    })
                }
                None => {
                    return Err(BundleError::Root {
                        path: v.path.clone(),
                        source: super::root::RootError::Inconsistent(format!(
                            "volume {} of {count}",
                            v.index
                        )),
                    })
                }
            }
        }
        let missing: Vec<u32> = (1..=count).filter(|i| !volumes.contains_key(i)).collect();
        if need_all && !missing.is_empty() {
            return Err(BundleError::MissingVolumes {
                bundle: root.bundle_id.clone(),
                count,
                missing: missing
                    .iter()
                    .map(|&i| volume::volume_file_name(&root.bundle_id, i, count))
                    .collect(),
            });
        }
        if let Some(base) = &root.base {
            return Err(BundleError::BaseMissing {
                bundle: root.bundle_id.clone(),
                base: base.bundle_id.clone(),
            });
        }
        Ok(Bundle {
            root,
            root_bytes: first.root.clone(),
            signature: first.signature.clone(),
            volumes,
            complete: missing.is_empty(),
            skipped: Vec::new(),
            _state: PhantomData,
        })
    }

    /// Checks the root's signature against `key`; only then is the bundle usable.
    pub fn verify(self, key: &PublicKey) -> Result<Bundle<Verified>, BundleError> {
        let sig = Signature::parse(&self.signature).map_err(|source| BundleError::Signature {
            bundle: self.root.bundle_id.clone(),
            source,
        })?;
        key.verify(&self.root_bytes[..], &sig)
            .map_err(|source| BundleError::Signature {
                bundle: self.root.bundle_id.clone(),
                source,
            })?;
        let expected = self
            .root
            .trusted_comment(&Digest::sha256_of(&self.root_bytes));
        if sig.trusted_comment() != expected {
            return Err(BundleError::TrustedComment {
                bundle: self.root.bundle_id.clone(),
                found: sig.trusted_comment().to_string(),
                expected,
            });
        }
        Ok(Bundle {
            root: self.root,
            root_bytes: self.root_bytes,
            signature: self.signature,
            volumes: self.volumes,
            complete: self.complete,
            skipped: self.skipped,
            _state: PhantomData,
        })
    }
}

impl Bundle<Unverified> {
    /// Checks the root's signature against the one of `keys` (several during a key rotation)
    /// whose key id the signature names; see [`Bundle::verify`].
    pub fn verify_any(self, keys: &[PublicKey]) -> Result<Bundle<Verified>, BundleError> {
        let named = Signature::parse(&self.signature)
            .ok()
            .and_then(|sig| keys.iter().find(|k| k.key_id() == sig.key_id()));
        match named.or(keys.first()) {
            Some(key) => self.verify(key),
            None => Err(BundleError::NoTrustedKey {
                bundle: self.root.bundle_id.clone(),
            }),
        }
    }
}

impl<S> Bundle<S> {
    /// The root (not yet trusted on an unverified bundle: for display only).
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Exact bytes of root.json.
    pub fn root_bytes(&self) -> &[u8] {
        &self.root_bytes
    }

    /// The volume files present.
    pub fn volumes(&self) -> impl Iterator<Item = &VolumeFile> {
        self.volumes.values()
    }

    /// Whether every volume of the set is present.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The files of the bundle directory that are not ferry volumes, skipped.
    pub fn skipped(&self) -> &[SkippedFile] {
        &self.skipped
    }
}

impl Bundle<Verified> {
    /// The id of the key the root is signed with.
    pub fn signer(&self) -> crate::sign::KeyId {
        Signature::parse(&self.signature)
            .expect("a verified bundle's signature parses")
            .key_id()
    }

    /// The exact bytes of a manifest, checked against its digest.
    pub fn manifest_bytes(&self, digest: &Digest) -> Result<(MediaType, Vec<u8>), BundleError> {
        let m = self
            .root
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
        VolumeStore::new(&self.root, &self.volumes)
    }

    /// A stream of a blob's bytes rebuilt from its chunks. The caller hashes it (pushing does);
    /// with `check_chunks` every chunk is also checked against its own digest as it is read.
    pub fn blob_reader(
        &self,
        digest: &Digest,
        check_chunks: bool,
    ) -> Result<BlobReader<'_>, BundleError> {
        let blob = self
            .root
            .blob_index()
            .get(digest)
            .copied()
            .cloned()
            .ok_or_else(|| BundleError::NotInBundle(digest.clone()))?;
        Ok(BlobReader::new(
            blob,
            &self.root.chunks,
            self.chunk_store(),
            check_chunks,
        ))
    }

    /// Reads chunk number `index` of the root, decompresses it and checks it against its
    /// digest, reusing (and adding to) the volume files open in `files`.
    pub fn read_chunk(
        &self,
        files: &mut BTreeMap<u32, File>,
        index: u32,
    ) -> Result<Vec<u8>, BundleError> {
        let c = self
            .root
            .chunks
            .get(index as usize)
            .ok_or(BundleError::ChunkOutOfRange {
                index,
                count: self.root.chunks.len(),
            })?;
        store::read_from_volume(&self.root, &self.volumes, files, c, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::root::{ChunkingInfo, VolumeInfo, FORMAT_VERSION};
    use crate::bundle::volume::{VolumeLabel, VolumeWriter};

    fn root_json(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let root = Root {
            format: FORMAT_VERSION.into(),
            bundle_id: "0123456789abcdef0123456789abcdef".into(),
            created: "2026-01-01T00:00:00Z".into(),
            sequence: None,
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
        };
        let mut v = serde_json::to_value(&root).unwrap();
        edit(&mut v);
        serde_json::to_vec(&v).unwrap()
    }

    fn write_volume(dir: &Path, root: &[u8]) {
        let label = VolumeLabel {
            format: FORMAT_VERSION.into(),
            bundle_id: "0123456789abcdef0123456789abcdef".into(),
            volume: 1,
            volume_count: 1,
            root_digest: Digest::sha256_of(root),
        };
        let w = VolumeWriter::create(&dir.join("v.tar")).unwrap();
        w.finish(&label, root, "untrusted comment: x\nAAAA\n", 0)
            .unwrap();
    }

    #[test]
    fn an_absent_base_bundle_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write_volume(
            dir.path(),
            &root_json(
                |v| v["base"] = serde_json::json!({"bundle_id": "feedfacefeedfacefeedfacefeedface", "root_digest": Digest::sha256_of(b"base").to_string()}),
            ),
        );
        let e = Bundle::open(dir.path()).unwrap_err();
        assert!(matches!(e, BundleError::BaseMissing { .. }), "{e}");
        assert!(
            e.to_string().contains("feedfacefeedfacefeedfacefeedface"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_major_format_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        write_volume(dir.path(), &root_json(|v| v["format"] = "2.0".into()));
        let e = crate::error_chain(&Bundle::open(dir.path()).unwrap_err());
        assert!(
            e.contains("bundle format 2.0 is not supported") && e.contains("upgrade ferry"),
            "{e}"
        );
    }

    #[test]
    fn a_newer_minor_format_with_unknown_fields_is_read() {
        let dir = tempfile::tempdir().unwrap();
        write_volume(
            dir.path(),
            &root_json(|v| {
                v["format"] = "1.7".into();
                v["future_field"] = serde_json::json!({"x": 1});
            }),
        );
        Bundle::open(dir.path()).unwrap();
    }

    #[test]
    fn an_unknown_blob_encoding_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write_volume(
            dir.path(),
            &root_json(|v| {
                v["blobs"] = serde_json::json!([{
                    "digest": Digest::sha256_of(b"x").to_string(), "size": 1,
                    "media_type": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "encoding": "gzip-tar", "chunks": []
                }])
            }),
        );
        let e = crate::error_chain(&Bundle::open(dir.path()).unwrap_err());
        assert!(
            e.contains("encoding \"gzip-tar\"") && e.contains("does not know"),
            "{e}"
        );
    }
}
