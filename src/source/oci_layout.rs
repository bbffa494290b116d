//! Images from an OCI image layout directory (`oci:PATH[:TAG]`).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::{raw, ContentSource, ImageSource, RawManifest, SourceError};
use crate::model::Digest;

/// Annotation naming a manifest in an OCI layout's index.json.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI image layout and the tag (ref name) to read from it.
pub struct OciLayoutSource {
    dir: PathBuf,
    tag: Option<String>,
    index: Arc<IndexCell>,
}

/// A layout's `index.json`, read and parsed at most once however many images are read from
/// the layout: a list of thousands of `oci:DIR:TAG` lines would otherwise parse the whole
/// index once per image (quadratic in the layout's size).
#[derive(Default)]
struct IndexCell {
    index: OnceLock<Index>,
    /// How often `index.json` was parsed (tests hold it to one per layout).
    #[cfg(test)]
    parses: std::sync::atomic::AtomicUsize,
}

/// The parsed `index.json` of a layout, shared by every source reading from it.
#[derive(Default)]
pub struct LayoutIndexes {
    cells: Mutex<HashMap<PathBuf, Arc<IndexCell>>>,
}

impl LayoutIndexes {
    /// A source for `dir` and `tag` that shares the index of `dir` with every other source
    /// this cache made for it.
    pub fn source(&self, dir: &Path, tag: Option<&str>) -> OciLayoutSource {
        let cell = self
            .cells
            .lock()
            .expect("lock")
            .entry(dir.to_path_buf())
            .or_default()
            .clone();
        OciLayoutSource {
            dir: dir.to_path_buf(),
            tag: tag.map(str::to_string),
            index: cell,
        }
    }
}

#[derive(serde::Deserialize)]
struct Index {
    manifests: Vec<Desc>,
    /// Position of the first manifest with each ref name, built once per parse.
    #[serde(skip)]
    by_ref: HashMap<String, usize>,
}

#[derive(serde::Deserialize)]
struct Desc {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

impl OciLayoutSource {
    /// A source for `dir`, choosing the manifest whose ref name is `tag` (or the only one).
    pub fn new(dir: &Path, tag: Option<&str>) -> Self {
        OciLayoutSource {
            dir: dir.to_path_buf(),
            tag: tag.map(str::to_string),
            index: Arc::default(),
        }
    }

    fn invalid(&self, reason: String) -> SourceError {
        SourceError::Invalid {
            path: self.dir.clone(),
            reason,
        }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// The layout's index, read on first use (an error is not kept: the next use reads again).
    fn read_index(&self) -> Result<&Index, SourceError> {
        if let Some(idx) = self.index.index.get() {
            return Ok(idx);
        }
        #[cfg(test)]
        self.index
            .parses
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = self.dir.join("index.json");
        let bytes = std::fs::read(&p).map_err(|source| SourceError::Io {
            path: p.clone(),
            source,
        })?;
        let mut idx: Index =
            serde_json::from_slice(&bytes).map_err(|e| self.invalid(format!("index.json: {e}")))?;
        for (i, d) in idx.manifests.iter().enumerate() {
            if let Some(name) = d.annotations.get(REF_NAME) {
                idx.by_ref.entry(name.clone()).or_insert(i);
            }
        }
        Ok(self.index.index.get_or_init(|| idx))
    }

    /// The name the layout gives its chosen manifest (`io.containerd.image.name` or the ref
    /// name), to be used as upstream name when it is a full reference.
    pub fn annotated_name(&self) -> Option<String> {
        let idx = self.read_index().ok()?;
        let d = self.choose(idx).ok()?;
        d.annotations
            .get("io.containerd.image.name")
            .or_else(|| d.annotations.get(REF_NAME))
            .cloned()
    }

    fn choose<'a>(&self, idx: &'a Index) -> Result<&'a Desc, SourceError> {
        match &self.tag {
            Some(t) => idx
                .by_ref
                .get(t)
                .map(|&i| &idx.manifests[i])
                .ok_or_else(|| SourceError::NotFound {
                    what: format!("tag {t:?}"),
                    source_name: self.describe(),
                }),
            None if idx.manifests.len() == 1 => Ok(&idx.manifests[0]),
            None => Err(self.invalid(format!(
                "the layout holds {} manifests; name one as oci:{}:TAG",
                idx.manifests.len(),
                self.dir.display()
            ))),
        }
    }
}

impl ImageSource for OciLayoutSource {
    fn top_manifest(&self) -> Result<RawManifest, SourceError> {
        let idx = self.read_index()?;
        let d = self.choose(idx)?;
        let digest = Digest::parse(&d.digest).map_err(|e| self.invalid(e.to_string()))?;
        let mut m = self.manifest(&digest)?;
        if let Some(mt) = &d.media_type {
            m.media_type = crate::model::manifest::detect_media_type(Some(mt), &m.bytes);
        }
        Ok(m)
    }
}

impl ContentSource for OciLayoutSource {
    fn describe(&self) -> String {
        match &self.tag {
            Some(t) => format!("oci:{}:{t}", self.dir.display()),
            None => format!("oci:{}", self.dir.display()),
        }
    }

    fn manifest(&self, digest: &Digest) -> Result<RawManifest, SourceError> {
        let p = self.blob_path(digest);
        let bytes = std::fs::read(&p).map_err(|source| SourceError::Io {
            path: p.clone(),
            source,
        })?;
        let m = raw(None, bytes);
        if &m.digest != digest {
            return Err(self.invalid(format!("{} does not hash to {digest}", p.display())));
        }
        Ok(m)
    }

    fn blob(&self, digest: &Digest, _size: u64) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let p = self.blob_path(digest);
        let f = File::open(&p).map_err(|source| SourceError::Io { path: p, source })?;
        Ok(Box::new(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: a list of many `oci:DIR:TAG` lines parses the layout's index once, not once
    /// per image, and finds each tag without scanning the index.
    #[test]
    fn issue16_layout_index_is_parsed_once_for_many_images() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let mut refs = Vec::new();
        let mut digests = Vec::new();
        for i in 0..50 {
            let m = format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{:064x}","size":{i}}},"layers":[]}}"#,
                i
            );
            let d = Digest::sha256_of(m.as_bytes());
            std::fs::write(blobs.join(d.hex()), &m).unwrap();
            refs.push(format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":{},"annotations":{{"{REF_NAME}":"t{i}"}}}}"#,
                m.len()
            ));
            digests.push(d);
        }
        std::fs::write(
            dir.path().join("index.json"),
            format!(r#"{{"schemaVersion":2,"manifests":[{}]}}"#, refs.join(",")),
        )
        .unwrap();
        let cache = LayoutIndexes::default();
        for (i, d) in digests.iter().enumerate() {
            let s = cache.source(dir.path(), Some(&format!("t{i}")));
            assert_eq!(&s.top_manifest().unwrap().digest, d);
        }
        let missing = cache.source(dir.path(), Some("nope"));
        assert!(matches!(
            missing.top_manifest(),
            Err(SourceError::NotFound { .. })
        ));
        let cells = cache.cells.lock().unwrap();
        assert_eq!(cells.len(), 1);
        let cell = cells.values().next().unwrap();
        assert_eq!(cell.parses.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
