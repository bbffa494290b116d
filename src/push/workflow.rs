//! `ferry push` as a whole, the same for the CLI and any other caller: the target's naming
//! checked against its product, the registry reached, the product's preflight, every image
//! pushed, the mirror sets written, and a hint on each failure the product's limits explain.

use std::path::PathBuf;

use serde::Serialize;

use super::history::{self, BundleRecord, HistoryError, Rollback, SiteHistory, TagRecord};
use super::{push_hinted, PushError, PushReport};
use crate::bundle::{Bundle, Freshness, Verified};
use crate::flavor::{self, FlavorError, Hint, Target, TargetError};
use crate::mirrorset::{self, BundleMirrorSetError, Scope};
use crate::model::Reference;
use crate::naming::Naming;
use crate::progress::Progress;
use crate::registry::{ClientOptions, Registry, RegistryError};

/// What to push a bundle to, and how.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// The mirror registry, prefix, product and flattening.
    pub target: Target,
    /// How to reach and authenticate to the registry.
    pub client: ClientOptions,
    /// Images pushed in parallel.
    pub jobs: usize,
    /// The directory the mirror sets are written to.
    pub mirrorsets_out: PathBuf,
    /// The width of mirror-set entries asked for (per repository anyway when flattened).
    pub scope: Scope,
    /// Move tags to the content of this bundle even where a newer bundle set them
    /// (`--allow-rollback`).
    pub allow_rollback: bool,
}

/// What a push did: the report per image (failed images carry their error and hint) and the
/// mirror-set files written.
#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    /// Per image, with totals.
    #[serde(flatten)]
    pub report: PushReport,
    /// The mirror-set files of this bundle.
    pub mirrorsets: Vec<PathBuf>,
    /// What writing them merged or left as it was.
    pub mirrorset_notes: Vec<String>,
    /// The operator catalogs pushed (a filtered one says which catalog it was built from: its
    /// digest differs from the upstream catalog's).
    pub catalogs: Vec<super::catalogs::PushedCatalog>,
    /// The CatalogSource and ClusterCatalog files written for them.
    pub catalog_resources: Vec<PathBuf>,
    /// Tags moved back to older content because `allow_rollback` was set.
    pub rolled_back: Vec<Rollback>,
}

impl PushOutcome {
    /// Whether every image was pushed.
    pub fn is_complete(&self) -> bool {
        self.report.failed().next().is_none()
    }

    /// The distinct hints of the failed images, in the order of the images.
    pub fn hints(&self) -> Vec<Hint> {
        let mut hints = Vec::new();
        for h in self.report.failed().filter_map(|i| i.hint) {
            if !hints.contains(&h) {
                hints.push(h);
            }
        }
        hints
    }
}

/// Why a push did not start, or its mirror sets could not be written. Images that fail do not
/// stop a push: they are in the [`PushOutcome`]. The display names the step; the cause is the
/// [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The target has no valid naming for its product.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The client for the registry could not be made.
    #[error("connecting to {host}")]
    Connect {
        /// The registry.
        host: String,
        /// Why.
        #[source]
        source: RegistryError,
    },
    /// The registry did not answer `GET /v2/` as a registry.
    #[error("reaching registry {host}{}", .hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    Unreachable {
        /// The registry.
        host: String,
        /// Why.
        #[source]
        source: RegistryError,
        /// What to do about it, when the product explains it.
        hint: Option<Hint>,
    },
    /// The product's checks before a push failed (a missing Harbor project).
    #[error("checking {host} as {flavor} before pushing")]
    Preflight {
        /// The registry.
        host: String,
        /// The product.
        flavor: &'static str,
        /// Why.
        #[source]
        source: FlavorError,
    },
    /// The registry refused the credentials before any image was pushed.
    #[error(
        "registry {host} refused the credentials, nothing was pushed; credentials used: {origin}"
    )]
    Credentials {
        /// The registry.
        host: String,
        /// Where the credentials came from (`--creds`, which auth file, or none).
        origin: String,
        /// The refusal.
        #[source]
        source: RegistryError,
    },
    /// The mirror sets could not be written (the images were pushed).
    #[error(transparent)]
    MirrorSets(#[from] BundleMirrorSetError),
    /// The site's tag history could not be read; nothing was pushed.
    #[error("reading the tag history before pushing (nothing was pushed)")]
    ReadHistory(#[source] HistoryError),
    /// The bundle is older than bundles that set some of its tags; nothing was pushed.
    #[error("{}", rollback_message(.bundle, .freshness, .rollbacks))]
    Rollback {
        /// The bundle being pushed.
        bundle: String,
        /// How new it is.
        freshness: Freshness,
        /// The tags it would move back.
        rollbacks: Vec<Rollback>,
    },
    /// The blobs an incremental bundle leaves to the site could not be looked up; nothing was
    /// pushed.
    #[error("looking up at {host} the blobs this incremental bundle leaves to the site (nothing was pushed)")]
    BaseLookup {
        /// The registry.
        host: String,
        /// Why.
        #[source]
        source: RegistryError,
    },
    /// Blobs an incremental bundle leaves to the site are not at the target; nothing was
    /// pushed.
    #[error("{}", base_missing_message(.bundle, .host, .missing))]
    BaseMissing {
        /// The bundle.
        bundle: String,
        /// The registry.
        host: String,
        /// Every blob missing, with its base image and inventory.
        missing: Vec<super::base::MissingBase>,
    },
    /// The images were pushed and the mirror sets written, but the tag history was not
    /// recorded, so a later push of an older bundle would not be stopped.
    #[error("recording bundle {bundle} in the tag history (its images were pushed and its mirror sets written); push it again to record it")]
    WriteHistory {
        /// The bundle.
        bundle: String,
        /// Why.
        #[source]
        source: HistoryError,
    },
}

fn base_missing_message(bundle: &str, host: &str, missing: &[super::base::MissingBase]) -> String {
    let mut images: Vec<&str> = missing
        .iter()
        .filter_map(|m| m.base_image.as_deref())
        .collect();
    images.sort();
    images.dedup();
    let mut from: Vec<&str> = missing.iter().map(|m| m.from.as_str()).collect();
    from.sort();
    from.dedup();
    let mut m = format!(
        "bundle {bundle} is incremental: {} blob(s) it leaves to the site are not at {host}, so \
         nothing was pushed. Missing base images: {}; they came from {}:",
        missing.len(),
        if images.is_empty() {
            "(not named)".to_string()
        } else {
            images.join(", ")
        },
        from.join("; ")
    );
    for b in missing {
        m.push_str(&format!("\n  {b}"));
    }
    m.push_str(
        "\npush the base images (the bundle the inventory was taken after) to this registry \
         first, or pack again against an inventory of this registry",
    );
    m
}

fn rollback_message(bundle: &str, freshness: &Freshness, rollbacks: &[Rollback]) -> String {
    let mut m = format!(
        "bundle {bundle} ({freshness}) is older than the bundles that set {} of its tags; \
         nothing was pushed:",
        rollbacks.len()
    );
    for r in rollbacks {
        m.push_str(&format!(
            "\n  {}: set to {} by bundle {} ({}); bundle {bundle} has {}",
            r.tag, r.current, r.set_by, r.set_by_freshness, r.older
        ));
    }
    m.push_str(
        "\npush a newer bundle, or pass --allow-rollback to move these tags back on purpose",
    );
    m
}

/// Pushes every image of `bundle` as `opts` say and writes its mirror sets; reports progress to
/// `progress`. The target's notes ([`Target::notes`]) are the caller's to show.
pub fn run(
    bundle: &Bundle<Verified>,
    opts: &PushOptions,
    progress: &dyn Progress,
) -> Result<PushOutcome, WorkflowError> {
    let naming = opts.target.naming()?;
    let flavor = opts.target.flavor();
    let host = naming.target().to_string();
    let registry = Registry::new(&host, &opts.client).map_err(|source| WorkflowError::Connect {
        host: host.clone(),
        source,
    })?;
    registry
        .ping()
        .map_err(|source| WorkflowError::Unreachable {
            host: host.clone(),
            hint: flavor::hint_for(flavor, &source),
            source,
        })?;
    flavor::preflight_push(flavor, &naming, &opts.client).map_err(|source| {
        WorkflowError::Preflight {
            host: host.clone(),
            flavor: flavor.name(),
            source,
        }
    })?;
    // Only a refusal of the credentials stops here; anything else (a repository name the
    // registry refuses, ...) is the images' to report, with their hints.
    match check_credentials(bundle, &registry, &naming) {
        Err(source @ RegistryError::Auth { status: 401, .. }) => {
            return Err(WorkflowError::Credentials {
                host,
                origin: registry.credential_origin().to_string(),
                source,
            })
        }
        Err(e) => log::debug!("credential check inconclusive, pushing anyway: {e}"),
        Ok(()) => {}
    }
    let hint = |e: &PushError| match e {
        PushError::Registry(r) => flavor::hint_for(flavor, r),
        _ => None,
    };
    let history = SiteHistory::load(&registry, &naming).map_err(WorkflowError::ReadHistory)?;
    let rolled_back = history
        .rollbacks(bundle, &registry, &naming)
        .map_err(WorkflowError::ReadHistory)?;
    if !rolled_back.is_empty() && !opts.allow_rollback {
        return Err(WorkflowError::Rollback {
            bundle: bundle.root().bundle_id.clone(),
            freshness: BundleRecord::of(bundle)
                .map_err(WorkflowError::ReadHistory)?
                .freshness,
            rollbacks: rolled_back,
        });
    }
    // An incremental bundle: everything it leaves to the site must be there, or nothing is
    // pushed.
    let base = match bundle.root().base {
        Some(_) => {
            let found = super::base::find_base_blobs(bundle, &registry, &naming, opts.jobs)
                .map_err(|source| WorkflowError::BaseLookup {
                    host: host.clone(),
                    source,
                })?;
            match found {
                Ok(b) => Some(b),
                Err(missing) => {
                    return Err(WorkflowError::BaseMissing {
                        bundle: bundle.root().bundle_id.clone(),
                        host,
                        missing,
                    })
                }
            }
        }
        None => None,
    };
    let report = push_hinted(
        bundle,
        base.as_ref(),
        &registry,
        &naming,
        opts.jobs,
        progress,
        &hint,
    );
    // Mirror sets redirect pulls to the mirror: none when no image landed there.
    let landed = report.images.iter().any(|i| i.ok);
    let written = if landed {
        let scope = mirrorset::scope_for(opts.scope, &naming);
        mirrorset::write_for_root(bundle.root(), &naming, scope, &opts.mirrorsets_out)?
    } else {
        mirrorset::WrittenFiles::default()
    };
    let pushed: Vec<bool> = report.images.iter().map(|i| i.ok).collect();
    let catalogs = super::catalogs::find(bundle, &naming, &pushed);
    let catalog_resources = super::catalogs::write(
        &opts.mirrorsets_out,
        &catalogs,
        mirrorset::bundle_tag(bundle.root()),
    )
    .map_err(|source| {
        WorkflowError::MirrorSets(BundleMirrorSetError::Write {
            out: opts.mirrorsets_out.clone(),
            source,
        })
    })?;
    let write_err = |source| WorkflowError::WriteHistory {
        bundle: bundle.root().bundle_id.clone(),
        source,
    };
    let mut record = BundleRecord::of(bundle).map_err(write_err)?;
    for (img, result) in bundle.root().images.iter().zip(&report.images) {
        let repo = Reference::parse(&img.name)
            .ok()
            .and_then(|n| naming.repository(&n).ok());
        let (Some(repo), true) = (repo, result.ok) else {
            continue;
        };
        for tag in &img.tags {
            record.tags.push(TagRecord {
                repository: repo.clone(),
                tag: tag.clone(),
                digest: img.digest.clone(),
            });
        }
    }
    if landed {
        history::write_record(&registry, &naming, &history, record).map_err(write_err)?;
    }
    Ok(PushOutcome {
        report,
        mirrorsets: written.files,
        mirrorset_notes: written.notes,
        catalogs,
        catalog_resources,
        rolled_back,
    })
}

/// Checks the credentials once, for the first image's mirror repository, before any image
/// starts: wrong credentials are then refused once, not once per image.
fn check_credentials(
    bundle: &Bundle<Verified>,
    registry: &Registry,
    naming: &Naming,
) -> Result<(), RegistryError> {
    let repo = bundle
        .root()
        .images
        .iter()
        .find_map(|img| naming.repository(&Reference::parse(&img.name).ok()?).ok());
    match repo {
        Some(repo) => registry.check_credentials(&repo),
        None => Ok(()),
    }
}
