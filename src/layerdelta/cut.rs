//! Tar-aware cutting of a layer's uncompressed content.
//!
//! Cut points respect the tar: every 512-byte member header is a piece of its own, apart from
//! the file data; a member's data (with its padding to 512 bytes) of at most [`SMALL_FILE`]
//! bytes is one piece; larger data is cut at content-defined points (FastCDC 2020, the cut
//! rule of `crate::chunk`, with the sizes of [`FILE_CDC`]), so an edit inside a large file
//! changes only the pieces around it. What does not parse as a tar (a damaged header, the end
//! of archive blocks, trailing bytes) is cut at content-defined points too: any content is cut
//! exactly, only the dedup is less good.

use std::io::{self, Read};

use fastcdc::v2020::{self, Normalization};

/// Member data (padding included) of at most this many bytes is one piece (16 KiB).
pub const SMALL_FILE: u64 = 16 << 10;

/// Content-defined chunk sizes inside large files: 4 KiB, 16 KiB, 64 KiB (an edit inside a
/// file costs about one such chunk).
pub const FILE_CDC: (usize, usize, usize) = (4 << 10, 16 << 10, 64 << 10);

/// One piece of the content: where it starts and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Offset of the piece in the content.
    pub offset: u64,
    /// The piece's bytes (at most [`FILE_CDC`]'s largest chunk).
    pub data: Vec<u8>,
}

enum State {
    Header,
    /// Inside a member's data: bytes left (padding included) and whether to cut it by content.
    Data {
        left: u64,
        by_content: bool,
    },
    /// Not (or no longer) a tar: cut by content to the end.
    Raw,
}

/// Cuts a tar stream into [`Piece`]s, in order, covering every byte once.
pub struct TarCutter<R> {
    source: R,
    offset: u64,
    state: State,
    buf: Vec<u8>,
    eof: bool,
    mask_s: u64,
    mask_l: u64,
}

impl<R: Read> TarCutter<R> {
    /// A cutter over `source`, the uncompressed content of a layer.
    pub fn new(source: R) -> Self {
        let bits = v2020::logarithm2(FILE_CDC.1 as u32);
        let level = Normalization::Level1.bits();
        TarCutter {
            source,
            offset: 0,
            state: State::Header,
            buf: Vec::new(),
            eof: false,
            mask_s: v2020::MASKS[(bits + level) as usize],
            mask_l: v2020::MASKS[(bits - level) as usize],
        }
    }

    /// The next piece, or `None` at the end of the content.
    pub fn next_piece(&mut self) -> io::Result<Option<Piece>> {
        match self.state {
            State::Header => {
                self.fill(512)?;
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let parsed = (self.buf.len() == 512)
                    .then(|| header_data_len(&self.buf))
                    .flatten();
                match parsed {
                    Some(len) => {
                        let padded = len.div_ceil(512) * 512;
                        if padded > 0 {
                            self.state = State::Data {
                                left: padded,
                                by_content: padded > SMALL_FILE,
                            };
                        }
                        Ok(Some(self.emit(512)))
                    }
                    None => {
                        self.state = State::Raw;
                        self.next_piece()
                    }
                }
            }
            State::Data { left, by_content } => {
                let want = if by_content {
                    left.min(FILE_CDC.2 as u64)
                } else {
                    left
                } as usize;
                self.fill(want)?;
                if self.buf.len() < want {
                    // The archive ends inside the data: cut what is left by content.
                    self.state = State::Raw;
                    return self.next_piece();
                }
                let n = if by_content { self.cut(want) } else { want };
                let left = left - n as u64;
                self.state = if left == 0 {
                    State::Header
                } else {
                    State::Data { left, by_content }
                };
                Ok(Some(self.emit(n)))
            }
            State::Raw => {
                self.fill(FILE_CDC.2)?;
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let n = self.cut(self.buf.len().min(FILE_CDC.2));
                Ok(Some(self.emit(n)))
            }
        }
    }

    /// The content-defined cut point in the first `window` buffered bytes.
    fn cut(&self, window: usize) -> usize {
        let (min, avg, max) = FILE_CDC;
        let window = &self.buf[..window];
        if window.len() <= min {
            return window.len();
        }
        let (_, count) = v2020::cut(
            window,
            min,
            avg,
            max,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
        );
        count.clamp(1, window.len())
    }

    /// Hands out the first `n` buffered bytes as a piece.
    fn emit(&mut self, n: usize) -> Piece {
        let rest = self.buf.split_off(n);
        let data = std::mem::replace(&mut self.buf, rest);
        let piece = Piece {
            offset: self.offset,
            data,
        };
        self.offset += n as u64;
        piece
    }

    /// Reads until `want` bytes are buffered or the content ends.
    fn fill(&mut self, want: usize) -> io::Result<()> {
        while self.buf.len() < want && !self.eof {
            let start = self.buf.len();
            self.buf.resize(want, 0);
            match self.source.read(&mut self.buf[start..]) {
                Ok(0) => {
                    self.buf.truncate(start);
                    self.eof = true;
                }
                Ok(n) => self.buf.truncate(start + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.buf.truncate(start),
                Err(e) => {
                    self.buf.truncate(start);
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// The data length a tar member header announces, if `block` is a valid header (its checksum
/// matches); `None` for a zero block or anything else.
fn header_data_len(block: &[u8]) -> Option<u64> {
    if block.iter().all(|&b| b == 0) {
        return None;
    }
    let stored = octal(&block[148..156])?;
    let unsigned: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    let signed: i64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                i64::from(b as i8)
            }
        })
        .sum();
    if stored != unsigned && stored as i64 != signed {
        return None;
    }
    let size = &block[124..136];
    if size[0] & 0x80 != 0 {
        // GNU base-256: the remaining bits, big-endian.
        let mut v: u64 = u64::from(size[0] & 0x7f);
        for &b in &size[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        Some(v)
    } else {
        octal(size)
    }
}

/// An octal field: digits, optionally led by spaces and ended by NUL or space.
fn octal(field: &[u8]) -> Option<u64> {
    let s = field
        .iter()
        .skip_while(|&&b| b == b' ')
        .take_while(|&&b| b != 0 && b != b' ');
    let mut v: u64 = 0;
    let mut any = false;
    for &b in s {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
        any = true;
    }
    any.then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1);
            h.set_cksum();
            b.append_data(&mut h, name, &data[..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn pieces(data: &[u8]) -> Vec<Piece> {
        let mut c = TarCutter::new(data);
        let mut v = Vec::new();
        while let Some(p) = c.next_piece().unwrap() {
            v.push(p);
        }
        v
    }

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect()
    }

    #[test]
    fn headers_are_apart_small_files_whole_and_every_byte_covered_once() {
        let tar = tar_of(&[
            ("a", b"hello".to_vec()),
            ("big", noise(1 << 20, 3)),
            ("c", vec![]),
        ]);
        let ps = pieces(&tar);
        let mut at = 0u64;
        for p in &ps {
            assert_eq!(p.offset, at);
            at += p.data.len() as u64;
        }
        assert_eq!(at, tar.len() as u64);
        assert_eq!(ps.concat_data(), tar);
        // header of a, data of a (one 512-byte block), header of big, then big's data by content.
        assert_eq!(ps[0].data.len(), 512);
        assert_eq!(&ps[1].data[..5], b"hello");
        assert_eq!(ps[1].data.len(), 512);
        assert_eq!(ps[2].data.len(), 512);
        assert!(ps[3].data.len() <= FILE_CDC.2 && ps[3].data.len() >= FILE_CDC.0);
        assert!(ps.len() > 8);
    }

    #[test]
    fn an_edit_inside_a_large_file_changes_only_nearby_pieces() {
        let mut big = noise(2 << 20, 9);
        let a = pieces(&tar_of(&[("big", big.clone())]));
        big[1 << 20] ^= 0xff;
        let b = pieces(&tar_of(&[("big", big)]));
        let changed = b.iter().filter(|p| !a.contains(p)).count();
        assert!(changed <= 2, "{changed} of {} pieces changed", b.len());
    }

    #[test]
    fn content_that_is_not_a_tar_is_still_cut_exactly() {
        let data = noise(700_000, 5);
        assert_eq!(pieces(&data).concat_data(), data);
        assert!(pieces(&[]).is_empty());
    }

    trait Concat {
        fn concat_data(&self) -> Vec<u8>;
    }
    impl Concat for Vec<Piece> {
        fn concat_data(&self) -> Vec<u8> {
            self.iter().flat_map(|p| p.data.clone()).collect()
        }
    }
}
