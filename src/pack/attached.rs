//! Artifacts attached to the images being packed (`--signatures all`): cosign signatures,
//! attestations and SBOMs stored as tags (`sha256-<hex>.sig`, `.att`, `.sbom`) and OCI 1.1
//! referrers (the referrers API where the registry answers it, else the fallback tag
//! `sha256-<hex>`), looked for in the same repository as every image and every index child,
//! and resolved like images (the one walk) so that they travel in the bundle with their
//! subject.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;

use super::registries::Registries;
use super::resolve::{resolve, ResolveError, Resolved};
use crate::bundle::root::{Attachment, AttachmentKind};
use crate::model::referrers::{cosign_tag, fallback_tag, parse_list};
use crate::model::{Digest, Reference};
use crate::progress::Progress;
use crate::registry::{Registry, RegistryError};
use crate::source::RegistrySource;

/// Which attached artifacts a pack carries (`--signatures`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Signatures {
    /// Every signature, attestation, SBOM and referrer that exists (the default).
    #[default]
    All,
    /// None of them.
    None,
}

/// Why the attached artifacts of an image could not be looked for or read.
#[derive(Debug, thiserror::Error)]
pub enum AttachedError {
    /// The registry failed while ferry looked for them.
    #[error("{image}: looking for signatures and referrers of {subject}")]
    Lookup {
        /// The image as written.
        image: String,
        /// The digest whose artifacts were looked for.
        subject: Digest,
        /// What failed.
        source: RegistryError,
    },
    /// One was found but could not be read.
    #[error("{image}: its {kind} {artifact}")]
    Resolve {
        /// The image as written.
        image: String,
        /// What it is (`signature`, `referrer`, ...).
        kind: &'static str,
        /// The artifact's reference.
        artifact: String,
        /// What failed.
        source: Box<ResolveError>,
    },
}

/// How many attached artifacts a bundle carries, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AttachedCounts {
    /// Cosign signatures (`.sig`).
    pub signatures: usize,
    /// Cosign attestations (`.att`).
    pub attestations: usize,
    /// Cosign SBOMs (`.sbom`).
    pub sboms: usize,
    /// OCI 1.1 referrers.
    pub referrers: usize,
}

impl AttachedCounts {
    /// Counts the attached entries among `resolved`.
    pub fn of(resolved: &[Resolved]) -> Self {
        let mut c = AttachedCounts::default();
        for a in resolved.iter().filter_map(|r| r.entry.attached.as_ref()) {
            match a.kind {
                AttachmentKind::Sig => c.signatures += 1,
                AttachmentKind::Att => c.attestations += 1,
                AttachmentKind::Sbom => c.sboms += 1,
                AttachmentKind::Referrer => c.referrers += 1,
            }
        }
        c
    }

    /// All of them.
    pub fn total(&self) -> usize {
        self.signatures + self.attestations + self.sboms + self.referrers
    }
}

/// One artifact found for an image, not yet read.
struct Found {
    /// Where to read it (the origin repository, by tag or digest).
    origin: Reference,
    /// The name it is mirrored under: the image's name with the tag or digest.
    name: Reference,
    attachment: Attachment,
}

/// The registry reference an image was read from, when it came from a registry.
fn origin_of(r: &Resolved, registries: &Registries) -> Option<Reference> {
    let text = r.entry.source.as_str();
    if text.starts_with("oci:") || text.starts_with("docker-archive:") {
        return None;
    }
    let text = text.strip_prefix("docker://").unwrap_or(text);
    Reference::parse(text).ok().map(|t| registries.origin(&t))
}

/// Looks for the artifacts attached to each image of `resolved` and resolves them, `jobs` at
/// a time. Returns them as images marked [`Attachment`]s, each once, and notes for the user.
pub fn discover(
    resolved: &[Resolved],
    registries: &Registries,
    jobs: usize,
    progress: &dyn Progress,
) -> Result<(Vec<Resolved>, Vec<String>), AttachedError> {
    let mut notes = Vec::new();
    let local = resolved
        .iter()
        .filter(|r| origin_of(r, registries).is_none())
        .count();
    if local > 0 {
        notes.push(format!(
            "{local} image(s) read from a local layout or archive: signatures and referrers \
             are looked for in registries only"
        ));
    }
    progress.start("signatures", Some(resolved.len() as u64));
    let found = crate::parallel::map(resolved, jobs, |r| {
        let f = find(r, registries);
        progress.advance(1);
        f
    });
    progress.finish();
    let mut seen: HashSet<String> = resolved.iter().map(|r| r.entry.name.clone()).collect();
    let mut todo = Vec::new();
    for (r, f) in resolved.iter().zip(found) {
        for found in f? {
            if seen.insert(found.name.to_string()) {
                todo.push((r.entry.source.clone(), found));
            }
        }
    }
    let out = crate::parallel::map(&todo, jobs, |(image, f)| read(image, f, registries));
    Ok((out.into_iter().collect::<Result<_, _>>()?, notes))
}

/// The artifacts attached to `r` and to each of its present index children.
fn find(r: &Resolved, registries: &Registries) -> Result<Vec<Found>, AttachedError> {
    let Some(origin) = origin_of(r, registries) else {
        return Ok(Vec::new());
    };
    let lookup = |subject: &Digest| {
        let subject = subject.clone();
        let image = r.entry.source.clone();
        move |source| AttachedError::Lookup {
            image,
            subject,
            source,
        }
    };
    let client = registries
        .get(origin.registry())
        .map_err(lookup(&r.entry.digest))?;
    let repo = origin.repository();
    let subjects = std::iter::once(&r.entry.digest).chain(
        r.entry
            .platforms
            .iter()
            .filter(|p| p.present)
            .map(|p| &p.digest),
    );
    let mut found = Vec::new();
    for subject in subjects {
        for (kind, suffix) in AttachmentKind::COSIGN {
            let tag = cosign_tag(subject, suffix);
            if client
                .manifest_digest(repo, &tag)
                .map_err(lookup(subject))?
                .is_some()
            {
                found.push(Found {
                    origin: origin.by_tag(&tag),
                    name: r.name.by_tag(&tag),
                    attachment: Attachment {
                        subject: subject.clone(),
                        kind,
                        artifact_type: None,
                    },
                });
            }
        }
        for entry in referrers(&client, repo, subject).map_err(lookup(subject))? {
            found.push(Found {
                origin: origin.by_digest(entry.digest.clone()),
                name: r.name.by_digest(entry.digest),
                attachment: Attachment {
                    subject: subject.clone(),
                    kind: AttachmentKind::Referrer,
                    artifact_type: entry.artifact_type,
                },
            });
        }
    }
    Ok(found)
}

/// The referrers of `subject`: the API's list, or the fallback tag's when the registry has no
/// API; none when neither is there (or the fallback tag is not an index).
fn referrers(
    client: &Registry,
    repo: &str,
    subject: &Digest,
) -> Result<Vec<crate::model::referrers::ReferrerEntry>, RegistryError> {
    let list = match client.referrers(repo, subject)? {
        Some(bytes) => bytes,
        // HEAD first: registries that count pulls (Docker Hub) count GETs, and most subjects
        // have no fallback tag.
        None => match client.manifest_digest(repo, &fallback_tag(subject))? {
            None => return Ok(Vec::new()),
            Some(d) => match client.get_manifest(repo, &d.to_string()) {
                Ok(m) => m.bytes,
                Err(RegistryError::NotFound { .. }) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            },
        },
    };
    Ok(parse_list(&list).unwrap_or_default())
}

/// Reads one found artifact like an image (every platform: an artifact has none to choose).
fn read(image: &str, f: &Found, registries: &Registries) -> Result<Resolved, AttachedError> {
    let err = |source| AttachedError::Resolve {
        image: image.to_string(),
        kind: f.attachment.kind.word(),
        artifact: f.origin.to_string(),
        source: Box::new(source),
    };
    let client = registries.get(f.origin.registry()).map_err(|source| {
        err(ResolveError::Source {
            image: f.origin.to_string(),
            source: crate::source::SourceError::Registry(source),
        })
    })?;
    let source = Arc::new(RegistrySource::new(client, f.origin.clone()));
    let mut r = resolve(&f.origin.to_string(), &f.name, source, &[]).map_err(err)?;
    r.entry.attached = Some(f.attachment.clone());
    Ok(r)
}
