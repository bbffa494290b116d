//! [`SpooledBases`]: base layers' uncompressed content (and, for gzip bases, their blocks and
//! shape streams) served by byte range from temporary files, for rebuilding `gzip-tar` blobs.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;

use super::streams::ParsedBase;
use crate::bundle::BaseLayers;
use crate::model::Digest;
use crate::regen::shape::StreamKind;

/// Opens a base layer's (compressed) blob by digest: from the target registry at push, from a
/// directory or memory in tests.
pub type OpenBlob<'a> =
    Box<dyn FnMut(&Digest) -> io::Result<Box<dyn Read + Send + 'a>> + Send + 'a>;

/// Base layers spooled once each into temporary files (deleted when the value is dropped),
/// then read by range.
///
/// A gzip base is parsed once into its content and its two streams (SPEC.md §4.8.1); a base
/// that is not single-member gzip, or whose DEFLATE stream the shape engine refuses, is
/// decompressed and has no streams.
///
/// Temporary disk: the uncompressed size of every base layer asked for, plus its streams
/// (about a third of that), in `dir`; one changed layer refers to the layers of its base
/// image only, so a caller that makes one `SpooledBases` per rebuilt layer holds at most the
/// base layers of that layer. Memory: copy buffers. The ranges handed out are checked against
/// their digests by the reader ([`crate::bundle::BlobReader::with_bases`]), so a wrong base is
/// an error, never a wrong layer.
pub struct SpooledBases<'a> {
    open: OpenBlob<'a>,
    dir: PathBuf,
    spooled: HashMap<Digest, ParsedBase>,
}

impl<'a> SpooledBases<'a> {
    /// Base layers opened with `open`, spooled into temporary files under `dir`.
    pub fn new(dir: impl Into<PathBuf>, open: OpenBlob<'a>) -> Self {
        SpooledBases {
            open,
            dir: dir.into(),
            spooled: HashMap::new(),
        }
    }

    fn spooled(&mut self, layer: &Digest) -> io::Result<&ParsedBase> {
        if !self.spooled.contains_key(layer) {
            let parsed = match ParsedBase::spool((self.open)(layer)?, &self.dir) {
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    ParsedBase::content_only((self.open)(layer)?, &self.dir, e.to_string())?
                }
                r => r?,
            };
            self.spooled.insert(layer.clone(), parsed);
        }
        Ok(&self.spooled[layer])
    }
}

impl BaseLayers for SpooledBases<'_> {
    fn read_range(
        &mut self,
        layer: &Digest,
        offset: u64,
        length: u64,
    ) -> io::Result<Box<dyn Read + Send>> {
        self.spooled(layer)?.range(None, offset, length)
    }

    fn read_stream(
        &mut self,
        layer: &Digest,
        kind: StreamKind,
        offset: u64,
        length: u64,
    ) -> io::Result<Box<dyn Read + Send>> {
        self.spooled(layer)?
            .range(Some(kind), offset, length)
            .map_err(|e| io::Error::new(e.kind(), format!("base layer {layer}: {e}")))
    }
}
