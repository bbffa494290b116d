//! Just enough HTTP/1.1 for a read-only registry: request heads (no request bodies are read:
//! a request that carries one is answered and the connection closed), replies with a known
//! length, keep-alive.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// The most a request head may take.
const MAX_HEAD: usize = 16 * 1024;

/// A request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Request {
    pub(super) method: String,
    /// The path, percent-decoded, without the query.
    pub(super) path: String,
    /// The query string, if any (not decoded).
    pub(super) query: String,
    headers: Vec<(String, String)>,
    http10: bool,
}

impl Request {
    /// The value of header `name` (case-insensitive), if given.
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub(super) fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the connection may serve another request after this one.
    pub(super) fn keep_alive(&self) -> bool {
        let conn = self.header("connection").map(|c| c.to_ascii_lowercase());
        let has_body = self
            .header("content-length")
            .is_some_and(|l| l.trim() != "0")
            || self.header("transfer-encoding").is_some();
        !has_body
            && match conn.as_deref() {
                Some(c) if c.contains("close") => false,
                Some(c) if c.contains("keep-alive") => true,
                _ => !self.http10,
            }
    }

    /// A query parameter's value (not decoded).
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// Parses a request head (everything before the blank line).
pub(super) fn parse_head(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?;
    let version = first.next()?;
    if method.is_empty() || !version.starts_with("HTTP/1.") || first.next().is_some() {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Some(Request {
        method,
        path: percent_decode(path)?,
        query: query.to_string(),
        headers,
        http10: version == "HTTP/1.0",
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// What reading the next request head gave.
pub(super) enum Next {
    /// A request.
    Request(Request),
    /// The peer closed, went idle too long, or the server is stopping.
    Done,
    /// The head is malformed or too large.
    Bad,
}

/// A connection: the stream and the bytes read past the last head.
pub(super) struct Conn<S> {
    pub(super) stream: S,
    buf: Vec<u8>,
}

impl<S: Read + Write> Conn<S> {
    /// Wraps a stream whose reads time out now and then (so that `stopping` is looked at).
    pub(super) fn new(stream: S) -> Self {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads the next request head; gives up when idle for `idle` with nothing read, or
    /// when `stopping` says so between requests (the server stops, or clients wait).
    pub(super) fn next(&mut self, idle: Duration, stopping: &dyn Fn() -> bool) -> Next {
        let since = Instant::now();
        let mut tmp = [0u8; 4096];
        loop {
            if let Some(end) = find_blank_line(&self.buf) {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return match parse_head(&head[..end]) {
                    Some(r) => Next::Request(r),
                    None => Next::Bad,
                };
            }
            // Not HTTP (a TLS hello from a client trying HTTPS first): answer at once, so
            // that it falls back to plain HTTP without waiting for a head that never comes.
            if self.buf.first().is_some_and(|b| !b.is_ascii_uppercase())
                || self.buf.len() > MAX_HEAD
            {
                return Next::Bad;
            }
            match self.stream.read(&mut tmp) {
                Ok(0) => return Next::Done,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if (self.buf.is_empty() && stopping()) || since.elapsed() > idle {
                        return Next::Done;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Done,
            }
        }
    }
}

fn find_blank_line(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n")
}

/// The reason phrase of the statuses ferry sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        _ => "",
    }
}

/// Writes a reply head with `Content-Length: length`.
pub(super) fn write_head(
    out: &mut dyn Write,
    status: u16,
    headers: &[(&'static str, String)],
    length: u64,
    keep_alive: bool,
) -> io::Result<()> {
    let mut h = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str(&format!(
        "Content-Length: {length}\r\nDocker-Distribution-API-Version: registry/2.0\r\n\
         Connection: {}\r\n\r\n",
        if keep_alive { "keep-alive" } else { "close" }
    ));
    out.write_all(h.as_bytes())
}

/// A `Range: bytes=A-B`, `bytes=A-` or `bytes=-N` header as an inclusive range within `size`:
/// `None` when absent or not one byte range (the whole blob is sent), `Some(Err(()))` when it
/// cannot be satisfied.
pub(super) fn parse_range(header: Option<&str>, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || size == 0 {
            return Some(Err(()));
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end: u64 = if b.is_empty() {
            u64::MAX
        } else {
            b.parse().ok()?
        };
        if end < start {
            return None;
        }
        if start >= size {
            return Some(Err(()));
        }
        (start, end.min(size - 1))
    };
    Some(Ok(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_parsed_with_its_path_decoded_and_query_kept() {
        let r = parse_head(
            b"GET /v2/a/b/blobs/sha256%3Aab?n=1 HTTP/1.1\r\nHost: x\r\nConnection: close",
        )
        .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/v2/a/b/blobs/sha256:ab");
        assert_eq!(r.param("n"), Some("1"));
        assert_eq!(r.header("HOST"), Some("x"));
        assert!(!r.keep_alive());
        assert!(parse_head(b"GET /v2/ SPDY/3").is_none());
    }

    #[test]
    fn a_request_with_a_body_closes_the_connection() {
        let r = parse_head(b"PUT /v2/x/manifests/a HTTP/1.1\r\nContent-Length: 5").unwrap();
        assert!(!r.keep_alive());
        let r = parse_head(b"GET /v2/ HTTP/1.1\r\nContent-Length: 0").unwrap();
        assert!(r.keep_alive());
    }

    #[test]
    fn ranges_are_one_inclusive_byte_range_within_the_blob() {
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Some(Ok((0, 9))));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Some(Ok((90, 99))));
        assert_eq!(parse_range(Some("bytes=90-200"), 100), Some(Ok((90, 99))));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Some(Ok((90, 99))));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Some(Err(())));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), None);
        assert_eq!(parse_range(Some("items=0-1"), 100), None);
        assert_eq!(parse_range(None, 100), None);
    }
}
