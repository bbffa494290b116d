//! Content digests (`sha256:<hex>`) and hashing while reading.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

/// A digest algorithm ferry understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// SHA-256, the algorithm of nearly every registry.
    Sha256,
    /// SHA-512, allowed by the OCI image spec.
    Sha512,
}

impl DigestAlgorithm {
    /// The name used before the `:` of a digest string.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha256 => 64,
            DigestAlgorithm::Sha512 => 128,
        }
    }
}

/// Why a digest string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The string is not `ALGORITHM:HEX`.
    #[error("invalid digest {0:?}: expected sha256:<64 lower-case hex digits>")]
    Malformed(String),
    /// The algorithm is not one ferry supports.
    #[error("unsupported digest algorithm in {0:?} (ferry supports sha256 and sha512)")]
    UnsupportedAlgorithm(String),
}

/// A validated content digest such as `sha256:e3b0…`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

impl Digest {
    /// Parses and validates `ALGORITHM:HEX`.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let (algo, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestError::Malformed(s.to_string()))?;
        let algorithm = match algo {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            a if !a.is_empty()
                && a.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c)
                }) =>
            {
                return Err(DigestError::UnsupportedAlgorithm(s.to_string()))
            }
            _ => return Err(DigestError::Malformed(s.to_string())),
        };
        if hex.len() != algorithm.hex_len()
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestError::Malformed(s.to_string()));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }

    /// The SHA-256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Self {
        let mut h = Hasher::new(DigestAlgorithm::Sha256);
        h.update(data);
        h.finish()
    }

    /// The algorithm part.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The hex part, lower case.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// A short form for messages: the first 12 hex digits.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }

    /// A hasher of the same algorithm, to check content against this digest.
    pub fn hasher(&self) -> Hasher {
        Hasher::new(self.algorithm)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An incremental hasher producing a [`Digest`].
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-512 state.
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: DigestAlgorithm) -> Self {
        match algorithm {
            DigestAlgorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            DigestAlgorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest {
                algorithm: DigestAlgorithm::Sha256,
                hex: hex::encode(h.finalize()),
            },
            Hasher::Sha512(h) => Digest {
                algorithm: DigestAlgorithm::Sha512,
                hex: hex::encode(h.finalize()),
            },
        }
    }
}

/// A reader that hashes what passes through it and counts the bytes.
///
/// It does not judge the result itself; call [`DigestingReader::finish`] at the end and compare,
/// or use [`DigestingReader::verifying`] to turn a mismatch into an I/O error.
pub struct DigestingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    count: u64,
    expected: Option<(Digest, Option<u64>)>,
    checked: bool,
}

impl<R: Read> DigestingReader<R> {
    /// Wraps `inner`, hashing with `algorithm`.
    pub fn new(inner: R, algorithm: DigestAlgorithm) -> Self {
        DigestingReader {
            inner,
            hasher: Some(Hasher::new(algorithm)),
            count: 0,
            expected: None,
            checked: false,
        }
    }

    /// Wraps `inner` so that content that does not match `expected` fails with an
    /// [`io::ErrorKind::InvalidData`] error naming the digest. With a `size`, the check runs on
    /// the read that brings the count to `size`: that read fails instead of handing out the
    /// last bytes, so a caller that stops at `size` (an upload of exactly that length) never
    /// sends all of wrong content; without one, at end of stream.
    pub fn verifying(inner: R, expected: Digest, size: Option<u64>) -> Self {
        let mut r = DigestingReader::new(inner, expected.algorithm());
        r.expected = Some((expected, size));
        r
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest of what was read, and the byte count.
    pub fn finish(mut self) -> (Digest, u64) {
        let h = self.hasher.take().expect("hasher present until finish");
        (h.finish(), self.count)
    }

    /// The verifying check, once the content is complete (`at_eof`: the inner reader ended).
    fn check(&mut self, at_eof: bool) -> io::Result<()> {
        let Some((want, size)) = &self.expected else {
            return Ok(());
        };
        if let Some(size) = size {
            if self.count > *size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("content of {want} is longer than the expected {size} bytes"),
                ));
            }
            if at_eof && self.count != *size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("content of {want} is {} bytes, expected {size}", self.count),
                ));
            }
        }
        let complete = at_eof || size.is_some_and(|s| self.count == s);
        if complete && !self.checked {
            let got = match &self.hasher {
                Some(h) => h.clone().finish(),
                None => return Ok(()),
            };
            if &got != want {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("digest mismatch: expected {want}, content hashes to {got}"),
                ));
            }
            self.checked = true;
        }
        Ok(())
    }
}

impl<R: Read> Read for DigestingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        self.count = self.count.saturating_add(n as u64);
        self.check(n == 0 && !buf.is_empty())?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let d = Digest::sha256_of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
    }

    #[test]
    fn rejects_bad_digests() {
        assert!(matches!(
            Digest::parse("sha256:abc"),
            Err(DigestError::Malformed(_))
        ));
        assert!(matches!(
            Digest::parse(&format!("sha256:{}", "A".repeat(64))),
            Err(DigestError::Malformed(_))
        ));
        assert!(matches!(
            Digest::parse("md5:00"),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            Digest::parse("nocolon"),
            Err(DigestError::Malformed(_))
        ));
    }

    #[test]
    fn verifying_reader_detects_mismatch() {
        let want = Digest::sha256_of(b"hello");
        let mut ok = DigestingReader::verifying(&b"hello"[..], want.clone(), Some(5));
        std::io::copy(&mut ok, &mut std::io::sink()).unwrap();
        let mut bad = DigestingReader::verifying(&b"hellO"[..], want.clone(), Some(5));
        let err = std::io::copy(&mut bad, &mut std::io::sink()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains(&want.to_string()));
    }

    /// An upload reads exactly `size` bytes and never asks for the end of the stream: the
    /// check must run on the read that completes the content, and that read must fail.
    #[test]
    fn verifying_reader_fails_on_the_read_that_completes_the_size() {
        let want = Digest::sha256_of(b"hello");
        let bad = DigestingReader::verifying(&b"hellO, and more"[..], want.clone(), Some(5));
        let mut out = Vec::new();
        let err = bad.take(5).read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        assert!(out.len() < 5, "the last bytes are withheld: {out:?}");
        let good = DigestingReader::verifying(&b"hello"[..], want, Some(5));
        let mut out = Vec::new();
        good.take(5).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello");
    }
}
