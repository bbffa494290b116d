//! `ferry export`: a verified bundle's images into an OCI image layout directory that skopeo,
//! podman and oc read, digests unchanged. Each image is named in `index.json` by its upstream
//! name (`quay.io/org/app:v1`, or `quay.io/org/app@sha256:…` when it has no tag), so
//! `oci:DIR:quay.io/org/app:v1` finds it.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bundle::{Bundle, Verified};
use crate::model::{Digest, Reference};
use crate::naming::NamingError;
use crate::progress::Progress;
use crate::push::copy::{copy_bundle, TargetNames};
use crate::push::ImageResult;
use crate::target::{ManifestRef, OciLayoutTarget, TargetError};

/// The outcome of an export.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The bundle id.
    pub bundle_id: String,
    /// The layout directory.
    pub layout: PathBuf,
    /// Per image; `mirror` is the name to read it by (`oci:DIR:NAME`).
    pub images: Vec<ImageResult>,
    /// Blobs written into the layout.
    pub blobs_written: usize,
    /// Blobs the layout already had.
    pub blobs_present: usize,
}

impl ExportReport {
    /// Images that failed.
    pub fn failed(&self) -> impl Iterator<Item = &ImageResult> {
        self.images.iter().filter(|i| !i.ok)
    }
}

/// Upstream names: the layout is one store, and each image keeps the name it has upstream.
struct UpstreamNames<'a> {
    dir: &'a Path,
}

impl TargetNames for UpstreamNames<'_> {
    fn repository(&self, name: &Reference) -> Result<String, NamingError> {
        Ok(name.name())
    }

    fn display(&self, name: &Reference, digest: &Digest) -> String {
        let named = match name.tag() {
            Some(t) => format!("{}:{t}", name.name()),
            None => format!("{}@{digest}", name.name()),
        };
        format!("oci:{}:{named}", self.dir.display())
    }
}

/// Writes every image of `bundle` into the OCI layout `dir` (created when absent; an existing
/// layout keeps its other images), then its `index.json`.
pub fn export(
    bundle: &Bundle<Verified>,
    dir: &Path,
    jobs: usize,
    progress: &dyn Progress,
) -> Result<ExportReport, TargetError> {
    // An incremental bundle leaves blobs to the site it was packed for: a layout is not that
    // site, so it cannot be filled from the bundle alone.
    if let Some(base) = bundle.root().base.as_ref() {
        return Err(TargetError::Layout {
            path: dir.to_path_buf(),
            reason: format!(
                "bundle {} is incremental on base {} (pack --base) and carries only what that \
                 site lacked; push it to that site's registry, or pack without --base to export",
                bundle.root().bundle_id,
                base.bundle_id
            ),
        });
    }
    let target = OciLayoutTarget::create(dir)?;
    let names = UpstreamNames { dir };
    let images = copy_bundle(
        bundle,
        None,
        &target,
        &names,
        jobs,
        progress,
        "export",
        &|_| None,
    );
    // Images without a tag are named by digest, so that every image can be read by name.
    let root = bundle.root();
    for (img, r) in root.images.iter().zip(&images) {
        if !r.ok || !img.tags.is_empty() {
            continue;
        }
        if let (Ok(name), Ok((media_type, bytes))) = (
            Reference::parse(&img.name),
            bundle.manifest_bytes(&img.digest),
        ) {
            let m = ManifestRef {
                digest: &img.digest,
                media_type: &media_type,
                bytes: &bytes,
            };
            target.name(&format!("{}@{}", name.name(), img.digest), m);
        }
    }
    target.finish()?;
    Ok(ExportReport {
        bundle_id: root.bundle_id.clone(),
        layout: dir.to_path_buf(),
        blobs_written: images.iter().map(|i| i.blobs_uploaded).sum(),
        blobs_present: images
            .iter()
            .map(|i| i.blobs_present + i.blobs_mounted)
            .sum(),
        images,
    })
}
