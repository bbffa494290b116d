//! The `layer` object of a `gzip-tar` blob entry (bundle-format/SPEC.md §4.8, format 1.2):
//! how the layer's uncompressed tar is assembled from this bundle's chunks and from byte ranges
//! of base layers the receiving site already holds. The blob's own `chunks` are the layer's
//! reconstruction data (crate::regen), which turns that tar into the exact gzip bytes.

use serde::{Deserialize, Serialize};

use crate::model::Digest;

/// The uncompressed content of a `gzip-tar` blob and where each piece of it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerTar {
    /// Length of the uncompressed tar in bytes.
    pub tar_size: u64,
    /// SHA-256 of the uncompressed tar (the layer's diff_id).
    pub tar_digest: Digest,
    /// The base layers (compressed blob digests) pieces refer to, by position.
    pub bases: Vec<Digest>,
    /// The tar's pieces in order; their lengths add up to `tar_size`.
    pub pieces: Vec<TarPiece>,
}

/// One piece of a layer's uncompressed tar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TarPiece {
    /// A chunk this bundle stores: `{"chunk": INDEX}`, an index into the root's chunks.
    Chunk {
        /// Index into the root's chunk list.
        chunk: u32,
    },
    /// A byte range of a base layer's uncompressed content:
    /// `{"base": I, "offset": O, "length": N, "digest": D}`.
    Base {
        /// Index into [`LayerTar::bases`].
        base: u32,
        /// Offset in the base layer's uncompressed content.
        offset: u64,
        /// Length of the range.
        length: u64,
        /// SHA-256 of the range's bytes.
        digest: Digest,
    },
}

impl LayerTar {
    /// Checks the object against the root's chunk lengths (`chunk_len(i)`, `None` for an index
    /// out of range): indices in range, no empty piece, lengths adding up to `tar_size`.
    pub(super) fn check(&self, chunk_len: impl Fn(u32) -> Option<u64>) -> Result<(), String> {
        let mut total = 0u64;
        for (i, p) in self.pieces.iter().enumerate() {
            let len = match p {
                TarPiece::Chunk { chunk } => {
                    chunk_len(*chunk).ok_or_else(|| format!("piece {i} names chunk #{chunk}"))?
                }
                TarPiece::Base { base, length, .. } => {
                    if *base as usize >= self.bases.len() {
                        return Err(format!("piece {i} names base #{base}"));
                    }
                    *length
                }
            };
            if len == 0 {
                return Err(format!("piece {i} is empty"));
            }
            total = total
                .checked_add(len)
                .ok_or_else(|| "its pieces add up past 2^64".to_string())?;
        }
        if total != self.tar_size {
            return Err(format!(
                "its tar is {} bytes but its pieces add up to {total}",
                self.tar_size
            ));
        }
        Ok(())
    }

    /// The base layers this layer is rebuilt from.
    pub fn base_layers(&self) -> &[Digest] {
        &self.bases
    }
}
