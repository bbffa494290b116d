//! Blob downloads that survive a cut connection: when the body stops part-way (reset, time-out,
//! "closed before all bytes were read"), the blob is asked for again from where it stopped
//! (`Range: bytes=N-`), or from the start with the bytes already read skipped when the
//! registry ignores ranges, under the client's retry policy.

use std::io::{self, Read};
use std::sync::Arc;

use url::Url;

use super::auth::Scopes;
use super::error::RegistryError;
use super::http::{Body, Call, Inner};
use super::retry::Attempts;
use super::stats::Stats;

/// A blob body that reopens itself after a cut.
pub(crate) struct ResumingReader {
    inner: Arc<Inner>,
    url: Url,
    repo: String,
    what: String,
    body: Box<dyn Read + Send>,
    /// Bytes delivered so far.
    offset: u64,
    /// Failed attempts since the last byte arrived (and since when).
    failures: Attempts,
}

/// Whether a read error is a connection cut worth resuming after.
fn is_cut(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::TimedOut
            | io::ErrorKind::UnexpectedEof
    )
}

/// The first byte of a `Content-Range: bytes FIRST-LAST/SIZE` value.
fn range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes ")?;
    rest.split('-').next()?.trim().parse().ok()
}

impl ResumingReader {
    /// Reads `body`, the answer to `GET url` for `what` (`blob DIGEST`) in `repo`.
    pub fn new(
        inner: Arc<Inner>,
        url: Url,
        repo: &str,
        what: String,
        body: Box<dyn Read + Send>,
    ) -> Self {
        ResumingReader {
            inner,
            url,
            repo: repo.to_string(),
            what,
            body,
            offset: 0,
            failures: Attempts::start(),
        }
    }

    /// Asks for the rest of the blob, from `self.offset`.
    fn reopen(&mut self) -> Result<(), RegistryError> {
        let call = Call {
            method: "GET",
            url: self.url.clone(),
            action: "pull blob from",
            repository: &self.repo,
            what: self.what.clone(),
            scopes: Scopes::repo(&self.repo, &["pull"]),
            headers: vec![("Range", format!("bytes={}-", self.offset))],
            body: Body::None,
        };
        let resp = self.inner.send(&call)?;
        let status = resp.status();
        let start = resp.header("content-range").and_then(range_start);
        let mut body = resp.into_reader();
        match (status, start) {
            (206, Some(s)) if s == self.offset => {}
            (200, _) => {
                log::debug!(
                    "{} ignores ranges; skipping {} bytes",
                    self.url,
                    self.offset
                );
                let skipped = io::copy(&mut (&mut body).take(self.offset), &mut io::sink())
                    .map_err(|source| RegistryError::Io {
                        action: "pull blob from",
                        url: self.url.to_string(),
                        source,
                    })?;
                if skipped != self.offset {
                    return Err(RegistryError::Io {
                        action: "pull blob from",
                        url: self.url.to_string(),
                        source: io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "response body closed before all bytes were read",
                        ),
                    });
                }
            }
            _ => {
                return Err(RegistryError::Protocol {
                    host: self.inner.host.clone(),
                    url: self.url.to_string(),
                    message: format!(
                        "HTTP {status} with Content-Range starting at {start:?} to a request \
                         for the bytes from {}",
                        self.offset
                    ),
                })
            }
        }
        self.body = body;
        Ok(())
    }
}

impl Read for ResumingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.body.read(buf) {
                Ok(n) => {
                    if n > 0 {
                        self.failures = Attempts::start();
                    }
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if is_cut(&e) => {
                    self.failures.count();
                    let kind = e.kind();
                    let err = RegistryError::Io {
                        action: "pull blob from",
                        url: self.url.to_string(),
                        source: e,
                    };
                    let Some(delay) = self.inner.retry.next_delay_for(&self.failures, &err) else {
                        return Err(io::Error::new(kind, err));
                    };
                    Stats::add(&self.inner.stats.retries, 1);
                    log::debug!(
                        "{err}: asking again for the bytes from {} in {delay:?}",
                        self.offset
                    );
                    std::thread::sleep(delay);
                    if let Err(e) = self.reopen() {
                        return Err(io::Error::other(e));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_starts() {
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
        assert_eq!(range_start("bytes 0-0/*"), Some(0));
        assert_eq!(range_start("items 1-2"), None);
        assert!(is_cut(&io::Error::new(io::ErrorKind::UnexpectedEof, "x")));
        assert!(!is_cut(&io::Error::new(io::ErrorKind::InvalidData, "x")));
    }
}
