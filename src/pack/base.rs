//! `pack --base FILE`: the blobs a site's inventories list are left out of the bundle (the root
//! marks them `in_base`), and the site's layers a changed layer may be rebuilt from are read
//! from upstream.

use std::io::Read;
use std::path::PathBuf;

use serde::Serialize;

use super::{PackError, PlannedBlob, Registries};
use crate::bundle::root::{BlobEncoding, BlobEntry};
use crate::inventory::{self, BaseIndex, BaseLayer, Inventory};
use crate::model::Reference;

/// What `--base` left out of a bundle.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BaseSummary {
    /// The inventories packed against, as the root names them.
    pub inventories: Vec<crate::bundle::root::InventoryRef>,
    /// Blobs left out as present at the site.
    pub blobs_in_base: usize,
    /// Their bytes.
    pub bytes_in_base: u64,
    /// Changed layers carried as changes (`gzip-tar` blobs) rather than whole.
    pub changes: super::delta::DeltaSummary,
}

/// Reads the inventories of `--base`, in order.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Inventory>, PackError> {
    paths
        .iter()
        .map(|p| inventory::read(p).map_err(|e| PackError::Options(crate::error_chain(&e))))
        .collect()
}

/// Splits the plan into the blobs to carry and the root entries of those the site has.
pub(crate) fn split(
    blobs: Vec<PlannedBlob>,
    index: &BaseIndex,
) -> (Vec<PlannedBlob>, Vec<BlobEntry>) {
    let mut carried = Vec::new();
    let mut in_base = Vec::new();
    for b in blobs {
        match index.blob_base(&b.referenced.digest) {
            Some(base) => in_base.push(BlobEntry {
                digest: b.referenced.digest.clone(),
                size: b.referenced.size,
                media_type: b.referenced.media_type.clone(),
                encoding: BlobEncoding::Plain,
                chunks: Vec::new(),
                in_base: true,
                base: Some(base),
                layer: None,
                whole: None,
            }),
            None => carried.push(b),
        }
    }
    (carried, in_base)
}

/// Opens a base layer's bytes (compressed, as stored) at pack time, from the upstream
/// registry of the image the inventory found it in (through `--source-mirror`), checked
/// against its digest while it streams: the connected side reads the site's layers from where
/// they came from.
pub fn open_base_layer(
    registries: &Registries,
    layer: &BaseLayer,
) -> Result<Box<dyn Read + Send>, PackError> {
    let blob_err = |reason: String| PackError::Blob {
        digest: layer.digest.clone(),
        image: layer.image.clone(),
        reason,
    };
    let reference =
        Reference::parse(&layer.image).map_err(|e| blob_err(format!("base image name: {e}")))?;
    let from = super::mirrors::source_of(&registries.mirrors, &reference);
    let registry = registries
        .get(from.registry())
        .map_err(|e| blob_err(crate::error_chain(&e)))?;
    let r = registry
        .get_blob_unverified(from.repository(), &layer.digest)
        .map_err(|e| blob_err(crate::error_chain(&e)))?;
    Ok(Box::new(crate::model::DigestingReader::verifying(
        r,
        layer.digest.clone(),
        Some(layer.size),
    )))
}
