//! Resolving requested images: fetching their manifests, choosing platforms, and listing the
//! blobs to carry.

use std::sync::Arc;

use crate::bundle::root::{ImageEntry, ManifestEntry, PlatformEntry};
use crate::model::graph::{self, FetchedManifest, GraphError};
use crate::model::manifest::Referenced;
use crate::model::Reference;
use crate::source::{ImageSource, SourceError};

/// Why an image could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The source failed.
    #[error("{image}")]
    Source {
        /// The image as written.
        image: String,
        /// What failed.
        source: SourceError,
    },
    /// A manifest could not be read.
    #[error("{image}")]
    Manifest {
        /// The image as written.
        image: String,
        /// What failed.
        source: crate::model::manifest::ManifestError,
    },
    /// The image's manifest graph cannot be walked (indexes nested too deep).
    #[error("{image}: {reason}")]
    Graph {
        /// The image as written.
        image: String,
        /// What is wrong.
        reason: String,
    },
    /// `--platform` left nothing of an index.
    #[error("{image}: none of its platforms ({available}) matches --platform {wanted}")]
    NoPlatform {
        /// The image as written.
        image: String,
        /// Platforms the index has.
        available: String,
        /// Platforms asked for.
        wanted: String,
    },
}

/// An image with everything the bundle needs to know about it.
pub struct Resolved {
    /// The root's entry for it.
    pub entry: ImageEntry,
    /// Its manifests (top and present children).
    pub manifests: Vec<ManifestEntry>,
    /// Blobs to carry, in manifest order (config, then layers), foreign layers excluded.
    pub blobs: Vec<Referenced>,
    /// Where to read the blobs.
    pub source: Arc<dyn ImageSource>,
}

/// Whether an index child's platform is one of `wanted` (`os/arch` or `os/arch/variant`).
pub fn platform_matches(platform: Option<&str>, wanted: &[String]) -> bool {
    if wanted.is_empty() {
        return true;
    }
    let Some(p) = platform else { return false };
    wanted.iter().any(|w| {
        p == w
            || (w.matches('/').count() == 1
                && p.starts_with(w.as_str())
                && p[w.len()..].starts_with('/'))
    })
}

/// Fetches the manifests of one image and lists its blobs.
pub fn resolve(
    text: &str,
    name: &Reference,
    source: Arc<dyn ImageSource>,
    platforms: &[String],
) -> Result<Resolved, ResolveError> {
    let src_err = |source| ResolveError::Source {
        image: text.to_string(),
        source,
    };
    let man_err = |source| ResolveError::Manifest {
        image: text.to_string(),
        source,
    };
    let top = source.top_manifest().map_err(src_err)?;
    if let Some(d) = name.digest() {
        if d != &top.digest
            && matches!(
                source.describe().split(':').next(),
                Some("oci" | "docker-archive")
            )
        {
            // A local source named with a digest must deliver that digest.
            return Err(src_err(SourceError::NotFound {
                what: format!("manifest {d}"),
                source_name: source.describe(),
            }));
        }
    }
    let is_index = crate::model::media_type::is_index(&top.media_type);
    // Platform choice applies to image manifests; an index inside an index is always followed,
    // so that its own children are chosen by the same rule.
    let include = |_: &crate::model::Digest, c: &Referenced| {
        crate::model::media_type::is_index(&c.media_type)
            || platform_matches(c.platform.as_deref(), platforms)
    };
    let mut fetch = |d: &crate::model::Digest| {
        source.manifest(d).map(|m| FetchedManifest {
            media_type: m.media_type,
            bytes: m.bytes,
        })
    };
    let top_digest = top.digest.clone();
    let graph = graph::walk(
        &top_digest,
        FetchedManifest {
            media_type: top.media_type.clone(),
            bytes: top.bytes,
        },
        &mut fetch,
        &include,
    )
    .map_err(|e| match e {
        GraphError::Fetch(source) => src_err(source),
        GraphError::Manifest(source) => man_err(source),
        e @ GraphError::TooDeep { .. } => ResolveError::Graph {
            image: text.to_string(),
            reason: e.to_string(),
        },
    })?;
    if is_index && !graph.nodes.iter().any(|n| !n.is_index()) {
        return Err(ResolveError::NoPlatform {
            image: text.to_string(),
            available: graph
                .edges
                .iter()
                .filter(|e| !crate::model::media_type::is_index(&e.child.media_type))
                .map(|e| e.child.platform.clone().unwrap_or_else(|| "unknown".into()))
                .collect::<Vec<_>>()
                .join(", "),
            wanted: platforms.join(", "),
        });
    }
    let entry = ImageEntry {
        source: text.to_string(),
        name: name.to_string(),
        digest: top_digest,
        media_type: top.media_type,
        tags: name.tag().map(|t| vec![t.to_string()]).unwrap_or_default(),
        platforms: graph
            .edges
            .iter()
            .map(|e| PlatformEntry {
                platform: e.child.platform.clone().unwrap_or_else(|| "unknown".into()),
                digest: e.child.digest.clone(),
                present: e.included,
            })
            .collect(),
        foreign: graph.foreign.iter().map(|f| f.digest.clone()).collect(),
    };
    let manifests = graph
        .nodes
        .iter()
        .map(|n| ManifestEntry::new(&n.media_type, &n.bytes))
        .collect();
    Ok(Resolved {
        entry,
        manifests,
        blobs: graph.blobs,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_matching() {
        let w = vec!["linux/arm64".to_string()];
        assert!(platform_matches(Some("linux/arm64"), &w));
        assert!(platform_matches(Some("linux/arm64/v8"), &w));
        assert!(!platform_matches(Some("linux/amd64"), &w));
        assert!(!platform_matches(Some("linux/arm64v8"), &w));
        assert!(!platform_matches(None, &w));
        assert!(platform_matches(None, &[]));
        assert!(!platform_matches(
            Some("linux/arm64"),
            &["linux/arm64/v7".to_string()]
        ));
    }
}
