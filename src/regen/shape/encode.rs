//! [`ShapeEncoder`]: the blocks stream, the shape stream and the content in; the exact DEFLATE
//! bytes out.

use std::io::{self, BufRead, Read};

use preflate_rs::deflate::deflate_token::{
    DeflateHuffmanType, DeflateToken, DeflateTokenBlock, DeflateTokenBlockType,
    DeflateTokenReference,
};
use preflate_rs::deflate::deflate_writer::DeflateWriter;

use super::records::{BlockKind, BlockRecord, ShapeMatch, ShapeReader};

/// Output handed out per call of [`ShapeEncoder::next_bytes`], about (256 KiB).
const OUT_STEP: usize = 256 << 10;

/// Turns a layer's blocks stream, shape stream and content back into its DEFLATE bytes, a
/// few blocks at a time. Memory: one block's tokens and the output step.
pub struct ShapeEncoder<B, S, T> {
    blocks: B,
    shape: ShapeReader<S>,
    tar: T,
    writer: DeflateWriter,
    tokens: Vec<DeflateToken>,
    done: bool,
}

impl<B: Read, S: Read, T: BufRead> ShapeEncoder<B, S, T> {
    /// An encoder reading the three streams (each buffered by the caller).
    pub fn new(blocks: B, shape: S, tar: T) -> Self {
        ShapeEncoder {
            blocks,
            shape: ShapeReader::new(shape),
            tar,
            writer: DeflateWriter::new(),
            tokens: Vec::new(),
            done: false,
        }
    }

    /// The next DEFLATE bytes, or `None` after the last block. A stream that does not add up
    /// (too few tokens or content bytes, records after the last block) is an error of kind
    /// `InvalidData`.
    pub fn next_bytes(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let mut out = Vec::new();
        while out.len() < OUT_STEP {
            let Some(rec) = BlockRecord::read(&mut self.blocks)? else {
                return Err(invalid("the blocks stream ends before the last block"));
            };
            let block = self.block(rec)?;
            let last = block.last;
            self.writer
                .encode_block(&block)
                .map_err(|e| invalid(&format!("a block cannot be written: {e}")))?;
            if let DeflateTokenBlockType::Huffman { tokens, .. } = block.block_type {
                self.tokens = tokens;
            }
            out.append(&mut self.writer.detach_output());
            if last {
                self.writer.flush();
                out.append(&mut self.writer.detach_output());
                self.done = true;
                if BlockRecord::read(&mut self.blocks)?.is_some() {
                    return Err(invalid("the blocks stream goes on after the last block"));
                }
                if self.shape.in_run() || self.shape.next(1)?.is_some() {
                    return Err(invalid("the shape stream goes on after the last block"));
                }
                break;
            }
        }
        Ok(Some(out))
    }

    /// The content reader, to check that nothing of it is left.
    pub fn tar_mut(&mut self) -> &mut T {
        &mut self.tar
    }

    fn block(&mut self, rec: BlockRecord) -> io::Result<DeflateTokenBlock> {
        let (count, huffman_type) = match rec.kind {
            BlockKind::Stored { len } => {
                let mut uncompressed = vec![0u8; len as usize];
                self.tar
                    .read_exact(&mut uncompressed)
                    .map_err(|_| invalid("the content ends inside a stored block"))?;
                return Ok(DeflateTokenBlock {
                    block_type: DeflateTokenBlockType::Stored { uncompressed },
                    last: rec.last,
                });
            }
            BlockKind::Fixed { tokens } => (tokens, DeflateHuffmanType::Static),
            BlockKind::Dynamic { tokens, header } => (
                tokens,
                DeflateHuffmanType::Dynamic {
                    huffman_encoding: header,
                },
            ),
        };
        let mut tokens = std::mem::take(&mut self.tokens);
        tokens.clear();
        let mut left = count;
        while left > 0 {
            let Some((lits, m)) = self.shape.next(left)? else {
                return Err(invalid("the shape stream ends inside a block"));
            };
            if let Some(ShapeMatch { len, dist }) = m {
                skip(&mut self.tar, len as usize)?;
                tokens.push(DeflateToken::Reference(DeflateTokenReference::new(
                    len as u32,
                    dist as u32,
                )));
                left -= 1;
                continue;
            }
            let mut n = lits as usize;
            while n > 0 {
                let buf = self.tar.fill_buf()?;
                if buf.is_empty() {
                    return Err(invalid("the content ends inside a block"));
                }
                let take = n.min(buf.len());
                tokens.extend(buf[..take].iter().map(|&b| DeflateToken::Literal(b)));
                self.tar.consume(take);
                n -= take;
            }
            left -= lits;
        }
        Ok(DeflateTokenBlock {
            block_type: DeflateTokenBlockType::Huffman {
                tokens,
                huffman_type,
            },
            last: rec.last,
        })
    }
}

/// Skips `n` bytes of the content (a match's bytes, which the decoder copies from its window).
fn skip(tar: &mut impl BufRead, mut n: usize) -> io::Result<()> {
    while n > 0 {
        let have = tar.fill_buf()?.len();
        if have == 0 {
            return Err(invalid("the content ends inside a match"));
        }
        let take = n.min(have);
        tar.consume(take);
        n -= take;
    }
    Ok(())
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}
