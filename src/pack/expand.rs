//! From what `ferry pack` was asked ([`PackInput`]) to the images it packs: channels resolved
//! through the update graph into releases, releases into their components, and
//! `blockedImages` taken out — each one named in the summary, none dropped silently.

use std::collections::HashSet;

use serde::Serialize;

use super::graph_api::{self, fetch_graph, release_tag, select};
use super::imageset::{PackInput, ReleaseRequest};
use super::list::{ImageRequest, SourceSpec};
use super::release::read_release;
use super::{PackError, PackOptions, Registries};
use crate::model::{Digest, Reference};
use crate::progress::Progress;

/// One release carried, for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct PackedRelease {
    /// The release image's upstream name.
    pub release: String,
    /// Its top manifest digest.
    pub digest: Digest,
    /// `release-metadata`'s version.
    pub version: Option<String>,
    /// How many components `image-references` lists (distinct images).
    pub components: usize,
    /// Where it was asked for.
    pub location: String,
}

/// One image `blockedImages` kept out, for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct BlockedEntry {
    /// The image.
    pub image: String,
    /// Where it was asked for (a list line, a release's component).
    pub location: String,
    /// The `blockedImages` entry that matched.
    pub blocked_by: String,
}

/// The images to pack and what the summary says about how they were found.
pub struct Expanded {
    /// The images, in order: those named one by one, then each release and its components.
    pub requests: Vec<ImageRequest>,
    /// The releases.
    pub releases: Vec<PackedRelease>,
    /// Images kept out by `blockedImages`.
    pub blocked: Vec<BlockedEntry>,
    /// Operator catalogs carried.
    pub catalogs: Vec<super::catalog::PackedCatalog>,
    /// What the user should know.
    pub notes: Vec<String>,
    /// Where filtered catalogs were built; the pack reads them from here, so it lives as long
    /// as this value.
    pub work: Option<tempfile::TempDir>,
}

/// The release requests `input`'s channels resolve to, after its explicit releases.
fn channel_releases(
    input: &PackInput,
    opts: &PackOptions,
    progress: &dyn Progress,
) -> Result<(Vec<ReleaseRequest>, Vec<String>), PackError> {
    let mut out = input.releases.clone();
    let mut notes = input.notes.clone();
    let ocp = input
        .channels
        .iter()
        .filter(|c| c.kind == super::imageset::ChannelType::Ocp)
        .count();
    if ocp > 1 {
        notes.push(format!(
            "{ocp} OCP channels: each is resolved on its own; ferry does not add the \
             cross-channel upgrade path oc-mirror adds (list the intermediate releases with \
             minVersion/maxVersion if the site updates across them)"
        ));
    }
    for c in &input.channels {
        let url = graph_api::graph_url(c.kind, opts.graph_url.as_deref());
        for arch in input.channel_architectures() {
            let graph = fetch_graph(&url, c, &arch, &opts.client)?;
            let nodes = select(&graph, c, &arch)?;
            progress.note(&format!(
                "channel {} ({arch}): {}",
                c.name,
                nodes
                    .iter()
                    .map(|n| n.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            for n in nodes {
                let payload =
                    Reference::parse(&n.payload).map_err(|e| graph_api::ChannelError::Select {
                        channel: c.name.clone(),
                        location: c.location.clone(),
                        arch: arch.clone(),
                        reason: format!(
                            "node {} has payload {:?}: {}",
                            n.version,
                            n.payload,
                            crate::error_chain(&e)
                        ),
                    })?;
                let Some(digest) = payload.digest().cloned() else {
                    return Err(graph_api::ChannelError::Select {
                        channel: c.name.clone(),
                        location: c.location.clone(),
                        arch,
                        reason: format!(
                            "node {} has payload {} without a digest",
                            n.version, n.payload
                        ),
                    }
                    .into());
                };
                let tagged = payload
                    .by_tag(&release_tag(c.kind, &n.version, &arch))
                    .with_digest(digest);
                out.push(ReleaseRequest {
                    reference: tagged,
                    location: format!("{} {} ({arch})", c.location, n.version),
                    graph_version: Some(n.version.clone()),
                });
            }
        }
    }
    Ok((out, notes))
}

/// Resolves `input` into the images to pack.
pub fn expand(
    input: &PackInput,
    registries: &Registries,
    opts: &PackOptions,
    progress: &dyn Progress,
) -> Result<Expanded, PackError> {
    let (releases, mut notes) = channel_releases(input, opts, progress)?;
    let mut requests = input.images.clone();
    let mut seen: HashSet<String> = HashSet::new();
    let mut summaries = Vec::new();
    let mut shared = 0usize;
    let contents = crate::parallel::map(&releases, opts.jobs, |r| {
        read_release(&r.reference, &r.location, registries)
    });
    for (r, contents) in releases.iter().zip(contents) {
        let contents = contents?;
        if let (Some(v), Some(graph)) = (&contents.version, &r.graph_version) {
            if v != graph {
                return Err(PackError::Input(format!(
                    "release {} ({}): its release-metadata says version {v}, the update graph \
                     {graph}; the graph and the image disagree",
                    r.reference, r.location
                )));
            }
        }
        if !seen.insert(r.reference.to_string()) {
            continue;
        }
        requests.push(ImageRequest {
            text: r.reference.to_string(),
            source: SourceSpec::Registry(r.reference.clone()),
            name: None,
            location: r.location.clone(),
        });
        let mut distinct = 0;
        for c in &contents.components {
            let text = c.image.to_string();
            if !seen.insert(text.clone()) {
                shared += 1;
                continue;
            }
            distinct += 1;
            requests.push(ImageRequest {
                text,
                source: SourceSpec::Registry(c.image.clone()),
                name: None,
                location: format!("release {} component {}", r.reference, c.name),
            });
        }
        progress.note(&format!(
            "release {} ({}): {} components",
            r.reference,
            contents.version.as_deref().unwrap_or("no release-metadata"),
            contents.components.len()
        ));
        summaries.push(PackedRelease {
            release: r.reference.to_string(),
            digest: contents.digest,
            version: contents.version,
            components: distinct,
            location: r.location.clone(),
        });
    }
    let mut catalogs = Vec::new();
    let mut work = None;
    if !input.catalogs.is_empty() {
        let dir = tempfile::Builder::new()
            .prefix("ferry-catalogs-")
            .tempdir()
            .map_err(|e| PackError::Options(format!("cannot create a working directory: {e}")))?;
        let expanded =
            super::catalog::expand_catalogs(&input.catalogs, registries, dir.path(), progress)?;
        for req in expanded.requests {
            if req.name.is_some() || seen.insert(req.text.clone()) {
                requests.push(req);
            }
        }
        notes.extend(expanded.notes);
        catalogs = expanded.catalogs;
        work = Some(dir);
    }
    if shared > 0 {
        notes.push(format!(
            "{shared} release components are listed more than once (by several tags or \
             releases); each is packed once"
        ));
    }
    let mut blocked = Vec::new();
    requests.retain(|req| {
        let name = req.name.as_ref().map(Reference::to_string);
        let hit = input
            .blocked
            .iter()
            .find(|b| b.matches(&req.text) || name.as_deref().is_some_and(|n| b.matches(n)));
        match hit {
            Some(b) => {
                blocked.push(BlockedEntry {
                    image: req.text.clone(),
                    location: req.location.clone(),
                    blocked_by: b.location.clone(),
                });
                false
            }
            None => true,
        }
    });
    Ok(Expanded {
        requests,
        releases: summaries,
        blocked,
        catalogs,
        notes,
        work,
    })
}
