//! Resolving requested images: fetching their manifests, choosing platforms, and listing the
//! blobs to carry.

use std::sync::Arc;

use crate::bundle::root::{ImageEntry, ManifestEntry, PlatformEntry};
use crate::model::manifest::{parse_refs, ManifestRefs, Referenced};
use crate::model::Reference;
use crate::source::{ImageSource, SourceError};

/// Why an image could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The source failed.
    #[error("{image}: {source}")]
    Source {
        /// The image as written.
        image: String,
        /// What failed.
        source: SourceError,
    },
    /// A manifest could not be read.
    #[error("{image}: {source}")]
    Manifest {
        /// The image as written.
        image: String,
        /// What failed.
        source: crate::model::manifest::ManifestError,
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
    let mut entry = ImageEntry {
        source: text.to_string(),
        name: name.to_string(),
        digest: top.digest.clone(),
        media_type: top.media_type.clone(),
        tags: name.tag().map(|t| vec![t.to_string()]).unwrap_or_default(),
        platforms: Vec::new(),
        foreign: Vec::new(),
    };
    let mut manifests = vec![ManifestEntry::new(&top.media_type, &top.bytes)];
    let mut blobs: Vec<Referenced> = Vec::new();
    let mut add_image = |refs: &ManifestRefs, entry: &mut ImageEntry| {
        if let ManifestRefs::Image { layers, .. } = refs {
            for l in layers.iter().filter(|l| l.foreign) {
                if !entry.foreign.contains(&l.digest) {
                    entry.foreign.push(l.digest.clone());
                }
            }
        }
        for b in refs.blobs() {
            if !blobs.iter().any(|x| x.digest == b.digest) {
                blobs.push(b.clone());
            }
        }
    };
    match parse_refs(&top.digest, &top.media_type, &top.bytes).map_err(man_err)? {
        ManifestRefs::Index { children } => {
            let any = children
                .iter()
                .any(|c| platform_matches(c.platform.as_deref(), platforms));
            if !any {
                return Err(ResolveError::NoPlatform {
                    image: text.to_string(),
                    available: children
                        .iter()
                        .map(|c| c.platform.clone().unwrap_or_else(|| "unknown".into()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    wanted: platforms.join(", "),
                });
            }
            for c in &children {
                let present = platform_matches(c.platform.as_deref(), platforms);
                entry.platforms.push(PlatformEntry {
                    platform: c.platform.clone().unwrap_or_else(|| "unknown".into()),
                    digest: c.digest.clone(),
                    present,
                });
                if !present {
                    continue;
                }
                let child = source.manifest(&c.digest).map_err(src_err)?;
                let refs =
                    parse_refs(&child.digest, &child.media_type, &child.bytes).map_err(man_err)?;
                if matches!(refs, ManifestRefs::Index { .. }) {
                    // Nested indexes are rare; carry the child manifest but not its children.
                    manifests.push(ManifestEntry::new(&child.media_type, &child.bytes));
                    continue;
                }
                add_image(&refs, &mut entry);
                manifests.push(ManifestEntry::new(&child.media_type, &child.bytes));
            }
        }
        refs => add_image(&refs, &mut entry),
    }
    Ok(Resolved {
        entry,
        manifests,
        blobs,
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
