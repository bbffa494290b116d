//! [`SpooledBases`]: base layers' uncompressed content served by byte range from temporary
//! files, for rebuilding `gzip-tar` blobs.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom};
use std::path::PathBuf;

use crate::bundle::BaseLayers;
use crate::model::Digest;

/// Opens a base layer's (compressed) blob by digest: from the target registry at push, from a
/// directory or memory in tests.
pub type OpenBlob<'a> =
    Box<dyn FnMut(&Digest) -> io::Result<Box<dyn Read + Send + 'a>> + Send + 'a>;

/// Base layers decompressed once each into a temporary file (deleted when the value is
/// dropped), then read by range.
///
/// Temporary disk: the uncompressed size of every base layer asked for, in `dir`; one changed
/// layer refers to the layers of its base image only, so a caller that makes one
/// `SpooledBases` per rebuilt layer holds at most the uncompressed base layers of that layer.
/// Memory: a copy buffer. The ranges handed out are checked against their digests by the
/// reader ([`crate::bundle::BlobReader::with_bases`]), so a wrong base is an error, never a
/// wrong layer.
pub struct SpooledBases<'a> {
    open: OpenBlob<'a>,
    dir: PathBuf,
    spooled: HashMap<Digest, tempfile::NamedTempFile>,
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

    fn file(&mut self, layer: &Digest) -> io::Result<&tempfile::NamedTempFile> {
        if !self.spooled.contains_key(layer) {
            let blob = (self.open)(layer)?;
            let mut tmp = tempfile::Builder::new()
                .prefix("ferry-base-")
                .tempfile_in(&self.dir)?;
            {
                let mut w = BufWriter::new(tmp.as_file_mut());
                io::copy(&mut super::decompress(blob)?, &mut w)?;
                io::Write::flush(&mut w)?;
            }
            self.spooled.insert(layer.clone(), tmp);
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
        let mut f: File = self.file(layer)?.reopen()?;
        f.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(f.take(length)))
    }
}
