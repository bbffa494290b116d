//! `ferry pack`: read images, write a signed bundle.
//!
//! Images are resolved first (manifests only), which fixes the plan: the unique blobs in a
//! deterministic order. Blobs are then fetched, hashed, chunked and compressed by parallel
//! workers, and written in plan order, so the same input always gives the same bundle bytes.

pub mod attached;
pub mod base;
pub mod catalog;
pub mod checks;
pub mod delta;
pub mod expand;
pub mod graph_api;
pub mod imageset;
mod keylines;
pub mod list;
pub mod lock;
pub mod mirrors;
mod pipeline;
mod plan;
pub mod registries;
pub mod release;
pub mod release_sigs;
pub mod resolve;
pub mod sequence;
pub mod version;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::bundle::root::{CatalogSourceTemplate, ChunkingInfo, ManifestEntry, ReleaseSignature};
use crate::bundle::writer::{BundleWriter, RootContent};
use crate::bundle::BundleError;
use crate::chunk::ChunkParams;
use crate::model::manifest::Referenced;
use crate::model::{Digest, Reference};
use crate::progress::Progress;
use crate::registry::ClientOptions;
use crate::sign::SecretKey;
use crate::source::{DockerArchiveSource, ImageSource, SourceError};
use imageset::PackInput;
use list::{ImageRequest, SourceSpec};
use mirrors::SourceMirror;
pub use registries::Registries;
use resolve::{resolve, ResolveError, Resolved};

/// The default volume size: 4 GiB − 1 byte, the largest file FAT32 holds.
pub const DEFAULT_VOLUME_SIZE: u64 = 4 * 1024 * 1024 * 1024 - 1;
/// The smallest volume size accepted.
pub const MIN_VOLUME_SIZE: u64 = 16 * 1024 * 1024;
/// The largest blob ferry carries (1 TiB): a manifest declaring more is wrong.
pub const MAX_BLOB_SIZE: u64 = 1 << 40;

/// What went wrong packing.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// An image could not be resolved.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// An image's source could not be opened.
    #[error("{image}")]
    Source {
        /// The image as written.
        image: String,
        /// What failed.
        source: SourceError,
    },
    /// A blob could not be fetched or did not match its digest.
    #[error("blob {digest} of {image}: {reason}")]
    Blob {
        /// The blob.
        digest: Digest,
        /// An image that uses it.
        image: String,
        /// What failed.
        reason: String,
    },
    /// A local source has no upstream name.
    #[error("{image}: no upstream name to mirror it under; write the line as `{image} REGISTRY/PATH:TAG`")]
    NoName {
        /// The image as written.
        image: String,
    },
    /// Writing the bundle failed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// Some lines of the list cannot be packed (all of them named); nothing was written.
    #[error("{0}")]
    Images(checks::ImageProblems),
    /// Another pack is writing into the output directory, or it cannot be locked.
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    /// The options are unusable.
    #[error("{0}")]
    Options(String),
    /// A release's components could not be listed.
    #[error(transparent)]
    Release(#[from] release::ReleaseError),
    /// An operator catalog could not be read, filtered or rebuilt.
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    /// A channel's releases could not be chosen.
    #[error(transparent)]
    Channel(#[from] graph_api::ChannelError),
    /// The artifacts attached to an image could not be looked for or read.
    #[error(transparent)]
    Attached(#[from] attached::AttachedError),
    /// A release's signatures could not be read from the signature store.
    #[error(transparent)]
    ReleaseSignatures(#[from] release_sigs::StoreError),
    /// The input leaves nothing to pack (it names nothing, or blockedImages took everything),
    /// or the update graph and a release disagree.
    #[error("{0}")]
    Input(String),
}

/// How to pack.
pub struct PackOptions {
    /// Output directory.
    pub out: PathBuf,
    /// Volume size limit in bytes; `None` for one volume.
    pub volume_size: Option<u64>,
    /// Parallel workers.
    pub jobs: usize,
    /// Platforms to carry of each index (empty: all).
    pub platforms: Vec<String>,
    /// Registry client options.
    pub client: ClientOptions,
    /// Packing time (seconds since the epoch); `SOURCE_DATE_EPOCH` when set.
    pub created: u64,
    /// zstd level.
    pub zstd_level: i32,
    /// The root's sequence (SPEC.md §4.5); `None` for `created`. See [`sequence::next_sequence`].
    pub sequence: Option<u64>,
    /// `--source-mirror`: where to read images named under an upstream prefix.
    pub source_mirrors: Vec<SourceMirror>,
    /// `--graph-url`: the OCP update graph to resolve channels through (default
    /// [`graph_api::OCP_GRAPH_URL`]).
    pub graph_url: Option<String>,
    /// `--signatures`: whether signatures, attestations, SBOMs and referrers travel with
    /// the images.
    pub signatures: attached::Signatures,
    /// `--signature-store`: where release signatures are read from; `None` to carry none.
    pub signature_store: Option<String>,
    /// `--base`: what the site holds; every blob listed is left out (`in_base`).
    pub base: crate::inventory::BaseIndex,
}

impl PackOptions {
    /// The packing time: `SOURCE_DATE_EPOCH` when set, else now.
    pub fn created_from_env() -> u64 {
        std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            })
    }
}

/// One image in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct PackedImage {
    /// As written.
    pub source: String,
    /// Upstream name.
    pub name: String,
    /// Top manifest digest.
    pub digest: Digest,
    /// Platforms carried (for an index).
    pub platforms: Vec<String>,
}

/// What a pack did.
#[derive(Debug, Clone, Serialize)]
pub struct PackSummary {
    /// The bundle id.
    pub bundle_id: String,
    /// Root digest.
    pub root_digest: Digest,
    /// Images.
    pub images: Vec<PackedImage>,
    /// Volume files.
    pub volumes: Vec<PathBuf>,
    /// Unique blobs carried.
    pub blobs: usize,
    /// Their bytes.
    pub unique_blob_bytes: u64,
    /// Blobs an earlier, interrupted run had already stored.
    pub blobs_resumed: usize,
    /// Bytes of blobs fetched by this run.
    pub bytes_fetched: u64,
    /// Total size of the volume files.
    pub bundle_bytes: u64,
    /// What the user should know: how `--platform` applied, lines that repeat an image.
    pub notes: Vec<String>,
    /// Input that was not carried: platforms asked for that an image lacks.
    pub warnings: Vec<String>,
    /// Release payloads carried, each with its components.
    pub releases: Vec<expand::PackedRelease>,
    /// Images `blockedImages` kept out, and which entry matched.
    pub blocked: Vec<expand::BlockedEntry>,
    /// Signatures, attestations, SBOMs and referrers carried with the images (not counted in
    /// `images`).
    pub attached: attached::AttachedCounts,
    /// Release signatures carried from the signature store.
    pub release_signatures: usize,
    /// Operator catalogs carried: what was kept of each, and the rebuilt catalog's digest.
    pub catalogs: Vec<catalog::PackedCatalog>,
    /// What `--base` left out as present at the site (absent without `--base`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<base::BaseSummary>,
}

fn open_source(
    req: &ImageRequest,
    registries: &Registries,
) -> Result<(Arc<dyn ImageSource>, Reference), PackError> {
    let src_err = |source| PackError::Source {
        image: req.text.clone(),
        source,
    };
    let no_name = || PackError::NoName {
        image: req.text.clone(),
    };
    Ok(match &req.source {
        SourceSpec::Registry(r) => {
            let source = registries
                .source(r)
                .map_err(|e| src_err(SourceError::Registry(e)))?;
            let name = req.name.clone().unwrap_or_else(|| r.clone());
            (Arc::new(source), name)
        }
        SourceSpec::Oci { path, tag } => {
            let s = registries.layouts.source(path, tag.as_deref());
            let name = match &req.name {
                Some(n) => n.clone(),
                None => s
                    .annotated_name()
                    .filter(|n| n.contains('/'))
                    .and_then(|n| Reference::parse(&n).ok())
                    .ok_or_else(no_name)?,
            };
            (Arc::new(s), name)
        }
        SourceSpec::Built { layout, tag, base } => {
            let base: Box<dyn crate::source::ContentSource> = match &**base {
                SourceSpec::Registry(r) => Box::new(
                    registries
                        .source(r)
                        .map_err(|e| src_err(SourceError::Registry(e)))?,
                ),
                SourceSpec::Oci { path, tag } => {
                    Box::new(registries.layouts.source(path, tag.as_deref()))
                }
                _ => return Err(no_name()),
            };
            let s = crate::source::OverlaySource::new(layout, tag, base);
            (Arc::new(s), req.name.clone().ok_or_else(no_name)?)
        }
        SourceSpec::DockerArchive(path) => {
            let s = DockerArchiveSource::open(path).map_err(src_err)?;
            let name = match &req.name {
                Some(n) => n.clone(),
                None => s
                    .repo_tags()
                    .first()
                    .and_then(|t| Reference::parse(t).ok())
                    .ok_or_else(no_name)?,
            };
            (Arc::new(s), name)
        }
    })
}

/// Resolves every request, `opts.jobs` at a time (manifest fetches are latency-bound), keeping
/// the list's order; one result per request, so that every failure can be reported.
fn resolve_all(
    requests: &[ImageRequest],
    registries: &Registries,
    opts: &PackOptions,
    progress: &dyn Progress,
) -> Vec<Result<Resolved, PackError>> {
    crate::parallel::map(requests, opts.jobs, |req| {
        let r = open_source(req, registries).and_then(|(source, name)| {
            resolve(&req.text, &name, source, &opts.platforms).map_err(PackError::from)
        });
        if let Ok(r) = &r {
            progress.note(&format!("resolved {} → {}", req.text, r.entry.digest));
        }
        progress.advance(1);
        r
    })
}

/// One unique blob of the plan and where to read it.
pub(crate) struct PlannedBlob {
    pub referenced: Referenced,
    pub image: usize,
}

/// Packs everything `input` asks for (images, releases with their components, channels
/// resolved through the update graph; `blockedImages` left out) into a bundle in `opts.out`,
/// signed with `key`.
pub fn pack_input(
    input: &PackInput,
    key: &SecretKey,
    opts: &PackOptions,
    progress: &dyn Progress,
) -> Result<PackSummary, PackError> {
    checks::check_options(opts)?;
    if input.is_empty() {
        return Err(PackError::Input(
            "nothing to pack: the input names no image, release, channel or catalog".into(),
        ));
    }
    let registries = Registries::new(opts.client.clone(), opts.source_mirrors.clone());
    let expanded = expand::expand(input, &registries, opts, progress)?;
    if expanded.requests.is_empty() {
        return Err(PackError::Input(format!(
            "nothing to pack: {} image(s) asked for, all kept out by blockedImages",
            expanded.blocked.len()
        )));
    }
    let signatures = release_sigs::for_releases(&expanded.releases, opts)?;
    let catalog_sources = catalog::source_templates(&expanded.catalogs);
    let mut summary = pack_with(
        &expanded.requests,
        key,
        opts,
        progress,
        &registries,
        signatures.signatures,
        catalog_sources,
    )?;
    summary.notes.extend(signatures.notes);
    summary.warnings.extend(signatures.warnings);
    summary.notes.extend(expanded.notes);
    summary.releases = expanded.releases;
    summary.blocked = expanded.blocked;
    summary.catalogs = expanded.catalogs;
    drop(expanded.work);
    Ok(summary)
}

/// Packs the images of `requests` into a bundle in `opts.out`, signed with `key`.
pub fn pack(
    requests: &[ImageRequest],
    key: &SecretKey,
    opts: &PackOptions,
    progress: &dyn Progress,
) -> Result<PackSummary, PackError> {
    checks::check_options(opts)?;
    let registries = Registries::new(opts.client.clone(), opts.source_mirrors.clone());
    pack_with(
        requests,
        key,
        opts,
        progress,
        &registries,
        Vec::new(),
        Vec::new(),
    )
}

fn pack_with(
    requests: &[ImageRequest],
    key: &SecretKey,
    opts: &PackOptions,
    progress: &dyn Progress,
    registries: &Registries,
    release_signatures: Vec<ReleaseSignature>,
    catalog_sources: Vec<CatalogSourceTemplate>,
) -> Result<PackSummary, PackError> {
    // Held until this function returns: one pack at a time writes into `opts.out`.
    let _lock = lock::OutLock::acquire(&opts.out)?;
    // Resolve every image (manifests only); report every failure before writing anything.
    progress.start("resolve", Some(requests.len() as u64));
    let results = resolve_all(requests, registries, opts, progress);
    progress.finish();
    let checks::Checked {
        mut resolved,
        mut notes,
    } = checks::check(requests, results)?;
    match opts.signatures {
        attached::Signatures::All => {
            let (found, found_notes) =
                attached::discover(&resolved, registries, opts.jobs, progress)?;
            resolved.extend(found);
            notes.extend(found_notes);
        }
        attached::Signatures::None => notes.push(
            "--signatures none: no signatures, attestations, SBOMs or referrers carried".into(),
        ),
    }
    let attached = attached::AttachedCounts::of(&resolved);
    let mut warnings = Vec::new();
    for r in &resolved {
        notes.extend(r.notes.iter().cloned());
        warnings.extend(r.warnings.iter().cloned());
    }
    // The plan: unique blobs in order of first use; unique manifests by digest.
    let mut blobs: Vec<PlannedBlob> = Vec::new();
    let mut seen: HashMap<Digest, ()> = HashMap::new();
    for (i, r) in resolved.iter().enumerate() {
        for b in &r.blobs {
            if seen.insert(b.digest.clone(), ()).is_none() {
                blobs.push(PlannedBlob {
                    referenced: b.clone(),
                    image: i,
                });
            }
        }
    }
    let mut manifests: Vec<ManifestEntry> =
        resolved.iter().flat_map(|r| r.manifests.clone()).collect();
    manifests.sort_by(|a, b| a.digest.cmp(&b.digest));
    manifests.dedup_by(|a, b| a.digest == b.digest);
    // A size no registry serves (a wrong manifest) is named here, before it upsets the volume
    // arithmetic below.
    if let Some(b) = blobs.iter().find(|b| b.referenced.size > MAX_BLOB_SIZE) {
        return Err(PackError::Blob {
            digest: b.referenced.digest.clone(),
            image: resolved[b.image].entry.source.clone(),
            reason: format!(
                "its manifest declares {} bytes, more than the {MAX_BLOB_SIZE} bytes (1 TiB) \
                 ferry carries in one blob; the manifest is wrong",
                b.referenced.size
            ),
        });
    }
    // `--base`: what the site has stays out of the volumes; manifests are always carried.
    let (blobs, in_base) = base::split(blobs, &opts.base);
    let mut base_summary = opts.base.base_ref().map(|b| base::BaseSummary {
        inventories: b.inventories,
        blobs_in_base: in_base.len(),
        bytes_in_base: in_base.iter().map(|b| b.size).sum(),
        changes: Default::default(),
    });
    let params = ChunkParams::DEFAULT;
    let unique_bytes: u64 = blobs.iter().map(|b| b.referenced.size).sum();
    // The root's size bound with `plain` blobs stored as chunks (the rest, `gzip-tar` blobs,
    // are counted once their piece lists are known: `plan::reserve_for_layers`).
    let bound = |plain: &[PlannedBlob], vols| {
        plan::root_bound(
            &manifests,
            resolved.len(),
            plain,
            in_base.len(),
            &params,
            vols,
        )
    };
    let data_cap = opts
        .volume_size
        .map(|v| plan::data_cap(v, unique_bytes, |vols| bound(&blobs, vols)));
    if let (Some(cap), Some(v)) = (data_cap, opts.volume_size) {
        if cap < params.max as u64 {
            return Err(PackError::Options(format!(
                "--volume-size {v} leaves {cap} bytes for data after the root; use a larger volume size"
            )));
        }
    }
    let plan = plan::plan_digest(&resolved, &blobs, &in_base, opts, &params, data_cap);
    let (mut writer, resumed) = BundleWriter::open(&opts.out, &plan, data_cap)?;
    if resumed.discarded_other_plan {
        progress.note(&format!(
            "{} held an unfinished pack of other images or options; starting over",
            opts.out.display()
        ));
    }
    if resumed.blobs_done > 0 {
        progress.note(&format!(
            "resuming: {} blobs ({} bytes) already stored by an earlier run",
            resumed.blobs_done, resumed.bytes_done
        ));
    }
    let todo: Vec<&PlannedBlob> = blobs
        .iter()
        .filter(|b| !writer.has_blob(&b.referenced.digest))
        .collect();
    let fetched: u64 = todo.iter().map(|b| b.referenced.size).sum();
    let (changed, mut changes) = delta::encode_changed(
        &todo,
        &resolved,
        &opts.base,
        registries,
        &mut writer,
        opts.zstd_level,
        &mut notes,
        progress,
    )?;
    let as_changes = changed.digests();
    let todo: Vec<&PlannedBlob> = todo
        .into_iter()
        .filter(|b| !as_changes.contains(&b.referenced.digest))
        .collect();
    // Every changed layer is encoded and none stored yet: the room their piece lists take in
    // the root is reserved in every volume before the first one fills.
    if let Some(v) = opts.volume_size {
        let layers = plan::Layers {
            spooled: &changed.entry_bounds(),
            digests: &as_changes,
        };
        plan::reserve_for_layers(
            &mut writer,
            &blobs,
            &layers,
            v,
            unique_bytes,
            params.max,
            bound,
        )?;
    }
    changed.store(&mut writer, &mut changes)?;
    if let Some(b) = base_summary.as_mut() {
        b.changes = changes;
    }
    progress.start("pack", Some(todo.iter().map(|b| b.referenced.size).sum()));
    pipeline::run(&todo, &resolved, &mut writer, &params, opts, progress)?;
    progress.finish();
    let images: Vec<_> = resolved.iter().map(|r| r.entry.clone()).collect();
    let content = RootContent {
        created: crate::bundle::freshness::rfc3339(opts.created),
        mtime: opts.created,
        sequence: opts.sequence.unwrap_or(opts.created),
        images,
        manifests,
        chunking: ChunkingInfo {
            algorithm: "fastcdc-2020".into(),
            min: params.min,
            avg: params.avg,
            max: params.max,
        },
        release_signatures: release_signatures.clone(),
        catalog_sources,
        base: opts.base.base_ref(),
        in_base,
    };
    let written = writer.finish(content, key, opts.volume_size)?;
    Ok(PackSummary {
        bundle_id: written.bundle_id,
        root_digest: written.root_digest,
        images: resolved
            .iter()
            .filter(|r| r.entry.attached.is_none())
            .map(|r| PackedImage {
                source: r.entry.source.clone(),
                name: r.entry.name.clone(),
                digest: r.entry.digest.clone(),
                platforms: r
                    .entry
                    .platforms
                    .iter()
                    .filter(|p| p.present)
                    .map(|p| p.platform.clone())
                    .collect(),
            })
            .collect(),
        volumes: written.volumes,
        blobs: blobs.len(),
        unique_blob_bytes: unique_bytes,
        blobs_resumed: resumed.blobs_done,
        bytes_fetched: fetched,
        bundle_bytes: written.bundle_bytes,
        notes,
        warnings,
        releases: Vec::new(),
        blocked: Vec::new(),
        attached,
        release_signatures: release_signatures.len(),
        catalogs: Vec::new(),
        base: base_summary,
    })
}

/// The output directory of a pack must not be a file.
pub fn check_out_dir(out: &Path) -> Result<(), PackError> {
    if out.exists() && !out.is_dir() {
        return Err(PackError::Options(format!(
            "{} exists and is not a directory",
            out.display()
        )));
    }
    Ok(())
}
