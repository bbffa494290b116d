//! An OpenShift release image and the components it lists.
//!
//! A release payload names its components in `release-manifests/image-references`, an
//! `image.openshift.io/v1` ImageStream whose `spec.tags[].from.name` are pullspecs by digest
//! (`quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:…`). The file is found by streaming
//! the image's layers (last first, as the last layer wins), decompressing and walking the tar
//! until it is read; nothing else is kept. The bytes read here are not yet checked against the
//! layer digest — the pack checks every blob it carries, the release's layers included, so a
//! source that served other bytes fails the pack.

use std::io::Read;

use serde::Deserialize;

use super::Registries;
use crate::model::manifest::{parse_refs, ManifestRefs, Referenced};
use crate::model::{Digest, Reference};
use crate::source::{ContentSource, ImageSource, RawManifest, SourceError};

/// Where the component list lives in a release image.
pub const IMAGE_REFERENCES: &str = "release-manifests/image-references";
/// Where the release's version lives.
pub const RELEASE_METADATA: &str = "release-manifests/release-metadata";
/// The largest `image-references` read (real ones are about 200 KiB).
const MAX_IMAGE_REFERENCES: u64 = 16 << 20;
/// The largest `release-metadata` read.
const MAX_METADATA: u64 = 1 << 20;

/// Why a release's components could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The release image could not be read from its source.
    #[error("release {release} ({location}): {source}")]
    Source {
        /// The release image.
        release: String,
        /// Where it was asked for.
        location: String,
        /// What failed.
        source: SourceError,
    },
    /// The release image is not what a release payload is.
    #[error("release {release} ({location}): {reason}")]
    Invalid {
        /// The release image.
        release: String,
        /// Where it was asked for.
        location: String,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// A layer could not be read.
    #[error("release {release} ({location}): reading layer {digest}: {source}")]
    Layer {
        /// The release image.
        release: String,
        /// Where it was asked for.
        location: String,
        /// The layer.
        digest: Digest,
        /// What failed.
        source: std::io::Error,
    },
}

/// One component of a release.
#[derive(Debug, Clone)]
pub struct Component {
    /// Its name in the release (`spec.tags[].name`, e.g. `etcd`).
    pub name: String,
    /// Its pullspec, by digest.
    pub image: Reference,
}

/// What a release image lists.
#[derive(Debug, Clone)]
pub struct ReleaseContents {
    /// The release image's top manifest digest.
    pub digest: Digest,
    /// `release-metadata`'s version, when the image has one.
    pub version: Option<String>,
    /// The components, in `image-references` order.
    pub components: Vec<Component>,
}

#[derive(Deserialize)]
struct ImageStream {
    kind: Option<String>,
    spec: Spec,
}

#[derive(Deserialize)]
struct Spec {
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    name: String,
    from: Option<From>,
}

#[derive(Deserialize)]
struct From {
    kind: Option<String>,
    name: String,
}

#[derive(Deserialize)]
struct Metadata {
    version: Option<String>,
}

/// Reads the component list of the release image `release` (read through `registries`, so
/// that `--source-mirror` applies); `location` says where it was asked for.
pub fn read_release(
    release: &Reference,
    location: &str,
    registries: &Registries,
) -> Result<ReleaseContents, ReleaseError> {
    let invalid = |reason: String| ReleaseError::Invalid {
        release: release.to_string(),
        location: location.to_string(),
        reason,
    };
    let src_err = |source| ReleaseError::Source {
        release: release.to_string(),
        location: location.to_string(),
        source,
    };
    let source = registries
        .source(release)
        .map_err(|e| src_err(SourceError::Registry(e)))?;
    let top = source.top_manifest().map_err(src_err)?;
    let image = image_manifest(&source, &top).map_err(|e| match e {
        Pick::Source(e) => src_err(e),
        Pick::Invalid(r) => invalid(r),
    })?;
    let layers = match parse_refs(&image.digest, &image.media_type, &image.bytes) {
        Ok(ManifestRefs::Image { layers, .. }) => layers,
        Ok(ManifestRefs::Index { .. }) => {
            return Err(invalid(
                "an index inside an index: not a release payload".into(),
            ))
        }
        Err(e) => return Err(invalid(e.to_string())),
    };
    let mut version = None;
    for layer in layers.iter().rev().filter(|l| !l.foreign) {
        let layer_err = |source| ReleaseError::Layer {
            release: release.to_string(),
            location: location.to_string(),
            digest: layer.digest.clone(),
            source,
        };
        let blob = source.blob(&layer.digest, layer.size).map_err(src_err)?;
        let found = scan_layer(layer, blob).map_err(layer_err)?;
        if version.is_none() {
            version = found.metadata.and_then(|m| {
                serde_json::from_slice::<Metadata>(&m)
                    .ok()
                    .and_then(|m| m.version)
            });
        }
        if let Some(bytes) = found.image_references {
            let components = parse_image_references(&bytes).map_err(|r| {
                invalid(format!("{IMAGE_REFERENCES} in layer {}: {r}", layer.digest))
            })?;
            return Ok(ReleaseContents {
                digest: top.digest,
                version,
                components,
            });
        }
    }
    Err(invalid(format!(
        "no {IMAGE_REFERENCES} in any layer of {}: not an OpenShift release payload (pack it \
         as a plain image in the list instead)",
        image.digest
    )))
}

enum Pick {
    Source(SourceError),
    Invalid(String),
}

/// The image manifest to read the release's files from: the top one, or for a multi-arch
/// release the linux/amd64 child (else the first image child; all children list the same
/// components, as manifest lists).
fn image_manifest(source: &dyn ImageSource, top: &RawManifest) -> Result<RawManifest, Pick> {
    if !top.media_type.is_index() {
        return Ok(top.clone());
    }
    let children = match parse_refs(&top.digest, &top.media_type, &top.bytes) {
        Ok(ManifestRefs::Index { children }) => children,
        Ok(ManifestRefs::Image { .. }) => return Ok(top.clone()),
        Err(e) => return Err(Pick::Invalid(e.to_string())),
    };
    let images: Vec<&Referenced> = children
        .iter()
        .filter(|c| !c.media_type.is_index())
        .collect();
    let pick = images
        .iter()
        .find(|c| c.platform.as_deref() == Some("linux/amd64"))
        .or(images.first())
        .ok_or_else(|| Pick::Invalid("an index with no image manifest".into()))?;
    source.manifest(&pick.digest).map_err(Pick::Source)
}

#[derive(Default)]
struct Found {
    image_references: Option<Vec<u8>>,
    metadata: Option<Vec<u8>>,
}

/// Walks one layer's tar for the release files; stops once `image-references` was read and
/// the walk has left `release-manifests/` (so that `release-metadata`, which sorts after it,
/// is read too).
fn scan_layer(layer: &Referenced, blob: Box<dyn Read + Send + '_>) -> std::io::Result<Found> {
    let media = layer.media_type.as_str();
    let reader: Box<dyn Read + '_> = if media.ends_with("gzip") {
        Box::new(flate2::read::MultiGzDecoder::new(blob))
    } else if media.ends_with("zstd") {
        Box::new(zstd::stream::read::Decoder::new(blob)?)
    } else if media.ends_with(".tar") {
        blob
    } else {
        return Ok(Found::default());
    };
    let mut archive = tar::Archive::new(reader);
    let mut found = Found::default();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let path = path.trim_start_matches("./").trim_start_matches('/');
        if found.image_references.is_some() && !path.starts_with("release-manifests/") {
            break;
        }
        let limit = match path {
            IMAGE_REFERENCES => MAX_IMAGE_REFERENCES,
            RELEASE_METADATA => MAX_METADATA,
            _ => continue,
        };
        if entry.size() > limit {
            return Err(std::io::Error::other(format!(
                "{path} is {} bytes, more than the {limit} read",
                entry.size()
            )));
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        (&mut entry).take(limit).read_to_end(&mut bytes)?;
        if path == IMAGE_REFERENCES {
            found.image_references = Some(bytes);
        } else {
            found.metadata = Some(bytes);
        }
        if found.image_references.is_some() && found.metadata.is_some() {
            break;
        }
    }
    Ok(found)
}

/// The components an `image-references` ImageStream lists, each by digest, in file order.
pub fn parse_image_references(bytes: &[u8]) -> Result<Vec<Component>, String> {
    let stream: ImageStream =
        serde_json::from_slice(bytes).map_err(|e| format!("not an ImageStream: {e}"))?;
    if stream.kind.as_deref() != Some("ImageStream") {
        return Err(format!(
            "kind is {:?}, expected ImageStream",
            stream.kind.unwrap_or_default()
        ));
    }
    let mut out = Vec::new();
    for tag in stream.spec.tags {
        let from = tag
            .from
            .ok_or_else(|| format!("tag {:?} has no from", tag.name))?;
        if from.kind.as_deref().is_some_and(|k| k != "DockerImage") {
            return Err(format!(
                "tag {:?}: from.kind is {:?}, expected DockerImage",
                tag.name,
                from.kind.unwrap_or_default()
            ));
        }
        let image = Reference::parse(&from.name)
            .map_err(|e| format!("tag {:?}: {}", tag.name, crate::error_chain(&e)))?;
        if image.digest().is_none() {
            return Err(format!(
                "tag {:?}: {} is not by digest, as release components always are",
                tag.name, from.name
            ));
        }
        out.push(Component {
            name: tag.name,
            image,
        });
    }
    if out.is_empty() {
        return Err("spec.tags lists no component".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_of_the_real_shape() {
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let text = format!(
            r#"{{"kind":"ImageStream","apiVersion":"image.openshift.io/v1","metadata":{{"name":"4.16.5"}},
               "spec":{{"lookupPolicy":{{"local":false}},"tags":[
                 {{"name":"etcd","annotations":{{"io.openshift.build.commit.id":"x"}},
                   "from":{{"kind":"DockerImage","name":"quay.io/openshift-release-dev/ocp-v4.0-art-dev@{d}"}}}}]}}}}"#
        );
        let c = parse_image_references(text.as_bytes()).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].name, "etcd");
        assert_eq!(
            c[0].image.repository(),
            "openshift-release-dev/ocp-v4.0-art-dev"
        );
        let by_tag = text.replace(&format!("@{d}"), ":latest");
        let e = parse_image_references(by_tag.as_bytes()).unwrap_err();
        assert!(e.contains("etcd") && e.contains("not by digest"), "{e}");
        assert!(parse_image_references(br#"{"kind":"List","spec":{}}"#).is_err());
    }

    /// A blob reader that fails once more than `limit` bytes were taken from it.
    struct Capped<R>(R, usize);

    impl<R: Read> Read for Capped<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1 = self
                .1
                .checked_sub(n)
                .ok_or_else(|| std::io::Error::other("read past the release manifests"))?;
            Ok(n)
        }
    }

    #[test]
    fn the_layer_is_read_only_until_the_release_files_were_found() {
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, path, data).unwrap();
        };
        add(
            "./release-manifests/image-references",
            b"{\"kind\":\"ImageStream\"}",
        );
        add(
            "release-manifests/release-metadata",
            b"{\"version\":\"4.16.5\"}",
        );
        // 2 MiB that do not compress, after the release files.
        let mut x = 0x9e3779b97f4a7c15u64;
        let noise: Vec<u8> = (0..2 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        add("usr/share/noise", &noise);
        let raw = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() > 2 << 20);
        let layer = Referenced {
            digest: Digest::sha256_of(&gz),
            size: gz.len() as u64,
            media_type: crate::model::MediaType::from(
                "application/vnd.oci.image.layer.v1.tar+gzip".to_string(),
            ),
            platform: None,
            foreign: false,
        };
        let found = scan_layer(&layer, Box::new(Capped(&gz[..], 256 << 10))).unwrap();
        assert_eq!(
            found.image_references.unwrap(),
            b"{\"kind\":\"ImageStream\"}"
        );
        assert_eq!(found.metadata.unwrap(), b"{\"version\":\"4.16.5\"}");
        // Reading on would have failed: the cap is far below the layer's size.
        assert!(std::io::copy(&mut Capped(&gz[..], 256 << 10), &mut std::io::sink()).is_err());
    }
}
