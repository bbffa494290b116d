//! The packer's side of the token-shape engine (SPEC.md §4.8.1): base layers parsed into
//! their content and streams ([`ParsedBase`]), their stream chunks indexed, and a changed
//! layer's streams planned as base ranges and inline bytes ([`plan_streams`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::places::Places;
use crate::chunk::{ChunkParams, Cutter};
use crate::model::{Digest, DigestAlgorithm, Hasher};
use crate::regen::shape::{
    parse_gzip_unhashed, BaseStreams, Segment, ShapeData, SharedStreams, StreamKind, StreamPlan,
};
use crate::regen::RegenError;

/// Where ferry cuts a blocks stream to match it against base layers' (not part of the format).
const BLOCKS_CUTS: ChunkParams = ChunkParams {
    min: 256,
    avg: 1024,
    max: 4096,
};
/// Where ferry cuts a shape stream (small: near every block boundary that moved, some
/// encoders parse a little differently, and each difference costs a chunk).
const SHAPE_CUTS: ChunkParams = ChunkParams {
    min: 256,
    avg: 1024,
    max: 4096,
};

fn cuts(kind: StreamKind) -> &'static ChunkParams {
    match kind {
        StreamKind::Blocks => &BLOCKS_CUTS,
        StreamKind::Shape => &SHAPE_CUTS,
    }
}

/// A layer's content and, when it is gzip the shape engine describes, its two streams, in
/// temporary files deleted on drop.
pub struct ParsedBase {
    tar: Spooled,
    streams: Result<[Spooled; 2], String>,
}

impl ParsedBase {
    /// Spools `blob` into `dir`. A gzip blob is parsed; a gzip blob the shape engine refuses is
    /// an error of kind `InvalidData` (its content was read only partly); any other blob is
    /// decompressed and has no streams.
    pub fn spool(blob: impl Read + Send, dir: &Path) -> io::Result<ParsedBase> {
        let mut blob = io::BufReader::with_capacity(1 << 20, blob);
        if !io::BufRead::fill_buf(&mut blob)?.starts_with(&[0x1f, 0x8b]) {
            return ParsedBase::content_only(blob, dir, "it is not gzip".into());
        }
        let mut tar = temp(dir, "tar")?;
        let (mut blocks, mut shape) = (temp(dir, "blocks")?, temp(dir, "shape")?);
        let r = parse_gzip_unhashed(
            &mut blob,
            BufWriter::with_capacity(1 << 20, tar.as_file_mut()),
            BufWriter::with_capacity(1 << 16, blocks.as_file_mut()),
            BufWriter::with_capacity(1 << 20, shape.as_file_mut()),
        );
        match r {
            Ok(_) => Ok(ParsedBase {
                tar: Spooled::new(tar)?,
                streams: Ok([Spooled::new(blocks)?, Spooled::new(shape)?]),
            }),
            Err(RegenError::Io(e)) => Err(e),
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        }
    }

    /// Spools `blob` decompressed, without streams (`why` says why not).
    pub fn content_only(blob: impl Read + Send, dir: &Path, why: String) -> io::Result<ParsedBase> {
        let mut tar = temp(dir, "tar")?;
        let mut w = BufWriter::with_capacity(1 << 20, tar.as_file_mut());
        io::copy(&mut super::decompress(blob)?, &mut w)?;
        io::Write::flush(&mut w)?;
        drop(w);
        Ok(ParsedBase {
            tar: Spooled::new(tar)?,
            streams: Err(why),
        })
    }

    /// Reads `length` bytes at `offset` of the content or of a stream.
    pub fn range(
        &self,
        kind: Option<StreamKind>,
        offset: u64,
        length: u64,
    ) -> io::Result<Box<dyn Read + Send>> {
        let f = match (kind, &self.streams) {
            (None, _) => &self.tar,
            (Some(StreamKind::Blocks), Ok([b, _])) => b,
            (Some(StreamKind::Shape), Ok([_, s])) => s,
            (Some(k), Err(why)) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no {k:?} stream: {why}"),
                ))
            }
        };
        Ok(Box::new(RangeReader {
            file: f.file.clone(),
            pos: offset,
            end: offset.saturating_add(length),
        }))
    }

    /// Whether the layer has streams.
    pub fn has_streams(&self) -> bool {
        self.streams.is_ok()
    }

    /// A reader of a whole stream.
    pub fn stream(&self, kind: StreamKind) -> io::Result<Box<dyn Read + Send>> {
        self.range(Some(kind), 0, u64::MAX)
    }
}

/// A spool file, deleted on drop, and one handle to it that every range reads through.
struct Spooled {
    _tmp: tempfile::NamedTempFile,
    file: Arc<File>,
}

impl Spooled {
    fn new(tmp: tempfile::NamedTempFile) -> io::Result<Spooled> {
        let file = Arc::new(tmp.reopen()?);
        Ok(Spooled { _tmp: tmp, file })
    }
}

/// Bytes `pos..end` of a file, read at their offsets (no file opened per range).
struct RangeReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for RangeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let want = out
            .len()
            .min(usize::try_from(self.end - self.pos).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut out[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

fn temp(dir: &Path, what: &str) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&format!("ferry-{what}-"))
        .tempfile_in(dir)
}

/// Parsed base layers by digest, as base streams for proving a recipe.
pub struct ParsedBases(pub HashMap<Digest, Arc<ParsedBase>>);

impl BaseStreams for ParsedBases {
    fn open_stream(
        &mut self,
        layer: &Digest,
        kind: StreamKind,
        offset: u64,
        length: u64,
    ) -> io::Result<Box<dyn Read + Send>> {
        match self.0.get(layer) {
            Some(b) => b.range(Some(kind), offset, length),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("base layer {layer} was not parsed"),
            )),
        }
    }
}

impl ParsedBases {
    /// These bases, shared for a rebuild.
    pub fn shared(self) -> SharedStreams<'static> {
        Arc::new(Mutex::new(self))
    }
}

/// Stream chunks of base layers by digest: the base's position and the chunk's offset.
#[derive(Default)]
pub struct StreamIndex {
    chunks: [Places; 2],
}

fn slot(kind: StreamKind) -> usize {
    match kind {
        StreamKind::Blocks => 0,
        StreamKind::Shape => 1,
    }
}

impl StreamIndex {
    /// Forgets base number `base` (after it failed part way).
    pub fn remove(&mut self, base: u32) {
        for m in &mut self.chunks {
            m.remove_base(base);
        }
    }

    /// Adds base number `base`'s streams (first place wins). Memory: about 100 bytes per
    /// chunk (a 4 KiB shape chunk covers about 12 KiB of content).
    pub fn add(&mut self, base: u32, parsed: &ParsedBase) -> io::Result<()> {
        if !parsed.has_streams() {
            return Ok(());
        }
        for kind in [StreamKind::Blocks, StreamKind::Shape] {
            let r = BufReader::with_capacity(1 << 20, parsed.stream(kind)?);
            let mut c = Cutter::new(r, cuts(kind), Vec::new()).map_err(io::Error::other)?;
            let mut offset = 0u64;
            while let Some(chunk) = c.next_chunk()? {
                self.chunks[slot(kind)].add(Digest::sha256_of(&chunk), (base, offset));
                offset += chunk.len() as u64;
            }
        }
        Ok(())
    }
}

/// Plans a changed layer's two streams (read from `streams`) against `index`: each chunk found
/// in a base becomes a base range (consecutive ones joined), the rest inline bytes.
/// `bases` names the bases by their position in the index.
pub fn plan_streams(
    streams: [&mut dyn Read; 2],
    index: &StreamIndex,
    bases: &[Digest],
) -> io::Result<ShapeData> {
    let mut out = ShapeData::default();
    for (kind, input) in [StreamKind::Blocks, StreamKind::Shape]
        .into_iter()
        .zip(streams)
    {
        let map = &index.chunks[slot(kind)];
        let mut c = Cutter::new(input, cuts(kind), Vec::new()).map_err(io::Error::other)?;
        let mut list = Vec::new();
        let mut whole = Hasher::new(DigestAlgorithm::Sha256);
        let mut run: Option<(u32, u64, u64)> = None;
        let mut inline: Vec<u8> = Vec::new();
        let close = |run: &mut Option<(u32, u64, u64)>, list: &mut Vec<Segment>| {
            if let Some((b, offset, length)) = run.take() {
                list.push(Segment::Base {
                    layer: bases[b as usize].clone(),
                    offset,
                    length,
                });
            }
        };
        while let Some(chunk) = c.next_chunk()? {
            whole.update(&chunk);
            let next = run.map(|(b, o, l)| (b, o + l));
            match map.find(&Digest::sha256_of(&chunk), next) {
                Some((b, off)) => {
                    if !inline.is_empty() {
                        list.push(Segment::Inline(std::mem::take(&mut inline)));
                    }
                    let extends = matches!(&run, Some((rb, ro, rl)) if *rb == b && ro + rl == off);
                    if !extends {
                        close(&mut run, &mut list);
                        run = Some((b, off, 0));
                    }
                    run.as_mut().expect("open").2 += chunk.len() as u64;
                }
                None => {
                    close(&mut run, &mut list);
                    inline.extend_from_slice(&chunk);
                }
            }
        }
        close(&mut run, &mut list);
        if !inline.is_empty() {
            list.push(Segment::Inline(inline));
        }
        let plan = StreamPlan {
            digest: whole.finish(),
            segments: list,
        };
        match kind {
            StreamKind::Blocks => out.blocks = plan,
            StreamKind::Shape => out.shape = plan,
        }
    }
    Ok(out)
}
