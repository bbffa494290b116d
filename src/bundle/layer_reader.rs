//! Reading a `gzip-tar` blob (SPEC.md §4.8): its tar assembled from this bundle's chunks and
//! base layer ranges, turned into the exact gzip bytes by its reconstruction data.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use super::bases::BaseLayers;
use super::layer::{LayerTar, TarPiece};
use super::root::{BlobEntry, ChunkEntry};
use super::store::ChunkStore;
use super::{invalid, BundleError};
use crate::model::{Digest, Hasher};
use crate::regen::shape::{BaseStreams, StreamKind};
use crate::regen::{budget, LayerRebuild, Recipe, RegenError};

/// The gzip bytes of a `gzip-tar` blob. The reconstruction data is read (from the blob's
/// chunks) at the first read; the tar is assembled piece by piece as the rebuild consumes it.
pub(super) struct GzipTarReader<'a, S> {
    start: Option<Start<'a, S>>,
    running: Option<LayerRebuild<'a, Recipe, Assembler<'a, S>>>,
    // The rebuild's share of the process's rebuild memory, held until the layer ends.
    reservation: Option<budget::Reservation>,
    digest: Digest,
}

struct Start<'a, S> {
    blob: BlobEntry,
    chunks: &'a [ChunkEntry],
    store: S,
    check: bool,
    bases: Box<dyn BaseLayers + Send + 'a>,
}

impl<'a, S: ChunkStore> GzipTarReader<'a, S> {
    pub(super) fn new(
        blob: BlobEntry,
        chunks: &'a [ChunkEntry],
        store: S,
        check: bool,
        bases: Box<dyn BaseLayers + Send + 'a>,
    ) -> Self {
        GzipTarReader {
            digest: blob.digest.clone(),
            start: Some(Start {
                blob,
                chunks,
                store,
                check,
                bases,
            }),
            running: None,
            reservation: None,
        }
    }

    fn begin(&mut self, s: Start<'a, S>) -> io::Result<()> {
        let Start {
            blob,
            chunks,
            mut store,
            check,
            bases,
        } = s;
        let layer = *blob
            .layer
            .clone()
            .ok_or_else(|| invalid(BundleError::NeedsBaseLayers(blob.digest.clone())))?;
        let mut bytes = Vec::new();
        for &i in &blob.chunks {
            bytes.extend(
                store
                    .chunk(chunk_entry(chunks, i)?, check)
                    .map_err(invalid)?,
            );
        }
        let rebuild_err = |source: RegenError| {
            invalid(BundleError::LayerRebuild {
                blob: blob.digest.clone(),
                source,
            })
        };
        let recipe = Recipe::from_bytes(&bytes).map_err(rebuild_err)?;
        if recipe.layer_digest != blob.digest || recipe.tar_digest != layer.tar_digest {
            return Err(rebuild_err(RegenError::BadRecipe(format!(
                "it rebuilds {} from {}; the root says {} from {}",
                recipe.layer_digest, recipe.tar_digest, blob.digest, layer.tar_digest
            ))));
        }
        self.reservation = Some(budget::reserve(budget::estimate(&recipe)));
        let bases = Shared(Arc::new(Mutex::new(bases)));
        let tar = Assembler {
            layer,
            next: 0,
            chunks,
            store,
            check,
            bases: bases.clone(),
            current: Current::None,
        };
        let streams = Arc::new(Mutex::new(bases));
        self.running = Some(LayerRebuild::new(recipe, tar, streams).map_err(rebuild_err)?);
        Ok(())
    }
}

impl<S: ChunkStore> Read for GzipTarReader<'_, S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(s) = self.start.take() {
            self.begin(s)?;
        }
        match self.running.as_mut() {
            Some(r) => r
                .read(out)
                .inspect(|&n| {
                    if n == 0 && !out.is_empty() {
                        // The layer is complete: its memory goes back to other rebuilds.
                        self.reservation = None;
                    }
                })
                .map_err(|e| match e.kind() {
                    io::ErrorKind::InvalidData => e,
                    _ => invalid(BundleError::Read {
                        blob: self.digest.clone(),
                        source: e,
                    }),
                }),
            None => Err(io::Error::other("layer rebuild failed earlier")),
        }
    }
}

fn chunk_entry(chunks: &[ChunkEntry], index: u32) -> io::Result<&ChunkEntry> {
    chunks.get(index as usize).ok_or_else(|| {
        invalid(BundleError::ChunkOutOfRange {
            index,
            count: chunks.len(),
        })
    })
}

/// The base layers, shared by the tar's assembler and a shape rebuild's stream readers.
#[derive(Clone)]
struct Shared<'a>(Arc<Mutex<Box<dyn BaseLayers + Send + 'a>>>);

impl<'a> Shared<'a> {
    fn lock(&self) -> io::Result<std::sync::MutexGuard<'_, Box<dyn BaseLayers + Send + 'a>>> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("base layers poisoned"))
    }
}

impl BaseStreams for Shared<'_> {
    fn open_stream(
        &mut self,
        layer: &Digest,
        kind: StreamKind,
        offset: u64,
        length: u64,
    ) -> io::Result<Box<dyn Read + Send>> {
        self.lock()?.read_stream(layer, kind, offset, length)
    }
}

/// A layer's uncompressed tar, assembled from its pieces in order.
struct Assembler<'a, S> {
    layer: LayerTar,
    next: usize,
    chunks: &'a [ChunkEntry],
    store: S,
    check: bool,
    bases: Shared<'a>,
    current: Current,
}

enum Current {
    None,
    Chunk(Vec<u8>, usize),
    Base {
        reader: Box<dyn Read + Send>,
        left: u64,
        hash: Box<Hasher>,
        piece: usize,
    },
}

impl<S: ChunkStore> Assembler<'_, S> {
    /// Opens the next piece; false at the end of the tar.
    fn open_next(&mut self) -> io::Result<bool> {
        let Some(piece) = self.layer.pieces.get(self.next).cloned() else {
            return Ok(false);
        };
        self.current = match piece {
            TarPiece::Chunk { chunk } => {
                let c = chunk_entry(self.chunks, chunk)?;
                Current::Chunk(self.store.chunk(c, self.check).map_err(invalid)?, 0)
            }
            TarPiece::Base {
                base,
                offset,
                length,
                digest,
            } => {
                let layer = &self.layer.bases[base as usize];
                let reader = self
                    .bases
                    .lock()
                    .and_then(|mut b| b.read_range(layer, offset, length))
                    .map_err(|e| {
                        invalid(BundleError::BaseRange {
                            layer: layer.clone(),
                            offset,
                            length,
                            reason: format!("cannot be read: {e}"),
                        })
                    })?;
                Current::Base {
                    reader,
                    left: length,
                    hash: Box::new(digest.hasher()),
                    piece: self.next,
                }
            }
        };
        self.next += 1;
        Ok(true)
    }

    fn base_error(&self, piece: usize, reason: String) -> io::Error {
        match &self.layer.pieces[piece] {
            TarPiece::Base {
                base,
                offset,
                length,
                ..
            } => invalid(BundleError::BaseRange {
                layer: self.layer.bases[*base as usize].clone(),
                offset: *offset,
                length: *length,
                reason,
            }),
            TarPiece::Chunk { .. } => io::Error::other(reason),
        }
    }
}

impl<S: ChunkStore> Read for Assembler<'_, S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            match &mut self.current {
                Current::None => {
                    if !self.open_next()? {
                        return Ok(0);
                    }
                }
                Current::Chunk(buf, pos) => {
                    if *pos == buf.len() {
                        self.current = Current::None;
                        continue;
                    }
                    let n = out.len().min(buf.len() - *pos);
                    out[..n].copy_from_slice(&buf[*pos..*pos + n]);
                    *pos += n;
                    return Ok(n);
                }
                Current::Base {
                    reader,
                    left,
                    hash,
                    piece,
                } => {
                    if *left == 0 {
                        let piece = *piece;
                        let Current::Base { hash, .. } =
                            std::mem::replace(&mut self.current, Current::None)
                        else {
                            unreachable!()
                        };
                        let got = hash.finish();
                        let want = match &self.layer.pieces[piece] {
                            TarPiece::Base { digest, .. } => digest.clone(),
                            TarPiece::Chunk { .. } => unreachable!(),
                        };
                        if got != want {
                            return Err(
                                self.base_error(piece, format!("hash to {got}, not {want}"))
                            );
                        }
                        continue;
                    }
                    let want = out.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    let n = reader.read(&mut out[..want])?;
                    if n == 0 {
                        let (piece, left) = (*piece, *left);
                        return Err(self.base_error(piece, format!("end {left} bytes early")));
                    }
                    hash.update(&out[..n]);
                    *left -= n as u64;
                    return Ok(n);
                }
            }
        }
    }
}
