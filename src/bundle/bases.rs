//! Base layers: the uncompressed content of layers the receiving site already holds, which a
//! `gzip-tar` blob (SPEC.md §4.8) refers to by byte range.

use std::io::{self, Read};

use crate::model::Digest;
use crate::regen::shape::StreamKind;

/// Reads byte ranges of base layers' uncompressed content.
///
/// A push implements it by reading the base layers back from the target registry (and
/// the push side's spooled implementation (`SpooledBases` in `layerdelta`) by decompressing each base layer once into a temporary
/// file); a test by holding tars in memory. The reader checks each range against the digest
/// the bundle records, so an implementation need not.
pub trait BaseLayers {
    /// `length` bytes at `offset` of the uncompressed content of the layer whose
    /// (compressed) blob digest is `layer`. Fewer bytes than asked is an error of the reader.
    fn read_range(
        &mut self,
        layer: &Digest,
        offset: u64,
        length: u64,
    ) -> io::Result<Box<dyn Read + Send>>;

    /// `length` bytes at `offset` of stream `kind` of a gzip base layer (its blocks or shape
    /// stream, SPEC.md §4.8.1), for a recipe of the token-shape engine. An implementation that
    /// cannot derive them says so with an error (the default).
    fn read_stream(
        &mut self,
        layer: &Digest,
        kind: StreamKind,
        _offset: u64,
        _length: u64,
    ) -> io::Result<Box<dyn Read + Send>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("the {kind:?} stream of base layer {layer} is not available here"),
        ))
    }
}
