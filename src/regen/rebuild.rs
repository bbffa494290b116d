//! Rebuild: a [`Recipe`] and the uncompressed content in, the exact gzip layer out.

use std::borrow::Borrow;
use std::io::{self, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use preflate_rs::RecreateStreamProcessor;

use super::recipe::{Recipe, ENGINE};
use super::shape::{BaseStreams, ShapeRebuilder, SharedStreams, StreamKind, SHAPE_ENGINE};
use super::RegenError;
use crate::model::{DigestAlgorithm, Hasher};

/// Rebuilds a layer piece by piece: each call to [`Rebuilder::next_bytes`] hands out the next
/// bytes of the gzip layer (the header, then one analysis piece's DEFLATE bytes at a time, then
/// the trailer).
///
/// The output is hashed as it goes, and the content read is hashed and counted too. The
/// trailer, the last 8 bytes, is handed out only after the whole layer has been checked against
/// the recipe's layer digest (and the content against its tar digest): damaged reconstruction
/// data or the wrong content ends in an error, never in a complete wrong layer.
///
/// `Q` is the recipe, owned or borrowed.
pub struct Rebuilder<Q, R> {
    recipe: Q,
    tar: R,
    engine: RecreateStreamProcessor,
    next_piece: usize,
    started: bool,
    done: bool,
    out_hash: Option<Hasher>,
    tar_hash: Option<Hasher>,
    written: u64,
}

impl<Q: Borrow<Recipe>, R: Read> Rebuilder<Q, R> {
    /// A rebuild of `recipe`'s layer from `tar`, its uncompressed content. A recipe written by
    /// another engine is refused here ([`RegenError::WrongEngine`]).
    pub fn new(recipe: Q, tar: R) -> Result<Self, RegenError> {
        let r = recipe.borrow();
        if r.engine != ENGINE {
            return Err(RegenError::WrongEngine {
                found: r.engine.clone(),
            });
        }
        let algorithm = r.layer_digest.algorithm();
        Ok(Rebuilder {
            recipe,
            tar,
            engine: RecreateStreamProcessor::new(),
            next_piece: 0,
            started: false,
            done: false,
            out_hash: Some(Hasher::new(algorithm)),
            tar_hash: Some(Hasher::new(DigestAlgorithm::Sha256)),
            written: 0,
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
        } else if let Some(piece) = self.recipe.borrow().pieces.get(self.next_piece).cloned() {
            self.next_piece += 1;
            // The engine copies the piece into its own buffer as it reads: the content goes
            // from `tar` through the hasher straight into it, never a second copy here.
            let mut text = io::BufReader::with_capacity(
                READ_SIZE,
                HashingTake {
                    inner: (&mut self.tar).take(piece.plain_len),
                    hash: self.tar_hash.as_mut().expect("until done"),
                    read: 0,
                    error: None,
                },
            );
            let engine = &mut self.engine;
            let offset = self.written;
            let result = catch_unwind(AssertUnwindSafe(|| {
                engine.recompress(&mut text, &piece.data)
            }));
            let read = text.get_ref().read;
            if let Some(e) = text.get_mut().error.take() {
                return Err(RegenError::Io(e));
            }
            if read != piece.plain_len {
                return Err(RegenError::TarMismatch(format!(
                    "the content ends before the {} bytes the recipe covers",
                    self.recipe.borrow().tar_size
                )));
            }
            match result {
                Ok(Ok((bytes, _blocks))) => bytes,
                Ok(Err(e)) => {
                    return Err(RegenError::Engine {
                        offset,
                        message: e.to_string(),
                    })
                }
                Err(_) => {
                    return Err(RegenError::Engine {
                        offset,
                        message: "the engine panicked (damaged reconstruction data?)".into(),
                    })
                }
            }
        } else {
            self.finish_checks()?;
            self.done = true;
            let trailer = self.recipe.borrow().trailer.to_vec();
            self.written += trailer.len() as u64;
            return Ok(Some(trailer));
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
        let mut extra = [0u8; 1];
        if self.tar.read(&mut extra)? != 0 {
            return Err(RegenError::TarMismatch(format!(
                "the content is longer than the {} bytes the recipe covers",
                self.recipe.borrow().tar_size
            )));
        }
        let tar = self.tar_hash.take().expect("once").finish();
        if tar != self.recipe.borrow().tar_digest {
            return Err(RegenError::TarMismatch(format!(
                "it hashes to {tar}, the recipe was made for {}",
                self.recipe.borrow().tar_digest
            )));
        }
        check_layer(
            self.out_hash.take().expect("once"),
            self.recipe.borrow(),
            self.written,
        )
    }
}

/// Checks a rebuilt layer before its trailer is handed out: `out_hash` holds the `written`
/// bytes before the trailer; with the trailer they must hash to the recipe's layer digest and
/// add up to its size.
pub(super) fn check_layer(
    mut out_hash: Hasher,
    recipe: &Recipe,
    written: u64,
) -> Result<(), RegenError> {
    out_hash.update(&recipe.trailer);
    let got = out_hash.finish();
    let size = written + recipe.trailer.len() as u64;
    if got != recipe.layer_digest || size != recipe.layer_size {
        return Err(RegenError::DigestMismatch {
            expected: recipe.layer_digest.clone(),
            got,
        });
    }
    Ok(())
}

/// How much content is read at a time into the engine.
const READ_SIZE: usize = 1 << 20;

/// The next `plain_len` bytes of the content, hashed and counted as the engine reads them. A
/// read error is kept whole (the engine would reduce it to a message) and reported as I/O.
struct HashingTake<'h, R> {
    inner: io::Take<R>,
    hash: &'h mut Hasher,
    read: u64,
    error: Option<io::Error>,
}

impl<R: Read> Read for HashingTake<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(out) {
            Ok(n) => {
                self.hash.update(&out[..n]);
                self.read += n as u64;
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                self.error = Some(e);
                Err(io::Error::new(kind, "reading the content failed"))
            }
        }
    }
}

/// Rebuilds `recipe`'s layer from `tar` into `out` and returns its length. The layer is
/// checked against the recipe's digest before its last 8 bytes are written.
pub fn rebuild(recipe: &Recipe, tar: impl Read, mut out: impl Write) -> Result<u64, RegenError> {
    let mut r = Rebuilder::new(recipe, tar)?;
    while let Some(bytes) = r.next_bytes()? {
        out.write_all(&bytes)?;
    }
    out.flush()?;
    Ok(r.written())
}

/// Proves a recipe before anyone relies on it: rebuilds the layer from `tar` exactly as a
/// receiver will and checks it against the recipe's layer digest and size.
pub fn prove(recipe: &Recipe, tar: impl Read) -> Result<(), RegenError> {
    rebuild(recipe, tar, io::sink()).map(|_| ())
}

/// A rebuild by whichever engine the recipe names: [`Rebuilder`] for [`ENGINE`],
/// [`ShapeRebuilder`] for [`SHAPE_ENGINE`] (which needs the base layers' streams); read it as a
/// stream of the layer's bytes, or pull them with [`LayerRebuild::next_bytes`].
pub struct LayerRebuild<'s, Q, R> {
    engine: Engine<'s, Q, R>,
    // The Read adapter's current output.
    buf: Vec<u8>,
    pos: usize,
}

enum Engine<'s, Q, R> {
    Preflate(Box<Rebuilder<Q, R>>),
    Shape(Box<ShapeRebuilder<'s, Q, R>>),
}

impl<'s, Q: Borrow<Recipe>, R: Read> LayerRebuild<'s, Q, R> {
    /// A rebuild of `recipe`'s layer from `tar`; `streams` gives base layers' streams to a
    /// shape recipe. A recipe of an engine this ferry does not implement is refused.
    pub fn new(recipe: Q, tar: R, streams: SharedStreams<'s>) -> Result<Self, RegenError> {
        let engine = if recipe.borrow().engine == SHAPE_ENGINE {
            Engine::Shape(Box::new(ShapeRebuilder::new(recipe, tar, streams)?))
        } else {
            Engine::Preflate(Box::new(Rebuilder::new(recipe, tar)?))
        };
        Ok(LayerRebuild {
            engine,
            buf: Vec::new(),
            pos: 0,
        })
    }

    /// The next bytes of the layer, or `None` once all of it (checked) has been handed out.
    pub fn next_bytes(&mut self) -> Result<Option<Vec<u8>>, RegenError> {
        match &mut self.engine {
            Engine::Preflate(r) => r.next_bytes(),
            Engine::Shape(r) => r.next_bytes(),
        }
    }

    /// Bytes of layer handed out so far.
    pub fn written(&self) -> u64 {
        match &self.engine {
            Engine::Preflate(r) => r.written(),
            Engine::Shape(r) => r.written(),
        }
    }
}

impl<Q: Borrow<Recipe>, R: Read> Read for LayerRebuild<'_, Q, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.next_bytes() {
                Ok(Some(bytes)) => {
                    self.buf = bytes;
                    self.pos = 0;
                }
                Ok(None) => return Ok(0),
                Err(RegenError::Io(e)) => return Err(e),
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Base streams for rebuilds that need none (a preflate recipe); a shape recipe rebuilt with
/// them fails on its first base segment.
pub fn no_streams<'s>() -> SharedStreams<'s> {
    struct NoStreams;
    impl BaseStreams for NoStreams {
        fn open_stream(
            &mut self,
            layer: &crate::model::Digest,
            _: StreamKind,
            _: u64,
            _: u64,
        ) -> io::Result<Box<dyn Read + Send>> {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("base layer {layer} is not available here"),
            ))
        }
    }
    std::sync::Arc::new(std::sync::Mutex::new(NoStreams))
}

/// [`prove`] for a recipe of either engine: rebuilds the layer from `tar` (and, for a shape
/// recipe, the base streams) and checks it against the recipe's digest and size.
pub fn prove_with(
    recipe: &Recipe,
    tar: impl Read,
    streams: SharedStreams<'_>,
) -> Result<(), RegenError> {
    let mut r = LayerRebuild::new(recipe, tar, streams)?;
    while r.next_bytes()?.is_some() {}
    Ok(())
}
