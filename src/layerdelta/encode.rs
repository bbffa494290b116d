//! The packer's side: plan one changed layer as base ranges, new bytes and a proven recipe.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cut::TarCutter;
use super::places::Places;
use super::streams::{plan_streams, ParsedBase, ParsedBases, StreamIndex};
use super::LayerDeltaError;
use crate::bundle::{WholeCode, WholeLayer};
use crate::model::{Digest, DigestAlgorithm, Hasher};
use crate::regen::shape::{parse_gzip, SHAPE_ENGINE};
use crate::regen::{self, Recipe, RecipePiece};

/// New tar bytes that follow each other are stored as chunks of at most this size (1 MiB).
pub const NEW_CHUNK_MAX: u64 = 1 << 20;

/// A recipe larger than this share of the blob is not worth carrying: ship the whole blob.
pub const MAX_RECIPE_SHARE: f64 = 0.5;

/// A layer the site already holds, offered as a source of unchanged tar pieces.
pub struct BaseCandidate {
    /// The base layer's blob digest (what a `gzip-tar` blob names it by).
    pub digest: Digest,
    /// Its blob (compressed or not; see [`super::decompress`]).
    pub blob: Box<dyn Read + Send>,
}

/// What [`encode_layer`] decided.
pub enum Encoded {
    /// Carry the layer as a `gzip-tar` blob.
    Delta(Box<LayerPlan>),
    /// Carry the whole blob, for this reason.
    Whole(WholeReason),
}

/// Why a layer is shipped whole rather than as a `gzip-tar` blob (stored in the root and shown
/// by `inspect`, [`WholeReason::to_whole`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WholeReason {
    /// The layer is not gzip (zstd, or not compressed).
    NotGzip(String),
    /// The uncompressed layer is larger than the engine analyses.
    TooLarge(String),
    /// The layer cannot be analysed (several gzip members, malformed gzip, or a piece the
    /// engine cannot model).
    NotRegenerable(String),
    /// The rebuild from the recipe did not reproduce the layer's bytes.
    NotExact(String),
    /// The reconstruction data is more than half the blob.
    RecipeTooLarge {
        /// Reconstruction data bytes.
        recipe: u64,
        /// The blob's size.
        blob: u64,
    },
    /// No base layer could be read (each one named, with why).
    BasesUnreadable(String),
    /// No piece of the layer's tar is in any base layer.
    NoSharedContent {
        /// The base layers compared.
        bases: usize,
    },
    /// New bytes plus reconstruction data would not be smaller than the blob.
    NoSaving {
        /// What the `gzip-tar` encoding would carry.
        delta: u64,
        /// The blob's size.
        blob: u64,
    },
}

impl WholeReason {
    /// The reason's code as the root records it (SPEC.md §4.3 `whole`).
    pub fn code(&self) -> WholeCode {
        match self {
            WholeReason::NotGzip(_) => WholeCode::NotGzip,
            WholeReason::TooLarge(_) => WholeCode::TooLarge,
            WholeReason::NotRegenerable(_) => WholeCode::NotRegenerable,
            WholeReason::NotExact(_) => WholeCode::NotExact,
            WholeReason::RecipeTooLarge { .. } => WholeCode::RecipeTooLarge,
            WholeReason::BasesUnreadable(_) => WholeCode::BaseUnreadable,
            WholeReason::NoSharedContent { .. } => WholeCode::NoSharedContent,
            WholeReason::NoSaving { .. } => WholeCode::NoSaving,
        }
    }

    /// The reason as the root records it: its code and these words.
    pub fn to_whole(&self) -> WholeLayer {
        WholeLayer::new(self.code(), self.to_string())
    }
}

impl fmt::Display for WholeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WholeReason::NotGzip(m) | WholeReason::TooLarge(m) => write!(f, "{m}"),
            WholeReason::NotRegenerable(m) => write!(f, "cannot be regenerated: {m}"),
            WholeReason::NotExact(m) => write!(f, "regeneration is not exact: {m}"),
            WholeReason::RecipeTooLarge { recipe, blob } => write!(
                f,
                "reconstruction data ({recipe} bytes) is over half the blob ({blob} bytes)"
            ),
            WholeReason::BasesUnreadable(m) => write!(f, "no base layer could be read: {m}"),
            WholeReason::NoSharedContent { bases } => write!(
                f,
                "none of its tar is in the {bases} base layer(s) compared"
            ),
            WholeReason::NoSaving { delta, blob } => write!(
                f,
                "the delta ({delta} bytes) would not be smaller than the blob ({blob} bytes)"
            ),
        }
    }
}

/// One piece of the planned tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedPiece {
    /// Bytes `offset..offset + length` of the new tar, to store in the bundle.
    New {
        /// Offset in the new tar.
        offset: u64,
        /// Length.
        length: u64,
        /// SHA-256 of the bytes.
        digest: Digest,
    },
    /// A range of base layer number `base` (in [`LayerPlan::bases`]).
    Base {
        /// Index into [`LayerPlan::bases`].
        base: u32,
        /// Offset in the base layer's uncompressed content.
        offset: u64,
        /// Length.
        length: u64,
        /// SHA-256 of the bytes.
        digest: Digest,
    },
}

/// A layer planned as a `gzip-tar` blob, its recipe proven. It holds the new tar in a
/// temporary file (deleted when the plan is dropped) until it is stored
/// ([`super::store_layer`]) or spooled ([`super::spool_layer`]).
pub struct LayerPlan {
    /// The proven reconstruction data.
    pub recipe: Recipe,
    /// The base layers the pieces use, by position.
    pub bases: Vec<Digest>,
    /// The new tar's pieces in order.
    pub pieces: Vec<PlannedPiece>,
    /// Base layers that could not be read, and why (their pieces were not used).
    pub skipped_bases: Vec<(Digest, String)>,
    /// Time spent analysing the layer (decompression included).
    pub analysis_time: Duration,
    /// Time spent proving the recipe (the full rebuild).
    pub prove_time: Duration,
    pub(super) tar: tempfile::NamedTempFile,
}

impl LayerPlan {
    /// Tar bytes the bundle must carry.
    pub fn new_bytes(&self) -> u64 {
        self.sum(|p| matches!(p, PlannedPiece::New { .. }))
    }

    /// Tar bytes taken from base layers.
    pub fn base_bytes(&self) -> u64 {
        self.sum(|p| matches!(p, PlannedPiece::Base { .. }))
    }

    /// Bytes of reconstruction data.
    pub fn recipe_bytes(&self) -> u64 {
        self.recipe.encoded_len() as u64
    }

    fn sum(&self, f: impl Fn(&PlannedPiece) -> bool) -> u64 {
        self.pieces
            .iter()
            .filter(|p| f(p))
            .map(|p| match p {
                PlannedPiece::New { length, .. } | PlannedPiece::Base { length, .. } => *length,
            })
            .sum()
    }

    /// Reads `length` bytes at `offset` of the new tar.
    pub(super) fn read_new(&self, offset: u64, length: u64) -> io::Result<Vec<u8>> {
        let mut f = self.tar.reopen()?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0u8; length as usize];
        f.read_exact(&mut buf)?;
        Ok(buf)
    }
}

/// Plans the changed layer `layer` (its blob, whose digest is `digest`) against `bases`, with
/// the token-shape engine (`ferry-deflate-shape-1`, SPEC.md §4.8.1).
///
/// The layer is parsed into its tar and its blocks and shape streams, spooled to temporary
/// files in `spool_dir`; each base is parsed the same way once, its tar cut and its streams
/// chunked, keeping only the pieces' digests and places (memory: about 100 bytes per piece).
/// The tar is planned as base ranges and new bytes, the streams as base ranges and inline
/// bytes (the reconstruction data), and the recipe is proven by rebuilding the layer from the
/// spooled tar and the bases' streams and comparing the digest. Temporary disk: the
/// uncompressed size of the layer and of its bases, and their streams (about a third more),
/// until the plan is dropped. A base that cannot be read is skipped and named in the plan.
/// Every way of not being exact is a [`WholeReason`]; errors are I/O failures of the layer or
/// the spool.
pub fn encode_layer(
    layer: impl Read,
    digest: &Digest,
    bases: Vec<BaseCandidate>,
    spool_dir: &Path,
) -> Result<Encoded, LayerDeltaError> {
    let io_err = |source: io::Error| LayerDeltaError::Io {
        layer: digest.clone(),
        source,
    };
    let temp = |what: &str| {
        tempfile::Builder::new()
            .prefix(&format!("ferry-layer-{what}-"))
            .tempfile_in(spool_dir)
            .map_err(io_err)
    };
    let (tar, blocks, shape) = (temp("tar")?, temp("blocks")?, temp("shape")?);
    let started = Instant::now();
    let parsed = {
        fn w(f: &tempfile::NamedTempFile) -> BufWriter<&File> {
            BufWriter::with_capacity(1 << 20, f.as_file())
        }
        match parse_gzip(layer, w(&tar), w(&blocks), w(&shape)) {
            Ok(p) => p,
            Err(regen::RegenError::Io(e)) => return Err(io_err(e)),
            Err(e @ regen::RegenError::NotGzip(_)) => {
                return Ok(Encoded::Whole(WholeReason::NotGzip(e.to_string())))
            }
            Err(e) => return Ok(Encoded::Whole(WholeReason::NotRegenerable(e.to_string()))),
        }
    };
    if &parsed.layer_digest != digest {
        return Err(io_err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the layer's bytes hash to {}", parsed.layer_digest),
        )));
    }

    let mut index = Places::default();
    let mut stream_index = StreamIndex::default();
    let mut base_digests = Vec::new();
    let mut parsed_bases = HashMap::new();
    let mut skipped_bases = Vec::new();
    for b in bases {
        let n = base_digests.len() as u32;
        let spooled = ParsedBase::spool(b.blob, spool_dir).and_then(|p| {
            index_base(p.range(None, 0, u64::MAX)?, n, &mut index)?;
            stream_index.add(n, &p)?;
            Ok(p)
        });
        match spooled {
            Ok(p) => {
                parsed_bases.insert(b.digest.clone(), Arc::new(p));
                base_digests.push(b.digest);
            }
            Err(e) => {
                index.remove_base(n);
                stream_index.remove(n);
                skipped_bases.push((b.digest, e.to_string()));
            }
        }
    }
    let pieces = plan_pieces(tar.reopen().map_err(io_err)?, &index).map_err(io_err)?;
    let data = {
        let mut b = BufReader::with_capacity(1 << 20, blocks.reopen().map_err(io_err)?);
        let mut s = BufReader::with_capacity(1 << 20, shape.reopen().map_err(io_err)?);
        plan_streams([&mut b, &mut s], &stream_index, &base_digests).map_err(io_err)?
    };
    let analysis_time = started.elapsed();
    let recipe = Recipe {
        engine: SHAPE_ENGINE.to_string(),
        layer_digest: parsed.layer_digest,
        layer_size: parsed.layer_size,
        tar_digest: parsed.tar_digest,
        tar_size: parsed.tar_size,
        header: parsed.header,
        trailer: parsed.trailer,
        pieces: vec![RecipePiece {
            plain_len: parsed.tar_size,
            data: data.to_bytes(),
        }],
    };
    let recipe_len = recipe.encoded_len() as u64;
    if recipe_len as f64 > recipe.layer_size as f64 * MAX_RECIPE_SHARE {
        return Ok(Encoded::Whole(WholeReason::RecipeTooLarge {
            recipe: recipe_len,
            blob: recipe.layer_size,
        }));
    }
    let started = Instant::now();
    let spooled = BufReader::with_capacity(1 << 20, tar.reopen().map_err(io_err)?);
    let streams = ParsedBases(parsed_bases).shared();
    if let Err(e) = regen::prove_with(&recipe, spooled, streams) {
        return Ok(Encoded::Whole(WholeReason::NotExact(e.to_string())));
    }
    let prove_time = started.elapsed();

    // Only the bases some piece or stream segment uses are named, renumbered in order of
    // first use (a push checks that each is in the target).
    let mut used: Vec<Option<u32>> = vec![None; base_digests.len()];
    let mut bases = Vec::new();
    let mut use_base = |base: usize| {
        *used[base].get_or_insert_with(|| {
            bases.push(base_digests[base].clone());
            bases.len() as u32 - 1
        })
    };
    let pieces: Vec<PlannedPiece> = pieces
        .into_iter()
        .map(|p| match p {
            PlannedPiece::Base {
                base,
                offset,
                length,
                digest,
            } => PlannedPiece::Base {
                base: use_base(base as usize),
                offset,
                length,
                digest,
            },
            new => new,
        })
        .collect();
    for layer in data.base_layers() {
        if let Some(i) = base_digests.iter().position(|d| d == &layer) {
            use_base(i);
        }
    }
    let plan = LayerPlan {
        recipe,
        bases,
        pieces,
        skipped_bases,
        analysis_time,
        prove_time,
        tar,
    };
    if base_digests.is_empty() && !plan.skipped_bases.is_empty() {
        let why: Vec<String> = plan
            .skipped_bases
            .iter()
            .map(|(d, e)| format!("{d} ({e})"))
            .collect();
        return Ok(Encoded::Whole(WholeReason::BasesUnreadable(why.join("; "))));
    }
    if plan.bases.is_empty() {
        return Ok(Encoded::Whole(WholeReason::NoSharedContent {
            bases: base_digests.len(),
        }));
    }
    let delta = plan.new_bytes() + plan.recipe_bytes();
    if delta >= plan.recipe.layer_size {
        return Ok(Encoded::Whole(WholeReason::NoSaving {
            delta,
            blob: plan.recipe.layer_size,
        }));
    }
    Ok(Encoded::Delta(Box::new(plan)))
}

/// Adds the pieces of one base layer to `index`.
fn index_base(tar: Box<dyn Read + Send>, base: u32, index: &mut Places) -> io::Result<()> {
    let mut cutter = TarCutter::new(BufReader::with_capacity(1 << 20, tar));
    while let Some(p) = cutter.next_piece()? {
        index.add(Digest::sha256_of(&p.data), (base, p.offset));
    }
    Ok(())
}

/// A run of pieces that becomes one planned piece.
struct Run {
    base: Option<u32>,
    /// Offset in the base (for a base run) or in the new tar.
    offset: u64,
    length: u64,
    hash: Hasher,
}

impl Run {
    fn finish(self) -> PlannedPiece {
        let digest = self.hash.finish();
        match self.base {
            Some(base) => PlannedPiece::Base {
                base,
                offset: self.offset,
                length: self.length,
                digest,
            },
            None => PlannedPiece::New {
                offset: self.offset,
                length: self.length,
                digest,
            },
        }
    }
}

/// Cuts the new tar and joins its pieces into runs: consecutive ranges of one base, or new
/// bytes up to [`NEW_CHUNK_MAX`].
fn plan_pieces(tar: File, index: &Places) -> io::Result<Vec<PlannedPiece>> {
    let mut cutter = TarCutter::new(BufReader::with_capacity(1 << 20, tar));
    let mut out = Vec::new();
    let mut run: Option<Run> = None;
    while let Some(p) = cutter.next_piece()? {
        let len = p.data.len() as u64;
        // A base run goes on where the base holds the piece right after it.
        let next = run
            .as_ref()
            .and_then(|r| r.base.map(|b| (b, r.offset + r.length)));
        let hit = index.find(&Digest::sha256_of(&p.data), next);
        let extends = match (&run, hit) {
            (Some(r), Some((b, off))) => r.base == Some(b) && r.offset + r.length == off,
            (Some(r), None) => r.base.is_none() && r.length + len <= NEW_CHUNK_MAX,
            (None, _) => false,
        };
        if !extends {
            if let Some(r) = run.take() {
                out.push(r.finish());
            }
            run = Some(Run {
                base: hit.map(|(b, _)| b),
                offset: hit.map_or(p.offset, |(_, off)| off),
                length: 0,
                hash: Hasher::new(DigestAlgorithm::Sha256),
            });
        }
        let r = run.as_mut().expect("a run is open");
        r.length += len;
        r.hash.update(&p.data);
    }
    if let Some(r) = run {
        out.push(r.finish());
    }
    Ok(out)
}
