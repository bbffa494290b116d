//! Incremental layers: one changed gzip layer carried as the pieces of its uncompressed tar
//! that no base layer holds, plus the reconstruction data that turns the tar back into the
//! exact gzip bytes (the `gzip-tar` blob encoding, bundle-format/SPEC.md §4.8).
//!
//! - [`cut`]: tar-aware cut points (headers apart from data, small files whole, content-defined
//!   chunks inside large files).
//! - [`encode_layer`]: the packer's side. Parses the layer and the candidate base layers with
//!   the token-shape engine (crate::regen::shape), plans every piece of the new tar as a base
//!   range or new bytes and the layer's streams as base ranges or inline bytes, and proves the
//!   recipe by rebuilding the layer and comparing its digest — or says why the whole blob must
//!   be shipped instead ([`WholeReason`]).
//! - [`spool_layer`]: compresses a plan's new pieces and reconstruction data into a [`Spool`];
//!   [`SpooledLayer::store`] writes them into a bundle as a `gzip-tar` blob later, once the
//!   packer has reserved room for the layer's root entry ([`store_layer`] does both at once).
//! - [`SpooledBases`]: the receiver's base layers, by range, for
//!   [`crate::bundle::BlobReader::with_bases`].

mod base;
pub mod cut;
mod encode;
mod places;
mod store;
mod streams;

pub use base::{OpenBlob, SpooledBases};
pub use encode::{encode_layer, BaseCandidate, Encoded, LayerPlan, PlannedPiece, WholeReason};
pub use store::{spool_layer, store_layer, Spool, SpooledLayer, StoredLayer};

use std::io::{self, BufRead, BufReader, Read};

/// Why a layer could not be planned or stored (as opposed to [`WholeReason`], which is an
/// answer: ship the whole blob).
#[derive(Debug, thiserror::Error)]
pub enum LayerDeltaError {
    /// Reading the layer or a spool file failed.
    #[error("I/O error while encoding layer {layer}: {source}")]
    Io {
        /// The layer.
        layer: crate::model::Digest,
        /// The error.
        source: io::Error,
    },
    /// Writing into the bundle failed.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
}

/// A layer blob's uncompressed content, whatever its compression: gzip (one or more members),
/// zstd, or none (a plain tar), told apart by the first bytes.
pub fn decompress<'a>(blob: impl Read + Send + 'a) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut r = BufReader::with_capacity(1 << 16, blob);
    let head = r.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(r)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(r)?))
    } else {
        Ok(Box::new(r))
    }
}

#[cfg(test)]
mod tests;
