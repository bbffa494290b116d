//! An OCI image layout directory as a target (`oci:DIR`): blobs and manifests under
//! `blobs/<algorithm>/<hex>`, each image named in `index.json` by an
//! `org.opencontainers.image.ref.name` annotation, which skopeo, podman and oc read as
//! `oci:DIR:<name>`.
//!
//! Files appear under their final name only once complete and checked (written beside it, then
//! renamed), so an interrupted export leaves no wrong blob behind and a rerun skips what is
//! there. `index.json` is written by [`OciLayoutTarget::finish`], replacing entries of the same
//! name and keeping the others, so several bundles can be exported into one layout.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};

use super::{ImageTarget, ManifestRef, TargetError};
use crate::model::{Digest, DigestingReader};
use crate::registry::BlobSource;
use crate::source::REF_NAME;

/// The layout version written to `oci-layout`.
const LAYOUT_VERSION: &str = "1.0.0";

/// An OCI image layout being written.
#[derive(Debug)]
pub struct OciLayoutTarget {
    dir: PathBuf,
    /// `index.json` entries by ref name (entries without a name keep their position key).
    index: Mutex<BTreeMap<String, Value>>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TargetError + '_ {
    move |source| TargetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl OciLayoutTarget {
    /// Opens `dir` as a layout to write into: created when absent; an existing layout keeps its
    /// blobs and its other `index.json` entries.
    pub fn create(dir: &Path) -> Result<Self, TargetError> {
        std::fs::create_dir_all(dir.join("blobs").join("sha256")).map_err(io_err(dir))?;
        let marker = dir.join("oci-layout");
        if !marker.exists() {
            if std::fs::read_dir(dir).map_err(io_err(dir))?.count() > 1 {
                return Err(TargetError::Layout {
                    path: dir.to_path_buf(),
                    reason: "the directory is not empty and has no oci-layout file: export into a new directory or an existing OCI layout".into(),
                });
            }
            let body = json!({ "imageLayoutVersion": LAYOUT_VERSION }).to_string();
            write_atomically(&marker, body.as_bytes())?;
        }
        let mut index = BTreeMap::new();
        let index_path = dir.join("index.json");
        if index_path.exists() {
            let bytes = std::fs::read(&index_path).map_err(io_err(&index_path))?;
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| TargetError::Layout {
                path: index_path.clone(),
                reason: format!("not an OCI index: {e}"),
            })?;
            let entries = v["manifests"].as_array().cloned().unwrap_or_default();
            for (i, e) in entries.into_iter().enumerate() {
                let key = e["annotations"][REF_NAME]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("\u{0}{i:08}"));
                index.insert(key, e);
            }
        }
        Ok(OciLayoutTarget {
            dir: dir.to_path_buf(),
            index: Mutex::new(index),
        })
    }

    /// The layout directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// Names `manifest` `name` in `index.json` (replacing an entry of the same name) when
    /// [`finish`](Self::finish) writes it.
    pub fn name(&self, name: &str, manifest: ManifestRef<'_>) {
        let entry = json!({
            "mediaType": manifest.media_type,
            "digest": manifest.digest.to_string(),
            "size": manifest.bytes.len(),
            "annotations": { REF_NAME: name },
        });
        self.index
            .lock()
            .expect("index lock")
            .insert(name.to_string(), entry);
    }

    /// Writes `index.json` (atomically) with every named image; returns its path.
    pub fn finish(&self) -> Result<PathBuf, TargetError> {
        let entries: Vec<Value> = self
            .index
            .lock()
            .expect("index lock")
            .values()
            .cloned()
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": crate::model::MediaType::OciIndex,
            "manifests": entries,
        });
        let path = self.dir.join("index.json");
        let mut bytes = serde_json::to_vec_pretty(&index).expect("index serialises");
        bytes.push(b'\n');
        write_atomically(&path, &bytes)?;
        Ok(path)
    }
}

/// Writes `bytes` beside `path`, then renames it into place.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TargetError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| io_err(dir)(crate::hide_temp_path(e)))?;
    tmp.write_all(bytes).map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| TargetError::Io {
        path: path.to_path_buf(),
        source: crate::hide_temp_path(e.error),
    })?;
    Ok(())
}

impl ImageTarget for OciLayoutTarget {
    fn describe(&self) -> String {
        format!("oci:{}", self.dir.display())
    }

    fn has_blob(&self, _repo: &str, digest: &Digest) -> Result<bool, TargetError> {
        Ok(self.blob_path(digest).is_file())
    }

    fn put_blob(
        &self,
        _repo: &str,
        digest: &Digest,
        size: u64,
        data: &dyn BlobSource,
    ) -> Result<(), TargetError> {
        let path = self.blob_path(digest);
        let dir = path.parent().expect("blob dir");
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .map_err(|e| io_err(dir)(crate::hide_temp_path(e)))?;
        let reader = data.open().map_err(io_err(&path))?;
        let mut hashing = DigestingReader::new(reader, digest.algorithm());
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = hashing.read(&mut buf).map_err(io_err(&path))?;
            if n == 0 {
                break;
            }
            tmp.write_all(&buf[..n]).map_err(io_err(&path))?;
        }
        let (got, count) = hashing.finish();
        if &got != digest || count != size {
            return Err(TargetError::Mismatch {
                digest: digest.clone(),
                got,
                size: count,
            });
        }
        tmp.persist(&path).map_err(|e| TargetError::Io {
            path: path.clone(),
            source: crate::hide_temp_path(e.error),
        })?;
        Ok(())
    }

    fn mount(&self, repo: &str, digest: &Digest, _from: &str) -> Result<bool, TargetError> {
        // One blob store serves every name in the layout.
        self.has_blob(repo, digest)
    }

    fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<Digest>, TargetError> {
        if let Ok(d) = Digest::parse(reference) {
            return Ok(self.blob_path(&d).is_file().then_some(d));
        }
        let name = format!("{repo}:{reference}");
        let index = self.index.lock().expect("index lock");
        Ok(index
            .get(&name)
            .and_then(|e| e["digest"].as_str())
            .and_then(|d| Digest::parse(d).ok()))
    }

    fn put_manifest(&self, _repo: &str, m: ManifestRef<'_>) -> Result<(), TargetError> {
        let got = Digest::sha256_of(m.bytes);
        if &got != m.digest {
            return Err(TargetError::Mismatch {
                digest: m.digest.clone(),
                got,
                size: m.bytes.len() as u64,
            });
        }
        let path = self.blob_path(m.digest);
        if !path.is_file() {
            write_atomically(&path, m.bytes)?;
        }
        Ok(())
    }

    fn tag(&self, repo: &str, tag: &str, m: ManifestRef<'_>) -> Result<(), TargetError> {
        self.name(&format!("{repo}:{tag}"), m);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_not_the_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        // No directory to make the temporary file in; a directory where the file goes.
        let absent = dir.path().join("absent").join("index.json");
        let taken = dir.path().join("taken");
        std::fs::create_dir(&taken).unwrap();
        std::fs::write(taken.join("x"), b"x").unwrap();
        for path in [absent, taken] {
            let e = crate::error_chain(&write_atomically(&path, b"{}").unwrap_err())
                .replace(dir.path().to_str().unwrap(), "DIR");
            assert!(!e.contains(".tmp") && !e.contains("at path"), "{e}");
            assert!(e.contains("os error"), "{e}");
        }
    }

    #[test]
    fn a_blob_that_does_not_hash_to_its_digest_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let t = OciLayoutTarget::create(dir.path()).unwrap();
        let d = Digest::sha256_of(b"right");
        let e = t.put_blob("r", &d, 5, &b"wrong".as_slice()).unwrap_err();
        assert!(matches!(e, TargetError::Mismatch { .. }), "{e}");
        assert!(!t.has_blob("r", &d).unwrap());
        t.put_blob("r", &d, 5, &b"right".as_slice()).unwrap();
        assert!(t.has_blob("r", &d).unwrap());
        // Nothing but the blob is left in the blob directory.
        let files = std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap();
        assert_eq!(files.count(), 1);
    }

    #[test]
    fn index_entries_of_other_names_are_kept_and_same_names_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let m1 = b"{\"schemaVersion\":2}".to_vec();
        let m2 = b"{\"schemaVersion\":2,\"x\":1}".to_vec();
        let (d1, d2) = (Digest::sha256_of(&m1), Digest::sha256_of(&m2));
        let mref = |d, b| ManifestRef {
            digest: d,
            media_type: &crate::model::MediaType::OciManifest,
            bytes: b,
        };
        let t = OciLayoutTarget::create(dir.path()).unwrap();
        t.put_manifest("a", mref(&d1, &m1)).unwrap();
        t.tag("quay.io/x/a", "1", mref(&d1, &m1)).unwrap();
        t.tag("quay.io/x/b", "1", mref(&d1, &m1)).unwrap();
        t.finish().unwrap();
        let t = OciLayoutTarget::create(dir.path()).unwrap();
        assert_eq!(
            t.manifest_digest("quay.io/x/a", "1").unwrap(),
            Some(d1.clone())
        );
        t.put_manifest("a", mref(&d2, &m2)).unwrap();
        t.tag("quay.io/x/a", "1", mref(&d2, &m2)).unwrap();
        t.finish().unwrap();
        let v: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        let names: Vec<(&str, &str)> = v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["annotations"][REF_NAME].as_str().unwrap(),
                    e["digest"].as_str().unwrap(),
                )
            })
            .collect();
        let (s1, s2) = (d1.to_string(), d2.to_string());
        assert_eq!(
            names,
            vec![
                ("quay.io/x/a:1", s2.as_str()),
                ("quay.io/x/b:1", s1.as_str())
            ]
        );
    }
}
