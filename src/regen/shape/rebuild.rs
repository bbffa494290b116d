//! [`ShapeRebuilder`]: a `ferry-deflate-shape-1` recipe, the layer's content and the base
//! layers' streams in; the exact gzip layer out, checked before its last bytes.

use std::borrow::Borrow;
use std::io::{self, BufReader, Read};

use super::encode::ShapeEncoder;
use super::segments::{BaseStreamError, SegmentReader, ShapeData, SharedStreams, StreamKind};
use super::SHAPE_ENGINE;
use crate::model::{DigestAlgorithm, Hasher};
use crate::regen::rebuild::check_layer;
use crate::regen::{Recipe, RegenError};

type Encoder<'s, R> =
    ShapeEncoder<BufReader<SegmentReader<'s>>, BufReader<SegmentReader<'s>>, BufReader<Hashing<R>>>;

/// Rebuilds a layer from a shape recipe: the header, then the DEFLATE bytes a few blocks at a
/// time, then (once the layer hashes to the recipe's digest and the content to its tar
/// digest) the trailer. `Q` is the recipe, owned or borrowed.
pub struct ShapeRebuilder<'s, Q, R> {
    recipe: Q,
    encoder: Encoder<'s, R>,
    started: bool,
    done: bool,
    out_hash: Option<Hasher>,
    written: u64,
    // The base layers the streams come from, for messages.
    bases: Vec<String>,
}

impl<'s, Q: Borrow<Recipe>, R: Read> ShapeRebuilder<'s, Q, R> {
    /// A rebuild of `recipe`'s layer from `tar`, with the base streams from `streams`. A
    /// recipe of another engine, or whose engine data does not parse, is refused.
    pub fn new(recipe: Q, tar: R, streams: SharedStreams<'s>) -> Result<Self, RegenError> {
        let r = recipe.borrow();
        if r.engine != SHAPE_ENGINE {
            return Err(RegenError::WrongEngine {
                found: r.engine.clone(),
            });
        }
        let [piece] = &r.pieces[..] else {
            return Err(RegenError::BadRecipe(format!(
                "a {SHAPE_ENGINE} recipe has one piece, not {}",
                r.pieces.len()
            )));
        };
        if piece.plain_len != r.tar_size {
            return Err(RegenError::BadRecipe(
                "the piece does not cover the content".into(),
            ));
        }
        let data = ShapeData::from_bytes(&piece.data)?;
        let bases = data.base_layers().iter().map(|d| d.to_string()).collect();
        let blocks = SegmentReader::new(StreamKind::Blocks, data.blocks, streams.clone());
        let shape = SegmentReader::new(StreamKind::Shape, data.shape, streams);
        let tar = Hashing {
            inner: tar,
            hash: Hasher::new(DigestAlgorithm::Sha256),
            read: 0,
        };
        let algorithm = r.layer_digest.algorithm();
        Ok(ShapeRebuilder {
            encoder: ShapeEncoder::new(
                BufReader::with_capacity(64 << 10, blocks),
                BufReader::with_capacity(256 << 10, shape),
                BufReader::with_capacity(1 << 20, tar),
            ),
            recipe,
            started: false,
            done: false,
            out_hash: Some(Hasher::new(algorithm)),
            written: 0,
            bases,
        })
    }

    /// The next bytes of the layer, or `None` once all of it (checked) has been handed out.
    pub fn next_bytes(&mut self) -> Result<Option<Vec<u8>>, RegenError> {
        if self.done {
            return Ok(None);
        }
        let out = if !self.started {
            self.started = true;
            self.recipe.borrow().header.clone()
        } else {
            match self.encoder.next_bytes() {
                Ok(Some(b)) => b,
                Ok(None) => {
                    self.finish_checks()?;
                    self.done = true;
                    let trailer = self.recipe.borrow().trailer.to_vec();
                    self.written += trailer.len() as u64;
                    return Ok(Some(trailer));
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    let base = e
                        .get_ref()
                        .and_then(|x| x.downcast_ref::<BaseStreamError>());
                    return Err(match base {
                        Some(b) => RegenError::BaseStream(b.0.clone()),
                        None if !self.bases.is_empty() => RegenError::BaseStream(format!(
                            "{e}: the streams are assembled from base layer(s) {}; one is not \
                             the layer the bundle was made against, or the reconstruction data \
                             is damaged",
                            self.bases.join(", ")
                        )),
                        None => RegenError::TarMismatch(e.to_string()),
                    });
                }
                Err(e) => return Err(RegenError::Io(e)),
            }
        };
        self.out_hash.as_mut().expect("until done").update(&out);
        self.written += out.len() as u64;
        Ok(Some(out))
    }

    /// Bytes of layer handed out so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn finish_checks(&mut self) -> Result<(), RegenError> {
        let recipe = self.recipe.borrow();
        let tar = self.encoder.tar_mut();
        let mut extra = [0u8; 1];
        if tar.read(&mut extra)? != 0 {
            return Err(RegenError::TarMismatch(format!(
                "the content is longer than the {} bytes the recipe covers",
                recipe.tar_size
            )));
        }
        let inner = tar.get_mut();
        let got = std::mem::replace(&mut inner.hash, Hasher::new(DigestAlgorithm::Sha256));
        let (got, read) = (got.finish(), inner.read);
        if got != recipe.tar_digest || read != recipe.tar_size {
            return Err(RegenError::TarMismatch(format!(
                "it hashes to {got}, the recipe was made for {}",
                recipe.tar_digest
            )));
        }
        check_layer(self.out_hash.take().expect("once"), recipe, self.written)
    }
}

/// The content, hashed and counted as it is read.
struct Hashing<R> {
    inner: R,
    hash: Hasher,
    read: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.hash.update(&out[..n]);
        self.read += n as u64;
        Ok(n)
    }
}
