//! [`parse_gzip`]: a gzip layer in; its content, blocks stream and shape stream out.

use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use preflate_rs::deflate::deflate_reader::DeflateParser;
use preflate_rs::deflate::deflate_token::{
    DeflateHuffmanType, DeflateToken, DeflateTokenBlock, DeflateTokenBlockType,
};
use preflate_rs::ExitCode;

use super::records::{BlockKind, BlockRecord, ShapeWriter};
use crate::model::{Digest, DigestAlgorithm, Hasher};
use crate::regen::gzip::{check_end, fill, read_header, read_trailer, short_read};
use crate::regen::RegenError;

/// Compressed input read per parse step (4 MiB).
const STEP: usize = 4 << 20;
/// The most content one parse step decodes (32 MiB): it bounds the tokens held at once. A
/// single DEFLATE block larger than this is refused.
const TEXT_LIMIT: usize = 32 << 20;
/// The most compressed input buffered for one block.
const INPUT_MAX: usize = 64 << 20;

/// What [`parse_gzip`] learned of a layer besides its streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Digest of the gzip blob.
    pub layer_digest: Digest,
    /// Its size.
    pub layer_size: u64,
    /// SHA-256 of the content.
    pub tar_digest: Digest,
    /// Size of the content.
    pub tar_size: u64,
    /// The gzip member header, verbatim.
    pub header: Vec<u8>,
    /// The gzip trailer, verbatim.
    pub trailer: [u8; 8],
}

/// Parses the single-member gzip layer `gz`, writing its uncompressed content to `tar`, its
/// blocks stream to `blocks` and its shape stream to `shape` (module documentation of
/// [`super`]). Refused: anything not gzip, several members, and a DEFLATE stream that cannot be
/// described exactly (non-zero padding bits, a non-standard length-258 code, a block of more
/// than 32 MiB of content).
pub fn parse_gzip(
    gz: impl Read,
    tar: impl Write,
    blocks: impl Write,
    shape: impl Write,
) -> Result<Parsed, RegenError> {
    parse(gz, tar, blocks, shape, true)
}

/// [`parse_gzip`] without hashing the layer or its content (the digests of the returned
/// [`Parsed`] are those of no bytes): for base layers, whose ranges are checked where they are
/// used.
pub fn parse_gzip_unhashed(
    gz: impl Read,
    tar: impl Write,
    blocks: impl Write,
    shape: impl Write,
) -> Result<Parsed, RegenError> {
    parse(gz, tar, blocks, shape, false)
}

fn parse(
    gz: impl Read,
    mut tar: impl Write,
    mut blocks: impl Write,
    shape: impl Write,
    hashed: bool,
) -> Result<Parsed, RegenError> {
    let mut input = Counting {
        inner: gz,
        hash: hashed.then(|| Hasher::new(DigestAlgorithm::Sha256)),
        read: 0,
    };
    let header = read_header(&mut input)?;
    let mut parser = DeflateParser::new(TEXT_LIMIT);
    let mut shape = ShapeWriter::new(shape);
    let mut tar_hash = Hasher::new(DigestAlgorithm::Sha256);
    let mut tar_size = 0u64;
    let mut pending: Vec<u8> = Vec::new();
    let mut step = STEP;
    let mut eof = false;
    let mut record = Vec::new();
    while !parser.is_done() {
        if pending.len() < step && !eof {
            eof = fill(&mut input, &mut pending, step)?;
        }
        let contents = match catch_unwind(AssertUnwindSafe(|| parser.parse(&pending))) {
            Ok(Ok(c)) => c,
            Ok(Err(e)) if e.exit_code() == ExitCode::ShortRead => {
                short_read(eof, pending.len(), &mut step, INPUT_MAX, tar_size)?;
                continue;
            }
            Ok(Err(e)) => return Err(refused(tar_size, &e.to_string())),
            Err(_) => return Err(refused(tar_size, "the parser panicked")),
        };
        for b in &contents.blocks {
            record.clear();
            describe(b, &mut record, &mut shape)?;
            blocks.write_all(&record)?;
        }
        let text = parser.plain_text().text();
        tar_size += text.len() as u64;
        if hashed {
            tar_hash.update(text);
        }
        tar.write_all(text)?;
        pending.drain(..contents.compressed_size);
        parser.shrink_to_dictionary();
    }
    shape.finish()?;
    blocks.flush()?;
    tar.flush()?;
    let (trailer, rest) = read_trailer(&pending, &mut input)?;
    let layer_size = input.read;
    check_end(&trailer, rest, layer_size, tar_size)?;
    let layer_digest = input
        .hash
        .map_or_else(|| Digest::sha256_of(b""), Hasher::finish);
    Ok(Parsed {
        layer_digest,
        layer_size,
        tar_digest: tar_hash.finish(),
        tar_size,
        header,
        trailer,
    })
}

/// Writes one block's record into `record` and its tokens' shapes into `shape`.
fn describe(
    b: &DeflateTokenBlock,
    record: &mut Vec<u8>,
    shape: &mut ShapeWriter<impl Write>,
) -> std::io::Result<()> {
    let kind = match &b.block_type {
        DeflateTokenBlockType::Stored { uncompressed } => BlockKind::Stored {
            len: uncompressed.len() as u16,
        },
        DeflateTokenBlockType::Huffman {
            tokens,
            huffman_type,
        } => {
            for t in tokens {
                match t {
                    DeflateToken::Literal(_) => shape.literal()?,
                    DeflateToken::Reference(r) => shape.matched(r.len(), r.dist())?,
                }
            }
            let count = tokens.len() as u32;
            match huffman_type {
                DeflateHuffmanType::Static => BlockKind::Fixed { tokens: count },
                DeflateHuffmanType::Dynamic { huffman_encoding } => BlockKind::Dynamic {
                    tokens: count,
                    header: huffman_encoding.clone(),
                },
            }
        }
    };
    BlockRecord { last: b.last, kind }.write(record)
}

/// The layer's bytes, counted and (when asked) hashed as they are read.
struct Counting<R> {
    inner: R,
    hash: Option<Hasher>,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        if let Some(h) = &mut self.hash {
            h.update(&out[..n]);
        }
        self.read += n as u64;
        Ok(n)
    }
}

fn refused(offset: u64, message: &str) -> RegenError {
    RegenError::Engine {
        offset,
        message: message.to_string(),
    }
}
