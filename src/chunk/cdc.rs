//! The content-defined chunker: a stream in, chunks with their digests out.

use std::fmt;
use std::io::{self, Read};

use fastcdc::v2020;
use serde::{Deserialize, Serialize};

use super::{ChunkError, Cutter};
use crate::model::{Digest, DigestAlgorithm, Hasher};

/// Minimum, average and maximum chunk sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkParams {
    /// No chunk but the last is shorter.
    pub min: u32,
    /// The size chunks cluster around.
    pub avg: u32,
    /// No chunk is longer.
    pub max: u32,
}

impl ChunkParams {
    /// The sizes ferry bundles use: 512 KiB, 1 MiB, 8 MiB.
    pub const DEFAULT: ChunkParams = ChunkParams {
        min: 512 * 1024,
        avg: 1024 * 1024,
        max: 8 * 1024 * 1024,
    };

    /// Checks the sizes against FastCDC's limits and their order.
    pub fn validate(&self) -> Result<(), ChunkError> {
        let ok = (v2020::MINIMUM_MIN..=v2020::MINIMUM_MAX).contains(&self.min)
            && (v2020::AVERAGE_MIN..=v2020::AVERAGE_MAX).contains(&self.avg)
            && (v2020::MAXIMUM_MIN..=v2020::MAXIMUM_MAX).contains(&self.max)
            && self.min <= self.avg
            && self.avg <= self.max;
        if ok {
            Ok(())
        } else {
            Err(ChunkError::InvalidParams {
                min: self.min,
                avg: self.avg,
                max: self.max,
            })
        }
    }
}

impl Default for ChunkParams {
    fn default() -> Self {
        ChunkParams::DEFAULT
    }
}

/// One chunk of a stream.
#[derive(Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Where the chunk starts in the stream.
    pub offset: u64,
    /// The chunk's bytes (at most the maximum chunk size).
    pub data: Vec<u8>,
    /// SHA-256 of `data`.
    pub digest: Digest,
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunk")
            .field("offset", &self.offset)
            .field("len", &self.data.len())
            .field("digest", &self.digest)
            .finish()
    }
}

/// Splits a stream into content-defined chunks, hashing each chunk and the whole stream.
///
/// An iterator of `io::Result<Chunk>`, cutting where [`Cutter`] does. It holds a buffer of two
/// maximum-size chunks (plus the chunk it hands out), whatever the stream's length.
pub struct Chunker<R: Read> {
    cutter: Cutter<R>,
    whole: Hasher,
    len: u64,
    failed: bool,
}

impl<R: Read> Chunker<R> {
    /// A chunker over `reader` with `params`.
    pub fn new(reader: R, params: ChunkParams) -> Result<Self, ChunkError> {
        Ok(Chunker {
            cutter: Cutter::new(reader, &params, Vec::new())?,
            whole: Hasher::new(DigestAlgorithm::Sha256),
            len: 0,
            failed: false,
        })
    }

    /// The SHA-256 digest and length of the whole stream. Chunks not taken from the iterator
    /// yet are read (and hashed) first, so this is always the digest of the entire stream.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        for chunk in self.by_ref() {
            chunk?;
        }
        if self.failed {
            return Err(io::Error::other(
                "the stream failed earlier; its digest is unknown",
            ));
        }
        Ok((self.whole.finish(), self.len))
    }
}

impl<R: Read> Iterator for Chunker<R> {
    type Item = io::Result<Chunk>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.cutter.next_chunk() {
            Ok(Some(data)) => {
                self.whole.update(&data);
                let offset = self.len;
                self.len += data.len() as u64;
                let digest = Digest::sha256_of(&data);
                Some(Ok(Chunk {
                    offset,
                    data,
                    digest,
                }))
            }
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
