//! Where the bytes of a blob to upload come from ([`BlobSource`]), and a reader that holds a
//! request body to its announced length.

use std::io::{self, Read};
use std::path::PathBuf;

/// Something that can hand out a blob's bytes, from the start, as often as asked (each retry
/// opens it again).
pub trait BlobSource: Sync {
    /// A fresh reader positioned at the first byte of the blob.
    fn open(&self) -> io::Result<Box<dyn Read + Send + '_>>;
}

impl BlobSource for PathBuf {
    fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(io::BufReader::with_capacity(
            256 * 1024,
            std::fs::File::open(self)?,
        )))
    }
}

impl BlobSource for &[u8] {
    fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(*self))
    }
}

impl BlobSource for Vec<u8> {
    fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(&self[..]))
    }
}

/// A reader shared by the requests of one upload (each sends the next segment of it).
pub(crate) struct SharedReader<'r>(std::sync::Mutex<Box<dyn Read + Send + 'r>>);

impl<'r> SharedReader<'r> {
    /// Shares `reader`.
    pub fn new(reader: Box<dyn Read + Send + 'r>) -> Self {
        SharedReader(std::sync::Mutex::new(reader))
    }
}

/// Reading through a shared reference (what a request body borrows).
pub(crate) trait SegmentReader: Sync {
    /// Reads the next bytes.
    fn read_part(&self, buf: &mut [u8]) -> io::Result<usize>;
}

impl SegmentReader for SharedReader<'_> {
    fn read_part(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.lock().expect("upload reader lock").read(buf)
    }
}

/// A [`SegmentReader`] as a [`Read`].
pub(crate) struct ReadVia<'x>(pub &'x dyn SegmentReader);

impl Read for ReadVia<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_part(buf)
    }
}

/// Passes exactly `len` bytes through, failing if the source ends early (so a request body
/// never falls short of its `Content-Length`).
pub(crate) struct ExactReader<R> {
    inner: R,
    left: u64,
    len: u64,
}

impl<R: Read> ExactReader<R> {
    /// Passes the first `len` bytes of `inner`.
    pub fn new(inner: R, len: u64) -> Self {
        ExactReader {
            inner,
            left: len,
            len,
        }
    }
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "blob source ended after {} of {} bytes",
                    self.len - self.left,
                    self.len
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_reader_refuses_short_sources() {
        let mut r = ExactReader::new(&b"abc"[..], 5);
        let err = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("3 of 5"), "{err}");
        let mut r = ExactReader::new(&b"abcdef"[..], 4);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcd");
    }

    #[test]
    fn sources_reopen_from_the_start() {
        let data = b"hello".to_vec();
        for _ in 0..2 {
            let mut s = String::new();
            data.open().unwrap().read_to_string(&mut s).unwrap();
            assert_eq!(s, "hello");
        }
    }
}
