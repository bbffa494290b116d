//! One stored chunk read as a stream of bounded pieces, so that rebuilding a blob never holds a
//! whole chunk (up to the chunker's 8 MiB maximum, plus its stored bytes) in memory.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;

use super::root::ChunkEntry;
use super::{invalid, BundleError};
use crate::chunk::{self, Compression, MAX_CHUNK_LEN};
use crate::model::Hasher;

/// The most bytes of a chunk held at once.
pub(super) const PIECE: usize = 128 * 1024;

/// A chunk's bytes, read from its volume and decompressed on the fly, in pieces of at most
/// [`PIECE`] bytes. The length is always checked; with `check` the digest too, and the last
/// piece is handed out only once the whole chunk hashes to its digest, so a reader never gets
/// all of a damaged chunk. Errors are [`io::ErrorKind::InvalidData`] errors wrapping the
/// [`BundleError`] that names the chunk and where it is stored.
pub(super) struct ChunkStream {
    bytes: Box<dyn Read + Send>,
    chunk: ChunkEntry,
    path: PathBuf,
    offset: u64,
    hasher: Option<Hasher>,
    piece: Vec<u8>,
    pos: usize,
    read: u64,
    done: bool,
}

impl ChunkStream {
    /// `chunk`, stored at `offset` of `file` (the volume at `path`).
    pub(super) fn new(
        file: File,
        path: PathBuf,
        offset: u64,
        chunk: &ChunkEntry,
        check: bool,
    ) -> Result<Self, BundleError> {
        let mut s = ChunkStream {
            bytes: Box::new(io::empty()),
            chunk: chunk.clone(),
            path,
            offset,
            hasher: check.then(|| chunk.digest().hasher()),
            piece: Vec::new(),
            pos: 0,
            read: 0,
            done: false,
        };
        if chunk.len() > MAX_CHUNK_LEN as u64 {
            return Err(s.damaged(format!(
                "chunk length {} exceeds the limit of {MAX_CHUNK_LEN} bytes",
                chunk.len()
            )));
        }
        if chunk.compression() == Compression::None && chunk.stored_len() != chunk.len() {
            return Err(s.damaged(format!(
                "stored chunk is {} bytes, expected {}",
                chunk.stored_len(),
                chunk.len()
            )));
        }
        let stored = At {
            file,
            pos: offset,
            end: offset + chunk.stored_len(),
        };
        // Raw bytes are read straight into the pieces; the zstd decoder buffers its input.
        s.bytes = chunk::decoder(chunk.compression(), stored)
            .map_err(|e| s.damaged(format!("stored bytes do not decompress: {e}")))?;
        Ok(s)
    }

    fn damaged(&self, reason: String) -> BundleError {
        BundleError::ChunkDamaged {
            path: self.path.clone(),
            offset: self.offset,
            chunk: self.chunk.digest().clone(),
            reason,
        }
    }

    /// Why reading the stored bytes failed: the volume could not be read, or they do not
    /// decompress.
    fn read_error(&self, e: io::Error) -> BundleError {
        match self.chunk.compression() {
            Compression::None => BundleError::io(&self.path, e),
            _ => self.damaged(format!("stored bytes do not decompress: {e}")),
        }
    }

    /// Reads the next piece into `self.piece`; at the chunk's end, checks that nothing follows
    /// and that the chunk hashes to its digest before the piece is handed out.
    fn next_piece(&mut self) -> Result<(), BundleError> {
        let want = (self.chunk.len() - self.read).min(PIECE as u64) as usize;
        self.piece.resize(want, 0);
        self.pos = 0;
        let mut n = 0;
        while n < want {
            match self.bytes.read(&mut self.piece[n..]) {
                Ok(0) => {
                    return Err(self.damaged(format!(
                        "stored bytes hold {} bytes, expected {}",
                        self.read + n as u64,
                        self.chunk.len()
                    )))
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(e)),
            }
        }
        self.read += n as u64;
        if let Some(h) = &mut self.hasher {
            h.update(&self.piece);
        }
        if self.read < self.chunk.len() {
            return Ok(());
        }
        self.done = true;
        let mut extra = [0u8; 1];
        loop {
            match self.bytes.read(&mut extra) {
                Ok(0) => break,
                Ok(_) => {
                    return Err(self.damaged(format!(
                        "stored bytes hold more than the expected {} bytes",
                        self.chunk.len()
                    )))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(e)),
            }
        }
        if let Some(h) = self.hasher.take() {
            let got = h.finish();
            if &got != self.chunk.digest() {
                self.piece.clear();
                return Err(self.damaged(format!("content hashes to {got}")));
            }
        }
        Ok(())
    }
}

impl Read for ChunkStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos == self.piece.len() {
            if self.done {
                return Ok(0);
            }
            self.next_piece().map_err(invalid)?;
        }
        let n = out.len().min(self.piece.len() - self.pos);
        out[..n].copy_from_slice(&self.piece[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The bytes `pos..end` of a file, read at their positions (no shared file offset).
struct At {
    file: File,
    pos: u64,
    end: u64,
}

impl Read for At {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = out.len().min((self.end - self.pos) as usize);
        if n == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut out[..n], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the volume ends at byte {}", self.pos),
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::CompressHint;
    use crate::model::Digest;

    /// `stored` written at offset 7 of a file, read back as the chunk `data` with `check`;
    /// what came out before the end or the error.
    fn stream(data: &[u8], compression: Compression, stored: &[u8]) -> (Vec<u8>, Option<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("volume");
        let mut bytes = vec![0u8; 7];
        bytes.extend_from_slice(stored);
        std::fs::write(&path, &bytes).unwrap();
        let entry = ChunkEntry(
            Digest::sha256_of(data),
            data.len() as u64,
            1,
            7,
            stored.len() as u64,
            compression,
        );
        let file = File::open(&path).unwrap();
        let mut s = match ChunkStream::new(file, path, 7, &entry, true) {
            Ok(s) => s,
            Err(e) => return (Vec::new(), Some(e.to_string())),
        };
        let mut out = Vec::new();
        let mut buf = vec![0u8; 10_000];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => {
                    assert!(s.piece.capacity() <= PIECE, "a piece at most");
                    out.extend_from_slice(&buf[..n]);
                }
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    #[test]
    fn a_chunk_streams_in_pieces_raw_or_zstd_and_damage_keeps_back_its_last_piece() {
        let data: Vec<u8> = (0..700_000u32).map(|i| (i / 3 % 251) as u8).collect();
        assert_eq!(
            stream(&data, Compression::None, &data),
            (data.clone(), None)
        );
        let (c, stored) = crate::chunk::compress(&data, 3, CompressHint::Unknown);
        assert_eq!(c, Compression::Zstd);
        assert!(stream(&data, c, &stored) == (data.clone(), None));

        let mut damaged = data.clone();
        damaged[690_000] ^= 1;
        let (out, err) = stream(&data, Compression::None, &damaged);
        let err = err.expect("damage is an error");
        assert!(err.contains("content hashes to"), "{err}");
        assert!(err.contains(&Digest::sha256_of(&data).to_string()), "{err}");
        // Everything but the last piece went out; the last piece, which holds the damage, not.
        let last = data.len() % PIECE;
        assert_eq!(out.len(), data.len() - last);
        assert!(out == data[..out.len()], "the pieces sent are the chunk's");

        let (out, err) = stream(&data, Compression::None, &data[..600_000]);
        assert!(err.unwrap().contains("stored chunk is 600000 bytes"));
        assert!(out.is_empty());
    }
}
