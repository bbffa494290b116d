//! Images from a `docker save` archive (`docker-archive:PATH`).
//!
//! The archive has no registry manifest, so one is made, the way skopeo does: a Docker schema 2
//! manifest whose config is the archive's config file and whose layers are its (uncompressed)
//! layer tars. It is serialised deterministically, so the same archive always gives the same
//! digest.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{ContentSource, ImageSource, RawManifest, SourceError};
use crate::model::{Digest, DigestAlgorithm, DigestingReader, MediaType};

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Serialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: MediaType,
    size: u64,
    digest: String,
}

#[derive(Serialize)]
struct Schema2 {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: MediaType,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// A `docker save` archive, indexed.
pub struct DockerArchiveSource {
    path: PathBuf,
    members: BTreeMap<String, (u64, u64)>,
    manifest: RawManifest,
    blobs: BTreeMap<Digest, String>,
    repo_tags: Vec<String>,
}

impl DockerArchiveSource {
    /// Opens and indexes the archive, hashing its config and layers to build the manifest.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let io = |source| SourceError::Io {
            path: path.to_path_buf(),
            source,
        };
        let invalid = |reason: String| SourceError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let f = File::open(path).map_err(io)?;
        let mut archive = tar::Archive::new(f);
        let mut members = BTreeMap::new();
        let mut links = BTreeMap::new();
        for entry in archive.entries().map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry
                .path()
                .map_err(io)?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            match entry.header().entry_type() {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    if let Ok(Some(target)) = entry.link_name() {
                        links.insert(name, target.to_string_lossy().into_owned());
                    }
                }
                t if t.is_file() => {
                    members.insert(name, (entry.raw_file_position(), entry.size()));
                }
                _ => {}
            }
        }
        for (name, target) in links {
            // Symlinks in legacy archives point at a sibling layer directory: "../<id>/layer.tar".
            let base = Path::new(&name).parent().unwrap_or(Path::new(""));
            let resolved = normalise(&base.join(&target));
            let hit = members
                .get(&resolved)
                .or_else(|| members.get(&target))
                .copied();
            if let Some(hit) = hit {
                members.insert(name, hit);
            }
        }
        let mut src = DockerArchiveSource {
            path: path.to_path_buf(),
            members,
            manifest: super::raw(None, Vec::new()),
            blobs: BTreeMap::new(),
            repo_tags: Vec::new(),
        };
        let m_bytes = src.read_member("manifest.json")?;
        let manifests: Vec<ArchiveManifest> =
            serde_json::from_slice(&m_bytes).map_err(|e| invalid(format!("manifest.json: {e}")))?;
        let am = match manifests.as_slice() {
            [one] => one,
            [] => return Err(invalid("manifest.json lists no image".into())),
            _ => {
                return Err(invalid(
                    "the archive holds several images; ferry reads archives of one image".into(),
                ))
            }
        };
        src.repo_tags = am.repo_tags.clone().unwrap_or_default();
        let (config_digest, config_size) = src.hash_member(&am.config)?;
        src.blobs.insert(config_digest.clone(), am.config.clone());
        let mut layers = Vec::new();
        for l in &am.layers {
            let (d, size) = src.hash_member(l)?;
            src.blobs.insert(d.clone(), l.clone());
            layers.push(Descriptor {
                media_type: MediaType::DockerLayerTar,
                size,
                digest: d.to_string(),
            });
        }
        let manifest = Schema2 {
            schema_version: 2,
            media_type: MediaType::DockerManifest,
            config: Descriptor {
                media_type: MediaType::DockerConfig,
                size: config_size,
                digest: config_digest.to_string(),
            },
            layers,
        };
        let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        src.manifest = super::raw(Some(MediaType::DockerManifest.as_str()), bytes);
        Ok(src)
    }

    /// The `RepoTags` the archive gives its image.
    pub fn repo_tags(&self) -> &[String] {
        &self.repo_tags
    }

    fn member(&self, name: &str) -> Result<(u64, u64), SourceError> {
        self.members
            .get(name.trim_start_matches("./"))
            .copied()
            .ok_or_else(|| SourceError::NotFound {
                what: format!("member {name}"),
                source_name: self.describe(),
            })
    }

    fn open_member(&self, name: &str) -> Result<impl Read + Send, SourceError> {
        let (offset, size) = self.member(name)?;
        let mut f = File::open(&self.path).map_err(|source| SourceError::Io {
            path: self.path.clone(),
            source,
        })?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|source| SourceError::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(f.take(size))
    }

    fn read_member(&self, name: &str) -> Result<Vec<u8>, SourceError> {
        let mut v = Vec::new();
        self.open_member(name)?
            .read_to_end(&mut v)
            .map_err(|source| SourceError::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(v)
    }

    fn hash_member(&self, name: &str) -> Result<(Digest, u64), SourceError> {
        let mut r = DigestingReader::new(self.open_member(name)?, DigestAlgorithm::Sha256);
        std::io::copy(&mut r, &mut std::io::sink()).map_err(|source| SourceError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(r.finish())
    }
}

fn normalise(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

impl ImageSource for DockerArchiveSource {
    fn top_manifest(&self) -> Result<RawManifest, SourceError> {
        Ok(self.manifest.clone())
    }
}

impl ContentSource for DockerArchiveSource {
    fn describe(&self) -> String {
        format!("docker-archive:{}", self.path.display())
    }

    fn manifest(&self, digest: &Digest) -> Result<RawManifest, SourceError> {
        if digest == &self.manifest.digest {
            return Ok(self.manifest.clone());
        }
        Err(SourceError::NotFound {
            what: format!("manifest {digest}"),
            source_name: self.describe(),
        })
    }

    fn blob(&self, digest: &Digest, _size: u64) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let name = self
            .blobs
            .get(digest)
            .ok_or_else(|| SourceError::NotFound {
                what: format!("blob {digest}"),
                source_name: self.describe(),
            })?;
        Ok(Box::new(self.open_member(name)?))
    }
}
