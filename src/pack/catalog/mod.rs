//! Operator catalogs (`mirror.operators` of an ImageSetConfiguration): read the file-based
//! catalog of a catalog image ([`read`]), keep what the filter asks for with oc-mirror v2's
//! rules ([`select`]), build the filtered catalog image the cluster is given ([`build`]), and
//! turn it all into images to pack: the catalog (unchanged with `full: true` and no package,
//! else rebuilt), and each kept bundle's image and `relatedImages`, by digest.

pub mod build;
pub mod channel;
pub mod fbc;
pub mod ignore;
mod nearest;
pub mod read;
pub mod select;
pub mod template;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::list::{ImageRequest, SourceSpec};
use super::Registries;
use crate::bundle::root::CatalogSourceTemplate;
use crate::model::{Digest, Reference};
use crate::progress::Progress;
use crate::source::SourceError;
use select::{CatalogFilter, SelectError};

/// What ends the source text of a catalog ferry filtered and rebuilt (`inspect` and the pack
/// summary show it: the one image whose digest is not upstream's).
pub const FILTERED_SUFFIX: &str = " (filtered by ferry)";

/// Why a catalog could not be carried. Each names the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The catalog image could not be read from its source.
    #[error("catalog {catalog}: {source}")]
    Source {
        /// The catalog.
        catalog: String,
        /// What failed.
        source: SourceError,
    },
    /// The catalog image or its file-based catalog is not what it should be.
    #[error("catalog {catalog}: {reason}")]
    Invalid {
        /// The catalog.
        catalog: String,
        /// What is wrong.
        reason: String,
    },
    /// A package, channel or version asked for does not exist, or the filter cannot apply.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// The filtered catalog image could not be written.
    #[error("catalog {catalog}: building the filtered catalog: {source}")]
    Build {
        /// The catalog.
        catalog: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// One `mirror.operators[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRequest {
    /// The catalog image.
    pub reference: Reference,
    /// What to keep of it.
    pub filter: CatalogFilter,
    /// `targetCatalog`: the repository path the catalog is mirrored under instead of its own.
    pub target_catalog: Option<String>,
    /// `targetTag`: the tag it is mirrored under instead of its own.
    pub target_tag: Option<String>,
    /// Where it was asked for (`FILE:LINE mirror.operators[I]`).
    pub location: String,
    /// `targetCatalogSourceTemplate`, as checked: what its CatalogSource keeps of the template.
    pub source_template: Option<serde_json::Value>,
    /// For `oci://PATH`: the OCI layout the catalog is read from (`reference` is then the name
    /// it is carried under, `localhost/<directory name>:latest`).
    pub layout: Option<PathBuf>,
}

impl CatalogRequest {
    /// Whether the catalog travels unchanged: `full: true` and no package listed.
    pub fn is_whole(&self) -> bool {
        self.filter.full && self.filter.packages.is_empty()
    }
}

/// One kept channel, for the summary.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PackedChannel {
    /// The channel.
    pub name: String,
    /// Its kept bundles.
    pub bundles: Vec<String>,
}

/// One kept package, for the summary.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PackedPackage {
    /// The package.
    pub name: String,
    /// Its default channel.
    pub default_channel: String,
    /// Its kept channels.
    pub channels: Vec<PackedChannel>,
}

/// One catalog carried, for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct PackedCatalog {
    /// The catalog as asked for.
    pub catalog: String,
    /// Its top manifest digest.
    pub digest: Digest,
    /// The name it is packed (and mirrored) under.
    pub name: String,
    /// The rebuilt catalog's digest, when it was filtered (the one image whose digest
    /// changes); `None` when it travels unchanged.
    pub rebuilt: Option<Digest>,
    /// The kept packages (every package, for a whole catalog).
    pub packages: Vec<PackedPackage>,
    /// How many bundles were kept.
    pub bundles: usize,
    /// How many distinct images the kept bundles name (bundle images and related images).
    pub images: usize,
    /// Where it was asked for.
    pub location: String,
    /// Its CatalogSource template, carried in the bundle root.
    #[serde(skip)]
    pub source_template: Option<serde_json::Value>,
}

/// What the catalogs add to a pack.
pub struct ExpandedCatalogs {
    /// The images: each catalog, then its bundles' images.
    pub requests: Vec<ImageRequest>,
    /// The catalogs, for the summary.
    pub catalogs: Vec<PackedCatalog>,
    /// What the user should know.
    pub notes: Vec<String>,
}

/// The name the catalog is mirrored under: `targetCatalog`/`targetTag` over its own path and
/// tag; a filtered catalog asked for by digest only is tagged `sha256-<hex of the new digest>`.
fn target_name(r: &CatalogRequest, rebuilt: Option<&Digest>) -> Result<Option<Reference>, String> {
    let tag = r
        .target_tag
        .clone()
        .or_else(|| r.reference.tag().map(str::to_string))
        .or_else(|| rebuilt.map(|d| format!("{}-{}", d.algorithm().name(), d.hex())));
    if rebuilt.is_none() && r.target_catalog.is_none() && r.target_tag.is_none() {
        return Ok(None);
    }
    let repo = r
        .target_catalog
        .clone()
        .unwrap_or_else(|| r.reference.repository().to_string());
    let digest = if rebuilt.is_none() && tag.is_none() {
        r.reference.digest()
    } else {
        None
    };
    Reference::from_parts(r.reference.registry(), &repo, tag.as_deref(), digest)
        .map(Some)
        .map_err(|e| crate::error_chain(&e))
}

/// Reads, filters and (when filtered) rebuilds each catalog of `requests`, writing rebuilt
/// catalogs under `work`; returns the images to pack.
pub fn expand_catalogs(
    requests: &[CatalogRequest],
    registries: &Registries,
    work: &Path,
    progress: &dyn Progress,
) -> Result<ExpandedCatalogs, CatalogError> {
    let mut out = ExpandedCatalogs {
        requests: Vec::new(),
        catalogs: Vec::new(),
        notes: Vec::new(),
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (i, r) in requests.iter().enumerate() {
        let name = match &r.layout {
            Some(dir) => format!("oci://{}", dir.display()),
            None => r.reference.to_string(),
        };
        let origin = match &r.layout {
            Some(dir) => SourceSpec::Oci {
                path: dir.clone(),
                tag: None,
            },
            None => SourceSpec::Registry(r.reference.clone()),
        };
        let wanted: BTreeSet<&str> = r.filter.packages.iter().map(|p| p.name.as_str()).collect();
        let keep = |p: &str| wanted.is_empty() || wanted.contains(p);
        let (image, catalog) = match &r.layout {
            Some(dir) => {
                let source = registries.layouts.source(dir, None);
                read::read_catalog(&name, &r.reference, &source, &keep)?
            }
            None => {
                let source = registries
                    .source(&r.reference)
                    .map_err(|e| CatalogError::Source {
                        catalog: name.clone(),
                        source: SourceError::Registry(e),
                    })?;
                read::read_catalog(&name, &r.reference, &source, &keep)?
            }
        };
        let selection = if r.is_whole() {
            whole(&catalog)
        } else {
            select::select(&catalog, &name, &r.filter)?
        };
        out.notes.extend(selection.notes.iter().cloned());
        let (rebuilt, request) = if r.is_whole() {
            let target = target_name(r, None).map_err(|reason| CatalogError::Invalid {
                catalog: name.clone(),
                reason,
            })?;
            // A layout carries no upstream name: the catalog always takes its own.
            let target = target.or_else(|| r.layout.as_ref().map(|_| r.reference.clone()));
            (
                None,
                ImageRequest {
                    text: name.clone(),
                    source: origin,
                    name: target,
                    location: r.location.clone(),
                },
            )
        } else {
            let layout = work.join(format!("catalog-{i}"));
            let tag = "filtered";
            let built =
                build::build(&image, &catalog, &selection, &layout, tag).map_err(|source| {
                    CatalogError::Build {
                        catalog: name.clone(),
                        source,
                    }
                })?;
            let target = target_name(r, Some(&built.digest))
                .map_err(|reason| CatalogError::Invalid {
                    catalog: name.clone(),
                    reason,
                })?
                .expect("a rebuilt catalog always has a target name");
            (
                Some(built.digest.clone()),
                ImageRequest {
                    text: format!("{name}{FILTERED_SUFFIX}"),
                    source: SourceSpec::Built {
                        layout,
                        tag: tag.to_string(),
                        base: Box::new(origin),
                    },
                    name: Some(target),
                    location: r.location.clone(),
                },
            )
        };
        let packed_name = request
            .name
            .as_ref()
            .map(Reference::to_string)
            .unwrap_or_else(|| name.clone());
        out.requests.push(request);
        let mut images = 0;
        let mut bundles = 0;
        let mut packages = Vec::new();
        for kept in &selection.packages {
            let pkg = &catalog.packages[&kept.name];
            for b in &kept.bundles {
                bundles += 1;
                let bundle = &pkg.bundles[b];
                let mut refs: Vec<&str> = Vec::new();
                if !bundle.image.is_empty() {
                    refs.push(&bundle.image);
                }
                refs.extend(bundle.related.iter().map(String::as_str));
                for text in refs {
                    let reference = Reference::parse(text).map_err(|e| CatalogError::Invalid {
                        catalog: name.clone(),
                        reason: format!(
                            "bundle {b:?} of package {:?} names image {text:?}: {}",
                            kept.name,
                            crate::error_chain(&e)
                        ),
                    })?;
                    let key = reference.to_string();
                    if seen.insert(key.clone()) {
                        images += 1;
                        out.requests.push(ImageRequest {
                            text: key,
                            source: SourceSpec::Registry(reference),
                            name: None,
                            location: format!("catalog {name} package {} bundle {b}", kept.name),
                        });
                    }
                }
            }
            packages.push(PackedPackage {
                name: kept.name.clone(),
                default_channel: kept.default_channel.clone(),
                channels: kept
                    .channels
                    .iter()
                    .map(|c| PackedChannel {
                        name: c.name.clone(),
                        bundles: c.entries.clone(),
                    })
                    .collect(),
            });
        }
        progress.note(&format!(
            "catalog {name}: {} packages, {bundles} bundles, {images} images{}",
            packages.len(),
            match &rebuilt {
                Some(d) => format!("; filtered catalog {d}"),
                None => "; carried whole".to_string(),
            }
        ));
        out.catalogs.push(PackedCatalog {
            catalog: name,
            digest: image.top.digest.clone(),
            name: packed_name,
            rebuilt,
            packages,
            bundles,
            images,
            location: r.location.clone(),
            source_template: r.source_template.clone(),
        });
    }
    Ok(out)
}

/// The CatalogSource templates of `catalogs`, for the bundle root.
pub fn source_templates(catalogs: &[PackedCatalog]) -> Vec<CatalogSourceTemplate> {
    catalogs
        .iter()
        .filter_map(|c| {
            Some(CatalogSourceTemplate {
                catalog: c.name.clone(),
                template: c.source_template.clone()?,
            })
        })
        .collect()
}

/// Everything of a catalog carried whole: every channel with all its entries, every bundle.
fn whole(catalog: &fbc::Catalog) -> select::Selection {
    select::Selection {
        packages: catalog
            .packages
            .iter()
            .map(|(name, p)| select::KeptPackage {
                name: name.clone(),
                default_channel: p.default_channel.clone(),
                channels: p
                    .channels
                    .iter()
                    .map(|c| select::KeptChannel {
                        name: c.name.clone(),
                        entries: c.entries.iter().map(|e| e.name.clone()).collect(),
                    })
                    .collect(),
                bundles: p.bundles.keys().cloned().collect(),
            })
            .collect(),
        notes: Vec::new(),
    }
}
