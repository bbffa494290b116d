//! The mirror sets of a bundle's images, written to a directory: what `ferry push` and
//! `ferry mirrorsets` both do.

use std::path::{Path, PathBuf};

use super::{build, write_all, MirrorInput, MirrorSetError, Options, Scope};
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

/// Writes the mirror sets for every image of `root` mirrored under `naming` into `out`, with
/// entries as wide as `scope`; returns the files written.
pub fn write_for_root(
    root: &Root,
    naming: &Naming,
    scope: Scope,
    out: &Path,
) -> Result<Vec<PathBuf>, BundleMirrorSetError> {
    let mut inputs = Vec::new();
    for img in &root.images {
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
        ..Default::default()
    };
    let sets = build(&inputs, naming, &opts).map_err(BundleMirrorSetError::Build)?;
    write_all(out, &sets).map_err(|source| BundleMirrorSetError::Write {
        out: out.to_path_buf(),
        source,
    })
}
