//! The operator catalogs among a bundle's images, found by their image config's label
//! `operators.operatorframework.io.index.configs.v1` (for an index, its first image child),
//! and their cluster resources written beside the mirror sets (with the CatalogSource template
//! the root carries for a catalog, if any).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bundle::{Bundle, Verified};
use crate::mirrorset::catalog::{write_catalogs, CatalogResource};
use crate::mirrorset::MirrorSetError;
use crate::model::labels::{label, CONFIGS_LABEL, FILTERED_LABEL};
use crate::model::manifest::{parse_refs, ManifestRefs};
use crate::model::{Digest, Reference};
use crate::naming::Naming;

/// The largest image config read.
const MAX_CONFIG: u64 = 4 << 20;

/// An operator catalog pushed, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct PushedCatalog {
    /// Its upstream name.
    pub name: String,
    /// Its mirror, by digest: what the CatalogSource and ClusterCatalog name.
    pub mirror: String,
    /// For a catalog ferry filtered (its digest changed): the original catalog, by digest.
    pub filtered_from: Option<String>,
    /// The CatalogSource template it was packed with (`targetCatalogSourceTemplate`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<serde_json::Value>,
}

/// The image config of the image (or first image child) `digest` of `bundle`.
fn config_of(bundle: &Bundle<Verified>, digest: &Digest) -> Option<serde_json::Value> {
    let (mt, bytes) = bundle.manifest_bytes(digest).ok()?;
    let config = match parse_refs(digest, &mt, &bytes).ok()? {
        ManifestRefs::Image { config, .. } => config,
        ManifestRefs::Index { children } => {
            let child = children.iter().find(|c| !c.media_type.is_index())?;
            let (mt, bytes) = bundle.manifest_bytes(&child.digest).ok()?;
            match parse_refs(&child.digest, &mt, &bytes).ok()? {
                ManifestRefs::Image { config, .. } => config,
                ManifestRefs::Index { .. } => return None,
            }
        }
    };
    if config.size > MAX_CONFIG {
        return None;
    }
    let mut buf = Vec::new();
    bundle
        .blob_reader(&config.digest, true)
        .ok()?
        .take(MAX_CONFIG)
        .read_to_end(&mut buf)
        .ok()?;
    if Digest::sha256_of(&buf) != config.digest {
        return None;
    }
    serde_json::from_slice(&buf).ok()
}

/// The catalogs among `bundle`'s images that `pushed` says landed, with their mirrors.
pub fn find(bundle: &Bundle<Verified>, naming: &Naming, pushed: &[bool]) -> Vec<PushedCatalog> {
    let mut out = Vec::new();
    for (img, ok) in bundle.root().images.iter().zip(pushed) {
        if !ok {
            continue;
        }
        let Some(config) = config_of(bundle, &img.digest) else {
            continue;
        };
        if label(&config, CONFIGS_LABEL).is_none() {
            continue;
        }
        let Ok(name) = Reference::parse(&img.name) else {
            continue;
        };
        let Ok(mirror) = naming.mirror(&name) else {
            continue;
        };
        out.push(PushedCatalog {
            name: name.to_string(),
            mirror: mirror.by_digest(img.digest.clone()).to_string(),
            filtered_from: label(&config, FILTERED_LABEL).map(str::to_string),
            template: bundle
                .root()
                .catalog_sources
                .iter()
                .find(|t| t.catalog == img.name)
                .map(|t| t.template.clone()),
        });
    }
    out
}

/// Writes a CatalogSource and a ClusterCatalog per catalog into `dir`.
pub fn write(
    dir: &Path,
    catalogs: &[PushedCatalog],
    id: &str,
) -> Result<Vec<PathBuf>, MirrorSetError> {
    let resources: Vec<CatalogResource> = catalogs
        .iter()
        .filter_map(|c| {
            Some(CatalogResource {
                upstream: Reference::parse(&c.name).ok()?,
                mirror: Reference::parse(&c.mirror).ok()?,
                template: c.template.clone(),
            })
        })
        .collect();
    write_catalogs(dir, &resources, id)
}
