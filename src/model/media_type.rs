//! Media types of manifests and layers that ferry meets.
//!
//! [`MediaType`] is an open enum in the style of `oci-spec`'s: the types ferry knows by name,
//! and [`MediaType::Other`] for everything else. A value always reads back as the exact string
//! it was made from, so bundle roots and pushed manifests keep unknown types verbatim.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// The media type of a manifest, config or layer.
///
/// Made from a string with [`From`] or [`FromStr`] (which never fail): a string naming a known
/// type gives its variant, any other string is kept as [`MediaType::Other`]. Parameters
/// (`; charset=utf-8`) are not stripped: use [`essence`] first where a header may carry them.
/// Equality and hashing compare [`MediaType::as_str`], so `Other` holding a known type's
/// string equals that type's variant. Serialized as the plain string.
#[derive(Debug, Clone)]
pub enum MediaType {
    /// OCI image manifest.
    OciManifest,
    /// OCI image index.
    OciIndex,
    /// Docker image manifest, schema 2.
    DockerManifest,
    /// Docker manifest list.
    DockerManifestList,
    /// OCI image config.
    OciConfig,
    /// Docker image config.
    DockerConfig,
    /// OCI gzip layer.
    OciLayerGzip,
    /// OCI zstd layer.
    OciLayerZstd,
    /// OCI uncompressed layer.
    OciLayerTar,
    /// Docker gzip layer.
    DockerLayerGzip,
    /// Docker uncompressed layer (as written by `docker save`).
    DockerLayerTar,
    /// Docker foreign (non-distributable) layer.
    DockerForeignLayer,
    /// OCI non-distributable gzip layer.
    OciNondistributableGzip,
    /// OCI non-distributable uncompressed layer.
    OciNondistributableTar,
    /// OCI non-distributable zstd layer.
    OciNondistributableZstd,
    /// Any other media type, kept verbatim.
    Other(String),
}

/// The four manifest media types a registry serves, in the order ferry asks for them.
pub const MANIFEST_TYPES: [MediaType; 4] = [
    MediaType::OciIndex,
    MediaType::DockerManifestList,
    MediaType::OciManifest,
    MediaType::DockerManifest,
];

/// `value` without its parameters (`; charset=utf-8`) and surrounding blanks, as a
/// `Content-Type` header or a descriptor may carry them.
pub fn essence(value: &str) -> &str {
    value.split(';').next().unwrap_or(value).trim()
}

impl MediaType {
    /// The media type's string, exactly as it was made (for [`MediaType::Other`]) or as the
    /// specifications spell it.
    pub fn as_str(&self) -> &str {
        match self {
            MediaType::OciManifest => "application/vnd.oci.image.manifest.v1+json",
            MediaType::OciIndex => "application/vnd.oci.image.index.v1+json",
            MediaType::DockerManifest => "application/vnd.docker.distribution.manifest.v2+json",
            MediaType::DockerManifestList => {
                "application/vnd.docker.distribution.manifest.list.v2+json"
            }
            MediaType::OciConfig => "application/vnd.oci.image.config.v1+json",
            MediaType::DockerConfig => "application/vnd.docker.container.image.v1+json",
            MediaType::OciLayerGzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            MediaType::OciLayerZstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            MediaType::OciLayerTar => "application/vnd.oci.image.layer.v1.tar",
            MediaType::DockerLayerGzip => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            MediaType::DockerLayerTar => "application/vnd.docker.image.rootfs.diff.tar",
            MediaType::DockerForeignLayer => {
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
            }
            MediaType::OciNondistributableGzip => {
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            }
            MediaType::OciNondistributableTar => {
                "application/vnd.oci.image.layer.nondistributable.v1.tar"
            }
            MediaType::OciNondistributableZstd => {
                "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            }
            MediaType::Other(s) => s,
        }
    }

    /// The known variant spelled exactly `s`, if any.
    fn known(s: &str) -> Option<MediaType> {
        Some(match s {
            "application/vnd.oci.image.manifest.v1+json" => MediaType::OciManifest,
            "application/vnd.oci.image.index.v1+json" => MediaType::OciIndex,
            "application/vnd.docker.distribution.manifest.v2+json" => MediaType::DockerManifest,
            "application/vnd.docker.distribution.manifest.list.v2+json" => {
                MediaType::DockerManifestList
            }
            "application/vnd.oci.image.config.v1+json" => MediaType::OciConfig,
            "application/vnd.docker.container.image.v1+json" => MediaType::DockerConfig,
            "application/vnd.oci.image.layer.v1.tar+gzip" => MediaType::OciLayerGzip,
            "application/vnd.oci.image.layer.v1.tar+zstd" => MediaType::OciLayerZstd,
            "application/vnd.oci.image.layer.v1.tar" => MediaType::OciLayerTar,
            "application/vnd.docker.image.rootfs.diff.tar.gzip" => MediaType::DockerLayerGzip,
            "application/vnd.docker.image.rootfs.diff.tar" => MediaType::DockerLayerTar,
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                MediaType::DockerForeignLayer
            }
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => {
                MediaType::OciNondistributableGzip
            }
            "application/vnd.oci.image.layer.nondistributable.v1.tar" => {
                MediaType::OciNondistributableTar
            }
            "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
                MediaType::OciNondistributableZstd
            }
            _ => return None,
        })
    }

    /// Whether this is an index (OCI index or Docker manifest list).
    pub fn is_index(&self) -> bool {
        matches!(
            *self.normal(),
            MediaType::OciIndex | MediaType::DockerManifestList
        )
    }

    /// Whether this is a single-image manifest (OCI or Docker schema 2).
    pub fn is_image_manifest(&self) -> bool {
        matches!(
            *self.normal(),
            MediaType::OciManifest | MediaType::DockerManifest
        )
    }

    /// Whether this is one of the four manifest types ferry handles ([`MANIFEST_TYPES`]).
    pub fn is_manifest(&self) -> bool {
        self.is_index() || self.is_image_manifest()
    }

    /// Whether a layer of this type is non-distributable ("foreign"): registries may not hold
    /// its content, which lives at the descriptor's URLs instead.
    pub fn is_foreign_layer(&self) -> bool {
        matches!(
            *self.normal(),
            MediaType::DockerForeignLayer
                | MediaType::OciNondistributableGzip
                | MediaType::OciNondistributableTar
                | MediaType::OciNondistributableZstd
        )
    }

    /// Whether a blob of this type is already compressed, so that compressing it again would
    /// waste CPU for nothing. Judged by the string's ending, so unknown types count too.
    pub fn is_compressed(&self) -> bool {
        let s = self.as_str();
        s.ends_with("gzip") || s.ends_with("zstd")
    }

    /// This value with an `Other` spelling a known type turned into that type's variant.
    fn normal(&self) -> std::borrow::Cow<'_, MediaType> {
        match self {
            MediaType::Other(s) => match MediaType::known(s) {
                Some(k) => std::borrow::Cow::Owned(k),
                None => std::borrow::Cow::Borrowed(self),
            },
            _ => std::borrow::Cow::Borrowed(self),
        }
    }
}

impl From<&str> for MediaType {
    fn from(s: &str) -> Self {
        MediaType::known(s).unwrap_or_else(|| MediaType::Other(s.to_string()))
    }
}

impl From<String> for MediaType {
    fn from(s: String) -> Self {
        MediaType::known(&s).unwrap_or(MediaType::Other(s))
    }
}

impl From<&String> for MediaType {
    fn from(s: &String) -> Self {
        MediaType::from(s.as_str())
    }
}

impl FromStr for MediaType {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(MediaType::from(s))
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for MediaType {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for MediaType {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for MediaType {}

impl Hash for MediaType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialEq<str> for MediaType {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for MediaType {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for MediaType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for MediaType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(MediaType::from)
    }
}

#[cfg(test)]
mod tests;
