//! Byte-exact regeneration of gzip layers from their uncompressed tar.
//!
//! An incremental bundle carries a changed gzip layer as pieces of its **uncompressed** tar plus
//! a [`Recipe`]: the gzip member's header and trailer bytes verbatim and the DEFLATE
//! reconstruction data that turns the tar back into the exact compressed bytes, so that the
//! rebuilt layer has its original digest. A recipe names the engine that wrote it, and
//! [`LayerRebuild`] rebuilds with that engine or refuses it.
//!
//! - [`shape`] (`ferry-deflate-shape-1`, what ferry writes): the layer's DEFLATE stream as its
//!   block headers and literal/match decisions, carried as ranges of the base layer's own plus
//!   the bytes that differ; rebuilt by Huffman re-encoding, for any encoder.
//! - preflate-rs 0.7.6 with ferry's patches ([`ENGINE`], `vendor/preflate-rs/FERRY.md`), which
//!   format 1.2 bundles carry: [`analyze`] makes a recipe (tests use it), [`Rebuilder`] rebuilds
//!   in pieces of at most [`PIECE_PLAIN_LIMIT`] bytes of tar. It models the encoder and records
//!   where the model's choices differ from the stream's.
//!
//! What the engine cannot handle is an error ([`RegenError`]), never a wrong recipe: the
//! caller ships the whole blob instead, and a packer proves every recipe by rebuilding the layer
//! and comparing its sha256 with the layer digest ([`prove`]) before relying on it.

mod analyze;
pub mod budget;
mod gzip;
mod rebuild;
mod recipe;
pub mod shape;

pub use analyze::analyze;
pub use rebuild::{no_streams, prove, prove_with, rebuild, LayerRebuild, Rebuilder};
pub use recipe::{Recipe, RecipePiece, ENGINE};

use crate::model::Digest;

/// The most uncompressed bytes one preflate analysis piece holds in memory (128 MiB). Measured
/// (docs/performance.md before 2026-11-30, in its git history): a 121 MB tar analysed in pieces
/// of about 40 MB peaked at 234-238 MiB RSS, as one piece at 557-594 MiB. Pieces are as large as
/// that allows because the engine estimates the encoder's parameters from the first piece, and
/// continuing a stream across pieces fails for some encoders: a layer whose tar fits one piece
/// avoids that.
pub const PIECE_PLAIN_LIMIT: usize = 128 << 20;

/// The largest uncompressed layer the engine handles: its positions are 32-bit signed.
pub const MAX_TAR_SIZE: u64 = i32::MAX as u64;

/// Why a layer could not be analysed or rebuilt. Every variant means "ship the whole blob" to
/// a packer, and "this layer cannot be rebuilt" to a receiver.
#[derive(Debug, thiserror::Error)]
pub enum RegenError {
    /// Reading the layer or the tar, or writing the output, failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The layer is not gzip (for example zstd, or not compressed at all).
    #[error("not a gzip stream ({0})")]
    NotGzip(&'static str),
    /// The gzip header or trailer is malformed or truncated.
    #[error("malformed gzip: {0}")]
    BadGzip(String),
    /// More bytes follow the first gzip member (a multi-member gzip stream).
    #[error("multi-member gzip (bytes follow the first member at offset {0}); not supported")]
    MultiMember(u64),
    /// The uncompressed layer is larger than the engine handles.
    #[error("uncompressed layer is larger than {MAX_TAR_SIZE} bytes, the most the engine handles")]
    TooLarge,
    /// The engine could not model this piece of the DEFLATE stream.
    #[error(
        "the engine cannot model the deflate stream at uncompressed offset {offset}: {message}"
    )]
    Engine {
        /// Offset in the uncompressed tar where the failing piece starts.
        offset: u64,
        /// The engine's message.
        message: String,
    },
    /// The recipe's bytes do not parse.
    #[error("reconstruction data is malformed: {0}")]
    BadRecipe(String),
    /// The recipe was written by another engine (or engine version) than this one.
    #[error(
        "reconstruction data was made by engine {found:?}; this ferry rebuilds with {ENGINE:?}"
    )]
    WrongEngine {
        /// The engine the recipe names.
        found: String,
    },
    /// The tar given to rebuild is not the one the recipe was made from.
    #[error("the uncompressed content does not match the recipe: {0}")]
    TarMismatch(String),
    /// A base layer's blocks or shape stream (token-shape engine) could not be read, or did
    /// not hash as the recipe says.
    #[error("{0}")]
    BaseStream(String),
    /// The rebuilt layer does not hash to the digest the recipe promises.
    #[error("rebuilt layer hashes to {got}, not {expected}")]
    DigestMismatch {
        /// The layer digest the recipe was made for.
        expected: Digest,
        /// What the rebuilt bytes hash to.
        got: Digest,
    },
}

#[cfg(test)]
mod tests;
