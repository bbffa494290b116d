//! Images from an OCI image layout directory (`oci:PATH[:TAG]`).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{raw, ContentSource, ImageSource, RawManifest, SourceError};
use crate::model::Digest;

/// Annotation naming a manifest in an OCI layout's index.json.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI image layout and the tag (ref name) to read from it.
pub struct OciLayoutSource {
    dir: PathBuf,
    tag: Option<String>,
}

#[derive(serde::Deserialize)]
struct Index {
    manifests: Vec<Desc>,
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

    fn read_index(&self) -> Result<Index, SourceError> {
        let p = self.dir.join("index.json");
        let bytes = std::fs::read(&p).map_err(|source| SourceError::Io {
            path: p.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| self.invalid(format!("index.json: {e}")))
    }

    /// The name the layout gives its chosen manifest (`io.containerd.image.name` or the ref
    /// name), to be used as upstream name when it is a full reference.
    pub fn annotated_name(&self) -> Option<String> {
        let idx = self.read_index().ok()?;
        let d = self.choose(&idx).ok()?;
        d.annotations
            .get("io.containerd.image.name")
            .or_else(|| d.annotations.get(REF_NAME))
            .cloned()
    }

    fn choose<'a>(&self, idx: &'a Index) -> Result<&'a Desc, SourceError> {
        match &self.tag {
            Some(t) => idx
                .manifests
                .iter()
                .find(|d| d.annotations.get(REF_NAME) == Some(t))
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
        let d = self.choose(&idx)?;
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
