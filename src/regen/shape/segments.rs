//! The engine data of a `ferry-deflate-shape-1` recipe: where each of the layer's two streams
//! comes from ([`ShapeData`]), and a reader that assembles a stream from its [`Segment`]s.
//!
//! Layout (integers little-endian): the base layers, then for the blocks stream and then the
//! shape stream its SHA-256 and its segments:
//!
//! ```text
//! u16 base count, then per base: u16 length + UTF-8 digest of the base layer
//! twice (blocks, shape): 32 bytes SHA-256 of the whole stream, u32 segment count, then per
//! segment:
//!   u8 0 (inline): u32 length + the bytes
//!   u8 1 (base):   u16 base index, u64 offset, u64 length
//! ```

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use crate::model::{Digest, DigestAlgorithm, Hasher};
use crate::regen::RegenError;

/// Which stream of a base layer a segment refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// The blocks stream.
    Blocks,
    /// The shape stream.
    Shape,
}

/// One piece of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Bytes carried in the recipe.
    Inline(Vec<u8>),
    /// Bytes `offset..offset + length` of the same stream of base layer `layer`.
    Base {
        /// The base layer's blob digest.
        layer: Digest,
        /// Offset in its stream.
        offset: u64,
        /// Length.
        length: u64,
    },
}

/// One stream: its SHA-256 and where its bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPlan {
    /// SHA-256 of the whole stream.
    pub digest: Digest,
    /// Its segments, in order.
    pub segments: Vec<Segment>,
}

impl Default for StreamPlan {
    fn default() -> Self {
        StreamPlan {
            digest: Digest::sha256_of(b""),
            segments: Vec::new(),
        }
    }
}

/// Where a layer's blocks stream and shape stream come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShapeData {
    /// The blocks stream.
    pub blocks: StreamPlan,
    /// The shape stream.
    pub shape: StreamPlan,
}

impl ShapeData {
    /// The bytes of the module documentation's layout.
    pub fn to_bytes(&self) -> Vec<u8> {
        let bases = self.base_layers();
        let mut out = Vec::new();
        out.extend_from_slice(&(bases.len() as u16).to_le_bytes());
        for b in &bases {
            let l = b.to_string();
            out.extend_from_slice(&(l.len() as u16).to_le_bytes());
            out.extend_from_slice(l.as_bytes());
        }
        for plan in [&self.blocks, &self.shape] {
            out.extend_from_slice(&digest_bytes(&plan.digest));
            out.extend_from_slice(&(plan.segments.len() as u32).to_le_bytes());
            for s in &plan.segments {
                match s {
                    Segment::Inline(b) => {
                        out.push(0);
                        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                        out.extend_from_slice(b);
                    }
                    Segment::Base {
                        layer,
                        offset,
                        length,
                    } => {
                        out.push(1);
                        let i = bases.iter().position(|b| b == layer).expect("listed");
                        out.extend_from_slice(&(i as u16).to_le_bytes());
                        out.extend_from_slice(&offset.to_le_bytes());
                        out.extend_from_slice(&length.to_le_bytes());
                    }
                }
            }
        }
        out
    }

    /// Parses [`ShapeData::to_bytes`]'s layout.
    pub fn from_bytes(mut b: &[u8]) -> Result<ShapeData, RegenError> {
        let n = u16::from_le_bytes(take(&mut b, 2)?.try_into().expect("2"));
        let mut bases = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let len = u16::from_le_bytes(take(&mut b, 2)?.try_into().expect("2"));
            let layer = std::str::from_utf8(take(&mut b, len as usize)?)
                .ok()
                .and_then(|s| s.parse::<Digest>().ok())
                .ok_or_else(|| bad("a base layer digest does not parse"))?;
            bases.push(layer);
        }
        let mut plans = [StreamPlan::default(), StreamPlan::default()];
        for plan in &mut plans {
            let hex: String = take(&mut b, 32)?
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect();
            plan.digest = format!("sha256:{hex}")
                .parse::<Digest>()
                .map_err(|_| bad("a stream digest does not parse"))?;
            let n = u32::from_le_bytes(take(&mut b, 4)?.try_into().expect("4"));
            for _ in 0..n {
                let tag = take(&mut b, 1)?[0];
                plan.segments.push(match tag {
                    0 => {
                        let len = u32::from_le_bytes(take(&mut b, 4)?.try_into().expect("4"));
                        Segment::Inline(take(&mut b, len as usize)?.to_vec())
                    }
                    1 => {
                        let i = u16::from_le_bytes(take(&mut b, 2)?.try_into().expect("2"));
                        let layer = bases
                            .get(i as usize)
                            .cloned()
                            .ok_or_else(|| bad(&format!("base index {i} out of range")))?;
                        let offset = u64::from_le_bytes(take(&mut b, 8)?.try_into().expect("8"));
                        let length = u64::from_le_bytes(take(&mut b, 8)?.try_into().expect("8"));
                        Segment::Base {
                            layer,
                            offset,
                            length,
                        }
                    }
                    t => return Err(bad(&format!("segment tag {t}"))),
                });
            }
        }
        if !b.is_empty() {
            return Err(bad("bytes follow the shape stream's segments"));
        }
        let [blocks, shape] = plans;
        Ok(ShapeData { blocks, shape })
    }

    /// The base layers the segments refer to, each once, in order of first use.
    pub fn base_layers(&self) -> Vec<Digest> {
        let mut out: Vec<Digest> = Vec::new();
        for s in self.blocks.segments.iter().chain(&self.shape.segments) {
            if let Segment::Base { layer, .. } = s {
                if !out.contains(layer) {
                    out.push(layer.clone());
                }
            }
        }
        out
    }

    /// Bytes carried inline.
    pub fn inline_bytes(&self) -> u64 {
        self.blocks
            .segments
            .iter()
            .chain(&self.shape.segments)
            .map(|s| match s {
                Segment::Inline(b) => b.len() as u64,
                Segment::Base { .. } => 0,
            })
            .sum()
    }
}

fn digest_bytes(d: &Digest) -> [u8; 32] {
    let hex = d.hex();
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    out
}

fn take<'b>(b: &mut &'b [u8], n: usize) -> Result<&'b [u8], RegenError> {
    if b.len() < n {
        return Err(bad("the engine data is cut short"));
    }
    let (head, tail) = b.split_at(n);
    *b = tail;
    Ok(head)
}

fn bad(what: &str) -> RegenError {
    RegenError::BadRecipe(format!("shape engine data: {what}"))
}

/// The streams of base layers the receiver holds, by range.
pub trait BaseStreams {
    /// `length` bytes at `offset` of stream `kind` of base layer `layer` (the layer's blob
    /// digest).
    fn open_stream(
        &mut self,
        layer: &Digest,
        kind: StreamKind,
        offset: u64,
        length: u64,
    ) -> io::Result<Box<dyn Read + Send>>;
}

/// Base streams shared by the two segment readers of one rebuild.
pub type SharedStreams<'a> = Arc<Mutex<dyn BaseStreams + Send + 'a>>;

/// A base layer's stream could not be read, or the assembled stream did not hash as the recipe
/// says: carried inside an `io::Error` of kind `InvalidData` by [`SegmentReader`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BaseStreamError(pub String);

fn stream_err(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, BaseStreamError(what))
}

/// One stream assembled from its segments, hashed as it goes and checked against the stream's
/// digest at its end (before the caller sees the end).
pub struct SegmentReader<'a> {
    kind: StreamKind,
    digest: Digest,
    segments: std::vec::IntoIter<Segment>,
    streams: SharedStreams<'a>,
    hash: Option<Hasher>,
    current: Option<(Box<dyn Read + Send>, u64, String)>,
}

impl<'a> SegmentReader<'a> {
    /// A reader of stream `kind` as `plan` gives it, base ranges opened from `streams`.
    pub fn new(kind: StreamKind, plan: StreamPlan, streams: SharedStreams<'a>) -> Self {
        SegmentReader {
            kind,
            digest: plan.digest,
            segments: plan.segments.into_iter(),
            streams,
            hash: Some(Hasher::new(DigestAlgorithm::Sha256)),
            current: None,
        }
    }
}

impl Read for SegmentReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some((r, left, what)) = &mut self.current {
                if *left == 0 {
                    self.current = None;
                    continue;
                }
                let n = out.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = r.read(&mut out[..n])?;
                if n == 0 {
                    return Err(stream_err(format!("{what} end {left} bytes early")));
                }
                if let Some(h) = &mut self.hash {
                    h.update(&out[..n]);
                }
                *left -= n as u64;
                return Ok(n);
            }
            match self.segments.next() {
                None => {
                    if let Some(h) = self.hash.take() {
                        let got = h.finish();
                        if got != self.digest {
                            return Err(stream_err(format!(
                                "the {:?} stream assembled from the recipe and the base layers \
                                 hashes to {got}, not {} (a base layer is not the one the \
                                 bundle was made against, or the recipe is damaged)",
                                self.kind, self.digest
                            )));
                        }
                    }
                    return Ok(0);
                }
                Some(Segment::Inline(b)) => {
                    let len = b.len() as u64;
                    self.current = Some((
                        Box::new(io::Cursor::new(b)),
                        len,
                        "inline stream bytes".into(),
                    ));
                }
                Some(Segment::Base {
                    layer,
                    offset,
                    length,
                }) => {
                    let what = format!(
                        "{:?} stream bytes {offset}+{length} of base layer {layer}",
                        self.kind
                    );
                    let r = self
                        .streams
                        .lock()
                        .map_err(|_| io::Error::other("base streams poisoned"))?
                        .open_stream(&layer, self.kind, offset, length)
                        .map_err(|e| stream_err(format!("{what} cannot be read: {e}")))?;
                    self.current = Some((r, length, what));
                }
            }
        }
    }
}
