//! `pack --base`: a changed gzip layer the site lacks, carried as the pieces of its tar that
//! no base layer holds plus its reconstruction data (a `gzip-tar` blob,
//! [`crate::layerdelta`]), or whole with a note saying why.
//!
//! Layers are encoded one at a time, before the pipeline packs the rest: memory is what the
//! engine uses for one layer (bounded), temporary disk the layer's uncompressed tar and
//! index files, under the system temporary directory. Each encoded layer's new pieces and
//! reconstruction data wait there, compressed, until every changed layer is encoded: only
//! then are the piece lists the root will hold known, and `--volume-size` room reserved for
//! them in every volume before the first volume is filled ([`Changed::store`]).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::resolve::Resolved;
use super::{base, PackError, PlannedBlob, Registries};
use crate::bundle::root::BlobEntry;
use crate::bundle::writer::BundleWriter;
use crate::bundle::{WholeCode, WholeLayer};
use crate::inventory::BaseIndex;
use crate::layerdelta::{self, BaseCandidate, Encoded, LayerDeltaError, Spool, SpooledLayer};
use crate::model::{Digest, MediaType};
use crate::progress::Progress;

/// Base layers offered for one changed layer, same position first.
pub const MAX_CANDIDATES: usize = 3;

/// What the `gzip-tar` encoding did in a pack.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeltaSummary {
    /// Layers carried as changes (`gzip-tar` blobs).
    pub layers_as_changes: usize,
    /// Their blobs' sizes (what carrying them whole would have taken).
    pub layer_bytes: u64,
    /// What the bundle stores for them: new tar pieces and reconstruction data, after zstd.
    pub stored_bytes: u64,
    /// Of which reconstruction data (before zstd).
    pub recipe_bytes: u64,
    /// Layers the site lacks that are carried whole (each blob's root entry says why).
    pub layers_whole: usize,
    /// Their blobs' sizes.
    pub whole_bytes: u64,
    /// How many went whole for each reason (the codes of SPEC.md §4.3 `whole`).
    pub whole_reasons: BTreeMap<String, usize>,
}

impl DeltaSummary {
    fn whole(&mut self, size: u64, why: &WholeLayer) {
        self.layers_whole += 1;
        self.whole_bytes += size;
        *self
            .whole_reasons
            .entry(why.reason.to_string())
            .or_default() += 1;
    }
}

/// Whether a blob of this media type is an image layer (OCI `…image.layer.…`, Docker
/// `…image.rootfs.…`), whatever its compression.
pub fn is_image_layer(media_type: &MediaType) -> bool {
    let m = crate::model::media_type::essence(media_type.as_str());
    m.contains(".image.layer.") || m.contains(".image.rootfs.")
}

/// Whether a layer of this media type is gzip-compressed (OCI `…tar+gzip`, Docker
/// `…rootfs.diff.tar.gzip`).
pub fn is_gzip_layer(media_type: &MediaType) -> bool {
    let m = crate::model::media_type::essence(media_type.as_str());
    m.ends_with("tar+gzip") || m.ends_with("rootfs.diff.tar.gzip")
}

/// The position of each layer in its image manifest, by blob index in `r.blobs` (config
/// first, then layers, per manifest).
fn position(r: &Resolved, digest: &Digest) -> usize {
    let mut pos = 0usize;
    for b in &r.blobs {
        if !is_gzip_layer(&b.media_type) && !b.media_type.as_str().contains("layer") {
            pos = 0;
            continue;
        }
        if &b.digest == digest {
            return pos;
        }
        pos += 1;
    }
    0
}

/// Changed layers encoded as `gzip-tar` blobs, spooled until [`Changed::store`] writes them.
#[derive(Default)]
pub(super) struct Changed {
    spool: Option<Spool>,
    /// Each layer with the image it was read for (for errors).
    layers: Vec<(SpooledLayer, String)>,
}

impl Changed {
    /// The digests of the layers carried as changes (the pipeline packs the rest whole).
    pub(super) fn digests(&self) -> HashSet<Digest> {
        self.layers
            .iter()
            .map(|(l, _)| l.digest().clone())
            .collect()
    }

    /// Their blob entries as the root will hold them, chunk indices at their largest: what
    /// `--volume-size` reserves room for.
    pub(super) fn entry_bounds(&self) -> Vec<BlobEntry> {
        self.layers.iter().map(|(l, _)| l.entry_bound()).collect()
    }

    /// Stores every spooled layer into `writer`, adding what they take to `summary`.
    pub(super) fn store(
        mut self,
        writer: &mut BundleWriter,
        summary: &mut DeltaSummary,
    ) -> Result<(), PackError> {
        let Some(spool) = self.spool.as_mut() else {
            return Ok(());
        };
        for (layer, image) in &self.layers {
            let stored = layer.store(spool, writer).map_err(|e| match e {
                LayerDeltaError::Bundle(e) => PackError::Bundle(e),
                e => PackError::Blob {
                    digest: layer.digest().clone(),
                    image: image.clone(),
                    reason: crate::error_chain(&e),
                },
            })?;
            summary.stored_bytes += stored.stored_bytes;
        }
        Ok(())
    }
}

/// Offers every changed gzip layer of `todo` with base candidates to the `gzip-tar`
/// encoding and spools those it plans (nothing is stored yet: see [`Changed::store`]). Adds
/// a note for each layer carried whole, with the reason.
#[allow(clippy::too_many_arguments)]
pub(super) fn encode_changed(
    todo: &[&PlannedBlob],
    resolved: &[Resolved],
    index: &BaseIndex,
    registries: &Registries,
    writer: &mut BundleWriter,
    level: i32,
    notes: &mut Vec<String>,
    progress: &dyn Progress,
) -> Result<(Changed, DeltaSummary), PackError> {
    let mut done = Changed::default();
    let mut summary = DeltaSummary::default();
    if index.is_empty() {
        return Ok((done, summary));
    }
    let spool = tempfile::Builder::new()
        .prefix("ferry-pack-delta-")
        .tempdir()
        .map_err(|e| PackError::Options(format!("cannot make a temporary directory: {e}")))?;
    let mut waiting = Spool::new(spool.path())
        .map_err(|e| PackError::Options(format!("cannot make a temporary file: {e}")))?;
    for blob in todo {
        let r = &blob.referenced;
        if !is_image_layer(&r.media_type) {
            continue;
        }
        let image = &resolved[blob.image];
        // A layer carried whole says why, in the root (`inspect`) and the summary.
        let mut whole = |code: WholeCode, detail: String, note: bool| {
            if note {
                notes.push(format!(
                    "layer {} of {} carried whole: {detail}",
                    r.digest, image.entry.source
                ));
            }
            let why = WholeLayer::new(code, detail);
            summary.whole(r.size, &why);
            writer.note_whole(&r.digest, why);
        };
        if !is_gzip_layer(&r.media_type) {
            let detail = format!("its media type is {}", r.media_type);
            whole(WholeCode::NotGzip, detail, true);
            continue;
        }
        let upstream = image.entry.name.clone();
        let candidates = index.candidates(&upstream, position(image, &r.digest));
        if candidates.is_empty() {
            // Every layer of an image new to the site: counted, not a note each.
            let detail = "the site holds no layer of this repository to rebuild it from";
            whole(WholeCode::NoBaseLayer, detail.into(), false);
            continue;
        }
        let blob_err = |reason: String| PackError::Blob {
            digest: r.digest.clone(),
            image: image.entry.source.clone(),
            reason,
        };
        let mut bases = Vec::new();
        let mut unreadable = Vec::new();
        for c in candidates.iter().take(MAX_CANDIDATES) {
            match base::open_base_layer(registries, c) {
                Ok(blob) => bases.push(BaseCandidate {
                    digest: c.digest.clone(),
                    blob,
                }),
                Err(e) => unreadable.push(format!("{} ({})", c.digest, crate::error_chain(&e))),
            }
        }
        if bases.is_empty() {
            let detail = format!("no base layer could be read: {}", unreadable.join("; "));
            whole(WholeCode::BaseUnreadable, detail, true);
            continue;
        }
        progress.note(&format!(
            "encoding layer {} of {} against {} base layer(s)",
            r.digest,
            image.entry.source,
            bases.len()
        ));
        let stream = image
            .source
            .blob(&r.digest, r.size)
            .map_err(|e| blob_err(crate::error_chain(&e)))?;
        let encoded = layerdelta::encode_layer(stream, &r.digest, bases, spool.path()).map_err(
            |e| match e {
                LayerDeltaError::Bundle(e) => PackError::Bundle(e),
                e => blob_err(crate::error_chain(&e)),
            },
        )?;
        match encoded {
            Encoded::Delta(plan) => {
                let spooled = layerdelta::spool_layer(&plan, &mut waiting, &r.media_type, level)
                    .map_err(|e| match e {
                        LayerDeltaError::Bundle(e) => PackError::Bundle(e),
                        e => blob_err(crate::error_chain(&e)),
                    })?;
                for (d, why) in &plan.skipped_bases {
                    notes.push(format!(
                        "layer {}: base layer {d} was not used: {why}",
                        r.digest
                    ));
                }
                summary.layers_as_changes += 1;
                summary.layer_bytes += r.size;
                summary.recipe_bytes += plan.recipe_bytes();
                done.layers.push((spooled, image.entry.source.clone()));
            }
            Encoded::Whole(reason) => whole(reason.code(), reason.to_string(), true),
        }
    }
    done.spool = Some(waiting);
    Ok((done, summary))
}
