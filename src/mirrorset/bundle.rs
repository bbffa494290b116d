//! The mirror sets of a bundle's images, written to a directory: what `ferry push` and
//! `ferry mirrorsets` both do.

use std::path::{Path, PathBuf};

use super::{
    build, default_name, signatures, write_bundle, write_bundle_file, MirrorInput, MirrorSetError,
    Options, Scope, WrittenFiles,
};
use crate::bundle::Root;
use crate::model::{Reference, ReferenceError};
use crate::naming::Naming;

/// Why the mirror sets of a bundle could not be written. The display names the step; the cause
/// is the [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum BundleMirrorSetError {
    /// An image name in the bundle's root does not parse.
    #[error("image name {name:?} in the bundle")]
    BadName {
        /// The name.
        name: String,
        /// Why it does not parse.
        #[source]
        source: ReferenceError,
    },
    /// The files could not be produced.
    #[error("building mirror sets")]
    Build(#[source] MirrorSetError),
    /// The files could not be written.
    #[error("writing mirror sets to {}", out.display())]
    Write {
        /// The directory.
        out: PathBuf,
        /// Why.
        #[source]
        source: MirrorSetError,
    },
}

/// The scope to use: `requested`, except per repository whenever names are flattened (a
/// registry-wide entry cannot redirect to flattened names).
pub fn scope_for(requested: Scope, naming: &Naming) -> Scope {
    if naming.is_flattened() {
        Scope::Repository
    } else {
        requested
    }
}

/// The first 12 digits of a bundle id: what names its mirror-set resources and files.
pub fn bundle_tag(root: &Root) -> &str {
    root.bundle_id.get(..12).unwrap_or(&root.bundle_id)
}

/// Writes the mirror sets for every image of `root` mirrored under `naming` into `out`, with
/// entries as wide as `scope`, beside those of earlier bundles ([`write_bundle`]): resources
/// named `ferry-<target>-<bundle id, 12 digits>`, so that applying them adds to the objects of
/// earlier bundles instead of replacing them; with the bundle's release signatures, their
/// ConfigMap beside them (`release-signatures-ID.yaml`). Returns the files and what was
/// merged.
pub fn write_for_root(
    root: &Root,
    naming: &Naming,
    scope: Scope,
    out: &Path,
) -> Result<WrittenFiles, BundleMirrorSetError> {
    let mut inputs = Vec::new();
    // An attached artifact lives in its subject's repository, which the subject's entry
    // already redirects.
    for img in root.images.iter().filter(|i| i.attached.is_none()) {
        let name = Reference::parse(&img.name).map_err(|source| BundleMirrorSetError::BadName {
            name: img.name.clone(),
            source,
        })?;
        inputs.push(MirrorInput {
            source: name.with_digest(img.digest.clone()),
            by_tag: !img.tags.is_empty(),
        });
    }
    let opts = Options {
        scope,
        name: Some(format!("{}-{}", default_name(naming), bundle_tag(root))),
        ..Default::default()
    };
    let sets = build(&inputs, naming, &opts).map_err(BundleMirrorSetError::Build)?;
    let werr = |source| BundleMirrorSetError::Write {
        out: out.to_path_buf(),
        source,
    };
    let mut written = write_bundle(out, &sets, bundle_tag(root)).map_err(werr)?;
    if !root.release_signatures.is_empty() {
        let name = format!("ferry-release-signatures-{}", bundle_tag(root));
        let text = signatures::render(&name, &root.release_signatures)
            .map_err(BundleMirrorSetError::Build)?;
        let (path, note) =
            write_bundle_file(out, signatures::SIGNATURES_FILE, &text, bundle_tag(root))
                .map_err(werr)?;
        written.notes.extend(note);
        written.files.push(path);
    }
    Ok(written)
}
