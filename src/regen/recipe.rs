//! The reconstruction data of one gzip layer ("recipe") and its byte format.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! magic    "FERRYRCP" (8 bytes)   format  u8 = 1
//! engine   u16 length + UTF-8     (must equal ENGINE to rebuild)
//! layer    u16 length + UTF-8 digest of the gzip blob, u64 its size
//! tar      u16 length + UTF-8 digest of the uncompressed content, u64 its size
//! header   u32 length + the gzip header bytes, verbatim
//! trailer  8 bytes: the gzip trailer (CRC-32, ISIZE), verbatim
//! pieces   u32 count, then per piece: u64 uncompressed length, u32 length + engine data
//! ```
//!
//! The pieces' uncompressed lengths add up to the tar size; the engine data of a piece turns
//! exactly that many tar bytes (following the previous pieces) into the next DEFLATE bytes.

use crate::model::Digest;

use super::RegenError;

/// The engine every recipe names, and the only one this ferry rebuilds with: the vendored
/// preflate-rs and the revision of ferry's patches to it (`vendor/preflate-rs/FERRY.md`).
pub const ENGINE: &str = "preflate-rs-0.7.6+ferry.1";

const MAGIC: &[u8; 8] = b"FERRYRCP";
const FORMAT: u8 = 1;

/// One analysis piece: how many tar bytes it covers and the engine's data for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipePiece {
    /// Uncompressed bytes this piece covers.
    pub plain_len: u64,
    /// The engine's reconstruction data for this piece.
    pub data: Vec<u8>,
}

/// Everything besides the uncompressed content that rebuilds one gzip layer byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// The engine that wrote the recipe ([`ENGINE`]).
    pub engine: String,
    /// Digest of the gzip layer the recipe rebuilds.
    pub layer_digest: Digest,
    /// Size of that layer in bytes.
    pub layer_size: u64,
    /// Digest of the layer's uncompressed content (its diff_id).
    pub tar_digest: Digest,
    /// Size of the uncompressed content.
    pub tar_size: u64,
    /// The gzip member header, verbatim.
    pub header: Vec<u8>,
    /// The gzip member trailer (CRC-32 and ISIZE), verbatim.
    pub trailer: [u8; 8],
    /// The analysis pieces, in stream order.
    pub pieces: Vec<RecipePiece>,
}

impl Recipe {
    /// The recipe's bytes in the format of the module documentation.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        put_str16(&mut out, &self.engine);
        put_str16(&mut out, &self.layer_digest.to_string());
        out.extend_from_slice(&self.layer_size.to_le_bytes());
        put_str16(&mut out, &self.tar_digest.to_string());
        out.extend_from_slice(&self.tar_size.to_le_bytes());
        out.extend_from_slice(&(self.header.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.header);
        out.extend_from_slice(&self.trailer);
        out.extend_from_slice(&(self.pieces.len() as u32).to_le_bytes());
        for p in &self.pieces {
            out.extend_from_slice(&p.plain_len.to_le_bytes());
            out.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&p.data);
        }
        out
    }

    /// The length of [`Recipe::to_bytes`], without building it.
    pub fn encoded_len(&self) -> usize {
        let strings = self.engine.len()
            + self.layer_digest.to_string().len()
            + self.tar_digest.to_string().len();
        let pieces: usize = self.pieces.iter().map(|p| 12 + p.data.len()).sum();
        9 + 6 + strings + 16 + 4 + self.header.len() + 8 + 4 + pieces
    }

    /// Parses a recipe. Structure is checked (lengths, digests, piece lengths adding up to the
    /// tar size); the engine name is checked by the rebuild, so that a recipe of another engine
    /// can still be shown.
    pub fn from_bytes(bytes: &[u8]) -> Result<Recipe, RegenError> {
        let mut r = Cursor { bytes, pos: 0 };
        if r.take(8)? != MAGIC {
            return Err(RegenError::BadRecipe("no FERRYRCP magic".into()));
        }
        let format = r.take(1)?[0];
        if format != FORMAT {
            return Err(RegenError::BadRecipe(format!(
                "recipe format {format}, this ferry reads {FORMAT}"
            )));
        }
        let engine = r.str16()?;
        let layer_digest = r.digest()?;
        let layer_size = r.u64()?;
        let tar_digest = r.digest()?;
        let tar_size = r.u64()?;
        let header_len = r.u32()? as usize;
        let header = r.take(header_len)?.to_vec();
        let trailer: [u8; 8] = r.take(8)?.try_into().expect("8 bytes");
        let count = r.u32()? as usize;
        let mut pieces = Vec::with_capacity(count.min(bytes.len() / 12));
        let mut total = 0u64;
        for _ in 0..count {
            let plain_len = r.u64()?;
            let len = r.u32()? as usize;
            let data = r.take(len)?.to_vec();
            total = total
                .checked_add(plain_len)
                .ok_or_else(|| RegenError::BadRecipe("piece lengths overflow".into()))?;
            // The preflate engine holds a piece in memory; the shape engine streams it.
            if engine == ENGINE && plain_len > super::PIECE_PLAIN_LIMIT as u64 + (1 << 20) {
                return Err(RegenError::BadRecipe(format!(
                    "a piece of {plain_len} bytes is over the piece limit"
                )));
            }
            pieces.push(RecipePiece { plain_len, data });
        }
        if r.pos != bytes.len() {
            return Err(RegenError::BadRecipe(format!(
                "{} bytes follow the last piece",
                bytes.len() - r.pos
            )));
        }
        if total != tar_size {
            return Err(RegenError::BadRecipe(format!(
                "pieces cover {total} bytes, the tar is {tar_size}"
            )));
        }
        Ok(Recipe {
            engine,
            layer_digest,
            layer_size,
            tar_digest,
            tar_size,
            header,
            trailer,
            pieces,
        })
    }
}

fn put_str16(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RegenError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| RegenError::BadRecipe(format!("truncated at byte {}", self.pos)))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, RegenError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, RegenError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn str16(&mut self) -> Result<String, RegenError> {
        let n = u16::from_le_bytes(self.take(2)?.try_into().expect("2")) as usize;
        String::from_utf8(self.take(n)?.to_vec())
            .map_err(|_| RegenError::BadRecipe("a name is not UTF-8".into()))
    }
    fn digest(&mut self) -> Result<Digest, RegenError> {
        let s = self.str16()?;
        Digest::parse(&s).map_err(|e| RegenError::BadRecipe(e.to_string()))
    }
}
