//! Writing a [`LayerPlan`] into a bundle as a `gzip-tar` blob.

use super::encode::{LayerPlan, PlannedPiece};
use super::LayerDeltaError;
use crate::bundle::writer::BundleWriter;
use crate::bundle::{LayerTar, TarPiece};
use crate::chunk::{compress, CompressHint};
use crate::model::{Digest, MediaType};

/// Reconstruction data is stored in chunks of at most this size (1 MiB).
const RECIPE_CHUNK: usize = 1 << 20;

/// What [`store_layer`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLayer {
    /// Bytes of new tar content (uncompressed) the bundle carries for the layer.
    pub new_bytes: u64,
    /// Bytes of reconstruction data.
    pub recipe_bytes: u64,
    /// Bytes the chunks added to the volumes take there (after zstd, chunks already stored by
    /// this bundle not counted again).
    pub stored_bytes: u64,
}

/// Stores `plan` into `writer` as the `gzip-tar` blob of media type `media_type`: each new run
/// of the tar as a chunk (zstd-compressed when that pays), the reconstruction data as chunks,
/// and the blob entry naming both and the base ranges. `level` is the zstd level of the pack.
pub fn store_layer(
    plan: &LayerPlan,
    writer: &mut BundleWriter,
    media_type: &MediaType,
    level: i32,
) -> Result<StoredLayer, LayerDeltaError> {
    let digest = &plan.recipe.layer_digest;
    let io_err = |source| LayerDeltaError::Io {
        layer: digest.clone(),
        source,
    };
    let before = writer.stored_bytes();
    let add = |writer: &mut BundleWriter, data: &[u8]| -> Result<u32, LayerDeltaError> {
        let d = Digest::sha256_of(data);
        if let Some(i) = writer.chunk(&d) {
            return Ok(i);
        }
        let (c, stored) = compress(data, level, CompressHint::Unknown);
        Ok(writer.add_chunk(&d, data.len() as u64, c, &stored)?)
    };
    let mut pieces = Vec::with_capacity(plan.pieces.len());
    for p in &plan.pieces {
        pieces.push(match p {
            PlannedPiece::New {
                offset,
                length,
                digest: d,
            } => {
                let data = plan.read_new(*offset, *length).map_err(io_err)?;
                debug_assert_eq!(&Digest::sha256_of(&data), d);
                TarPiece::Chunk {
                    chunk: add(writer, &data)?,
                }
            }
            PlannedPiece::Base {
                base,
                offset,
                length,
                digest: d,
            } => TarPiece::Base {
                base: *base,
                offset: *offset,
                length: *length,
                digest: d.clone(),
            },
        });
    }
    let recipe = plan.recipe.to_bytes();
    let mut recipe_chunks = Vec::new();
    for part in recipe.chunks(RECIPE_CHUNK) {
        recipe_chunks.push(add(writer, part)?);
    }
    let layer = LayerTar {
        tar_size: plan.recipe.tar_size,
        tar_digest: plan.recipe.tar_digest.clone(),
        bases: plan.bases.clone(),
        pieces,
    };
    writer.finish_gzip_tar_blob(
        digest,
        plan.recipe.layer_size,
        media_type,
        recipe_chunks,
        layer,
    )?;
    Ok(StoredLayer {
        new_bytes: plan.new_bytes(),
        recipe_bytes: recipe.len() as u64,
        stored_bytes: writer.stored_bytes() - before,
    })
}
