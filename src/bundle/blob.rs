//! Rebuilding a blob from its chunks, as its encoding says.

use std::io::{self, Read};

use super::bases::BaseLayers;
use super::root::{BlobEncoding, BlobEntry, ChunkEntry};
use super::store::ChunkStore;
use super::{invalid, BundleError};

/// A stream of one blob's bytes, rebuilt from chunks a [`ChunkStore`] resolves, as the blob's
/// [`BlobEncoding`] says. It does not hash the whole blob: the caller does.
///
/// A failure to rebuild is an [`io::ErrorKind::InvalidData`] error wrapping the
/// [`BundleError`] that names the chunk and where it is stored.
pub struct BlobReader<'a> {
    blob: BlobEntry,
    bytes: Box<dyn Read + Send + 'a>,
}

impl<'a> BlobReader<'a> {
    /// Rebuilds `blob`, whose chunk references index `chunks` (the root's chunk list), with
    /// chunks from `store`; with `check` every chunk is also checked against its own digest.
    /// A `gzip-tar` blob needs base layers: read without them it fails with
    /// [`BundleError::NeedsBaseLayers`] (see [`BlobReader::with_bases`]).
    pub fn new<S: ChunkStore + Send + 'a>(
        blob: BlobEntry,
        chunks: &'a [ChunkEntry],
        store: S,
        check: bool,
    ) -> Self {
        Self::with_bases(blob, chunks, store, check, None)
    }

    /// [`BlobReader::new`], with the base layers a `gzip-tar` blob's tar refers to. Such a blob
    /// is rebuilt byte for byte (crate::regen) and checked against its digest before its last
    /// bytes are handed out; every base range is checked against its digest as it is read.
    pub fn with_bases<S: ChunkStore + Send + 'a>(
        blob: BlobEntry,
        chunks: &'a [ChunkEntry],
        store: S,
        check: bool,
        bases: Option<Box<dyn BaseLayers + Send + 'a>>,
    ) -> Self {
        let bytes: Box<dyn Read + Send + 'a> = match blob.encoding {
            BlobEncoding::Plain => Box::new(Concatenated {
                order: blob.chunks.clone().into_iter(),
                chunks,
                store,
                check,
                current: None,
            }),
            BlobEncoding::GzipTar => match bases {
                Some(bases) => Box::new(super::layer_reader::GzipTarReader::new(
                    blob.clone(),
                    chunks,
                    store,
                    check,
                    bases,
                )),
                None => Box::new(Failing(Some(BundleError::NeedsBaseLayers(
                    blob.digest.clone(),
                )))),
            },
        };
        BlobReader { blob, bytes }
    }

    /// The blob being read.
    pub fn blob(&self) -> &BlobEntry {
        &self.blob
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.bytes.read(out)
    }
}

/// [`BlobEncoding::Plain`]: the chunks one after another, each streamed from the store
/// ([`ChunkStore::open`]), so that no whole chunk need be held.
struct Concatenated<'a, S> {
    order: std::vec::IntoIter<u32>,
    chunks: &'a [ChunkEntry],
    store: S,
    check: bool,
    current: Option<Box<dyn Read + Send>>,
}

impl<S: ChunkStore> Read for Concatenated<'_, S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(r) = &mut self.current {
                let n = r.read(out)?;
                if n > 0 {
                    return Ok(n);
                }
            }
            self.current = None;
            let Some(index) = self.order.next() else {
                return Ok(0);
            };
            let c = self
                .chunks
                .get(index as usize)
                .ok_or(BundleError::ChunkOutOfRange {
                    index,
                    count: self.chunks.len(),
                })
                .map_err(invalid)?;
            self.current = Some(self.store.open(c, self.check).map_err(invalid)?);
        }
    }
}

/// A reader whose first read fails with the error it holds.
struct Failing(Option<BundleError>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(invalid(e)),
            None => Err(io::Error::other("blob cannot be read")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::chunk::Compression;
    use crate::model::Digest;

    /// Chunks held in memory by digest: any store, not only a bundle's volumes, rebuilds blobs.
    struct Memory(HashMap<Digest, Vec<u8>>);

    impl ChunkStore for Memory {
        fn chunk(&mut self, chunk: &ChunkEntry, _check: bool) -> Result<Vec<u8>, BundleError> {
            self.0
                .get(chunk.digest())
                .cloned()
                .ok_or_else(|| BundleError::NotInBundle(chunk.digest().clone()))
        }
    }

    fn entry(data: &[u8]) -> ChunkEntry {
        let len = data.len() as u64;
        ChunkEntry(Digest::sha256_of(data), len, 1, 0, len, Compression::None)
    }

    fn blob(chunks: Vec<u32>) -> BlobEntry {
        BlobEntry {
            digest: Digest::sha256_of(b"whatever"),
            size: 0,
            media_type: "application/octet-stream".into(),
            encoding: BlobEncoding::Plain,
            chunks,
            in_base: false,
            base: None,
            layer: None,
            whole: None,
        }
    }

    #[test]
    fn a_plain_blob_is_its_chunks_in_order_from_the_store() {
        let parts: [&[u8]; 2] = [b"hello, ", b"world"];
        let chunks: Vec<ChunkEntry> = parts.iter().map(|p| entry(p)).collect();
        let store = Memory(
            parts
                .iter()
                .map(|p| (Digest::sha256_of(p), p.to_vec()))
                .collect(),
        );
        let mut out = Vec::new();
        BlobReader::new(blob(vec![1, 0, 1]), &chunks, store, true)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"worldhello, world");
    }

    #[test]
    fn a_chunk_number_out_of_range_is_named() {
        let chunks = vec![entry(b"x")];
        let store = Memory(HashMap::new());
        let err = BlobReader::new(blob(vec![7]), &chunks, store, false)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("chunk #7"), "{err}");
        let inner = err.into_inner().unwrap().downcast::<BundleError>().unwrap();
        assert!(matches!(
            *inner,
            BundleError::ChunkOutOfRange { index: 7, count: 1 }
        ));
    }

    #[test]
    fn encodings_are_written_by_name() {
        assert_eq!(
            serde_json::to_string(&BlobEncoding::Plain).unwrap(),
            "\"plain\""
        );
        assert_eq!(BlobEncoding::from_name("plain"), Some(BlobEncoding::Plain));
        assert_eq!(
            BlobEncoding::from_name("gzip-tar"),
            Some(BlobEncoding::GzipTar)
        );
        assert_eq!(BlobEncoding::from_name("zstd-tar"), None);
    }
}
