//! Writing a [`LayerPlan`] into a bundle as a `gzip-tar` blob, in two steps: the plan's new
//! pieces and reconstruction data are compressed into a [`Spool`] ([`spool_layer`]), and the
//! spooled layer is stored later ([`SpooledLayer::store`]). In between the packer knows what
//! the layer's root entry takes (its piece list) and reserves room for it in every volume
//! before any volume is filled.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::encode::{LayerPlan, PlannedPiece};
use super::LayerDeltaError;
use crate::bundle::root::{BlobEncoding, BlobEntry};
use crate::bundle::writer::BundleWriter;
use crate::bundle::{LayerTar, TarPiece};
use crate::chunk::{compress, CompressHint, Compression};
use crate::model::{Digest, MediaType};

/// Reconstruction data is stored in chunks of at most this size (1 MiB).
const RECIPE_CHUNK: usize = 1 << 20;

/// What [`store_layer`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLayer {
    /// Bytes of new tar content (uncompressed) the bundle carries for the layer.
    pub new_bytes: u64,
    /// Bytes of reconstruction data.
    pub recipe_bytes: u64,
    /// Bytes the chunks added to the volumes take there (after zstd, chunks already stored by
    /// this bundle not counted again).
    pub stored_bytes: u64,
}

/// A temporary file (unlinked, gone when dropped) holding the compressed chunks of spooled
/// layers until they are stored.
pub struct Spool {
    file: File,
    len: u64,
}

impl Spool {
    /// A new, empty spool in `dir`.
    pub fn new(dir: &Path) -> io::Result<Spool> {
        Ok(Spool {
            file: tempfile::tempfile_in(dir)?,
            len: 0,
        })
    }

    fn append(&mut self, data: &[u8]) -> io::Result<u64> {
        let at = self.len;
        self.file.seek(SeekFrom::Start(at))?;
        self.file.write_all(data)?;
        self.len += data.len() as u64;
        Ok(at)
    }

    fn read(&mut self, at: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        self.file.seek(SeekFrom::Start(at))?;
        self.file.read_exact(&mut buf)?;
        Ok(buf)
    }
}

/// One chunk of a spooled layer: its digest, uncompressed length, compression, and where its
/// stored bytes are in the spool.
struct SpooledChunk {
    digest: Digest,
    len: u64,
    compression: Compression,
    at: u64,
    stored_len: u64,
}

enum SpooledPiece {
    /// Index into [`SpooledLayer::chunks`].
    Chunk(usize),
    Base(TarPiece),
}

/// A planned layer whose chunks wait in a [`Spool`] to be stored as a `gzip-tar` blob.
pub struct SpooledLayer {
    digest: Digest,
    media_type: MediaType,
    layer_size: u64,
    tar_size: u64,
    tar_digest: Digest,
    bases: Vec<Digest>,
    chunks: Vec<SpooledChunk>,
    pieces: Vec<SpooledPiece>,
    recipe_chunks: Vec<usize>,
    new_bytes: u64,
    recipe_bytes: u64,
}

/// Compresses the new pieces and the reconstruction data of `plan` into `spool` (each new run
/// of the tar as a chunk, zstd at `level` when that pays; the reconstruction data in chunks of
/// at most 1 MiB), for the `gzip-tar` blob of media type `media_type`.
pub fn spool_layer(
    plan: &LayerPlan,
    spool: &mut Spool,
    media_type: &MediaType,
    level: i32,
) -> Result<SpooledLayer, LayerDeltaError> {
    let digest = &plan.recipe.layer_digest;
    let io_err = |source| LayerDeltaError::Io {
        layer: digest.clone(),
        source,
    };
    let mut chunks: Vec<SpooledChunk> = Vec::new();
    let mut seen: HashMap<Digest, usize> = HashMap::new();
    let mut add = |spool: &mut Spool, data: &[u8]| -> io::Result<usize> {
        let d = Digest::sha256_of(data);
        if let Some(&i) = seen.get(&d) {
            return Ok(i);
        }
        let (compression, stored) = compress(data, level, CompressHint::Unknown);
        let at = spool.append(&stored)?;
        seen.insert(d.clone(), chunks.len());
        chunks.push(SpooledChunk {
            digest: d,
            len: data.len() as u64,
            compression,
            at,
            stored_len: stored.len() as u64,
        });
        Ok(chunks.len() - 1)
    };
    let mut pieces = Vec::with_capacity(plan.pieces.len());
    for p in &plan.pieces {
        pieces.push(match p {
            PlannedPiece::New {
                offset,
                length,
                digest: d,
            } => {
                let data = plan.read_new(*offset, *length).map_err(io_err)?;
                debug_assert_eq!(&Digest::sha256_of(&data), d);
                SpooledPiece::Chunk(add(spool, &data).map_err(io_err)?)
            }
            PlannedPiece::Base {
                base,
                offset,
                length,
                digest: d,
            } => SpooledPiece::Base(TarPiece::Base {
                base: *base,
                offset: *offset,
                length: *length,
                digest: d.clone(),
            }),
        });
    }
    let recipe = plan.recipe.to_bytes();
    let mut recipe_chunks = Vec::new();
    for part in recipe.chunks(RECIPE_CHUNK) {
        recipe_chunks.push(add(spool, part).map_err(io_err)?);
    }
    Ok(SpooledLayer {
        digest: digest.clone(),
        media_type: media_type.clone(),
        layer_size: plan.recipe.layer_size,
        tar_size: plan.recipe.tar_size,
        tar_digest: plan.recipe.tar_digest.clone(),
        bases: plan.bases.clone(),
        chunks,
        pieces,
        recipe_chunks,
        new_bytes: plan.new_bytes(),
        recipe_bytes: recipe.len() as u64,
    })
}

impl SpooledLayer {
    /// The layer's blob digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The blob entry as the root will hold it, with every chunk index at its largest (so at
    /// least as long in JSON): what the packer reserves room for before storing the layer.
    pub fn entry_bound(&self) -> BlobEntry {
        self.entry(|_| u32::MAX)
    }

    fn entry(&self, index: impl Fn(usize) -> u32) -> BlobEntry {
        let pieces = self
            .pieces
            .iter()
            .map(|p| match p {
                SpooledPiece::Chunk(i) => TarPiece::Chunk { chunk: index(*i) },
                SpooledPiece::Base(b) => b.clone(),
            })
            .collect();
        BlobEntry {
            digest: self.digest.clone(),
            size: self.layer_size,
            media_type: self.media_type.clone(),
            encoding: BlobEncoding::GzipTar,
            chunks: self.recipe_chunks.iter().map(|&i| index(i)).collect(),
            in_base: false,
            base: None,
            layer: Some(Box::new(LayerTar {
                tar_size: self.tar_size,
                tar_digest: self.tar_digest.clone(),
                bases: self.bases.clone(),
                pieces,
            })),
            whole: None,
        }
    }

    /// Stores the layer from `spool` into `writer` as a `gzip-tar` blob (chunks the bundle
    /// already holds are not stored again).
    pub fn store(
        &self,
        spool: &mut Spool,
        writer: &mut BundleWriter,
    ) -> Result<StoredLayer, LayerDeltaError> {
        let io_err = |source| LayerDeltaError::Io {
            layer: self.digest.clone(),
            source,
        };
        let before = writer.stored_bytes();
        let mut index = Vec::with_capacity(self.chunks.len());
        for c in &self.chunks {
            index.push(match writer.chunk(&c.digest) {
                Some(i) => i,
                None => {
                    let stored = spool.read(c.at, c.stored_len).map_err(io_err)?;
                    writer.add_chunk(&c.digest, c.len, c.compression, &stored)?
                }
            });
        }
        let entry = self.entry(|i| index[i]);
        let layer = *entry.layer.expect("a gzip-tar entry has its layer");
        writer.finish_gzip_tar_blob(
            &self.digest,
            self.layer_size,
            &self.media_type,
            entry.chunks,
            layer,
        )?;
        Ok(StoredLayer {
            new_bytes: self.new_bytes,
            recipe_bytes: self.recipe_bytes,
            stored_bytes: writer.stored_bytes() - before,
        })
    }
}

/// Stores `plan` into `writer` as the `gzip-tar` blob of media type `media_type` at once
/// ([`spool_layer`] into a spool in the system temporary directory, then
/// [`SpooledLayer::store`]). `level` is the zstd level of the pack.
pub fn store_layer(
    plan: &LayerPlan,
    writer: &mut BundleWriter,
    media_type: &MediaType,
    level: i32,
) -> Result<StoredLayer, LayerDeltaError> {
    let mut spool = Spool::new(&std::env::temp_dir()).map_err(|source| LayerDeltaError::Io {
        layer: plan.recipe.layer_digest.clone(),
        source,
    })?;
    spool_layer(plan, &mut spool, media_type, level)?.store(&mut spool, writer)
}
