//! Content-defined chunking of blobs and per-chunk compression.
//!
//! # Cut points (normative)
//!
//! Blobs are cut ([`Cutter`]; [`Chunker`] also hashes) with FastCDC 2020 ("v2020", Xia et al.,
//! 2020) exactly as the `fastcdc` crate 3.x computes it with [`fastcdc::v2020::StreamCDC`],
//! normalization level 1 and no seed, with the sizes of [`ChunkParams::DEFAULT`] (min 512 KiB,
//! avg 1 MiB, max 8 MiB). Another implementation reproduces the cut points as follows.
//!
//! - `GEAR[b]` for each byte value `b` is the first 8 bytes, read big-endian, of the MD5 digest
//!   of 64 bytes all equal to `b` (`GEAR[0] = 0x3b5d3c7d207e37dc`).
//! - `bits = round(log2(avg))`; with normalization level 1, `MASK_S = MASKS[bits + 1]` (harder,
//!   used before the average size) and `MASK_L = MASKS[bits - 1]` (easier, after it), with
//!   `MASKS` the table of `fastcdc::v2020::MASKS`. For the default sizes (`bits = 20`):
//!   `MASK_S = 0x0000d91767537000` (21 bits set) and `MASK_L = 0x0000d91707537000` (19 bits set).
//! - Chunks are found one after another. For the next chunk, let `n` be the number of bytes
//!   left in the blob, capped at `max`. If `n <= min`, the chunk is those `n` bytes. Otherwise
//!   let `center = min(avg, n)`, `h = 0` (64-bit, wrapping arithmetic), and for each position
//!   `i` from `2 * floor(min / 2)` while `floor(i / 2) < floor(n / 2)`:
//!   `h = (h << 1) + GEAR[byte[i]]`; the mask is `MASK_S` while `floor(i / 2) < floor(center /
//!   2)`, `MASK_L` afterwards; if `h & mask == 0` the chunk is bytes `[0, i)` — byte `i`, whose
//!   hash met the condition, starts the next chunk. If no position qualifies, the chunk is `n`
//!   bytes long. (`fastcdc` walks two bytes per step with a pre-shifted table and masks shifted
//!   left by one; that is the same computation, which the tests of this module check against
//!   a plain per-byte implementation of the rules above.)
//!
//! Every chunk is therefore at most `max` bytes, and every chunk but the last at least `min`.
//!
//! # Compression
//!
//! Each chunk is stored either raw or as one zstd frame; see [`compress`] for the rule.

mod cdc;
mod compress;
mod cut;

pub use cdc::{Chunk, ChunkParams, Chunker};
pub use compress::{compress, decoder, decompress, CompressHint, Compression, MAX_CHUNK_LEN};
pub use cut::Cutter;

/// Why chunking could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The chunk sizes are outside what FastCDC supports or are not ordered min ≤ avg ≤ max.
    #[error(
        "invalid chunk sizes min {min}, avg {avg}, max {max}: need 64 <= min <= 1 MiB, \
         256 <= avg <= 4 MiB, 1 KiB <= max <= 16 MiB and min <= avg <= max"
    )]
    InvalidParams {
        /// The minimum chunk size asked for.
        min: u32,
        /// The average chunk size asked for.
        avg: u32,
        /// The maximum chunk size asked for.
        max: u32,
    },
}

#[cfg(test)]
mod tests;
