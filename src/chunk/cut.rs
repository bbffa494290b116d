//! Cutting a stream at content-defined cut points, without hashing.

use std::borrow::BorrowMut;
use std::io::{self, Read};

use fastcdc::v2020::{self, Normalization};

use super::{ChunkError, ChunkParams};

/// Cuts a stream into content-defined chunks at the cut points of the module documentation
/// (exactly where `fastcdc`'s `StreamCDC` cuts: FastCDC 2020, normalization level 1, no seed).
/// It hashes nothing, so that the caller may hash chunks in parallel.
///
/// `StreamCDC` keeps a buffer of `max` bytes and shifts what is left of it to the front after
/// every chunk — about seven bytes moved per byte cut. A cutter keeps a buffer of `2 × max` and
/// moves the unread rest only when less than `max` bytes of room are left, at most one byte
/// moved per byte cut; each cut sees the same window (`max` bytes from the chunk start, fewer
/// only at the end of the stream) and so finds the same cut point.
///
/// The buffer is `B`: an owned `Vec<u8>`, or a `&mut Vec<u8>` to reuse one buffer stream after
/// stream. Interrupted reads are retried.
pub struct Cutter<R, B = Vec<u8>> {
    source: R,
    buf: B,
    start: usize,
    end: usize,
    eof: bool,
    min: usize,
    avg: usize,
    max: usize,
    mask_s: u64,
    mask_l: u64,
}

impl<R: Read, B: BorrowMut<Vec<u8>>> Cutter<R, B> {
    /// A cutter over `source` with `params`, using `buf` as its buffer (its contents are
    /// overwritten).
    pub fn new(source: R, params: &ChunkParams, mut buf: B) -> Result<Self, ChunkError> {
        params.validate()?;
        let max = params.max as usize;
        buf.borrow_mut().resize(2 * max, 0);
        let bits = v2020::logarithm2(params.avg);
        let level = Normalization::Level1.bits();
        Ok(Cutter {
            source,
            buf,
            start: 0,
            end: 0,
            eof: false,
            min: params.min as usize,
            avg: params.avg as usize,
            max,
            mask_s: v2020::MASKS[(bits + level) as usize],
            mask_l: v2020::MASKS[(bits - level) as usize],
        })
    }

    /// The next chunk, or `None` at the end of the stream.
    pub fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let buf = self.buf.borrow_mut();
        if self.end - self.start < self.max && !self.eof {
            if buf.len() - self.start < self.max {
                buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            while self.end - self.start < self.max && !self.eof {
                match self.source.read(&mut buf[self.end..]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.end += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let window = &buf[self.start..self.end.min(self.start + self.max)];
        if window.is_empty() {
            return Ok(None);
        }
        let (_, count) = v2020::cut(
            window,
            self.min,
            self.avg,
            self.max,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
        );
        let count = count.clamp(1, window.len());
        let chunk = window[..count].to_vec();
        self.start += count;
        Ok(Some(chunk))
    }
}
