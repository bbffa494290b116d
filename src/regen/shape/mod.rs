//! The token-shape engine (`ferry-deflate-shape-1`, bundle-format/SPEC.md §4.8.1): a gzip
//! layer's DEFLATE stream described exactly, apart from its content, by two byte streams.
//!
//! - The **blocks stream**: one record per DEFLATE block, its type, whether it is the last, its
//!   dynamic Huffman header exactly as written, and how many tokens it holds (stored blocks:
//!   their length).
//! - The **shape stream**: one record per token of the Huffman blocks, the literal/match
//!   decisions without the literal bytes: runs of literals by count, matches by length and
//!   distance.
//!
//! With the layer's uncompressed content (the tar: it supplies the literal bytes and the bytes
//! of stored blocks) the two streams turn back into the exact DEFLATE bytes, whatever encoder
//! wrote them: [`ShapeEncoder`]. [`parse_gzip`] goes the other way. Both are fast (a Huffman
//! decode or encode, no match search), so a layer rebuilds at the speed of its I/O.
//!
//! The streams of a changed layer mostly repeat its base layer's: after a change, an encoder's
//! decisions depend only on the last 32 KiB of content, so the shape streams line up again
//! soon after. A recipe of this engine therefore carries each stream as [`segments`]: bytes of
//! its own, or ranges of a base layer's stream, which the receiver derives from the base layer
//! it holds.
//!
//! Streams that cannot be described exactly are refused, never described wrongly: padding bits
//! that are not zero, a length of 258 coded the non-standard way, several gzip members.

mod encode;
mod parse;
mod rebuild;
mod records;
pub mod segments;

pub use encode::ShapeEncoder;
pub use parse::{parse_gzip, parse_gzip_unhashed, Parsed};
pub use rebuild::ShapeRebuilder;
pub use records::{BlockKind, BlockRecord};
pub use segments::{
    BaseStreams, Segment, SegmentReader, ShapeData, SharedStreams, StreamKind, StreamPlan,
};

/// The engine name recipes of this engine carry.
pub const SHAPE_ENGINE: &str = "ferry-deflate-shape-1";

#[cfg(test)]
mod tests;
