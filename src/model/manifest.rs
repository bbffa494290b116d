//! What a manifest refers to: an index's children, an image's config and layers.
//!
//! Manifests are always kept as exact bytes; this module only reads them to learn what else
//! must be fetched or pushed. Parsing uses `oci-spec`'s types, which also fit Docker schema 2
//! manifests and manifest lists (same shape, other media types).

use super::media_type::{essence, MediaType};
use super::Digest;

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON of the expected shape.
    #[error("manifest {digest} ({media_type}) does not parse: {reason}")]
    Parse {
        /// The manifest's digest.
        digest: Digest,
        /// Its media type.
        media_type: MediaType,
        /// What the parser said.
        reason: String,
    },
    /// A media type ferry does not handle (for example Docker schema 1).
    #[error("manifest {digest} has media type {:?}, which ferry does not handle (supported: OCI manifest and index, Docker schema 2 manifest and manifest list)", .media_type.as_str())]
    Unsupported {
        /// The manifest's digest.
        digest: Digest,
        /// Its media type.
        media_type: MediaType,
    },
}

/// A descriptor of something a manifest points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referenced {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type.
    pub media_type: MediaType,
    /// `os/arch[/variant]` for an index child, when the index names one.
    pub platform: Option<String>,
    /// Whether it is a non-distributable (foreign) layer.
    pub foreign: bool,
}

/// The references of one manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRefs {
    /// An index (OCI index or Docker manifest list) and its children.
    Index {
        /// The child manifests.
        children: Vec<Referenced>,
    },
    /// A single image.
    Image {
        /// The config blob.
        config: Referenced,
        /// The layers, in order.
        layers: Vec<Referenced>,
    },
}

impl ManifestRefs {
    /// Every blob of an image manifest (config first, then layers), foreign layers excluded.
    pub fn blobs(&self) -> Vec<&Referenced> {
        match self {
            ManifestRefs::Index { .. } => Vec::new(),
            ManifestRefs::Image { config, layers } => std::iter::once(config)
                .chain(layers.iter().filter(|l| !l.foreign))
                .collect(),
        }
    }
}

/// The media type of a manifest: the one given (Content-Type, descriptor) when it names a
/// manifest type, else the `mediaType` field, else guessed from the shape.
/// Parameters (`; charset=utf-8`) are stripped from `given` when it names a manifest type;
/// otherwise the result is kept verbatim.
pub fn detect_media_type(given: Option<&str>, bytes: &[u8]) -> MediaType {
    if let Some(g) = given {
        let g = MediaType::from(essence(g));
        if g.is_manifest() {
            return g;
        }
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(Probe {
            media_type: Some(m),
            ..
        }) => MediaType::from(m),
        Ok(Probe {
            manifests: Some(_), ..
        }) => MediaType::OciIndex,
        _ => given.map_or(MediaType::OciManifest, MediaType::from),
    }
}

fn convert(d: &oci_spec::image::Descriptor, owner: &Digest) -> Result<Referenced, String> {
    let digest = Digest::parse(d.digest().as_ref()).map_err(|e| format!("in {owner}: {e}"))?;
    let mt = MediaType::from(d.media_type().to_string());
    let platform = d.platform().as_ref().map(|p| {
        let mut s = format!("{}/{}", p.os(), p.architecture());
        if let Some(v) = p.variant() {
            s.push('/');
            s.push_str(v);
        }
        s
    });
    Ok(Referenced {
        foreign: mt.is_foreign_layer(),
        digest,
        size: d.size(),
        media_type: mt,
        platform,
    })
}

/// Reads what `bytes` (a manifest of `media_type`, digest `digest`) refers to.
pub fn parse_refs(
    digest: &Digest,
    media_type: &MediaType,
    bytes: &[u8],
) -> Result<ManifestRefs, ManifestError> {
    let err = |reason: String| ManifestError::Parse {
        digest: digest.clone(),
        media_type: media_type.clone(),
        reason,
    };
    if media_type.is_index() {
        let idx =
            oci_spec::image::ImageIndex::from_reader(bytes).map_err(|e| err(e.to_string()))?;
        let children = idx
            .manifests()
            .iter()
            .map(|d| convert(d, digest))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        Ok(ManifestRefs::Index { children })
    } else if media_type.is_image_manifest() {
        let m =
            oci_spec::image::ImageManifest::from_reader(bytes).map_err(|e| err(e.to_string()))?;
        let config = convert(m.config(), digest).map_err(err)?;
        let layers = m
            .layers()
            .iter()
            .map(|d| convert(d, digest))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        Ok(ManifestRefs::Image { config, layers })
    } else {
        Err(ManifestError::Unsupported {
            digest: digest.clone(),
            media_type: media_type.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_and_oci_shapes() {
        let cfg = Digest::sha256_of(b"c");
        let l1 = Digest::sha256_of(b"l1");
        let l2 = Digest::sha256_of(b"l2");
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":1,"digest":"{cfg}"}},"layers":[{{"mediaType":"{}","size":2,"digest":"{l1}"}},{{"mediaType":"{}","size":3,"digest":"{l2}","urls":["https://example.invalid/x"]}}]}}"#,
            MediaType::DockerManifest,
            MediaType::DockerConfig,
            MediaType::DockerLayerGzip,
            MediaType::DockerForeignLayer
        );
        let d = Digest::sha256_of(m.as_bytes());
        let mt = detect_media_type(None, m.as_bytes());
        assert_eq!(mt, MediaType::DockerManifest);
        let refs = parse_refs(&d, &mt, m.as_bytes()).unwrap();
        let blobs: Vec<_> = refs.blobs().iter().map(|r| r.digest.clone()).collect();
        assert_eq!(blobs, vec![cfg, l1]);

        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","size":5,"digest":"{d}","platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#,
            MediaType::OciManifest
        );
        let mt = detect_media_type(Some("application/octet-stream"), idx.as_bytes());
        assert_eq!(mt, MediaType::OciIndex);
        match parse_refs(&Digest::sha256_of(idx.as_bytes()), &mt, idx.as_bytes()).unwrap() {
            ManifestRefs::Index { children } => {
                assert_eq!(children[0].platform.as_deref(), Some("linux/arm64/v8"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_schema1() {
        let d = Digest::sha256_of(b"{}");
        let e = parse_refs(
            &d,
            &"application/vnd.docker.distribution.manifest.v1+prettyjws".into(),
            b"{}",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "manifest {d} has media type \"application/vnd.docker.distribution.manifest.v1+prettyjws\", which ferry does not handle (supported: OCI manifest and index, Docker schema 2 manifest and manifest list)"
            )
        );
    }
}
