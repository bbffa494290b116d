//! The byte records of the blocks stream and the shape stream (SPEC.md §4.8.1), all integers
//! little-endian.
//!
//! Blocks stream, one record per DEFLATE block:
//!
//! ```text
//! flags   u8: bit 0 = BFINAL, bits 1-2 = BTYPE (0 stored, 1 fixed Huffman, 2 dynamic)
//! stored  u16 LEN
//! fixed   u32 token count (end-of-block not counted)
//! dynamic u32 token count, u8 HLIT, u8 HDIST, u8 HCLEN (the header's raw field values),
//!         19 × u8 code-length code lengths (by symbol 0..18),
//!         u16 entry count, then per entry u8 symbol (0-18) and u8 value (the code length for
//!         0-15, the repeat count for 16-18)
//! ```
//!
//! Shape stream, one record per run of literals or per match of the Huffman blocks, in order:
//! a byte `0x00..=0x7f` is a run of that value + 1 literals; a byte `0x80 | d >> 8` followed by
//! `d & 0xff` and `length - 3` is a match of that length at distance `d + 1`. Literal runs are
//! as long as possible (128 at most) across block boundaries.

use std::io::{self, Read, Write};

use preflate_rs::deflate::huffman_encoding::{HuffmanOriginalEncoding, TreeCodeType};

/// What a DEFLATE block is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockKind {
    /// A stored block of `len` bytes of content.
    Stored {
        /// Its LEN.
        len: u16,
    },
    /// A block coded with the fixed Huffman codes.
    Fixed {
        /// Tokens in it, end-of-block not counted.
        tokens: u32,
    },
    /// A block with its own Huffman codes.
    Dynamic {
        /// Tokens in it, end-of-block not counted.
        tokens: u32,
        /// The header exactly as the block codes it.
        header: HuffmanOriginalEncoding,
    },
}

/// One record of the blocks stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    /// BFINAL.
    pub last: bool,
    /// The block's type and what it holds.
    pub kind: BlockKind,
}

impl BlockRecord {
    /// Appends the record's bytes to `out`.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let btype = match self.kind {
            BlockKind::Stored { .. } => 0u8,
            BlockKind::Fixed { .. } => 1,
            BlockKind::Dynamic { .. } => 2,
        };
        out.write_all(&[self.last as u8 | btype << 1])?;
        match &self.kind {
            BlockKind::Stored { len } => out.write_all(&len.to_le_bytes()),
            BlockKind::Fixed { tokens } => out.write_all(&tokens.to_le_bytes()),
            BlockKind::Dynamic { tokens, header } => {
                out.write_all(&tokens.to_le_bytes())?;
                let mut b = Vec::with_capacity(32 + 2 * header.lengths.len());
                b.push((header.num_literals - 257) as u8);
                b.push((header.num_dist - 1) as u8);
                b.push((header.num_code_lengths - 4) as u8);
                b.extend_from_slice(&header.code_lengths);
                b.extend_from_slice(&(header.lengths.len() as u16).to_le_bytes());
                for &(t, v) in &header.lengths {
                    b.push(t as u8);
                    b.push(v);
                }
                out.write_all(&b)
            }
        }
    }

    /// Reads the next record, or `None` at the end of the stream.
    pub fn read(r: &mut impl Read) -> io::Result<Option<BlockRecord>> {
        let mut flags = [0u8; 1];
        if r.read(&mut flags)? == 0 {
            return Ok(None);
        }
        let last = flags[0] & 1 == 1;
        let kind = match flags[0] >> 1 {
            0 => BlockKind::Stored {
                len: u16::from_le_bytes(array(r)?),
            },
            1 => BlockKind::Fixed {
                tokens: u32::from_le_bytes(array(r)?),
            },
            2 => {
                let tokens = u32::from_le_bytes(array(r)?);
                let [hlit, hdist, hclen] = array(r)?;
                let code_lengths: [u8; 19] = array(r)?;
                let count = u16::from_le_bytes(array(r)?);
                let mut lengths = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    let [t, v] = array(r)?;
                    let t = match t {
                        0 => TreeCodeType::Code,
                        16 => TreeCodeType::Repeat,
                        17 => TreeCodeType::ZeroShort,
                        18 => TreeCodeType::ZeroLong,
                        _ => return Err(bad(format!("code-length symbol {t}"))),
                    };
                    lengths.push((t, v));
                }
                if hlit > 29 || hdist > 29 || hclen > 15 {
                    return Err(bad("header counts out of range".into()));
                }
                BlockKind::Dynamic {
                    tokens,
                    header: HuffmanOriginalEncoding {
                        lengths,
                        code_lengths,
                        num_literals: hlit as usize + 257,
                        num_dist: hdist as usize + 1,
                        num_code_lengths: hclen as usize + 4,
                    },
                }
            }
            t => return Err(bad(format!("block flags {t:#x}"))),
        };
        Ok(Some(BlockRecord { last, kind }))
    }
}

fn array<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
    let mut a = [0u8; N];
    r.read_exact(&mut a).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => bad("a record is cut short".into()),
        _ => e,
    })?;
    Ok(a)
}

fn bad(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed blocks stream: {what}"),
    )
}

/// A match of the shape stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapeMatch {
    /// 3..=258.
    pub len: u16,
    /// 1..=32768.
    pub dist: u16,
}

/// Writes shape records, joining literals into runs.
pub struct ShapeWriter<W> {
    out: W,
    run: u8,
}

impl<W: Write> ShapeWriter<W> {
    /// A writer into `out`.
    pub fn new(out: W) -> Self {
        ShapeWriter { out, run: 0 }
    }

    /// One literal.
    pub fn literal(&mut self) -> io::Result<()> {
        self.run += 1;
        if self.run == 128 {
            self.flush_run()?;
        }
        Ok(())
    }

    /// One match (`len` 3..=258, `dist` 1..=32768).
    pub fn matched(&mut self, len: u32, dist: u32) -> io::Result<()> {
        self.flush_run()?;
        let d = dist - 1;
        self.out
            .write_all(&[0x80 | (d >> 8) as u8, d as u8, (len - 3) as u8])
    }

    fn flush_run(&mut self) -> io::Result<()> {
        if self.run > 0 {
            self.out.write_all(&[self.run - 1])?;
            self.run = 0;
        }
        Ok(())
    }

    /// Writes the open run and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_run()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads shape records back as tokens.
pub struct ShapeReader<R> {
    input: R,
    run: u8,
}

impl<R: Read> ShapeReader<R> {
    /// A reader of `input`.
    pub fn new(input: R) -> Self {
        ShapeReader { input, run: 0 }
    }

    /// Up to `max` literals of an open or next run (at least 1), or a match, or `None` at the
    /// end of the stream. Returns `(literals, None)` or `(0, Some(match))`.
    pub fn next(&mut self, max: u32) -> io::Result<Option<(u32, Option<ShapeMatch>)>> {
        if self.run == 0 {
            let mut b = [0u8; 1];
            if self.input.read(&mut b)? == 0 {
                return Ok(None);
            }
            if b[0] & 0x80 == 0 {
                self.run = b[0] + 1;
            } else {
                let [lo, len] = array(&mut self.input).map_err(shape_err)?;
                let d = ((b[0] & 0x7f) as u16) << 8 | lo as u16;
                return Ok(Some((
                    0,
                    Some(ShapeMatch {
                        len: len as u16 + 3,
                        dist: d + 1,
                    }),
                )));
            }
        }
        let n = (self.run as u32).min(max);
        self.run -= n as u8;
        Ok(Some((n, None)))
    }

    /// Whether a run is partly read.
    pub fn in_run(&self) -> bool {
        self.run > 0
    }
}

fn shape_err(e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        e.to_string().replace("blocks stream", "shape stream"),
    )
}
