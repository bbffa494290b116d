//! Chunk stores: where the bytes of a chunk a blob is rebuilt from come from.
//!
//! A blob entry names its chunks; a [`ChunkStore`] turns each such reference into the chunk's
//! bytes. Today every chunk is stored in the bundle's own volumes ([`VolumeStore`]). An
//! incremental bundle will resolve some chunks from a base underneath it — an earlier bundle, or
//! layers already in the target registry — through another store layered below the volumes;
//! the code that rebuilds blobs ([`crate::bundle::BlobReader`]) only ever sees the trait.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use super::chunk_stream::ChunkStream;
use super::root::{ChunkEntry, Root};
use super::volume::{self, VolumeFile, DATA_OFFSET};
use super::BundleError;
use crate::chunk::{self, Compression};
use crate::model::Digest;

/// Resolves a chunk reference to the chunk's (uncompressed) bytes.
///
/// A reference is the chunk's entry in the root: its digest and length say what the chunk is,
/// its volume and offset where this bundle stores it. A store for a base (an earlier bundle, or
/// layers already in the target registry) answers for chunks by digest and length, and a
/// layered store asks the bundle's volumes first and the base for what they do not hold; each
/// is one more implementation of this trait. A store may keep files or connections open between
/// calls, hence `&mut self`.
pub trait ChunkStore {
    /// The bytes of `chunk`. With `check`, they are also hashed and compared with the chunk's
    /// digest, and a mismatch is an error naming where the chunk came from.
    fn chunk(&mut self, chunk: &ChunkEntry, check: bool) -> Result<Vec<u8>, BundleError>;

    /// The bytes of `chunk` as a stream, checked as [`ChunkStore::chunk`] checks them. A store
    /// that can read a chunk in bounded pieces does (the volumes do, so that rebuilding a blob
    /// never holds a whole chunk); by default the chunk is read whole.
    fn open(
        &mut self,
        chunk: &ChunkEntry,
        check: bool,
    ) -> Result<Box<dyn Read + Send>, BundleError> {
        Ok(Box::new(io::Cursor::new(self.chunk(chunk, check)?)))
    }
}

/// The chunks stored in a bundle's own volume files, read through file handles kept open for
/// the store's lifetime.
pub struct VolumeStore<'a> {
    root: &'a Root,
    volumes: &'a BTreeMap<u32, VolumeFile>,
    files: BTreeMap<u32, File>,
}

impl<'a> VolumeStore<'a> {
    /// A store over the volume files present of the bundle `root` describes.
    pub(super) fn new(root: &'a Root, volumes: &'a BTreeMap<u32, VolumeFile>) -> Self {
        VolumeStore {
            root,
            volumes,
            files: BTreeMap::new(),
        }
    }
}

impl ChunkStore for VolumeStore<'_> {
    fn chunk(&mut self, chunk: &ChunkEntry, check: bool) -> Result<Vec<u8>, BundleError> {
        read_from_volume(self.root, self.volumes, &mut self.files, chunk, check)
    }

    /// Reads the chunk in pieces of at most 128 KiB, its last piece held back until the chunk
    /// hashes to its digest (with `check`).
    fn open(
        &mut self,
        chunk: &ChunkEntry,
        check: bool,
    ) -> Result<Box<dyn Read + Send>, BundleError> {
        let (v, f) = open_volume(self.root, self.volumes, &mut self.files, chunk)?;
        let file = f.try_clone().map_err(|e| BundleError::io(&v.path, e))?;
        let s = ChunkStream::new(
            file,
            v.path.clone(),
            DATA_OFFSET + chunk.offset(),
            chunk,
            check,
        )?;
        Ok(Box::new(s))
    }
}

/// The volume file that stores `c`, opened into `files` if it is not open yet.
fn open_volume<'f>(
    root: &Root,
    volumes: &'f BTreeMap<u32, VolumeFile>,
    files: &'f mut BTreeMap<u32, File>,
    c: &ChunkEntry,
) -> Result<(&'f VolumeFile, &'f mut File), BundleError> {
    let count = root.volumes.len() as u32;
    let v = volumes
        .get(&c.volume())
        .ok_or_else(|| BundleError::MissingVolumes {
            bundle: root.bundle_id.clone(),
            count,
            missing: vec![volume::volume_file_name(&root.bundle_id, c.volume(), count)],
        })?;
    let f = match files.entry(c.volume()) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => {
            e.insert(File::open(&v.path).map_err(|err| BundleError::io(&v.path, err))?)
        }
    };
    Ok((v, f))
}

/// Reads `c` from the volume file that stores it, opening it into `files` if it is not open
/// yet, decompresses it and, with `check`, compares it with its digest.
pub(super) fn read_from_volume(
    root: &Root,
    volumes: &BTreeMap<u32, VolumeFile>,
    files: &mut BTreeMap<u32, File>,
    c: &ChunkEntry,
    check: bool,
) -> Result<Vec<u8>, BundleError> {
    let (v, f) = open_volume(root, volumes, files, c)?;
    let damaged = |reason: String| BundleError::ChunkDamaged {
        path: v.path.clone(),
        offset: DATA_OFFSET + c.offset(),
        chunk: c.digest().clone(),
        reason,
    };
    let mut stored = vec![0u8; c.stored_len() as usize];
    f.seek(SeekFrom::Start(DATA_OFFSET + c.offset()))
        .and_then(|_| f.read_exact(&mut stored))
        .map_err(|e| BundleError::io(&v.path, e))?;
    let data = if c.compression() == Compression::None && stored.len() as u64 == c.len() {
        // Stored raw: the bytes read are the chunk, no second copy.
        stored
    } else {
        chunk::decompress(c.compression(), &stored, c.len() as usize)
            .map_err(|e| damaged(format!("stored bytes do not decompress: {e}")))?
    };
    if check {
        let got = Digest::sha256_of(&data);
        if &got != c.digest() {
            return Err(damaged(format!("content hashes to {got}")));
        }
    }
    Ok(data)
}
