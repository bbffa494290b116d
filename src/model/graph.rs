//! The manifest graph of one image: the top manifest, every index child at any depth, and the
//! config and layer blobs of every image manifest it reaches.
//!
//! Pack, verify, push, check and export all walk this graph; [`walk`] is the only place that
//! does. Where the manifests come from (a source, a bundle's root, a registry) is the caller's
//! [`ManifestFetch`]; which children are carried (platform selection at pack, the children left
//! out at pack everywhere after) is the caller's [`Include`]. Signatures and referrers that
//! belong to an image or a child are meant to join the graph here, as nodes of their own kind
//! beside [`NodeKind::Child`], so that every command carries them the same way.

use std::collections::HashSet;

use super::manifest::{parse_refs, ManifestError, ManifestRefs, Referenced};
use super::{Digest, MediaType};

/// How deep indexes may nest. Real images nest at most one level (an index of indexes is
/// already rare); a deeper graph is refused rather than walked without end.
pub const MAX_DEPTH: usize = 8;

/// Why an image's graph could not be walked.
#[derive(Debug, thiserror::Error)]
pub enum GraphError<E: std::error::Error + 'static> {
    /// A manifest could not be had from where the caller reads them.
    #[error(transparent)]
    Fetch(E),
    /// A manifest does not parse, or is of a kind ferry does not handle.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Indexes nest deeper than [`MAX_DEPTH`].
    #[error("manifest {digest}: indexes nest deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// The manifest at which the walk stopped.
        digest: Digest,
    },
}

/// A manifest's exact bytes and media type, as a [`ManifestFetch`] delivers them.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// Its media type.
    pub media_type: MediaType,
    /// The exact bytes (their digest is the one asked for; the fetcher checks it).
    pub bytes: Vec<u8>,
}

/// Where a walk reads manifests from.
pub trait ManifestFetch {
    /// What a failed fetch says.
    type Error: std::error::Error + 'static;
    /// The manifest with `digest`.
    fn fetch(&mut self, digest: &Digest) -> Result<FetchedManifest, Self::Error>;
}

impl<E, F> ManifestFetch for F
where
    E: std::error::Error + 'static,
    F: FnMut(&Digest) -> Result<FetchedManifest, E>,
{
    type Error = E;
    fn fetch(&mut self, digest: &Digest) -> Result<FetchedManifest, E> {
        self(digest)
    }
}

/// Whether an index child is part of the walk. Children left out are listed in
/// [`ImageGraph::absent`] and neither fetched nor followed.
pub trait Include {
    /// Whether to follow `child`, found in the index `parent`.
    fn include(&self, parent: &Digest, child: &Referenced) -> bool;
}

/// Every child is followed.
#[derive(Debug, Clone, Copy, Default)]
pub struct All;

impl Include for All {
    fn include(&self, _: &Digest, _: &Referenced) -> bool {
        true
    }
}

impl<F: Fn(&Digest, &Referenced) -> bool> Include for F {
    fn include(&self, parent: &Digest, child: &Referenced) -> bool {
        self(parent, child)
    }
}

/// What a node is to the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// The manifest the image's name points at.
    Top,
    /// A manifest listed by an index of the image (at any depth).
    Child,
}

/// One manifest of the graph.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: MediaType,
    /// Its exact bytes.
    pub bytes: Vec<u8>,
    /// What it is to the image.
    pub kind: NodeKind,
    /// The index that lists it (`None` for the top).
    pub parent: Option<Digest>,
    /// The platform its parent index names for it.
    pub platform: Option<String>,
    /// How many indexes lie above it (0 for the top).
    pub depth: usize,
    /// What it refers to.
    pub refs: ManifestRefs,
}

impl Node {
    /// Whether this manifest is an index.
    pub fn is_index(&self) -> bool {
        matches!(self.refs, ManifestRefs::Index { .. })
    }
}

/// One entry of an index: which index lists which child, and whether the walk followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The index listing the child.
    pub parent: Digest,
    /// The child as the index describes it (digest, size, media type, platform).
    pub child: Referenced,
    /// Whether the [`Include`] rule kept it (its manifest is then among the nodes).
    pub included: bool,
}

/// The walked graph of one image.
#[derive(Debug, Clone)]
pub struct ImageGraph {
    /// Every manifest reached, each once, parents before their children (the top first).
    pub nodes: Vec<Node>,
    /// Config and layer blobs of every image manifest reached, each once, in order of first
    /// use; foreign layers are not among them.
    pub blobs: Vec<Referenced>,
    /// Foreign (non-distributable) layers referenced, each once: not carried, not pushed.
    pub foreign: Vec<Referenced>,
    /// Every index entry at any depth, in walk order (each index's entries in its order).
    pub edges: Vec<Edge>,
}

impl ImageGraph {
    /// The top manifest.
    pub fn top(&self) -> &Node {
        &self.nodes[0]
    }

    /// The manifests children first, parents after: the order in which a registry accepts
    /// them (an index may only be pushed once its children are there).
    pub fn bottom_up(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().rev()
    }

    /// Index children left out by the [`Include`] rule.
    pub fn absent(&self) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(|e| !e.included)
    }

    /// Whether the image is an index whose children were partly left out.
    pub fn is_sparse(&self) -> bool {
        self.edges.iter().any(|e| !e.included)
    }
}

/// A manifest waiting to be walked.
struct Pending {
    digest: Digest,
    fetched: Option<FetchedManifest>,
    parent: Option<Digest>,
    platform: Option<String>,
    depth: usize,
}

/// Walks the manifest graph under `top` (whose exact bytes and media type are given), fetching
/// each included child from `fetch`.
pub fn walk<F: ManifestFetch>(
    top: &Digest,
    top_manifest: FetchedManifest,
    fetch: &mut F,
    include: &dyn Include,
) -> Result<ImageGraph, GraphError<F::Error>> {
    let mut graph = ImageGraph {
        nodes: Vec::new(),
        blobs: Vec::new(),
        foreign: Vec::new(),
        edges: Vec::new(),
    };
    let mut seen_manifests: HashSet<Digest> = HashSet::new();
    let mut seen_blobs: HashSet<Digest> = HashSet::new();
    // Depth first, children in index order.
    let mut stack = vec![Pending {
        digest: top.clone(),
        fetched: Some(top_manifest),
        parent: None,
        platform: None,
        depth: 0,
    }];
    while let Some(Pending {
        digest,
        fetched,
        parent,
        platform,
        depth,
    }) = stack.pop()
    {
        if !seen_manifests.insert(digest.clone()) {
            continue;
        }
        if depth > MAX_DEPTH {
            return Err(GraphError::TooDeep { digest });
        }
        let m = match fetched {
            Some(m) => m,
            None => fetch.fetch(&digest).map_err(GraphError::Fetch)?,
        };
        let refs = parse_refs(&digest, &m.media_type, &m.bytes)?;
        match &refs {
            ManifestRefs::Index { children } => {
                let first_edge = graph.edges.len();
                for c in children {
                    graph.edges.push(Edge {
                        parent: digest.clone(),
                        child: c.clone(),
                        included: include.include(&digest, c),
                    });
                }
                // Pushed in reverse so that the first child is walked first.
                for e in graph.edges[first_edge..]
                    .iter()
                    .rev()
                    .filter(|e| e.included)
                {
                    stack.push(Pending {
                        digest: e.child.digest.clone(),
                        fetched: None,
                        parent: Some(digest.clone()),
                        platform: e.child.platform.clone(),
                        depth: depth + 1,
                    });
                }
            }
            ManifestRefs::Image { layers, .. } => {
                for l in layers.iter().filter(|l| l.foreign) {
                    if !graph.foreign.iter().any(|f| f.digest == l.digest) {
                        graph.foreign.push(l.clone());
                    }
                }
                for b in refs.blobs() {
                    if seen_blobs.insert(b.digest.clone()) {
                        graph.blobs.push(b.clone());
                    }
                }
            }
        }
        graph.nodes.push(Node {
            kind: if parent.is_none() {
                NodeKind::Top
            } else {
                NodeKind::Child
            },
            digest,
            media_type: m.media_type,
            bytes: m.bytes,
            parent,
            platform,
            depth,
            refs,
        });
    }
    Ok(graph)
}

#[cfg(test)]
mod tests;
