//! The redirection files that make clients pull mirrored images from the target registry:
//! OpenShift `ImageDigestMirrorSet`, `ImageTagMirrorSet` and (deprecated) `ImageContentSourcePolicy`
//! resources, a containers-registries.conf(5) drop-in, and an `oc image mirror -f` mapping.
//!
//! Everything here is a pure function of the bundled images, the passthrough [`Naming`] and
//! [`Options`], except [`write_all`], which stores the result in a directory.
//!
//! Decisions:
//! - Every image is mirrored by digest, so every source gets an IDMS/ICSP entry. A source gets an
//!   ITMS entry only when some image under it is held by tag; with no such image there is no ITMS.
//! - Mirror locations always come from [`Naming`] (`registry_location` for [`Scope::Registry`],
//!   `repository_location` for [`Scope::Repository`]); a naming that is not a passthrough
//!   (for example flattened repository names) only works with [`Scope::Repository`], and
//!   [`Scope::Registry`] refuses it with [`MirrorSetError::ScopeMismatch`].
//! - Sources, mirrors and the resource name are checked against the CRD patterns (which the
//!   machine-config-operator also applies to ICSP) before anything is rendered.
//! - An empty input gives resources with `spec: {}` (valid for all three CRDs), a registries.conf
//!   with no `[[registry]]` table and a mapping with no line.
//! - `mapping.txt` lists every image by digest only (`SOURCE@DIGEST=MIRROR@DIGEST`), once per
//!   distinct repository and digest; tags are not repeated there because `ferry push` sets them.

mod bundle;
pub mod catalog;
pub mod catalog_template;
mod merge;
mod plan;
mod render;
pub mod signatures;
mod validate;
mod write;

use std::path::PathBuf;

use crate::model::Reference;
use crate::naming::{Naming, NamingError};

pub use bundle::{bundle_tag, scope_for, write_for_root, BundleMirrorSetError};
pub use plan::{plan, MirrorEntry, MirrorPlan};
pub use validate::{default_name, is_dns1123_subdomain, is_valid_mirror, is_valid_source};
pub use write::{bundle_file_name, write_all, write_bundle, write_bundle_file, WrittenFiles};

/// File name of the `ImageDigestMirrorSet`.
pub const IDMS_FILE: &str = "imagedigestmirrorset.yaml";
/// File name of the `ImageContentSourcePolicy`.
pub const ICSP_FILE: &str = "imagecontentsourcepolicy.yaml";
/// File name of the `ImageTagMirrorSet` (written only when some image is held by tag).
pub const ITMS_FILE: &str = "imagetagmirrorset.yaml";
/// File name of the containers-registries.conf(5) drop-in.
pub const REGISTRIES_CONF_FILE: &str = "registries.conf";
/// File name of the `oc image mirror -f` mapping.
pub const MAPPING_FILE: &str = "mapping.txt";

/// One bundled image to redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorInput {
    /// The upstream reference as written in the bundle, normalised; it must carry the manifest
    /// digest (and the tag when `by_tag` is set).
    pub source: Reference,
    /// Whether the bundle holds this image by tag, so that pulls by tag must be redirected too.
    pub by_tag: bool,
}

/// How wide one mirror entry is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scope {
    /// One entry per upstream registry: `quay.io` → `TARGET/mirror/quay.io`.
    #[default]
    Registry,
    /// One entry per upstream repository: `quay.io/org/app` → `TARGET/mirror/quay.io/org/app`.
    Repository,
}

/// Choices that shape the generated files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Width of each entry.
    pub scope: Scope,
    /// `metadata.name` of the resources; [`default_name`] when not given.
    pub name: Option<String>,
    /// Forbid falling back to the upstream source (`mirrorSourcePolicy: NeverContactSource` in
    /// IDMS and ITMS, `blocked = true` in registries.conf; ICSP has no such field).
    pub never_contact_source: bool,
}

/// The rendered redirection files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorSets {
    /// `imagedigestmirrorset.yaml`.
    pub idms: String,
    /// `imagecontentsourcepolicy.yaml`.
    pub icsp: String,
    /// `imagetagmirrorset.yaml`, only when some image is held by tag.
    pub itms: Option<String>,
    /// `registries.conf`.
    pub registries_conf: String,
    /// `mapping.txt`.
    pub mapping: String,
}

impl MirrorSets {
    /// The files to write, as (file name, content), in a fixed order; ITMS only when present.
    pub fn files(&self) -> Vec<(&'static str, &str)> {
        let mut files = vec![(IDMS_FILE, self.idms.as_str())];
        if let Some(itms) = &self.itms {
            files.push((ITMS_FILE, itms.as_str()));
        }
        files.push((ICSP_FILE, self.icsp.as_str()));
        files.push((REGISTRIES_CONF_FILE, self.registries_conf.as_str()));
        files.push((MAPPING_FILE, self.mapping.as_str()));
        files
    }
}

/// Why the redirection files could not be produced or written.
#[derive(Debug, thiserror::Error)]
pub enum MirrorSetError {
    /// An input image has no digest, so it cannot be redirected by digest.
    #[error(
        "image {image} has no digest; mirror sets need the manifest digest of every bundled image"
    )]
    MissingDigest {
        /// The image.
        image: String,
    },
    /// An input image is marked as held by tag but has no tag.
    #[error("image {image} is marked as held by tag but has no tag")]
    MissingTag {
        /// The image.
        image: String,
    },
    /// The naming has no mirror name for an image.
    #[error("no mirror location for image {image}")]
    Naming {
        /// The image.
        image: String,
        /// Why.
        source: NamingError,
    },
    /// The naming does not keep repository paths under the registry location, so a
    /// registry-wide entry would redirect pulls to the wrong repositories.
    #[error("image {image} is mirrored at {repository_location}, which is not under {registry_location}; use repository scope")]
    ScopeMismatch {
        /// The image.
        image: String,
        /// The mirror location of the whole upstream registry.
        registry_location: String,
        /// The mirror location of the image's repository.
        repository_location: String,
    },
    /// A source would not pass the CRD `source` pattern.
    #[error("mirror source {location:?} (from image {image}) is not a valid source: expected HOST[:PORT][/PATH] with lower-case path components")]
    InvalidSource {
        /// The source.
        location: String,
        /// The image it comes from.
        image: String,
    },
    /// A mirror would not pass the CRD `mirrors` pattern.
    #[error("mirror {mirror:?} for source {location:?} is not a valid mirror location: expected HOST[:PORT][/PATH] with lower-case path components, no tag or digest")]
    InvalidMirror {
        /// The source it mirrors.
        location: String,
        /// The mirror.
        mirror: String,
    },
    /// With `never_contact_source`, a mirror is the source itself or lies under it, so
    /// blocking the source would block the mirror too (the machine-config-operator refuses it).
    #[error("mirror {mirror:?} is inside source {location:?}; the source cannot be blocked (never contact source) without blocking the mirror")]
    MirrorInsideSource {
        /// The source.
        location: String,
        /// The mirror.
        mirror: String,
    },
    /// The resource name is not a DNS-1123 subdomain.
    #[error("invalid resource name {name:?}: use at most 253 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// A resource could not be serialised.
    #[error("cannot serialise {kind}")]
    Yaml {
        /// The resource kind.
        kind: &'static str,
        /// Why.
        source: serde_norway::Error,
    },
    /// A catalog's CatalogSource template (from the bundle root) is not one ferry can use.
    #[error("catalog {catalog}: its CatalogSource template: {reason}")]
    Template {
        /// The catalog.
        catalog: String,
        /// What is wrong.
        reason: String,
    },
    /// A bundle's file is already there with content ferry did not write.
    #[error("{path} already exists and was not written by ferry (edited?); ferry does not replace it: move it away or write to another directory")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The registries.conf to merge into is not one ferry wrote.
    #[error("{path} is not a registries.conf drop-in ferry wrote, so this bundle cannot be merged into it: move it away or write to another directory")]
    NotFerrys {
        /// The file.
        path: PathBuf,
    },
    /// A file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Renders every redirection file for `inputs` mirrored onto `naming`'s target.
pub fn build(
    inputs: &[MirrorInput],
    naming: &Naming,
    options: &Options,
) -> Result<MirrorSets, MirrorSetError> {
    let name = match &options.name {
        Some(n) if is_dns1123_subdomain(n) => n.clone(),
        Some(n) => return Err(MirrorSetError::InvalidName { name: n.clone() }),
        None => default_name(naming),
    };
    let plan = plan(inputs, naming, options.scope)?;
    if options.never_contact_source {
        plan.check_sources_blockable()?;
    }
    render::render(&plan, &name, naming.target(), options.never_contact_source)
}

#[cfg(test)]
mod tests;
