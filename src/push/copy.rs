//! The copy engine: every image of a verified bundle into an [`ImageTarget`], digests
//! unchanged. `ferry push` runs it against a registry, `ferry export` against an OCI layout.
//!
//! Order per image: blobs, then child manifests, then the index, then tags, so that a tag
//! never points at something incomplete. Blobs the target has are skipped; a blob already
//! copied to another repository in this run is mounted; a blob another image is copying right
//! now is left for last, so the image copies its own blobs meanwhile and then mounts it. Images
//! run in parallel; one failing does not stop the others.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Read;

use super::base::BaseBlobs;
use super::ledger::{Claim, Ledger};
use super::{HintFn, ImageResult, PushError};
use crate::bundle::root::ImageEntry;
use crate::bundle::{Bundle, Verified};
use crate::model::graph::Node;
use crate::model::manifest::Referenced;
use crate::model::{Digest, DigestingReader, Reference};
use crate::naming::{Naming, NamingError};
use crate::progress::Progress;
use crate::registry::BlobSource;
use crate::source::ContentSource;
use crate::target::{ImageTarget, ManifestRef, TargetError};

/// How images are named at a target.
pub trait TargetNames: Sync {
    /// The repository `name` (an upstream name) is written to.
    fn repository(&self, name: &Reference) -> Result<String, NamingError>;
    /// How the copy of `name` at `digest` is shown in reports.
    fn display(&self, name: &Reference, digest: &Digest) -> String;
}

impl TargetNames for Naming {
    fn repository(&self, name: &Reference) -> Result<String, NamingError> {
        Naming::repository(self, name)
    }

    fn display(&self, name: &Reference, digest: &Digest) -> String {
        self.mirror(&name.by_digest(digest.clone()))
            .map(|m| m.to_string())
            .unwrap_or_default()
    }
}

/// A blob of a source, opened afresh for each try and checked against its digest while it
/// streams, so that a target never keeps wrong bytes.
struct SourceBlob<'a> {
    source: &'a dyn ContentSource,
    digest: &'a Digest,
    size: u64,
}

impl BlobSource for SourceBlob<'_> {
    /// The verifying reader checks the digest on the read that completes `size` bytes, and
    /// fails that read, so an upload of exactly `size` bytes never sends all of wrong content
    /// and is never committed. An empty blob is never read by an upload: it is checked here.
    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>> {
        let r = self
            .source
            .blob(self.digest, self.size)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()))?;
        let mut r = DigestingReader::verifying(r, self.digest.clone(), Some(self.size));
        if self.size == 0 {
            std::io::copy(&mut r, &mut std::io::sink())?;
        }
        Ok(Box::new(r))
    }
}

/// A claim on a blob in the ledger that is settled as failed unless [`Settle::done`] says
/// otherwise, even when the upload panics: the other workers waiting for the blob are never
/// left waiting forever.
struct Settle<'a> {
    ledger: &'a Ledger,
    digest: &'a Digest,
    settled: bool,
}

impl Settle<'_> {
    /// The blob is now in `repo`.
    fn done(mut self, repo: &str) {
        self.ledger.done(self.digest, repo);
        self.settled = true;
    }
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.ledger.failed(self.digest);
        }
    }
}

struct Copier<'a> {
    bundle: &'a Bundle<Verified>,
    /// For each blob the bundle uses in more than one repository: those repositories. A blob
    /// missing from one may be held by another already (pushed by an earlier, interrupted
    /// run), and is then mounted from there rather than sent again.
    shared: HashMap<Digest, Vec<String>>,
    base: Option<&'a BaseBlobs>,
    /// The `gzip-tar` blobs: rebuilt from their pieces and the base layers at the target.
    rebuilt: HashSet<Digest>,
    target: &'a dyn ImageTarget,
    names: &'a dyn TargetNames,
    ledger: Ledger,
    progress: &'a dyn Progress,
}

impl Copier<'_> {
    fn ensure_blob(
        &self,
        repo: &str,
        b: &Referenced,
        r: &mut ImageResult,
    ) -> Result<(), PushError> {
        if self.target.has_blob(repo, &b.digest)? {
            r.blobs_present += 1;
            self.ledger.done(&b.digest, repo);
            self.progress.advance(b.size);
            return Ok(());
        }
        // A blob the bundle leaves to the site (found there before the push began): mounted
        // from where it is, or copied within the target when the registry will not mount.
        if let Some((base, from)) = self
            .base
            .and_then(|base| Some((base, base.repository_of(&b.digest)?)))
        {
            if !self.target.mount(repo, &b.digest, from)? {
                self.target
                    .put_blob(repo, &b.digest, b.size, &base.source(&b.digest, b.size))?;
            }
            r.blobs_mounted += 1;
            self.progress.advance(b.size);
            return Ok(());
        }
        loop {
            match self.ledger.claim(&b.digest) {
                Claim::Mine => {
                    let claim = Settle {
                        ledger: &self.ledger,
                        digest: &b.digest,
                        settled: false,
                    };
                    if self.mount_from_holder(repo, &b.digest)? {
                        claim.done(repo);
                        r.blobs_mounted += 1;
                        self.progress.advance(b.size);
                        return Ok(());
                    }
                    let put = if self.rebuilt.contains(&b.digest) {
                        let base = self
                            .base
                            .ok_or_else(|| PushError::NoBase(b.digest.clone()))?;
                        let src = base.rebuilt(self.bundle, &b.digest, b.size);
                        self.target.put_blob(repo, &b.digest, b.size, &src)
                    } else {
                        let src = SourceBlob {
                            source: self.bundle,
                            digest: &b.digest,
                            size: b.size,
                        };
                        self.target.put_blob(repo, &b.digest, b.size, &src)
                    };
                    match put {
                        Ok(()) => {
                            claim.done(repo);
                            r.blobs_uploaded += 1;
                            self.progress.advance(b.size);
                            return Ok(());
                        }
                        Err(e) => {
                            drop(claim);
                            // A damaged bundle says which volume and chunk.
                            if let Some(damage) = self.bundle.diagnose(&b.digest) {
                                return Err(damage.into());
                            }
                            return Err(e.into());
                        }
                    }
                }
                Claim::DoneIn(from) => {
                    if from == repo || self.target.mount(repo, &b.digest, &from)? {
                        r.blobs_mounted += 1;
                        self.progress.advance(b.size);
                        return Ok(());
                    }
                    // The target would not mount it: copy it here too.
                    self.ledger.forget(&b.digest);
                }
                Claim::Failed => return Err(PushError::BlobFailed(b.digest.clone())),
            }
        }
    }

    /// Mounts `digest` into `repo` from another repository of this bundle that the target
    /// already holds it in; whether it did.
    fn mount_from_holder(&self, repo: &str, digest: &Digest) -> Result<bool, PushError> {
        for other in self.shared.get(digest).into_iter().flatten() {
            if other != repo
                && self.target.has_blob(other, digest)?
                && self.target.mount(repo, digest, other)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Stores `node` in `repo` under its digest, or points `tag` at it; nothing when the
    /// target already has it so.
    fn put_manifest_once(
        &self,
        repo: &str,
        tag: Option<&str>,
        node: &Node,
        r: &mut ImageResult,
    ) -> Result<(), PushError> {
        let reference = tag.map_or_else(|| node.digest.to_string(), str::to_string);
        if self.target.manifest_digest(repo, &reference)?.as_ref() == Some(&node.digest) {
            return Ok(());
        }
        let m = ManifestRef {
            digest: &node.digest,
            media_type: &node.media_type,
            bytes: &node.bytes,
        };
        match tag {
            Some(t) => self.target.tag(repo, t, m)?,
            None => self.target.put_manifest(repo, m)?,
        }
        r.manifests_pushed += 1;
        Ok(())
    }

    fn copy_image(&self, img: &ImageEntry, r: &mut ImageResult) -> Result<(), PushError> {
        let name = Reference::parse(&img.name).map_err(|_| PushError::BadName(img.name.clone()))?;
        let repo = self.names.repository(&name)?;
        let graph = self
            .bundle
            .root()
            .image_graph(img)
            .map_err(|source| PushError::Graph {
                image: img.name.clone(),
                source,
            })?;
        // Blobs another image is copying right now (a shared base) come last: by then they
        // are mounted rather than waited for, and this image's own blobs went up meanwhile.
        let mut later = Vec::new();
        for b in &graph.blobs {
            if self.ledger.busy(&b.digest) {
                later.push(b);
            } else {
                self.ensure_blob(&repo, b, r)?;
            }
        }
        for b in later {
            self.ensure_blob(&repo, b, r)?;
        }
        for node in graph.bottom_up() {
            match self.put_manifest_once(&repo, None, node, r) {
                Err(PushError::Registry(source))
                    if node.digest == img.digest
                        && graph.is_sparse()
                        && source.status() == Some(400) =>
                {
                    let list = |present: bool| {
                        img.platforms
                            .iter()
                            .filter(|p| p.present == present)
                            .map(|p| format!("{} {}", p.platform, p.digest))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    return Err(PushError::SparseIndexRefused {
                        target: self.target.describe(),
                        digest: node.digest.clone(),
                        absent: list(false),
                        present: list(true),
                        source,
                    });
                }
                other => other?,
            }
        }
        for t in &img.tags {
            self.put_manifest_once(&repo, Some(t), graph.top(), r)?;
        }
        Ok(())
    }
}

/// Copies every image of `bundle` into `target` under the repositories `names` gives; the
/// results keep the bundle's order. `verb` names the work in progress lines (`push`); `hint`
/// says what to do about a failed image, where the target's product knows. `base` says where
/// in the target the blobs an incremental bundle leaves to the site are.
#[allow(clippy::too_many_arguments)]
pub fn copy_bundle(
    bundle: &Bundle<Verified>,
    base: Option<&BaseBlobs>,
    target: &dyn ImageTarget,
    names: &dyn TargetNames,
    jobs: usize,
    progress: &dyn Progress,
    verb: &str,
    hint: HintFn<'_>,
) -> Vec<ImageResult> {
    let root = bundle.root();
    let copier = Copier {
        bundle,
        shared: shared_blobs(bundle, names),
        base,
        rebuilt: root
            .blobs
            .iter()
            .filter(|b| b.layer.is_some())
            .map(|b| b.digest.clone())
            .collect(),
        target,
        names,
        ledger: Ledger::default(),
        progress,
    };
    // Largest images first, so that no large upload is left alone at the end while the other
    // workers idle.
    let mut order: Vec<usize> = (0..root.images.len()).collect();
    let weights: Vec<u64> = root
        .images
        .iter()
        .map(|img| {
            root.image_graph(img)
                .map(|g| g.blobs.iter().fold(0, |t, b| b.size.saturating_add(t)))
                .unwrap_or(0)
        })
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse(weights[i]));
    // Each image advances by its own blobs (mounted and present ones too), so the total is the
    // sum over images.
    progress.start(
        verb,
        Some(weights.iter().fold(0, |t, w| t.saturating_add(*w))),
    );
    let done = crate::parallel::map(&order, jobs, |&i| {
        let img = &root.images[i];
        let mirror = Reference::parse(&img.name)
            .map(|n| names.display(&n, &img.digest))
            .unwrap_or_default();
        let mut r = ImageResult {
            name: img.name.clone(),
            mirror,
            digest: img.digest.clone(),
            ok: false,
            error: None,
            hint: None,
            blobs_uploaded: 0,
            blobs_mounted: 0,
            blobs_present: 0,
            manifests_pushed: 0,
        };
        let past = if verb == "push" { "pushed" } else { "copied" };
        match copier.copy_image(img, &mut r) {
            Ok(()) => {
                r.ok = true;
                progress.note(&format!("{past} {} → {}", r.name, r.mirror));
            }
            Err(e) => {
                let text = crate::error_chain(&e);
                progress.note(&format!("could not {verb} {}: {text}", r.name));
                r.error = Some(text);
                r.hint = hint(&e);
            }
        }
        (i, r)
    });
    progress.finish();
    let mut results: Vec<Option<ImageResult>> = vec![None; root.images.len()];
    for (i, r) in done {
        results[i] = Some(r);
    }
    results.into_iter().flatten().collect()
}

/// The blobs `bundle` uses in more than one repository at the target, with those repositories.
fn shared_blobs(
    bundle: &Bundle<Verified>,
    names: &dyn TargetNames,
) -> HashMap<Digest, Vec<String>> {
    let mut repos: HashMap<Digest, BTreeSet<String>> = HashMap::new();
    for img in &bundle.root().images {
        let Ok(name) = Reference::parse(&img.name) else {
            continue;
        };
        let (Ok(repo), Ok(graph)) = (names.repository(&name), bundle.root().image_graph(img))
        else {
            continue;
        };
        for b in &graph.blobs {
            repos
                .entry(b.digest.clone())
                .or_default()
                .insert(repo.clone());
        }
    }
    repos
        .into_iter()
        .filter(|(_, r)| r.len() > 1)
        .map(|(d, r)| (d, r.into_iter().collect()))
        .collect()
}

impl From<TargetError> for PushError {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Registry(e) => PushError::Registry(e),
            other => PushError::Target(other),
        }
    }
}
