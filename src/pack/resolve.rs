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
    /// A single-platform image's config could not be read.
    #[error("{image}: reading its config {digest}: {source}")]
    Config {
        /// The image as written.
        image: String,
        /// The config blob.
        digest: crate::model::Digest,
        /// What failed.
        source: std::io::Error,
    },
    /// `--platform` does not include the platform of a single-platform image.
    #[error("{image}: a single-platform image for {platform}, which --platform {wanted} leaves out; remove the line, or add --platform {platform}")]
    PlatformMismatch {
        /// The image as written.
        image: String,
        /// The platform its config names.
        platform: String,
        /// Platforms asked for.
        wanted: String,
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
    /// The name it is mirrored under.
    pub name: Reference,
    /// What the user should know about how `--platform` applied to it.
    pub notes: Vec<String>,
    /// Platforms asked for that it does not have.
    pub warnings: Vec<String>,
    /// The root's entry for it.
    pub entry: ImageEntry,
    /// Its manifests (top and present children).
    pub manifests: Vec<ManifestEntry>,
    /// Blobs to carry, in manifest order (config, then layers), foreign layers excluded.
    pub blobs: Vec<Referenced>,
    /// Where to read the blobs.
    pub source: Arc<dyn ImageSource>,
}

/// Checks a `--platform` value: `os/arch` or `os/arch/variant`, e.g. `linux/arm64`.
pub fn check_platform(p: &str) -> Result<(), String> {
    let parts: Vec<&str> = p.split('/').collect();
    if parts.iter().any(|s| s.is_empty()) || parts.len() > 3 {
        return Err(format!(
            "platform {p:?} is not OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8"
        ));
    }
    if parts.len() == 1 {
        return Err(format!(
            "platform {p:?} has no OS: write it as OS/ARCH, e.g. linux/{p}"
        ));
    }
    Ok(())
}

/// Config media types of container images, whose `os` and `architecture` name a platform.
const IMAGE_CONFIG_TYPES: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// The largest config read to learn a single-platform image's platform.
const MAX_CONFIG_BYTES: u64 = 8 << 20;

/// The platform (`os/arch[/variant]`) a single image's config names, `None` when it names none.
fn config_platform(
    text: &str,
    source: &dyn ImageSource,
    config: &Referenced,
) -> Result<Option<String>, ResolveError> {
    #[derive(serde::Deserialize)]
    struct Config {
        os: Option<String>,
        architecture: Option<String>,
        variant: Option<String>,
    }
    let mut bytes = Vec::new();
    let reader =
        source
            .blob(&config.digest, config.size)
            .map_err(|source| ResolveError::Source {
                image: text.to_string(),
                source,
            })?;
    std::io::Read::read_to_end(
        &mut std::io::Read::take(reader, MAX_CONFIG_BYTES),
        &mut bytes,
    )
    .map_err(|source| ResolveError::Config {
        image: text.to_string(),
        digest: config.digest.clone(),
        source,
    })?;
    let Ok(c) = serde_json::from_slice::<Config>(&bytes) else {
        return Ok(None);
    };
    Ok(match (c.os, c.architecture) {
        (Some(os), Some(arch)) if !os.is_empty() && !arch.is_empty() => Some(match c.variant {
            Some(v) if !v.is_empty() => format!("{os}/{arch}/{v}"),
            _ => format!("{os}/{arch}"),
        }),
        _ => None,
    })
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
    let is_index = top.media_type.is_index();
    // Platform choice applies to image manifests; an index inside an index is always followed,
    // so that its own children are chosen by the same rule.
    let include = |_: &crate::model::Digest, c: &Referenced| {
        c.media_type.is_index() || platform_matches(c.platform.as_deref(), platforms)
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
                .filter(|e| !e.child.media_type.is_index())
                .map(|e| e.child.platform.clone().unwrap_or_else(|| "unknown".into()))
                .collect::<Vec<_>>()
                .join(", "),
            wanted: platforms.join(", "),
        });
    }
    let (notes, warnings) = platform_report(text, source.as_ref(), &graph, is_index, platforms)?;
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
        attached: None,
    };
    let manifests = graph
        .nodes
        .iter()
        .map(|n| ManifestEntry::new(&n.media_type, &n.bytes))
        .collect();
    Ok(Resolved {
        name: name.clone(),
        notes,
        warnings,
        entry,
        manifests,
        blobs: graph.blobs,
        source,
    })
}

/// How `--platform` applied to one image: a single-platform image whose config names another
/// platform is refused; one that matches, or names none, is kept with a note; platforms asked
/// for that an index lacks are warned about.
fn platform_report(
    text: &str,
    source: &dyn ImageSource,
    graph: &graph::ImageGraph,
    is_index: bool,
    platforms: &[String],
) -> Result<(Vec<String>, Vec<String>), ResolveError> {
    let (mut notes, mut warnings) = (Vec::new(), Vec::new());
    if platforms.is_empty() {
        return Ok((notes, warnings));
    }
    let wanted = platforms.join(", ");
    if is_index {
        let present: Vec<&str> = graph
            .edges
            .iter()
            .filter_map(|e| e.child.platform.as_deref())
            .collect();
        for w in platforms {
            if !present
                .iter()
                .any(|p| platform_matches(Some(p), std::slice::from_ref(w)))
            {
                warnings.push(format!(
                    "{text}: has no {w} image (it has {}); carried without it",
                    present.join(", ")
                ));
            }
        }
        return Ok((notes, warnings));
    }
    let config = match &graph.top().refs {
        crate::model::manifest::ManifestRefs::Image { config, .. } => config,
        crate::model::manifest::ManifestRefs::Index { .. } => return Ok((notes, warnings)),
    };
    if !IMAGE_CONFIG_TYPES.contains(&config.media_type.as_str()) {
        notes.push(format!(
            "{text}: not a container image (config {}), so --platform {wanted} does not apply; kept",
            config.media_type
        ));
        return Ok((notes, warnings));
    }
    match config_platform(text, source, config)? {
        Some(p) if platform_matches(Some(&p), platforms) => {
            notes.push(format!(
                "{text}: a single-platform image for {p}, which --platform {wanted} includes; kept"
            ));
        }
        Some(platform) => {
            return Err(ResolveError::PlatformMismatch {
                image: text.to_string(),
                platform,
                wanted,
            })
        }
        None => warnings.push(format!(
            "{text}: a single-platform image whose config names no os/architecture; kept, \
             though --platform {wanted} cannot be checked against it"
        )),
    }
    Ok((notes, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_values() {
        assert!(check_platform("linux/arm64").is_ok());
        assert!(check_platform("linux/arm64/v8").is_ok());
        let e = check_platform("arm64").unwrap_err();
        assert!(e.contains("linux/arm64"), "{e}");
        assert!(check_platform("linux/").is_err());
        assert!(check_platform("a/b/c/d").is_err());
    }

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
